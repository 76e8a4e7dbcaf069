/**
 * LLaMA-Factory's `tokenized_path` for a run: <workspace>/cache/tokenized/<key>, the key from core/tokcache.ts over
 * digests of the dataset files, the model's tokenizer/processor files and the config keys that shape the tokens.
 * The first run with a key tokenizes and saves there; later runs with the same key load it and reach step 1 in
 * seconds. A folder left half-written by a run killed while saving is removed before a launch (LLaMA-Factory would
 * load any non-empty folder).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isTokenizerFile, tokenizedCacheKey, type FileDigest } from '../core/tokcache.js';
import type { TrainConfig } from '../core/trainconfig.js';
import type { Workspace } from './workspace.js';

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function tokenizedCacheRoot(ws: Workspace): string {
  return join(ws.root, 'cache', 'tokenized');
}

/** The run's tokenized_path, or null when the data cannot be cached (streaming, or a dataset that is not a local file). */
export async function tokenizedPathFor(
  ws: Workspace,
  config: TrainConfig,
  info: Record<string, { file_name?: string } & Record<string, unknown>>,
  llamafactoryVersion: string,
): Promise<string | null> {
  if (config.streaming === true) return null;
  const names = [config.dataset, config.eval_dataset]
    .filter((v): v is string => typeof v === 'string' && v !== '')
    .flatMap((v) => v.split(','))
    .map((s) => s.trim());
  const datasets = [];
  for (const name of names) {
    const entry = info[name];
    if (!entry?.file_name) return null;
    const path = join(ws.dataDir, entry.file_name);
    if (!existsSync(path)) return null;
    datasets.push({ name, entry, files: [{ path: entry.file_name, sha256: await sha256File(path) }] });
  }
  const modelDir = String(config.model_name_or_path);
  const modelFiles: FileDigest[] = [];
  for (const f of (await readdir(modelDir).catch(() => [] as string[])).filter(isTokenizerFile).sort()) {
    modelFiles.push({ path: f, sha256: await sha256File(join(modelDir, f)) });
  }
  return join(tokenizedCacheRoot(ws), tokenizedCacheKey({ datasets, config, modelFiles, llamafactoryVersion }));
}

/** True when a saved dataset (or DatasetDict) is complete: every split's state.json, written last by datasets, is there. */
export async function tokenizedCacheComplete(dir: string): Promise<boolean> {
  if (existsSync(join(dir, 'state.json'))) return true;
  try {
    const dict = JSON.parse(await readFile(join(dir, 'dataset_dict.json'), 'utf8')) as { splits?: string[] };
    return Array.isArray(dict.splits) && dict.splits.length > 0 && dict.splits.every((s) => existsSync(join(dir, s, 'state.json')));
  } catch {
    return false;
  }
}

/** Before a launch: a cache folder that exists but is incomplete is removed, so LLaMA-Factory tokenizes afresh. */
export async function clearIncompleteTokenized(dir: string): Promise<'reuse' | 'fresh' | 'cleared'> {
  if (!existsSync(dir)) return 'fresh';
  if (await tokenizedCacheComplete(dir)) return 'reuse';
  await rm(dir, { recursive: true, force: true });
  return 'cleared';
}
