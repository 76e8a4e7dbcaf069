/**
 * The launch environment of scale-out runs: from {gpus, nproc, nnodes, node rank, master, engine} to the env vars
 * LLaMA-Factory 0.9.5's launcher reads, the YAML keys, the accelerate command and the other nodes' launch lines.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  describeScale,
  ENGINE_TEMPLATE,
  gpuChoices,
  processesFor,
  runScale,
  ENGINES,
  LAUNCH_ONLY_KEYS,
  MIN_DDP_TIMEOUT_S,
  parseEngine,
  parseMaster,
  planDistributed,
  type DistributedInput,
} from '../../src/core/distributed.js';
import { MedtuneError } from '../../src/core/errors.js';
import { TEMPLATES_DIR } from '../../src/runtime/paths.js';

const templates = Object.fromEntries(Object.entries(ENGINE_TEMPLATE).map(([e, rel]) => [e, join(TEMPLATES_DIR, rel)]));
const base: DistributedInput = {
  hostGpus: 0,
  templates,
  config: { per_device_train_batch_size: 2, gradient_accumulation_steps: 4, ddp_timeout: 180000000 },
  argvPaths: ['/ws/runs/r1', '/ws/runs/r1/train.yaml', '/cache/venv-abc'],
  relaunchArgs: ['train', '--model', '/models/qwen2-vl-2b', '--dataset', 'sample', '--profile', 'gpu-80g', '--set', 'max_steps=300'],
};
const plan = (over: Partial<DistributedInput>) => planDistributed({ ...base, ...over });

describe('planDistributed: env, YAML keys, world size', () => {
  const cases: Array<{
    name: string;
    input: Partial<DistributedInput>;
    env: Record<string, string | undefined>;
    config: Record<string, unknown>;
    worldSize: number;
    effective: number;
    distributed: boolean;
  }> = [
    {
      name: 'CPU, nothing asked: one process, launch unchanged',
      input: {},
      env: { FORCE_TORCHRUN: undefined, NPROC_PER_NODE: undefined, CUDA_VISIBLE_DEVICES: undefined },
      config: {},
      worldSize: 1,
      effective: 8,
      distributed: false,
    },
    {
      name: 'one GPU host, nothing asked: one process',
      input: { hostGpus: 1 },
      env: { FORCE_TORCHRUN: undefined },
      config: {},
      worldSize: 1,
      effective: 8,
      distributed: false,
    },
    {
      name: '--gpus 0,1 on an 8-GPU host: two processes on those two',
      input: { hostGpus: 8, gpus: '0,1' },
      env: { CUDA_VISIBLE_DEVICES: '0,1', FORCE_TORCHRUN: '1', NPROC_PER_NODE: '2', NNODES: '1', NODE_RANK: '0', MASTER_ADDR: undefined },
      config: {},
      worldSize: 2,
      effective: 16,
      distributed: true,
    },
    {
      name: 'a 4-GPU host: every GPU by default',
      input: { hostGpus: 4 },
      env: { CUDA_VISIBLE_DEVICES: undefined, NPROC_PER_NODE: '4' },
      config: {},
      worldSize: 4,
      effective: 32,
      distributed: true,
    },
    {
      name: '--nproc 1 on a 4-GPU host: torchrun told one process (LLaMA-Factory would start four)',
      input: { hostGpus: 4, nprocPerNode: 1 },
      env: { FORCE_TORCHRUN: '1', NPROC_PER_NODE: '1' },
      config: {},
      worldSize: 1,
      effective: 8,
      distributed: false,
    },
    {
      name: 'CPU --nproc 2: gloo DDP',
      input: { nprocPerNode: 2 },
      env: { FORCE_TORCHRUN: '1', NPROC_PER_NODE: '2' },
      config: { ddp_backend: 'gloo' },
      worldSize: 2,
      effective: 16,
      distributed: true,
    },
    {
      name: 'GPU UUIDs in --gpus',
      input: { hostGpus: 2, gpus: 'GPU-aa, GPU-bb' },
      env: { CUDA_VISIBLE_DEVICES: 'GPU-aa,GPU-bb', NPROC_PER_NODE: '2' },
      config: {},
      worldSize: 2,
      effective: 16,
      distributed: true,
    },
    {
      name: 'two nodes of 8 GPUs, this is node 1',
      input: { hostGpus: 8, nnodes: 2, nodeRank: 1, master: '10.0.0.1:29500' },
      env: { NNODES: '2', NODE_RANK: '1', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500', NPROC_PER_NODE: '8' },
      config: {},
      worldSize: 16,
      effective: 128,
      distributed: true,
    },
    {
      name: 'ZeRO-2 on one GPU: torchrun even so',
      input: { hostGpus: 1, engine: 'deepspeed-z2' },
      env: { FORCE_TORCHRUN: '1', NPROC_PER_NODE: '1' },
      config: { deepspeed: templates['deepspeed-z2'] },
      worldSize: 1,
      effective: 8,
      distributed: true,
    },
    {
      name: 'ZeRO-3 offload on two GPUs',
      input: { hostGpus: 2, engine: 'deepspeed-z3-offload' },
      env: { FORCE_TORCHRUN: '1', NPROC_PER_NODE: '2' },
      config: { deepspeed: templates['deepspeed-z3-offload'] },
      worldSize: 2,
      effective: 16,
      distributed: true,
    },
    {
      name: 'Ray: USE_RAY and its keys, no torchrun',
      input: { hostGpus: 4, engine: 'ray', rayWorkers: 4 },
      env: { USE_RAY: '1', FORCE_TORCHRUN: undefined },
      config: { ray_num_workers: 4, ray_init_kwargs: { address: 'auto' } },
      worldSize: 4,
      effective: 32,
      distributed: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(c.input);
      for (const [k, v] of Object.entries(c.env)) expect(p.env[k], k).toBe(v);
      expect(p.config).toEqual(c.config);
      expect(p.worldSize).toBe(c.worldSize);
      expect(p.effectiveBatch).toBe(c.effective);
      expect(p.distributed).toBe(c.distributed);
      expect(p.launcher).toBe('llamafactory-cli');
    });
  }

  it('raises a short ddp_timeout, with the reason, so the ranks outwait rank 0 tokenising', () => {
    const p = plan({ hostGpus: 2, config: { ...base.config, ddp_timeout: 1800 } });
    expect(p.config.ddp_timeout).toBe(MIN_DDP_TIMEOUT_S);
    expect(p.reasons.join('\n')).toMatch(/rank 0 tokenises/);
    expect(plan({ hostGpus: 2, config: { per_device_train_batch_size: 1 } }).config.ddp_timeout).toBe(MIN_DDP_TIMEOUT_S);
    expect(plan({ hostGpus: 1, config: { ddp_timeout: 60 } }).config.ddp_timeout).toBeUndefined();
  });

  it('FSDP goes through accelerate launch with the config template and the node flags', () => {
    const p = plan({ hostGpus: 4, engine: 'fsdp', nnodes: 2, nodeRank: 0, master: 'head.local:29400' });
    expect(p.launcher).toBe('accelerate');
    expect(p.env.FORCE_TORCHRUN).toBeUndefined();
    expect(p.accelerateArgs).toEqual([
      '--config_file',
      templates.fsdp,
      '--num_processes',
      '8',
      '--num_machines',
      '2',
      '--machine_rank',
      '0',
      '--main_process_ip',
      'head.local',
      '--main_process_port',
      '29400',
    ]);
    expect(p.needsGpu).toBe(true);
  });

  it('prints the launch line of every other node, shell-quoted, with the same engine and counts', () => {
    const p = plan({
      hostGpus: 2,
      nnodes: 3,
      nodeRank: 1,
      master: '10.0.0.1:29500',
      engine: 'deepspeed-z3',
      relaunchArgs: [...base.relaunchArgs, '--set', 'lora_target=q_proj v_proj'],
    });
    expect(p.otherNodes.map((n) => n.nodeRank)).toEqual([0, 2]);
    expect(p.otherNodes[0]!.line).toBe(
      "medtune train --model /models/qwen2-vl-2b --dataset sample --profile gpu-80g --set max_steps=300 --set 'lora_target=q_proj v_proj' --engine deepspeed-z3 --nproc 2 --nnodes 3 --node-rank 0 --master 10.0.0.1:29500",
    );
    expect(plan({ hostGpus: 2 }).otherNodes).toEqual([]);
  });

  it('describes the scale as processes × batch × accumulation', () => {
    const p = plan({ hostGpus: 8, nnodes: 2, nodeRank: 0, master: '10.0.0.1:29500' });
    expect(describeScale(p, base.config)).toBe('ddp: 16 process(es) on 2 nodes (this is node 0); effective batch 16 × 2 × 4 = 128');
    expect(describeScale(plan({}), base.config)).toBe('one process; effective batch 1 × 2 × 4 = 8');
  });

  it('marks what only a GPU host may launch', () => {
    expect(plan({ nprocPerNode: 2 }).needsGpu).toBe(false);
    expect(plan({ gpus: '0,1' }).needsGpu).toBe(true);
    for (const engine of ['deepspeed-z2', 'deepspeed-z3', 'deepspeed-z3-offload', 'fsdp', 'ray'] as const)
      expect(plan({ hostGpus: 2, engine }).needsGpu, engine).toBe(true);
  });

  it('keeps the keys a single process cannot parse apart for the pre-launch check', () => {
    expect(plan({ hostGpus: 2, engine: 'deepspeed-z3' }).launchOnlyKeys).toEqual(['deepspeed']);
    expect(plan({ nprocPerNode: 2 }).launchOnlyKeys).toEqual(['ddp_backend']);
    expect(LAUNCH_ONLY_KEYS).toContain('deepspeed');
  });
});

describe('planDistributed: refused with a clear error', () => {
  const refusals: Array<{ name: string; input: Partial<DistributedInput>; code: string; problem: RegExp }> = [
    {
      name: 'a space in a path torchrun sees',
      input: { hostGpus: 2, argvPaths: ['/home/me/my runs/r1/train.yaml'] },
      code: 'PATH_HAS_SPACE',
      problem: /my runs.*contains a space.*splitting on whitespace/,
    },
    {
      name: 'a space even on one GPU with DeepSpeed',
      input: { hostGpus: 1, engine: 'deepspeed-z2', argvPaths: ['/a b/venv'] },
      code: 'PATH_HAS_SPACE',
      problem: /contains a space/,
    },
    {
      name: 'several nodes without a master',
      input: { hostGpus: 2, nnodes: 2, nodeRank: 1 },
      code: 'BAD_DISTRIBUTED',
      problem: /needs --master/,
    },
    {
      name: 'a node rank outside the nodes',
      input: { hostGpus: 2, nnodes: 2, nodeRank: 2, master: 'h:1' },
      code: 'BAD_DISTRIBUTED',
      problem: /outside 0\.\.1/,
    },
    {
      name: 'more processes than chosen GPUs',
      input: { hostGpus: 8, gpus: '0,1', nprocPerNode: 4 },
      code: 'BAD_DISTRIBUTED',
      problem: /--nproc 4 is more than the 2 GPU/,
    },
    { name: 'zero processes', input: { nprocPerNode: 0 }, code: 'BAD_DISTRIBUTED', problem: /--nproc 0 is not a whole number/ },
    {
      name: 'a master without a port',
      input: { hostGpus: 2, nnodes: 2, master: '10.0.0.1' },
      code: 'BAD_DISTRIBUTED',
      problem: /not HOST:PORT/,
    },
    {
      name: 'Ray with node flags',
      input: { hostGpus: 2, engine: 'ray', nnodes: 2, master: 'h:1' },
      code: 'BAD_DISTRIBUTED',
      problem: /Ray places workers/,
    },
    { name: 'Ray workers without Ray', input: { hostGpus: 2, rayWorkers: 2 }, code: 'BAD_DISTRIBUTED', problem: /only to --engine ray/ },
    { name: 'an empty --gpus', input: { hostGpus: 2, gpus: ' , ' }, code: 'BAD_DISTRIBUTED', problem: /--gpus is empty/ },
  ];
  for (const c of refusals) {
    it(c.name, () => {
      let err: unknown;
      try {
        plan(c.input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MedtuneError);
      expect((err as MedtuneError).code).toBe(c.code);
      expect((err as MedtuneError).problem).toMatch(c.problem);
      expect((err as MedtuneError).next).toBeTruthy();
    });
  }

  it('one process on CPU may live in a path with spaces: nothing is relaunched', () => {
    expect(plan({ argvPaths: ['/home/me/my runs/r1'] }).distributed).toBe(false);
  });

  it('parses masters and engines', () => {
    expect(parseMaster('node-0.cluster:29500')).toEqual({ addr: 'node-0.cluster', port: 29500 });
    expect(parseMaster('[fe80::1]:29500')).toEqual({ addr: 'fe80::1', port: 29500 });
    expect(() => parseMaster('h:70000')).toThrow(MedtuneError);
    expect(parseEngine('deepspeed-z3')).toBe('deepspeed-z3');
    expect(() => parseEngine('zero3')).toThrow(MedtuneError);
    try {
      parseEngine('zero3');
    } catch (e) {
      expect((e as MedtuneError).next).toMatch(/use one of: ddp, deepspeed-z2/);
    }
  });
});

describe('engine templates', () => {
  // biome-ignore lint/suspicious/noExplicitAny: the templates' nested JSON is checked field by field
  const json = (engine: string) => JSON.parse(readFileSync(templates[engine]!, 'utf8')) as Record<string, any>;

  it('has a template for every engine that needs one', () => {
    for (const engine of ENGINES) if (engine.startsWith('deepspeed') || engine === 'fsdp') expect(templates[engine], engine).toBeTruthy();
  });

  it('DeepSpeed configs leave batch, accumulation, clipping and precision to the trainer ("auto")', () => {
    for (const engine of ['deepspeed-z2', 'deepspeed-z3', 'deepspeed-z3-offload']) {
      const c = json(engine);
      for (const k of ['train_batch_size', 'train_micro_batch_size_per_gpu', 'gradient_accumulation_steps', 'gradient_clipping'])
        expect(c[k], `${engine} ${k}`).toBe('auto');
      expect(c.bf16.enabled).toBe('auto');
      expect(c.fp16.enabled).toBe('auto');
      // LLaMA-Factory's optimizers are not DeepSpeed's own.
      expect(c.zero_allow_untested_optimizer).toBe(true);
    }
    expect(json('deepspeed-z2').zero_optimization.stage).toBe(2);
    expect(json('deepspeed-z3').zero_optimization.stage).toBe(3);
    expect(json('deepspeed-z3').zero_optimization.offload_param).toBeUndefined();
    // The adapter is written whole at the end of a ZeRO-3 run, not as shards.
    expect(json('deepspeed-z3').zero_optimization.stage3_gather_16bit_weights_on_model_save).toBe(true);
    const off = json('deepspeed-z3-offload').zero_optimization;
    expect(off.stage).toBe(3);
    expect(off.offload_param.device).toBe('cpu');
    expect(off.offload_optimizer.device).toBe('cpu');
  });

  it('the accelerate config is FSDP, fully sharded, transformer-wrapped', () => {
    // biome-ignore lint/suspicious/noExplicitAny: the accelerate YAML is checked field by field
    const c = parseYaml(readFileSync(templates.fsdp!, 'utf8')) as Record<string, any>;
    expect(c.distributed_type).toBe('FSDP');
    expect(c.fsdp_config.fsdp_sharding_strategy).toBe('FULL_SHARD');
    expect(c.fsdp_config.fsdp_auto_wrap_policy).toBe('TRANSFORMER_BASED_WRAP');
    expect(c.use_cpu).toBe(false);
  });
});

describe("the Train form's GPU choices and the processes they start", () => {
  it.each([
    [0, [undefined]],
    [1, [undefined]],
    [2, [undefined, '0', '1']],
    [4, [undefined, '0', '1', '2', '3', '0,1', '0,1,2']],
  ] as const)('%i GPU(s)', (n, want) => {
    expect(gpuChoices(n)).toEqual(want);
  });
  it.each([
    [undefined, 0, 1],
    [undefined, 1, 1],
    [undefined, 8, 8],
    ['3', 8, 1],
    ['0,1', 8, 2],
    ['GPU-aaaa, GPU-bbbb,', 2, 2],
  ] as const)('--gpus %s on a host with %i GPU(s): %i process(es)', (gpus, host, want) => {
    expect(processesFor(gpus, host)).toBe(want);
  });
});

describe('runScale: how a recorded run was spread, from its launch environment', () => {
  it.each([
    ['a plain run', {}, [], {}, { processes: 1, nodes: 1, devices: null }],
    ['one chosen GPU', { CUDA_VISIBLE_DEVICES: '3' }, [], {}, { processes: 1, nodes: 1, devices: ['3'] }],
    [
      'torchrun on 2 GPUs',
      { FORCE_TORCHRUN: '1', NPROC_PER_NODE: '2', NNODES: '1', CUDA_VISIBLE_DEVICES: '0,1' },
      [],
      {},
      { processes: 2, nodes: 1, devices: ['0', '1'] },
    ],
    [
      '2 nodes × 4',
      { FORCE_TORCHRUN: '1', NPROC_PER_NODE: '4', NNODES: '2', NODE_RANK: '1' },
      [],
      {},
      { processes: 8, nodes: 2, devices: null },
    ],
    [
      'FSDP through accelerate',
      {},
      ['accelerate', 'launch', '--num_processes', '4', '--num_machines', '2'],
      {},
      { processes: 4, nodes: 2, devices: null },
    ],
    ['Ray with its workers', { USE_RAY: '1' }, [], { ray_num_workers: 3 }, { processes: 3, nodes: 1, devices: null }],
    [
      'garbage in the env',
      { NPROC_PER_NODE: 'two', NNODES: '-1', CUDA_VISIBLE_DEVICES: '' },
      [],
      {},
      { processes: 1, nodes: 1, devices: [] },
    ],
  ] as const)('%s', (_name, env, command, config, want) => {
    expect(runScale(env as Record<string, string>, command as readonly string[], config)).toEqual(want);
  });
});
