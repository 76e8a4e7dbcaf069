import { afterEach, expect, it } from 'vitest';
import { App } from '../../src/ui/App.js';
import { COLOR_THEME } from '../../src/ui/theme.js';
import { AskSourceContext, type AskQuestion, type AskSource, type AskTarget, type DirListing } from '../../src/ui/ask/source.js';
import type { Transcript } from '../../src/core/transcript.js';
import { KEY, renderTree, type Tui } from './harness.js';
import { deferred, FakeSource, gpuState } from './fake-source.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

/** A workspace with two models and a folder holding a DICOM series and a PNG. */
class FakeAsk implements AskSource {
  prepared: { files: string[]; window: string; slices: string }[] = [];
  asked: ({ target: string } & AskQuestion)[] = [];
  saved: Transcript[] = [];
  gate = deferred<void>();
  constructor(
    readonly targets: AskTarget[] = [
      { ref: 'model:tiny-qwen2-vl', kind: 'model', name: 'tiny-qwen2-vl', label: 'model tiny-qwen2-vl', served: false },
      { ref: 'run:r1', kind: 'run', name: 'r1', label: 'run r1', served: true },
    ],
  ) {}
  async listTargets() {
    return this.targets;
  }
  async listDir(dir: string | null): Promise<DirListing> {
    if (dir === '/ws/scans-in') {
      return { dir, parent: '/ws', entries: [{ name: 'IM0001', path: '/ws/scans-in/IM0001', kind: 'scan' }, { name: 'IM0002', path: '/ws/scans-in/IM0002', kind: 'scan' }] };
    }
    return { dir: '/ws', parent: '/', entries: [{ name: 'scans-in', path: '/ws/scans-in', kind: 'dir' }, { name: 'xray.png', path: '/ws/xray.png', kind: 'image' }] };
  }
  async prepare(files: string[], scan: { window: string; slices: string }) {
    this.prepared.push({ files, ...scan });
    const rgb = new Uint8Array(4 * 4 * 3).fill(200);
    return { images: files.map((_, i) => `/ws/scans/scan-${i}.png`), notes: files.map((_, i) => `input ${i + 1}: CT, slice 3 of 5, window ${scan.window}`), previews: [{ width: 4, height: 4, rgb }] };
  }
  async ask(target: string, q: AskQuestion, onToken: (t: string) => void) {
    this.asked.push({ target, ...q });
    const words = target.startsWith('run') ? ['Axial ', 'CT ', 'of the chest.'] : ['Some ', 'image.'];
    onToken(words[0]!);
    await this.gate.promise;
    for (const w of words.slice(1)) onToken(w);
    return { answer: words.join(''), seconds: 1.5, device: target.startsWith('run') ? 'server http://127.0.0.1:8000/v1' : 'cpu', cut: false };
  }
  async saveTranscript(t: Transcript) {
    this.saved.push(t);
    return '/ws/transcripts/ask-x.json';
  }
}

it('picks two models, attaches a scan with the picker, streams both answers side by side and saves the transcript', async () => {
  const ask = new FakeAsk();
  tui = renderTree(
    <AskSourceContext.Provider value={ask}>
      <App source={new FakeSource()} theme={COLOR_THEME} pollMs={20} flushMs={5} gpu={gpuState()} initialScreen="ask" />
    </AskSourceContext.Provider>,
    { columns: 100, rows: 30 },
  );
  let s = await tui.waitFor('model tiny-qwen2-vl');
  expect(s).toMatch(/second model\s+‹ none ›/);
  // Second model: the tuned run.
  await tui.press(KEY.down, KEY.right, KEY.right);
  await tui.waitFor(/second model\s+‹ run r1 ›/);
  // Files: open the picker, enter the folder, attach the first scan, close.
  await tui.press(KEY.down, KEY.enter);
  await tui.waitFor('scans-in/');
  await tui.press(KEY.enter);
  await tui.waitFor('IM0001');
  await tui.press(' ');
  await tui.waitFor('✓ IM0001');
  await tui.press(KEY.esc);
  s = await tui.waitFor('the model receives 1 image');
  expect(s).toContain('images / scans');
  expect(s).toContain('1 file: IM0001');
  expect(s).toContain('input 1: CT, slice 3 of 5, window auto');
  expect(s).toContain('▀');
  // A window preset (auto → lung → mediastinum).
  await tui.press(KEY.down, KEY.right, KEY.right);
  await tui.waitFor(/window\s+‹ mediastinum ›/);
  await tui.waitFor('window mediastinum');
  expect(ask.prepared.at(-1)).toEqual({ files: ['/ws/scans-in/IM0001'], window: 'mediastinum', slices: 'middle' });
  // The question, then ask.
  await tui.press(KEY.down, KEY.down, KEY.enter, ...'What is shown?', KEY.enter);
  await tui.waitFor('press a to ask');
  await tui.press('a');
  s = await tui.waitFor('Some');
  expect(s).toContain('waiting');
  ask.gate.resolve();
  s = await tui.waitFor('of the chest.');
  expect(s).toMatch(/model tiny-qwen2-vl 1\.5 s on cpu/);
  expect(s).toMatch(/run r1 1\.5 s on server/);
  expect(s).toContain('Some image.');
  await tui.waitFor('transcript: /ws/transcripts/ask-x.json');
  const greedy = { temperature: 0, topP: 0.7 };
  expect(ask.asked).toEqual([
    { target: 'model:tiny-qwen2-vl', images: ['/ws/scans/scan-0.png'], question: 'What is shown?', sampling: greedy },
    { target: 'run:r1', images: ['/ws/scans/scan-0.png'], question: 'What is shown?', sampling: greedy },
  ]);
  const t = ask.saved.at(-1)!;
  expect(t.turns).toHaveLength(1);
  expect(t.turns[0]).toMatchObject({ question: 'What is shown?', images: ['/ws/scans/scan-0.png'], answers: [{ model: 'model tiny-qwen2-vl', answer: 'Some image.' }, { model: 'run r1', answer: 'Axial CT of the chest.' }] });
});

it('a bad slice choice is shown at the field and nothing is converted', async () => {
  const ask = new FakeAsk();
  tui = renderTree(
    <AskSourceContext.Provider value={ask}>
      <App source={new FakeSource()} theme={COLOR_THEME} pollMs={20} flushMs={5} gpu={gpuState()} initialScreen="ask" />
    </AskSourceContext.Provider>,
    { columns: 100, rows: 30 },
  );
  await tui.waitFor('model tiny-qwen2-vl');
  await tui.press(KEY.down, KEY.down, KEY.down, KEY.down, KEY.enter, KEY.ctrlU, ...'even:99', KEY.enter);
  await tui.waitFor('even:K takes 1 to 16 slices');
  expect(ask.prepared).toEqual([]);
});

it('asks about text alone, with the temperature and top-p set in the form, and a cut answer ends with …', async () => {
  const ask = new FakeAsk();
  ask.gate.resolve();
  ask.ask = async (target, q, onToken) => {
    ask.asked.push({ target, ...q });
    onToken('A CT scan uses X-rays from many angles and a computer to build');
    return { answer: 'A CT scan uses X-rays from many angles and a computer to build', seconds: 0.5, device: 'cpu', cut: true };
  };
  tui = renderTree(
    <AskSourceContext.Provider value={ask}>
      <App source={new FakeSource()} theme={COLOR_THEME} pollMs={20} flushMs={5} gpu={gpuState()} initialScreen="ask" />
    </AskSourceContext.Provider>,
    { columns: 100, rows: 30 },
  );
  await tui.waitFor('model tiny-qwen2-vl');
  // Question (6th row), then a temperature out of range (shown at its row, asking refused), then a good one.
  await tui.press(KEY.down, KEY.down, KEY.down, KEY.down, KEY.down, KEY.enter, ...'What is a CT scan?', KEY.enter);
  await tui.press(KEY.down, KEY.enter, KEY.ctrlU, ...'3', KEY.enter);
  await tui.waitFor('temperature 3 is outside 0…2');
  expect(tui.screen()).not.toContain('press a to ask');
  await tui.press(KEY.enter, KEY.ctrlU, ...'0.7', KEY.enter, KEY.down, KEY.enter, KEY.ctrlU, ...'0.9', KEY.enter);
  await tui.waitFor('press a to ask');
  await tui.press('a');
  const s = await tui.waitFor('cut at the token limit');
  expect(ask.asked).toEqual([{ target: 'model:tiny-qwen2-vl', images: [], question: 'What is a CT scan?', sampling: { temperature: 0.7, topP: 0.9 } }]);
  expect(s).toContain('to build…');
  // Wrapped at words: no answer line starts with a space.
  const answerLines = s.split('\n').slice(s.split('\n').findIndex((l) => l.includes('A CT scan')));
  expect(answerLines.slice(0, 3).every((l) => !/^ \S/.test(l))).toBe(true);
});

it('cuts long model labels in the middle, so a run and an export of one id stay apart', async () => {
  const id = '20261208-003905-tiny-qwen2-vl-demo';
  const ask = new FakeAsk([
    { ref: `export:${id}`, kind: 'export', name: id, label: `export ${id}`, served: false },
    { ref: `run:${id}-2`, kind: 'run', name: `${id}-2`, label: `run ${id}-2`, served: false },
  ]);
  tui = renderTree(
    <AskSourceContext.Provider value={ask}>
      <App source={new FakeSource()} theme={COLOR_THEME} pollMs={20} flushMs={5} gpu={gpuState()} initialScreen="ask" />
    </AskSourceContext.Provider>,
    { columns: 70, rows: 30 },
  );
  // Both ends stay: the kind and the date, and the end that tells the two ids apart.
  expect(await tui.waitFor('‹ export 2026')).toMatch(/‹ export 2026\S*…\S*-vl-demo ›/);
  await tui.press(KEY.right);
  expect(await tui.waitFor('‹ run 2026')).toMatch(/‹ run 2026\S*…\S*-demo-2 ›/);
});
