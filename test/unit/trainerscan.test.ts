import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTrainerLine, num, parseTimedelta } from '../../src/core/trainerlog.js';
import { decodeTrainerBytes, decodeTrainerLite, scanTrainerLines, scanTrainerLinesLite } from '../../src/core/trainerscan.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');

/** Every trainer_log.jsonl line recorded from real LLaMA-Factory runs. */
function fixtureLines(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e === 'trainer_log.jsonl')
        out.push(
          ...readFileSync(p, 'utf8')
            .split('\n')
            .filter((l) => l !== ''),
        );
    }
  };
  walk(FIX);
  return out;
}

const ODD_LINES = [
  '{"current_steps": 7, "total_steps": 9, "loss": NaN, "lr": 1e-05, "epoch": 0.5}',
  '{"current_steps": 7, "total_steps": 9, "loss": -Infinity}',
  '{"current_steps": "12", "total_steps": "40", "loss": "5.227", "lr": "9.924e-05", "epoch": "5", "elapsed_time": "0:00:41"}',
  '{"current_steps": 3, "total_steps": 40, "loss": null, "eval_loss": null, "lr": 0.001, "elapsed_time": "4 days, 3:02:01"}',
  '{ "current_steps" : 3 , "total_steps":40,"loss":1.5e-3 }',
  '{"total_steps": 40, "current_steps": 3, "loss": 2.0, "extra": {"nested": [1, 2]}}',
  '{"current_steps": 3, "total_steps": 40, "note": "caf\\u00e9 \\"quoted\\"", "loss": 1.25}',
  '{"current_steps": 3, "total_steps": 40, "elapsed_time": "0:00:05", "note": "é"}',
  '{"current_steps": 3, "total_steps": 40, "loss": 1.0}{"current_steps": 4, "total_steps": 40, "loss": 0.9}',
  '{"current_steps": 3, "total_steps": 40, "loss": 0.1234567890123456789}',
  '{"current_steps": 3, "total_steps": 40, "loss": 9007199254740993}',
  '{"current_steps": 3, "total_steps": 40, "loss": 1e-30, "lr": 2.5E+3}',
  '{"current_steps": 3.5, "total_steps": 40}',
  '{"current_steps": -1, "total_steps": 40}',
  '{"total_steps": 40, "loss": 1}',
  '[1, 2]',
  'Traceback (most recent call last):',
  '{"current_steps": 3, "total_steps": 40, "loss": 1.0',
  '{"current_steps": 3, "total_steps": 40, "loss": tru}',
];

const enc = new TextEncoder();

describe('decodeTrainerBytes gives what decodeTrainerLine gives', () => {
  const lines = [...fixtureLines(), ...ODD_LINES];
  it(`on ${lines.length} recorded and odd lines`, () => {
    expect(lines.length).toBeGreaterThan(100);
    for (const line of lines) {
      const b = enc.encode(line);
      expect(decodeTrainerBytes(b, 0, b.length), line).toEqual(decodeTrainerLine(line));
    }
  });

  it('reads the numbers older versions wrote as strings, and null as no value', () => {
    expect(decodeTrainerLine(ODD_LINES[2]!)).toEqual({ step: 12, totalSteps: 40, loss: 5.227, lr: 9.924e-5, epoch: 5, elapsed: '0:00:41' });
    expect(decodeTrainerLine(ODD_LINES[3]!)).toEqual({ step: 3, totalSteps: 40, lr: 0.001, elapsed: '4 days, 3:02:01' });
    expect(num('1e3')).toBe(1000);
    expect(num('soon')).toBeUndefined();
    expect(num(null)).toBeUndefined();
  });

  it('numbers are the exact doubles JSON.parse gives', () => {
    const samples = [
      '8.612677574157715',
      '0.0003333333333333333',
      '9.9e-05',
      '-0.0',
      '1e-30',
      '123456789012345678',
      '0.1',
      '2409.41',
      '4096000000',
    ];
    for (const t of samples) {
      const line = `{"current_steps": 1, "total_steps": 2, "loss": ${t}}`;
      const b = enc.encode(line);
      expect(Object.is(decodeTrainerBytes(b, 0, b.length)?.loss, JSON.parse(t))).toBe(true);
      expect(Object.is(decodeTrainerLite(b, 0, b.length)?.loss, JSON.parse(t))).toBe(true);
    }
  });

  it('17-digit values (Python repr of a loss) are the doubles JSON.parse gives, across magnitudes', () => {
    // A seeded generator: the same 20,000 doubles every run, from 1e-7 to 1e5, written as their shortest
    // round-trip text (what Python's repr and JS's String give), so most have 16–17 significant digits.
    let seed = 0x9e3779b9;
    const next = () => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
      return (seed >>> 0) / 2 ** 32;
    };
    let long = 0;
    const bad: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      const x = (next() + next() * 2 ** -32) * 10 ** Math.floor(next() * 12 - 7);
      const t = String(x);
      if (t.replace(/e.*$/, '').replace(/[.-]/g, '').replace(/^0+/, '').length >= 16) long++;
      const b = enc.encode(`{"current_steps": 1, "total_steps": 2, "loss": ${t}, "elapsed_time": "0:00:01"}`);
      const lite = decodeTrainerLite(b, 0, b.length)?.loss;
      const full = decodeTrainerBytes(b, 0, b.length)?.loss;
      if (!Object.is(lite, x) || !Object.is(full, x)) bad.push(`${t}: lite ${lite} full ${full}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(long).toBeGreaterThan(10_000);
  });
});

describe('decodeTrainerLite: the bulk fields, the same as the whole decoder', () => {
  it.each(
    fixtureLines()
      .concat(ODD_LINES)
      .map((l) => [l]),
  )('%s', (line) => {
    const b = enc.encode(line);
    const full = decodeTrainerLine(line);
    const lite = decodeTrainerLite(b, 0, b.length);
    if (!full) {
      expect(lite).toBeUndefined();
      return;
    }
    const want: Record<string, unknown> = { step: full.step, totalSteps: full.totalSteps };
    if (full.loss !== undefined) want.loss = full.loss;
    if (full.evalLoss !== undefined) want.evalLoss = full.evalLoss;
    const secs = full.elapsed === undefined ? undefined : parseTimedelta(full.elapsed);
    if (secs !== undefined) want.elapsedSeconds = secs;
    const vram = full.vramReserved ?? full.vramAllocated;
    expect(lite).toMatchObject(want);
    expect(lite!.vramReserved ?? lite!.vramAllocated).toBe(vram);
  });
});

describe('scanTrainerLines', () => {
  const text = `${ODD_LINES.join('\n')}\r\n\n   \n{"current_steps": 5, "total_steps": 9}\n{"current_steps": 6, "total_steps": 9`;
  const bytes = enc.encode(text);
  it.each([
    ['whole', scanTrainerLines],
    ['lite', scanTrainerLinesLite],
  ] as const)('%s: records in order, blank lines not counted as skipped, the unterminated tail left over', (_n, scan) => {
    const steps: number[] = [];
    const r = scan(bytes, 0, bytes.length, (rec) => steps.push(rec.step));
    const decodable = ODD_LINES.filter((l) => decodeTrainerLine(l) !== undefined);
    expect(steps).toEqual([...decodable.map((l) => decodeTrainerLine(l)!.step), 5]);
    expect(r.skipped).toBe(ODD_LINES.length - decodable.length);
    expect(bytes.length - r.consumed).toBe(enc.encode('{"current_steps": 6, "total_steps": 9').length);
  });
});
