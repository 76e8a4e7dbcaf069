/** Pure parts of `medtune doctor`: LLaMA-Factory's version ranges, `llamafactory-cli env` parsing, check records. */
import { satisfies } from './version.js';
import { canonicalName } from './requirements.js';

export type CheckLevel = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  level: CheckLevel;
  detail: string;
  /** One line that says how to fix it (for warn and fail). */
  fix?: string;
}

/**
 * LLaMA-Factory 0.9.5's accepted ranges: pyproject's core pins, narrowed where its runtime check
 * (extras/misc.py:check_dependencies) is what actually fails the import.
 */
export const LLAMAFACTORY_RANGES: Record<string, string> = {
  llamafactory: '==0.9.5',
  transformers: '>=4.55.0,<=5.6.0,!=4.52.0,!=4.57.0',
  datasets: '>=2.16.0,<=4.0.0',
  accelerate: '>=1.3.0,<=1.11.0',
  peft: '>=0.18.0,<=0.18.1',
  trl: '>=0.18.0,<=0.24.0',
  torch: '>=2.4.0',
  torchvision: '>=0.19.0',
  torchaudio: '>=2.4.0',
  torchdata: '>=0.10.0,<=0.11.0',
  av: '>=10.0.0,<=16.0.0',
};

/** Parses the `- key: value` lines that `llamafactory-cli env` prints. */
export function parseLlamafactoryEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^-\s+(.+?):\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    const key = m[1]!.replace(/`/g, '').trim();
    out[key] = m[2]!.trim();
  }
  return out;
}

/** One check per ranged package: installed version against LLaMA-Factory's range. */
export function checkPackageRanges(installed: Record<string, string>, optional: readonly string[] = []): Check[] {
  const norm: Record<string, string> = {};
  for (const [k, v] of Object.entries(installed)) norm[canonicalName(k)] = v;
  return Object.entries(LLAMAFACTORY_RANGES).map(([name, range]) => {
    const v = norm[name];
    if (!v && optional.includes(name)) {
      return {
        name: `package ${name}`,
        level: 'warn',
        detail: 'not installed (optional: left out of an offline setup)',
        fix: `only video inputs need it: \`medtune setup --force\` with its wheel adds it`,
      };
    }
    if (!v) {
      return { name: `package ${name}`, level: 'fail', detail: 'not installed', fix: 'run `medtune setup --force` to rebuild the venv' };
    }
    const ok = satisfies(v, range);
    return ok
      ? { name: `package ${name}`, level: 'ok', detail: `${v} (LLaMA-Factory accepts ${range})` }
      : {
          name: `package ${name}`,
          level: 'fail',
          detail: `${v} is outside LLaMA-Factory 0.9.5's range ${range}`,
          fix: `pin ${name} inside ${range} in python/requirements.txt, then run \`medtune setup\``,
        };
  });
}

export function worstLevel(checks: Check[]): CheckLevel {
  if (checks.some((c) => c.level === 'fail')) return 'fail';
  if (checks.some((c) => c.level === 'warn')) return 'warn';
  return 'ok';
}

/** Free-disk verdict: below `failBytes` fails, below `warnBytes` warns. */
export function diskCheck(name: string, path: string, freeBytes: number, warnBytes: number, failBytes: number): Check {
  const gib = (freeBytes / 2 ** 30).toFixed(1);
  if (freeBytes < failBytes) {
    return {
      name,
      level: 'fail',
      detail: `${gib} GiB free at ${path}`,
      fix: `free space at ${path}: medtune needs at least ${(failBytes / 2 ** 30).toFixed(0)} GiB there`,
    };
  }
  if (freeBytes < warnBytes) {
    return {
      name,
      level: 'warn',
      detail: `${gib} GiB free at ${path}`,
      fix: `a full run with checkpoints may need ${(warnBytes / 2 ** 30).toFixed(0)} GiB or more at ${path}`,
    };
  }
  return { name, level: 'ok', detail: `${gib} GiB free at ${path}` };
}
