/** Mixing several datasets with weights (LLaMA-Factory's `interleave_probs`), as shares that sum to 1. */

export interface DatasetWeight {
  name: string;
  weight: number;
}

export interface DatasetShare extends DatasetWeight {
  share: number;
}

export function mixShares(items: readonly DatasetWeight[]): DatasetShare[] {
  const total = items.reduce((a, d) => a + Math.max(0, d.weight), 0);
  return items.map((d) => ({ ...d, share: total > 0 ? Math.max(0, d.weight) / total : 0 }));
}

/** A weight moved by `delta`, kept between 0.1 and 10 and rounded to one decimal so it reads cleanly. */
export function nudgeWeight(weight: number, delta: number): number {
  return Math.min(10, Math.max(0.1, Math.round((weight + delta) * 10) / 10));
}

/**
 * LLaMA-Factory keys for a mix: several datasets with unequal weights are interleaved with those
 * probabilities (sampling until the smallest runs out); equal weights need nothing (concatenation).
 */
export function mixOverrides(items: readonly DatasetWeight[]): string[] {
  if (items.length < 2) return [];
  const shares = mixShares(items);
  if (shares.every((s) => Math.abs(s.share - shares[0]!.share) < 1e-9)) return [];
  return ['mix_strategy=interleave_under', `interleave_probs=${shares.map((s) => Number(s.share.toFixed(4))).join(',')}`];
}
