/**
 * The monitor against nvidia-smi output recorded on real GPUs, replayed by test/fixtures/gpu/replay-nvidia-smi.mjs
 * through MEDTUNE_NVIDIA_SMI: real child processes, real pipes, the recorded bytes.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/gpu.js';
import { GpuMonitor, readGpuSnapshot, type GpuMonitorOptions, type GpuMonitorState } from '../../src/runtime/gpu-monitor.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'gpu');
const REPLAYER = join(FIX, 'replay-nvidia-smi.mjs');
const U0 = 'GPU-6c6d2b6e-9078-1312-0b80-87c682177c9e';
const U1 = 'GPU-5513a10c-21a3-5c44-5fd2-4e7adcd12047';

let tmp: string;
let log: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'medtune-gpu-'));
  log = join(tmp, 'invocations.jsonl');
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function replayEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, MEDTUNE_NVIDIA_SMI: REPLAYER, MEDTUNE_REPLAY_DIR: join(FIX, dir), MEDTUNE_REPLAY_LOG: log, ...extra };
}

async function invocations(): Promise<string[][]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { args: string[] }).args);
}

/** Runs a monitor until `done(state)` holds, then stops it; returns every state seen. */
async function watch(opts: GpuMonitorOptions, done: (s: GpuMonitorState) => boolean, ms = 10_000): Promise<GpuMonitorState[]> {
  const m = new GpuMonitor(opts);
  const seen: GpuMonitorState[] = [];
  const finished = new Promise<void>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`no matching state within ${ms} ms; last: ${JSON.stringify(seen.at(-1))?.slice(0, 400)}`)),
      ms,
    );
    m.subscribe((s) => {
      seen.push(s);
      if (done(s)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  await m.start();
  try {
    await finished;
  } finally {
    await m.stop();
  }
  return seen;
}

const gpuState = (s: GpuMonitorState) => (s.mode === 'gpu' ? s : null);

describe('GpuMonitor with recorded output', () => {
  it('one H100, idle into load: one long-lived child, samples at the -lms rate, processes polled', async () => {
    const env = replayEnv('h100x1', { MEDTUNE_REPLAY_START: '12', MEDTUNE_REPLAY_APPS: 'apps-load-1.csv' });
    const seen = await watch({ env, intervalMs: 50, processIntervalMs: 200 }, (s) => (gpuState(s)?.samples.length ?? 0) >= 12);
    const last = gpuState(seen.at(-1)!)!;
    const utils = last.samples.map((s) => s.gpus[0]!.utilizationPct);
    expect(utils).toContain(0);
    expect(utils).toContain(99);
    expect(last.samples.every((s) => s.gpus.length === 1 && s.gpus[0]!.name === 'NVIDIA H100 80GB HBM3')).toBe(true);
    expect(last.processes).toEqual([
      { pid: 553, name: 'python3', gpuUuid: 'GPU-9b525c44-bcf3-a243-edb4-7a88c27a3fa6', usedMemoryMiB: 3178, owner: expect.any(String) },
    ]);
    expect(last.droppedFields).toEqual([]);

    const calls = await invocations();
    const streams = calls.filter((a) => a.includes('-lms'));
    expect(streams).toHaveLength(1);
    expect(streams[0]).toEqual([
      expect.stringMatching(/^--query-gpu=timestamp,index,uuid,/),
      '--format=csv,noheader,nounits',
      '-lms',
      '50',
    ]);
    // The probe, the stream, and compute-apps polls; never a process per sample.
    expect(calls.filter((a) => a[0]!.startsWith('--query-gpu=')).length).toBe(2);
    expect(calls.filter((a) => a[0]!.startsWith('--query-compute-apps=')).length).toBeGreaterThanOrEqual(1);
  });

  it('two H200s: the rows of one refresh are one sample; processes per GPU', async () => {
    const env = replayEnv('h200x2', { MEDTUNE_REPLAY_GPU: 'load-500ms.csv', MEDTUNE_REPLAY_APPS: 'apps-load-1.csv' });
    const seen = await watch({ env, intervalMs: 40 }, (s) => (gpuState(s)?.samples.length ?? 0) >= 8);
    const last = gpuState(seen.at(-1)!)!;
    expect(last.samples.every((s) => s.gpus.map((g) => g.uuid).join() === `${U0},${U1}`)).toBe(true);
    const loaded = last.samples.at(-1)!.gpus;
    expect(loaded.map((g) => g.memoryUsedMiB)).toEqual([3187, 4211]);
    expect(loaded.every((g) => g.clockEventReasons === 4 && g.memoryTotalMiB === 143771 && g.fanPct === null)).toBe(true);
    expect(last.processes.map((p) => [p.pid, p.gpuUuid])).toEqual([
      [703, U0],
      [704, U1],
    ]);
    // Each update carries a whole sample: never a sample with one GPU of two.
    for (const s of seen) if (s.mode === 'gpu') expect(s.samples.every((x) => x.gpus.length === 2)).toBe(true);
  });

  it("CUDA_VISIBLE_DEVICES=1 shows only that GPU and its process; the run's own process is marked", async () => {
    const comm = readFileSync('/proc/self/comm', 'utf8').trim();
    await writeFile(join(tmp, 'apps.csv'), `703, ${U0}, 3178, python3\n${process.pid}, ${U1}, 4202, ${comm}\n`);
    const env = replayEnv('h200x2', { MEDTUNE_REPLAY_GPU: 'load-500ms.csv', MEDTUNE_REPLAY_APPS: join(tmp, 'apps.csv') });
    const seen = await watch(
      { env, intervalMs: 40, visibleDevices: '1', ownPids: () => new Set([process.pid]) },
      (s) => (gpuState(s)?.samples.length ?? 0) >= 3,
    );
    const last = gpuState(seen.at(-1)!)!;
    expect(last.samples.every((s) => s.gpus.length === 1 && s.gpus[0]!.index === 1)).toBe(true);
    expect(last.processes).toEqual([{ pid: process.pid, name: comm, gpuUuid: U1, usedMemoryMiB: 4202, owner: 'run' }]);
  });

  it('recorded pids that this machine cannot see are "unknown", not claimed', async () => {
    const env = replayEnv('h200x2', { MEDTUNE_REPLAY_APPS: 'apps-load-1.csv' });
    const snap = await readGpuSnapshot({ env, ownPids: new Set([703, 704]) });
    expect(snap.mode).toBe('gpu');
    if (snap.mode !== 'gpu') return;
    // Whatever runs here under pids 703/704 is not the recorded python3 (or is absent): never "run".
    expect(snap.processes.every((p) => p.owner !== 'run')).toBe(true);
  });

  it('an older driver without memory.reserved and clocks_event_reasons: fields dropped or renamed, values still read', async () => {
    const env = replayEnv('h100x1', {
      MEDTUNE_REPLAY_GPU: 'load-500ms.csv',
      MEDTUNE_REPLAY_REJECT: 'memory.reserved,clocks_event_reasons.active',
    });
    const seen = await watch({ env, intervalMs: 40 }, (s) => (gpuState(s)?.samples.length ?? 0) >= 4);
    const last = gpuState(seen.at(-1)!)!;
    expect(last.droppedFields).toEqual(['memory.reserved']);
    const g = last.samples.at(-1)!.gpus[0]!;
    expect(g.memoryReservedMiB).toBeNull();
    expect(g.memoryUsedMiB).toBe(3187);
    expect(g.clockEventReasons).toBe(4);
    const stream = (await invocations()).find((a) => a.includes('-lms'))!;
    expect(stream[0]).toContain('clocks_throttle_reasons.active');
    expect(stream[0]).not.toContain('memory.reserved');
  });

  it('the edited bad fields: [Unknown Error], [Not Supported], a short row and garbage do not stop the stream', async () => {
    const env = replayEnv('h100x1', { MEDTUNE_REPLAY_GPU: join(FIX, 'edited-bad-fields.csv') });
    const seen = await watch({ env, intervalMs: 30 }, (s) => (gpuState(s)?.samples.length ?? 0) >= 8);
    const gpus = gpuState(seen.at(-1)!)!.samples.map((s) => s.gpus[0]!);
    expect(gpus.some((g) => g.powerW === null && g.powerLimitW === 700)).toBe(true);
    expect(gpus.some((g) => g.memoryReservedMiB === null && g.clockEventReasons === null)).toBe(true);
    expect(gpus.some((g) => g.name === 'NVIDIA H100, 80GB HBM3' && g.clockEventReasons === 0xc4)).toBe(true);
  });

  it('a child that exits is restarted, and the state says so meanwhile', async () => {
    const env = replayEnv('h100x1', { MEDTUNE_REPLAY_EXIT_AFTER: '2' });
    const seen = await watch({ env, intervalMs: 30 }, (s) => (gpuState(s)?.samples.length ?? 0) >= 6, 15_000);
    expect(seen.some((s) => s.mode === 'gpu' && /nvidia-smi stopped \(code 0\); restarting in 1 s/.test(s.warning ?? ''))).toBe(true);
    expect(gpuState(seen.at(-1)!)!.warning).toBeNull();
    expect((await invocations()).filter((a) => a.includes('-lms')).length).toBeGreaterThanOrEqual(2);
  });

  it('stop() ends the nvidia-smi child', async () => {
    const m = new GpuMonitor({ env: replayEnv('h100x1'), intervalMs: 50 });
    await m.start();
    await new Promise((r) => setTimeout(r, 200));
    const pid = (await readFile(log, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { pid: number; args: string[] })
      .find((c) => c.args.includes('-lms'))!.pid;
    expect(() => process.kill(pid, 0)).not.toThrow();
    await m.stop();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('no NVIDIA GPU: the CPU/RAM fallback with a reason', () => {
  it.each([
    [
      'a missing executable',
      { MEDTUNE_NVIDIA_SMI: join(tmpdir(), 'no-such-nvidia-smi') },
      /no-such-nvidia-smi not found \(MEDTUNE_NVIDIA_SMI=/,
    ],
    [
      'no driver',
      { MEDTUNE_REPLAY_FAIL: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." },
      /^nvidia-smi: NVIDIA-SMI has failed/,
    ],
  ])('%s', async (_what, extra, reason) => {
    const env = { ...replayEnv('h100x1'), ...extra };
    const seen = await watch({ env, intervalMs: 100 }, (s) => s.mode === 'host' && s.samples.length >= 2);
    const last = seen.at(-1)!;
    if (last.mode !== 'host') throw new Error('expected host mode');
    expect(last.reason).toMatch(reason);
    const h = last.samples.at(-1)!;
    expect(h.cpuPct).not.toBeNull();
    expect(h.memTotalMiB).toBeGreaterThan(h.memUsedMiB);
    expect(h.cpuCount).toBeGreaterThan(0);
  });

  it('nvidia-smi not on PATH', async () => {
    const snap = await readGpuSnapshot({ env: { PATH: tmp } });
    expect(snap).toMatchObject({ mode: 'host', reason: 'nvidia-smi not found on PATH' });
  });
});

describe('medtune gpu --once', () => {
  async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const program = new Command().option('-w, --workspace <dir>').exitOverride();
      register(program);
      await program.parseAsync(['node', 'medtune', ...args]);
    } finally {
      spy.mockRestore();
      for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    return out.join('');
  }

  it('--json prints one snapshot in the documented shape', async () => {
    const env = replayEnv('h200x2', {
      MEDTUNE_REPLAY_GPU: 'load-500ms.csv',
      MEDTUNE_REPLAY_START: '6',
      MEDTUNE_REPLAY_APPS: 'apps-load-1.csv',
    });
    const snap = JSON.parse(await cli(['gpu', '--once', '--json'], env)) as {
      gpus: Record<string, unknown>[];
      processes: Record<string, unknown>[];
    };
    expect(snap.gpus).toHaveLength(2);
    expect(snap.gpus[1]).toMatchObject({
      index: 1,
      uuid: U1,
      name: 'NVIDIA H200',
      utilizationPct: 99,
      memoryUsedMiB: 4211,
      memoryReservedMiB: 616,
      memoryTotalMiB: 143771,
      temperatureC: expect.any(Number),
      powerW: expect.any(Number),
      powerLimitW: 700,
      smClockMHz: expect.any(Number),
      fanPct: null,
      clockEventReasons: ['power cap'],
    });
    expect(snap.processes).toEqual([
      { pid: 703, name: 'python3', gpuUuid: U0, usedMemoryMiB: 3178, owner: expect.any(String) },
      { pid: 704, name: 'python3', gpuUuid: U1, usedMemoryMiB: 4202, owner: expect.any(String) },
    ]);
  });

  it('--json on an idle GPU: no processes', async () => {
    const snap = JSON.parse(await cli(['gpu', '--json'], replayEnv('h100x1', { MEDTUNE_REPLAY_GPU: 'idle-500ms.csv' }))) as {
      gpus: { utilizationPct: number; clockEventReasons: string[] }[];
      processes: unknown[];
    };
    expect(snap.processes).toEqual([]);
    expect(snap.gpus[0]).toMatchObject({ utilizationPct: 0, clockEventReasons: ['idle'] });
  });

  it('--json without a GPU gives the reason and the host numbers', async () => {
    const snap = JSON.parse(await cli(['gpu', '--once', '--json'], { MEDTUNE_NVIDIA_SMI: join(tmp, 'missing') })) as Record<
      string,
      unknown
    >;
    expect(snap).toMatchObject({ gpus: [], processes: [], reason: expect.stringContaining('not found') });
    expect(snap.host).toMatchObject({ cpuCount: expect.any(Number), memTotalMiB: expect.any(Number) });
  });

  it('text output, restricted with --devices', async () => {
    const text = await cli(
      ['gpu', '--once', '--devices', U1.slice(0, 12)],
      replayEnv('h200x2', { MEDTUNE_REPLAY_GPU: 'load-500ms.csv', MEDTUNE_REPLAY_START: '6', MEDTUNE_REPLAY_APPS: 'apps-load-1.csv' }),
    );
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(
      /^GPU 1 {2}NVIDIA H200 {2}util 99% {2}mem 4\.1\/140\.4 GiB \(\+0\.6 reserved\) {2}power [\d.]+\/700 W .* power cap$/,
    );
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^pid 704 {2}GPU 1 {2}4\.1 GiB {2}python3/)]);
  });
});
