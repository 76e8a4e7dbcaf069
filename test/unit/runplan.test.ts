/** The run plan decided from gathered facts (core/runplan.ts): profile, eval defaults, the launch-blocking rules, the GPU environment. */
import { describe, expect, it } from 'vitest';
import { planDistributed } from '../../src/core/distributed.js';
import { MedtuneError } from '../../src/core/errors.js';
import { finding } from '../../src/core/findings.js';
import {
  blockingError,
  blockingFindings,
  GPU_THREAD_ENV,
  planRunConfig,
  planRunFromFacts,
  type PlanGpu,
  type RunConfigInput,
  type RunPlanFacts,
  type TrainRequest,
} from '../../src/core/runplan.js';
import type { Profile, TrainConfig } from '../../src/core/trainconfig.js';

const PROFILES: Record<string, Profile> = {
  cpu: { description: 'CPU', vramGiB: 0, values: { per_device_train_batch_size: 1, bf16: false } },
  'gpu-24gb': {
    description: '24 GB',
    vramGiB: 24,
    values: { per_device_train_batch_size: 4, bf16: true, preprocessing_num_workers: 'auto' },
    env: { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' },
  },
  'gpu-80gb': { description: '80 GB', vramGiB: 80, values: { per_device_train_batch_size: 16, bf16: true } },
};
const DEFAULTS: TrainConfig = { stage: 'sft', finetuning_type: 'lora', num_train_epochs: 1, save_steps: 100, lora_rank: 8 };
const TEXT = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 };
const gpu = (index: number, gib: number): PlanGpu => ({ index, memoryTotalMiB: gib * 1024 });

function configInput(req: Partial<TrainRequest>, gpus: PlanGpu[] = []): RunConfigInput {
  return {
    request: { model: 'tiny', datasets: ['d'], profile: 'auto', ...req },
    profiles: PROFILES,
    defaults: DEFAULTS,
    settingsOverrides: [],
    gpus,
    modelDir: '/ws/models/tiny',
    modelFacts: { maxPositions: 4096, moduleNames: new Set(['q_proj', 'v_proj']) },
    runDir: '/ws/runs/r1',
    dataDir: '/ws/data',
    cores: 8,
  };
}

function facts(input: RunConfigInput, over: Partial<RunPlanFacts> = {}): RunPlanFacts {
  const { request, profile, config } = planRunConfig(input);
  const distributed = planDistributed({
    hostGpus: input.gpus.length,
    templates: {},
    config,
    argvPaths: [],
    relaunchArgs: [],
  });
  return {
    id: 'r1',
    request,
    profile,
    config: { ...config, ...distributed.config },
    modelDir: input.modelDir,
    trainYaml: '/ws/runs/r1/train.yaml',
    distributed,
    command: ['llamafactory-cli', 'train', '/ws/runs/r1/train.yaml'],
    gpus: input.gpus,
    busyGpus: [],
    vram: { estimate: null, warnings: [] },
    rows: 100,
    textConfig: TEXT,
    freeBytes: 100 * 2 ** 30,
    outputDir: '/ws/runs/r1/output',
    env: {},
    ...over,
  };
}

describe('planRunConfig', () => {
  it.each([
    [[], 'cpu'],
    [[gpu(0, 24)], 'gpu-24gb'],
    [[gpu(0, 80), gpu(1, 80)], 'gpu-80gb'],
  ])('auto picks the profile by GPU memory (%j → %s)', (gpus, profile) => {
    expect(planRunConfig(configInput({}, gpus)).request.profile).toBe(profile);
  });

  it('fills the eval defaults for a held-out entry, and workers per core for `auto`', () => {
    const { config } = planRunConfig(configInput({ evalDataset: 'd_val', profile: 'gpu-24gb' }, [gpu(0, 24)]));
    expect(config).toMatchObject({
      eval_dataset: 'd_val',
      eval_strategy: 'steps',
      eval_steps: 100,
      per_device_eval_batch_size: 4,
      output_dir: '/ws/runs/r1/output',
      preprocessing_num_workers: 8,
    });
  });

  it('applies medtune.yaml overrides before the request', () => {
    const input = { ...configInput({ overrides: ['lora_rank=32'] }), settingsOverrides: ['lora_rank=16', 'save_steps=7'] };
    expect(planRunConfig(input).config).toMatchObject({ lora_rank: 32, save_steps: 7 });
  });

  it.each([
    [{ profile: 'nope' }, 'BAD_PROFILE'],
    [{ datasets: [] }, 'NO_DATASET'],
    [{ overrides: ['learning_rate=fast'] }, 'BAD_OPTION'],
    [{ overrides: ['cutoff_len=8192'] }, 'BAD_OPTION'],
    [{ overrides: ['lora_target=w_proj'] }, 'BAD_OPTION'],
  ])('refuses %j with %s', (req, code) => {
    expect(() => planRunConfig(configInput(req))).toThrow(expect.objectContaining({ code }));
  });
});

describe('planRunFromFacts', () => {
  it('warns PROFILE_TOO_BIG when the smallest GPU is smaller than the profile', () => {
    const plan = planRunFromFacts(facts(configInput({ profile: 'gpu-80gb' }, [gpu(0, 80), gpu(1, 24)])));
    expect(plan.findings.find((f) => f.code === 'PROFILE_TOO_BIG')).toMatchObject({ severity: 'warn', subject: 'VRAM' });
  });

  it('fails DISK_TOO_SMALL when the checkpoints do not fit, and that blocks the launch', () => {
    const plan = planRunFromFacts(facts(configInput({}), { freeBytes: 1000 }));
    const blocking = blockingFindings(plan.findings, true);
    expect(blocking.map((f) => f.code)).toEqual(['DISK_TOO_SMALL']);
    expect(blockingError(blocking)).toMatchObject({ code: 'DISK_TOO_SMALL', doing: 'checking free disk for checkpoints' });
  });

  it('counts steps from the rows less val_size', () => {
    const input = configInput({ overrides: ['val_size=0.2', 'per_device_train_batch_size=4', 'gradient_accumulation_steps=1'] });
    const plan = planRunFromFacts(facts(input));
    expect([plan.samples, plan.totalSteps]).toEqual([80, 20]);
  });

  it('sets the GPU environment only with GPUs, keeping what the user set', () => {
    const cpu = planRunFromFacts(facts(configInput({})));
    expect(cpu.env.CUDA_DEVICE_ORDER).toBeUndefined();
    const onGpu = planRunFromFacts(facts(configInput({}, [gpu(0, 24)]), { env: { OMP_NUM_THREADS: '4' } }));
    expect(onGpu.env).toMatchObject({
      ...GPU_THREAD_ENV,
      OMP_NUM_THREADS: '4',
      PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True',
      RECORD_VRAM: '1',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    });
    expect(onGpu.yaml).toContain('written by medtune for run r1 (profile gpu-24gb)');
  });

  it('turns gathered warnings into findings', () => {
    const plan = planRunFromFacts(
      facts(configInput({}, [gpu(0, 24)]), { busyGpus: ['GPU 0 is busy'], vram: { estimate: null, warnings: ['too big'] } }),
    );
    expect(plan.findings.filter((f) => f.severity === 'warn').map((f) => f.code)).toEqual(
      expect.arrayContaining(['GPU_BUSY', 'VRAM_TOO_SMALL']),
    );
  });
});

describe('what blocks a launch', () => {
  const needsGpu = finding('NEEDS_GPU', 'fail', 'bf16 needs a GPU');
  const bad = finding('BAD_KEY', 'fail', 'no such key', 'remove it');
  it('blocks every fail, except NEEDS_GPU for a dry run', () => {
    expect(blockingFindings([needsGpu, bad, finding('X', 'warn', 'w')], true)).toEqual([needsGpu, bad]);
    expect(blockingFindings([needsGpu, bad], false)).toEqual([bad]);
  });
  it('reports the first as the problem and the others as details', () => {
    const err = blockingError([bad, needsGpu]);
    expect(err).toBeInstanceOf(MedtuneError);
    expect(err).toMatchObject({ code: 'BAD_CONFIG', problem: 'no such key', next: 'remove it', details: ['bf16 needs a GPU'] });
  });
});
