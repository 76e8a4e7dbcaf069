/** Atomic writes (temp file + fsync + rename) and advisory locks for shared files. */
import { isAlive } from './proctree.js';
import { open, rename, rm, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MedtuneError } from '../core/errors.js';

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export async function readJson<T = unknown>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

export async function readJsonIfExists<T = unknown>(path: string): Promise<T | undefined> {
  try {
    return await readJson<T>(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export interface LockOptions {
  /** How long to wait for another holder, in ms. */
  timeoutMs?: number;
}

/**
 * Runs `fn` while holding `<path>.lock` (created with O_EXCL, holding the owner's pid).
 * A lock whose owner process is gone is taken over.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  await mkdir(dirname(lock), { recursive: true });
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (!Number.isFinite(owner) || owner <= 0 || !isAlive(owner)) {
        const age = await stat(lock)
          .then((s) => Date.now() - s.mtimeMs)
          .catch(() => 0);
        // A lock with an empty body may be mid-write by its owner; give it a moment.
        if (owner > 0 || age > 2000) {
          await rm(lock, { force: true });
          continue;
        }
      }
      if (Date.now() > deadline) {
        throw new MedtuneError({
          doing: `locking ${path}`,
          problem: `another medtune process (pid ${owner || 'unknown'}) holds ${lock}`,
          next: `wait for it to finish, or remove ${lock} if that process is gone`,
          code: 'LOCKED',
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
