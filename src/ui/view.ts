/** How run numbers read on screen. Pure: no React, no I/O. */
import { formatDuration } from '../core/format.js';
import { isLiveStatus, type RunView } from '../core/run.js';

export function isActive(run: RunView): boolean {
  return isLiveStatus(run.status);
}

/** Active runs first, then the most recently updated. */
export function sortRuns(runs: readonly RunView[]): RunView[] {
  return [...runs].sort((a, b) => {
    const act = Number(isActive(b)) - Number(isActive(a));
    if (act !== 0) return act;
    return (b.updatedAt ?? '').localeCompare(a.updatedAt ?? '') || b.id.localeCompare(a.id);
  });
}

export function lossText(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(4);
}

export function lrText(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v.toExponential(2);
}

export function stepText(run: RunView): string {
  return run.totalSteps ? `${run.step}/${run.totalSteps}` : run.step > 0 ? String(run.step) : '–';
}

/** The width of a list's step column: "990/990" and "30306/30306" alike, one width for every row so columns align. */
export function stepColumnWidth(runs: readonly RunView[]): number {
  let w = 10;
  for (const r of runs) w = Math.max(w, stepText(r).length + 1);
  return w;
}

export function percentOf(run: RunView): number | null {
  if (run.percent !== null) return run.percent;
  return run.totalSteps ? (run.step / run.totalSteps) * 100 : null;
}

export function etaText(run: RunView): string {
  if (run.status === 'completed') return 'done';
  if (!isActive(run)) return '–';
  return run.etaSeconds === null ? '--:--' : formatDuration(run.etaSeconds);
}

/** Compact counts: 950, 12.3k, 4.5M. */
export function countText(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (Math.abs(n) < 1000) return String(Math.round(n));
  if (Math.abs(n) < 1e6) return `${(n / 1e3).toFixed(1)}k`;
  if (Math.abs(n) < 1e9) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e9).toFixed(1)}G`;
}

/** `env K=V … prog args` as the program's own words and the variables set for it. */
export function splitEnvCommand(argv: readonly string[]): { command: string[]; env: string[] } {
  if (argv[0] !== 'env') return { command: [...argv], env: [] };
  const rest = argv.slice(1);
  const n = rest.findIndex((a) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(a));
  return n < 0 ? { command: [], env: rest } : { command: rest.slice(n), env: rest.slice(0, n) };
}
