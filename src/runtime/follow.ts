/**
 * Follows a growing file by byte offset (what `tail -F` does), for logs that another process writes:
 * trainer_log.jsonl, stdout.log, stderr.log, running_log.txt.
 *
 * The file may not exist yet, may grow, may be truncated, or may be deleted and written again (LLaMA-Factory
 * deletes trainer_log.jsonl under `overwrite_output_dir` and rewrites running_log.txt on every attempt).
 * A replaced file is noticed by its inode and birth time and, because a new file can get the old inode back
 * on filesystems without birth times, by its first bytes. chokidar's events make it prompt; a slow stat poll keeps it right where events do not arrive
 * (network filesystems, a folder created later).
 */
import { open, readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { watch, type FSWatcher } from 'chokidar';

export type FollowEvent =
  /** New text (whole UTF-8 characters; a line may be split across events unless `lines` is set). */
  | { type: 'data'; text: string }
  /** New bytes as read (with `binary: true`); the caller finds the lines. */
  | { type: 'bytes'; bytes: Buffer }
  /** New complete lines, without their line ends (with `lines: true`). */
  | { type: 'lines'; lines: string[] }
  /** What was read before no longer stands: start over from the next event. */
  | { type: 'reset'; reason: 'truncated' | 'replaced' | 'deleted' }
  | { type: 'error'; error: Error };

export interface FollowOptions {
  /** Skip what an existing file already holds (default: read it from the start). */
  fromEnd?: boolean;
  /** Start at this byte of the file present at the start (what was already read by other means). */
  fromOffset?: number;
  /** Deliver complete lines only (`\n`, `\r\n`); a partial last line waits for its end. */
  lines?: boolean;
  /** Stat poll interval in ms (default 2000); chokidar's events come on top. */
  pollMs?: number;
  /** Use chokidar's file events (default true); off, only the poll runs. */
  watch?: boolean;
  /** Deliver raw bytes (`bytes` events) instead of text: for readers that decode lines from bytes themselves. */
  binary?: boolean;
}

export interface Follower {
  /** Checks the file now; resolves once what was there has been delivered. */
  poll(): Promise<void>;
  /** Bytes consumed so far. */
  readonly offset: number;
  close(): Promise<void>;
}

const FINGERPRINT = 64;
const CHUNK = 1 << 20;

function missing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function followFile(path: string, onEvent: (e: FollowEvent) => void, opts: FollowOptions = {}): Follower {
  let offset = 0;
  let identity: { dev: number; ino: number; birth: number } | null = null;
  let head = Buffer.alloc(0);
  let decoder = new StringDecoder('utf8');
  let partial = '';
  let first = true;
  let closed = false;
  let running: Promise<void> | null = null;
  let again = false;

  const restart = (reason: 'truncated' | 'replaced' | 'deleted') => {
    offset = 0;
    head = Buffer.alloc(0);
    decoder = new StringDecoder('utf8');
    partial = '';
    onEvent({ type: 'reset', reason });
  };

  const deliver = (text: string) => {
    if (text === '') return;
    if (!opts.lines) {
      onEvent({ type: 'data', text });
      return;
    }
    const all = partial + text;
    const cut = all.lastIndexOf('\n');
    if (cut < 0) {
      partial = all;
      return;
    }
    partial = all.slice(cut + 1);
    onEvent({
      type: 'lines',
      lines: all
        .slice(0, cut)
        .split('\n')
        .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
    });
  };

  const check = async (): Promise<void> => {
    let st: Stats;
    try {
      st = await stat(path);
    } catch (err) {
      if (!missing(err)) throw err;
      if (identity) {
        identity = null;
        restart('deleted');
      }
      first = false;
      return;
    }
    if (!st.isFile()) return;
    const fh = await open(path, 'r').catch((err: unknown) => {
      if (missing(err)) return null;
      throw err;
    });
    if (!fh) return;
    try {
      const now = await fh.stat();
      const seen = { dev: now.dev, ino: now.ino, birth: now.birthtimeMs };
      if (!identity) {
        identity = seen;
        offset =
          first && opts.fromEnd ? now.size : first && opts.fromOffset !== undefined && opts.fromOffset <= now.size ? opts.fromOffset : 0;
        head = Buffer.alloc(0);
      } else if (identity.dev !== seen.dev || identity.ino !== seen.ino || identity.birth !== seen.birth) {
        identity = seen;
        restart('replaced');
      } else if (now.size < offset) {
        restart('truncated');
      } else if (head.length > 0) {
        const probe = Buffer.alloc(head.length);
        const { bytesRead } = await fh.read(probe, 0, head.length, 0);
        if (bytesRead < head.length || !probe.equals(head)) restart('replaced');
      }
      first = false;
      while (offset < now.size && !closed) {
        const buf = Buffer.allocUnsafe(Math.min(opts.binary ? 4 * CHUNK : CHUNK, now.size - offset));
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        const got = buf.subarray(0, bytesRead);
        if (head.length < FINGERPRINT && offset === head.length) {
          head = Buffer.concat([head, got.subarray(0, FINGERPRINT - head.length)]);
        }
        offset += bytesRead;
        if (opts.binary) onEvent({ type: 'bytes', bytes: got });
        else deliver(decoder.write(got));
      }
    } finally {
      await fh.close();
    }
  };

  const poll = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await check();
        } catch (err) {
          onEvent({ type: 'error', error: err as Error });
        }
      } while (again && !closed);
      running = null;
    })();
    return running;
  };

  const timer = setInterval(() => void poll(), opts.pollMs ?? 2000);
  let watcher: FSWatcher | null = null;
  if (opts.watch !== false) {
    watcher = watch(path, { ignoreInitial: true, persistent: true });
    watcher.on('all', () => void poll());
    watcher.on('error', (err) => onEvent({ type: 'error', error: err as Error }));
  }
  void poll();

  return {
    poll,
    get offset() {
      return offset;
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await watcher?.close();
      await running;
    },
  };
}

/** The whole file as text, or null when it does not exist. */
export async function readAll(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (missing(err)) return null;
    throw err;
  }
}

/**
 * The first `headBytes` and last `tailBytes` of a file (all of it when it is smaller), joined by a newline
 * so a line cut by the gap does not merge with the next one; null when the file does not exist.
 */
export async function readHeadTail(
  path: string,
  headBytes: number,
  tailBytes: number,
): Promise<{ text: string; size: number; skipped: number } | null> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (missing(err)) return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    if (size <= headBytes + tailBytes) {
      const buf = Buffer.alloc(size);
      const { bytesRead } = await fh.read(buf, 0, size, 0);
      return { text: buf.subarray(0, bytesRead).toString('utf8'), size, skipped: 0 };
    }
    const headBuf = Buffer.alloc(headBytes);
    const tailBuf = Buffer.alloc(tailBytes);
    await fh.read(headBuf, 0, headBytes, 0);
    await fh.read(tailBuf, 0, tailBytes, size - tailBytes);
    return { text: `${headBuf.toString('utf8')}\n${tailBuf.toString('utf8')}`, size, skipped: size - headBytes - tailBytes };
  } finally {
    await fh.close();
  }
}
