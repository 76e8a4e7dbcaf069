import { afterEach, describe, expect, it } from 'vitest';
import { KEY, renderApp, type Tui } from './harness.js';
import { FakeSource, makeDataset, makeRun } from './fake-source.js';
import { MONO_THEME } from '../../src/ui/theme.js';
import { SCREENS, SCREEN_TITLES } from '../../src/ui/keys.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

function workspace(): FakeSource {
  const src = new FakeSource();
  src.runs = [
    makeRun('20261127-120000-tiny-qwen2-vl-demo'),
    makeRun('r-oom', { status: 'failed', cause: { code: 'CUDA_OOM', summary: 'CUDA ran out of memory at step 12', next: 'lower the batch size', evidence: 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB because the allocator could not find a block this large' } }),
  ];
  src.logs.set('20261127-120000-tiny-qwen2-vl-demo', ['x'.repeat(300), 'Traceback (most recent call last):']);
  src.datasets = [makeDataset('medtrinity-sample-with-a-rather-long-name'), makeDataset('mt-ct')];
  src.models = [{ name: 'tiny-qwen2-vl', path: '/ws/models/tiny-qwen2-vl', kind: 'tiny', template: 'qwen2_vl', bytes: 12_000_000 }];
  src.exports = [{ name: 'merged', dir: '/ws/demo/exports/merged', runId: 'r-oom', ok: false }];
  return src;
}

const ANCHOR: Record<(typeof SCREENS)[number], string> = {
  home: 'Runs',
  data: 'Modalities',
  train: 'New training run',
  monitor: 'enter watches one',
  export: 'export name',
  compare: 'base model',
  ask: 'second model',
  gpu: 'on the GPUs',
};

it('number keys open every screen, the tab bar marks it, and esc goes back', async () => {
  tui = renderApp({ source: workspace() });
  await tui.waitFor(ANCHOR.home);
  for (const [i, s] of SCREENS.entries()) {
    await tui.press(String(i + 1));
    const screen = await tui.waitFor(ANCHOR[s]);
    expect(screen.split('\n')[0]).toContain(` ${i + 1} ${SCREEN_TITLES[s]} `);
  }
  await tui.press(KEY.esc);
  await tui.waitFor(ANCHOR.ask);
  await tui.press(KEY.esc);
  await tui.waitFor(ANCHOR.compare);
});

it('? shows every key of the screen, dimming those that do nothing now, and closes again', async () => {
  tui = renderApp({ source: workspace(), initialScreen: 'monitor' });
  await tui.waitFor(ANCHOR.monitor);
  await tui.press('?');
  const s = await tui.waitFor('Everywhere');
  expect(s).toContain('Keys: Run');
  for (const help of ['watch the selected run', 'stop gracefully', 'kill the run', 'resume from the latest checkpoint', 'merge and export this run']) {
    expect(s).toContain(help);
  }
  expect(s).toContain('1 Home · 2 Data · 3 Train · 4 Run · 5 Export · 6 Compare');
  expect(s).toContain('q / ctrl-c');
  expect(s.trimEnd().split('\n').at(-1)).toBe(' esc close');
  await tui.press('1');
  expect(tui.screen()).toContain('Everywhere');
  await tui.press('?');
  await tui.waitFor((x) => !x.includes('Everywhere'));
  expect(tui.screen()).toContain('enter watches one');
});

it('q quits, ctrl-c quits, and neither does while text is being typed', async () => {
  tui = renderApp({ source: workspace(), initialScreen: 'compare' });
  await tui.waitFor('press a to ask');
  await tui.press(KEY.down, KEY.down, KEY.down, KEY.down, KEY.enter, 'q');
  await tui.waitFor(/prompt\s+q▏/);
  expect(tui.exited()).toBe(false);
  await tui.press(KEY.esc, 'q');
  await tui.waitFor(() => tui!.exited());

  tui = renderApp({ source: workspace() });
  await tui.waitFor(ANCHOR.home);
  await tui.press(KEY.ctrlC);
  await tui.waitFor(() => tui!.exited());
});

it('handles keys that arrive in one piece in order (scripted input, paste)', async () => {
  tui = renderApp({ source: workspace(), initialScreen: 'compare' });
  await tui.waitFor('press a to ask');
  await tui.press(`${KEY.down + KEY.down + KEY.down + KEY.down + KEY.enter}What modality?${KEY.enter}${KEY.up}${KEY.enter}${KEY.ctrlU}`);
  const s = await tui.waitFor(/samples\s+▏/);
  expect(s).toMatch(/prompt\s+What modality\?\s/);
});

describe('at 80×24', () => {
  it.each(SCREENS)('the %s screen fits: 23 rows, none wider than 80 columns, key bar last', async (screen) => {
    tui = renderApp({ source: workspace(), initialScreen: screen }, { columns: 80, rows: 24 });
    await tui.waitFor(ANCHOR[screen]);
    if (screen === 'monitor') {
      await tui.press(KEY.enter);
      await tui.waitFor('Traceback');
    }
    const lines = tui.screen().split('\n');
    expect(lines.length).toBeLessThanOrEqual(23);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
    expect(lines.at(-1)).toMatch(/\? help {2}q quit$/);
  });
});

it('follows a resize', async () => {
  tui = renderApp({ source: workspace() }, { columns: 80, rows: 24 });
  await tui.waitFor(ANCHOR.home);
  tui.resize(120, 40);
  await tui.waitFor((s) => s.split('\n').some((l) => [...l].length > 100));
  expect(tui.screen().split('\n').length).toBe(39);
  tui.resize(80, 24);
  await tui.waitFor((s) => s.split('\n').length === 23);
});

it('honours NO_COLOR: no colour codes, an ASCII image, marks instead of red', async () => {
  const src = workspace();
  tui = renderApp({ source: src, theme: MONO_THEME, initialScreen: 'data' });
  await tui.waitFor(ANCHOR.data);
  await tui.press(KEY.tab);
  const s = await tui.waitFor('Question');
  expect(tui.raw()).not.toMatch(/\u001b\[(3[0-9]|4[0-9]|9[0-7]|10[0-7]|38;|48;)/);
  expect(s).not.toContain('▀');
  expect(s).toMatch(/[.:=+*#%@-]{8,}/);
  await tui.press('4');
  await tui.waitFor(ANCHOR.monitor);
  await tui.press(KEY.enter);
  const m = await tui.waitFor('Traceback');
  expect(m).toContain('✗ Traceback (most recent call last):');
  expect(m).toContain('⠒ smoothed loss  x eval loss');
  expect(m).not.toContain('⠒ raw');
});
