/**
 * The main training parameters as the TUI form shows them: one spec per LLaMA-Factory key, with the
 * bounds the form checks as the user types (LLaMA-Factory's own parser still has the last word at pre-flight).
 */

export type FieldValue = number | string;

interface BaseField {
  /** The LLaMA-Factory config key this field sets. */
  key: string;
  label: string;
  help: string;
}

export interface NumberField extends BaseField {
  kind: 'number' | 'integer';
  min: number;
  max: number;
  /** Whether the bound itself is allowed (learning rate 0 is not, val_size 0 is). */
  minInclusive: boolean;
  default: number | null;
  /** Empty means "not set" (LLaMA-Factory's default applies). */
  optional?: boolean;
}

export interface ChoiceField extends BaseField {
  kind: 'choice';
  choices: readonly string[];
  default: string;
}

/** A product of whole numbers such as `768*768`, the way LLaMA-Factory writes pixel budgets. */
export interface PixelsField extends BaseField {
  kind: 'pixels';
  min: number;
  max: number;
  default: string;
}

/** A name that becomes a folder and a dataset_info.json key. */
export interface NameField extends BaseField {
  kind: 'name';
  default: string;
}

export type FieldSpec = NumberField | ChoiceField | PixelsField | NameField;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const TRAIN_FIELDS: readonly FieldSpec[] = [
  {
    key: 'learning_rate',
    label: 'learning rate',
    kind: 'number',
    min: 0,
    max: 1,
    minInclusive: false,
    default: 1e-4,
    help: 'AdamW peak learning rate; 1e-4 is a common LoRA value, 5e-5 for full tuning',
  },
  {
    key: 'num_train_epochs',
    label: 'epochs',
    kind: 'number',
    min: 0,
    max: 1000,
    minInclusive: false,
    default: 3,
    help: 'passes over the training set (fractions allowed)',
  },
  {
    key: 'per_device_train_batch_size',
    label: 'batch size',
    kind: 'integer',
    min: 1,
    max: 1024,
    minInclusive: true,
    default: 1,
    help: 'samples per GPU per step; raise until memory is ~90% used',
  },
  {
    key: 'gradient_accumulation_steps',
    label: 'grad accumulation',
    kind: 'integer',
    min: 1,
    max: 4096,
    minInclusive: true,
    default: 8,
    help: 'steps whose gradients are summed before an update; effective batch = batch × this × GPUs',
  },
  {
    key: 'cutoff_len',
    label: 'cutoff length',
    kind: 'integer',
    min: 4,
    max: 131072,
    minInclusive: true,
    default: 2048,
    help: 'tokens per sample after which text is cut; image tokens count too',
  },
  {
    key: 'lora_rank',
    label: 'LoRA rank',
    kind: 'integer',
    min: 1,
    max: 1024,
    minInclusive: true,
    default: 8,
    help: 'rank of the LoRA matrices; higher = more capacity and memory',
  },
  {
    key: 'lora_alpha',
    label: 'LoRA alpha',
    kind: 'integer',
    min: 1,
    max: 4096,
    minInclusive: true,
    default: 16,
    help: 'LoRA scale; usually 2 × rank',
  },
  {
    key: 'val_size',
    label: 'validation share',
    kind: 'number',
    min: 0,
    max: 1,
    minInclusive: true,
    default: 0,
    help: "share of training rows held out for eval loss (0 = use the dataset's val split if any)",
  },
  {
    key: 'max_samples',
    label: 'max samples',
    kind: 'integer',
    min: 1,
    max: 1e9,
    minInclusive: true,
    default: null,
    optional: true,
    help: 'cap on rows read per dataset; empty = all',
  },
  {
    key: 'lr_scheduler_type',
    label: 'LR schedule',
    kind: 'choice',
    choices: ['cosine', 'linear', 'constant', 'constant_with_warmup', 'polynomial', 'inverse_sqrt'],
    default: 'cosine',
    help: 'how the learning rate changes over training',
  },
  {
    key: 'image_max_pixels',
    label: 'image max pixels',
    kind: 'pixels',
    min: 28 * 28,
    max: 4096 * 4096,
    default: '768*768',
    help: 'larger images are downscaled to this many pixels; fewer pixels = fewer image tokens',
  },
  {
    key: 'save_steps',
    label: 'save every',
    kind: 'integer',
    min: 1,
    max: 1e9,
    minInclusive: true,
    default: 100,
    help: 'steps between checkpoints (resume points)',
  },
];

export type FieldCheck = { ok: true; value: FieldValue | null } | { ok: false; message: string };

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

function checkNumber(spec: NumberField, text: string): FieldCheck {
  const t = text.trim();
  if (t === '') return spec.optional ? { ok: true, value: null } : { ok: false, message: 'required' };
  if (!NUMBER.test(t)) return { ok: false, message: 'not a number' };
  const v = Number(t);
  if (spec.kind === 'integer' && !Number.isInteger(v)) return { ok: false, message: 'must be a whole number' };
  if (spec.minInclusive ? v < spec.min : v <= spec.min)
    return { ok: false, message: `must be ${spec.minInclusive ? '≥' : '>'} ${spec.min}` };
  if (v > spec.max) return { ok: false, message: `must be ≤ ${spec.max}` };
  return { ok: true, value: v };
}

/** Evaluates `a*b*…` of whole numbers; anything else is rejected rather than evaluated. */
export function evalPixels(text: string): number | null {
  const parts = text.replace(/\s+/g, '').split('*');
  if (parts.some((p) => !/^\d+$/.test(p))) return null;
  return parts.reduce((acc, p) => acc * Number(p), 1);
}

export function checkField(spec: FieldSpec, text: string): FieldCheck {
  switch (spec.kind) {
    case 'number':
    case 'integer':
      return checkNumber(spec, text);
    case 'choice':
      return spec.choices.includes(text) ? { ok: true, value: text } : { ok: false, message: `one of ${spec.choices.join(', ')}` };
    case 'name':
      if (text === '') return { ok: false, message: 'required' };
      return NAME.test(text)
        ? { ok: true, value: text }
        : { ok: false, message: 'letters, digits, . _ - (up to 64), starting with a letter or digit' };
    case 'pixels': {
      const v = evalPixels(text);
      if (v === null) return { ok: false, message: 'write it as a product, e.g. 768*768' };
      if (v < spec.min || v > spec.max) return { ok: false, message: `between ${spec.min} and ${spec.max} pixels` };
      return { ok: true, value: text.replace(/\s+/g, '') };
    }
  }
}

export function defaultText(spec: FieldSpec): string {
  return spec.default === null ? '' : String(spec.default);
}

export interface FormCheck {
  /** Valid values by key; unset optional fields are left out. */
  values: Record<string, FieldValue>;
  errors: Record<string, string>;
}

/** Checks every field; also the rules that involve two fields. */
export function checkForm(texts: Readonly<Record<string, string>>, fields: readonly FieldSpec[] = TRAIN_FIELDS): FormCheck {
  const values: Record<string, FieldValue> = {};
  const errors: Record<string, string> = {};
  for (const spec of fields) {
    const r = checkField(spec, texts[spec.key] ?? defaultText(spec));
    if (!r.ok) errors[spec.key] = r.message;
    else if (r.value !== null) values[spec.key] = r.value;
  }
  if (values.val_size === 1) errors.val_size = 'must leave some rows to train on (< 1)';
  return { values, errors };
}

/** Next or previous choice of a choice field, wrapping around. */
export function cycleChoice(spec: ChoiceField, current: string, step: 1 | -1): string {
  const i = spec.choices.indexOf(current);
  const n = spec.choices.length;
  return spec.choices[(((i < 0 ? 0 : i + step) % n) + n) % n]!;
}
