/**
 * Scale-out on CPU, for real: the tiny Qwen2-VL trained by two gloo DDP processes through LLaMA-Factory's own
 * torchrun relaunch, under medtune's supervisor (both ranks train, the loss falls, stop ends both, resume
 * continues); one rank killed and diagnosed from torchrun's summary; two "nodes" on one host meeting at a
 * loopback master.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import { descendants, isAlive } from '../../src/runtime/proctree.js';
import { DATASET, lastJson, makeWorkspace, medtune, killStrayProcesses, strayProcesses, waitUntil, type TestWorkspace } from './harness.js';

interface Status {
  id: string;
  status: string;
  step: number;
  attempts: number;
  records: Array<{ step: number; loss?: number }>;
  cause: { code: string; summary: string; next: string; evidence?: string } | null;
  checkpoints: number[];
  scale?: { processes: number; nodes: number; devices: string[] | null };
}

const TINY = [
  '--dataset',
  DATASET,
  '--profile',
  'cpu',
  '--set',
  'logging_steps=1',
  '--set',
  'learning_rate=0.005',
  '--set',
  'save_total_limit=2',
];

/** The torchrun workers of a run: processes running LLaMA-Factory's launcher.py, with their RANK. */
function ranksOf(pid: number): Array<{ pid: number; rank: number }> {
  const out: Array<{ pid: number; rank: number }> = [];
  for (const p of descendants(pid)) {
    try {
      const cmd = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      if (!cmd.includes('llamafactory/launcher.py') || cmd.includes('torchrun') || cmd.includes('torch.distributed.run')) continue;
      const env = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
      const rank = env.find((e) => e.startsWith('RANK='));
      if (rank) out.push({ pid: p.pid, rank: Number(rank.slice(5)) });
    } catch {
      // gone
    }
  }
  return out.sort((a, b) => a.rank - b.rank);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('distributed training on CPU (gloo)', () => {
  let t: TestWorkspace;
  beforeAll(async () => {
    t = await makeWorkspace('dist');
  }, 600_000);
  afterAll(async () => {
    killStrayProcesses(t.ws);
    await t.cleanup();
  });

  const status = async (id: string): Promise<Status> => {
    const r = await medtune(t.ws, ['status', id, '--json', '--records']);
    if (r.exitCode !== 0) throw new Error(`medtune status ${id} exited ${r.exitCode}: ${r.all?.slice(-1500)}`);
    return lastJson<Status>(r.stdout);
  };

  it('two DDP processes train under the supervisor; stop ends both ranks; resume continues to the end', async () => {
    const dry = await medtune(t.ws, [
      'train',
      ...TINY,
      '--model',
      t.modelDir,
      '--nproc',
      '2',
      '--set',
      'max_steps=30',
      '--dry-run',
      '--json',
    ]);
    expect(dry.exitCode, dry.all?.slice(-2000)).toBe(0);
    const plan = lastJson<{ env: Record<string, string>; yaml: string; distributed: { worldSize: number; effectiveBatch: number } }>(
      dry.stdout,
    );
    expect(plan.env).toMatchObject({ FORCE_TORCHRUN: '1', NPROC_PER_NODE: '2', NNODES: '1', NODE_RANK: '0' });
    expect(plan.yaml).toMatch(/^ddp_backend: gloo$/m);
    expect(plan.distributed.worldSize).toBe(2);
    expect(plan.distributed.effectiveBatch).toBe(4); // 2 processes × batch 2 × accumulation 1 (profile cpu)

    const started = await medtune(t.ws, [
      'train',
      ...TINY,
      '--model',
      t.modelDir,
      '--nproc',
      '2',
      '--set',
      'max_steps=60',
      '--set',
      'save_steps=5',
      '--name',
      'ddp',
      '--detach',
      '--json',
    ]);
    expect(started.exitCode, started.all?.slice(-2000)).toBe(0);
    const id = lastJson<{ id: string }>(started.stdout).id;
    // Watched on disk, not through `medtune status`: on a loaded machine a status call takes seconds, and the
    // tiny model trains several steps a second.
    const ckpt5 = join(t.ws.runsDir, id, 'output', 'checkpoint-5', 'trainer_state.json');
    await waitUntil(() => existsSync(ckpt5), 420_000, 'checkpoint-5 of the DDP run');
    const m = await readManifest(join(t.ws.runsDir, id));
    const ranks = ranksOf(m!.attempts[0]!.pid!);
    expect(ranks.map((r) => r.rank)).toEqual([0, 1]);
    const log = readFileSync(join(t.ws.runsDir, id, 'stdout.log'), 'utf8');
    expect(log).toMatch(/Process rank: 0, world size: 2, device: cpu/);
    expect(log).toMatch(/Process rank: 1, world size: 2, device: cpu/);

    const stop = await medtune(t.ws, ['stop', id, '--json'], { timeout: 300_000 });
    expect(stop.exitCode, stop.all?.slice(-2000)).toBe(0);
    for (const r of ranks) expect(isAlive(r.pid), `rank ${r.rank} (pid ${r.pid}) after stop`).toBe(false);
    expect(strayProcesses(t.ws)).toEqual([]);
    const stopped = await status(id);
    expect(stopped.status).toBe('stopped');
    expect(stopped.step).toBeLessThan(60);
    expect(stopped.scale).toEqual({ processes: 2, nodes: 1, devices: null });

    const resumed = await medtune(t.ws, ['resume', id, '--json'], { timeout: 600_000 });
    expect(resumed.exitCode, resumed.all?.slice(-2000)).toBe(0);
    const done = await status(id);
    expect(done.status, JSON.stringify(done.cause)).toBe('completed');
    expect(done.step).toBe(60);
    expect(done.attempts).toBe(2);
    // trainer_log.jsonl comes from rank 0 alone: one record per step, not one per rank.
    const steps = done.records.map((r) => r.step);
    expect(new Set(steps).size).toBe(steps.length);
    expect(Math.max(...steps)).toBe(60);
    const losses = done.records.map((r) => r.loss).filter((l): l is number => typeof l === 'number');
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 1_200_000);

  it("one rank killed: the run fails with that rank named from torchrun's summary, and no rank is left", async () => {
    const started = await medtune(t.ws, [
      'train',
      ...TINY,
      '--model',
      t.modelDir,
      '--nproc',
      '2',
      '--set',
      'max_steps=200',
      '--set',
      'save_steps=100',
      '--name',
      'rank-killed',
      '--detach',
      '--json',
    ]);
    expect(started.exitCode, started.all?.slice(-2000)).toBe(0);
    const id = lastJson<{ id: string }>(started.stdout).id;
    await waitUntil(async () => (await status(id)).step >= 2, 420_000, 'the run to train');
    const m = await readManifest(join(t.ws.runsDir, id));
    const ranks = ranksOf(m!.attempts[0]!.pid!);
    expect(ranks).toHaveLength(2);
    process.kill(ranks[1]!.pid, 'SIGKILL');
    await waitUntil(async () => (await status(id)).status === 'failed', 180_000, 'the run to be marked failed');
    const failed = await status(id);
    expect(failed.cause?.summary).toMatch(/^Worker rank 1 was killed with SIGKILL/);
    expect(failed.cause?.evidence).toMatch(/^rank 1: exitcode -9/);
    await waitUntil(() => strayProcesses(t.ws).length === 0, 60_000, 'every rank to end');
  }, 900_000);

  it('two nodes on one host (NODE_RANK 0 and 1, loopback master) train one model together', async () => {
    const master = `127.0.0.1:${await freePort()}`;
    const node = (rank: number) =>
      medtune(t.ws, [
        'train',
        ...TINY,
        '--model',
        t.modelDir,
        '--set',
        'max_steps=6',
        '--nnodes',
        '2',
        '--node-rank',
        String(rank),
        '--master',
        master,
        '--name',
        `node${rank}`,
        '--detach',
        '--json',
      ]);
    const [n0, n1] = await Promise.all([node(0), node(1)]);
    expect(n0.exitCode, n0.all?.slice(-2000)).toBe(0);
    expect(n1.exitCode, n1.all?.slice(-2000)).toBe(0);
    const r0 = lastJson<{ id: string; otherNodes: Array<{ nodeRank: number; line: string }> }>(n0.stdout);
    const r1 = lastJson<{ id: string }>(n1.stdout);
    expect(r0.otherNodes).toHaveLength(1);
    expect(r0.otherNodes[0]!.line).toContain(`--nnodes 2 --node-rank 1 --master ${master}`);
    await waitUntil(
      async () =>
        ['completed', 'failed'].includes((await status(r0.id)).status) && ['completed', 'failed'].includes((await status(r1.id)).status),
      600_000,
      'both nodes to finish',
    );
    const [s0, s1] = [await status(r0.id), await status(r1.id)];
    expect(s0.status, JSON.stringify(s0.cause)).toBe('completed');
    expect(s1.status, JSON.stringify(s1.cause)).toBe('completed');
    expect(s0.step).toBe(6);
    for (const [id, rank] of [
      [r0.id, 0],
      [r1.id, 1],
    ] as const) {
      const log = readFileSync(join(t.ws.runsDir, id, 'stdout.log'), 'utf8');
      expect(log).toMatch(new RegExp(`Process rank: ${rank}, world size: 2`));
    }
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 900_000);
});
