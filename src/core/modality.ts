/**
 * Which imaging modality a text names, and how often a model names the right one.
 *
 * The English rules mirror the data pipeline's derivation (python/medtune_py/medtrinity.py `_MODALITY_RULES`,
 * which labels every converted row with its `modality`), so a prediction and its label are read by the same
 * table; the Chinese terms let answers to Chinese questions be scored too. Keep the two tables in step: the
 * eval integration test checks that this table gives every sample row the modality the pipeline gave it.
 */

export interface ModalityRule {
  name: string;
  pattern: RegExp;
}

// Order matters where one caption could match two rules: PET/CT captions name PET first.
export const MODALITY_RULES: readonly ModalityRule[] = [
  { name: 'PET', pattern: /\bpet\b|positron emission|正电子/i },
  { name: 'CT', pattern: /\bct\b|computed tomograph|\bcta\b|计算机断层/i },
  { name: 'MRI', pattern: /\bmri\b|\bmr\b|magnetic resonance|\bt1\b|\bt2\b|\bflair\b|t1-weighted|t2-weighted|磁共振|核磁/i },
  { name: 'X-ray', pattern: /x-ray|x ray|\bxray\b|radiograph|chest film|mammogra|x光|x线|x射线|平片|胸片/i },
  { name: 'ultrasound', pattern: /ultrasound|ultrasonograph|sonograph|echocardiog|doppler|超声|彩超|b超/i },
  { name: 'endoscopy', pattern: /endoscop|colonoscop|gastroscop|laparoscop|内镜|内窥镜|肠镜|胃镜/i },
  { name: 'dermoscopy', pattern: /dermoscop|dermatoscop|skin lesion|皮肤镜/i },
  { name: 'fundus', pattern: /fundus|retina|optical coherence|\boct\b|眼底|视网膜/i },
  {
    name: 'pathology',
    pattern: /histopatholog|histolog|patholog|h&e|hematoxylin|\bstain|microscop|whole.slide|cytolog|病理|组织学|染色|显微镜/i,
  },
];

// As the pipeline splits: an ASCII full stop counts only before whitespace ("3.5 cm" is one sentence).
const SENTENCE_END = /(?<=[.!?])\s|(?<=[。！？])/;

export function firstSentence(text: string): string {
  return text.trim().split(SENTENCE_END, 1)[0] ?? '';
}

/**
 * The modality a caption is labelled with, exactly as the data pipeline derives it: the first rule (in table
 * order) that matches the caption's first sentence. null when none does.
 */
export function labelModality(caption: string): string | null {
  const head = firstSentence(caption);
  return MODALITY_RULES.find((r) => r.pattern.test(head))?.name ?? null;
}

/**
 * The modality an answer names first: the rule whose keyword appears earliest anywhere in the text (a model
 * that says "This CT scan … unlike an MRI" named CT). Ties go to the earlier rule. null when none is named.
 */
export function answerModality(answer: string): string | null {
  let best: { name: string; at: number } | null = null;
  for (const rule of MODALITY_RULES) {
    const m = rule.pattern.exec(answer);
    if (m && (best === null || m.index < best.at)) best = { name: rule.name, at: m.index };
  }
  return best?.name ?? null;
}

export interface ModalityPair {
  /** The modality the reference names (null: the sample cannot be scored). */
  expected: string | null;
  /** The modality the answer names (null: it named none, which counts as wrong). */
  predicted: string | null;
}

export interface ModalityScore {
  correct: number;
  /** Samples with a known expected modality. */
  scored: number;
  /** correct / scored, 0..1; null when nothing could be scored. */
  accuracy: number | null;
  /** Answers that named no modality at all. */
  unnamed: number;
  /**
   * Accuracy of guessing uniformly among the label set's modalities: 1 / their count. The label set is the whole
   * dataset's when given (a subset, e.g. `eval -n 8`, may hold fewer modalities than the task has), else the
   * modalities present.
   */
  chance: number | null;
  perModality: Record<string, { correct: number; total: number }>;
}

export function scoreModalities(pairs: readonly ModalityPair[], labelSet?: readonly string[]): ModalityScore {
  const perModality: Record<string, { correct: number; total: number }> = {};
  let correct = 0;
  let scored = 0;
  let unnamed = 0;
  for (const p of pairs) {
    if (p.expected === null) continue;
    scored++;
    perModality[p.expected] ??= { correct: 0, total: 0 };
    const slot = perModality[p.expected]!;
    slot.total++;
    if (p.predicted === null) unnamed++;
    if (p.predicted === p.expected) {
      correct++;
      slot.correct++;
    }
  }
  const kinds = labelSet?.length ? new Set(labelSet).size : Object.keys(perModality).length;
  return { correct, scored, accuracy: scored ? correct / scored : null, unnamed, chance: kinds ? 1 / kinds : null, perModality };
}
