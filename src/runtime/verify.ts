/** Runs the export check (python/medtune_py/verify_export.py) and returns its verify.json. */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { ResultEvent } from '../core/protocol.js';
import type { ProgressEvent } from '../core/protocol.js';
import { VerifyReport } from '../core/verify.js';
import { readJsonIfExists } from './atomic.js';
import { runHelper } from './pythonhelper.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export interface VerifyOptions {
  venv: Venv;
  /** The merged model folder. */
  exportDir: string;
  /** The base model folder: source of tokenizer/processor/chat-template files the export lacks. */
  baseDir: string;
  /** An image to ask about; default: the first image of the workspace's datasets, else a synthetic scan. */
  image?: string;
  /** Where a default image is looked for. */
  workspace?: Workspace;
  prompt?: string;
  /** Where verify.json goes; default <exportDir>/verify.json. */
  out?: string;
  maxNewTokens?: number;
  onProgress?: (e: ProgressEvent) => void;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface VerifyResult extends VerifyReport {
  /** Where verify.json was written. */
  path: string;
  /** Why the export failed, with what to do next; null when ok. */
  failure: { code: string; problem: string; next: string | null } | null;
}

const IMAGE = /\.(png|jpe?g|webp|bmp)$/i;

/** The first image (by path) under data/<dataset>/images of a workspace, if any; `data prepare` shards them in subfolders. */
export async function firstDatasetImage(ws: Workspace): Promise<string | undefined> {
  if (!existsSync(ws.dataDir)) return undefined;
  const datasets = (await readdir(ws.dataDir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const first = async (dir: string, depth: number): Promise<string | undefined> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    const image = entries.find((e) => e.isFile() && IMAGE.test(e.name));
    if (image) return join(dir, image.name);
    if (depth === 0) return undefined;
    for (const d of entries.filter((e) => e.isDirectory())) {
      const found = await first(join(dir, d.name), depth - 1);
      if (found) return found;
    }
    return undefined;
  };
  for (const name of datasets) {
    const dir = join(ws.dataDir, name, 'images');
    if (!existsSync(dir)) continue;
    const image = await first(dir, 1);
    if (image) return image;
  }
  return undefined;
}

/**
 * Checks an export end to end: files (copying missing tokenizer/processor/chat-template files from the
 * base), AutoProcessor with a chat template, AutoModelForImageTextToText, one generation on an image.
 * A failed check resolves with ok: false and `failure` (verify.json holds the same report); only a helper
 * that could not run at all (no venv, crash before writing the report) throws.
 */
export async function verifyExport(opts: VerifyOptions): Promise<VerifyResult> {
  const exportDir = resolve(opts.exportDir);
  const out = resolve(opts.out ?? join(exportDir, 'verify.json'));
  const image = opts.image ?? (opts.workspace ? await firstDatasetImage(opts.workspace) : undefined);
  const args = ['--export', exportDir, '--base', resolve(opts.baseDir), '--out', out];
  if (image) args.push('--image', resolve(image));
  if (opts.prompt) args.push('--prompt', opts.prompt);
  if (opts.maxNewTokens) args.push('--max-new-tokens', String(opts.maxNewTokens));
  let failure: VerifyResult['failure'] = null;
  // A report left by an earlier check must never pass for this one's.
  await rm(out, { force: true });
  try {
    await runHelper('verify_export', args, ResultEvent, {
      venv: opts.venv,
      doing: `verifying the export in ${exportDir}`,
      env: { HF_HUB_OFFLINE: '1', ...opts.env },
      signal: opts.signal,
      onEvent: (e) => {
        if (e.event === 'progress') opts.onProgress?.(e);
      },
    });
  } catch (err) {
    const written = VerifyReport.safeParse(await readJsonIfExists(out).catch(() => undefined));
    if (!(err instanceof MedtuneError) || !written.success || written.data.ok) throw err;
    failure = { code: err.code, problem: err.problem, next: err.next ?? null };
  }
  return { ...VerifyReport.parse(await readJsonIfExists(out)), path: out, failure };
}
