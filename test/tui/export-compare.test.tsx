import { afterEach, expect, it } from 'vitest';
import { KEY, renderApp, type Tui } from './harness.js';
import { deferred, FakeSource, makeDataset, makeRun } from './fake-source.js';
import type { CompareRequest, ExportRequest } from '../../src/ui/source.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

function workspace(): FakeSource {
  const src = new FakeSource();
  src.runs = [
    makeRun('r-done', { status: 'completed', percent: 100, etaSeconds: null, checkpoints: [100, 200], updatedAt: '2026-06-12T13:00:00Z' }),
    makeRun('r-new', { status: 'preparing', records: [], checkpoints: [], updatedAt: '2026-06-12T14:00:00Z' }),
  ];
  src.models = [{ name: 'tiny-qwen2-vl', path: '/ws/models/tiny-qwen2-vl', kind: 'tiny', template: 'qwen2_vl', bytes: 12_000_000 }];
  src.datasets = [makeDataset('medtrinity-sample')];
  src.exports = [{ name: 'old-merged', dir: '/ws/demo/exports/old-merged', runId: 'r-old', ok: true }];
  return src;
}

it('exports a run\'s final adapter or a checkpoint with live progress and shows the verification', async () => {
  const src = workspace();
  const gate = deferred<void>();
  src.gate = gate.promise;
  tui = renderApp({ source: src, initialScreen: 'export' });
  let s = await tui.waitFor('press e to export');
  expect(s).toMatch(/▸ run\s+‹ r-done ›\s+completed, 2 ckpts/);
  expect(s).toMatch(/checkpoint\s+‹ final adapter ›/);
  // The same default name as `medtune export r-done` (core/run.ts defaultExportName).
  expect(s).toMatch(/export name\s+r-done\s/);
  expect(s).toMatch(/device\s+‹ cpu ›/);
  expect(s).toContain('✓ old-merged');
  expect(s).not.toContain('r-new');
  await tui.press(KEY.down, KEY.right);
  s = await tui.waitFor('checkpoint-200');
  expect(s).toMatch(/export name\s+r-done-ckpt200/);
  await tui.press(KEY.down, KEY.down, KEY.right, KEY.down, KEY.enter, KEY.backspace, '2', KEY.enter);
  s = await tui.waitFor(/device\s+‹ auto ›/);
  await tui.press('e');
  s = await tui.waitFor('⟳ exporting r-done-ckpt200 · merging');
  expect(s).toMatch(/merging █+░+ 37% 3\/8( layer 3\/8)?$/m);
  gate.resolve();
  s = await tui.waitFor('✓ verified');
  expect(s).toContain('✓ verified: /ws/demo/exports/r-done-ckpt200');
  expect(s).toMatch(/✓ files\s+config, safetensors/);
  expect(s).toMatch(/✓ answers\s+"The image shows a chest CT\."/);
  expect(s).toContain('✓ exported and verified');
  expect(src.callsTo('exportRun')[0]!.args[0] as ExportRequest).toEqual({ runId: 'r-done', checkpoint: 200, name: 'r-done-ckpt200', device: 'auto', shardSizeGB: 2, gguf: null });
});

it('offers GGUF types with their sizes, refuses one the model cannot take naming the one that works, and passes the choice on', async () => {
  const src = workspace();
  tui = renderApp({ source: src, initialScreen: 'export' });
  let s = await tui.waitFor('press e to export');
  expect(s).toMatch(/gguf \(llama\.cpp\)\s+‹ none ›/);
  await tui.press(KEY.down, KEY.down, KEY.down, KEY.down, KEY.down, KEY.left);
  s = await tui.waitFor('‹ q4_k_m ›');
  expect(s).toContain('use q8_0 (rows ÷256)');
  expect(s).toContain('pick a run, then press e');
  await tui.press(KEY.left);
  s = await tui.waitFor('‹ q8_0 ›');
  expect(s).toMatch(/‹ q8_0 ›\s+197 KiB\+196 KiB mmproj/);
  expect(s).toContain('press e to export');
  await tui.press('e');
  await tui.waitFor('✓ verified');
  expect((src.callsTo('exportRun')[0]!.args[0] as ExportRequest).gguf).toBe('q8_0');
});

it('refuses a bad export name as it is typed', async () => {
  tui = renderApp({ source: workspace(), initialScreen: 'export' });
  await tui.waitFor('press e to export');
  await tui.press(KEY.down, KEY.down, KEY.enter, KEY.ctrlU, '/', 'x', KEY.enter);
  const s = await tui.waitFor('letters, digits');
  expect(s).toContain('pick a run, then press e');
  expect(s).not.toContain('e export');
});

it('says what to do when nothing can be exported yet', async () => {
  const src = new FakeSource();
  tui = renderApp({ source: src, initialScreen: 'export' });
  const s = await tui.waitFor('nothing to export yet');
  expect(s).toContain('pick a run, then press e');
});

it('asks the base and the tuned model and shows their answers side by side', async () => {
  const src = workspace();
  const gate = deferred<void>();
  src.gate = gate.promise;
  tui = renderApp({ source: src, initialScreen: 'compare' });
  let s = await tui.waitFor('press a to ask both models');
  expect(s).toMatch(/base model\s+‹ tiny-qwen2-vl ›/);
  expect(s).toMatch(/tuned model\s+‹ export old-merged ›/);
  await tui.press(KEY.down, KEY.right);
  await tui.waitFor('‹ run r-done ›');
  await tui.press(KEY.down, KEY.down, KEY.enter, KEY.ctrlU, '2', ',', '5', KEY.enter, KEY.down, KEY.enter, 'W', 'h', 'a', 't', '?', KEY.enter);
  await tui.waitFor(/prompt\s+What\?/);
  await tui.press('a');
  await tui.waitFor('⟳ asking both models');
  gate.resolve();
  s = await tui.waitFor('answer 1/2');
  const header = s.split('\n').find((l) => l.includes('answer 1/2'))!;
  // The questions come from the held-out split, and the screen says so.
  expect(header).toContain('sample 2 of medtrinity-sample_val (held-out)');
  const cols = s.split('\n').find((l) => l.includes('Base'))!;
  expect(cols).toMatch(/▀+\s+Base model tiny-qwen2-vl\s+Tuned run r-done/);
  expect(s).toMatch(/modality 0\/2\s+modality 2\/2 · ROUGE-L 0\.41/);
  const answers = s.split('\n').find((l) => l.includes('This is a picture'))!;
  expect(answers).toMatch(/This is a picture of a\s+Axial chest CT; 8 mm nodule/);
  expect(s).toContain('reference: A chest CT with a nodule.');
  expect(s).toContain('[] answer');
  await tui.press(']');
  s = await tui.waitFor('answer 2/2');
  expect(s).toContain('sample 5');
  const req = src.callsTo('compare')[0]!.args[0] as CompareRequest;
  expect(req).toEqual({ base: { kind: 'model', name: 'tiny-qwen2-vl' }, tuned: { kind: 'run', id: 'r-done', checkpoint: null }, dataset: 'medtrinity-sample', samples: [1, 4], prompt: 'What?', maxNewTokens: 128 });
});

it('shows why compare is not possible in place', async () => {
  const src = workspace();
  src.compare = async () => {
    throw new (await import('../../src/core/errors.js')).MedtuneError({ doing: 'comparing the base and the tuned model', problem: 'not available in this build', code: 'NOT_AVAILABLE' });
  };
  tui = renderApp({ source: src, initialScreen: 'compare' });
  await tui.waitFor('press a to ask');
  await tui.press('a');
  const s = await tui.waitFor('not available in this build');
  expect(s).toContain('✗ While comparing the base and the tuned model: not available in this build');
});

it('keeps the answer counter whole when the question is long', async () => {
  const src = workspace();
  const long = 'Which imaging technique was used here, and what is abnormal in the region of interest shown on the left?';
  const compare = src.compare.bind(src);
  src.compare = async (req, onProgress) => {
    const r = await compare(req, onProgress);
    return { ...r, items: r.items.map((i) => ({ ...i, question: long })) };
  };
  tui = renderApp({ source: src, initialScreen: 'compare' });
  await tui.waitFor('press a to ask');
  await tui.press('a');
  const s = await tui.waitFor('answer 1/3');
  expect(s).toContain('answer 1/3 · sample 1 of medtrinity-sample_val (held-out) · Which imaging');
});

it('wraps answers at words (no line starts with a space) and marks one cut at the token limit', async () => {
  const src = workspace();
  const compare = src.compare.bind(src);
  src.compare = async (req, onProgress) => {
    const r = await compare(req, onProgress);
    return { ...r, items: r.items.map((i) => ({ ...i, tuned: 'Axial chest CT with an eight millimetre nodule in the right upper lobe and…' })) };
  };
  tui = renderApp({ source: src, initialScreen: 'compare' });
  await tui.waitFor('press a to ask');
  await tui.press('a');
  const s = await tui.waitFor('lobe and…');
  const lines = s.split('\n');
  const from = lines.findIndex((l) => l.includes('Axial chest CT'));
  const col = lines[from]!.indexOf('Axial');
  for (const l of lines.slice(from, from + 4)) expect(l.slice(col, col + 1)).not.toBe(' ');
});
