/** The pure helpers behind the TUI's forms: parameter checks, dataset mixes, sample lists, log levels. */
import { describe, expect, it } from 'vitest';
import { checkField, checkForm, cycleChoice, TRAIN_FIELDS, type FieldSpec } from '../../src/core/trainform.js';
import { evalPixels } from '../../src/core/options.js';
import { mixOverrides, mixShares, nudgeWeight } from '../../src/core/mix.js';
import { parseIndexList } from '../../src/core/indexlist.js';
import { classifyLogLine, lastRedraw } from '../../src/core/loglines.js';
import { splitEnvCommand } from '../../src/ui/view.js';

const spec = (key: string): FieldSpec => TRAIN_FIELDS.find((f) => f.key === key)!;

describe('checkField', () => {
  it.each([
    ['learning_rate', '1e-4', { ok: true, value: 1e-4 }],
    ['learning_rate', '0', { ok: false, message: 'a number above 0 and at most 1' }],
    ['learning_rate', 'abc', { ok: false, message: 'not a number' }],
    ['learning_rate', '', { ok: false, message: 'required' }],
    ['learning_rate', '2', { ok: false, message: 'a number above 0 and at most 1' }],
    ['num_train_epochs', '0.5', { ok: true, value: 0.5 }],
    ['per_device_train_batch_size', '2.5', { ok: false, message: 'a whole number at least 1 and at most 1024' }],
    ['per_device_train_batch_size', '0', { ok: false, message: 'a whole number at least 1 and at most 1024' }],
    ['val_size', '0', { ok: true, value: 0 }],
    ['max_samples', '', { ok: true, value: null }],
    ['max_samples', ' 500 ', { ok: true, value: 500 }],
    ['lr_scheduler_type', 'linear', { ok: true, value: 'linear' }],
    [
      'lr_scheduler_type',
      'wavy',
      { ok: false, message: 'one of cosine, linear, constant, constant_with_warmup, polynomial, inverse_sqrt, cosine_with_restarts' },
    ],
    ['image_max_pixels', '768*768', { ok: true, value: 589824 }],
    ['image_max_pixels', '16384', { ok: true, value: 16384 }],
    [
      'image_max_pixels',
      '768x768',
      { ok: false, message: 'a pixel count at least 784 and at most 16777216 (a number or a product such as 768*768)' },
    ],
    [
      'image_max_pixels',
      '10*10',
      { ok: false, message: 'a pixel count at least 784 and at most 16777216 (a number or a product such as 768*768)' },
    ],
  ])('%s = %j', (key, text, expected) => {
    expect(checkField(spec(key), text)).toEqual(expected);
  });

  it.each([
    ['demo', true],
    ['mt-ct_v2.1', true],
    ['-x', false],
    ['a b', false],
    ['', false],
  ])('name %j ok=%s', (text, ok) => {
    expect(checkField({ key: 'n', label: 'n', type: 'name', default: null, help: '', section: 'prepare' }, text).ok).toBe(ok);
  });
});

describe('checkForm', () => {
  it('uses defaults for untouched fields and leaves unset optional ones out', () => {
    const r = checkForm({});
    expect(r.errors).toEqual({});
    expect(r.values.learning_rate).toBe(1e-4);
    expect('max_samples' in r.values).toBe(false);
  });
  it('reports every bad field and the val_size = 1 rule', () => {
    const r = checkForm({ learning_rate: 'x', val_size: '1' });
    expect(Object.keys(r.errors).sort()).toEqual(['learning_rate', 'val_size']);
  });
  it('takes its untouched values from the defaults it is given (model and profile policy)', () => {
    expect(checkForm({}, TRAIN_FIELDS, { lora_rank: 64 }).values.lora_rank).toBe(64);
  });
});

it.each([
  ['768*768', 589824],
  ['1 * 2 * 3', 6],
  ['2**3', null],
  ['', null],
])('evalPixels(%j)', (text, v) => expect(evalPixels(text)).toBe(v));

it('cycles choices both ways, wrapping', () => {
  const s = spec('lr_scheduler_type');
  expect(cycleChoice(s, 'cosine', 1)).toBe('linear');
  expect(cycleChoice(s, 'cosine', -1)).toBe('cosine_with_restarts');
  expect(cycleChoice(s, 'nope', 1)).toBe('cosine');
});

describe('mix', () => {
  it('turns weights into shares', () => {
    expect(
      mixShares([
        { name: 'a', weight: 1 },
        { name: 'b', weight: 3 },
      ]).map((s) => s.share),
    ).toEqual([0.25, 0.75]);
    expect(mixShares([{ name: 'a', weight: 0 }])[0]!.share).toBe(0);
  });
  it.each([
    [1, 0.1, 1.1],
    [0.1, -0.1, 0.1],
    [10, 0.1, 10],
    [0.3, 0.1, 0.4],
  ])('nudgeWeight(%d, %d) = %d', (w, d, r) => expect(nudgeWeight(w, d)).toBe(r));
  it.each([
    [[{ name: 'a', weight: 1 }], []],
    [
      [
        { name: 'a', weight: 2 },
        { name: 'b', weight: 2 },
      ],
      [],
    ],
    [
      [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 3 },
      ],
      ['mix_strategy=interleave_under', 'interleave_probs=0.25,0.75'],
    ],
  ])('mixOverrides(%j)', (items, expected) => expect(mixOverrides(items)).toEqual(expected));
});

describe('parseIndexList', () => {
  it.each([
    ['1-3', { ok: true, value: [0, 1, 2] }],
    ['2, 5,9', { ok: true, value: [1, 4, 8] }],
    ['3,1-3', { ok: true, value: [2, 0, 1] }],
    ['0', { ok: false, message: '"0": numbers start at 1 and ranges go up' }],
    ['4-2', { ok: false, message: '"4-2": numbers start at 1 and ranges go up' }],
    ['x', { ok: false, message: '"x" is not a number or a range' }],
    ['', { ok: false, message: 'give sample numbers, e.g. 1-4 or 2,5,9' }],
    ['1-100', { ok: false, message: 'at most 32 samples at a time' }],
  ])('%j', (text, expected) => expect(parseIndexList(text)).toEqual(expected));
});

describe('classifyLogLine', () => {
  it.each([
    ['Traceback (most recent call last):', 'error'],
    ['torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB', 'error'],
    ['[rank0]: RuntimeError: NCCL error', 'error'],
    ['ValueError: Undefined dataset demo in dataset_info.json.', 'error'],
    ['OSError: [Errno 28] No space left on device', 'error'],
    ['[ERROR|2026-06-12 12:00:00] llamafactory.x:1 >> bad', 'error'],
    ['[WARNING|2026-06-12 12:00:00] llamafactory.x:1 >> careful', 'warning'],
    ['/x.py:3: FutureWarning: `foo` is deprecated', 'warning'],
    [' 12/375 [00:41<20:31, 3.39s/it]', 'progress'],
    ['Running tokenizer on dataset: 45%|████▌     | 90/200', 'progress'],
    ["{'loss': 0.8655, 'learning_rate': 8.0557e-05, 'epoch': 0.98}", 'info'],
    ['[INFO|2026-06-12 12:00:00] llamafactory.launcher:144 >> Loading dataset demo...', 'info'],
  ])('%j is %s', (line, level) => expect(classifyLogLine(line)).toBe(level));

  it('keeps the last redraw of a carriage-return line', () => {
    expect(lastRedraw(' 1/9 [..]\r 2/9 [..]\r 3/9 [..]')).toBe(' 3/9 [..]');
    expect(lastRedraw('plain')).toBe('plain');
    expect(lastRedraw('\r')).toBe('');
  });
});

it.each([
  [
    ['env', 'A=1', 'B=x y', 'llamafactory-cli', 'train', 'a.yaml'],
    { command: ['llamafactory-cli', 'train', 'a.yaml'], env: ['A=1', 'B=x y'] },
  ],
  [['llamafactory-cli', 'train'], { command: ['llamafactory-cli', 'train'], env: [] }],
  [['env', 'A=1'], { command: [], env: ['A=1'] }],
])('splitEnvCommand(%j)', (argv, expected) => expect(splitEnvCommand(argv)).toEqual(expected));
