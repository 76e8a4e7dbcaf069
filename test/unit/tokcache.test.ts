import { describe, expect, it } from 'vitest';
import { autoPreprocessingWorkers, isTokenizerFile, tokenizedCacheKey, type TokenCacheInput } from '../../src/core/tokcache.js';

const base: TokenCacheInput = {
  datasets: [
    {
      name: 'scans',
      entry: { file_name: 'scans/train.jsonl', formatting: 'sharegpt' },
      files: [{ path: 'scans/train.jsonl', sha256: 'aa' }],
    },
  ],
  config: {
    template: 'qwen2_vl',
    cutoff_len: 1024,
    image_max_pixels: 262144,
    learning_rate: 1e-4,
    per_device_train_batch_size: 16,
    stage: 'sft',
  },
  modelFiles: [
    { path: 'tokenizer.json', sha256: 't1' },
    { path: 'preprocessor_config.json', sha256: 'p1' },
  ],
  llamafactoryVersion: '0.9.5',
};
const key = tokenizedCacheKey(base);
const withConfig = (c: Record<string, unknown>) =>
  tokenizedCacheKey({ ...base, config: { ...base.config, ...c } as TokenCacheInput['config'] });

describe('tokenizedCacheKey', () => {
  it('is 16 hex digits and stable', () => {
    expect(key).toMatch(/^[0-9a-f]{16}$/);
    expect(tokenizedCacheKey(structuredClone(base))).toBe(key);
  });

  it.each([
    ['a changed dataset file', { ...base, datasets: [{ ...base.datasets[0]!, files: [{ path: 'scans/train.jsonl', sha256: 'ab' }] }] }],
    ['another dataset', { ...base, datasets: [{ ...base.datasets[0]!, name: 'scans2' }] }],
    ['a second dataset', { ...base, datasets: [...base.datasets, { name: 'more', entry: {}, files: [] }] }],
    [
      'a changed dataset_info entry',
      { ...base, datasets: [{ ...base.datasets[0]!, entry: { file_name: 'scans/train.jsonl', formatting: 'alpaca' } }] },
    ],
    ['a changed tokenizer', { ...base, modelFiles: [{ path: 'tokenizer.json', sha256: 't2' }, base.modelFiles[1]!] }],
    ['a changed processor config', { ...base, modelFiles: [base.modelFiles[0]!, { path: 'preprocessor_config.json', sha256: 'p2' }] }],
    ['another LLaMA-Factory', { ...base, llamafactoryVersion: '0.9.6' }],
  ])('changes with %s', (_what, input) => {
    expect(tokenizedCacheKey(input as TokenCacheInput)).not.toBe(key);
  });

  it.each([
    ['template', { template: 'qwen2_5_vl' }],
    ['cutoff_len', { cutoff_len: 2048 }],
    ['image_max_pixels', { image_max_pixels: 1048576 }],
    ['image_min_pixels', { image_min_pixels: 1024 }],
    ['max_samples', { max_samples: 100 }],
    ['val_size', { val_size: 0.1 }],
    ['train_on_prompt', { train_on_prompt: true }],
    ['packing', { packing: true }],
    ['seed', { seed: 7 }],
  ])('changes with %s', (_k, c) => {
    expect(withConfig(c)).not.toBe(key);
  });

  it.each([
    ['learning_rate', { learning_rate: 5e-5 }],
    ['batch size', { per_device_train_batch_size: 32 }],
    ['loader workers', { dataloader_num_workers: 8 }],
    ['preprocessing workers', { preprocessing_num_workers: 16 }],
    ['liger', { enable_liger_kernel: true }],
    ['output_dir', { output_dir: '/elsewhere' }],
  ])('ignores %s, which does not shape the tokens', (_k, c) => {
    expect(withConfig(c)).toBe(key);
  });

  it('ignores the order of files and config keys', () => {
    const swapped: TokenCacheInput = {
      ...base,
      modelFiles: [...base.modelFiles].reverse(),
      config: Object.fromEntries(Object.entries(base.config).reverse()),
    };
    expect(tokenizedCacheKey(swapped)).toBe(key);
  });
});

describe('isTokenizerFile', () => {
  it.each([
    ['tokenizer.json', true],
    ['tokenizer_config.json', true],
    ['vocab.json', true],
    ['merges.txt', true],
    ['preprocessor_config.json', true],
    ['chat_template.jinja', true],
    ['config.json', true],
    ['model.safetensors', false],
    ['generation_config.json', false],
    ['README.md', false],
  ])('%s -> %s', (name, want) => {
    expect(isTokenizerFile(name)).toBe(want);
  });
});

describe('autoPreprocessingWorkers', () => {
  it.each([
    [1, 1],
    [2, 2],
    [16, 16],
    [64, 16],
    [0, 1],
  ])('%i cores -> %i', (cores, want) => {
    expect(autoPreprocessingWorkers(cores)).toBe(want);
  });
});
