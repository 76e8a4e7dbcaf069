/**
 * Every option medtune knows, described once (as LLaMA-Factory's `hparams` dataclasses describe theirs): its key,
 * type, default, range and help, and where it belongs (a key of the train YAML, or a `data prepare` setting).
 * The `--set` checks, the typed reads of a train config, the TUI form rows and the commander flags of
 * `data prepare` are all made from this table; docs/options.md says how to add an option.
 * Keys medtune does not describe still go to LLaMA-Factory's own parser, which has the last word.
 */
import { MedtuneError } from './errors.js';

export type ConfigValue = string | number | boolean | null | ConfigValue[] | { [k: string]: ConfigValue };

export type OptionType = 'int' | 'float' | 'bool' | 'enum' | 'string' | 'list' | 'pixels' | 'name';

export interface OptionSpec {
  key: string;
  type: OptionType;
  /** medtune's default: the train template's value, else LLaMA-Factory's (null: unset). */
  default: ConfigValue;
  /** int, float, pixels: the range; a bound is inclusive unless said otherwise. */
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
  /** enum: the values allowed. */
  choices?: readonly (string | number)[];
  /** null (or empty in a form) is accepted and means "not set". */
  nullable?: boolean;
  /** int and float: values besides the range that mean "off" (max_steps -1). */
  also?: readonly number[];
  /** A value of another type accepted as is (preprocessing_num_workers: auto). */
  keyword?: string;
  help: string;
  /** Short label of a form row. */
  label: string;
  /** train: a key of LLaMA-Factory's train YAML (`--set`); prepare, export, compare: a setting of that verb. */
  section: 'train' | 'prepare' | 'export' | 'compare';
  /** Shown as a row of its section's TUI form (Train, Data › Prepare). */
  form?: boolean;
  /** prepare: the commander flag, e.g. `--limit <n>` (with a short alias: `-n, --name <name>`). */
  flag?: string;
}

const LR_SCHEDULERS = ['cosine', 'linear', 'constant', 'constant_with_warmup', 'polynomial', 'inverse_sqrt', 'cosine_with_restarts'];

const train = (o: Omit<OptionSpec, 'section' | 'label'> & { label?: string }): OptionSpec => ({
  label: o.key.replace(/_/g, ' '),
  ...o,
  section: 'train',
});
const prepare = (o: Omit<OptionSpec, 'section'>): OptionSpec => ({ ...o, section: 'prepare' });
const setting = (section: 'export' | 'compare', o: Omit<OptionSpec, 'section'>): OptionSpec => ({ ...o, section });

/** The form rows come in this order. */
export const OPTIONS: readonly OptionSpec[] = [
  // The main parameters: rows of the Train form.
  train({
    key: 'learning_rate',
    label: 'learning rate',
    type: 'float',
    default: 1e-4,
    min: 0,
    minExclusive: true,
    max: 1,
    form: true,
    help: 'AdamW peak learning rate; 1e-4 is a common LoRA value, 5e-5 for full tuning',
  }),
  train({
    key: 'num_train_epochs',
    label: 'epochs',
    type: 'float',
    default: 3,
    min: 0,
    minExclusive: true,
    max: 1000,
    form: true,
    help: 'passes over the training set (fractions allowed)',
  }),
  train({
    key: 'per_device_train_batch_size',
    label: 'batch size',
    type: 'int',
    default: 2,
    min: 1,
    max: 1024,
    form: true,
    help: 'samples per GPU per step; raise until memory is ~90% used',
  }),
  train({
    key: 'gradient_accumulation_steps',
    label: 'grad accumulation',
    type: 'int',
    default: 8,
    min: 1,
    max: 4096,
    form: true,
    help: 'steps whose gradients are summed before an update; effective batch = batch × this × GPUs',
  }),
  train({
    key: 'cutoff_len',
    label: 'cutoff length',
    type: 'int',
    default: 1024,
    min: 4,
    max: 1048576,
    form: true,
    help: "tokens per sample after which text is cut; image tokens count too; at most the model's max positions",
  }),
  train({
    key: 'lora_rank',
    label: 'LoRA rank',
    type: 'int',
    default: 8,
    min: 1,
    max: 1024,
    form: true,
    help: 'rank of the LoRA matrices; higher = more capacity and memory',
  }),
  train({
    key: 'lora_alpha',
    label: 'LoRA alpha',
    type: 'int',
    default: 16,
    min: 1,
    max: 4096,
    nullable: true,
    form: true,
    help: 'LoRA scale; usually 2 × rank (empty: 2 × rank)',
  }),
  train({
    key: 'val_size',
    label: 'validation share',
    type: 'float',
    default: 0,
    min: 0,
    form: true,
    help: "share (below 1) or count (above 1) of training rows held out for eval loss; 0 = the dataset's val split if any",
  }),
  train({
    key: 'max_samples',
    label: 'max samples',
    type: 'int',
    default: null,
    min: 1,
    max: 1e9,
    nullable: true,
    form: true,
    help: 'cap on rows read per dataset; empty = all',
  }),
  train({
    key: 'lr_scheduler_type',
    label: 'LR schedule',
    type: 'enum',
    default: 'cosine',
    choices: LR_SCHEDULERS,
    form: true,
    help: 'how the learning rate changes over training',
  }),
  train({
    key: 'image_max_pixels',
    label: 'image max pixels',
    type: 'pixels',
    default: 768 * 768,
    min: 28 * 28,
    max: 4096 * 4096,
    form: true,
    help: 'larger images are downscaled to this many pixels (768*768 or 589824); fewer pixels = fewer image tokens',
  }),
  train({
    key: 'save_steps',
    label: 'save every',
    type: 'int',
    default: 500,
    min: 1,
    max: 1e9,
    form: true,
    help: 'steps between checkpoints (resume points)',
  }),
  train({
    key: 'save_total_limit',
    label: 'checkpoints kept',
    type: 'int',
    default: 3,
    min: 1,
    max: 1e6,
    nullable: true,
    form: true,
    help: 'older checkpoints are deleted beyond this many; empty = keep all (until the disk is full)',
  }),
  // The rest of the template, the profiles and what medtune reads.
  train({ key: 'lora_dropout', type: 'float', default: 0, min: 0, max: 1, maxExclusive: true, help: 'dropout on the LoRA layers' }),
  train({
    key: 'lora_target',
    type: 'list',
    default: 'all',
    help: 'modules that get LoRA layers: all, or names such as q_proj,v_proj (checked against the model)',
  }),
  train({
    key: 'adapter_name_or_path',
    type: 'string',
    default: null,
    nullable: true,
    help: 'start from this LoRA adapter (a run folder or its output/); `medtune train --from RUN` sets it',
  }),
  train({ key: 'finetuning_type', type: 'enum', default: 'lora', choices: ['lora', 'oft', 'freeze', 'full'], help: 'what is trained' }),
  train({ key: 'stage', type: 'enum', default: 'sft', choices: ['pt', 'sft', 'rm', 'ppo', 'dpo', 'kto'], help: 'training stage' }),
  train({ key: 'template', type: 'string', default: 'qwen2_vl', help: "LLaMA-Factory's chat template of the model family" }),
  train({
    key: 'image_min_pixels',
    type: 'pixels',
    default: 32 * 32,
    min: 1,
    max: 4096 * 4096,
    help: 'smaller images are upscaled to this many pixels',
  }),
  train({ key: 'warmup_steps', type: 'float', default: 0.1, min: 0, help: 'warm-up steps; a value below 1 is a share of all steps' }),
  train({ key: 'weight_decay', type: 'float', default: 0, min: 0, help: 'AdamW weight decay' }),
  train({ key: 'max_grad_norm', type: 'float', default: 1, min: 0, help: 'gradient clipping norm' }),
  train({ key: 'max_steps', type: 'int', default: -1, min: 1, also: [-1, 0], help: 'stop after this many steps (-1: by epochs)' }),
  train({ key: 'logging_steps', type: 'int', default: 10, min: 1, help: 'steps between lines of trainer_log.jsonl' }),
  train({
    key: 'eval_steps',
    type: 'int',
    default: null,
    min: 1,
    nullable: true,
    help: 'steps between eval-loss points (default: save_steps)',
  }),
  train({ key: 'eval_strategy', type: 'enum', default: 'no', choices: ['no', 'steps', 'epoch'], help: 'when eval loss is computed' }),
  train({ key: 'per_device_eval_batch_size', type: 'int', default: 1, min: 1, max: 1024, help: 'samples per GPU per eval step' }),
  train({ key: 'seed', type: 'int', default: 42, min: 0, help: 'random seed' }),
  train({
    key: 'ddp_timeout',
    type: 'int',
    default: 180000000,
    min: 1,
    help: 'seconds ranks wait for each other (rank 0 tokenizes alone)',
  }),
  train({
    key: 'preprocessing_num_workers',
    type: 'int',
    default: 2,
    min: 1,
    max: 1024,
    nullable: true,
    keyword: 'auto',
    help: 'tokenizing processes; auto = one per core, at most 16',
  }),
  train({ key: 'dataloader_num_workers', type: 'int', default: 0, min: 0, max: 1024, help: 'loader worker processes per GPU' }),
  train({
    key: 'quantization_bit',
    type: 'enum',
    default: null,
    choices: [2, 3, 4, 5, 6, 8],
    nullable: true,
    help: 'QLoRA: load the base model in this many bits (GPU only)',
  }),
  train({ key: 'deepspeed', type: 'string', default: null, nullable: true, help: 'a DeepSpeed JSON config (ZeRO-2/3)' }),
  train({
    key: 'tokenized_path',
    type: 'string',
    default: null,
    nullable: true,
    help: 'where the tokenized dataset is cached (null: off)',
  }),
  train({ key: 'report_to', type: 'string', default: 'none', help: 'where the trainer reports metrics (none, wandb, tensorboard)' }),
  ...[
    ['bf16', 'train in bfloat16 (GPU)'],
    ['fp16', 'train in float16 (GPU)'],
    ['pure_bf16', 'keep the weights in bfloat16 too (GPU)'],
    ['trust_remote_code', "run the model folder's own code"],
    ['do_train', 'train (always true for medtune runs)'],
    ['freeze_vision_tower', 'keep the vision encoder fixed'],
    ['freeze_multi_modal_projector', 'keep the projector fixed'],
    ['disable_gradient_checkpointing', 'keep activations instead of recomputing them (faster, more memory)'],
    ['enable_liger_kernel', 'Liger kernels (fused cross-entropy)'],
    ['use_unsloth', 'Unsloth kernels'],
    ['dataloader_persistent_workers', 'keep loader workers between epochs'],
    ['save_only_model', 'checkpoints without optimizer state (smaller; cannot be resumed exactly)'],
    ['plot_loss', 'write training_loss.png'],
    ['overwrite_output_dir', 'delete output_dir first (medtune keeps it false)'],
    ['include_num_input_tokens_seen', 'count tokens in trainer_log.jsonl'],
    ['streaming', 'read the dataset as a stream'],
  ].map(([key, help]) => train({ key: key!, type: 'bool', default: false, help: help! })),

  // `data prepare`: its flags and the rows of Data › Prepare.
  prepare({
    key: 'name',
    label: 'dataset name',
    type: 'name',
    default: null,
    flag: '-n, --name <name>',
    form: true,
    help: 'dataset name; entries <name> (train) and <name>_val (val) go into data/dataset_info.json',
  }),
  prepare({
    key: 'limit',
    label: 'rows',
    type: 'int',
    default: null,
    min: 1,
    max: 1e12,
    nullable: true,
    flag: '--limit <n>',
    form: true,
    help: 'keep at most n rows (the first n usable rows in source order); empty = all',
  }),
  prepare({
    key: 'valRatio',
    label: 'validation share',
    type: 'float',
    default: 0.05,
    min: 0,
    max: 1,
    maxExclusive: true,
    flag: '--val-ratio <r>',
    form: true,
    help: 'share of rows for <name>_val, chosen by a hash of each id',
  }),
  prepare({
    key: 'workers',
    label: 'workers',
    type: 'int',
    default: null,
    min: 1,
    max: 1024,
    nullable: true,
    flag: '--workers <n>',
    help: 'parallel worker processes (default: one per CPU core)',
  }),
  prepare({
    key: 'maxPixels',
    label: 'max pixels',
    type: 'int',
    default: 4096 * 4096,
    min: 1,
    flag: '--max-pixels <n>',
    help: 'skip images larger than this many pixels',
  }),
  prepare({
    key: 'minFreeGib',
    label: 'min free GiB',
    type: 'float',
    default: 1,
    min: 0,
    flag: '--min-free-gib <n>',
    help: 'GiB to leave free on the disk; the space needed is estimated and checked before starting',
  }),

  // `export` and `compare`: the rows of their screens.
  setting('export', {
    key: 'name',
    label: 'export name',
    type: 'name',
    default: null,
    form: true,
    flag: '--name <name>',
    help: 'folder under exports/ (default: the run id, with -ckptN for a checkpoint)',
  }),
  setting('export', {
    key: 'shard',
    label: 'shard size (GB)',
    type: 'int',
    default: 5,
    min: 1,
    max: 100,
    form: true,
    help: 'largest safetensors file; smaller shards load with less memory',
  }),
  setting('compare', {
    key: 'tokens',
    label: 'max new tokens',
    type: 'int',
    default: 128,
    min: 1,
    max: 4096,
    flag: '--max-new-tokens <n>',
    form: true,
    help: 'longest answer each model may give, in tokens',
  }),
];

/** A setting of a verb (`data prepare`, `export`, `compare`) by key. */
export function settingOption(section: Exclude<OptionSpec['section'], 'train'>, key: string): OptionSpec {
  const spec = OPTIONS.find((o) => o.section === section && o.key === key);
  if (!spec) throw new Error(`no ${section} option ${key}`);
  return spec;
}

const BY_KEY = new Map(OPTIONS.filter((o) => o.section === 'train').map((o) => [o.key, o]));

/** The description of a train YAML key, if medtune has one. */
export function trainOption(key: string): OptionSpec | undefined {
  return BY_KEY.get(key);
}

export function optionsOf(section: OptionSpec['section'], opts: { form?: boolean } = {}): OptionSpec[] {
  return OPTIONS.filter((o) => o.section === section && (!opts.form || o.form));
}

export type OptionCheck = { ok: true; value: ConfigValue } | { ok: false; message: string };

/** What a valid value looks like, in words: "a whole number from 1 to 1024". */
export function describeValid(spec: OptionSpec): string {
  const range = (): string => {
    const lo = spec.min === undefined ? '' : `${spec.minExclusive ? 'above' : 'at least'} ${spec.min}`;
    const hi = spec.max === undefined ? '' : `${spec.maxExclusive ? 'below' : 'at most'} ${spec.max}`;
    return [lo, hi].filter(Boolean).join(' and ');
  };
  const extra = [...(spec.also ?? []).map(String), ...(spec.keyword ? [spec.keyword] : []), ...(spec.nullable ? ['null (unset)'] : [])];
  const or = extra.length ? `, or ${extra.join(' or ')}` : '';
  switch (spec.type) {
    case 'int':
      return `a whole number${range() ? ` ${range()}` : ''}${or}`;
    case 'float':
      return `a number${range() ? ` ${range()}` : ''}${or}`;
    case 'pixels':
      return `a pixel count ${range()} (a number or a product such as 768*768)${or}`;
    case 'bool':
      return `true or false${or}`;
    case 'enum':
      return `one of ${spec.choices!.join(', ')}${or}`;
    case 'list':
      return `a module name or a comma-separated list of them${or}`;
    case 'name':
      return 'letters, digits, . _ - (up to 100), starting with a letter or digit';
    case 'string':
      return `text${or}`;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/** Evaluates `a*b*…` of whole numbers (LLaMA-Factory's way of writing pixel budgets); anything else is null. */
export function evalPixels(text: string): number | null {
  const parts = text.replace(/\s+/g, '').split('*');
  if (parts.some((p) => !/^\d+$/.test(p))) return null;
  return parts.reduce((acc, p) => acc * Number(p), 1);
}

function inRange(spec: OptionSpec, v: number): boolean {
  if (spec.also?.includes(v)) return true;
  if (spec.min !== undefined && (spec.minExclusive ? v <= spec.min : v < spec.min)) return false;
  if (spec.max !== undefined && (spec.maxExclusive ? v >= spec.max : v > spec.max)) return false;
  return true;
}

/**
 * Checks a value as YAML typed it (`--set k=v`, a profile, medtune.yaml) and returns it in the type
 * LLaMA-Factory expects (a pixel product becomes its number).
 */
export function checkOptionValue(spec: OptionSpec, value: ConfigValue): OptionCheck {
  const bad = (): OptionCheck => ({ ok: false, message: `${spec.key} must be ${describeValid(spec)}; got ${JSON.stringify(value)}` });
  if (value === null || value === undefined) return spec.nullable ? { ok: true, value: null } : bad();
  if (spec.keyword !== undefined && value === spec.keyword) return { ok: true, value };
  switch (spec.type) {
    case 'int':
    case 'float': {
      const n = typeof value === 'string' && NUMBER.test(value.trim()) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) return bad();
      if (spec.type === 'int' && !Number.isInteger(n)) return bad();
      return inRange(spec, n) ? { ok: true, value: n } : bad();
    }
    case 'pixels': {
      const n = typeof value === 'number' ? value : typeof value === 'string' ? evalPixels(value) : null;
      if (n === null || !Number.isInteger(n) || !inRange(spec, n)) return bad();
      return { ok: true, value: n };
    }
    case 'bool':
      return typeof value === 'boolean' ? { ok: true, value } : bad();
    case 'enum':
      return spec.choices!.includes(value as string | number) ? { ok: true, value } : bad();
    case 'list': {
      const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : null;
      if (!items || items.some((i) => typeof i !== 'string' || i.trim() === '')) return bad();
      return { ok: true, value: Array.isArray(value) ? items.map((i) => String(i).trim()).join(',') : value };
    }
    case 'name':
      return typeof value === 'string' && NAME.test(value) ? { ok: true, value } : bad();
    case 'string':
      return typeof value === 'string' ? { ok: true, value } : bad();
  }
}

/** Checks what a person typed into a form row (empty = unset where allowed). */
export function checkOptionText(spec: OptionSpec, text: string): OptionCheck {
  // A name is taken as typed: a space in it is an error, not something to trim away.
  const t = spec.type === 'name' ? text : text.trim();
  if (t === '') return spec.nullable ? { ok: true, value: null } : { ok: false, message: 'required' };
  let value: ConfigValue = t;
  if (spec.type === 'int' || spec.type === 'float') {
    if (!NUMBER.test(t) && t !== spec.keyword) return { ok: false, message: 'not a number' };
  } else if (spec.type === 'bool') {
    if (t !== 'true' && t !== 'false') return { ok: false, message: 'true or false' };
    value = t === 'true';
  } else if (spec.type === 'enum' && spec.choices!.some((c) => typeof c === 'number')) {
    value = NUMBER.test(t) ? Number(t) : t;
  }
  const r = checkOptionValue(spec, value);
  return r.ok ? r : { ok: false, message: describeValid(spec) };
}

/** Facts of the model a run trains, for the checks that depend on it. */
export interface ModelFacts {
  /** max_position_embeddings of its (text) config, when it says. */
  maxPositions: number | null;
  /** The last part of every weight's module name (q_proj, down_proj, …); null when the weights were not read. */
  moduleNames: ReadonlySet<string> | null;
}

/** The last name of each Linear-like module path: `model.layers.0.self_attn.q_proj.weight` gives q_proj. */
export function moduleNamesOf(tensorNames: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const t of tensorNames) {
    const parts = t.split('.');
    if (parts.length >= 2 && (parts[parts.length - 1] === 'weight' || parts[parts.length - 1] === 'bias'))
      out.add(parts[parts.length - 2]!);
  }
  return out;
}

export interface OptionProblem {
  key: string;
  /** What is wrong and what would be valid. */
  message: string;
}

/**
 * Checks every key of a train config that medtune describes; unknown keys are left to LLaMA-Factory's parser.
 * Returns the config with values in their types, and every problem found (each names its key).
 */
export function checkTrainValues(
  config: Readonly<Record<string, ConfigValue>>,
  model?: ModelFacts,
): {
  config: Record<string, ConfigValue>;
  problems: OptionProblem[];
} {
  const out: Record<string, ConfigValue> = { ...config };
  const problems: OptionProblem[] = [];
  for (const [key, value] of Object.entries(config)) {
    const spec = trainOption(key);
    if (!spec) continue;
    const r = checkOptionValue(spec, value);
    if (!r.ok) problems.push({ key, message: r.message });
    else out[key] = r.value;
  }
  const cutoff = out.cutoff_len;
  if (model?.maxPositions && typeof cutoff === 'number' && cutoff > model.maxPositions && !problems.some((p) => p.key === 'cutoff_len'))
    problems.push({
      key: 'cutoff_len',
      message: `cutoff_len ${cutoff} is beyond the model's ${model.maxPositions} positions (max_position_embeddings); use at most ${model.maxPositions}`,
    });
  const target = out.lora_target;
  if (model?.moduleNames && typeof target === 'string' && !problems.some((p) => p.key === 'lora_target')) {
    const wanted = target.split(',').map((s) => s.trim());
    const unknown = wanted.filter((w) => w !== 'all' && !model.moduleNames!.has(w));
    if (unknown.length) {
      const linear = [...model.moduleNames].filter((n) => /proj|fc|dense|linear|qkv/.test(n)).sort();
      problems.push({
        key: 'lora_target',
        message: `lora_target names ${unknown.join(', ')}, which the model does not have; use all, or some of ${(linear.length ? linear : [...model.moduleNames].sort()).slice(0, 12).join(', ')}`,
      });
    }
  }
  const valSize = out.val_size;
  if (valSize === 1)
    problems.push({ key: 'val_size', message: 'val_size 1 would hold out every row; use a share below 1 or a row count above 1' });
  return { config: out, problems };
}

/** The keys of a train config that medtune reads itself, in their types (after checkTrainValues). */
export interface TrainOptions {
  learning_rate: number;
  num_train_epochs: number;
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  cutoff_len: number;
  lora_rank: number;
  image_max_pixels: number;
  save_steps: number;
  save_total_limit: number | null;
  save_only_model: boolean;
  max_samples: number | null;
  /** null: by epochs. */
  max_steps: number | null;
  val_size: number;
  ddp_timeout: number;
}

/** Typed reads of a checked config, with medtune's defaults for keys it leaves out. */
export function trainOptions(config: Readonly<Record<string, unknown>>): TrainOptions {
  const num = (key: string): number => {
    const v = config[key] ?? trainOption(key)!.default;
    return typeof v === 'number' ? v : typeof v === 'string' ? (evalPixels(v) ?? Number(v)) : Number.NaN;
  };
  // An explicit null unsets the key; a missing key has its default.
  const orNull = (key: string): number | null =>
    config[key] === null || (config[key] === undefined && trainOption(key)!.default === null) ? null : num(key);
  const steps = num('max_steps');
  return {
    learning_rate: num('learning_rate'),
    num_train_epochs: num('num_train_epochs'),
    per_device_train_batch_size: num('per_device_train_batch_size'),
    gradient_accumulation_steps: num('gradient_accumulation_steps'),
    cutoff_len: num('cutoff_len'),
    lora_rank: num('lora_rank'),
    image_max_pixels: num('image_max_pixels'),
    save_steps: num('save_steps'),
    save_total_limit: orNull('save_total_limit'),
    save_only_model: config.save_only_model === true,
    max_samples: orNull('max_samples'),
    max_steps: steps > 0 ? steps : null,
    val_size: num('val_size'),
    ddp_timeout: num('ddp_timeout'),
  };
}

/** The error for values that failed their checks: the first names its key and what is valid, the rest follow. */
export function optionsError(problems: readonly OptionProblem[]): MedtuneError {
  const first = problems[0]!;
  const spec = trainOption(first.key);
  const example = first.key === 'cutoff_len' ? 1024 : spec?.default;
  return new MedtuneError({
    doing: 'checking the train options (--set, medtune.yaml, the profile)',
    problem: first.message,
    details: problems.slice(1).map((p) => p.message),
    next:
      example === null || example === undefined
        ? `change or remove ${first.key}`
        : `pass a valid value, e.g. --set ${first.key}=${String(example)}`,
    code: 'BAD_OPTION',
  });
}
