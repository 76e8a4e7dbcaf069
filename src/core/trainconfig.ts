/**
 * Building the train and export YAML that medtune hands to llamafactory-cli: template defaults, then a hardware
 * profile, then what medtune fills in (model, datasets, paths), then the user's --set overrides.
 */
import { parse as parseYaml, stringify } from 'yaml';
import { z } from 'zod';
import { MedtuneError } from './errors.js';

export type ConfigValue = string | number | boolean | null | ConfigValue[] | { [k: string]: ConfigValue };
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

/**
 * `--profile auto`: the GPU profile with the most memory that the smallest GPU holds (1 GiB of slack: a "16 GB"
 * card reports 15.6 GiB), or `cpu` when there is no GPU. Profiles without vramGiB (cpu) are never picked for a GPU.
 */
export function pickProfile(profiles: Record<string, Pick<Profile, 'vramGiB'>>, gpuMemoryMiB: number[]): string {
  if (!gpuMemoryMiB.length) return 'cpu';
  const smallest = Math.min(...gpuMemoryMiB) / 1024;
  const fitting = Object.entries(profiles).filter(([, p]) => p.vramGiB > 0 && p.vramGiB <= smallest + 1).sort((a, b) => b[1].vramGiB - a[1].vramGiB);
  if (fitting.length) return fitting[0]![0];
  const gpu = Object.entries(profiles).filter(([, p]) => p.vramGiB > 0).sort((a, b) => a[1].vramGiB - b[1].vramGiB);
  return gpu[0]?.[0] ?? 'cpu';
}

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

/** Checks LLaMA-Factory cannot do itself: combinations that only fail hours later, or only on this machine. */
export function lintTrainConfig(config: TrainConfig, opts: { hasGpu: boolean }): string[] {
  const problems: string[] = [];
  if (!opts.hasGpu) {
    for (const k of ['bf16', 'fp16', 'pure_bf16']) {
      if (config[k] === true) problems.push(`${k}: true needs a GPU; this machine has none (use --profile cpu)`);
    }
    if (config.quantization_bit !== undefined && config.quantization_bit !== null) {
      problems.push('quantization_bit (QLoRA) needs a GPU with bitsandbytes');
    }
  }
  if (config.overwrite_output_dir === true) {
    problems.push('overwrite_output_dir: true deletes trainer_log.jsonl and checkpoints of an earlier attempt; medtune keeps it false');
  }
  const maxPx = Number(config.image_max_pixels ?? 589824);
  const cutoff = Number(config.cutoff_len ?? 2048);
  // Qwen2-VL: one token per 28x28 pixels after the 2x2 merge; truncating through image tokens breaks samples.
  const imageTokens = Math.ceil(maxPx / 784);
  if (Number.isFinite(maxPx) && Number.isFinite(cutoff) && imageTokens + 32 > cutoff) {
    problems.push(`cutoff_len ${cutoff} is too short for image_max_pixels ${maxPx} (~${imageTokens} image tokens): raise cutoff_len or lower image_max_pixels`);
  }
  if (config.save_total_limit === null || config.save_total_limit === undefined) {
    problems.push('save_total_limit is unset: checkpoints would accumulate until the disk is full');
  }
  return problems;
}

/** YAML as LLaMA-Factory reads it (OmegaConf/PyYAML, i.e. YAML 1.1: "no" and "on" must be quoted). */
export function toYaml(config: TrainConfig, header?: string): string {
  const body = stringify(config, { version: '1.1', lineWidth: 0 });
  return header ? `${header.split('\n').map((l) => `# ${l}`).join('\n')}\n${body}` : body;
}

export function parseConfigYaml(text: string, where: string): TrainConfig {
  let v: unknown;
  try {
    v = parseYaml(text, { version: '1.1' });
  } catch (err) {
    throw new MedtuneError({ doing: `reading ${where}`, problem: (err as Error).message.split('\n')[0]!, next: `fix the YAML in ${where}`, code: 'BAD_YAML' });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new MedtuneError({ doing: `reading ${where}`, problem: 'it is not a mapping of keys to values', next: `fix ${where}`, code: 'BAD_YAML' });
  }
  return v as TrainConfig;
}

/** The shell command as the user could run it by hand. */
export function commandLine(argv: string[], env: Record<string, string>): string {
  const q = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [...Object.entries(env).map(([k, v]) => `${k}=${q(v)}`), ...argv.map(q)].join(' ');
}
