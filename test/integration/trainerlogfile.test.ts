/** trainer_log.jsonl on disk: the cached summary of a large log is gone on from, and only when the file is the same. */
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTrainerLogSummary } from '../../src/runtime/trainerlogfile.js';

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
