/**
 * The tokenized_path cache on disk: the path a run gets changes with the data, the template and the tokenizer, and a
 * folder left half-written by a killed run is removed before a launch (LLaMA-Factory would load any non-empty one).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearIncompleteTokenized, tokenizedCacheComplete, tokenizedPathFor } from '../../src/runtime/tokcache.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';

let root = '';
let ws: Workspace;
const info = { scans: { file_name: 'scans/train.jsonl', formatting: 'sharegpt' } };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'medtune-tokcache-'));
  ws = workspaceAt(root);
  await mkdir(join(ws.dataDir, 'scans'), { recursive: true });
  await writeFile(join(ws.dataDir, 'scans', 'train.jsonl'), '{"messages":[],"images":[]}\n');
  await mkdir(join(root, 'model'));
  await writeFile(join(root, 'model', 'tokenizer.json'), '{"v":1}');
  await writeFile(join(root, 'model', 'model.safetensors'), 'weights');
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('tokenizedPathFor', () => {
  const config = () => ({ dataset: 'scans', template: 'qwen2_vl', cutoff_len: 1024, model_name_or_path: join(root, 'model') });

  it('is stable, under the workspace cache, and changes with the data, the template and the tokenizer', async () => {
    const a = await tokenizedPathFor(ws, config(), info, '0.9.5');
    expect(a).toMatch(new RegExp(`^${join(root, 'cache', 'tokenized')}/[0-9a-f]{16}$`));
    expect(await tokenizedPathFor(ws, config(), info, '0.9.5')).toBe(a);
    expect(await tokenizedPathFor(ws, { ...config(), template: 'qwen2_5_vl' }, info, '0.9.5')).not.toBe(a);
    await writeFile(join(root, 'model', 'model.safetensors'), 'other weights');
    expect(await tokenizedPathFor(ws, config(), info, '0.9.5')).toBe(a);
    await writeFile(join(root, 'model', 'tokenizer.json'), '{"v":2}');
    const b = await tokenizedPathFor(ws, config(), info, '0.9.5');
    expect(b).not.toBe(a);
    await writeFile(join(ws.dataDir, 'scans', 'train.jsonl'), '{"messages":[],"images":[]}\n{"messages":[],"images":[]}\n');
    expect(await tokenizedPathFor(ws, config(), info, '0.9.5')).not.toBe(b);
  });

  it('is null for streaming and for a dataset that is not a local file', async () => {
    expect(await tokenizedPathFor(ws, { ...config(), streaming: true }, info, '0.9.5')).toBeNull();
    expect(await tokenizedPathFor(ws, { ...config(), dataset: 'hub_only' }, { hub_only: {} } as never, '0.9.5')).toBeNull();
  });
});

describe('clearIncompleteTokenized', () => {
  it('keeps a complete DatasetDict, removes a half-written one, and reports a missing one as fresh', async () => {
    const done = join(root, 'done');
    await mkdir(join(done, 'train'), { recursive: true });
    await writeFile(join(done, 'dataset_dict.json'), '{"splits": ["train"]}');
    await writeFile(join(done, 'train', 'state.json'), '{}');
    expect(await tokenizedCacheComplete(done)).toBe(true);
    expect(await clearIncompleteTokenized(done)).toBe('reuse');

    const half = join(root, 'half');
    await mkdir(join(half, 'train'), { recursive: true });
    await writeFile(join(half, 'dataset_dict.json'), '{"splits": ["train", "validation"]}');
    await writeFile(join(half, 'train', 'state.json'), '{}');
    expect(await clearIncompleteTokenized(half)).toBe('cleared');
    expect(existsSync(half)).toBe(false);

    expect(await clearIncompleteTokenized(join(root, 'never'))).toBe('fresh');
  });
});
