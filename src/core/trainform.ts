/**
 * The TUI's forms, made from the option registry (core/options.ts): which rows the Train and Data › Prepare forms
 * show, their checks as the user types, and the values a form hands on. LLaMA-Factory's own parser still has the
 * last word at pre-flight.
 */
import { checkOptionText, checkTrainValues, optionsOf, type ConfigValue, type OptionSpec } from './options.js';
import { parseOverride } from './trainconfig.js';
import { isMedtuneError } from './errors.js';

export type FieldSpec = OptionSpec;
export type FieldValue = number | string | boolean;

export const TRAIN_FIELDS: readonly FieldSpec[] = optionsOf('train', { form: true });
export const PREPARE_FIELDS: readonly FieldSpec[] = optionsOf('prepare', { form: true });

export type FieldCheck = { ok: true; value: FieldValue | null } | { ok: false; message: string };

export function checkField(spec: FieldSpec, text: string): FieldCheck {
  const r = checkOptionText(spec, text);
  return r.ok ? { ok: true, value: r.value as FieldValue | null } : r;
}

/** What an untouched row shows: the option's default (empty when unset). */
export function defaultText(spec: FieldSpec, defaults: Readonly<Record<string, ConfigValue>> = {}): string {
  const v = defaults[spec.key] ?? spec.default;
  return v === null || v === undefined ? '' : String(v);
}

export interface FormCheck {
  /** Valid values by key; unset optional fields are left out. */
  values: Record<string, FieldValue>;
  errors: Record<string, string>;
}

/**
 * Checks every field, then the rules that involve the values together (the same as `--set`'s, e.g. val_size 1);
 * `extra` holds keys the form has no row for (added as `key=value`), checked by the same option checks.
 */
export function checkForm(
  texts: Readonly<Record<string, string>>,
  fields: readonly FieldSpec[] = TRAIN_FIELDS,
  defaults: Readonly<Record<string, ConfigValue>> = {},
): FormCheck {
  const values: Record<string, FieldValue> = {};
  const errors: Record<string, string> = {};
  for (const spec of fields) {
    const r = checkField(spec, texts[spec.key] ?? defaultText(spec, defaults));
    if (!r.ok) errors[spec.key] = r.message;
    else if (r.value !== null) values[spec.key] = r.value;
  }
  if (fields.every((f) => f.section === 'train'))
    for (const p of checkTrainValues(values).problems) errors[p.key] ??= p.message.replace(`${p.key} `, '');
  return { values, errors };
}

/** Next or previous choice of an enum field, wrapping around. */
export function cycleChoice(spec: FieldSpec, current: string, step: 1 | -1): string {
  const choices = (spec.choices ?? []).map(String);
  const i = choices.indexOf(current);
  const n = choices.length;
  return choices[(((i < 0 ? 0 : i + step) % n) + n) % n]!;
}

export type MoreKeysCheck = { ok: true; values: Record<string, FieldValue> } | { ok: false; message: string };

/**
 * The Train form's row for keys it has no row for, written as `--set` takes them (`key=value key=value`): typed
 * as YAML, checked by the same option checks as `--set` (unknown keys are left to LLaMA-Factory's parser).
 */
export function checkMoreKeys(text: string, formValues: Readonly<Record<string, FieldValue>> = {}): MoreKeysCheck {
  const values: Record<string, FieldValue> = {};
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    let key: string;
    let value: ConfigValue;
    try {
      [key, value] = parseOverride(word);
    } catch (err) {
      if (!isMedtuneError(err)) throw err;
      return { ok: false, message: `"${word}" is not key=value` };
    }
    if (TRAIN_FIELDS.some((f) => f.key === key)) return { ok: false, message: `${key} has its own row above` };
    if (value !== null && typeof value === 'object') return { ok: false, message: `${key}: one value (a list as a,b,c)` };
    const problem = checkTrainValues({ ...formValues, [key]: value }).problems.find((p) => p.key === key);
    if (problem) return { ok: false, message: problem.message };
    values[key] = value === null ? 'null' : value;
  }
  return { ok: true, values };
}
