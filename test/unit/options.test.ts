/** The option registry: every value medtune describes is checked with its key named, before anything is planned. */
import { describe, expect, it } from 'vitest';
import {
  checkOptionText,
  checkOptionValue,
  checkTrainValues,
  describeValid,
  moduleNamesOf,
  OPTIONS,
  optionsError,
  settingOption,
  trainOption,
  trainOptions,
  type ConfigValue,
  type ModelFacts,
} from '../../src/core/options.js';
import { parseOverride } from '../../src/core/trainconfig.js';
import { tensorNamesOfHeader } from '../../src/core/safetensors.js';
import { DATA_SOURCES } from '../../src/core/datasources.js';

const MODEL: ModelFacts = {
  maxPositions: 32768,
  moduleNames: moduleNamesOf([
    'model.language_model.layers.0.self_attn.q_proj.weight',
    'model.language_model.layers.0.self_attn.v_proj.bias',
    'model.language_model.layers.0.mlp.down_proj.weight',
    'model.visual.blocks.0.attn.qkv.weight',
    'lm_head.weight',
  ]),
};

/** The problems a `--set key=value` raises, through the same YAML typing as the CLI. */
function problemsOf(...sets: string[]): string[] {
  const config: Record<string, ConfigValue> = Object.fromEntries(sets.map(parseOverride));
  return checkTrainValues(config, MODEL).problems.map((p) => `${p.key}: ${p.message}`);
}

describe('--set checks', () => {
  it.each([
    ['num_train_epochs=abc', 'num_train_epochs: num_train_epochs must be a number above 0 and at most 1000; got "abc"'],
    [
      'per_device_train_batch_size=two',
      'per_device_train_batch_size: per_device_train_batch_size must be a whole number at least 1 and at most 1024; got "two"',
    ],
    [
      'per_device_train_batch_size=2.5',
      'per_device_train_batch_size: per_device_train_batch_size must be a whole number at least 1 and at most 1024; got 2.5',
    ],
    ['learning_rate=-1', 'learning_rate: learning_rate must be a number above 0 and at most 1; got -1'],
    ['learning_rate=0', 'learning_rate: learning_rate must be a number above 0 and at most 1; got 0'],
    ['lora_rank=0', 'lora_rank: lora_rank must be a whole number at least 1 and at most 1024; got 0'],
    ['cutoff_len=1e9', 'cutoff_len: cutoff_len must be a whole number at least 4 and at most 1048576; got 1000000000'],
    ['cutoff_len=65536', "cutoff_len: cutoff_len 65536 is beyond the model's 32768 positions (max_position_embeddings); use at most 32768"],
    [
      'lora_target=no_such_module',
      'lora_target: lora_target names no_such_module, which the model does not have; use all, or some of down_proj, q_proj, qkv, v_proj',
    ],
    [
      'lora_target=q_proj,nope',
      'lora_target: lora_target names nope, which the model does not have; use all, or some of down_proj, q_proj, qkv, v_proj',
    ],
    ['bf16=maybe', 'bf16: bf16 must be true or false; got "maybe"'],
    [
      'lr_scheduler_type=wavy',
      'lr_scheduler_type: lr_scheduler_type must be one of cosine, linear, constant, constant_with_warmup, polynomial, inverse_sqrt, cosine_with_restarts; got "wavy"',
    ],
    ['quantization_bit=7', 'quantization_bit: quantization_bit must be one of 2, 3, 4, 5, 6, 8, or null (unset); got 7'],
    ['lora_dropout=1', 'lora_dropout: lora_dropout must be a number at least 0 and below 1; got 1'],
    ['val_size=1', 'val_size: val_size 1 would hold out every row; use a share below 1 or a row count above 1'],
    [
      'save_total_limit=0',
      'save_total_limit: save_total_limit must be a whole number at least 1 and at most 1000000, or null (unset); got 0',
    ],
    [
      'image_max_pixels=10*10',
      'image_max_pixels: image_max_pixels must be a pixel count at least 784 and at most 16777216 (a number or a product such as 768*768); got "10*10"',
    ],
  ])('%s is refused', (set, problem) => {
    expect(problemsOf(set)).toEqual([problem]);
  });

  it.each([
    'num_train_epochs=0.5',
    'learning_rate=5e-3',
    'lora_rank=64',
    'cutoff_len=32768',
    'lora_target=all',
    'lora_target=q_proj,v_proj',
    'save_total_limit=null',
    'max_steps=-1',
    'preprocessing_num_workers=auto',
    'quantization_bit=4',
    'val_size=0.1',
    'val_size=20',
    'image_max_pixels=768*768',
    'some_key_medtune_does_not_know=whatever',
  ])('%s passes', (set) => {
    expect(problemsOf(set)).toEqual([]);
  });

  it('hands values on in the type LLaMA-Factory expects', () => {
    const { config } = checkTrainValues({ image_max_pixels: '768*768', learning_rate: '1e-4', lora_target: ['q_proj', 'v_proj'] });
    expect(config).toEqual({ image_max_pixels: 589824, learning_rate: 1e-4, lora_target: 'q_proj,v_proj' });
  });

  it('reports every bad key at once; the error names the first and a valid example', () => {
    const { problems } = checkTrainValues({ lora_rank: 0, learning_rate: -1 });
    expect(problems.map((p) => p.key)).toEqual(['lora_rank', 'learning_rate']);
    const err = optionsError(problems);
    expect(err.code).toBe('BAD_OPTION');
    expect(err.problem).toContain('lora_rank');
    expect(err.next).toContain('--set lora_rank=8');
    expect(err.details).toHaveLength(1);
  });

  it('without model facts, lora_target and cutoff_len are only type-checked', () => {
    expect(checkTrainValues({ lora_target: 'x_proj', cutoff_len: 100000 }).problems).toEqual([]);
  });
});

describe('the registry', () => {
  it('describes every key of the train template and the profiles', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const template = parse(readFileSync('templates/train/lora_sft.yaml', 'utf8')) as Record<string, ConfigValue>;
    const profiles = parse(readFileSync('templates/profiles.yaml', 'utf8')) as Record<string, { values: Record<string, ConfigValue> }>;
    const keys = new Set([...Object.keys(template), ...Object.values(profiles).flatMap((p) => Object.keys(p.values))]);
    expect([...keys].filter((k) => !trainOption(k))).toEqual([]);
    // and their values pass their own checks
    expect(checkTrainValues(template).problems).toEqual([]);
    for (const p of Object.values(profiles)) expect(checkTrainValues(p.values).problems).toEqual([]);
  });

  it('has one entry per key and section, each with a valid default', () => {
    const ids = OPTIONS.map((o) => `${o.section}:${o.key}`);
    expect(new Set(ids).size).toBe(ids.length);
    for (const o of OPTIONS) {
      if (o.default === null) expect(o.nullable || o.type === 'name' || o.type === 'string').toBe(true);
      else expect(checkOptionValue(o, o.default).ok, `${o.key} default`).toBe(true);
      expect(describeValid(o).length).toBeGreaterThan(0);
    }
  });

  it('reads a checked config in its types, with defaults for what is left out', () => {
    const o = trainOptions({ per_device_train_batch_size: 4, save_total_limit: null, max_steps: -1 });
    expect(o.per_device_train_batch_size).toBe(4);
    expect(o.save_total_limit).toBeNull();
    expect(o.max_steps).toBeNull();
    expect(o.lora_rank).toBe(8);
    expect(o.image_max_pixels).toBe(589824);
  });
});

describe('module names from a safetensors header', () => {
  it('reads the tensor names and keeps the module part', () => {
    const header = JSON.stringify({
      __metadata__: {},
      'a.b.q_proj.weight': { data_offsets: [0, 4] },
      'a.norm.weight': { data_offsets: [4, 8] },
    });
    const bytes = new Uint8Array(8 + header.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    const names = tensorNamesOfHeader(bytes)!;
    expect(names).toEqual(['a.b.q_proj.weight', 'a.norm.weight']);
    expect([...moduleNamesOf(names)].sort()).toEqual(['norm', 'q_proj']);
    expect(tensorNamesOfHeader(bytes.subarray(0, 10))).toBeNull();
  });
});

it.each(DATA_SOURCES.map((d) => [d.id, d.defaultName]))('the default dataset name of source %s (%s) passes the name check', (_id, name) => {
  expect(checkOptionText(settingOption('prepare', 'name'), name).ok).toBe(true);
});
