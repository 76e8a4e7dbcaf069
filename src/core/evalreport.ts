/**
 * Evaluation and comparison, the pure half: the predict YAML handed to `llamafactory-cli train`, readers for
 * what LLaMA-Factory's predict path writes (predict_results.json, generated_predictions.jsonl), medtune's
 * modality accuracy on top, and the terminal rendering of both reports (CJK-aware wrapping, side by side).
 */
import { z } from 'zod';
import stringWidth from 'string-width';
import { answerModality, labelModality, scoreModalities, type ModalityScore } from './modality.js';
import type { TrainConfig } from './trainconfig.js';

// ---------------------------------------------------------------------------------------------------------
// The predict config

export interface PredictInput {
  model: string;
  /** LoRA adapter folder (a run's output or checkpoint); null evaluates `model` alone. */
  adapter: string | null;
  template: string;
  dataset: string;
  datasetDir: string;
  outputDir: string;
  cutoffLen: number;
  imageMaxPixels?: number;
  imageMinPixels?: number;
  /** LLaMA-Factory's max_samples: the first N rows of the dataset. */
  limit?: number;
  batchSize: number;
  maxNewTokens: number;
}

/** LLaMA-Factory's predict path (SFT stage, generation on, no training), greedy so reruns agree. */
export function buildPredictConfig(p: PredictInput): TrainConfig {
  const c: TrainConfig = {
    model_name_or_path: p.model,
    trust_remote_code: true,
    stage: 'sft',
    do_train: false,
    do_predict: true,
    predict_with_generate: true,
    eval_dataset: p.dataset,
    dataset_dir: p.datasetDir,
    template: p.template,
    cutoff_len: p.cutoffLen,
    per_device_eval_batch_size: p.batchSize,
    max_new_tokens: p.maxNewTokens,
    // GeneratingArguments samples by default (do_sample true, temperature 0.95).
    do_sample: false,
    dataloader_num_workers: 0,
    report_to: 'none',
    output_dir: p.outputDir,
  };
  if (p.adapter) Object.assign(c, { adapter_name_or_path: p.adapter, finetuning_type: 'lora' });
  if (p.imageMaxPixels !== undefined) c.image_max_pixels = p.imageMaxPixels;
  if (p.imageMinPixels !== undefined) c.image_min_pixels = p.imageMinPixels;
  if (p.limit !== undefined) c.max_samples = p.limit;
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// What the predict path writes

/** BLEU-4 and ROUGE F-scores in percent, as LLaMA-Factory's ComputeSimilarity defines them. */
export interface NlgScores {
  bleu4: number | null;
  rouge1: number | null;
  rouge2: number | null;
  rougeL: number | null;
}

export interface PredictResults extends NlgScores {
  runtimeSeconds: number | null;
  samplesPerSecond: number | null;
}

const num = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v)
    ? v
    : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
      ? Number(v)
      : null;

/** predict_results.json: `predict_bleu-4`, `predict_rouge-1/2/l`, `predict_runtime`… */
export function parsePredictResults(raw: Record<string, unknown>): PredictResults {
  return {
    bleu4: num(raw['predict_bleu-4']),
    rouge1: num(raw['predict_rouge-1']),
    rouge2: num(raw['predict_rouge-2']),
    rougeL: num(raw['predict_rouge-l']),
    runtimeSeconds: num(raw.predict_runtime),
    samplesPerSecond: num(raw.predict_samples_per_second),
  };
}

export interface PredictionLine {
  prompt: string;
  predict: string;
  label: string;
}

/** generated_predictions.jsonl, one {prompt, predict, label} per line; a torn last line is skipped. */
export function parsePredictions(text: string): PredictionLine[] {
  const out: PredictionLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as Partial<PredictionLine>;
      out.push({ prompt: String(o.prompt ?? ''), predict: String(o.predict ?? ''), label: String(o.label ?? '') });
    } catch {
      // a partially written line
    }
  }
  return out;
}

/** The user's question inside a rendered chat prompt (Qwen2-VL's ChatML), without the image tokens. */
export function promptQuestion(prompt: string): string {
  const user = /<\|im_start\|>user\n([\s\S]*?)(?:<\|im_end\|>|$)/.exec(prompt)?.[1] ?? prompt;
  return user.replace(/<\|vision_start\|>(?:<\|image_pad\|>|<\|video_pad\|>)*<\|vision_end\|>/g, '').trim();
}

// ---------------------------------------------------------------------------------------------------------
// Dataset rows (medtune's sharegpt jsonl: messages + images, plus the pipeline's `modality`)

export interface DatasetRow {
  messages?: { role?: string; content?: string }[];
  images?: string[];
  modality?: string;
  id?: string;
}

export function parseDatasetRows(text: string): DatasetRow[] {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith('[')) return JSON.parse(t) as DatasetRow[];
  const rows: DatasetRow[] = [];
  for (const line of t.split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as DatasetRow);
    } catch {
      rows.push({});
    }
  }
  return rows;
}

export function rowQuestion(row: DatasetRow): string {
  const user = row.messages?.find((m) => m.role === 'user')?.content ?? '';
  return user.replace(/<image>/g, '').trim();
}

export function rowReference(row: DatasetRow): string | null {
  return row.messages?.find((m) => m.role === 'assistant')?.content ?? null;
}

/** The modality a row is labelled with: the pipeline's own field when present, else derived from the caption. */
/** The modalities a dataset's rows name, each once: the label set chance is taken from. */
export function labelSetOf(rows: readonly DatasetRow[]): string[] {
  return [...new Set(rows.map(rowModality).filter((m): m is string => m !== null))].sort();
}

export function rowModality(row: DatasetRow): string | null {
  if (row.modality && row.modality !== 'other') return row.modality;
  const ref = rowReference(row);
  return ref === null ? null : labelModality(ref);
}

// ---------------------------------------------------------------------------------------------------------
// The eval report

/** Per-sample scores as the metrics helper (python/medtune_py/metrics.py) reports them. */
export const SampleScores = z.object({ 'bleu-4': z.number(), 'rouge-1': z.number(), 'rouge-2': z.number(), 'rouge-l': z.number() });
export type SampleScores = z.infer<typeof SampleScores>;

export interface EvalSample {
  index: number;
  question: string;
  images: string[];
  label: string;
  predict: string;
  expectedModality: string | null;
  predictedModality: string | null;
  modalityCorrect: boolean | null;
  bleu4: number | null;
  rougeL: number | null;
}

export interface EvalMetrics extends NlgScores {
  samples: number;
  modalityAccuracy: number | null;
  modalityCorrect: number;
  modalityScored: number;
  /** Answers that named no modality. */
  modalityUnnamed: number;
  /** Uniform guessing among the modalities present. */
  chance: number | null;
  perModality: ModalityScore['perModality'];
  runtimeSeconds: number | null;
}

/**
 * Joins the predictions with the dataset rows they came from (LLaMA-Factory keeps the dataset order and takes
 * the first max_samples rows). A row is used only when its caption is the prediction's label, so a dataset that
 * changed since the eval cannot attach the wrong modality or images.
 */
export function buildEvalSamples(
  preds: readonly PredictionLine[],
  rows: readonly DatasetRow[],
  scores: readonly (SampleScores | null)[] = [],
): EvalSample[] {
  return preds.map((p, index) => {
    const row = rows[index];
    const ref = row ? rowReference(row) : null;
    const matches = row !== undefined && ref !== null && ref.trim() === p.label.trim();
    const expected = matches ? rowModality(row) : labelModality(p.label);
    const predicted = answerModality(p.predict);
    const s = scores[index] ?? null;
    return {
      index,
      question: matches ? rowQuestion(row) : promptQuestion(p.prompt),
      images: matches ? (row.images ?? []) : [],
      label: p.label.trim(),
      predict: p.predict.trim(),
      expectedModality: expected,
      predictedModality: predicted,
      modalityCorrect: expected === null ? null : predicted === expected,
      bleu4: s ? s['bleu-4'] : null,
      rougeL: s ? s['rouge-l'] : null,
    };
  });
}

/** `labelSet`: the modalities of the whole dataset, from which chance is taken (see scoreModalities). */
export function evalMetrics(results: PredictResults, samples: readonly EvalSample[], labelSet?: readonly string[]): EvalMetrics {
  const m = scoreModalities(
    samples.map((s) => ({ expected: s.expectedModality, predicted: s.predictedModality })),
    labelSet,
  );
  return {
    bleu4: results.bleu4,
    rouge1: results.rouge1,
    rouge2: results.rouge2,
    rougeL: results.rougeL,
    samples: samples.length,
    modalityAccuracy: m.accuracy,
    modalityCorrect: m.correct,
    modalityScored: m.scored,
    modalityUnnamed: m.unnamed,
    chance: m.chance,
    perModality: m.perModality,
    runtimeSeconds: results.runtimeSeconds,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Compare

export interface CompareItem {
  question: string;
  images: string[];
  reference: string | null;
  base: string;
  tuned: string;
  expectedModality: string | null;
  baseModality: string | null;
  tunedModality: string | null;
  baseScores: SampleScores | null;
  tunedScores: SampleScores | null;
  /** The answer stopped at the token limit, not at its end (absent in reports written before it was kept). */
  baseCut?: boolean;
  tunedCut?: boolean;
}

/** An answer as shown: a cut one ends with "…", so nobody reads a sentence the limit broke off as the model's last word. */
export const shownAnswer = (text: string, cut: boolean | undefined): string => (cut ? `${text}…` : text);

export interface SideMetrics {
  bleu4: number | null;
  rougeL: number | null;
  modalityAccuracy: number | null;
  modalityCorrect: number;
  modalityScored: number;
}

/** The evidence that the two sides are different weights, and that the base side is the base on disk. */
export const WeightProof = z.object({
  tensor: z.string(),
  baseSha256: z.string(),
  tunedSha256: z.string(),
  /** The same tensor read straight from the base model's safetensors, or null when it could not be matched. */
  baseOnDiskSha256: z.string().nullable(),
  /** ‖W_tuned − W_base‖ / ‖W_base‖ for that tensor. */
  relativeChange: z.number(),
  /** Of the candidate LoRA-targetable tensors compared, how many differ. */
  differing: z.number(),
  compared: z.number(),
});
export type WeightProof = z.infer<typeof WeightProof>;

/** What the compare helper (python/medtune_py/infer.py compare) returns. */
export const CompareHelperResult = z.object({
  proof: WeightProof,
  items: z.array(
    z.object({
      // cut: the answer stopped at max_new_tokens.
      base: z.object({ answer: z.string(), cut: z.boolean().optional() }),
      tuned: z.object({ answer: z.string(), cut: z.boolean().optional() }),
      baseScores: SampleScores.nullable(),
      tunedScores: SampleScores.nullable(),
    }),
  ),
  device: z.string().optional(),
});

/** What the metrics helper returns: one score set per prediction. */
export const MetricsHelperResult = z.object({ samples: z.array(SampleScores).optional() });

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function sideMetrics(items: readonly CompareItem[], side: 'base' | 'tuned'): SideMetrics {
  const scores = items.map((i) => (side === 'base' ? i.baseScores : i.tunedScores)).filter((s): s is SampleScores => s !== null);
  const m = scoreModalities(
    items.map((i) => ({ expected: i.expectedModality, predicted: side === 'base' ? i.baseModality : i.tunedModality })),
  );
  return {
    bleu4: mean(scores.map((s) => s['bleu-4'])),
    rougeL: mean(scores.map((s) => s['rouge-l'])),
    modalityAccuracy: m.accuracy,
    modalityCorrect: m.correct,
    modalityScored: m.scored,
  };
}

/** Refuses a comparison whose two sides are the same weights: every number in it would be meaningless. */
export function proofHolds(p: WeightProof): { ok: boolean; problem?: string } {
  if (p.baseSha256 === p.tunedSha256 || p.differing === 0) {
    return {
      ok: false,
      problem: `the base and the tuned model have identical weights (${p.compared} LoRA-targetable tensors compared, ${p.tensor} sha256 ${p.baseSha256.slice(0, 16)} on both sides)`,
    };
  }
  if (p.baseOnDiskSha256 !== null && p.baseOnDiskSha256 !== p.baseSha256) {
    return {
      ok: false,
      problem: `the base side's ${p.tensor} (sha256 ${p.baseSha256.slice(0, 16)}) is not the one in the base model's files (${p.baseOnDiskSha256.slice(0, 16)}): something modified the base weights after loading`,
    };
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------------------
// Terminal text

/** Terminal columns a string takes (CJK and full-width forms take two, combining marks none), by string-width. */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

/** Wraps to `width` columns: at spaces for words, anywhere between CJK characters, hard inside overlong words. */
export function wrapText(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.replace(/\r/g, '').split('\n')) {
    let line = '';
    let lineWidth = 0;
    const flush = () => {
      out.push(line.trimEnd());
      line = '';
      lineWidth = 0;
    };
    for (const token of para.match(/\s+|[^\s\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60]+|./gu) ?? []) {
      if (/^\s+$/.test(token)) {
        if (lineWidth > 0 && lineWidth < width) {
          line += ' ';
          lineWidth += 1;
        }
        continue;
      }
      const tw = displayWidth(token);
      if (lineWidth + tw <= width) {
        line += token;
        lineWidth += tw;
        continue;
      }
      if (lineWidth > 0) flush();
      for (const ch of token) {
        const cw = displayWidth(ch);
        if (lineWidth + cw > width) flush();
        line += ch;
        lineWidth += cw;
      }
    }
    flush();
  }
  return out;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

/** Two texts in bordered columns of equal width, `total` columns wide overall. */
export function sideBySide(left: { title: string; text: string }, right: { title: string; text: string }, total: number): string[] {
  const col = Math.max(10, Math.floor((total - 7) / 2));
  const l = wrapText(left.text || '(empty answer)', col);
  const r = wrapText(right.text || '(empty answer)', col);
  const rule = (title: string) => `${title} ${'─'.repeat(Math.max(0, col - displayWidth(title)))}`;
  const lines = [`┌─${rule(left.title)}┬─${rule(right.title)}┐`];
  for (let i = 0; i < Math.max(l.length, r.length); i++) lines.push(`│ ${pad(l[i] ?? '', col)} │ ${pad(r[i] ?? '', col)} │`);
  lines.push(`└${'─'.repeat(col + 2)}┴${'─'.repeat(col + 2)}┘`);
  return lines;
}

export const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
const score = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : v.toFixed(2));

export function formatEvalLines(
  r: { target: string; dataset: string; dir: string; metrics: EvalMetrics; samples: readonly EvalSample[] },
  show = 3,
): string[] {
  const m = r.metrics;
  const lines = [
    `eval of ${r.target} on ${r.dataset} (${m.samples} samples)`,
    `  BLEU-4 ${score(m.bleu4)}   ROUGE-1 ${score(m.rouge1)}   ROUGE-2 ${score(m.rouge2)}   ROUGE-L ${score(m.rougeL)}`,
    `  modality accuracy ${pct(m.modalityAccuracy)} (${m.modalityCorrect}/${m.modalityScored}; chance ${pct(m.chance)}; ${m.modalityUnnamed} answers named none)`,
  ];
  const per = Object.entries(m.perModality)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v.correct}/${v.total}`);
  if (per.length) lines.push(`  per modality: ${per.join(', ')}`);
  for (const s of r.samples.slice(0, show)) {
    const mark = s.modalityCorrect === null ? '·' : s.modalityCorrect ? '✓' : '✗';
    lines.push(
      `  ${mark} #${s.index + 1} [${s.expectedModality ?? '?'} → ${s.predictedModality ?? 'none'}] ${s.predict.slice(0, 110).replace(/\s+/g, ' ')}`,
    );
  }
  lines.push(`  saved: ${r.dir}/eval.json`);
  return lines;
}

export function formatCompareLines(
  r: {
    baseLabel: string;
    tunedLabel: string;
    items: readonly CompareItem[];
    metrics: { base: SideMetrics; tuned: SideMetrics };
    proof: WeightProof;
  },
  width: number,
): string[] {
  const lines: string[] = [];
  r.items.forEach((it, i) => {
    lines.push('', `#${i + 1}  ${it.question}`);
    if (it.images.length) lines.push(`    image${it.images.length > 1 ? 's' : ''}: ${it.images.join(', ')}`);
    if (it.reference !== null) {
      const ref = wrapText(it.reference, Math.max(20, width - 15));
      lines.push(`    reference  ${ref[0] ?? ''}`, ...ref.slice(1).map((l) => `               ${l}`));
    }
    const tag = (m: string | null) =>
      it.expectedModality === null ? '' : ` ${m === it.expectedModality ? '✓' : '✗'} ${m ?? 'no modality'}`;
    lines.push(
      ...sideBySide(
        { title: `base${tag(it.baseModality)}`, text: shownAnswer(it.base, it.baseCut) },
        { title: `tuned${tag(it.tunedModality)}`, text: shownAnswer(it.tuned, it.tunedCut) },
        width,
      ),
    );
  });
  const b = r.metrics.base;
  const t = r.metrics.tuned;
  lines.push(
    '',
    `               ${pad('base', 12)}tuned`,
    `  BLEU-4       ${pad(score(b.bleu4), 12)}${score(t.bleu4)}`,
    `  ROUGE-L      ${pad(score(b.rougeL), 12)}${score(t.rougeL)}`,
    `  modality     ${pad(`${pct(b.modalityAccuracy)} ${b.modalityCorrect}/${b.modalityScored}`, 12)}${pct(t.modalityAccuracy)} ${t.modalityCorrect}/${t.modalityScored}`,
    '',
    `  base  = ${r.baseLabel}`,
    `  tuned = ${r.tunedLabel}`,
    `  weights differ: ${r.proof.tensor} sha256 ${r.proof.baseSha256.slice(0, 12)} (base${r.proof.baseOnDiskSha256 === r.proof.baseSha256 ? ', = base files' : ''}) ≠ ${r.proof.tunedSha256.slice(0, 12)} (tuned), relative change ${r.proof.relativeChange.toExponential(2)}; ${r.proof.differing}/${r.proof.compared} LoRA-targetable tensors differ`,
  );
  return lines;
}
