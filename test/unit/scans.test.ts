import { describe, expect, it } from 'vitest';
import {
  describeScan,
  parseSlices,
  parseWindow,
  scanKindOf,
  slicesArg,
  windowArg,
  WINDOW_PRESETS,
  type ConvertedScan,
} from '../../src/core/scans.js';
import { ChatStreamParser, chatMessage, clientHost, imageMime, isLoopback, keyPolicy } from '../../src/core/serve.js';

describe('parseWindow', () => {
  it.each([
    ['auto', 'auto'],
    [undefined, 'auto'],
    ['lung', '-600/1500'],
    ['Mediastinum', '50/350'],
    ['bone', '400/1800'],
    ['brain', '40/80'],
    ['abdomen', '40/400'],
    ['-600/1500', '-600/1500'],
    ['40.5 / 400', '40.5/400'],
  ])('%s → %s', (text, arg) => {
    const r = parseWindow(text);
    expect(r.ok).toBe(true);
    if (r.ok) expect(windowArg(r.value)).toBe(arg);
  });
  it.each(['liver', '40', '40/0', '40/-5', 'a/b', '/400'])('refuses %s with a reason', (text) => {
    const r = parseWindow(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(/window|width/);
  });
  it('presets are centre/width pairs with a positive width', () => {
    for (const p of Object.values(WINDOW_PRESETS)) expect(p.width).toBeGreaterThan(0);
  });
});

describe('parseSlices', () => {
  it.each([
    ['middle', 'middle'],
    [undefined, 'middle'],
    ['12', '12'],
    ['3,7,11', '3,7,11'],
    ['even:5', 'even:5'],
  ])('%s → %s', (text, arg) => {
    const r = parseSlices(text);
    expect(r.ok).toBe(true);
    if (r.ok) expect(slicesArg(r.value)).toBe(arg);
  });
  it.each(['even:0', 'even:17', '-1', '1,,2', 'first', Array.from({ length: 17 }, (_, i) => i).join(',')])('refuses %s', (text) => {
    expect(parseSlices(text).ok).toBe(false);
  });
});

describe('scanKindOf', () => {
  const dicm = new Uint8Array(132);
  dicm.set([0x44, 0x49, 0x43, 0x4d], 128);
  it.each([
    ['brain.nii', null, 'nifti'],
    ['brain.NII.GZ', null, 'nifti'],
    ['IM0001.dcm', null, 'dicom'],
    ['DICOMDIR', null, 'dicom'],
    ['6154', dicm, 'dicom'],
    ['scan.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47]), null],
    ['6154', new Uint8Array(10), null],
  ])('%s', (name, head, kind) => {
    expect(scanKindOf(name, head)).toBe(kind);
  });
});

describe('describeScan', () => {
  const base: ConvertedScan = {
    input: 0,
    member: 0,
    kind: 'dicom',
    modality: 'CT',
    photometric: 'MONOCHROME2',
    bits: 12,
    voiLut: false,
    window: { center: -600, width: 1500, source: 'user', function: 'LINEAR' },
    images: [{ file: 'a.png', width: 4, height: 4, slice: 11, slices: 40 }],
  };
  it('names modality, slice and window', () => {
    expect(describeScan(base)).toBe('CT, slice 12 of 40, window -600/1500 (user)');
    expect(
      describeScan({ ...base, window: null, photometric: 'PALETTE COLOR', images: [{ ...base.images[0]!, slices: 1, slice: 0 }] }),
    ).toBe('CT, one image, palette color');
    expect(describeScan({ ...base, window: null, voiLut: true })).toBe("CT, slice 12 of 40, the file's VOI LUT");
  });
});

describe('serve bind policy', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['localhost', true],
    ['::1', true],
    ['[::1]', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
    ['example.org', false],
  ])('isLoopback(%s) = %s', (host, local) => {
    expect(isLoopback(host)).toBe(local);
  });
  it('a loopback bind needs no key; any other needs one, generated unless refused', () => {
    expect(keyPolicy('127.0.0.1', undefined, false)).toEqual({ ok: true, key: 'none' });
    expect(keyPolicy('127.0.0.1', 'sekrit-key', false)).toEqual({ ok: true, key: 'given' });
    expect(keyPolicy('0.0.0.0', undefined, false)).toEqual({ ok: true, key: 'generate' });
    expect(keyPolicy('0.0.0.0', 'sekrit-key', false)).toEqual({ ok: true, key: 'given' });
    const refused = keyPolicy('0.0.0.0', undefined, true);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.code).toBe('NONLOCAL_WITHOUT_KEY');
    const weak = keyPolicy('0.0.0.0', 'abc', false);
    expect(weak.ok).toBe(false);
  });
  it('clients reach a wildcard bind through loopback', () => {
    expect(clientHost('0.0.0.0')).toBe('127.0.0.1');
    expect(clientHost('::')).toBe('[::1]');
    expect(clientHost('10.1.2.3')).toBe('10.1.2.3');
  });
});

describe('chat requests and streams', () => {
  it('puts image parts before the question', () => {
    const m = chatMessage([{ mime: 'image/png', base64: 'AAA' }], 'What?');
    expect(m.content).toEqual([
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAA' } },
      { type: 'text', text: 'What?' },
    ]);
  });
  it('knows the image types the server accepts', () => {
    expect(imageMime(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d]))).toBe('image/png');
    expect(imageMime(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(imageMime(new Uint8Array([0x52, 0x49, 0x46, 0x46]))).toBeNull();
  });
  it('reads deltas across chunk boundaries and stops at [DONE]', () => {
    const p = new ChatStreamParser();
    const ev = (s: string) => `data: ${JSON.stringify({ choices: [{ delta: { content: s } }] })}\n\n`;
    const text = `${ev('') + ev('Hel') + ev('lo')}: keep-alive\ndata: [DONE]\n\n`;
    const cut = 37;
    const out = [...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut))];
    expect(out.join('')).toBe('Hello');
    expect(p.done).toBe(true);
  });
});

describe('transcripts', () => {
  it('are named by the session start and grow by turns', async () => {
    const { newTranscript, transcriptName, withTurn } = await import('../../src/core/transcript.js');
    const t = newTranscript('2026-12-04T18:15:00.123Z');
    expect(transcriptName(t.startedAt)).toBe('ask-20261204-181500.json');
    const t2 = withTurn(t, {
      at: 'x',
      question: 'q',
      images: ['a.png'],
      notes: [],
      answers: [{ model: 'm', answer: 'a', seconds: 1, device: 'cpu' }],
    });
    expect(t.turns).toHaveLength(0);
    expect(t2.turns).toHaveLength(1);
  });
});
