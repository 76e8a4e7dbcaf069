import { afterEach, expect, it } from 'vitest';
import { App } from '../../src/ui/App.js';
import { COLOR_THEME } from '../../src/ui/theme.js';
import { AskSourceContext, type AskSource, type DirListing } from '../../src/ui/ask/source.js';
import type { Transcript } from '../../src/core/transcript.js';
import { KEY, renderTree, type Tui } from './harness.js';
import { deferred, FakeSource, gpuState } from './fake-source.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

/** A workspace with two models and a folder holding a DICOM series and a PNG. */
class FakeAsk implements AskSource {
  prepared: { files: string[]; window: string; slices: string }[] = [];
  asked: { target: string; images: string[]; question: string }[] = [];
  saved: Transcript[] = [];
  gate = deferred<void>();
  async listTargets() {
    return [
      { ref: 'model:tiny-qwen2-vl', label: 'model tiny-qwen2-vl', served: false },
      { ref: 'run:r1', label: 'run r1', served: true },
    ];
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
  async ask(target: string, images: string[], question: string, onToken: (t: string) => void) {
    this.asked.push({ target, images, question });
    const words = target.startsWith('run') ? ['Axial ', 'CT ', 'of the chest.'] : ['Some ', 'image.'];
    onToken(words[0]!);
    await this.gate.promise;
    for (const w of words.slice(1)) onToken(w);
    return { answer: words.join(''), seconds: 1.5, device: target.startsWith('run') ? 'server http://127.0.0.1:8000/v1' : 'cpu' };
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
  expect(ask.asked).toEqual([
    { target: 'model:tiny-qwen2-vl', images: ['/ws/scans/scan-0.png'], question: 'What is shown?' },
    { target: 'run:r1', images: ['/ws/scans/scan-0.png'], question: 'What is shown?' },
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
