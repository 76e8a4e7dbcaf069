import { describe, expect, it } from 'vitest';
import { devicesHeld, planQueueStarts, type QueueFacts, type WaitingRun } from '../../src/core/queue.js';
import { reconcile } from '../../src/core/reconcile.js';
import type { RunManifest } from '../../src/core/run.js';

const run = (id: string, over: Partial<WaitingRun> = {}): WaitingRun => ({ id, devices: null, count: 1, ...over });
const facts = (over: Partial<QueueFacts> = {}): QueueFacts => ({ devices: ['cpu'], busy: new Set(), ended: new Set(), ...over });

describe('planQueueStarts', () => {
  const cases: Array<{ name: string; waiting: WaitingRun[]; facts: QueueFacts; want: Array<{ id: string; devices: string[] }> }> = [
    {
      name: 'CPU, idle: the first queued run starts, alone',
      waiting: [run('a'), run('b')],
      facts: facts(),
      want: [{ id: 'a', devices: ['cpu'] }],
    },
    { name: 'CPU, a run is going: nothing starts', waiting: [run('a')], facts: facts({ busy: new Set(['cpu']) }), want: [] },
    {
      name: 'after a run that is still going: waits, and holds nothing back',
      waiting: [run('a', { after: 'x' }), run('b')],
      facts: facts(),
      want: [{ id: 'b', devices: ['cpu'] }],
    },
    {
      name: 'after a run that ended: starts',
      waiting: [run('a', { after: 'x' })],
      facts: facts({ ended: new Set(['x']) }),
      want: [{ id: 'a', devices: ['cpu'] }],
    },
    {
      name: 'four GPUs, one busy: a sweep of one-GPU runs fills the three free ones side by side',
      waiting: [run('p1'), run('p2'), run('p3'), run('p4')],
      facts: facts({ devices: ['0', '1', '2', '3'], busy: new Set(['1']) }),
      want: [
        { id: 'p1', devices: ['0'] },
        { id: 'p2', devices: ['2'] },
        { id: 'p3', devices: ['3'] },
      ],
    },
    {
      name: 'a pinned run waits for its GPU and keeps it from later runs; others use the rest',
      waiting: [run('pinned', { devices: ['0'] }), run('any')],
      facts: facts({ devices: ['0', '1'], busy: new Set(['0']) }),
      want: [{ id: 'any', devices: ['1'] }],
    },
    {
      name: 'a run needing every GPU is not passed by later small runs',
      waiting: [run('big', { count: 2 }), run('small')],
      facts: facts({ devices: ['0', '1'], busy: new Set(['0']) }),
      want: [],
    },
    {
      name: 'two GPUs free: a two-GPU run takes both',
      waiting: [run('big', { count: 2 }), run('small')],
      facts: facts({ devices: ['0', '1'] }),
      want: [{ id: 'big', devices: ['0', '1'] }],
    },
  ];
  for (const c of cases) it(c.name, () => expect(planQueueStarts(c.waiting, c.facts)).toEqual(c.want));
});

describe('devicesHeld', () => {
  const cases: Array<{ env: Record<string, string>; all: string[]; want: string[] }> = [
    { env: {}, all: ['cpu'], want: ['cpu'] },
    { env: {}, all: ['0', '1'], want: ['0', '1'] },
    { env: { CUDA_VISIBLE_DEVICES: '1' }, all: ['0', '1'], want: ['1'] },
    { env: { CUDA_VISIBLE_DEVICES: '0, 2' }, all: ['0', '1', '2'], want: ['0', '2'] },
  ];
  for (const c of cases) it(`${JSON.stringify(c.env)} on ${c.all.join(',')}`, () => expect(devicesHeld(c.env, c.all)).toEqual(c.want));
});

describe('reconcile of a waiting run', () => {
  const manifest = (queue: boolean): RunManifest => ({
    id: 'r',
    createdAt: '2026-12-08T00:00:00Z',
    updatedAt: '2026-12-08T00:00:00Z',
    status: 'queued',
    model: '/m',
    datasets: ['d'],
    profile: 'cpu',
    outputDir: '/w/runs/r/output',
    trainYaml: '/w/runs/r/train.yaml',
    command: ['llamafactory-cli', 'train'],
    env: {},
    cwd: '/w',
    attempts: [],
    autoResume: 0,
    ...(queue ? { queue: { queuedAt: '2026-12-08T00:00:00Z', devices: null, count: 1 } } : {}),
  });
  const facts = (queue: boolean) => ({
    manifest: manifest(queue),
    supervisor: 'gone' as const,
    trainer: 'gone' as const,
    rebooted: true,
    results: false,
    step: 0,
    totalSteps: null,
    checkpoints: [],
    nowMs: Date.parse('2026-12-09T00:00:00Z'),
  });
  it('a day in the queue, through a reboot, with no supervisor: still waiting', () =>
    expect(reconcile(facts(true))).toEqual({ action: 'none' }));
  it('a launch whose supervisor never came is recorded as lost', () =>
    expect(reconcile(facts(false))).toMatchObject({ action: 'finalize', status: 'failed', cause: { code: 'SUPERVISOR_LOST' } }));
});
