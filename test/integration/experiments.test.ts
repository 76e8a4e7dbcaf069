/**
 * Experiments with the real llamafactory-cli on the tiny model: a TensorBoard run whose event files hold the loss,
 * a run queued after it that starts only once it has ended (the CLI that queued it long gone), the two compared
 * with their differing learning rate, a queued run taken off the queue, and a two-point sweep that ends with its
 * comparison.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { DATASET, lastJson, makeWorkspace, medtune, strayProcesses, waitUntil, type TestWorkspace } from './harness.js';

// A few steps with an eval at the end: enough for a loss and an eval-loss point, short on 2 cores.
const TINY = [
  '--dataset',
  DATASET,
  '--profile',
  'cpu',
  '--set',
  'max_steps=3',
  '--set',
  'logging_steps=1',
  '--set',
  'save_steps=100',
  '--set',
  'eval_strategy=steps',
  '--set',
  'eval_steps=3',
  '--set',
  'per_device_eval_batch_size=2',
];

interface RunJson {
  id: string;
  status: string;
  queue?: { position: number; after?: string };
}

interface ComparisonJson {
  runs: Array<{
    id: string;
    status: string;
    curves: { loss: { steps: number[]; values: number[] }; evalLoss: { steps: number[]; values: number[] } };
    scores: { evalLoss: number | null; finalLoss: number | null; wallSeconds: number | null; samplesPerSecond: number | null };
  }>;
  differing: Array<{ key: string; values: unknown[] }>;
}

/** The scalar tags and train/loss values of TensorBoard event files, read by tensorboard's own reader in the venv. */
async function readTensorboard(python: string, dir: string): Promise<{ tags: string[]; loss: Array<[number, number]> }> {
  const script = [
    'import json, sys',
    'from tensorboard.backend.event_processing.event_accumulator import EventAccumulator',
    'a = EventAccumulator(sys.argv[1]); a.Reload()',
    "tags = a.Tags()['scalars']",
    "loss = [[e.step, e.value] for e in a.Scalars('train/loss')] if 'train/loss' in tags else []",
    "print(json.dumps({'tags': tags, 'loss': loss}))",
  ].join('\n');
  const r = await execa(python, ['-c', script, dir]);
  return JSON.parse(r.stdout) as { tags: string[]; loss: Array<[number, number]> };
}

describe('experiments: trackers, the queue, comparison, sweeps', () => {
  let t: TestWorkspace;
  beforeAll(async () => {
    t = await makeWorkspace('experiments');
  });
  afterAll(async () => {
    for (const pid of strayProcesses(t.ws)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await t.cleanup();
  });

  const runs = async () => lastJson<RunJson[]>((await medtune(t.ws, ['runs', '--json'])).stdout);
  const statusOf = async (id: string) => (await runs()).find((r) => r.id === id)?.status;

  it('queues a run after a TensorBoard run, starts it only once that one has ended, and compares the two', async () => {
    const first = await medtune(t.ws, [
      'train',
      ...TINY,
      '--model',
      t.modelDir,
      '--set',
      'report_to=tensorboard',
      '--set',
      'learning_rate=1e-4',
      '--name',
      'tb',
      '--detach',
      '--json',
    ]);
    expect(first.exitCode, first.all?.slice(-2000)).toBe(0);
    const a = lastJson<{ id: string }>(first.stdout).id;

    // The CLI that queues it exits at once: the queue lives in run.json, not in a process.
    const queued = await medtune(t.ws, [
      'train',
      ...TINY,
      '--model',
      t.modelDir,
      '--set',
      'learning_rate=5e-4',
      '--name',
      'next',
      '--after',
      a,
      '--json',
    ]);
    expect(queued.exitCode, queued.all?.slice(-2000)).toBe(0);
    const b = lastJson<{ id: string; status: string; queue: { after: string } }>(queued.stdout);
    expect(b.status).toBe('queued');
    expect(b.queue.after).toBe(a);

    // A third run queued behind the second, then taken off the queue: it never starts.
    const third = await medtune(t.ws, ['train', ...TINY, '--model', t.modelDir, '--name', 'cancelled', '--after', b.id, '--json']);
    const c = lastJson<{ id: string }>(third.stdout).id;
    const listed = await runs();
    expect(listed.filter((r) => r.queue).map((r) => [r.id, r.queue!.position])).toEqual([
      [b.id, 1],
      [c, 2],
    ]);
    const stop = await medtune(t.ws, ['stop', c, '--json']);
    expect(stop.exitCode, stop.all).toBe(0);
    expect(lastJson<{ status: string }>(stop.stdout).status).toBe('cancelled');

    // Nobody runs a medtune command from here on: the first run's supervisor starts the second as it ends.
    await waitUntil(
      async () => (await readManifest(join(t.ws.runsDir, b.id)))?.status === 'completed',
      600_000,
      'the queued run to complete',
    );
    const ma = (await readManifest(join(t.ws.runsDir, a)))!;
    const mb = (await readManifest(join(t.ws.runsDir, b.id)))!;
    expect(ma.status).toBe('completed');
    expect(Date.parse(mb.attempts[0]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(ma.attempts[0]!.endedAt!));
    expect(mb.queue).toBeUndefined();
    const mc = (await readManifest(join(t.ws.runsDir, c)))!;
    expect(mc.status).toBe('cancelled');
    expect(mc.attempts).toEqual([]);
    expect(await statusOf(c)).toBe('cancelled');

    // TensorBoard's event files are in the run folder and hold the loss of every logged step.
    const tbRoot = join(t.ws.runsDir, a, 'output', 'runs');
    const [logdir] = readdirSync(tbRoot);
    const tb = await readTensorboard(t.venv.python, join(tbRoot, logdir!));
    expect(tb.tags).toContain('train/loss');
    expect(tb.tags).toContain('eval/loss');
    expect(tb.loss.map(([step]) => step)).toEqual([1, 2, 3]);

    const compared = await medtune(t.ws, ['runs', 'compare', a, b.id, '--json']);
    expect(compared.exitCode, compared.all?.slice(-2000)).toBe(0);
    const cmp = lastJson<ComparisonJson>(compared.stdout);
    expect(cmp.runs.map((r) => r.id)).toEqual([a, b.id]);
    expect(cmp.differing.find((d) => d.key === 'learning_rate')?.values).toEqual([1e-4, 5e-4]);
    expect(cmp.differing.map((d) => d.key)).not.toContain('output_dir');
    // The curve of the first run is the loss TensorBoard recorded.
    expect(cmp.runs[0]!.curves.loss.steps).toEqual([1, 2, 3]);
    cmp.runs[0]!.curves.loss.values.forEach((v, i) => {
      expect(v).toBeCloseTo(tb.loss[i]![1], 3);
    });
    for (const r of cmp.runs) {
      expect(r.curves.evalLoss.steps).toEqual([3]);
      expect(r.scores.wallSeconds).toBeGreaterThan(0);
      expect(r.scores.samplesPerSecond).toBeGreaterThan(0);
    }
    const text = await medtune(t.ws, ['runs', 'compare', a, b.id], {});
    expect(text.stdout).toMatch(/learning_rate/);
    expect(text.stdout).toContain(`● ○  ${a}`);
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 1_200_000);

  it('sweeps two learning rates and ends with the comparison, best first by eval loss', async () => {
    const r = await medtune(t.ws, ['sweep', ...TINY, '--model', t.modelDir, '--grid', 'learning_rate=1e-4,1e-3', '--json'], {
      timeout: 1_200_000,
    });
    expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
    const s = lastJson<ComparisonJson & { id: string; done: boolean }>(r.stdout);
    expect(s.done).toBe(true);
    expect(s.runs).toHaveLength(2);
    expect(s.runs.every((x) => x.status === 'completed')).toBe(true);
    expect(s.runs.map((x) => x.id.replace(/^.*-(learning_rate-.+)$/, '$1')).sort()).toEqual(['learning_rate-1e-3', 'learning_rate-1e-4']);
    const evals = s.runs.map((x) => x.scores.evalLoss!);
    expect(evals[0]).toBeLessThanOrEqual(evals[1]!);
    expect(s.differing.map((d) => d.key)).toEqual(['learning_rate']);
    // The runs ran one at a time on CPU.
    const ms = await Promise.all(s.runs.map((x) => readManifest(join(t.ws.runsDir, x.id))));
    const spans = ms
      .map((m) => [Date.parse(m!.attempts[0]!.startedAt), Date.parse(m!.attempts[0]!.endedAt!)] as const)
      .sort((x, y) => x[0] - y[0]);
    expect(spans[1]![0]).toBeGreaterThanOrEqual(spans[0]![1]);
    const later = await medtune(t.ws, ['sweep', 'status', s.id, '--json']);
    expect(lastJson<{ runs: Array<{ id: string }> }>(later.stdout).runs.map((x) => x.id)).toEqual(s.runs.map((x) => x.id));

    // Scored later on a benchmark (a local stand-in of VQA-RAD), the sweep ranks by that score from then on.
    const fix = join(t.ws.root, 'bench-fixture');
    await execa(t.venv.python, [join(PACKAGE_ROOT, 'test', 'fixtures', 'bench', 'make_bench.py'), fix]);
    const benched = await medtune(t.ws, [
      'sweep',
      'status',
      s.id,
      '--bench',
      'vqa-rad',
      '--bench-source',
      join(fix, 'vqa-rad'),
      '--bench-limit',
      '2',
      '--json',
    ]);
    expect(benched.exitCode, benched.all?.slice(-2000)).toBe(0);
    const b = lastJson<{ rank: string; runs: Array<{ id: string; scores: { bench: Array<{ bench: string; questions: number }> } }> }>(
      benched.stdout,
    );
    expect(b.rank).toBe('bench:vqa-rad');
    for (const run of b.runs) expect(run.scores.bench).toEqual([expect.objectContaining({ bench: 'vqa-rad', questions: 2 })]);
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 1_500_000);
});
