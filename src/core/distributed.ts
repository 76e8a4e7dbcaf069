/**
 * Scale-out through LLaMA-Factory's own launchers: from the user's choice (GPUs, processes, nodes, engine) to the
 * environment of `llamafactory-cli train` (torchrun DDP, DeepSpeed ZeRO), the `accelerate launch` command (FSDP) or
 * Ray's keys, plus the launch line each other node must run. Pure: template paths and argv come in, nothing is read.
 *
 * Facts from LLaMA-Factory 0.9.5 (launcher.py, tuner.py, hparams/parser.py, train/trainer_utils.py):
 * - `train` relaunches itself under torchrun when FORCE_TORCHRUN is set or more than one GPU is visible; torchrun's
 *   flags come from NNODES, NODE_RANK, NPROC_PER_NODE (default: the visible GPU count), MASTER_ADDR, MASTER_PORT.
 * - It joins its argv with spaces and splits again, so any path with a space breaks the relaunch.
 * - `deepspeed: <json>` needs torchrun even on one GPU ("Please use `FORCE_TORCHRUN=1` ...").
 * - FSDP has no YAML key: `accelerate launch --config_file <cfg> <site-packages>/llamafactory/launcher.py cfg.yaml`.
 * - Ray (USE_RAY=1) reads `ray_num_workers`, `ray_init_kwargs`, `master_addr`, `master_port`; the v0.9.3 key
 *   `resources_per_worker` no longer exists. Its placement group asks for {CPU: 10, <device>: 1} per *cluster device*
 *   and on a CPU-only cluster counts CPUs as the devices, so N CPUs ask for 10·N: it can never be placed without GPUs.
 */
import { MedtuneError } from './errors.js';
import { trainOptions } from './options.js';
import type { TrainConfig } from './trainconfig.js';

export const ENGINES = ['ddp', 'deepspeed-z2', 'deepspeed-z3', 'deepspeed-z3-offload', 'fsdp', 'ray'] as const;
export type Engine = (typeof ENGINES)[number];

export const ENGINE_HELP: Record<Engine, string> = {
  ddp: 'torchrun DDP: one full copy of the model per process (default)',
  'deepspeed-z2': 'DeepSpeed ZeRO-2: optimizer state and gradients sharded across processes',
  'deepspeed-z3': 'DeepSpeed ZeRO-3: parameters sharded too (models that do not fit one GPU)',
  'deepspeed-z3-offload': 'DeepSpeed ZeRO-3 with parameters and optimizer state offloaded to CPU memory',
  fsdp: 'PyTorch FSDP through `accelerate launch` and an accelerate config',
  ray: 'an existing Ray cluster (USE_RAY=1, ray_num_workers): GPUs required',
};

/** The template file each engine needs, relative to templates/. */
export const ENGINE_TEMPLATE: Partial<Record<Engine, string>> = {
  'deepspeed-z2': 'deepspeed/ds_z2.json',
  'deepspeed-z3': 'deepspeed/ds_z3.json',
  'deepspeed-z3-offload': 'deepspeed/ds_z3_offload.json',
  fsdp: 'accelerate/fsdp.yaml',
};

/**
 * A collective waits this long for the slowest rank. Rank 0 tokenises the dataset (LLaMA-Factory's
 * main_process_first) while the others wait in a barrier; with torch's default (30 min for NCCL) a large image set
 * ends in an NCCL watchdog timeout before training starts (hiyouga/LLaMA-Factory #2902, #2424). One day.
 */
export const MIN_DDP_TIMEOUT_S = 86_400;

/**
 * Keys a single process cannot parse: DeepSpeed wants torchrun ("Please use `FORCE_TORCHRUN=1`"), and transformers
 * sets up a gloo process group for ddp_backend and fails without one ("Default process group has not been
 * initialized"). medtune's pre-launch parser check leaves them out; the tests check them.
 */
export const LAUNCH_ONLY_KEYS = ['deepspeed', 'ddp_backend'];

/** How many processes on which nodes a person asked for (flags or the TUI's form); undefined: this host's default. */
export interface DistributedRequest {
  gpus?: string;
  nproc?: number;
  nnodes?: number;
  nodeRank?: number;
  master?: string;
  engine?: Engine;
  rayWorkers?: number;
}

export interface DistributedInput {
  /** CUDA_VISIBLE_DEVICES as given (`0,1`, or GPU UUIDs). */
  gpus?: string;
  /** GPUs present on this host (0 on a CPU-only machine). */
  hostGpus: number;
  /** Processes on this node; default: the chosen GPUs, else every GPU of the host, else 1. */
  nprocPerNode?: number;
  nnodes?: number;
  nodeRank?: number;
  /** HOST:PORT of node 0's rendezvous; required with several nodes. */
  master?: string;
  engine?: Engine;
  /** Ray only: workers (one GPU each). */
  rayWorkers?: number;
  /** Absolute paths of the templates named in ENGINE_TEMPLATE, keyed by engine. */
  templates: Partial<Record<Engine, string>>;
  /** The config as planned so far (per-device batch, accumulation, ddp_timeout). */
  config: TrainConfig;
  /** Paths that travel through torchrun's whitespace-split argv (train YAML, venv, launcher, output dir). */
  argvPaths: string[];
  /** `medtune train …` arguments that reproduce this run minus the node flags, for the other nodes' launch lines. */
  relaunchArgs: string[];
}

export interface NodeLaunch {
  nodeRank: number;
  line: string;
}

export interface DistributedPlan {
  engine: Engine;
  /** False for a plain one-process run: nothing below changes the launch. */
  distributed: boolean;
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  /** Processes over all nodes. */
  worldSize: number;
  /** world size × per-device batch × gradient accumulation. */
  effectiveBatch: number;
  env: Record<string, string>;
  /** Keys merged into the train YAML. */
  config: TrainConfig;
  /** Keys the single-process parser check must not see (LAUNCH_ONLY_KEYS). */
  launchOnlyKeys: string[];
  /** `llamafactory-cli train`, or `accelerate launch` for FSDP. */
  launcher: 'llamafactory-cli' | 'accelerate';
  /** For the accelerate launcher: its flags before the script. */
  accelerateArgs: string[];
  /** The command each other node runs. */
  otherNodes: NodeLaunch[];
  /** Why each generated setting is there, for the plan's printout. */
  reasons: string[];
  /** DeepSpeed, FSDP, Ray and a --gpus list: launched only on a host with GPUs (a dry run still prepares them). */
  needsGpu: boolean;
}

const bad = (problem: string, next: string, code = 'BAD_DISTRIBUTED'): MedtuneError =>
  new MedtuneError({ doing: 'planning the distributed launch', problem, next, code });

export function parseMaster(text: string): { addr: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw bad(
      `--master "${text}" is not HOST:PORT`,
      'give the address node 0 is reachable at and a free port, e.g. --master 10.0.0.1:29500',
    );
  }
  return { addr: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function isEngine(text: string): text is Engine {
  return (ENGINES as readonly string[]).includes(text);
}

export function parseEngine(text: string): Engine {
  if (isEngine(text)) return text;
  throw bad(`no engine "${text}"`, `use one of: ${ENGINES.join(', ')}`);
}

/** Samples per process per optimizer step: per-device batch × gradient accumulation. */
function perStepBatch(config: Readonly<Record<string, unknown>>): number {
  const o = trainOptions(config);
  return o.per_device_train_batch_size * o.gradient_accumulation_steps;
}

/** "2 × 4 × 8 = 64": processes × per-device batch × gradient accumulation = samples per optimizer step. */
export function effectiveBatchText(processes: number, config: Readonly<Record<string, unknown>>): string {
  const { per_device_train_batch_size: batch, gradient_accumulation_steps: accumulation } = trainOptions(config);
  return `${processes} × ${batch} × ${accumulation} = ${processes * batch * accumulation}`;
}

/** The plan's one-line summary: processes × batch × accumulation. */
export function describeScale(plan: DistributedPlan, config: TrainConfig): string {
  const nodes = plan.nnodes > 1 ? ` on ${plan.nnodes} nodes (this is node ${plan.nodeRank})` : '';
  const who = plan.distributed ? `${plan.engine}: ${plan.worldSize} process(es)${nodes}` : 'one process';
  return `${who}; effective batch ${effectiveBatchText(plan.worldSize, config)}`;
}

function positiveInt(value: number | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min) throw bad(`${flag} ${value} is not a whole number ≥ ${min}`, `pass ${flag} ${min} or more`);
  return value;
}

/** Shell-quotes one argument for a printed command line. */
function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function planDistributed(input: DistributedInput): DistributedPlan {
  const engine = input.engine ?? 'ddp';
  const gpuList =
    input.gpus
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  if (input.gpus !== undefined && !gpuList.length) throw bad('--gpus is empty', 'list GPU indices or UUIDs, e.g. --gpus 0,1');
  const nnodes = positiveInt(input.nnodes, '--nnodes', 1) ?? 1;
  const nodeRank = input.nodeRank ?? 0;
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) {
    throw bad(
      `--node-rank ${nodeRank} is outside 0..${nnodes - 1} for --nnodes ${nnodes}`,
      `give each node its own rank from 0 to ${nnodes - 1}; node 0 hosts the master`,
    );
  }
  const explicitNproc = positiveInt(input.nprocPerNode, '--nproc', 1);
  const visible = gpuList.length || input.hostGpus;
  if (explicitNproc && visible > 0 && explicitNproc > visible) {
    throw bad(
      `--nproc ${explicitNproc} is more than the ${visible} GPU(s) ${gpuList.length ? 'chosen with --gpus' : 'of this host'}`,
      `lower --nproc to ${visible}, or list more GPUs with --gpus`,
    );
  }
  const nprocPerNode = explicitNproc ?? Math.max(1, visible);
  const config: TrainConfig = {};
  const env: Record<string, string> = {};
  const reasons: string[] = [];
  if (gpuList.length) env.CUDA_VISIBLE_DEVICES = gpuList.join(',');

  if (engine === 'ray') {
    if (nnodes > 1 || input.master)
      throw bad(
        'Ray places workers on the nodes of its own cluster; --nnodes and --master do not apply',
        'start the Ray cluster (`ray start --head` on one node, `ray start --address HEAD:6379` on the others) and pass --ray-workers N only',
      );
    const workers = positiveInt(input.rayWorkers, '--ray-workers', 1) ?? Math.max(1, nprocPerNode);
    env.USE_RAY = '1';
    config.ray_num_workers = workers;
    // LLaMA-Factory calls ray.init(**ray_init_kwargs): "auto" joins the running cluster instead of starting a local one.
    config.ray_init_kwargs = { address: 'auto' };
    reasons.push(`Ray: ${workers} worker(s), one GPU each, on the running cluster (ray.init(address="auto"))`);
    const batch = perStepBatch(input.config);
    return {
      engine,
      distributed: true,
      nprocPerNode: workers,
      nnodes: 1,
      nodeRank: 0,
      worldSize: workers,
      effectiveBatch: workers * batch,
      env,
      config,
      launchOnlyKeys: [],
      launcher: 'llamafactory-cli',
      accelerateArgs: [],
      otherNodes: [],
      reasons,
      needsGpu: true,
    };
  }
  if (input.rayWorkers !== undefined) throw bad('--ray-workers applies only to --engine ray', 'drop --ray-workers, or add --engine ray');

  const worldSize = nprocPerNode * nnodes;
  const deepspeed = engine.startsWith('deepspeed');
  // DeepSpeed needs torchrun even for one process; DDP and FSDP only once there is more than one.
  const distributed = worldSize > 1 || deepspeed || engine === 'fsdp';
  let master = input.master ? parseMaster(input.master) : undefined;
  if (nnodes > 1 && !master)
    throw bad(
      `--nnodes ${nnodes} needs --master HOST:PORT`,
      'pass the address of node 0 that every node can reach, e.g. --master 10.0.0.1:29500, on every node',
    );
  if (!master && distributed && engine === 'fsdp') master = { addr: '127.0.0.1', port: 29500 };

  // LLaMA-Factory relaunches under torchrun by itself once more than one GPU is visible.
  const viaTorchrun = engine !== 'fsdp' && (distributed || visible > 1);
  if (distributed || viaTorchrun) {
    const spaced = input.argvPaths.filter((p) => /\s/.test(p));
    if (spaced.length) {
      throw bad(
        `${spaced[0]} contains a space; LLaMA-Factory rebuilds the command for ${engine === 'fsdp' ? 'accelerate' : 'torchrun'} by splitting on whitespace, so the run would fail`,
        'use a workspace (-w) and a medtune cache (MEDTUNE_CACHE) whose paths have no spaces',
        'PATH_HAS_SPACE',
      );
    }
    const timeout = Number(input.config.ddp_timeout ?? 1800);
    if (!(timeout >= MIN_DDP_TIMEOUT_S)) {
      config.ddp_timeout = MIN_DDP_TIMEOUT_S;
      reasons.push(
        `ddp_timeout ${MIN_DDP_TIMEOUT_S} s: the other ranks wait in a barrier while rank 0 tokenises the dataset; a shorter timeout ends the run there`,
      );
    }
    if (input.hostGpus === 0) {
      // transformers picks gloo on CPU by itself; say so in the YAML, which is what the user reads.
      config.ddp_backend = 'gloo';
      reasons.push('ddp_backend gloo: no GPU on this host, so the processes talk over gloo instead of NCCL');
    }
  }

  let launcher: DistributedPlan['launcher'] = 'llamafactory-cli';
  const accelerateArgs: string[] = [];
  if (deepspeed) {
    const file = input.templates[engine];
    if (!file) throw bad(`no DeepSpeed config for ${engine}`, `reinstall medtune (templates/${ENGINE_TEMPLATE[engine]} is missing)`);
    config.deepspeed = file;
    reasons.push(`deepspeed ${file}: ${ENGINE_HELP[engine]}`);
  }
  if (engine === 'fsdp') {
    const file = input.templates.fsdp;
    if (!file) throw bad('no accelerate config for FSDP', `reinstall medtune (templates/${ENGINE_TEMPLATE.fsdp} is missing)`);
    launcher = 'accelerate';
    accelerateArgs.push(
      '--config_file',
      file,
      '--num_processes',
      String(worldSize),
      '--num_machines',
      String(nnodes),
      '--machine_rank',
      String(nodeRank),
      '--main_process_ip',
      master!.addr,
      '--main_process_port',
      String(master!.port),
    );
    reasons.push(`accelerate launch with ${file}: ${ENGINE_HELP.fsdp}`);
  } else if (viaTorchrun) {
    env.FORCE_TORCHRUN = '1';
    env.NPROC_PER_NODE = String(nprocPerNode);
    env.NNODES = String(nnodes);
    env.NODE_RANK = String(nodeRank);
    if (master) {
      env.MASTER_ADDR = master.addr;
      env.MASTER_PORT = String(master.port);
    }
    reasons.push(`torchrun: ${nprocPerNode} process(es) on this node × ${nnodes} node(s) = ${worldSize}`);
  }

  const otherNodes: NodeLaunch[] = [];
  if (nnodes > 1) {
    const base = input.relaunchArgs.map(quote).join(' ');
    for (let r = 0; r < nnodes; r++) {
      if (r === nodeRank) continue;
      otherNodes.push({
        nodeRank: r,
        line: `medtune ${base} --engine ${engine} --nproc ${nprocPerNode} --nnodes ${nnodes} --node-rank ${r} --master ${input.master!.trim()}`,
      });
    }
  }
  const batch = perStepBatch(input.config);
  return {
    engine,
    distributed,
    nprocPerNode,
    nnodes,
    nodeRank,
    worldSize,
    effectiveBatch: worldSize * batch,
    env,
    config,
    launchOnlyKeys: Object.keys(config).filter((k) => LAUNCH_ONLY_KEYS.includes(k)),
    launcher,
    accelerateArgs,
    otherNodes,
    reasons,
    needsGpu: deepspeed || engine === 'fsdp' || gpuList.length > 0,
  };
}

/**
 * What the Train form offers for "GPUs" on a host with `count` of them: every visible GPU (undefined: no
 * CUDA_VISIBLE_DEVICES), each one alone, then the first two, three, … (as `--gpus` would list them).
 */
export function gpuChoices(count: number): Array<string | undefined> {
  if (count <= 1) return [undefined];
  const out: Array<string | undefined> = [undefined];
  for (let i = 0; i < count; i++) out.push(String(i));
  for (let n = 2; n < count; n++) out.push(Array.from({ length: n }, (_, i) => i).join(','));
  return out;
}

/** The processes a `--gpus` choice starts on one node (one per GPU; one on a host without GPUs). */
export function processesFor(gpus: string | undefined, hostGpus: number): number {
  const listed = gpus?.split(',').filter((s) => s.trim()).length ?? 0;
  return Math.max(1, listed || hostGpus);
}

/** How a recorded run was spread, from the environment it was launched with. */
export interface RunScale {
  /** Processes over all nodes (torchrun's world size, Ray's workers), 1 for a plain run. */
  processes: number;
  nodes: number;
  /** The run's CUDA_VISIBLE_DEVICES entries (indices or UUIDs); null: every GPU of the host. */
  devices: string[] | null;
}

export function runScale(
  env: Readonly<Record<string, string>>,
  command: readonly string[] = [],
  config: Readonly<Record<string, unknown>> = {},
): RunScale {
  const int = (v: unknown) => (v !== undefined && Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : undefined);
  const flag = (name: string) => {
    const i = command.indexOf(name);
    return i >= 0 ? int(command[i + 1]) : undefined;
  };
  const devices =
    env.CUDA_VISIBLE_DEVICES === undefined
      ? null
      : env.CUDA_VISIBLE_DEVICES.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  // FSDP: accelerate launch --num_processes (all nodes) --num_machines; Ray: its workers; else torchrun's env.
  const accelerate = flag('--num_processes');
  if (accelerate !== undefined) return { processes: accelerate, nodes: flag('--num_machines') ?? 1, devices };
  if (env.USE_RAY === '1') return { processes: int(config.ray_num_workers) ?? 1, nodes: 1, devices };
  const nodes = int(env.NNODES) ?? 1;
  return { processes: (int(env.NPROC_PER_NODE) ?? 1) * nodes, nodes, devices };
}
