/** The registries and policies in core: model families, data sources, the profile for a machine, lint findings. */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FAMILY,
  MODEL_FAMILIES,
  familyOfCheckpoint,
  familyOfModelType,
  familyOfTemplate,
  imageTokens,
  templateOf,
} from '../../src/core/families.js';
import { dataSourceArg, defaultNameOf, parseDataSource } from '../../src/core/datasources.js';
import { chooseProfile, lintTrainConfig, overridesOf, type Profile } from '../../src/core/trainconfig.js';
import { ATTEMPT_MARK, attemptBanner } from '../../src/core/run.js';
import { ConsoleParser } from '../../src/core/trainerconsole.js';
import { compactTimestamp } from '../../src/core/format.js';

describe('model families', () => {
  it.each([
    ['qwen2_vl', 'Qwen2-VL', 'qwen2_vl'],
    ['qwen2_5_vl', 'Qwen2.5-VL', 'qwen2_vl'],
    ['qwen3_vl', 'Qwen3-VL', 'qwen3_vl'],
    ['qwen3_vl_moe', 'Qwen3-VL', 'qwen3_vl'],
  ])('model_type %s is %s with template %s', (type, title, template) => {
    expect(familyOfModelType(type)?.title).toBe(title);
    expect(familyOfModelType(type)?.template).toBe(template);
  });

  it('knows no family for other model types, and defaults a config without a template to Qwen2-VL', () => {
    expect(familyOfModelType('llava')).toBeNull();
    expect(familyOfModelType(undefined)).toBeNull();
    expect(templateOf({})).toBe('qwen2_vl');
    expect(templateOf({ template: 'qwen3_vl' })).toBe('qwen3_vl');
    expect(familyOfTemplate('qwen3_vl')?.id).toBe('qwen3_vl');
  });

  it.each([
    // 28×28 pixels per token for Qwen2/2.5-VL, 32×32 for Qwen3-VL
    ['qwen2_vl', 589824, 753],
    ['qwen2_5_vl', 262144, 335],
    ['qwen3_vl', 589824, 576],
    ['qwen3_vl', 262144, 256],
  ])('%s: an image of %i pixels takes %i tokens', (id, px, tokens) => {
    expect(imageTokens(MODEL_FAMILIES.find((f) => f.id === id)!, px)).toBe(tokens);
  });

  it('finds a family by checkpoint, case-insensitively, and lists Liger only where LLaMA-Factory patches it', () => {
    expect(familyOfCheckpoint('qwen/qwen2.5-vl-7b-instruct')?.id).toBe('qwen2_5_vl');
    expect(familyOfCheckpoint('someone/else')).toBeNull();
    expect(MODEL_FAMILIES.filter((f) => f.speedups.includes('liger_kernel')).map((f) => f.id)).toEqual(['qwen2_vl', 'qwen2_5_vl']);
    expect(DEFAULT_FAMILY.id).toBe('qwen2_vl');
  });
});

describe('data sources', () => {
  it.each([
    ['sample', { kind: 'sample' }, 'sample', 'medtrinity-sample'],
    ['Sample-Set', { kind: 'sample' }, 'sample', 'medtrinity-sample'],
    ['hub', { kind: 'hub', config: '25M_demo' }, 'hub:25M_demo', 'medtrinity-demo'],
    ['hub:25M_full', { kind: 'hub', config: '25M_full' }, 'hub:25M_full', 'medtrinity-full'],
    ['/data/mt/shard-0001.parquet', { kind: 'parquet', path: '/data/mt/shard-0001.parquet' }, '/data/mt/shard-0001.parquet', 'shard-0001'],
    ['~/MedTrinity-25M/25M_demo/', { kind: 'folder', path: '~/MedTrinity-25M/25M_demo' }, '~/MedTrinity-25M/25M_demo', '25M_demo'],
    ['./my data_val', { kind: 'folder', path: './my data_val' }, './my data_val', 'my-data-val'],
  ])('%j parses as %j (helper arg %j, default name %j)', (text, src, arg, name) => {
    const parsed = parseDataSource(text);
    expect(parsed).toEqual(src);
    expect(dataSourceArg(parsed)).toBe(arg);
    expect(defaultNameOf(parsed)).toBe(name);
  });
});

describe('the profile for this machine', () => {
  const p = (vramGiB: number): Profile => ({ description: '', vramGiB, values: {} });
  const profiles = { cpu: p(0), 'gpu-16g': p(16), 'gpu-24g': p(24), 'gpu-40g': p(40), 'gpu-80g': p(80) };
  it.each([
    [[], 'cpu'],
    [[15.99], 'gpu-16g'],
    [[23.99], 'gpu-24g'],
    [[39.4], 'gpu-40g'],
    [[79.6], 'gpu-80g'],
    [[139.8, 139.8], 'gpu-80g'],
    [[79.6, 23.99], 'gpu-24g'],
    [[11.7], 'gpu-16g'],
  ])('GPUs of %j GiB → %s', (gpus, want) => {
    expect(chooseProfile(profiles, gpus)).toBe(want);
  });
});

describe('lint findings', () => {
  const base = { save_total_limit: 2, cutoff_len: 2048, image_max_pixels: 262144 };
  it('say what they mean in codes and severities', () => {
    const codes = (c: Record<string, unknown>, hasGpu = false) =>
      lintTrainConfig(c as never, { hasGpu }).map((f) => `${f.code}:${f.severity}`);
    expect(codes(base)).toEqual([]);
    expect(codes({ ...base, bf16: true })).toEqual(['NEEDS_GPU:fail']);
    expect(codes({ ...base, bf16: true }, true)).toEqual([]);
    expect(codes({ ...base, overwrite_output_dir: true })).toEqual(['OVERWRITES_OUTPUT:fail']);
    expect(codes({ ...base, save_total_limit: null })).toEqual(['NO_SAVE_LIMIT:warn']);
    expect(codes({ ...base, cutoff_len: 512, image_max_pixels: 589824 })).toEqual(['CUTOFF_TOO_SHORT:fail']);
    expect(codes({ ...base, enable_liger_kernel: true })).toEqual([]);
    expect(codes({ ...base, template: 'qwen3_vl', enable_liger_kernel: true })).toEqual(['UNSUPPORTED_SPEEDUP:warn']);
  });

  it("count image tokens with the family's patch size", () => {
    // 800 tokens for Qwen2-VL (28 px), 625 for Qwen3-VL (32 px): a cutoff of 700 fits only the latter.
    const c = { ...base, cutoff_len: 700, image_max_pixels: 640000 };
    expect(lintTrainConfig(c, { hasGpu: true }).map((f) => f.code)).toEqual(['CUTOFF_TOO_SHORT']);
    expect(lintTrainConfig({ ...c, template: 'qwen3_vl' }, { hasGpu: true })).toEqual([]);
  });

  it('turn form values into key=value overrides', () => {
    expect(overridesOf({ num_train_epochs: 1, learning_rate: 0.0002, bf16: true })).toEqual([
      'num_train_epochs=1',
      'learning_rate=0.0002',
      'bf16=true',
    ]);
  });
});

describe('one constant for the attempt banner and the folder timestamps', () => {
  it('the banner the supervisor writes is the one the console parser reads', () => {
    const banner = attemptBanner(2, '2026-12-04T18:00:00.000Z', '/x/checkpoint-10');
    expect(banner.trim().startsWith(ATTEMPT_MARK)).toBe(true);
    const events = new ConsoleParser().feed(banner);
    expect(events).toContainEqual(
      expect.objectContaining({ kind: 'milestone', milestone: { type: 'attempt-started', attempt: 2, at: '2026-12-04T18:00:00.000Z' } }),
    );
    expect(compactTimestamp(new Date('2026-12-04T18:05:09.123Z'))).toBe('20261204-180509');
  });
});
