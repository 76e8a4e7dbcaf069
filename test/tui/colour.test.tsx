/**
 * Colours that carry meaning, checked in the escape codes. Ink colours through chalk, whose level is fixed
 * by the environment of the test worker (often 16 colours); true colour is set on that same chalk instance
 * here so the pixels can be read back exactly.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import chalk from 'chalk';
import { KEY, renderApp, renderTree, type Tui } from './harness.js';
import { UiContext, type UiEnv } from '../../src/ui/context.js';
import { HalfBlockImage } from '../../src/ui/components/HalfBlockImage.js';
import { COLOR_THEME } from '../../src/ui/theme.js';
import { FakeSource, gradientImage, makeRun } from './fake-source.js';

let tui: Tui | undefined;
const level = chalk.level;
beforeAll(() => {
  chalk.level = 3;
});
afterAll(() => {
  chalk.level = level;
});
afterEach(() => tui?.unmount());

it('draws each cell as ▀ with the top pixel as foreground and the bottom pixel as background', async () => {
  // HalfBlockImage reads only the theme from the environment.
  const env = { theme: COLOR_THEME } as UiEnv;
  tui = renderTree(
    <UiContext.Provider value={env}>
      <HalfBlockImage image={gradientImage(16, 16)} maxCols={16} maxRows={8} />
    </UiContext.Provider>,
  );
  await tui.waitFor('▀');
  const raw = tui.raw();
  // Top-left pixel (0, 64, 0) over (0, 64, 17); bottom-right (255, 64, 238) over (255, 64, 255).
  expect(raw).toContain('\u001b[48;2;0;64;17m\u001b[38;2;0;64;0m▀');
  expect(raw).toContain('\u001b[48;2;255;64;255m\u001b[38;2;255;64;238m▀');
  expect(tui.screen().split('\n').filter((l) => l.includes('▀'))).toHaveLength(8);
});

it('colours run states and the failure cause', async () => {
  const src = new FakeSource();
  src.runs = [makeRun('r-ok', { status: 'completed' }), makeRun('r-bad', { status: 'failed', cause: { code: 'CUDA_OOM', summary: 'out of memory', next: 'lower the batch size' } })];
  tui = renderApp({ source: src, initialScreen: 'monitor' });
  await tui.waitFor('r-bad');
  expect(tui.raw()).toMatch(/\u001b\[32mcompleted/);
  expect(tui.raw()).toMatch(/\u001b\[31m(\u001b\[1m)?failed/);
  await tui.press(KEY.down);
  await tui.waitFor(/▸ r-bad/);
  await tui.press(KEY.enter);
  await tui.waitFor('CUDA_OOM');
  expect(tui.raw()).toMatch(/\u001b\[31m(\u001b\[1m)?✗ CUDA_OOM: out of memory/);
});
