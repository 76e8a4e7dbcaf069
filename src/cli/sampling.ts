/** --temperature and --top-p, shared by `ask` and `serve`: how the model picks its tokens (default greedy). */
import { InvalidArgumentError, type Command } from 'commander';
import type { Sampling } from '../core/serve.js';

export interface SamplingFlags {
  temperature?: number;
  topP?: number;
}

const number = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
};

export function samplingOptions(cmd: Command, whose: string): Command {
  return cmd
    .option('--temperature <t>', `0 (the default): greedy, the same answer every time; 0…2: sampled (${whose})`, number)
    .option(
      '--top-p <p>',
      'with a temperature above 0: sample from the likeliest tokens whose probabilities add up to p (0…1, default 0.7)',
      number,
    );
}

/** The flags the user gave (the rest stays medtune's default, greedy). */
samplingOptions.read = (f: SamplingFlags): Partial<Sampling> => ({
  ...(f.temperature !== undefined ? { temperature: f.temperature } : {}),
  ...(f.topP !== undefined ? { topP: f.topP } : {}),
});
