/**
 * Every output-folder shape of test/fixtures/llamafactory/shapes (made by the real llamafactory-cli on CPU, see its
 * record.sh), read by `medtune status` the way a user would point it at them; plus the shapes older versions write
 * (string numbers, nulls) and multi-day elapsed times, derived from those real logs.
 */
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRunDir, readRunRecords, streamRunRecords } from '../../src/runtime/rundir.js';
import { outputDirWriterAlive, readTrainerLogTail } from '../../src/runtime/trainerlogfile.js';
import { parseTrainerLog } from '../../src/core/trainerlog.js';
import type { TrainerRecord } from '../../src/core/run.js';
import { lastJson } from './harness.js';
import { execa } from 'execa';
import { BIN } from './harness.js';

const SHAPES = join(import.meta.dirname, '..', 'fixtures', 'llamafactory', 'shapes');
const FAR_FUTURE = Date.parse('2100-01-01T00:00:00Z');

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'medtune-shapes-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of a shape's output_dir whose files were last written `ageSeconds` ago. */
function copyShape(name: string, ageSeconds = 0): string {
  const out = join(tmp, name);
  cpSync(join(SHAPES, name, 'output'), out, { recursive: true });
  const t = (Date.now() - ageSeconds * 1000) / 1000;
  utimesSync(join(out, 'trainer_log.jsonl'), t, t);
  return out;
}

describe('LLaMA-Factory output folders of every shape', () => {
  it('prediction only (do_predict, no loss): completed, no loss, the prediction counted to its end', async () => {
    const v = await readRunDir(join(SHAPES, 'predict-only', 'output'), { now: FAR_FUTURE });
    expect(v).toMatchObject({
      status: 'completed',
      loss: null,
      step: 6,
      totalSteps: 6,
      etaSeconds: 0,
      results: { predict: true, train: false },
    });
  });

  it('logging_steps above the run (only the summary line): completed at its last step, no loss curve', async () => {
    const v = await readRunDir(join(SHAPES, 'summary-only', 'output'), { now: FAR_FUTURE });
    expect(v).toMatchObject({ status: 'completed', step: 6, totalSteps: 6, recordCount: 1, loss: null, attempts: 1, etaSeconds: 0 });
    expect(v.curve.loss.points).toBe(0);
  });

  it('results files missing, trainer_state.json at max_steps (killed while saving the end): completed', async () => {
    const v = await readRunDir(copyShape('max-steps-killed', 3600), { now: FAR_FUTURE });
    expect(v).toMatchObject({ status: 'completed', step: 8, totalSteps: 8, etaSeconds: 0, results: { train: false } });
  });

  it('the final eval only in eval_results.json (do_eval after training): that is the eval loss', async () => {
    const v = await readRunDir(join(SHAPES, 'eval-after', 'output'), { now: FAR_FUTURE });
    const evalResults = JSON.parse(readFileSync(join(SHAPES, 'eval-after', 'output', 'eval_results.json'), 'utf8')) as {
      eval_loss: number;
    };
    expect(v).toMatchObject({ status: 'completed', evalLoss: evalResults.eval_loss, results: { eval: true } });
    expect(
      parseTrainerLog(readFileSync(join(SHAPES, 'eval-after', 'output', 'trainer_log.jsonl'), 'utf8')).records.some(
        (r) => r.evalLoss !== undefined,
      ),
    ).toBe(false);
  });

  it('two processes appending at once: two attempts by two writers, every step once', async () => {
    const log = readFileSync(join(SHAPES, 'two-writers', 'output', 'trainer_log.jsonl'), 'utf8');
    const steps = log
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { current_steps: number }).current_steps);
    const backs = steps.filter((s, i) => i > 0 && s <= steps[i - 1]!).length;
    expect(backs).toBeGreaterThan(5); // the step repeats or runs back many times in the file
    const v = await readRunDir(join(SHAPES, 'two-writers', 'output'), { now: FAR_FUTURE });
    expect(v).toMatchObject({ status: 'completed', attempts: 2, writers: 2, recordCount: 12, step: 12 });
  });

  it('a killed run whose log stopped growing and has no live process: ended-unknown, no ETA', async () => {
    const out = copyShape('killed', 3600);
    expect(await outputDirWriterAlive(out)).toBe(false);
    const v = await readRunDir(out);
    expect(v).toMatchObject({ status: 'ended-unknown', step: 5, totalSteps: 40, etaSeconds: null, phase: null });
  });

  it('the same log while it still grows: training, with an ETA', async () => {
    const v = await readRunDir(copyShape('killed', 0));
    expect(v.status).toBe('training');
    expect(v.etaSeconds).toBeGreaterThan(0);
  });

  it('a live process whose log stopped growing: stalled, no ETA', async () => {
    const out = copyShape('killed', 3600);
    // A stand-in for a hung trainer: a process named like LLaMA-Factory's launcher whose arguments name the folder.
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'llamafactory-cli', out], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(await outputDirWriterAlive(out)).toBe(true);
      const v = await readRunDir(out);
      expect(v).toMatchObject({ status: 'stalled', etaSeconds: null });
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('attach to a folder medtune did not launch', () => {
  it('follows an output_dir while another process writes it, and ends when LLaMA-Factory writes its results', async () => {
    const src = join(SHAPES, 'eval-after', 'output');
    const lines = readFileSync(join(src, 'trainer_log.jsonl'), 'utf8').trim().split('\n');
    const out = join(tmp, 'live');
    mkdirSync(out);
    writeFileSync(join(out, 'trainer_log.jsonl'), `${lines[0]}\n`);
    const attach = execa(process.execPath, [BIN, 'attach', out, '--json'], { reject: false, timeout: 120_000 });
    let stderr = '';
    attach.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // The first record is shown before the next is written; then the rest, and the results files at the end.
    for (let i = 0; i < 100 && !/step 2\/6/.test(stderr); i++) await sleep(100);
    expect(stderr).toMatch(/step 2\/6/);
    for (const line of lines.slice(1)) {
      await sleep(300);
      appendFileSync(join(out, 'trainer_log.jsonl'), `${line}\n`);
    }
    await sleep(300);
    for (const f of readdirSync(src)) if (f !== 'trainer_log.jsonl') cpSync(join(src, f), join(out, f), { recursive: true });
    const r = await attach;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(lastJson<{ status: string; step: number; totalSteps: number }>(r.stdout)).toMatchObject({
      status: 'completed',
      step: 6,
      totalSteps: 6,
    });
  }, 150_000);

  it('the path of the log file itself reads as its folder', async () => {
    const out = copyShape('killed', 3600);
    const r = await execa(process.execPath, [BIN, 'status', join(out, 'trainer_log.jsonl'), '--json']);
    expect(lastJson<{ status: string; dir: string; step: number }>(r.stdout)).toMatchObject({ status: 'ended-unknown', step: 5 });
  });

  it('a folder whose log stopped with nothing writing it: attach ends at once with ended-unknown (exit 1)', async () => {
    const out = copyShape('killed', 3600);
    const r = await execa(process.execPath, [BIN, 'attach', out, '--json'], { reject: false, timeout: 60_000 });
    expect(r.exitCode).toBe(1);
    expect(lastJson<{ status: string }>(r.stdout).status).toBe('ended-unknown');
  });
});

describe('what older LLaMA-Factory versions wrote, derived from a real log', () => {
  const original = readFileSync(join(SHAPES, 'killed', 'output', 'trainer_log.jsonl'), 'utf8')
    .trim()
    .split('\n');

  it('string-valued numbers and null losses', async () => {
    const out = copyShape('killed', 0);
    const lines = original.map((l, i) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      const s: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) s[k] = typeof v === 'number' ? String(v) : v;
      if (i === 2) s.loss = null;
      s.eval_loss = null;
      return JSON.stringify(s);
    });
    writeFileSync(join(out, 'trainer_log.jsonl'), `${lines.join('\n')}\n`);
    const v = await readRunDir(out);
    const want = JSON.parse(original[original.length - 1]!) as { current_steps: number; loss: number; total_steps: number };
    expect(v).toMatchObject({ step: want.current_steps, totalSteps: want.total_steps, loss: want.loss, evalLoss: null, recordCount: 5 });
    expect(v.curve.loss.points).toBe(4); // the null loss is no point
  });

  it('elapsed times of several days ("4 days, 3:02:01"): the pace and ETA still come out', async () => {
    const out = copyShape('killed', 0);
    const lines = original.map((l, i) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      const s = 4 * 86_400 + 3 * 3600 + 2 * 60 + i * 100;
      o.elapsed_time = `${Math.floor(s / 86_400)} days, ${Math.floor((s % 86_400) / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
      return JSON.stringify(o);
    });
    writeFileSync(join(out, 'trainer_log.jsonl'), `${lines.join('\n')}\n`);
    const v = await readRunDir(out);
    expect(v.elapsed).toMatch(/^4 days, 3:0\d:\d\d$/);
    expect(v.status).toBe('training');
    // 100 s a step, 35 steps left (the view counts down from the log's mtime, a moment ago).
    expect(v.etaSeconds).toBeGreaterThan(3400);
    expect(v.etaSeconds).toBeLessThanOrEqual(3500);
  });
});

describe('records on request', () => {
  it('the newest records read backwards from the end equal the last of the full parse', async () => {
    const log = join(SHAPES, 'two-writers', 'output', 'trainer_log.jsonl');
    const full = parseTrainerLog(readFileSync(log, 'utf8')).records;
    const strip = (r: TrainerRecord[]) => r.map(({ attempt: _a, ...rest }) => rest);
    expect(strip((await readTrainerLogTail(log, 5))!)).toEqual(strip(full.slice(-5)));
    expect(await readRunRecords(join(SHAPES, 'two-writers', 'output'), 3)).toHaveLength(3);
  });

  it('NDJSON streams every record as written, with its attempt', async () => {
    const got: TrainerRecord[] = [];
    await streamRunRecords(join(SHAPES, 'two-writers', 'output'), (r) => got.push(r));
    const raw = parseTrainerLog(readFileSync(join(SHAPES, 'two-writers', 'output', 'trainer_log.jsonl'), 'utf8')).raw;
    expect(got.map((r) => [r.step, r.attempt])).toEqual(raw.map((r) => [r.step, r.attempt]));
  });

  it('`status --json` prints a summary; --records adds the newest N; --ndjson one record a line', async () => {
    const dir = join(SHAPES, 'two-writers', 'output');
    const plain = lastJson<Record<string, unknown>>((await execa(process.execPath, [BIN, 'status', dir, '--json'])).stdout);
    expect(plain).toMatchObject({ recordCount: 12, attempts: 2, writers: 2 });
    expect(plain).not.toHaveProperty('records');
    expect(plain).not.toHaveProperty('curve');
    const withRecords = lastJson<{ records: TrainerRecord[] }>(
      (await execa(process.execPath, [BIN, 'status', dir, '--json', '--records', '--limit', '4'])).stdout,
    );
    expect(withRecords.records.map((r) => r.step)).toEqual([9, 10, 11, 12]);
    const nd = (await execa(process.execPath, [BIN, 'status', dir, '--ndjson'])).stdout.trim().split('\n');
    expect(nd).toHaveLength(26);
    expect(JSON.parse(nd[0]!)).toMatchObject({ step: 1, totalSteps: 12, attempt: 0 });
  });
});
