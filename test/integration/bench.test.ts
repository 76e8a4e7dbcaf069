/**
 * `medtune eval --bench` for real, on stand-ins of VQA-RAD, SLAKE and PathVQA in their Hub layout and parquet
 * schema (test/fixtures/bench/make_bench.py, built here offline): the conversion into the workspace, training on a
 * benchmark's train split (`data prepare --source bench:…`), the tiny Qwen2-VL answering through LLaMA-Factory's
 * predict path, closed/open scores with intervals, base vs tuned with per-question differences, and the errors
 * for wrong input.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreBench, type BenchItem, type BenchScores } from '../../src/core/bench.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { BIN, lastJson, makeWorkspace, medtune, strayProcesses, type TestWorkspace } from './harness.js';

const SLOW = 10 * 60_000;

interface BenchRunJson {
  dir: string;
  target: { base: boolean; adapter: string | null; model: string };
  splits: { test: BenchScores };
  items: BenchItem[];
  files: { bench: string; yaml: string; predictions: string };
}
interface BenchJson extends BenchRunJson {
  bench: { id: string; split: string; repo: string };
  dataset: string;
  source: { kind: string; root: string; reused: boolean };
  base?: BenchRunJson;
  diff?: { file: string; questions: number; improved: number; worsened: number; unchanged: number };
  anchors: { model: string; comparable: boolean }[];
}

/** Every score in the report is what core's rules give for the answers the model actually wrote. */
function expectScoresFromAnswers(run: BenchRunJson, closed: number, open: number): void {
  const s = run.splits.test;
  expect(s.questions).toBe(closed + open);
  expect(s.closed.n).toBe(closed);
  expect(s.open.n).toBe(open);
  const again = scoreBench(run.items.map((i) => ({ question: i.question, reference: i.reference, prediction: i.prediction })));
  expect(again.scores).toEqual(s);
  if (closed) {
    expect(s.closed.accuracy).toBeGreaterThanOrEqual(0);
    expect(s.closed.ci95![0]).toBeLessThanOrEqual(s.closed.accuracy!);
    expect(s.closed.ci95![1]).toBeGreaterThanOrEqual(s.closed.accuracy!);
  }
  if (open) expect(s.open.recall).toBeGreaterThanOrEqual(0);
  for (const i of run.items) expect(typeof i.prediction).toBe('string');
}

describe('medtune eval --bench on stand-in benchmarks', () => {
  let t: TestWorkspace;
  let fix: string;

  beforeAll(async () => {
    t = await makeWorkspace('bench');
    fix = await mkdtemp(join(tmpdir(), 'medtune-bench-fix-'));
    const made = await execa(t.venv.python, [join(PACKAGE_ROOT, 'test', 'fixtures', 'bench', 'make_bench.py'), fix]);
    expect(JSON.parse(made.stdout)).toMatchObject({ 'vqa-rad': { test: 6, train: 6 }, slake: { validation: 2 } });
  });
  afterAll(async () => {
    await t?.cleanup();
    if (fix) await rm(fix, { recursive: true, force: true });
  });

  describe('training on a benchmark: data prepare --source bench:ID[:DIR]', () => {
    it(
      'converts the train split into a registered dataset, others untouched, and reuses it the second time',
      async () => {
        const r = await medtune(t.ws, ['data', 'prepare', '--source', `bench:vqa-rad:${join(fix, 'vqa-rad')}`, '--json']);
        expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
        const p = lastJson<{
          name: string;
          train: number;
          val: number;
          layout: string;
          reused: boolean;
          entries: { train: string; val: string | null };
        }>(r.stdout);
        expect(p).toMatchObject({
          name: 'bench-vqa-rad',
          train: 6,
          val: 0,
          layout: 'bench',
          reused: false,
          entries: { train: 'bench-vqa-rad', val: null },
        });
        const info = JSON.parse(readFileSync(t.ws.datasetInfo, 'utf8')) as Record<string, { file_name: string }>;
        expect(info['bench-vqa-rad']!.file_name).toBe('bench-vqa-rad/train.jsonl');
        expect(info.sample!.file_name).toBe('sample/train.jsonl');
        const rows = readFileSync(join(t.ws.dataDir, 'bench-vqa-rad', 'train.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { messages: { content: string }[]; images: string[] });
        expect(rows[0]!.messages[0]!.content).toBe('<image>Is the liver normal?');
        expect(rows[0]!.messages[1]!.content).toBe('yes');
        for (const row of rows) expect(existsSync(join(t.ws.dataDir, row.images[0]!))).toBe(true);

        const again = await medtune(t.ws, ['data', 'prepare', '--source', `bench:vqa-rad:${join(fix, 'vqa-rad')}`, '--json']);
        expect(lastJson<{ reused: boolean }>(again.stdout).reused).toBe(true);
      },
      SLOW,
    );

    it(
      'registers a validation split as <name>_val where the benchmark has one (SLAKE, two train shards)',
      async () => {
        const r = await medtune(t.ws, [
          'data',
          'prepare',
          '--source',
          `bench:slake:${join(fix, 'slake')}`,
          '--name',
          'slake-train',
          '--json',
        ]);
        expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
        expect(lastJson(r.stdout)).toMatchObject({ train: 6, val: 2, entries: { train: 'slake-train', val: 'slake-train_val' } });
        // The Hub's refs/convert/parquet layout (default/<split>/0000.parquet) is read the same way.
        const conv = join(fix, 'slake-converted');
        for (const [split, files] of [
          ['train', ['train-00000-of-00002.parquet', 'train-00001-of-00002.parquet']],
          ['validation', ['validation-00000-of-00001.parquet']],
          ['test', ['test-00000-of-00001.parquet']],
        ] as const) {
          await mkdir(join(conv, 'default', split), { recursive: true });
          for (const [i, f] of files.entries())
            copyFileSync(join(fix, 'slake', 'data', f), join(conv, 'default', split, `000${i}.parquet`));
        }
        const c = await medtune(t.ws, ['data', 'prepare', '--source', `bench:slake:${conv}`, '--name', 'slake-conv', '--json']);
        expect(c.exitCode, c.all?.slice(-2000)).toBe(0);
        expect(lastJson(c.stdout)).toMatchObject({ train: 6, val: 2 });
        const list = await medtune(t.ws, ['data', 'list', '--json']);
        const ds = lastJson<{ datasets: { entry: string; rows: number | null }[] }>(list.stdout).datasets;
        expect(ds.find((d) => d.entry === 'slake-train_val')?.rows).toBe(2);
      },
      SLOW,
    );

    it(
      'says which columns are missing when the parquet is not the benchmark, and writes nothing',
      async () => {
        const bad = join(fix, 'bad');
        await mkdir(join(bad, 'data'), { recursive: true });
        await execa(t.venv.python, [
          '-c',
          [
            'import pyarrow as pa, pyarrow.parquet as pq, sys',
            "pq.write_table(pa.table({'img': [b'x'], 'q': ['a?'], 'answer': ['yes']}), sys.argv[1])",
          ].join('\n'),
          join(bad, 'data', 'train-00000-of-00001.parquet'),
        ]);
        const r = await medtune(t.ws, ['data', 'prepare', '--source', `bench:slake:${bad}`, '--name', 'bad-slake', '--json']);
        expect(r.exitCode).toBe(1);
        const e = lastJson<{ code: string; problem: string }>(r.stdout);
        expect(e.code).toBe('BAD_SCHEMA');
        expect(e.problem).toContain('missing: image, question');
        expect(existsSync(join(t.ws.dataDir, 'bad-slake'))).toBe(false);
        expect(readFileSync(t.ws.datasetInfo, 'utf8')).not.toContain('bad-slake');
        expect(r.stderr).not.toMatch(/Traceback|at .*\.js:\d+/);
      },
      SLOW,
    );
  });

  describe('a tuned model vs its base on VQA-RAD, in one command', () => {
    let runId: string;
    let res: BenchJson;
    beforeAll(async () => {
      const train = await medtune(t.ws, [
        'train',
        '--model',
        t.modelDir,
        '--dataset',
        'bench-vqa-rad',
        '--profile',
        'cpu',
        '--name',
        'bench',
        ...['max_steps=3', 'save_steps=3', 'logging_steps=1', 'learning_rate=5.0e-3'].flatMap((o) => ['--set', o]),
        '--json',
      ]);
      expect(train.exitCode, train.all?.slice(-2000)).toBe(0);
      runId = lastJson<{ id: string }>(train.stdout).id;
      const r = await medtune(t.ws, [
        'eval',
        runId,
        '--bench',
        'vqa-rad',
        '--bench-source',
        join(fix, 'vqa-rad'),
        '--with-base',
        '--limit',
        '4',
        '--max-new-tokens',
        '8',
        '--json',
      ]);
      expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
      res = lastJson<BenchJson>(r.stdout);
    });

    it('reports the test split: closed and open question counts, each score with its interval', () => {
      expect(res.bench).toMatchObject({ id: 'vqa-rad', split: 'test', repo: 'flaviagiammarino/vqa-rad' });
      expect(res.dataset).toBe('bench-vqa-rad-test');
      expect(res.source).toMatchObject({ kind: 'local', root: join(fix, 'vqa-rad') });
      expect(res.target).toMatchObject({ base: false, adapter: join(t.ws.runsDir, runId, 'output') });
      // The first four stand-in questions: no / the heart / Yes / right upper lobe.
      expectScoresFromAnswers(res, 2, 2);
      expect(res.items.map((i) => i.reference)).toEqual(['no', 'the heart', 'Yes', 'right upper lobe']);
      expect(res.items[1]!.question).toBe('What organ is enlarged?');
      expect(res.anchors.find((a) => a.model === 'LLaVA-Tri')?.comparable).toBe(true);
    });

    it("goes through LLaMA-Factory's predict path on the converted split", () => {
      const yaml = parseYaml(readFileSync(res.files.yaml, 'utf8')) as Record<string, unknown>;
      expect(yaml).toMatchObject({
        do_predict: true,
        predict_with_generate: true,
        do_sample: false,
        eval_dataset: 'bench-vqa-rad-test',
        max_samples: 4,
        max_new_tokens: 8,
      });
      expect(readFileSync(res.files.predictions, 'utf8').trim().split('\n')).toHaveLength(4);
      expect(JSON.parse(readFileSync(res.files.bench, 'utf8'))).toMatchObject({ splits: res.splits, diff: res.diff });
    });

    it('runs the base model on the same questions and keeps every per-question difference in a file', () => {
      expect(res.base!.target).toMatchObject({ base: true, adapter: null, model: t.modelDir });
      expectScoresFromAnswers(res.base!, 2, 2);
      const lines = readFileSync(res.diff!.file, 'utf8')
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as {
              index: number;
              question: string;
              base: string;
              tuned: string;
              baseScore: number;
              tunedScore: number;
              delta: number;
            },
        );
      expect(lines).toHaveLength(4);
      lines.forEach((d, i) => {
        expect(d.index).toBe(i);
        expect(d.base).toBe(res.base!.items[i]!.prediction);
        expect(d.tuned).toBe(res.items[i]!.prediction);
        expect(d.delta).toBeCloseTo(d.tunedScore - d.baseScore, 12);
      });
      expect(res.diff!.improved + res.diff!.worsened + res.diff!.unchanged).toBe(4);
      expect(res.diff!.improved).toBe(lines.filter((d) => d.delta > 0).length);
    });

    it(
      'prints a readable report without --json',
      async () => {
        const r = await medtune(t.ws, [
          'eval',
          runId,
          '--bench',
          'vqa-rad',
          '--bench-source',
          join(fix, 'vqa-rad'),
          '--limit',
          '2',
          '--max-new-tokens',
          '4',
        ]);
        expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
        expect(r.stdout).toContain('VQA-RAD test split: 2 questions (1 closed, 1 open)');
        expect(r.stdout).toMatch(/closed \(yes\/no\) accuracy [\d.]+ \[[\d.]+–[\d.]+\]/);
        expect(r.stdout).toContain('other scoring  LLaVA-Med-7B 51.4');
      },
      SLOW,
    );
  });

  describe('SLAKE and PathVQA on the plain tiny model', () => {
    it.each([
      ['slake', 2, 1],
      // PathVQA's CMYK JPEGs are converted to RGB on the way in.
      ['path-vqa', 2, 1],
    ])(
      '%s: %d closed and %d open among the first three questions',
      async (bench, closed, open) => {
        const r = await medtune(t.ws, [
          'eval',
          t.modelDir,
          '--bench',
          bench,
          '--bench-source',
          join(fix, bench),
          '--limit',
          '3',
          '--max-new-tokens',
          '6',
          '--json',
        ]);
        expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
        const res = lastJson<BenchJson>(r.stdout);
        expect(res.dataset).toBe(`bench-${bench}-test`);
        expectScoresFromAnswers(res, closed, open);
        expect(res.dir.startsWith(join(t.ws.root, 'evals'))).toBe(true);
      },
      SLOW,
    );
  });

  describe('wrong input', () => {
    it(
      'names the missing split and what it found',
      async () => {
        const r = await medtune(t.ws, ['eval', t.modelDir, '--bench', 'path-vqa', '--bench-source', join(fix, 'bad'), '--json']);
        expect(r.exitCode).toBe(1);
        const e = lastJson<{ code: string; problem: string; next: string }>(r.stdout);
        expect(e.code).toBe('BAD_SOURCE');
        expect(e.problem).toContain('no parquet files of the test split of path-vqa');
        expect(e.next).toContain('data/train-00000-of-00001.parquet');
      },
      SLOW,
    );

    it(
      'refuses an unknown benchmark and --with-base without --bench',
      async () => {
        const a = await medtune(t.ws, ['eval', t.modelDir, '--bench', 'pmc-vqa', '--json']);
        expect(lastJson<{ code: string }>(a.stdout).code).toBe('UNKNOWN_BENCH');
        const b = await medtune(t.ws, ['eval', t.modelDir, '--with-base', '--json']);
        expect(lastJson<{ code: string }>(b.stdout).code).toBe('BAD_OPTION');
        const d = await medtune(t.ws, ['eval', t.modelDir, '--bench', 'slake', '--dataset', 'sample_val', '--json']);
        expect(lastJson<{ code: string }>(d.stdout).code).toBe('BAD_OPTION');
        // A benchmark keeps its published splits and questions.
        const c = await medtune(t.ws, ['data', 'prepare', '--source', `bench:vqa-rad:${join(fix, 'vqa-rad')}`, '--limit', '3', '--json']);
        expect(lastJson<{ code: string; problem: string }>(c.stdout)).toMatchObject({
          code: 'BAD_OPTION',
          problem: expect.stringContaining('--limit applies to MedTrinity sources'),
        });
      },
      SLOW,
    );

    it(
      'uses an earlier Hub download (huggingface_hub cache) when the Hub cannot be reached, and records its revision',
      async () => {
        const cache = await mkdtemp(join(tmpdir(), 'medtune-bench-cache-'));
        try {
          const commit = 'bcf91e7654fb9d51c8ab6a5b82cacf3fafd2fae9';
          const repo = join(cache, 'bench', 'datasets--flaviagiammarino--vqa-rad');
          await mkdir(join(repo, 'refs'), { recursive: true });
          await mkdir(join(repo, 'snapshots', commit, 'data'), { recursive: true });
          writeFileSync(join(repo, 'refs', 'main'), commit);
          for (const f of readdirSync(join(fix, 'vqa-rad', 'data')))
            copyFileSync(join(fix, 'vqa-rad', 'data', f), join(repo, 'snapshots', commit, 'data', f));
          const r = await execa(
            process.execPath,
            [BIN, '-w', t.ws.root, 'data', 'prepare', '--source', 'bench:vqa-rad', '--name', 'rad-from-hub', '--json'],
            { reject: false, env: { CI: '1', HF_HUB_OFFLINE: '1', MEDTUNE_CACHE: cache, MEDTUNE_VENV: t.venv.dir } },
          );
          expect(r.exitCode, r.stdout + r.stderr).toBe(0);
          expect(lastJson(r.stdout)).toMatchObject({ train: 6, source: 'bench:vqa-rad' });
          const manifest = JSON.parse(readFileSync(join(t.ws.dataDir, 'rad-from-hub', 'manifest.json'), 'utf8')) as {
            source: { kind: string; revision: string };
          };
          expect(manifest.source).toMatchObject({ kind: 'hub', revision: commit });
        } finally {
          await rm(cache, { recursive: true, force: true });
        }
      },
      SLOW,
    );

    it(
      'keeps the real Hub download path, and says how to work offline when the Hub is off',
      async () => {
        const r = await execa(process.execPath, [BIN, '-w', t.ws.root, 'eval', t.modelDir, '--bench', 'slake', '--json'], {
          reject: false,
          env: { CI: '1', HF_HUB_OFFLINE: '1' },
        });
        expect(r.exitCode).toBe(1);
        const e = lastJson<{ code: string; next: string }>(r.stdout);
        expect(e.code).toBe('HUB_OFFLINE');
        expect(e.next).toContain('--bench-source');
        expect(e.next).toContain('mdwiratathya/SLAKE-vqa-english');
      },
      SLOW,
    );
  });

  it('leaves no process behind', () => {
    expect(strayProcesses(t.ws)).toEqual([]);
  });
});
