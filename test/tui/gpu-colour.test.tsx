/**
 * Colour with meaning, and none under NO_COLOR. chalk fixes its colour level when first imported, so this
 * file forces colours on before it loads ink (vitest gives each test file its own process).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { attributeProcesses, parseComputeApps, parseGpuRows } from '../../src/core/gpu.js';
import { themeFromEnv } from '../../src/ui/theme.js';

process.env.FORCE_COLOR = '1';
const { render } = await import('ink-testing-library');
const { GpuPanel } = await import('../../src/ui/gpu/GpuPanel.js');

const FIX = join(import.meta.dirname, '..', 'fixtures', 'gpu');
const fixture = (p: string) => readFileSync(join(FIX, p), 'utf8');
const samples = parseGpuRows(fixture('h200x2/stream-1hz.csv'), fixture('h200x2/query-gpu.fields').trim().split(',')).slice(0, 30);
const processes = attributeProcesses(parseComputeApps(fixture('h200x2/apps-load-1.csv')), new Set([703]), new Map([[703, 'python3']]));
const COLOUR = /\u001b\[(3[0-7]|9[0-7]|38;[0-9;]+)m/;
const plain = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

it('colours by default and none with NO_COLOR set, with the same text', () => {
  const colour = render(<GpuPanel samples={samples} processes={processes} width={100} theme={themeFromEnv({})} />).lastFrame() ?? '';
  const mono = render(<GpuPanel samples={samples} processes={processes} width={100} theme={themeFromEnv({ NO_COLOR: '1' })} />).lastFrame() ?? '';
  expect(COLOUR.test(colour)).toBe(true);
  expect(COLOUR.test(mono)).toBe(false);
  expect(plain(colour)).toBe(plain(mono));
});
