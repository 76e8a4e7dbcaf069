import { afterEach, expect, it } from 'vitest';
import { KEY, renderApp, type Tui } from './harness.js';
import { FakeSource, makeRun, records, twoGpuState } from './fake-source.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

const LOG = [
  '[INFO|2026-06-12 12:00:00] llamafactory.data.loader:144 >> Loading dataset medtrinity-sample...',
  ' 12/375 [00:41<20:31, 3.39s/it]',
  "{'loss': 0.8655, 'learning_rate': 8.0557e-05, 'epoch': 0.98}",
  '[WARNING|2026-06-12 12:01:00] transformers.trainer:1 >> gradient checkpointing is off',
  'Traceback (most recent call last):',
  'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB',
];

function workspace(): FakeSource {
  const src = new FakeSource();
  src.runs = [
    makeRun('r-train', { records: records(24, 40, { evalEvery: 6 }), checkpoints: [50, 100] }),
    makeRun('r-oom', {
      status: 'failed',
      etaSeconds: null,
      cause: { code: 'CUDA_OOM', summary: 'CUDA ran out of memory at step 12', next: 'lower per_device_train_batch_size or pick a smaller profile', evidence: 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' },
    }),
    makeRun('r-done', { status: 'completed', percent: 100, etaSeconds: null, checkpoints: [] }),
  ];
  src.logs.set('r-train', LOG.slice(0, 4));
  src.logs.set('r-oom', LOG);
  return src;
}

async function watch(src: FakeSource, id: string, size?: { columns: number; rows: number }): Promise<Tui> {
  const t = renderApp({ source: src, initialScreen: 'monitor' }, size);
  await t.waitFor('enter watches one');
  const i = ['r-train', 'r-oom', 'r-done'].indexOf(id);
  for (let k = 0; k < i; k++) await t.press(KEY.down);
  await t.waitFor(new RegExp(`▸ ${id}`));
  await t.press(KEY.enter);
  await t.waitFor('Stats');
  return t;
}

it('shows phase, progress with step, epoch and ETA, the loss chart, stats, GPU and log', async () => {
  tui = await watch(workspace(), 'r-train');
  const s = await tui.waitFor('Loading dataset');
  const lines = s.split('\n');
  expect(lines[1]).toMatch(/^r-train training\s+attempt 1 · updated 12:00:05/);
  expect(lines[2]).toMatch(/^█+░+ 60%\s+step 120\/200\s+epoch 2\.40\s+ETA 12:34/);
  expect(s).toMatch(/Loss ─+ Stats/);
  expect(s).toMatch(/2\.\d+┤/);
  expect(s).toMatch(/0\.\d+┤/);
  expect(s).toMatch(/[⠁-⣿]/);
  expect(s).toMatch(/x/);
  expect(s).toContain('⠒ raw  ⠒ smoothed  x eval loss');
  expect(s).toMatch(/step 0\s+200/);
  expect(s).toMatch(/lr\s+\d\.\d\de-5/);
  expect(s).toMatch(/tok\/s\s+1\.0k [▁-█]+/);
  expect(s).toMatch(/tokens\s+79\.2k/);
  expect(s).toMatch(/peak VRAM 3\.2 GiB/);
  expect(s).toMatch(/ckpts\s+50, 100/);
  expect(s).toMatch(/GPU0 H100 80GB HB\s+8\d%.*\(peak 3\.2\)/);
  expect(s).toMatch(/^Loading dataset medtrinity-sample\.\.\.$/m);
  expect(s).toMatch(/^gradient checkpointing is off$/m);
  expect(s).toContain('s stop  k kill  x export  esc all runs');
  expect(s).not.toContain(' r resume');
});

it('shows a failed run\'s diagnosed cause and the log tail with the error', async () => {
  tui = await watch(workspace(), 'r-oom');
  const s = await tui.waitFor('Traceback');
  expect(s).toContain('✗ CUDA_OOM: CUDA ran out of memory at step 12');
  expect(s).toContain('  torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB');
  expect(s).toContain('→ lower per_device_train_batch_size or pick a smaller profile');
  expect(s.trimEnd().split('\n').at(-2)).toBe('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB');
  expect(s).toContain('r resume  x export');
  expect(s).not.toContain('s stop');
});

it('s stops gracefully, k asks before killing, r resumes', async () => {
  const src = workspace();
  tui = await watch(src, 'r-train');
  await tui.press('s');
  // What the stop left, as `medtune stop` says it: no checkpoint yet, so a new run from the saved adapter.
  let s = await tui.waitFor('✓ r-train stopped');
  expect(s).toContain('✓ r-train stopped · continue: medtune train --from r-train');
  expect(src.callsTo('stopRun')[0]!.args).toEqual(['r-train', { now: false }]);
  await tui.press('k');
  s = await tui.waitFor('Kill r-train now?');
  expect(s).toContain('y yes  n no');
  await tui.press('n');
  await tui.waitFor((x) => !x.includes('Kill r-train now?'));
  expect(src.callsTo('stopRun')).toHaveLength(1);
  await tui.press('k');
  await tui.waitFor('Kill r-train now?');
  await tui.press('y');
  await tui.waitFor('✓ r-train stopped');
  expect(src.callsTo('stopRun')[1]!.args).toEqual(['r-train', { now: true }]);

  await tui.press(KEY.esc);
  await tui.waitFor('enter watches one');
  await tui.press(KEY.down);
  await tui.waitFor(/▸ r-oom/);
  await tui.press(KEY.enter);
  await tui.waitFor('r resume');
  await tui.press('r');
  s = await tui.waitFor('resumed from checkpoint-100');
  expect(src.callsTo('resumeRun')[0]!.args).toEqual(['r-oom']);
});

it('shows a failed control action in place', async () => {
  const src = workspace();
  src.stopRun = async () => {
    throw new (await import('../../src/core/errors.js')).MedtuneError({ doing: 'stopping r-train', problem: 'run.json is missing', next: 'check `medtune runs`' });
  };
  tui = await watch(src, 'r-train');
  await tui.press('s');
  const s = await tui.waitFor('run.json is missing');
  expect(s).toContain('✗ While stopping r-train: run.json is missing');
});

it('x opens Export on this run', async () => {
  tui = await watch(workspace(), 'r-train');
  await tui.press('x');
  const s = await tui.waitFor('export name');
  expect(s).toMatch(/run\s+‹ r-train ›/);
  expect(s).toMatch(/checkpoint\s+‹ checkpoint-100 ›/);
});

it('follows new records as the run goes on', async () => {
  const src = workspace();
  tui = await watch(src, 'r-train');
  src.runs = src.runs.map((r) => (r.id === 'r-train' ? makeRun('r-train', { records: records(40, 40, { evalEvery: 6 }), step: 200, totalSteps: 200, percent: 100, status: 'completed', etaSeconds: null, checkpoints: [100, 200] }) : r));
  const s = await tui.waitFor(/r-train completed/);
  expect(s).toMatch(/█+ 100%\s+step 200\/200/);
  expect(s).toContain('ETA done');
});

it('uses a bigger chart and full GPU cards on a big terminal', async () => {
  tui = await watch(workspace(), 'r-train', { columns: 160, rows: 50 });
  const s = await tui.waitFor('Processes');
  expect(s).toMatch(/GPU 0\s+NVIDIA H100 80GB HBM3/);
  const chartRows = s.split('\n').filter((l) => /┤/.test(l)).length;
  expect(chartRows).toBeGreaterThan(12);
  expect(s.split('\n').every((l) => [...l].length <= 160)).toBe(true);
});

it('waits for the first logged step before drawing a chart', async () => {
  const src = new FakeSource();
  src.runs = [makeRun('r-new', { status: 'preparing', records: [], step: 0, totalSteps: null, percent: null, phase: { name: 'tokenizing', done: 30, total: 240 }, etaSeconds: null, checkpoints: [] })];
  tui = await watch(src, 'r-new');
  const s = tui.screen();
  expect(s).toContain('r-new preparing · tokenizing 30/240');
  expect(s).toContain('waiting for the first logged step…');
});

it('a run on two chosen GPUs says so in its header and marks both GPUs in the panel', async () => {
  const src = new FakeSource();
  src.runs = [makeRun('r-ddp', { records: records(24, 40), scale: { processes: 2, nodes: 1, devices: ['0', 'GPU-bbbb'] } })];
  tui = renderApp({ source: src, initialScreen: 'monitor', gpu: twoGpuState() }, { columns: 120, rows: 30 });
  await tui.waitFor('enter watches one');
  await tui.press(KEY.enter);
  const s = await tui.waitFor('Stats');
  expect(s).toMatch(/attempt 1 · 2 processes on GPU 0,GPU-bbbb/);
  expect(s).toMatch(/◆GPU0 /);
  expect(s).toMatch(/◆GPU1 /);
});

it('a one-process run without chosen GPUs marks none', async () => {
  const src = new FakeSource();
  src.runs = [makeRun('r-one', { records: records(24, 40), scale: { processes: 1, nodes: 1, devices: null } })];
  tui = renderApp({ source: src, initialScreen: 'monitor', gpu: twoGpuState() }, { columns: 120, rows: 30 });
  await tui.waitFor('enter watches one');
  await tui.press(KEY.enter);
  const s = await tui.waitFor('Stats');
  expect(s).not.toContain('◆');
  expect(s).not.toContain('processes on');
});
