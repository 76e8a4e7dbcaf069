/**
 * Sweeps: `--grid KEY=V1,V2 [--grid …]` expands into one run per combination, each named by the values that
 * differ. The record of a sweep is sweeps/<id>.json. Pure.
 */
import { z } from 'zod';
import { MedtuneError } from './errors.js';

export interface GridAxis {
  key: string;
  /** The values as written (typed by LLaMA-Factory's YAML reading when they become `--set key=value`). */
  values: string[];
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** Parses `--grid` options; the same key twice or a key without values is refused. */
export function parseGrid(texts: readonly string[]): GridAxis[] {
  const bad = (problem: string): MedtuneError =>
    new MedtuneError({
      doing: 'reading --grid',
      problem,
      next: 'write each axis as --grid KEY=V1,V2 (e.g. --grid learning_rate=1e-4,5e-4 --grid lora_rank=8,16)',
      code: 'BAD_GRID',
    });
  if (!texts.length) throw bad('no --grid was given');
  const axes: GridAxis[] = [];
  for (const text of texts) {
    const i = text.indexOf('=');
    const key = i > 0 ? text.slice(0, i).trim() : '';
    if (!KEY.test(key)) throw bad(`"${text}" does not start with a key=`);
    const values = text
      .slice(i + 1)
      .split(',')
      .map((v) => v.trim());
    if (values.some((v) => v === '')) throw bad(`"${text}" has an empty value`);
    if (new Set(values).size !== values.length) throw bad(`"${text}" repeats a value`);
    if (axes.some((a) => a.key === key)) throw bad(`${key} is given twice; put all its values in one --grid ${key}=…`);
    axes.push({ key, values });
  }
  return axes;
}

export interface SweepPoint {
  /** `key=value` overrides of this point, one per axis. */
  overrides: string[];
  /** What names the run: the values of the axes that vary. */
  name: string;
}

/** Every combination, the first axis varying slowest. */
export function expandGrid(axes: readonly GridAxis[]): SweepPoint[] {
  let combos: Array<Array<[string, string]>> = [[]];
  for (const a of axes) combos = combos.flatMap((c) => a.values.map((v) => [...c, [a.key, v] as [string, string]]));
  return combos.map((c) => ({ overrides: c.map(([k, v]) => `${k}=${v}`), name: pointName(c, axes) }));
}

/** `learning_rate-1e-4_lora_rank-16`: the varying axes only (an axis of one value names nothing), id-safe. */
export function pointName(point: ReadonlyArray<readonly [string, string]>, axes: readonly GridAxis[]): string {
  const varying = point.filter(([k]) => (axes.find((a) => a.key === k)?.values.length ?? 0) > 1);
  const parts = (varying.length ? varying : point).map(([k, v]) => `${k}-${v}`);
  return parts.join('_').replace(/[^A-Za-z0-9_.-]+/g, '-');
}

export const SweepRecord = z.object({
  id: z.string(),
  createdAt: z.string(),
  grid: z.array(z.object({ key: z.string(), values: z.array(z.string()) })),
  /** What ranks the runs: eval-loss, or bench:ID. */
  rank: z.string(),
  runs: z.array(z.object({ id: z.string(), overrides: z.array(z.string()) })),
});
export type SweepRecord = z.infer<typeof SweepRecord>;
