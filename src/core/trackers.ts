/**
 * Experiment trackers, through LLaMA-Factory and transformers (`report_to`): what each needs installed, where its
 * files go (always inside the run folder), and how it runs without an account (offline or a local store). Pure:
 * runtime/runcontrol.ts applies the plan to a run's config and environment.
 */
import { finding, type Finding } from './findings.js';
import type { ConfigValue, TrainConfig } from './trainconfig.js';

export interface Tracker {
  name: string;
  /** What `medtune setup --with NAME` installs (pip requirement strings) when it is not pinned. */
  pipPackages: string[];
  /** The distributions that must be installed for it to run. */
  needs: string[];
  /** What a user reads (docs, `medtune setup --help`). */
  title: string;
}

/**
 * The trackers medtune sets up. The option registry (src/core) may fold this table in: `report_to`'s values are
 * its keys, plus `none`.
 */
export const TRACKERS: Readonly<Record<string, Tracker>> = {
  tensorboard: {
    name: 'tensorboard',
    pipPackages: ['tensorboard'],
    needs: ['tensorboard'],
    title: 'TensorBoard: event files in output/runs/, `medtune board` shows them',
  },
  wandb: {
    name: 'wandb',
    pipPackages: ['wandb'],
    needs: ['wandb'],
    title: 'Weights & Biases: offline in the run folder unless WANDB_API_KEY is set',
  },
  // LLaMA-Factory's local mode needs SwanLab's dashboard package (swanboard).
  swanlab: {
    name: 'swanlab',
    pipPackages: ['swanlab[dashboard]'],
    needs: ['swanlab', 'swanboard'],
    title: 'SwanLab: local mode in the run folder unless SWANLAB_API_KEY is set',
  },
  mlflow: {
    name: 'mlflow',
    pipPackages: ['mlflow-skinny'],
    needs: ['mlflow-skinny'],
    title: 'MLflow: a local file store, file:<run>/mlruns',
  },
};

export const TRACKER_NAMES = Object.keys(TRACKERS);

/** The trackers a config's `report_to` names (a list, or a string of comma-separated names); `none` and `all` aside. */
export function reportedTrackers(value: ConfigValue | undefined): string[] {
  const items = Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split(',') : [];
  return [...new Set(items.map((s) => s.trim()).filter((s) => s !== '' && s !== 'none'))];
}

/** Package names as pip compares them (PEP 503). */
export const normalizePackage = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');

export interface TrackerFacts {
  /** The run folder (runs/<id>). */
  runDir: string;
  /** The environment the run starts from (only whether keys are set is read, never their values). */
  env: Readonly<Record<string, string | undefined>>;
  /** Packages installed in the venv (pinned ones and extras), any spelling. */
  installed: readonly string[];
  /** The venv's bin folder, for the `wandb sync` command. */
  venvBin: string;
}

export interface TrackerPlan {
  /** Keys to set in the train config. */
  config: TrainConfig;
  /** Variables for the trainer's environment (nothing secret: keys stay in the supervisor's environment). */
  env: Record<string, string>;
  findings: Finding[];
}

export function planTrackers(reportTo: ConfigValue | undefined, facts: TrackerFacts): TrackerPlan {
  const names = reportedTrackers(reportTo);
  const plan: TrackerPlan = { config: {}, env: {}, findings: [] };
  if (!names.length) return plan;
  const installed = new Set(facts.installed.map(normalizePackage));
  const unknown = names.filter((n) => n === 'all' || !TRACKERS[n]);
  for (const n of unknown) {
    plan.findings.push(
      finding(
        'TRACKER_UNKNOWN',
        'fail',
        n === 'all'
          ? 'report_to: all would start every tracker transformers knows'
          : `report_to names "${n}", which medtune does not set up`,
        `name the trackers: report_to=${TRACKER_NAMES.join(',')} (any of them) or none`,
        'trackers',
      ),
    );
  }
  const missing = names.filter((n) => TRACKERS[n] && !TRACKERS[n]!.needs.every((d) => installed.has(normalizePackage(d))));
  if (missing.length) {
    plan.findings.push(
      finding(
        'TRACKER_MISSING',
        'fail',
        `report_to names ${missing.join(', ')}, not installed in medtune's venv`,
        `install ${missing.length > 1 ? 'them' : 'it'} with \`medtune setup ${missing.map((n) => `--with ${n}`).join(' ')}\`, or leave ${missing.join(', ')} out of report_to`,
        'trackers',
      ),
    );
  }
  // transformers reads a list; a comma-separated string would be one unknown name.
  plan.config.report_to = names.length === 1 ? names[0]! : names;
  const has = (k: string) => !!facts.env[k];
  if (names.includes('wandb')) {
    plan.env.WANDB_DIR = facts.runDir;
    if (!has('WANDB_PROJECT')) plan.env.WANDB_PROJECT = 'medtune';
    if (!has('WANDB_API_KEY') && !has('WANDB_MODE')) {
      plan.env.WANDB_MODE = 'offline';
      plan.findings.push(
        finding(
          'TRACKER_OFFLINE',
          'warn',
          `W&B runs offline (no WANDB_API_KEY): its files stay in ${facts.runDir}/wandb`,
          `upload them later with \`WANDB_API_KEY=… ${facts.venvBin}/wandb sync ${facts.runDir}/wandb/latest-run\``,
          'trackers',
        ),
      );
    }
  }
  if (names.includes('swanlab')) {
    // LLaMA-Factory drives SwanLab itself (use_swanlab) and drops `swanlab` from report_to.
    Object.assign(plan.config, {
      use_swanlab: true,
      swanlab_logdir: `${facts.runDir}/swanlog`,
      swanlab_mode: has('SWANLAB_API_KEY') ? 'cloud' : 'local',
    });
    if (!has('SWANLAB_API_KEY')) plan.env.SWANLAB_MODE = 'local';
  }
  if (names.includes('mlflow')) {
    if (!has('MLFLOW_TRACKING_URI')) {
      plan.env.MLFLOW_TRACKING_URI = `file:${facts.runDir}/mlruns`;
      // MLflow 3 refuses its file store ("maintenance mode") unless told it is wanted; it still reads and writes it.
      plan.env.MLFLOW_ALLOW_FILE_STORE = 'true';
    }
    if (!has('MLFLOW_EXPERIMENT_NAME')) plan.env.MLFLOW_EXPERIMENT_NAME = 'medtune';
  }
  return plan;
}
