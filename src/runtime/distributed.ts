/**
 * The runtime side of scale-out: where the engine templates and LLaMA-Factory's launcher lie, the command that
 * starts this node's share of a run, and the launch checks only this machine can answer (GPUs, packages).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ENGINE_TEMPLATE, planDistributed, type DistributedPlan, type DistributedRequest, type Engine } from '../core/distributed.js';
import { MedtuneError } from '../core/errors.js';
import type { TrainConfig } from '../core/trainconfig.js';
import { PYTHON_DIR, TEMPLATES_DIR } from './paths.js';
import type { Venv } from './venv.js';

export function engineTemplates(): Partial<Record<Engine, string>> {
  const out: Partial<Record<Engine, string>> = {};
  for (const [engine, rel] of Object.entries(ENGINE_TEMPLATE) as Array<[Engine, string]>) {
    const file = join(TEMPLATES_DIR, rel);
    if (existsSync(file)) out[engine] = file;
  }
  return out;
}

/** `<venv>/lib/pythonX.Y/site-packages/llamafactory/launcher.py`: the script torchrun and accelerate run. */
export function llamafactoryLauncher(venv: Venv): string {
  const [major, minor] = venv.marker.pythonVersion.split('.');
  return join(venv.dir, 'lib', `python${major}.${minor}`, 'site-packages', 'llamafactory', 'launcher.py');
}

/** python/cpu_ddp/sitecustomize.py: lets a CPU DDP run resume (see that file). */
export const CPU_DDP_SHIM = join(PYTHON_DIR, 'cpu_ddp');

export function planNodeLaunch(
  venv: Venv,
  req: DistributedRequest,
  opts: { hostGpus: number; config: TrainConfig; trainYaml: string; runDir: string; relaunchArgs: string[] },
): DistributedPlan {
  const plan = planDistributed({
    gpus: req.gpus,
    hostGpus: opts.hostGpus,
    nprocPerNode: req.nproc,
    nnodes: req.nnodes,
    nodeRank: req.nodeRank,
    master: req.master,
    engine: req.engine,
    rayWorkers: req.rayWorkers,
    templates: engineTemplates(),
    config: opts.config,
    argvPaths: [opts.trainYaml, opts.runDir, venv.dir, ...Object.values(engineTemplates())],
    relaunchArgs: opts.relaunchArgs,
  });
  if (plan.distributed && opts.hostGpus === 0 && plan.launcher === 'llamafactory-cli') {
    plan.env.PYTHONPATH = CPU_DDP_SHIM;
    plan.reasons.push(
      `PYTHONPATH ${CPU_DDP_SHIM}: torch cannot restore the optimizer state of a CPU DDP checkpoint (tagged cpu:0) without it, so resume would fail`,
    );
  }
  return plan;
}

/** The argv that starts this node's processes. */
export function launchCommand(venv: Venv, dist: DistributedPlan, trainYaml: string): string[] {
  if (dist.launcher === 'accelerate')
    return [join(venv.bin, 'accelerate'), 'launch', ...dist.accelerateArgs, llamafactoryLauncher(venv), trainYaml];
  return [join(venv.bin, 'llamafactory-cli'), 'train', trainYaml];
}

async function hasModule(venv: Venv, module: string): Promise<boolean> {
  const r = await execa(
    venv.python,
    ['-c', `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(module)}) else 3)`],
    { reject: false, timeout: 60_000 },
  );
  return r.exitCode === 0;
}

/** What a launch needs beyond the config: GPUs for the GPU-only engines, DeepSpeed or Ray in the venv. */
export async function checkNodeLaunch(venv: Venv, dist: DistributedPlan, hostGpus: number): Promise<void> {
  const doing = `launching with --engine ${dist.engine}`;
  if (dist.needsGpu && hostGpus === 0) {
    const why =
      dist.engine === 'ray'
        ? 'LLaMA-Factory 0.9.5 asks Ray for {CPU: 10, GPU: 1} per worker and, without GPUs, for 10 CPUs per CPU of the cluster, which Ray can never place'
        : dist.engine === 'ddp'
          ? `--gpus ${dist.env.CUDA_VISIBLE_DEVICES} names GPUs, and this host has none`
          : `${dist.engine} shards the model across GPUs; this host has none`;
    throw new MedtuneError({
      doing,
      problem: why,
      next: 'run it on a host with GPUs (a --dry-run prepares and checks the config here); on CPU use --nproc N without --gpus',
      code: 'NEEDS_GPU',
    });
  }
  if (dist.engine.startsWith('deepspeed') && !(await hasModule(venv, 'deepspeed'))) {
    throw new MedtuneError({
      doing,
      problem: `DeepSpeed is not installed in ${venv.dir}`,
      next: `${join(venv.bin, 'pip')} install --no-build-isolation 'deepspeed==0.18.4' (LLaMA-Factory 0.9.5 accepts 0.10.0–0.18.4; it builds from source against the venv's torch)`,
      code: 'NO_DEEPSPEED',
    });
  }
  if (dist.engine === 'ray' && !(await hasModule(venv, 'ray'))) {
    throw new MedtuneError({
      doing,
      problem: `Ray is not installed in ${venv.dir}`,
      next: `${join(venv.bin, 'pip')} install 'ray[train]' matching your cluster's Ray version`,
      code: 'NO_RAY',
    });
  }
}

/** `train …` arguments that rebuild the same run on another node (the node flags are added by the plan). */
export function relaunchArgs(
  req: {
    model: string;
    datasets: string[];
    evalDataset?: string;
    profile: string;
    overrides?: string[];
    gpus?: string;
    rayWorkers?: number;
    name?: string;
  },
  modelDir: string,
): string[] {
  const args = ['train', '--model', modelDir, ...req.datasets.flatMap((d) => ['--dataset', d]), '--profile', req.profile];
  if (req.evalDataset) args.push('--eval-dataset', req.evalDataset);
  for (const o of req.overrides ?? []) args.push('--set', o);
  if (req.gpus) args.push('--gpus', req.gpus);
  return args;
}
