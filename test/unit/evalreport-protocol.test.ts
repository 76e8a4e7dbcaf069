import { describe, expect, it } from 'vitest';
import { LineSplitter, parseHelperLine } from '../../src/core/protocol.js';

describe('token events of the ask helper', () => {
  it('parses a streamed piece of text, Chinese included', () => {
    expect(parseHelperLine('{"event": "token", "text": "这是一张"}')).toEqual({ event: 'token', text: '这是一张' });
    expect(parseHelperLine('{"event": "token", "text": " CT"}')).toEqual({ event: 'token', text: ' CT' });
  });
  it('keeps pieces intact across chunk boundaries', () => {
    const s = new LineSplitter();
    const lines = [...s.push('{"event": "token", "te'), ...s.push('xt": "a"}\n{"event": "token", "text": "b"}\n')];
    expect(lines.map(parseHelperLine)).toEqual([
      { event: 'token', text: 'a' },
      { event: 'token', text: 'b' },
    ]);
  });
  it('treats a token event without text as a stray line', () => {
    expect(parseHelperLine('{"event": "token"}')).toMatchObject({ event: 'log' });
  });
});
