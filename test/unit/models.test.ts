import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classifyModel,
  countSafetensorsParams,
  describeMissing,
  describeProgress,
  findKnownModel,
  formatParams,
  inspectModelFiles,
  KNOWN_MODELS,
  modelDirName,
  shardsInIndex,
  templateForModelType,
} from '../../src/core/models.js';
import { describeChecks } from '../../src/core/verify.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'llamafactory', 'train-ok');
const listing = (file: string) =>
  readFileSync(join(FIXTURE, file), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t')[0]!);

const TF5 = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'processor_config.json',
  'chat_template.jinja',
];
const HUB = [
  'config.json',
  'model-00001-of-00002.safetensors',
  'model-00002-of-00002.safetensors',
  'model.safetensors.index.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.json',
  'tokenizer_config.json',
  'preprocessor_config.json',
  'chat_template.json',
];

describe('known models', () => {
  it('has Qwen2-VL-2B-Instruct with both hubs, the qwen2_vl template and 2.21B parameters', () => {
    const m = findKnownModel('qwen2-vl-2b')!;
    expect(m.hubIds).toEqual({ hf: 'Qwen/Qwen2-VL-2B-Instruct', modelscope: 'qwen/Qwen2-VL-2B-Instruct' });
    expect(m.template).toBe('qwen2_vl');
    expect(m.params).toBe(2_208_985_600);
    expect(formatParams(m.params)).toBe('2.21B');
  });

  it.each([
    ['qwen2-vl-2b', 'qwen2-vl-2b'],
    ['QWEN2-VL-2B', 'qwen2-vl-2b'],
    ['Qwen/Qwen2-VL-2B-Instruct', 'qwen2-vl-2b'],
    ['qwen/qwen2-vl-2b-instruct', 'qwen2-vl-2b'],
    ['tiny', 'tiny'],
    ['tiny-qwen2-vl', 'tiny'],
    ['llava', undefined],
    ['', undefined],
  ])('findKnownModel(%j) → %j', (input, name) => {
    expect(findKnownModel(input)?.name).toBe(name);
  });

  it.each([
    ['qwen2-vl-2b', 'qwen2-vl-2b'],
    ['tiny', 'tiny-qwen2-vl'],
  ])('model %s lives in models/%s', (name, dir) => {
    expect(modelDirName(findKnownModel(name)!)).toBe(dir);
  });

  it('gives every known model a template and a unique name', () => {
    expect(new Set(KNOWN_MODELS.map((m) => m.name)).size).toBe(KNOWN_MODELS.length);
    for (const m of KNOWN_MODELS) expect(templateForModelType(m.modelType)).toBe(m.template);
  });

  it.each([
    ['qwen2_vl', 'qwen2_vl'],
    ['qwen2_5_vl', 'qwen2_vl'],
    ['qwen3_vl', 'qwen3_vl'],
    ['llama', null],
    [undefined, null],
  ])('templateForModelType(%j) → %j', (type, template) => {
    expect(templateForModelType(type)).toBe(template);
  });

  it.each([
    [{ dirName: 'tiny-qwen2-vl', modelType: 'qwen2_vl' }, 'tiny'],
    [{ dirName: 'qwen2-vl-2b' }, 'qwen2-vl-2b'],
    [{ dirName: 'qwen2-vl-2b', modelType: 'llama' }, 'custom'],
    [{ dirName: 'my-model', modelType: 'qwen2_vl' }, 'custom'],
    [{ dirName: 'my-model', modelType: 'qwen2_vl', recordedName: 'qwen2-vl-2b' }, 'qwen2-vl-2b'],
    [{ dirName: 'my-model', recordedName: 'Org/Unknown' }, 'custom'],
  ])('classifyModel(%j) → %s', (input, kind) => {
    expect(classifyModel(input)).toBe(kind);
  });
});

describe('inspectModelFiles', () => {
  it.each([
    ['transformers-5 layout', TF5, [], true, [], []],
    ['legacy Hub layout, sharded', HUB, [], true, [], []],
    [
      'legacy tokenizer without tokenizer.json',
      [
        'config.json',
        'model.safetensors',
        'vocab.json',
        'merges.txt',
        'tokenizer_config.json',
        'preprocessor_config.json',
        'chat_template.json',
      ],
      [],
      true,
      [],
      [],
    ],
    ['no chat template', TF5.filter((f) => f !== 'chat_template.jinja'), [], false, ['chat_template'], []],
    ['no processor config', TF5.filter((f) => f !== 'processor_config.json'), [], false, ['processor'], []],
    ['tokenizer.json without its config', TF5.filter((f) => f !== 'tokenizer_config.json'), [], false, ['tokenizer'], []],
    [
      'a shard missing by name',
      HUB.filter((f) => f !== 'model-00002-of-00002.safetensors'),
      [],
      false,
      [],
      ['model-00002-of-00002.safetensors'],
    ],
    [
      'shards named only in the index',
      [
        'config.json',
        'model.safetensors.index.json',
        'tokenizer.json',
        'tokenizer_config.json',
        'processor_config.json',
        'chat_template.jinja',
      ],
      ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'],
      false,
      [],
      ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'],
    ],
    ['shards without an index', HUB.filter((f) => f !== 'model.safetensors.index.json'), [], false, ['weights'], []],
    ['empty folder', [], [], false, ['config', 'weights', 'tokenizer', 'processor', 'chat_template'], []],
    ['paths with ./', TF5.map((f) => `./${f}`), [], true, [], []],
  ])('%s', (_what, files, indexShards, complete, missing, shards) => {
    const r = inspectModelFiles(files, indexShards);
    expect(r.complete).toBe(complete);
    expect(r.missing.map((m) => m.part)).toEqual(missing);
    expect(r.missingShards).toEqual(shards);
    expect(r.present.length + r.missing.length).toBe(5);
  });

  it('passes the real export of the fixture run and fails its adapter output dir', () => {
    expect(inspectModelFiles(listing('export-files.tsv')).complete).toBe(true);
    const output = inspectModelFiles(listing('output-files.tsv'));
    expect(output.missing.map((m) => m.part)).toEqual(['config', 'weights']);
  });

  it('describes what is missing, one line per part', () => {
    const r = inspectModelFiles(HUB.filter((f) => !['chat_template.json', 'model-00002-of-00002.safetensors'].includes(f)));
    expect(describeMissing(r)).toEqual([
      'chat_template: chat_template.jinja or chat_template.json',
      'weight shards: model-00002-of-00002.safetensors',
    ]);
  });
});

describe('weights and formats', () => {
  it.each([
    [
      {
        weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' },
      },
      ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'],
    ],
    [{ metadata: { total_size: 1 } }, []],
    [null, []],
    ['garbage', []],
  ])('shardsInIndex(%j)', (index, shards) => {
    expect(shardsInIndex(index)).toEqual(shards);
  });

  it.each([
    [
      {
        __metadata__: { format: 'pt' },
        'a.weight': { dtype: 'F32', shape: [1012, 64], data_offsets: [0, 1] },
        'b.bias': { dtype: 'F32', shape: [64] },
      },
      1012 * 64 + 64,
    ],
    [{ scalar: { dtype: 'F32', shape: [] } }, 1],
    [{ odd: { dtype: 'F32' } }, 0],
    [{}, 0],
  ])('countSafetensorsParams(%#)', (header, n) => {
    expect(countSafetensorsParams(header)).toBe(n);
  });

  it.each([
    [2_208_985_600, '2.21B'],
    [276_096, '276K'],
    [9_232_384, '9.2M'],
    [512, '512'],
    [null, '?'],
  ])('formatParams(%j) → %s', (n, text) => {
    expect(formatParams(n)).toBe(text);
  });

  it.each([
    [{ unit: 'B', done: 1024, total: 4096 }, '1.0 KiB of 4.0 KiB'],
    [{ unit: 'B', done: 2048, total: null }, '2.0 KiB'],
    [{ done: 1, total: 4, message: 'training a tokenizer' }, 'training a tokenizer'],
    [{}, undefined],
  ])('describeProgress(%j)', (e, text) => {
    expect(describeProgress(e)).toBe(text);
  });

  it('describes verify checks with ✓ and ✗', () => {
    expect(
      describeChecks({
        checks: [
          { name: 'files', ok: true, detail: 'all there' },
          { name: 'chat_template', ok: false, detail: 'none' },
        ],
      }),
    ).toEqual(['✓ files: all there', '✗ chat_template: none']);
  });
});
