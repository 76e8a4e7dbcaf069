import { afterEach, expect, it } from 'vitest';
import { KEY, renderApp, type Tui } from './harness.js';
import { deferred, FakeSource, hostState, makeDataset, makeRun } from './fake-source.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

function workspace(): FakeSource {
  const src = new FakeSource();
  src.runs = [
    makeRun('r-train', { updatedAt: '2026-06-12T12:00:05Z' }),
    makeRun('r-done', { status: 'completed', percent: 100, step: 200, totalSteps: 200, etaSeconds: null, updatedAt: '2026-06-11T09:00:00Z' }),
    makeRun('r-oom', { status: 'failed', updatedAt: '2026-06-10T18:00:00Z', cause: { code: 'CUDA_OOM', summary: 'CUDA ran out of memory at step 12', next: 'lower the batch size' } }),
  ];
  src.datasets = [makeDataset('medtrinity-sample'), makeDataset('mt-ct', { rows: 5000, valRows: 250 })];
  src.models = [{ name: 'tiny-qwen2-vl', path: '/ws/models/tiny-qwen2-vl', kind: 'tiny', template: 'qwen2_vl', bytes: 12_000_000 }];
  return src;
}

it('shows runs with status, progress, step, latest loss and ETA; datasets; models; the GPU strip', async () => {
  tui = renderApp({ source: workspace() });
  const s = await tui.waitFor('tiny-qwen2-vl');
  const train = s.split('\n').find((l) => l.includes('r-train'))!;
  expect(train).toMatch(/▸ r-train\s+training\s+█+░+\s+60%\s+120\/200 loss 0\.\d{4}\s+12:34/);
  expect(s).toMatch(/r-done\s+completed\s+█{8}\s+100%.*done/);
  expect(s).toContain('r-oom');
  expect(s).toContain('CUDA_OOM: CUDA ran out of memory at step 12');
  expect(s).toMatch(/medtrinity-sample\s+190 rows \+10 val/);
  expect(s).toMatch(/mt-ct\s+5\.0k rows \+250 val/);
  expect(s).toMatch(/tiny-qwen2-vl\s+tiny\s+11\.4 MiB/);
  expect(s).toMatch(/GPU0 H100 80GB HB\s+8\d%/);
  expect(s).toContain('↑↓ runs  enter open run  n new run  d demo  ? help  q quit');
});

it('long runs show their whole step count, in one aligned column for every row (80 columns)', async () => {
  const src = workspace();
  src.runs.push(
    makeRun('r-25m-full', { step: 18_442, totalSteps: 30_306, percent: 60.9, updatedAt: '2026-06-12T12:00:06Z' }),
    makeRun('r-million', { status: 'completed', step: 1_000_000, totalSteps: 1_000_000, percent: 100, etaSeconds: null, updatedAt: '2026-06-09T09:00:00Z' }),
  );
  tui = renderApp({ source: src }, { columns: 80 });
  const s = await tui.waitFor('r-million');
  const rows = s.split('\n').filter((l) => /r-(train|done|25m-full|million)/.test(l));
  expect(rows).toHaveLength(4);
  expect(s).toContain('18442/30306');
  expect(s).toContain('1000000/1000000');
  expect(s).toMatch(/100%\s+1000000\/1000000 loss/);
  // Every row's loss column starts at the same place.
  const at = rows.map((l) => l.indexOf(' loss '));
  expect(new Set(at).size).toBe(1);
  for (const l of rows) expect(l.length).toBeLessThanOrEqual(80);
});

it('orders active runs first and opens the selected run with enter', async () => {
  tui = renderApp({ source: workspace() });
  await tui.waitFor('r-oom');
  await tui.press(KEY.down, KEY.down);
  await tui.waitFor(/▸ r-oom/);
  await tui.press(KEY.enter);
  const s = await tui.waitFor('Stats');
  expect(s.split('\n')[1]).toMatch(/^r-oom failed/);
});

it('offers the demo in an empty workspace, shows its progress live, then opens its run', async () => {
  const src = new FakeSource();
  const gate = deferred<void>();
  src.gate = gate.promise;
  tui = renderApp({ source: src });
  const s = await tui.waitFor('Welcome');
  expect(s).toContain('This workspace is empty');
  expect(s).toContain('Press d to run the demo');
  expect(s).not.toContain('enter open run');
  await tui.press('d');
  const running = await tui.waitFor('preparing demo data');
  expect(running).toMatch(/⟳ demo · preparing demo data █+░+ 25% 50\/200/);
  expect(running).not.toMatch(/ d demo /);
  gate.resolve();
  const monitor = await tui.waitFor('Stats');
  expect(monitor).toMatch(/demo-1 training/);
  expect(src.callsTo('runDemo')).toHaveLength(1);
});

it('shows the CPU and RAM line where there is no GPU', async () => {
  tui = renderApp({ source: workspace(), gpu: hostState() });
  const s = await tui.waitFor('No GPU');
  expect(s).toMatch(/Host ─+/);
  expect(s).toContain('No GPU (nvidia-smi not found on PATH) · CPU  35% of 2 cores');
});

it('shows a read error in place and keeps the rest of the screen', async () => {
  const src = workspace();
  src.listRuns = async () => {
    throw new (await import('../../src/core/errors.js')).MedtuneError({ doing: 'listing runs', problem: 'runs/ is not readable', next: 'check its permissions' });
  };
  tui = renderApp({ source: src });
  const s = await tui.waitFor('runs/ is not readable');
  expect(s).toContain('✗ While listing runs: runs/ is not readable');
  expect(s).toContain('→ check its permissions');
  expect(s).toContain('medtrinity-sample');
});

it('marks runs with space and compares them side by side with c: one marker per run, the differing learning rate', async () => {
  tui = renderApp({ source: workspace() });
  await tui.waitFor('space marks runs to compare');
  await tui.press(' ', KEY.down, ' ');
  await tui.waitFor('2 marked, c compares');
  await tui.press('c');
  const s = await tui.waitFor('Runs side by side');
  const shown = await tui.waitFor('learning_rate');
  expect(shown).toMatch(/● ○\s+r-train/);
  expect(shown).toMatch(/■ □\s+r-done/);
  expect(shown).toMatch(/0\.0001/);
  expect(shown).toMatch(/0\.0005/);
  expect(shown).not.toContain('lora_rank');
  expect(s).toContain('c for the list');
  await tui.press('c');
  await tui.waitFor('2 marked, c compares');
});
