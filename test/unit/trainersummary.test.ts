import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StepCurve, bucketize, envelope, widthFor, type CurveSample } from '../../src/core/curve.js';
import { parseTrainerLog } from '../../src/core/trainerlog.js';
import { TrainerLogFeeder, partFeeder, summarizeRecords, type TrainerLogSummary } from '../../src/core/trainersummary.js';
import type { TrainerRecord } from '../../src/core/run.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');
const enc = new TextEncoder();

/** A deterministic pseudo-random sequence. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function td(s: number): string {
  const d = Math.floor(s / 86400);
  const r = s % 86400;
  const hms = `${Math.floor(r / 3600)}:${String(Math.floor((r % 3600) / 60)).padStart(2, '0')}:${String(r % 60).padStart(2, '0')}`;
  return d ? `${d} day${d > 1 ? 's' : ''}, ${hms}` : hms;
}

/**
 * A log the way LLaMA-Factory writes one: `n` steps, eval every `evalEvery`, attempts killed after `killAt` steps
 * and resumed from the checkpoint before (every `saveEvery`), the end-of-train summary; LLaMA-Factory's line layout.
 */
function synthLog(n: number, opts: { evalEvery?: number; kills?: number[]; saveEvery?: number; seed?: number } = {}): string {
  const r = rng(opts.seed ?? 1);
  const lines: string[] = [];
  const kills = [...(opts.kills ?? [])];
  let step = 1;
  let clock = 0;
  while (step <= n) {
    clock += 2;
    const loss = 0.4 + 2 * Math.exp(-step / (n / 5)) + 0.05 * r() + (r() < 0.01 ? 2 * r() : 0);
    lines.push(
      `{"current_steps": ${step}, "total_steps": ${n}, "loss": ${loss}, "lr": ${1e-4 * (1 - step / n)}, "epoch": ${step / 10}, "percentage": ${Math.round((step / n) * 10000) / 100}, "elapsed_time": "${td(clock)}", "remaining_time": "${td((n - step) * 2)}", "throughput": ${(500 + 100 * r()).toFixed(2)}, "total_tokens": ${step * 1024}, "vram_allocated": 1.5, "vram_reserved": ${(2 + step / n).toFixed(2)}}`,
    );
    if (opts.evalEvery && step % opts.evalEvery === 0) {
      lines.push(
        `{"current_steps": ${step}, "total_steps": ${n}, "eval_loss": ${loss + 0.1}, "epoch": ${step / 10}, "percentage": ${Math.round((step / n) * 10000) / 100}, "elapsed_time": "${td(clock)}", "remaining_time": "${td((n - step) * 2)}"}`,
      );
    }
    if (kills[0] === step) {
      kills.shift();
      const save = opts.saveEvery ?? 10;
      step = Math.floor(step / save) * save + 1;
      clock = 0;
      continue;
    }
    step++;
  }
  lines.push(
    `{"current_steps": ${n}, "total_steps": ${n}, "epoch": ${n / 10}, "percentage": 100.0, "elapsed_time": "${td(clock)}", "remaining_time": "0:00:00", "throughput": 512.0, "total_tokens": ${n * 1024}}`,
  );
  return `${lines.join('\n')}\n`;
}

/** The full recomputation: bucket every point of the merged series at the incremental sample's width. */
function expectCurveMatches(sample: CurveSample, points: Array<[number, number]>, maxBuckets: number): void {
  expect(sample.points).toBe(points.length);
  expect(sample.buckets.length).toBeLessThanOrEqual(maxBuckets);
  expect(sample.width).toBe(widthFor(points, maxBuckets));
  const want = bucketize(points, sample.width);
  expect(sample.buckets.map((b) => [b.index, b.count, b.min, b.max])).toEqual(want.map((b) => [b.index, b.count, b.min, b.max]));
  sample.buckets.forEach((b, i) => {
    expect(b.sum).toBeCloseTo(want[i]!.sum, 9);
    expect(b.sumX).toBeCloseTo(want[i]!.sumX, 6);
  });
}

function feed(text: string, opts: { chunk: number; fullFrom?: number; maxBuckets: number; tailPoints: number; recent?: number }) {
  const f = new TrainerLogFeeder({
    fullFrom: opts.fullFrom ?? 0,
    curve: { maxBuckets: opts.maxBuckets, tailPoints: opts.tailPoints },
    recent: opts.recent ?? 64,
  });
  const bytes = enc.encode(text);
  for (let i = 0; i < bytes.length; i += opts.chunk) f.feed(bytes.subarray(i, i + opts.chunk));
  f.flush();
  return f.summary();
}

const lossPoints = (recs: TrainerRecord[]) =>
  recs.filter((r) => r.loss !== undefined && Number.isFinite(r.loss)).map((r) => [r.step, r.loss!] as [number, number]);
const evalPoints = (recs: TrainerRecord[]) =>
  recs.filter((r) => r.evalLoss !== undefined).map((r) => [r.step, r.evalLoss!] as [number, number]);

describe('the incremental summary equals a full recomputation', () => {
  const cases = [
    { name: 'resume fixture (kill -9, auto-resume)', text: readFileSync(join(FIX, 'resume/output/trainer_log.jsonl'), 'utf8') },
    { name: 'eval fixture', text: readFileSync(join(FIX, 'eval/output/trainer_log.jsonl'), 'utf8') },
    { name: 'abort fixture', text: readFileSync(join(FIX, 'abort/output/trainer_log.jsonl'), 'utf8') },
    { name: '5000 steps, evals, three resumes', text: synthLog(5000, { evalEvery: 100, kills: [777, 2501, 4090], saveEvery: 50 }) },
    { name: '20000 steps', text: synthLog(20000, { evalEvery: 500, seed: 7 }) },
  ];
  for (const c of cases) {
    for (const shape of [
      { chunk: 1 << 20, fullFrom: 0, maxBuckets: 512, tailPoints: 4096 },
      // The raw tail must reach back past the deepest rollback (the checkpoint interval): exact within it.
      { chunk: 97, fullFrom: 0, maxBuckets: 8, tailPoints: 64 },
      { chunk: 4096, fullFrom: Math.floor(c.text.length / 2), maxBuckets: 16, tailPoints: 64 },
      { chunk: 65536, fullFrom: c.text.length, maxBuckets: 100, tailPoints: 300 },
    ]) {
      it(`${c.name}: chunks of ${shape.chunk}, lite before ${shape.fullFrom}, ${shape.maxBuckets} buckets`, () => {
        const full = parseTrainerLog(c.text);
        const s = feed(c.text, shape);
        expect(s.recordCount).toBe(full.records.length);
        expect(s.rawRecords).toBe(full.raw.length);
        expect(s.attempts).toBe(full.attempts);
        expect(s.attemptStartSteps).toEqual(full.attemptStartSteps);
        expect(s.writers).toBe(full.writers);
        expectCurveMatches(s.loss, lossPoints(full.records), shape.maxBuckets);
        expectCurveMatches(s.evalLoss, evalPoints(full.records), shape.maxBuckets);
        const last = full.records[full.records.length - 1]!;
        expect(s.recent[s.recent.length - 1]!.step).toBe(last.step);
        if (shape.fullFrom === 0) {
          // Decoded whole: the newest records are exactly the merged series' last ones.
          expect(s.recent).toEqual(full.records.slice(-64));
        }
        const peak = Math.max(...full.raw.map((r) => r.vramReserved ?? r.vramAllocated ?? 0));
        expect(s.peakVramGiB).toBe(peak > 0 ? peak : null);
      });
    }
  }
});

describe('StepCurve', () => {
  it('random sets, rewrites within the tail and rollbacks, against bucketize of what is left', () => {
    const r = rng(3);
    const curve = new StepCurve({ maxBuckets: 32, tailPoints: 200 });
    const truth = new Map<number, number>();
    let x = 0;
    for (let i = 0; i < 20_000; i++) {
      const roll = r();
      if (roll < 0.002 && x > 50) {
        // a resume: back to a checkpoint less than 50 steps ago
        const to = x - Math.floor(r() * 50);
        curve.truncate(to);
        for (const k of [...truth.keys()]) if (k >= to) truth.delete(k);
        x = to;
      } else if (roll < 0.01 && x > 20) {
        // a second writer rewrites a recent step
        const at = x - 1 - Math.floor(r() * 20);
        const y = r() * 10;
        curve.set(at, y);
        if (truth.has(at) || at >= 0) truth.set(at, y);
      } else {
        x++;
        const y = r() < 0.001 ? 1e6 : r();
        curve.set(x, y);
        truth.set(x, y);
      }
    }
    const points = [...truth.entries()].sort((a, b) => a[0] - b[0]);
    const s = curve.sample();
    expect(s.points).toBe(points.length);
    const want = bucketize(points, s.width);
    expect(s.buckets.map((b) => [b.index, b.count, b.min, b.max])).toEqual(want.map((b) => [b.index, b.count, b.min, b.max]));
    expect(s.buckets.length).toBeLessThanOrEqual(32);
  });

  it('keeps every spike through any amount of downsampling', () => {
    const curve = new StepCurve({ maxBuckets: 16, tailPoints: 32 });
    const spikes = [1234, 55_555, 99_001];
    for (let x = 1; x <= 100_000; x++) curve.set(x, spikes.includes(x) ? 50 : 1 + Math.sin(x / 1000) * 0.1);
    const pts = envelope(curve.sample());
    for (const s of spikes) expect(pts).toContainEqual([s, 50]);
    expect(pts.length).toBeLessThanOrEqual(32);
  });

  it('ignores non-finite values (a diverged loss is read, not drawn)', () => {
    const curve = new StepCurve();
    curve.set(1, Number.NaN);
    curve.set(2, 1);
    expect(curve.sample().points).toBe(1);
  });
});

describe('attempts and writers', () => {
  it('two processes appending at once are two attempts and two writers, not one attempt per line', () => {
    const a = synthLog(200, { seed: 1 }).trim().split('\n');
    const b = synthLog(200, { seed: 2 }).trim().split('\n');
    const lines: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i]) lines.push(a[i]!);
      if (b[i]) lines.push(b[i]!);
    }
    const text = `${lines.join('\n')}\n`;
    const full = parseTrainerLog(text);
    expect(full.attempts).toBe(2);
    expect(full.writers).toBe(2);
    expect(full.records.map((r) => r.step)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const s = feed(text, { chunk: 1000, maxBuckets: 16, tailPoints: 64 });
    expect(s).toMatchObject({ attempts: 2, writers: 2, recordCount: 200 });
  });

  it('a resume after a kill is a new attempt by one writer', () => {
    const s = feed(synthLog(300, { kills: [123], saveEvery: 100 }), { chunk: 512, maxBuckets: 64, tailPoints: 128 });
    expect(s).toMatchObject({ attempts: 2, writers: 1, attemptStartSteps: [1, 101], recordCount: 300 });
  });

  it('summarizeRecords keeps the attempts of a merged series', () => {
    const full = parseTrainerLog(readFileSync(join(FIX, 'resume/output/trainer_log.jsonl'), 'utf8'));
    expect(summarizeRecords(full.records)).toMatchObject({ attempts: 2, recordCount: 30, attemptStartSteps: [1, 11] });
  });
});

describe('memory stays bounded', () => {
  it('200,000 records: a few hundred buckets, the newest records only', () => {
    const f = new TrainerLogFeeder({ fullFrom: Number.MAX_SAFE_INTEGER });
    const chunkLines: string[] = [];
    for (let step = 1; step <= 200_000; step++) {
      chunkLines.push(
        `{"current_steps": ${step}, "total_steps": 200000, "loss": ${1 + (step % 7) / 10}, "lr": 1e-05, "epoch": 0.1, "percentage": 1.0, "elapsed_time": "${td(step)}", "remaining_time": "0:00:01"}`,
      );
      if (chunkLines.length === 5000) {
        f.feed(enc.encode(`${chunkLines.join('\n')}\n`));
        chunkLines.length = 0;
      }
    }
    const s = f.summary();
    expect(s.recordCount).toBe(200_000);
    expect(s.loss.buckets.length).toBeLessThanOrEqual(512);
    expect(s.recent.length).toBe(1024);
    expect(s.latest.elapsed).toBeNull(); // only the bulk fields were read (lite): the whole decode is for the tail
    expect(s.loss.points).toBe(200_000);
  });
});

describe('a log read in parts at once gives what one pass gives', () => {
  /** Cuts after the newline nearest each of `parts` even shares of [0, end). */
  function cutsOf(bytes: Uint8Array, end: number, parts: number): number[] {
    const cuts = [0];
    for (let k = 1; k <= parts; k++) {
      let at = k === parts ? end : Math.floor((end * k) / parts);
      if (k === parts) {
        while (at > 0 && bytes[at - 1] !== 0x0a) at--;
      } else {
        while (at < end && bytes[at - 1] !== 0x0a) at++;
      }
      if (at > cuts[cuts.length - 1]!) cuts.push(at);
    }
    return cuts;
  }

  /** What readTrainerLogSummary does with its worker threads, in one thread: parts summarised apart, then joined. */
  function inParts(text: string, parts: number, opts: { maxBuckets: number; tailPoints: number; fullFrom: number }) {
    const bytes = enc.encode(text);
    const curve = { maxBuckets: opts.maxBuckets, tailPoints: opts.tailPoints };
    const main = new TrainerLogFeeder({ fullFrom: opts.fullFrom, curve, recent: 64 });
    const cuts = cutsOf(bytes, opts.fullFrom, parts);
    main.feed(bytes.subarray(0, cuts[1]));
    let joined = 0;
    for (let k = 1; k + 1 < cuts.length; k++) {
      const part = partFeeder({ curve, recent: 64 });
      part.feed(bytes.subarray(cuts[k], cuts[k + 1]));
      if (main.appendPart(part.agg.state(), cuts[k + 1]! - cuts[k]!)) joined++;
      else main.feed(bytes.subarray(cuts[k], cuts[k + 1]));
    }
    expect(main.offset).toBe(cuts[cuts.length - 1]);
    main.feed(bytes.subarray(cuts[cuts.length - 1]));
    main.flush();
    return { summary: main.summary(), joined, parts: cuts.length - 1 };
  }

  function expectSame(a: TrainerLogSummary, b: TrainerLogSummary): void {
    const strip = (s: TrainerLogSummary) => ({
      ...s,
      loss: { ...s.loss, buckets: s.loss.buckets.map(({ sum: _s, sumX: _x, ...rest }) => rest) },
      evalLoss: { ...s.evalLoss, buckets: s.evalLoss.buckets.map(({ sum: _s, sumX: _x, ...rest }) => rest) },
    });
    expect(strip(a)).toEqual(strip(b));
    for (const k of ['loss', 'evalLoss'] as const) {
      a[k].buckets.forEach((bk, i) => {
        expect(bk.sum).toBeCloseTo(b[k].buckets[i]!.sum, 9);
        expect(bk.sumX).toBeCloseTo(b[k].buckets[i]!.sumX, 6);
      });
    }
  }

  const twoWriters = () => {
    const a = synthLog(3000, { seed: 1 }).trim().split('\n');
    const b = synthLog(3000, { seed: 2 }).trim().split('\n');
    const lines: string[] = [];
    for (let i = 0; i < a.length; i++) {
      lines.push(a[i]!);
      if (i >= 1500 && b[i - 1500]) lines.push(b[i - 1500]!);
    }
    return `${lines.join('\n')}\n`;
  };
  const cases = [
    { name: 'one attempt, evals', text: synthLog(20000, { evalEvery: 250, seed: 3 }), joinsAll: true },
    {
      name: 'three resumes',
      text: synthLog(20000, { evalEvery: 500, kills: [3001, 9001, 15001], saveEvery: 500, seed: 4 }),
      joinsAll: false,
    },
    { name: 'a second writer from the middle on', text: twoWriters(), joinsAll: false },
  ];
  for (const c of cases) {
    for (const parts of [2, 3, 7]) {
      for (const shape of [
        { maxBuckets: 512, tailPoints: 8192 },
        { maxBuckets: 16, tailPoints: 64 },
      ]) {
        it(`${c.name}: ${parts} parts, ${shape.maxBuckets} buckets, ${shape.tailPoints} raw`, () => {
          const fullFrom = Math.floor(c.text.length * 0.9);
          const one = feed(c.text, { chunk: 1 << 20, fullFrom, ...shape });
          const r = inParts(c.text, parts, { ...shape, fullFrom });
          expectSame(r.summary, one);
          if (c.joinsAll) expect(r.joined).toBe(r.parts - 1);
        });
      }
    }
  }

  it('joins a part to an empty summary, and an empty part to anything', () => {
    const text = synthLog(500, { seed: 9 });
    const bytes = enc.encode(text);
    const main = new TrainerLogFeeder({ fullFrom: bytes.length, recent: 64 });
    const part = partFeeder({ recent: 64 });
    part.feed(bytes);
    expect(main.appendPart(part.agg.state(), bytes.length)).toBe(true);
    expect(main.appendPart(partFeeder({ recent: 64 }).agg.state(), 0)).toBe(true);
    main.flush();
    expectSame(main.summary(), feed(text, { chunk: 4096, fullFrom: bytes.length, maxBuckets: 512, tailPoints: 8192 }));
  });
});
