/**
 * Faults: memory. The VRAM estimate is checked by `planRun` against the GPUs nvidia-smi reports (replayed from a
 * recording of a real H100 80GB), and a CUDA out-of-memory (the stderr recorded from a real OOM on an H200) gets
 * the next smaller setting that fits the card as its advice. The model is the Qwen2-VL-2B architecture's
 * config.json with a sparse 4.4 GB weights file (the estimate reads sizes, never the bytes).
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, ftruncateSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseFailure } from '../../src/core/diagnose.js';
import type { RunManifest } from '../../src/core/run.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { planRun } from '../../src/runtime/planner.js';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { withOomAdvice } from '../../src/runtime/vramcheck.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';

const GPU = join(PACKAGE_ROOT, 'test', 'fixtures', 'gpu');
const OOM_LOG = join(PACKAGE_ROOT, 'test', 'fixtures', 'llamafactory', 'gpu-errors', 'oom-single.stderr.log');

describe('faults: GPU memory', () => {
  let root: string;
  let ws: Workspace;
  let venv: Venv;
  let modelDir: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    venv = await requireVenv();
    root = await mkdtemp(join(tmpdir(), 'medtune-vram-'));
    ws = workspaceAt(root);
    modelDir = join(ws.modelsDir, 'qwen2-vl-2b-arch');
    mkdirSync(modelDir, { recursive: true });
    writeFileSync(
      join(modelDir, 'config.json'),
      JSON.stringify({
        model_type: 'qwen2_vl',
        torch_dtype: 'bfloat16',
        text_config: {
          hidden_size: 1536,
          intermediate_size: 8960,
          num_hidden_layers: 28,
          num_attention_heads: 12,
          num_key_value_heads: 2,
          vocab_size: 151936,
        },
      }),
    );
    const fd = openSync(join(modelDir, 'model.safetensors'), 'w');
    ftruncateSync(fd, 2_208_985_600 * 2);
    closeSync(fd);
    mkdirSync(join(ws.dataDir, 'd'), { recursive: true });
    writeFileSync(join(ws.dataDir, 'dataset_info.json'), JSON.stringify({ d: { file_name: 'd/train.jsonl', formatting: 'sharegpt' } }));
    writeFileSync(join(ws.dataDir, 'd', 'train.jsonl'), '{}\n'.repeat(64));
    Object.assign(process.env, {
      MEDTUNE_NVIDIA_SMI: join(GPU, 'replay-nvidia-smi.mjs'),
      MEDTUNE_REPLAY_DIR: join(GPU, 'h100x1'),
      MEDTUNE_REPLAY_GPU: 'oneshot-idle.csv',
    });
  });
  afterAll(async () => {
    for (const k of ['MEDTUNE_NVIDIA_SMI', 'MEDTUNE_REPLAY_DIR', 'MEDTUNE_REPLAY_GPU']) if (saved[k] === undefined) delete process.env[k];
    await rm(root, { recursive: true, force: true });
  });

  it('estimates each profile on the 80 GB card and warns, with the setting that fits, when the plan does not fit', async () => {
    const fit = await planRun(ws, venv, { model: modelDir, datasets: ['d'], profile: 'gpu-80g' });
    // gpu-80g (bs 32, Liger, expandable segments) peaked at 50.5 GiB on the H200 (bench/results/gpu-train.md).
    expect(fit.vram?.peakGiB).toBeGreaterThan(45);
    expect(fit.vram?.peakGiB).toBeLessThan((81559 / 1024) * 0.85);
    expect(fit.findings.filter((f) => f.code === 'VRAM_TOO_SMALL')).toEqual([]);
    // The hours on the card the run will use (the recorded H100), from the plan's own data and model config.
    expect(fit.time).toMatchObject({ onThisMachine: true, samplesTotal: 64 * 3 });
    expect(fit.time!.cards.map((c) => c.card)).toEqual(['H100 SXM']);

    const big = await planRun(ws, venv, {
      model: modelDir,
      datasets: ['d'],
      profile: 'gpu-80g',
      overrides: ['per_device_train_batch_size=64'],
    });
    expect(big.vram!.peakGiB).toBeGreaterThan(80);
    const w = big.findings.find((f) => f.code === 'VRAM_TOO_SMALL')?.message;
    expect(w).toMatch(/more than this 80 GiB card holds/);
    expect(w).toMatch(/--set per_device_train_batch_size=32 --set gradient_accumulation_steps=2/);
  }, 120_000);

  it('turns a real CUDA OOM into the next smaller setting that fits the card that ran out (139.8 GiB H200)', async () => {
    const stderr = readFileSync(OOM_LOG, 'utf8');
    const cause = diagnoseFailure({ exitCode: 1, signal: null, stdoutTail: '', stderrTail: stderr })!;
    expect(cause.code).toBe('CUDA_OOM');
    const trainYaml = join(root, 'train.yaml');
    writeFileSync(
      trainYaml,
      'bf16: true\nlora_rank: 8\ncutoff_len: 1024\nimage_max_pixels: 262144\nper_device_train_batch_size: 64\ngradient_accumulation_steps: 1\ndisable_gradient_checkpointing: true\n',
    );
    const m = { id: 'r', model: modelDir, trainYaml } as unknown as RunManifest;
    const advised = await withOomAdvice(cause, m, stderr);
    expect(advised.code).toBe('CUDA_OOM');
    expect(advised.next).toMatch(/fits 140 GiB/);
    expect(advised.next).toMatch(/--set per_device_train_batch_size=32 --set gradient_accumulation_steps=2/);
  });
});
