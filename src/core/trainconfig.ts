/**
 * Building the train and export YAML that medtune hands to llamafactory-cli: template defaults, then a hardware
 * profile, then what medtune fills in (model, datasets, paths), then the user's --set overrides.
 */
import { parse as parseYaml, stringify } from 'yaml';
import { z } from 'zod';
import { MedtuneError } from './errors.js';
import { DEFAULT_FAMILY, familyOfTemplate, imageTokens, templateOf, type Speedup } from './families.js';
import { finding, type Finding } from './findings.js';
import { trainOptions, type ConfigValue } from './options.js';

export type { ConfigValue } from './options.js';
export type TrainConfig = Record<string, ConfigValue>;

export const Profile = z.object({
  description: z.string(),
  vramGiB: z.number(),
  values: z.record(z.string(), z.any()),
  /** Environment of the trainer (e.g. PYTORCH_CUDA_ALLOC_CONF); a variable the user set wins. */
  env: z.record(z.string(), z.string()).optional(),
});
export type Profile = z.infer<typeof Profile>;
export const Profiles = z.record(z.string(), Profile);

/** Parses `key=value`; the value is typed as YAML (1e-4 is a number, true a boolean, "no" stays a string if quoted). */
export function parseOverride(text: string): [string, ConfigValue] {
  const i = text.indexOf('=');
  const key = i > 0 ? text.slice(0, i).trim() : '';
  if (!key || !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) {
    throw new MedtuneError({
      doing: 'reading --set overrides',
      problem: `"${text}" is not of the form key=value`,
      next: 'write overrides as --set learning_rate=5e-5 --set num_train_epochs=1',
      code: 'BAD_OVERRIDE',
    });
  }
  const raw = text.slice(i + 1).trim();
  let value: ConfigValue;
  try {
    value = raw === '' ? '' : (parseYaml(raw, { version: '1.1' }) as ConfigValue);
  } catch {
    value = raw;
  }
  return [key, value];
}

export interface BuildInput {
  defaults: TrainConfig;
  profile: Profile;
  fills: TrainConfig;
  overrides?: string[];
}

/** Layers defaults < profile < fills < overrides; returns the config and which keys the user overrode. */
export function buildTrainConfig(input: BuildInput): { config: TrainConfig; overridden: string[] } {
  const config: TrainConfig = { ...input.defaults, ...(input.profile.values as TrainConfig), ...input.fills };
  const overridden: string[] = [];
  for (const o of input.overrides ?? []) {
    const [k, v] = parseOverride(o);
    config[k] = v;
    overridden.push(k);
  }
  return { config, overridden };
}

/**
 * Checks LLaMA-Factory cannot do itself: combinations that only fail hours later, or only on this machine.
 * `fail` findings stop a launch; NEEDS_GPU is the one a dry run lets through (a GPU config checked on a laptop).
 */
export function lintTrainConfig(config: TrainConfig, opts: { hasGpu: boolean }): Finding[] {
  const out: Finding[] = [];
  if (!opts.hasGpu) {
    for (const k of ['bf16', 'fp16', 'pure_bf16']) {
      if (config[k] === true)
        out.push(finding('NEEDS_GPU', 'fail', `${k}: true needs a GPU; this machine has none`, 'use --profile cpu', 'config'));
    }
    if (config.quantization_bit !== undefined && config.quantization_bit !== null) {
      out.push(
        finding(
          'NEEDS_GPU',
          'fail',
          'quantization_bit (QLoRA) needs a GPU with bitsandbytes',
          'remove quantization_bit or train on a GPU machine',
          'config',
        ),
      );
    }
  }
  if (config.overwrite_output_dir === true) {
    out.push(
      finding(
        'OVERWRITES_OUTPUT',
        'fail',
        'overwrite_output_dir: true deletes trainer_log.jsonl and checkpoints of an earlier attempt',
        'leave overwrite_output_dir false (medtune keeps it false)',
        'config',
      ),
    );
  }
  const { image_max_pixels: maxPx, cutoff_len: cutoff } = trainOptions(config);
  // Truncating through image tokens breaks samples; how many tokens an image takes depends on the family.
  const family = familyOfTemplate(templateOf(config)) ?? DEFAULT_FAMILY;
  const tokens = imageTokens(family, maxPx);
  if (Number.isFinite(maxPx) && Number.isFinite(cutoff) && tokens + 32 > cutoff) {
    out.push(
      finding(
        'CUTOFF_TOO_SHORT',
        'fail',
        `cutoff_len ${cutoff} is too short for image_max_pixels ${maxPx} (~${tokens} ${family.title} image tokens)`,
        'raise cutoff_len or lower image_max_pixels',
        'config',
      ),
    );
  }
  if (config.save_total_limit === null || config.save_total_limit === undefined) {
    out.push(
      finding(
        'NO_SAVE_LIMIT',
        'warn',
        'save_total_limit is unset: checkpoints would accumulate until the disk is full',
        'set save_total_limit',
        'config',
      ),
    );
  }
  const speedups: [string, Speedup][] = [
    ['enable_liger_kernel', 'liger_kernel'],
    ['use_unsloth', 'unsloth'],
  ];
  for (const [key, speedup] of speedups) {
    if (config[key] === true && !family.speedups.includes(speedup)) {
      out.push(
        finding('UNSUPPORTED_SPEEDUP', 'warn', `${key}: true does nothing for ${family.title} in LLaMA-Factory`, `remove ${key}`, 'config'),
      );
    }
  }
  return out;
}

/**
 * The profile for this machine when none was chosen: the largest GPU profile whose card size fits the smallest
 * GPU here, else the smallest GPU profile (with a warning from the plan), and `cpu` without a GPU. `--profile auto`
 * asks for the same choice explicitly.
 */
export function chooseProfile(profiles: Record<string, Pick<Profile, 'vramGiB'>>, gpuMemoryGiB: readonly number[]): string {
  const names = Object.keys(profiles);
  const cpu = names.find((n) => profiles[n]!.vramGiB === 0) ?? names[0] ?? 'cpu';
  if (gpuMemoryGiB.length === 0) return cpu;
  const smallest = Math.min(...gpuMemoryGiB);
  const gpu = names.filter((n) => profiles[n]!.vramGiB > 0).sort((a, b) => profiles[a]!.vramGiB - profiles[b]!.vramGiB);
  // Cards report a little less than their nominal size (an 80 GB card shows 79.6 GiB usable).
  const fitting = gpu.filter((n) => profiles[n]!.vramGiB <= smallest + 1);
  return fitting[fitting.length - 1] ?? gpu[0] ?? cpu;
}

/** `key=value` strings from a form's values, in the order given. */
export function overridesOf(values: Record<string, string | number | boolean>): string[] {
  return Object.entries(values).map(([k, v]) => `${k}=${v}`);
}

/** YAML as LLaMA-Factory reads it (OmegaConf/PyYAML, i.e. YAML 1.1: "no" and "on" must be quoted). */
export function toYaml(config: TrainConfig, header?: string): string {
  const body = stringify(config, { version: '1.1', lineWidth: 0 });
  return header
    ? `${header
        .split('\n')
        .map((l) => `# ${l}`)
        .join('\n')}\n${body}`
    : body;
}

export function parseConfigYaml(text: string, where: string): TrainConfig {
  let v: unknown;
  try {
    v = parseYaml(text, { version: '1.1' });
  } catch (err) {
    throw new MedtuneError({
      doing: `reading ${where}`,
      problem: (err as Error).message.split('\n')[0]!,
      next: `fix the YAML in ${where}`,
      code: 'BAD_YAML',
    });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new MedtuneError({
      doing: `reading ${where}`,
      problem: 'it is not a mapping of keys to values',
      next: `fix ${where}`,
      code: 'BAD_YAML',
    });
  }
  return v as TrainConfig;
}

/** The shell command as the user could run it by hand. */
export function commandLine(argv: string[], env: Record<string, string>): string {
  const q = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [...Object.entries(env).map(([k, v]) => `${k}=${q(v)}`), ...argv.map(q)].join(' ');
}
