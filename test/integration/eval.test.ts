/**
 * Evaluate, compare and ask, for real: the tiny Qwen2-VL trained with the demo's settings on the offline sample
 * set through `medtune train` and `medtune export`, then `medtune eval` (LLaMA-Factory's predict path) on the
 * tuned and the base model, `medtune compare` (base ≠ tuned proven by weight hashes), `medtune ask` with two
 * images, and the demo's learning check.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRAIN } from '../../src/app/demo.js';
import { labelModality } from '../../src/core/modality.js';
import { GREEDY } from '../../src/core/serve.js';
import { learningCheck, LEARNING_TARGET, type LearningCheck } from '../../src/runtime/evaluate.js';
import { ask } from '../../src/runtime/infer.js';
import { DATASET, lastJson, makeWorkspace, medtune, strayProcesses, type TestWorkspace } from './harness.js';

interface EvalJson {
  dir: string;
  target: { kind: string; base: boolean; adapter: string | null; model: string };
  dataset: string;
  metrics: {
    bleu4: number;
    rouge1: number;
    rouge2: number;
    rougeL: number;
    samples: number;
    modalityAccuracy: number;
    modalityScored: number;
    chance: number;
  };
  samples: {
    question: string;
    images: string[];
    label: string;
    predict: string;
    expectedModality: string | null;
    bleu4: number | null;
    rougeL: number | null;
  }[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('eval, compare and ask on the tiny model', () => {
  let t: TestWorkspace;
  let runId: string;
  let exportName: string;
  let exportRef: string;
  let images: string[];

  beforeAll(async () => {
    t = await makeWorkspace('eval');
    const train = await medtune(t.ws, [
      'train',
      '--model',
      t.modelDir,
      '--dataset',
      DATASET,
      '--profile',
      'cpu',
      '--name',
      'eval',
      ...[`num_train_epochs=${DEMO_TRAIN.epochs}`, ...DEMO_TRAIN.overrides].flatMap((o) => ['--set', o]),
      '--json',
    ]);
    expect(train.exitCode, train.all?.slice(-2000)).toBe(0);
    runId = lastJson<{ id: string }>(train.stdout).id;
    const exported = await medtune(t.ws, ['export', runId, '--no-verify', '--json']);
    expect(exported.exitCode, exported.all?.slice(-2000)).toBe(0);
    exportName = lastJson<{ name: string }>(exported.stdout).name;
    // The export is named after its run, so a bare name means the run: `export:` picks the merged model.
    exportRef = `export:${exportName}`;
    const val = readFileSync(join(t.ws.dataDir, DATASET, 'val.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { images: string[] });
    images = [val[0]!.images[0]!, val[1]!.images[0]!].map((i) => join(t.ws.dataDir, i));
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  describe('medtune eval', () => {
    let tuned: EvalJson;
    let base: EvalJson;
    beforeAll(async () => {
      const a = await medtune(t.ws, ['eval', runId, '--limit', '12', '--json']);
      expect(a.exitCode, a.all?.slice(-2000)).toBe(0);
      tuned = lastJson<EvalJson>(a.stdout);
      const b = await medtune(t.ws, ['eval', runId, '--base', '--limit', '12', '--json']);
      expect(b.exitCode, b.all?.slice(-2000)).toBe(0);
      base = lastJson<EvalJson>(b.stdout);
    });

    it('writes BLEU-4, ROUGE and modality accuracy for the tuned model next to its run', () => {
      expect(tuned.dir.startsWith(join(t.ws.runsDir, runId, 'evals')), `${tuned.dir} vs ${runId}`).toBe(true);
      expect(tuned.dataset).toBe(`${DATASET}_val`);
      expect(tuned.target).toMatchObject({ kind: 'run', base: false, adapter: join(t.ws.runsDir, runId, 'output') });
      for (const k of ['bleu4', 'rouge1', 'rouge2', 'rougeL', 'modalityAccuracy', 'chance'] as const)
        expect(typeof tuned.metrics[k], k).toBe('number');
      expect(tuned.metrics.samples).toBe(12);
      expect(tuned.metrics.modalityScored).toBe(12);
      for (const f of ['eval.json', 'eval.yaml', 'predict_results.json', 'generated_predictions.jsonl', 'stdout.log', 'stderr.log'])
        expect(existsSync(join(tuned.dir, f)), f).toBe(true);
      const yaml = parseYaml(readFileSync(join(tuned.dir, 'eval.yaml'), 'utf8')) as Record<string, unknown>;
      expect(yaml).toMatchObject({
        do_train: false,
        do_predict: true,
        predict_with_generate: true,
        do_sample: false,
        max_samples: 12,
        template: 'qwen2_vl',
        image_max_pixels: 16384,
      });
    });

    it('keeps the per-sample answers, with questions, images and references from the held-out rows', () => {
      const s = tuned.samples[0]!;
      expect(s.question.length).toBeGreaterThan(5);
      expect(s.images[0]!.startsWith(join(t.ws.dataDir, DATASET, 'images'))).toBe(true);
      expect(existsSync(s.images[0]!)).toBe(true);
      expect(s.label).toMatch(/^The image is/);
      expect(typeof s.predict).toBe('string');
      expect(s.expectedModality).not.toBeNull();
    });

    it("scores each sample with LLaMA-Factory's own definitions (their mean is its predict_bleu-4 / rouge-l)", () => {
      expect(mean(tuned.samples.map((s) => s.bleu4!))).toBeCloseTo(tuned.metrics.bleu4, 6);
      expect(mean(tuned.samples.map((s) => s.rougeL!))).toBeCloseTo(tuned.metrics.rougeL, 6);
    });

    it('evaluates the base model alone with --base, with the same settings', () => {
      expect(base.target).toMatchObject({ base: true, adapter: null, model: t.modelDir });
      expect(base.dir.endsWith('-base')).toBe(true);
      const yaml = parseYaml(readFileSync(join(base.dir, 'eval.yaml'), 'utf8')) as Record<string, unknown>;
      expect(yaml).not.toHaveProperty('adapter_name_or_path');
      expect(yaml.image_max_pixels).toBe(16384);
      expect(base.metrics.samples).toBe(12);
      expect(tuned.metrics.bleu4).toBeGreaterThan(base.metrics.bleu4);
    });

    it("reads every held-out caption's modality as the data pipeline labelled it", () => {
      const rows = readFileSync(join(t.ws.dataDir, DATASET, 'val.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { modality: string; messages: { content: string }[] });
      for (const r of rows) expect(labelModality(r.messages[1]!.content)).toBe(r.modality);
    });
  });

  describe('medtune compare', () => {
    it('shows both answers with the reference, metrics for both, and proves the base side is the base model', async () => {
      const r = await medtune(t.ws, ['compare', '--tuned', runId, '--limit', '2', '--json']);
      expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
      const c = lastJson<{
        base: { model: string; adapter: string | null };
        items: { base: string; tuned: string; reference: string }[];
        metrics: { base: { bleu4: number }; tuned: { bleu4: number } };
        proof: { baseSha256: string; tunedSha256: string; baseOnDiskSha256: string; differing: number; relativeChange: number };
      }>(r.stdout);
      expect(c.base).toMatchObject({ model: t.modelDir, adapter: null });
      expect(c.items).toHaveLength(2);
      for (const it of c.items) {
        expect(typeof it.base).toBe('string');
        expect(it.tuned.length).toBeGreaterThan(0);
        expect(it.reference).toMatch(/^The image is/);
      }
      expect(c.proof.tunedSha256).not.toBe(c.proof.baseSha256);
      expect(c.proof.baseOnDiskSha256).toBe(c.proof.baseSha256);
      expect(c.proof.differing).toBeGreaterThan(0);
      expect(c.proof.relativeChange).toBeGreaterThan(0);
      expect(typeof c.metrics.base.bleu4).toBe('number');
      expect(typeof c.metrics.tuned.bleu4).toBe('number');
    });

    it('prints the answers side by side for people, with the weight proof', async () => {
      const r = await medtune(t.ws, [
        'compare',
        '--tuned',
        exportRef,
        '--images',
        images[0]!,
        '--prompt',
        'What type of medical image is this?',
      ]);
      expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
      expect(r.stdout).toMatch(/┌─base .*┬─tuned /);
      expect(r.stdout).toContain('What type of medical image is this?');
      expect(r.stdout).toContain(`tuned = export ${exportName} (merged from`);
      expect(r.stdout).toMatch(/weights differ: .* sha256 [0-9a-f]{12} \(base, = base files\) ≠ [0-9a-f]{12} \(tuned\)/);
    });

    it('refuses to compare a model with itself', async () => {
      const r = await medtune(t.ws, ['compare', '--tuned', exportRef, '--base', exportRef, '--limit', '1', '--json']);
      expect(r.exitCode).toBe(1);
      expect(lastJson<{ code: string }>(r.stdout).code).toBe('BASE_EQUALS_TUNED');
    });
  });

  describe('medtune ask', () => {
    it('answers one question about two images, streaming the answer', async () => {
      const r = await medtune(t.ws, ['ask', exportRef, '--image', images[0]!, '--image', images[1]!, 'Describe these two images.']);
      expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
      expect(r.stdout.trim().length).toBeGreaterThan(0);
      expect(r.stderr).toMatch(/tokens in .* s on cpu, 2 images/);
    });

    it('gives scripts a JSON object with the answer, for a Chinese question too', async () => {
      const r = await medtune(t.ws, ['ask', runId, '--image', images[0]!, '--image', images[1]!, '--json', '这是什么类型的医学影像?']);
      expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
      const out = lastJson<{ answer: string; question: string; images: string[]; tokens: number }>(r.stdout);
      expect(typeof out.answer).toBe('string');
      expect(out.question).toBe('这是什么类型的医学影像?');
      expect(out.images).toHaveLength(2);
      expect(out.tokens).toBeGreaterThan(0);
    });

    it('streams token events as they are generated', async () => {
      const pieces: string[] = [];
      const res = await ask(t.ws, t.venv, {
        model: runId,
        images,
        question: 'What is shown?',
        maxNewTokens: 24,
        sampling: GREEDY,
        onToken: (p) => pieces.push(p),
      });
      expect(pieces.length).toBeGreaterThan(1);
      expect(pieces.join('').trim()).toBe(res.answer);
    });
  });

  describe('learning check (the demo runs the same)', () => {
    let check: LearningCheck;
    beforeAll(async () => {
      check = await learningCheck(t.ws, t.venv, { run: runId, export: exportName });
      process.stderr.write(
        `[learning check] ${check.steps} steps: tuned ${check.tunedAccuracy} vs base ${check.baseAccuracy} (chance ${check.chance}) on ${check.samples} held-out images\n`,
      );
    });

    it('measures the tuned and the base model on every held-out image', () => {
      expect(check.samples).toBeGreaterThan(20);
      expect(check.steps).toBeGreaterThan(0);
      expect(check.chance).toBeCloseTo(1 / 8);
      expect(check.tuned.metrics.samples).toBe(check.base.metrics.samples);
      expect(check.tuned.dir.startsWith(join(t.ws.exportsDir, exportName, 'evals'))).toBe(true);
      expect(check.base.dir.endsWith('-base')).toBe(true);
    });

    it(`the tuned model names the right modality far more often than the base (target ${LEARNING_TARGET * 100}%)`, () => {
      expect(check.tunedAccuracy!).toBeGreaterThanOrEqual(LEARNING_TARGET);
      expect(check.baseAccuracy!).toBeLessThanOrEqual(check.chance! * 2);
      expect(check.passed).toBe(true);
    });
  });

  it('leaves no process behind', () => {
    expect(strayProcesses(t.ws)).toEqual([]);
  });
});
