/** A training run before it exists: what was asked (TrainRequest) and everything decided from it (RunPlan). */
import type { DistributedPlan, DistributedRequest } from './distributed.js';
import type { DiskPlan } from './estimate.js';
import type { Finding } from './findings.js';
import type { Profile, TrainConfig } from './trainconfig.js';
import type { VramEstimate } from './vram.js';
import type { WallTimeEstimate } from './walltime.js';

/** gpus, nproc, nnodes, nodeRank, master, engine, rayWorkers: how many processes on which nodes (core/distributed.ts). */
export interface TrainRequest extends DistributedRequest {
  /** A folder under models/, a path, or a known model name. */
  model: string;
  datasets: string[];
  /** An eval dataset (e.g. the `_val` entry `data prepare` registers) for an eval-loss curve. */
  evalDataset?: string;
  profile: string;
  overrides?: string[];
  autoResume?: number;
  /** Appended to the run id. */
  name?: string;
}

export interface RunPlan {
  id: string;
  config: TrainConfig;
  yaml: string;
  command: string[];
  env: Record<string, string>;
  commandLine: string;
  outputDir: string;
  profile: Profile;
  /** The profile's name (what `--profile auto` resolved to). */
  profileName: string;
  modelDir: string;
  samples: number;
  totalSteps: number;
  disk: DiskPlan | null;
  /** Estimated GPU memory per GPU (null on CPU, or for a model medtune cannot size). */
  vram: VramEstimate | null;
  /** Expected wall time on the GPUs the run will use, or reference cards without one (null: cpu profile, unknown model). */
  time: WallTimeEstimate | null;
  /** What the checks that need no Python found; `fail` ones stop a launch (see preflight). */
  findings: Finding[];
  /** Processes, nodes, engine, effective batch and the other nodes' launch lines. */
  distributed: DistributedPlan;
}
