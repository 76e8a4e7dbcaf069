import { describe, expect, it } from 'vitest';
import {
  buildEvalSamples,
  buildPredictConfig,
  displayWidth,
  evalMetrics,
  formatCompareLines,
  formatEvalLines,
  parseDatasetRows,
  parsePredictions,
  parsePredictResults,
  promptQuestion,
  proofHolds,
  rowModality,
  sideBySide,
  sideMetrics,
  wrapText,
  type CompareItem,
  type WeightProof,
} from '../../src/core/evalreport.js';

const CT = 'The image is a non-contrast computed tomography (CT) scan of the brain. The region of interest is bright.';
const MRI = 'The image is a T2-weighted magnetic resonance imaging (MRI) scan of the brain. A bright mass.';
const pad = '<|image_pad|>'.repeat(4);
const prompt = (q: string) =>
  `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>${pad}<|vision_end|>${q}<|im_end|>\n<|im_start|>assistant\n`;
const row = (q: string, caption: string, extra: Record<string, unknown> = {}) => ({
  messages: [
    { role: 'user', content: `<image>${q}` },
    { role: 'assistant', content: caption },
  ],
  images: ['s/images/a.jpg'],
  ...extra,
});

describe('predict config', () => {
  const base = {
    model: '/m',
    template: 'qwen2_vl',
    dataset: 'd_val',
    datasetDir: '/w/data',
    outputDir: '/o',
    cutoffLen: 1024,
    batchSize: 4,
    maxNewTokens: 64,
  };
  it('runs the SFT predict path greedily, without training', () => {
    const c = buildPredictConfig({ ...base, adapter: null });
    expect(c).toMatchObject({
      stage: 'sft',
      do_train: false,
      do_predict: true,
      predict_with_generate: true,
      eval_dataset: 'd_val',
      do_sample: false,
      report_to: 'none',
      per_device_eval_batch_size: 4,
      max_new_tokens: 64,
    });
    expect(c).not.toHaveProperty('adapter_name_or_path');
    expect(c).not.toHaveProperty('max_samples');
    expect(c).not.toHaveProperty('dataset');
  });
  it('adds the adapter, the image sizes and max_samples when given', () => {
    const c = buildPredictConfig({ ...base, adapter: '/r/output', imageMaxPixels: 16384, imageMinPixels: 1024, limit: 10 });
    expect(c).toMatchObject({
      adapter_name_or_path: '/r/output',
      finetuning_type: 'lora',
      image_max_pixels: 16384,
      image_min_pixels: 1024,
      max_samples: 10,
    });
  });
});

describe('predict outputs', () => {
  it('reads predict_results.json keys (numbers or quoted numbers)', () => {
    expect(
      parsePredictResults({
        'predict_bleu-4': 22.1,
        'predict_rouge-1': '25.3',
        'predict_rouge-2': 15.3,
        'predict_rouge-l': 17.1,
        predict_runtime: 3.28,
        predict_samples_per_second: 13.1,
      }),
    ).toEqual({ bleu4: 22.1, rouge1: 25.3, rouge2: 15.3, rougeL: 17.1, runtimeSeconds: 3.28, samplesPerSecond: 13.1 });
    expect(parsePredictResults({}).bleu4).toBeNull();
  });
  it('reads generated_predictions.jsonl and skips a torn last line', () => {
    const text = `${JSON.stringify({ prompt: 'p', predict: 'a', label: 'b' })}\n{"prompt": "p", "pre`;
    expect(parsePredictions(text)).toEqual([{ prompt: 'p', predict: 'a', label: 'b' }]);
  });
  it('finds the question inside a rendered prompt, without image tokens', () => {
    expect(promptQuestion(prompt('What is shown?'))).toBe('What is shown?');
    expect(promptQuestion(prompt('图片中的诊断结果是怎样?'))).toBe('图片中的诊断结果是怎样?');
  });
});

describe('dataset rows', () => {
  it('parses jsonl and json arrays', () => {
    expect(parseDatasetRows(`${JSON.stringify(row('q', CT))}\n\n${JSON.stringify(row('q', MRI))}\n`)).toHaveLength(2);
    expect(parseDatasetRows(JSON.stringify([row('q', CT)]))).toHaveLength(1);
  });
  it('prefers the pipeline modality field, else derives it from the caption', () => {
    expect(rowModality(row('q', CT, { modality: 'MRI' }))).toBe('MRI');
    expect(rowModality(row('q', CT, { modality: 'other' }))).toBe('CT');
    expect(rowModality(row('q', CT))).toBe('CT');
  });
});

describe('eval samples and metrics', () => {
  const preds = [
    { prompt: prompt('Q1'), predict: 'The image is a computed tomography (CT) scan.', label: `${CT}\n` },
    { prompt: prompt('Q2'), predict: 'The image is a The image is a', label: MRI },
    { prompt: prompt('Q3'), predict: 'An MRI scan.', label: CT },
  ];
  const rows = [row('Q1', CT, { modality: 'CT' }), row('Q2', MRI, { modality: 'MRI' }), row('Q3', MRI, { modality: 'MRI' })];
  const samples = buildEvalSamples(preds, rows, [{ 'bleu-4': 10, 'rouge-1': 20, 'rouge-2': 5, 'rouge-l': 15 }]);

  it('joins predictions with their rows by position when the captions agree', () => {
    expect(samples[0]).toMatchObject({
      index: 0,
      question: 'Q1',
      images: ['s/images/a.jpg'],
      expectedModality: 'CT',
      predictedModality: 'CT',
      modalityCorrect: true,
      bleu4: 10,
      rougeL: 15,
    });
    expect(samples[1]).toMatchObject({ expectedModality: 'MRI', predictedModality: null, modalityCorrect: false, bleu4: null });
  });
  it('falls back to the label and the prompt when the row does not match (the dataset changed)', () => {
    expect(samples[2]).toMatchObject({
      question: 'Q3',
      images: [],
      expectedModality: 'CT',
      predictedModality: 'MRI',
      modalityCorrect: false,
    });
  });
  it('puts LLaMA-Factory scores and modality accuracy together', () => {
    const m = evalMetrics(
      parsePredictResults({ 'predict_bleu-4': 1, 'predict_rouge-1': 2, 'predict_rouge-2': 3, 'predict_rouge-l': 4 }),
      samples,
    );
    expect(m).toMatchObject({
      bleu4: 1,
      rouge1: 2,
      rouge2: 3,
      rougeL: 4,
      samples: 3,
      modalityCorrect: 1,
      modalityScored: 3,
      modalityUnnamed: 1,
      chance: 0.5,
    });
    expect(m.modalityAccuracy).toBeCloseTo(1 / 3);
    // Chance from the dataset's label set (five modalities), not from the three samples'.
    expect(evalMetrics(parsePredictResults({}), samples, ['CT', 'MRI', 'X-ray', 'ultrasound', 'PET']).chance).toBeCloseTo(0.2);
    const text = formatEvalLines({ target: 'run X', dataset: 'd_val', dir: '/o', metrics: m, samples }).join('\n');
    expect(text).toContain('modality accuracy 33.3% (1/3; chance 50.0%; 1 answers named none)');
    expect(text).toContain('BLEU-4 1.00');
  });
});

describe('compare', () => {
  const proof: WeightProof = {
    tensor: 'model.language_model.layers.0.self_attn.q_proj.weight',
    baseSha256: 'a'.repeat(64),
    tunedSha256: 'b'.repeat(64),
    baseOnDiskSha256: 'a'.repeat(64),
    relativeChange: 0.12,
    differing: 7,
    compared: 7,
  };
  const item = (base: string, tuned: string): CompareItem => ({
    question: 'What is this?',
    images: ['/x.png'],
    reference: CT,
    base,
    tuned,
    expectedModality: 'CT',
    baseModality: null,
    tunedModality: 'CT',
    baseScores: { 'bleu-4': 1, 'rouge-1': 2, 'rouge-2': 0, 'rouge-l': 2 },
    tunedScores: { 'bleu-4': 40, 'rouge-1': 50, 'rouge-2': 30, 'rouge-l': 44 },
  });

  it('scores each side', () => {
    const items = [item('', 'A CT scan.'), { ...item('An MRI.', 'A CT scan.'), baseModality: 'MRI' }];
    expect(sideMetrics(items, 'base')).toEqual({ bleu4: 1, rougeL: 2, modalityAccuracy: 0, modalityCorrect: 0, modalityScored: 2 });
    expect(sideMetrics(items, 'tuned')).toEqual({ bleu4: 40, rougeL: 44, modalityAccuracy: 1, modalityCorrect: 2, modalityScored: 2 });
  });

  it('accepts differing weights whose base side matches the base files', () => {
    expect(proofHolds(proof)).toEqual({ ok: true });
    expect(proofHolds({ ...proof, baseOnDiskSha256: null })).toEqual({ ok: true });
  });
  it('refuses identical weights and a base side that is not the base on disk', () => {
    expect(proofHolds({ ...proof, tunedSha256: proof.baseSha256, differing: 0 }).ok).toBe(false);
    expect(proofHolds({ ...proof, differing: 0 }).problem).toMatch(/identical weights/);
    expect(proofHolds({ ...proof, baseOnDiskSha256: 'c'.repeat(64) }).problem).toMatch(/not the one in the base model's files/);
  });

  it('renders both answers side by side with the reference, the metrics and the proof', () => {
    const items = [item('', 'The image is a CT scan of the brain.')];
    const lines = formatCompareLines(
      {
        baseLabel: 'model tiny',
        tunedLabel: 'run R',
        items,
        metrics: { base: sideMetrics(items, 'base'), tuned: sideMetrics(items, 'tuned') },
        proof,
      },
      80,
    );
    const text = lines.join('\n');
    expect(text).toContain('reference  The image is a non-contrast');
    expect(text).toContain('base ✗ no modality');
    expect(text).toContain('tuned ✓ CT');
    expect(text).toContain('(empty answer)');
    expect(text).toContain('The image is a CT scan of the brain.');
    expect(text).toContain(`sha256 ${'a'.repeat(12)} (base, = base files) ≠ ${'b'.repeat(12)} (tuned)`);
    for (const l of lines.filter((x) => x.startsWith('│') || x.startsWith('┌') || x.startsWith('└')))
      expect(displayWidth(l)).toBe(displayWidth(lines.find((x) => x.startsWith('┌'))!));
  });
});

describe('terminal text', () => {
  it('counts CJK as two columns', () => {
    expect(displayWidth('CT图像')).toBe(6);
    expect(displayWidth('abc')).toBe(3);
  });
  it.each([
    ['The image is a CT scan of the brain', 12, ['The image is', 'a CT scan of', 'the brain']],
    ['supercalifragilistic', 8, ['supercal', 'ifragili', 'stic']],
    ['这是一张脑部的CT图像', 8, ['这是一张', '脑部的CT', '图像']],
    ['one\ntwo', 10, ['one', 'two']],
    ['', 10, ['']],
  ])('wraps %j at %i columns', (text, width, want) => {
    const lines = wrapText(text, width);
    expect(lines).toEqual(want);
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(width);
  });
  it('keeps the columns aligned with Chinese text', () => {
    const lines = sideBySide(
      { title: 'base', text: '这是一张脑部的CT图像，显示出血。' },
      { title: 'tuned', text: 'The image is a CT scan.' },
      40,
    );
    const widths = new Set(lines.map(displayWidth));
    expect(widths.size).toBe(1);
  });
});
