/**
 * The lines of `llamafactory-cli train` that mark a milestone (dataset loaded, training started, checkpoint
 * saved…). The table follows LLaMA-Factory 0.9.5 and transformers' wording: a new version that rewords a line
 * changes this file only.
 */
import { ATTEMPT_MARK } from './run.js';

export type Milestone =
  | { type: 'loading-dataset'; name: string }
  /** `training example:` / `eval example:` is printed once preprocessing is done. */
  | { type: 'preprocessed'; split: 'train' | 'eval' }
  | { type: 'trainable-params'; trainable: number; all: number; percent: number }
  | { type: 'training-started' }
  | { type: 'total-steps'; steps: number }
  | { type: 'resuming'; checkpoint: string; step: number | null }
  | { type: 'checkpoint-saved'; path: string; step: number }
  | { type: 'model-saved'; path: string }
  | { type: 'evaluating' }
  | { type: 'training-completed' }
  | { type: 'figure-saved'; path: string }
  /** plot_loss's `No metric X to plot.`: the plots are done (logged, so it reaches running_log.txt too). */
  | { type: 'plotted' }
  /** `overwrite_output_dir` made LLaMA-Factory delete trainer_log.jsonl: readers must start over. */
  | { type: 'trainer-log-deleted' }
  /** The banner medtune's supervisor writes to both logs before each attempt. */
  | { type: 'attempt-started'; attempt: number; at: string };

// `[INFO|2026-05-30 12:00:00] llamafactory.x:144 >> msg` (LLaMA-Factory),
// `[INFO|trainer.py:2414] 2026-05-30 12:00:00,123 >> msg` (transformers), and running_log.txt's variant.
export const LOGGER_PREFIX = /^\[[A-Z]+\|[^\]]*\][^>]*>> ?/;
export const RANK_PREFIX = /^\[rank\d+\]:\s?/;

/** A console line without the `[rankN]:` and logger prefixes. */
export function logMessage(line: string): string {
  return line.replace(RANK_PREFIX, '').replace(LOGGER_PREFIX, '');
}

function stepOf(path: string): number | null {
  const m = /checkpoint-(\d+)\/?$/.exec(path);
  return m ? Number(m[1]) : null;
}

const int = (s: string | undefined) => Number((s ?? '').replace(/,/g, ''));

export const MILESTONES: { re: RegExp; make: (m: RegExpExecArray) => Milestone }[] = [
  {
    re: new RegExp(`^${ATTEMPT_MARK} (\\d+) started (\\S+)`),
    make: (m) => ({ type: 'attempt-started', attempt: Number(m[1]), at: m[2] ?? '' }),
  },
  { re: /^Loading dataset (.+?)\.\.\.$/, make: (m) => ({ type: 'loading-dataset', name: m[1] ?? '' }) },
  { re: /^(training|eval) example:$/, make: (m) => ({ type: 'preprocessed', split: m[1] === 'eval' ? 'eval' : 'train' }) },
  {
    re: /^trainable params: ([\d,]+) \|\| all params: ([\d,]+) \|\| trainable%: ([\d.]+)/,
    make: (m) => ({ type: 'trainable-params', trainable: int(m[1]), all: int(m[2]), percent: Number(m[3]) }),
  },
  { re: /^\*{5} Running training \*{5}$/, make: () => ({ type: 'training-started' }) },
  { re: /^\s*Total optimization steps = ([\d,]+)$/, make: (m) => ({ type: 'total-steps', steps: int(m[1]) }) },
  {
    // transformers also logs `Resuming training from checkpoint with epoch E and global step N`.
    re: /^Resuming training from (?!checkpoint with )(.+?)\.?$/,
    make: (m) => ({ type: 'resuming', checkpoint: m[1] ?? '', step: stepOf(m[1] ?? '') }),
  },
  {
    re: /^Saving model checkpoint to (.+)$/,
    make: (m) => {
      const path = (m[1] ?? '').trim();
      const step = stepOf(path);
      return step === null ? { type: 'model-saved', path } : { type: 'checkpoint-saved', path, step };
    },
  },
  { re: /^\*{5} Running Evaluation \*{5}$/, make: () => ({ type: 'evaluating' }) },
  { re: /^Training completed\./, make: () => ({ type: 'training-completed' }) },
  { re: /^Figure saved at:? (.+)$/, make: (m) => ({ type: 'figure-saved', path: (m[1] ?? '').trim() }) },
  { re: /^No metric \S+ to plot\.$/, make: () => ({ type: 'plotted' }) },
  { re: /^Previous trainer log in this folder will be deleted\./, make: () => ({ type: 'trainer-log-deleted' }) },
];
