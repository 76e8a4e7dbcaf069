import { describe, expect, it } from 'vitest';
import { cutMiddle, cutRunId, wrapWords } from '../../src/core/textfit.js';

describe('cutMiddle', () => {
  it.each([
    ['run 20261208-003905-tiny-qwen2-vl-demo', 40, 'run 20261208-003905-tiny-qwen2-vl-demo'],
    ['run 20261208-003905-tiny-qwen2-vl-demo', 20, 'run 202612…2-vl-demo'],
    ['export 20261208-003905-tiny-qwen2-vl-demo', 20, 'export 202…2-vl-demo'],
    ['影像影像影像', 7, '影…影像'],
  ])('%s in %i cells', (text, width, cut) => expect(cutMiddle(text, width)).toBe(cut));
});

describe('cutRunId', () => {
  it('keeps the timestamp whole and the end, so two runs of one day stay apart', () => {
    const a = cutRunId('20261208-003905-tiny-qwen2-vl-demo', 22);
    const b = cutRunId('20261208-011502-tiny-qwen2-vl-demo', 22);
    const c = cutRunId('20261208-003905-tiny-qwen2-vl-demo-2', 22);
    expect([a, b, c]).toEqual(['20261208-003905…l-demo', '20261208-011502…l-demo', '20261208-003905…demo-2']);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(a).toHaveLength(22);
    expect(cutRunId('short-id', 22)).toBe('short-id');
  });
});

describe('wrapWords', () => {
  it.each([
    ['Axial chest CT with a nodule', 10, ['Axial', 'chest CT', 'with a', 'nodule']],
    ['a  b', 10, ['a b']],
    ['abcdefghijkl', 5, ['abcde', 'fghij', 'kl']],
    ['one\ntwo three', 6, ['one', 'two', 'three']],
  ])('%j in %i cells', (text, width, lines) => {
    expect(wrapWords(text, width)).toEqual(lines);
    for (const l of wrapWords(text, width)) expect(l.startsWith(' ')).toBe(false);
  });
});
