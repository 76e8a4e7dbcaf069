/** trainer_log.jsonl on disk: the cached summary of a large log is gone on from, and only when the file is the same. */
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLongLogsOffMainThread, readTrainerLogSummary } from '../../src/runtime/trainerlogfile.js';

let tmp: string;
const savedCache = process.env.MEDTUNE_CACHE;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'medtune-tlf-'));
  process.env.MEDTUNE_CACHE = join(tmp, 'cache');
});
afterEach(() => {
  if (savedCache === undefined) delete process.env.MEDTUNE_CACHE;
  else process.env.MEDTUNE_CACHE = savedCache;
  rmSync(tmp, { recursive: true, force: true });
});

function lines(from: number, to: number, total: number, lossOffset = 0): string {
  let s = '';
  for (let step = from; step <= to; step++) {
    s += `{"current_steps": ${step}, "total_steps": ${total}, "loss": ${lossOffset + 1 + (step % 13) / 10}, "lr": 1e-05, "epoch": ${step / 1000}, "percentage": ${Math.round((step / total) * 10000) / 100}, "elapsed_time": "${Math.floor(step / 3600)}:${String(Math.floor((step % 3600) / 60)).padStart(2, '0')}:${String(step % 60).padStart(2, '0')}", "remaining_time": "0:00:01", "throughput": 812.4, "total_tokens": ${step * 1024}, "vram_allocated": 1.5, "vram_reserved": 2.5}\n`;
  }
  return s;
}

describe('readTrainerLogSummary with its cache', () => {
  it('goes on from the cached summary and gives what a full read gives', async () => {
    const log = join(tmp, 'trainer_log.jsonl');
    writeFileSync(log, lines(1, 40_000, 60_000)); // ~12 MiB: above the size that leaves a cache
    const first = await readTrainerLogSummary(log);
    expect(first?.summary.recordCount).toBe(40_000);
    expect(readdirSync(join(tmp, 'cache', 'trainerlog'))).toHaveLength(1);
    // A resume rolls back to step 39,901, then training goes on; a half-written line ends the file.
    appendFileSync(log, `${lines(39_901, 45_000, 60_000, 0.5)}{"current_steps": 45001, "total_s`);
    const cached = await readTrainerLogSummary(log);
    const fresh = await readTrainerLogSummary(log, { cache: false });
    expect(cached!.summary).toEqual(fresh!.summary);
    expect(cached!.summary).toMatchObject({ recordCount: 45_000, attempts: 2 });
    expect(cached!.offset).toBe(fresh!.offset);
  });

  it('a log deleted and written again is read from its start, not from the old summary', async () => {
    const log = join(tmp, 'trainer_log.jsonl');
    writeFileSync(log, lines(1, 40_000, 60_000));
    await readTrainerLogSummary(log);
    rmSync(log);
    writeFileSync(log, lines(1, 41_000, 50_000, 2));
    const again = await readTrainerLogSummary(log);
    const fresh = await readTrainerLogSummary(log, { cache: false });
    expect(again!.summary).toEqual(fresh!.summary);
    expect(again!.summary).toMatchObject({ recordCount: 41_000, attempts: 1 });
  });
});

describe('readTrainerLogSummary: the first read of a long log on several threads', () => {
  const saved = process.env.MEDTUNE_SCAN_THREADS;
  afterEach(() => {
    if (saved === undefined) delete process.env.MEDTUNE_SCAN_THREADS;
    else process.env.MEDTUNE_SCAN_THREADS = saved;
  });
  const read = async (log: string, threads: number) => {
    process.env.MEDTUNE_SCAN_THREADS = String(threads);
    return (await readTrainerLogSummary(log, { cache: false }))!;
  };
  const same = (a: Awaited<ReturnType<typeof read>>['summary'], b: Awaited<ReturnType<typeof read>>['summary']) => {
    const strip = (s: typeof a) => ({
      ...s,
      loss: { ...s.loss, buckets: s.loss.buckets.map(({ sum: _s, sumX: _x, ...rest }) => rest) },
      evalLoss: { ...s.evalLoss, buckets: s.evalLoss.buckets.map(({ sum: _s, sumX: _x, ...rest }) => rest) },
    });
    expect(strip(a)).toEqual(strip(b));
    for (const [i, bk] of a.loss.buckets.entries()) expect(bk.sum).toBeCloseTo(b.loss.buckets[i]!.sum, 6);
  };

  it('one attempt: every part is joined as read, and the summary is the one-thread one', async () => {
    const log = join(tmp, 'trainer_log.jsonl');
    writeFileSync(log, lines(1, 200_000, 250_000)); // ~64 MiB
    const one = await read(log, 1);
    expect(one.parts).toBeUndefined();
    const four = await read(log, 4);
    expect(four.parts).toEqual({ count: 3, joined: 2 });
    same(four.summary, one.summary);
    expect(four.summary).toMatchObject({ recordCount: 200_000, attempts: 1, writers: 1 });
  }, 120_000);

  it('where the main thread renders (the TUI), every part goes to a worker and is joined, with the same result', async () => {
    const log = join(tmp, 'trainer_log.jsonl');
    writeFileSync(log, lines(1, 200_000, 250_000));
    const one = await read(log, 1);
    readLongLogsOffMainThread(true);
    try {
      const four = await read(log, 4);
      expect(four.parts).toEqual({ count: 3, joined: 3 });
      same(four.summary, one.summary);
    } finally {
      readLongLogsOffMainThread(false);
    }
  }, 120_000);

  it('resumes inside the parts: those parts are read again in order, with the same result', async () => {
    const log = join(tmp, 'trainer_log.jsonl');
    // Killed at 60,000 and at 150,000, each resumed from 1,000 steps earlier.
    writeFileSync(log, lines(1, 60_000, 250_000) + lines(59_001, 150_000, 250_000, 0.3) + lines(149_001, 210_000, 250_000, 0.6));
    const one = await read(log, 1);
    const four = await read(log, 4);
    expect(four.parts!.count).toBeGreaterThanOrEqual(3);
    expect(four.parts!.joined).toBeLessThan(four.parts!.count - 1);
    same(four.summary, one.summary);
    // (These lines' clock does not restart, so the second resume reads as the first attempt carrying on.)
    expect(four.summary).toMatchObject({ recordCount: 210_000, attemptStartSteps: [1, 59_001] });
  }, 120_000);
});
