/**
 * The application's one policy for what a person did not choose, on real files and a recorded nvidia-smi:
 * medtune.yaml, the profile that fits this machine's GPUs (read through the careful nvidia-smi parser), and the
 * held-out `_val` entry as the eval dataset. Both faces get their defaults from here.
 */
import { TINY_TRAIN_VALUES } from '../../src/core/models.js';
import { overridesOf } from '../../src/core/trainconfig.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp, resolveTrainRequest, trainDefaults } from '../../src/app/index.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';

const GPU_FIX = join(import.meta.dirname, '..', 'fixtures', 'gpu');
const REPLAYER = join(GPU_FIX, 'replay-nvidia-smi.mjs');
const NO_GPU = { ...process.env, MEDTUNE_NVIDIA_SMI: join(GPU_FIX, 'no-such-nvidia-smi') };
const gpuEnv = (dir: string) => ({ ...process.env, MEDTUNE_NVIDIA_SMI: REPLAYER, MEDTUNE_REPLAY_DIR: join(GPU_FIX, dir) });

let ws: Workspace;
beforeEach(async () => {
  ws = workspaceAt(await mkdtemp(join(tmpdir(), 'medtune-policy-')));
  await mkdir(ws.dataDir, { recursive: true });
  const entry = (f: string) => ({ file_name: f, formatting: 'sharegpt', columns: { messages: 'messages', images: 'images' } });
  await writeFile(
    ws.datasetInfo,
    JSON.stringify({ ct: entry('ct/train.jsonl'), ct_val: entry('ct/val.jsonl'), mr: entry('mr/train.jsonl') }),
  );
});
afterEach(async () => {
  await rm(ws.root, { recursive: true, force: true });
});

describe('defaults', () => {
  it('without medtune.yaml or a GPU: the tiny model, no dataset, the cpu profile', async () => {
    expect(await trainDefaults(createApp(ws, { env: NO_GPU }))).toEqual({ model: 'tiny-qwen2-vl', datasets: [], profile: 'cpu' });
  });

  it.each([
    ['h100x1', 'gpu-80g'],
    ['h200x2', 'gpu-140g'],
  ])('on the recorded %s machine: %s', async (machine, profile) => {
    expect((await trainDefaults(createApp(ws, { env: gpuEnv(machine) }))).profile).toBe(profile);
  });

  it("medtune.yaml's model, datasets and profile win over the machine", async () => {
    await writeFile(ws.config, 'model: qwen2-vl-2b\ndatasets: [ct, mr]\nprofile: gpu-24g\n');
    expect(await trainDefaults(createApp(ws, { env: gpuEnv('h200x2') }))).toEqual({
      model: 'qwen2-vl-2b',
      datasets: ['ct', 'mr'],
      profile: 'gpu-24g',
    });
  });
});

describe('the request a set of choices means', () => {
  it("evaluates on each dataset's registered _val entry, unless told otherwise", async () => {
    const app = createApp(ws, { env: NO_GPU });
    expect((await resolveTrainRequest(app, { datasets: ['ct'] })).evalDataset).toBe('ct_val');
    expect((await resolveTrainRequest(app, { datasets: ['ct', 'mr'] })).evalDataset).toBe('ct_val');
    expect((await resolveTrainRequest(app, { datasets: ['mr'] })).evalDataset).toBeUndefined();
    expect((await resolveTrainRequest(app, { datasets: ['ct'], evalDataset: null })).evalDataset).toBeUndefined();
    expect((await resolveTrainRequest(app, { datasets: ['ct'], evalDataset: 'mr' })).evalDataset).toBe('mr');
    // LLaMA-Factory refuses val_size together with eval_dataset: a run that splits its own keeps none.
    expect((await resolveTrainRequest(app, { datasets: ['ct'], overrides: ['val_size=0.1'] })).evalDataset).toBeUndefined();
    await writeFile(ws.config, 'overrides: [val_size=0.05]\n');
    expect((await resolveTrainRequest(app, { datasets: ['ct'] })).evalDataset).toBeUndefined();
  });

  it('mixes weighted datasets with interleave probabilities, equal weights by concatenation', async () => {
    const app = createApp(ws, { env: NO_GPU });
    const unequal = await resolveTrainRequest(app, {
      datasets: [
        { name: 'ct', weight: 3 },
        { name: 'mr', weight: 1 },
      ],
    });
    expect(unequal.datasets).toEqual(['ct', 'mr']);
    // The tiny model's own values (the rank that learns on it) come first, as for every run of that model.
    const tiny = overridesOf(TINY_TRAIN_VALUES);
    expect(unequal.overrides).toEqual([...tiny, 'mix_strategy=interleave_under', 'interleave_probs=0.75,0.25']);
    const equal = await resolveTrainRequest(app, {
      datasets: [
        { name: 'ct', weight: 1 },
        { name: 'mr', weight: 1 },
      ],
    });
    expect(equal.overrides).toEqual(tiny);
  });

  it('fills what was left out from the defaults, and keeps what was chosen', async () => {
    await writeFile(ws.config, 'datasets: [mr]\n');
    const app = createApp(ws, { env: gpuEnv('h200x2') });
    expect(await resolveTrainRequest(app, {})).toMatchObject({ model: 'tiny-qwen2-vl', datasets: ['mr'], profile: 'gpu-140g' });
    expect(await resolveTrainRequest(app, { model: '/m', datasets: ['ct'], profile: 'cpu', name: 'x' })).toMatchObject({
      model: '/m',
      datasets: ['ct'],
      profile: 'cpu',
      name: 'x',
      evalDataset: 'ct_val',
    });
  });
});
