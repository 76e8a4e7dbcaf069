/**
 * Medical VQA benchmarks (VQA-RAD, SLAKE, PathVQA), the pure half: the registry (Hub ids, splits, columns, how
 * closed questions are told apart, published anchors and their protocol) and the scoring the papers use —
 * closed (yes/no) questions by accuracy, open questions by recall of the reference answer's tokens — with
 * confidence intervals, plus base-vs-tuned differences per question.
 *
 * Answer normalisation follows LLaVA-Med's eval (llava/eval/eval_metrics/glossary.py `normalize_word`):
 * lower case, punctuation to spaces, full stops dropped unless inside a number, number words zero–ten to digits,
 * articles a/an/the removed. A question is closed when its normalised reference is `yes` or `no` (the rule of
 * cliangyu/med_eval for these Hub datasets, which carry no answer_type column).
 */

export type BenchId = 'vqa-rad' | 'slake' | 'path-vqa';
export type BenchSplit = 'train' | 'validation' | 'test';

export interface PublishedAnchor {
  model: string;
  /** Percent, as printed by the source. */
  score: number;
  /** What the number measures. */
  metric: string;
  protocol: string;
  source: string;
  /** Whether medtune's closed accuracy / open recall measure the same thing on the same questions. */
  comparable: boolean;
  why: string;
}

export interface Benchmark {
  id: BenchId;
  label: string;
  /** Hugging Face dataset id (parquet files under data/). */
  repo: string;
  /** Splits on the Hub, in the order a user trains → selects → measures. */
  splits: readonly BenchSplit[];
  /** The split the papers report. */
  evalSplit: BenchSplit;
  /** Rows of the eval split on the Hub, when known. */
  evalRows: number | null;
  columns: { image: string; question: string; answer: string };
  /** How closed questions are told apart from open ones. */
  closedRule: 'yes-no-answer';
  anchors: readonly PublishedAnchor[];
}

const HUATUO = 'https://github.com/FreedomIntelligence/HuatuoGPT-Vision (README, medical VQA table)';
const HUATUO_WHY =
  'multiple-choice: each question is rewritten with options and the chosen letter is scored; medtune scores free-text answers';
const MEDTRINITY = 'MedTrinity-25M (ICLR 2025, arXiv 2408.02900): LLaVA-Tri fine-tuned on each benchmark';
const MEDTRINITY_WHY =
  "free-text answers on the same test split, fine-tuned on the train split, scored LLaVA-Med style (closed accuracy, open recall) — the same kind of number medtune measures; check the paper's table for which of the two the headline figure is, and note LLaVA-Med's closed set follows the original answer_type (some closed questions are not yes/no)";

const anchors = (rows: [string, number, string, string, string, boolean, string][]): PublishedAnchor[] =>
  rows.map(([model, score, metric, protocol, source, comparable, why]) => ({ model, score, metric, protocol, source, comparable, why }));

export const BENCHMARKS: Readonly<Record<BenchId, Benchmark>> = {
  'vqa-rad': {
    id: 'vqa-rad',
    label: 'VQA-RAD',
    repo: 'flaviagiammarino/vqa-rad',
    splits: ['train', 'test'],
    evalSplit: 'test',
    evalRows: 451,
    columns: { image: 'image', question: 'question', answer: 'answer' },
    closedRule: 'yes-no-answer',
    anchors: anchors([
      ['LLaVA-Tri', 81.6, 'accuracy (paper abstract)', 'fine-tuned on VQA-RAD train', MEDTRINITY, true, MEDTRINITY_WHY],
      ['LLaVA-Med-7B', 51.4, 'multiple-choice accuracy', 'zero-shot, multiple choice', HUATUO, false, HUATUO_WHY],
      ['HuatuoGPT-Vision-34B', 68.1, 'multiple-choice accuracy', 'zero-shot, multiple choice', HUATUO, false, HUATUO_WHY],
    ]),
  },
  slake: {
    id: 'slake',
    label: 'SLAKE (English)',
    repo: 'mdwiratathya/SLAKE-vqa-english',
    splits: ['train', 'validation', 'test'],
    evalSplit: 'test',
    evalRows: null,
    columns: { image: 'image', question: 'question', answer: 'answer' },
    closedRule: 'yes-no-answer',
    anchors: anchors([
      ['LLaVA-Tri', 87.8, 'accuracy (paper abstract)', 'fine-tuned on SLAKE train', MEDTRINITY, true, MEDTRINITY_WHY],
      ['LLaVA-Med-7B', 48.6, 'multiple-choice accuracy', 'zero-shot, multiple choice', HUATUO, false, HUATUO_WHY],
      ['HuatuoGPT-Vision-34B', 76.9, 'multiple-choice accuracy', 'zero-shot, multiple choice', HUATUO, false, HUATUO_WHY],
    ]),
  },
  'path-vqa': {
    id: 'path-vqa',
    label: 'PathVQA',
    repo: 'flaviagiammarino/path-vqa',
    splits: ['train', 'validation', 'test'],
    evalSplit: 'test',
    evalRows: null,
    columns: { image: 'image', question: 'question', answer: 'answer' },
    closedRule: 'yes-no-answer',
    anchors: anchors([
      ['LLaVA-Med-7B', 56.8, 'multiple-choice accuracy', 'zero-shot, multiple choice', HUATUO, false, HUATUO_WHY],
      ['HuatuoGPT-Vision-34B', 63.5, 'multiple-choice accuracy', 'zero-shot, multiple choice', HUATUO, false, HUATUO_WHY],
    ]),
  },
};

export const BENCH_IDS = Object.keys(BENCHMARKS) as BenchId[];

export function benchmark(id: string): Benchmark | null {
  return (BENCHMARKS as Record<string, Benchmark | undefined>)[id.trim().toLowerCase()] ?? null;
}

/** Dataset folder (and dataset_info entry) a benchmark's eval split is converted into. */
export function benchEvalDataset(id: BenchId): string {
  return `bench-${id}-${BENCHMARKS[id].evalSplit}`;
}

/** `bench:<id>` or `bench:<id>:<local folder>` (a `data prepare --source`); null when the text is no bench source. */
export function parseBenchSource(source: string): { id: string; dir: string | null } | null {
  const m = /^bench:([^:]+)(?::(.+))?$/i.exec(source.trim());
  if (!m) return null;
  return { id: m[1]!.toLowerCase(), dir: m[2] ?? null };
}

// ---------------------------------------------------------------------------------------------------------
// Normalisation and scoring

const NUMBER_WORDS: Record<string, string> = {
  none: '0',
  zero: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  ten: '10',
};
const ARTICLES = new Set(['a', 'an', 'the']);

/** An answer as the papers compare it: see the file comment for the rules. */
export function normalizeAnswer(text: string): string {
  const spaced = text
    .toLowerCase()
    .replace(/(\d),(\d)/g, '$1$2')
    .replace(/[;/[\]"{}()=+\\_\->< @`,?!:*'’]/g, ' ')
    // A full stop ends a sentence unless it sits inside a number (3.5 cm).
    .replace(/(?<!\d)\.|\.(?!\d)/g, ' ');
  return spaced
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => NUMBER_WORDS[w] ?? w)
    .filter((w) => !ARTICLES.has(w))
    .join(' ');
}

export function answerTokens(text: string): string[] {
  const n = normalizeAnswer(text);
  return n ? n.split(' ') : [];
}

/** Whether a reference answer makes its question a closed (yes/no) one. */
export function isClosedAnswer(reference: string): boolean {
  const n = normalizeAnswer(reference);
  return n === 'yes' || n === 'no';
}

/**
 * The yes/no a free-text answer gives: its first `yes` or `no` word (`No, there is not.` → no). Whole words only,
 * so `normal`, `nodule` and `not` say nothing; an answer with neither word gives null and counts as wrong.
 */
export function detectYesNo(prediction: string): 'yes' | 'no' | null {
  for (const w of answerTokens(prediction)) if (w === 'yes' || w === 'no') return w;
  return null;
}

/**
 * Share of the reference's tokens found in the prediction (counts clipped: a reference word said twice must appear
 * twice). 0 for an empty prediction; null for an empty reference (nothing to recall).
 */
export function tokenRecall(prediction: string, reference: string): number | null {
  const ref = answerTokens(reference);
  if (!ref.length) return null;
  const have = new Map<string, number>();
  for (const w of answerTokens(prediction)) have.set(w, (have.get(w) ?? 0) + 1);
  let hit = 0;
  for (const w of ref) {
    const c = have.get(w) ?? 0;
    if (c > 0) {
      hit++;
      have.set(w, c - 1);
    }
  }
  return hit / ref.length;
}

/** Wilson score interval for k successes in n trials (z = 1.96 → 95 %); null when n is 0. */
export function wilson(k: number, n: number, z = 1.96): [number, number] | null {
  if (n <= 0) return null;
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** A seeded generator (mulberry32), so a bootstrap interval is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Percentile bootstrap interval of a mean (95 % by default, seeded); null for no values, [v, v] for one value. */
export function bootstrapMean(
  values: readonly number[],
  opts: { resamples?: number; level?: number; seed?: number } = {},
): [number, number] | null {
  const n = values.length;
  if (!n) return null;
  const r = opts.resamples ?? 2000;
  const next = rng(opts.seed ?? 20240601);
  const means: number[] = [];
  for (let i = 0; i < r; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += values[Math.floor(next() * n)]!;
    means.push(s / n);
  }
  means.sort((a, b) => a - b);
  const alpha = (1 - (opts.level ?? 0.95)) / 2;
  const at = (q: number) => means[Math.min(r - 1, Math.max(0, Math.round(q * (r - 1))))]!;
  return [at(alpha), at(1 - alpha)];
}

export interface BenchItemInput {
  question: string;
  reference: string;
  prediction: string;
}

export interface BenchItem extends BenchItemInput {
  index: number;
  kind: 'closed' | 'open';
  /** Closed: the yes/no the answer gave (null: neither). */
  said: 'yes' | 'no' | null;
  /** Closed: 1 right, 0 wrong; open: token recall 0..1. */
  score: number;
}

export interface BenchScores {
  questions: number;
  closed: { n: number; correct: number; accuracy: number | null; ci95: [number, number] | null; unanswered: number };
  open: { n: number; recall: number | null; ci95: [number, number] | null };
}

export function scoreItem(input: BenchItemInput, index: number): BenchItem {
  if (isClosedAnswer(input.reference)) {
    const said = detectYesNo(input.prediction);
    return { ...input, index, kind: 'closed', said, score: said !== null && said === normalizeAnswer(input.reference) ? 1 : 0 };
  }
  return { ...input, index, kind: 'open', said: null, score: tokenRecall(input.prediction, input.reference) ?? 0 };
}

export function scoreBench(inputs: readonly BenchItemInput[]): { items: BenchItem[]; scores: BenchScores } {
  const items = inputs.map(scoreItem);
  const closed = items.filter((i) => i.kind === 'closed');
  const open = items.filter((i) => i.kind === 'open');
  const correct = closed.filter((i) => i.score === 1).length;
  const recalls = open.map((i) => i.score);
  return {
    items,
    scores: {
      questions: items.length,
      closed: {
        n: closed.length,
        correct,
        accuracy: closed.length ? correct / closed.length : null,
        ci95: wilson(correct, closed.length),
        unanswered: closed.filter((i) => i.said === null).length,
      },
      open: { n: open.length, recall: open.length ? recalls.reduce((a, b) => a + b, 0) / open.length : null, ci95: bootstrapMean(recalls) },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Base vs tuned

export interface BenchDiffItem {
  index: number;
  kind: 'closed' | 'open';
  question: string;
  reference: string;
  base: string;
  tuned: string;
  baseScore: number;
  tunedScore: number;
  delta: number;
}

export interface BenchDiff {
  questions: number;
  improved: number;
  worsened: number;
  unchanged: number;
  items: BenchDiffItem[];
}

/**
 * Pairs the two runs' answers question by question. Both sides must have answered the same questions in the same
 * order (the same converted split, the same limit); a question whose reference differs is a different question.
 */
export function diffBench(base: readonly BenchItem[], tuned: readonly BenchItem[]): BenchDiff | { problem: string } {
  if (base.length !== tuned.length) return { problem: `the base answered ${base.length} questions and the tuned model ${tuned.length}` };
  const items: BenchDiffItem[] = [];
  for (let i = 0; i < base.length; i++) {
    const b = base[i]!;
    const t = tuned[i]!;
    if (b.reference !== t.reference || b.question !== t.question)
      return { problem: `question ${i + 1} differs between the two runs ("${b.question}" vs "${t.question}")` };
    items.push({
      index: i,
      kind: b.kind,
      question: b.question,
      reference: b.reference,
      base: b.prediction,
      tuned: t.prediction,
      baseScore: b.score,
      tunedScore: t.score,
      delta: t.score - b.score,
    });
  }
  return {
    questions: items.length,
    improved: items.filter((d) => d.delta > 0).length,
    worsened: items.filter((d) => d.delta < 0).length,
    unchanged: items.filter((d) => d.delta === 0).length,
    items,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Terminal text

const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}`);
const ci = (c: [number, number] | null): string => (c === null ? '' : ` [${pct(c[0])}–${pct(c[1])}]`);

export function formatBenchScores(label: string, s: BenchScores): string[] {
  return [
    `  ${label}`,
    `    closed (yes/no) accuracy ${pct(s.closed.accuracy)}${ci(s.closed.ci95)}  ${s.closed.correct}/${s.closed.n}${s.closed.unanswered ? ` (${s.closed.unanswered} said neither yes nor no)` : ''}`,
    `    open token recall        ${pct(s.open.recall)}${ci(s.open.ci95)}  over ${s.open.n} questions`,
  ];
}

export interface BenchReportView {
  bench: { label: string; split: string };
  targetLabel: string;
  dir: string;
  scores: BenchScores;
  base?: { label: string; scores: BenchScores };
  diff?: { file: string; questions: number; improved: number; worsened: number; unchanged: number };
  anchors: readonly PublishedAnchor[];
}

export function formatBenchReport(r: BenchReportView): string[] {
  const lines = [
    `${r.bench.label} ${r.bench.split} split: ${r.scores.questions} questions (${r.scores.closed.n} closed, ${r.scores.open.n} open); 95% intervals in brackets`,
  ];
  lines.push(...formatBenchScores(r.targetLabel, r.scores));
  if (r.base) lines.push(...formatBenchScores(r.base.label, r.base.scores));
  if (r.diff)
    lines.push(
      `  per question, tuned vs base: ${r.diff.improved} better, ${r.diff.worsened} worse, ${r.diff.unchanged} the same → ${r.diff.file}`,
    );
  if (r.anchors.length)
    lines.push(
      '  published numbers on this benchmark:',
      ...r.anchors.map((a) => `    ${a.comparable ? 'same scoring' : 'other scoring'}  ${a.model} ${a.score} (${a.metric}; ${a.protocol})`),
    );
  lines.push(`  saved: ${r.dir}/bench.json`);
  return lines;
}
