/** The pure decisions behind the fault handling: reconcile, safetensors, disk guard, terminal-safe text, busy GPUs. */
import { describe, expect, it } from 'vitest';
import { liveness, reconcile, type ReconcileFacts } from '../../src/core/reconcile.js';
import type { RunManifest } from '../../src/core/run.js';
import { safetensorsProblem, shardsOfIndex } from '../../src/core/safetensors.js';
import { DISK_MARGIN_BYTES, diskVerdict, nextSaveBytes } from '../../src/core/diskguard.js';
import { displaySafe, hasUnsafeChars } from '../../src/core/sanitize.js';
import { busyGpus, chosenGpus } from '../../src/core/gpubusy.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');

function manifest(over: Partial<RunManifest> = {}): RunManifest {
  return {
    id: 'r1',
    createdAt: '2026-12-04T11:00:00Z',
    updatedAt: '2026-12-04T11:59:00Z',
    status: 'training',
    model: '/m',
    datasets: ['d'],
    profile: 'cpu',
    outputDir: '/o',
    trainYaml: '/t',
    command: ['x'],
    env: {},
    cwd: '/w',
    autoResume: 0,
    attempts: [
      {
        n: 1,
        startedAt: '2026-12-04T11:00:00Z',
        supervisorPid: 10,
        pid: 11,
        pgid: 11,
        bootId: 'b1',
        supervisorStartTicks: 5,
        pidStartTicks: 6,
      },
    ],
    ...over,
  };
}

function facts(over: Partial<ReconcileFacts> = {}): ReconcileFacts {
  return {
    manifest: manifest(),
    supervisor: 'gone',
    trainer: 'gone',
    rebooted: false,
    results: false,
    step: 12,
    totalSteps: 40,
    checkpoints: [10],
    nowMs: NOW,
    ...over,
  };
}

describe('reconcile', () => {
  it.each([
    ['supervisor alive', { supervisor: 'alive' as const }, 'none', undefined, undefined],
    ['trainer alive, supervisor gone', { trainer: 'alive' as const }, 'orphaned', undefined, undefined],
    ['both gone mid-run', {}, 'finalize', 'failed', 'SUPERVISOR_LOST'],
    [
      'pid reused by another process',
      { supervisor: 'reused' as const, trainer: 'reused' as const },
      'finalize',
      'failed',
      'SUPERVISOR_LOST',
    ],
    ['machine restarted', { rebooted: true }, 'finalize', 'failed', 'INTERRUPTED'],
    ['finished while unsupervised', { results: true, step: 40 }, 'finalize', 'completed', undefined],
    ['saved and stopped short while unsupervised', { results: true, step: 20 }, 'finalize', 'stopped', 'STOPPED_UNRECORDED'],
  ])('%s', (_name, over, action, status, code) => {
    const r = reconcile(facts(over));
    expect(r.action).toBe(action);
    if (r.action === 'finalize') {
      expect(r.status).toBe(status);
      expect(r.cause?.code).toBe(code);
    }
  });

  it('a stop that was asked for ends as stopped, not failed', () => {
    expect(reconcile(facts({ manifest: manifest({ status: 'stopping', stopRequested: true }) }))).toEqual({
      action: 'finalize',
      status: 'stopped',
    });
  });

  it('advises resume from the newest complete checkpoint, or a fresh run without one', () => {
    const a = reconcile(facts({ checkpoints: [10, 20] }));
    expect(a.action === 'finalize' && a.cause?.next).toMatch(/medtune resume r1.*checkpoint-20/);
    const b = reconcile(facts({ checkpoints: [] }));
    expect(b.action === 'finalize' && b.cause?.next).toMatch(/no complete checkpoint/);
  });

  it('leaves terminal runs alone, and gives a queued run two minutes for its supervisor to start', () => {
    expect(reconcile(facts({ manifest: manifest({ status: 'completed' }) })).action).toBe('none');
    const queued = (updatedAt: string) => facts({ manifest: manifest({ status: 'queued', attempts: [], updatedAt }) });
    expect(reconcile(queued('2026-12-04T11:59:30Z')).action).toBe('none');
    expect(reconcile(queued('2026-12-04T11:50:00Z'))).toMatchObject({
      action: 'finalize',
      status: 'failed',
      cause: { code: 'SUPERVISOR_LOST' },
    });
  });

  it('tells a live pid from a reused one by boot id and start time', () => {
    expect(liveness(false, { startTicks: 5 }, null)).toBe('gone');
    expect(liveness(true, { bootId: 'b', startTicks: 5 }, { bootId: 'b', startTicks: 5 })).toBe('alive');
    expect(liveness(true, { bootId: 'b', startTicks: 5 }, { bootId: 'b', startTicks: 9 })).toBe('reused');
    expect(liveness(true, { bootId: 'b', startTicks: 5 }, { bootId: 'c', startTicks: 5 })).toBe('reused');
    // Old manifests without an identity: a live pid is taken at its word.
    expect(liveness(true, {}, { bootId: 'b', startTicks: 5 })).toBe('alive');
  });
});

function safetensors(tensors: Record<string, [number, number]>, dataBytes: number): Uint8Array {
  const header = Buffer.from(
    JSON.stringify(
      Object.fromEntries(Object.entries(tensors).map(([k, o]) => [k, { dtype: 'F32', shape: [(o[1] - o[0]) / 4], data_offsets: o }])),
    ),
  );
  const out = Buffer.alloc(8 + header.length + dataBytes);
  out.writeBigUInt64LE(BigInt(header.length), 0);
  header.copy(out, 8);
  return out;
}

describe('safetensors', () => {
  const whole = safetensors({ a: [0, 16], b: [16, 48] }, 48);
  it('accepts a whole file and names what is wrong with a cut or damaged one', () => {
    expect(safetensorsProblem(whole.length, whole)).toBeNull();
    expect(safetensorsProblem(whole.length - 10, whole.subarray(0, whole.length - 10))).toMatch(/cut short/);
    expect(safetensorsProblem(6, whole.subarray(0, 6))).toMatch(/empty|shorter/);
    const bad = Buffer.from(whole);
    bad.write('{{{{', 8);
    expect(safetensorsProblem(bad.length, bad)).toMatch(/not valid JSON/);
    const huge = Buffer.from(whole);
    huge.writeBigUInt64LE(10n ** 12n, 0);
    expect(safetensorsProblem(huge.length, huge)).toMatch(/claims/);
  });
  it('lists each shard of an index once', () => {
    expect(shardsOfIndex({ weight_map: { a: 's2', b: 's1', c: 's2' } })).toEqual(['s1', 's2']);
    expect(shardsOfIndex(null)).toEqual([]);
  });
});

describe('disk guard', () => {
  it('uses the largest measured checkpoint, else the estimate', () => {
    expect(nextSaveBytes([100, 300], 50)).toBe(300);
    expect(nextSaveBytes([], 50)).toBe(50);
  });
  it('needs the next write half again plus the margin', () => {
    expect(diskVerdict(DISK_MARGIN_BYTES + 150, 100).ok).toBe(true);
    expect(diskVerdict(DISK_MARGIN_BYTES + 149, 100)).toMatchObject({ ok: false, neededBytes: DISK_MARGIN_BYTES + 150 });
  });
});

describe('terminal-safe text', () => {
  it.each([
    ['rtl-\u202eevil\u202c', 'rtl-⟨U+202E⟩evil⟨U+202C⟩'],
    ['\u001b[2Jclear', '⟨U+001B⟩[2Jclear'],
    ['nul\u0000 c1\u0085 isolate\u2066x\u2069', 'nul⟨U+0000⟩ c1⟨U+0085⟩ isolate⟨U+2066⟩x⟨U+2069⟩'],
    ['tabs\tand\nlines stay, 中文 and العربية too', 'tabs\tand\nlines stay, 中文 and العربية too'],
  ])('%j', (input, out) => {
    expect(displaySafe(input)).toBe(out);
    expect(hasUnsafeChars(input)).toBe(input !== out);
  });
});

describe('busy GPUs', () => {
  const all = [
    { index: 0, uuid: 'GPU-aaa' },
    { index: 1, uuid: 'GPU-bbb' },
  ];
  it('reads CUDA_VISIBLE_DEVICES as indices or UUIDs', () => {
    expect(chosenGpus(all, undefined)).toEqual(all);
    expect(chosenGpus(all, '1')).toEqual([all[1]]);
    expect(chosenGpus(all, 'GPU-aaa,1')).toEqual(all);
    expect(chosenGpus(all, 'bbb')).toEqual([all[1]]);
  });
  it('names the processes on the chosen GPUs only', () => {
    const apps = [
      { pid: 7, gpuUuid: 'GPU-aaa', usedMemoryMiB: 1024, name: 'python3' },
      { pid: 8, gpuUuid: 'GPU-bbb', usedMemoryMiB: null, name: null },
    ];
    const b = busyGpus([all[0]!], apps, (pid, name) => ({ program: name ?? `pid ${pid}`, run: pid === 7 ? 'run-x' : null }));
    expect(b).toEqual([{ index: 0, pid: 7, program: 'python3', usedMemoryMiB: 1024, run: 'run-x' }]);
  });
});
