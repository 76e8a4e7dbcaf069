/**
 * Terminal charts as plain data: a braille line chart (2×4 dots per cell), EMA smoothing and sparklines.
 * Renderers return cells tagged with the series that drew them, so the UI decides colours (or none).
 */

export interface ChartSeries {
  name: string;
  /** [x, y] pairs; non-finite values are skipped. */
  points: ReadonlyArray<readonly [number, number]>;
  /** `line` joins consecutive points with braille dots; `points` puts `marker` in the cell of each point. */
  kind: 'line' | 'points';
  marker?: string;
}

export interface ChartOptions {
  /** Size of the plot area in terminal cells. */
  width: number;
  height: number;
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
}

export interface ChartCell {
  ch: string;
  /** Index of the series drawn last into this cell (later series sit on top), or null for blank. */
  series: number | null;
}

export interface Chart {
  rows: ChartCell[][];
  xRange: [number, number];
  yRange: [number, number];
}

const BRAILLE_BASE = 0x2800;
// Bit for the dot at (column 0..1, row 0..3) inside a braille cell, in Unicode's dot numbering.
const DOT_BITS: readonly (readonly number[])[] = [
  [0x01, 0x02, 0x04, 0x40],
  [0x08, 0x10, 0x20, 0x80],
];

function finitePoints(series: readonly ChartSeries[]): Array<readonly [number, number]> {
  return series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
}

/** A range that always has a positive span, so a flat series still gets a middle row. */
function spanOf(values: number[], fallback: readonly [number, number]): [number, number] {
  if (values.length === 0) return [fallback[0], fallback[1]];
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

/** Draws the series into a width×height grid of cells. Points outside the ranges are clipped. */
export function lineChart(series: readonly ChartSeries[], opts: ChartOptions): Chart {
  const width = Math.max(1, Math.floor(opts.width));
  const height = Math.max(1, Math.floor(opts.height));
  const all = finitePoints(series);
  const xRange = opts.xRange
    ? ([opts.xRange[0], opts.xRange[1]] as [number, number])
    : spanOf(
        all.map((p) => p[0]),
        [0, 1],
      );
  const yRange = opts.yRange
    ? ([opts.yRange[0], opts.yRange[1]] as [number, number])
    : spanOf(
        all.map((p) => p[1]),
        [0, 1],
      );
  const dotsW = width * 2;
  const dotsH = height * 4;
  const bits = Array.from({ length: height }, () => new Array<number>(width).fill(0));
  const owner = Array.from({ length: height }, () => new Array<number | null>(width).fill(null));
  const markers = Array.from({ length: height }, () => new Array<string | null>(width).fill(null));

  const toDot = ([x, y]: readonly [number, number]): [number, number] => {
    const fx = xRange[1] === xRange[0] ? 0 : (x - xRange[0]) / (xRange[1] - xRange[0]);
    const fy = yRange[1] === yRange[0] ? 0 : (y - yRange[0]) / (yRange[1] - yRange[0]);
    return [Math.round(fx * (dotsW - 1)), Math.round((1 - fy) * (dotsH - 1))];
  };
  const plot = (dx: number, dy: number, s: number) => {
    if (dx < 0 || dy < 0 || dx >= dotsW || dy >= dotsH) return;
    const cx = dx >> 1;
    const cy = dy >> 2;
    const row = bits[cy]!;
    row[cx] = (row[cx] ?? 0) | DOT_BITS[dx & 1]![dy & 3]!;
    owner[cy]![cx] = s;
  };

  series.forEach((s, si) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(toDot);
    if (s.kind === 'points') {
      for (const [dx, dy] of pts) {
        if (dx < 0 || dy < 0 || dx >= dotsW || dy >= dotsH) continue;
        markers[dy >> 2]![dx >> 1] = s.marker ?? '•';
        owner[dy >> 2]![dx >> 1] = si;
      }
      return;
    }
    if (pts.length === 1) plot(pts[0]![0], pts[0]![1], si);
    for (let i = 1; i < pts.length; i++) {
      // Bresenham between consecutive points, so steep drops stay connected.
      let [x0, y0] = pts[i - 1]!;
      const [x1, y1] = pts[i]!;
      const dx = Math.abs(x1 - x0);
      const dy = -Math.abs(y1 - y0);
      const sx = x0 < x1 ? 1 : -1;
      const sy = y0 < y1 ? 1 : -1;
      let err = dx + dy;
      for (;;) {
        plot(x0, y0, si);
        if (x0 === x1 && y0 === y1) break;
        const e2 = 2 * err;
        if (e2 >= dy) {
          err += dy;
          x0 += sx;
        }
        if (e2 <= dx) {
          err += dx;
          y0 += sy;
        }
      }
    }
  });

  const rows = bits.map((row, y) =>
    row.map((b, x): ChartCell => {
      const marker = markers[y]![x];
      if (marker) return { ch: marker, series: owner[y]![x]! };
      return b === 0 ? { ch: ' ', series: null } : { ch: String.fromCharCode(BRAILLE_BASE + b), series: owner[y]![x]! };
    }),
  );
  return { rows, xRange, yRange };
}

/** The characters of one chart row, without colour. */
export function chartRowText(row: readonly ChartCell[]): string {
  return row.map((c) => c.ch).join('');
}

/** Consecutive cells that share a series, for colouring a row with few text spans. */
export function chartRowRuns(row: readonly ChartCell[]): Array<{ text: string; series: number | null }> {
  const runs: Array<{ text: string; series: number | null }> = [];
  for (const cell of row) {
    const last = runs[runs.length - 1];
    if (last && last.series === cell.series) last.text += cell.ch;
    else runs.push({ text: cell.ch, series: cell.series });
  }
  return runs;
}

/**
 * Smoothing weight that grows with the number of points, so short curves stay close to the raw values
 * and long noisy ones get a steady trend (the same idea as LLaMA-Factory's loss plot).
 */
export function defaultSmoothing(n: number): number {
  return 1.8 * (1 / (1 + Math.exp(-0.05 * n)) - 0.5);
}

/** Exponential moving average; `weight` is how much of the previous smoothed value each step keeps. */
export function emaSmooth(values: readonly number[], weight = defaultSmoothing(values.length)): number[] {
  const w = Math.min(0.999, Math.max(0, weight));
  const out: number[] = [];
  let last: number | undefined;
  for (const v of values) {
    last = last === undefined ? v : last * w + v * (1 - w);
    out.push(last);
  }
  return out;
}

const SPARK = '▁▂▃▄▅▆▇█';

/** The block for a fraction 0..1 of the height. */
function block(fraction: number): string {
  return SPARK[Math.round(Math.min(1, Math.max(0, fraction)) * (SPARK.length - 1))]!;
}

/** The last `width` values as block heights, scaled between their own minimum and maximum. */
export function sparkline(values: readonly number[], width: number): string {
  const vals = values.filter(Number.isFinite).slice(-Math.max(0, width));
  if (vals.length === 0) return '';
  const lo = Math.min(...vals);
  const hi = Math.max(...vals);
  return vals.map((v) => (hi === lo ? SPARK[3]! : block((v - lo) / (hi - lo)))).join('');
}

/**
 * The last `width` values as block heights on a fixed 0..max scale (so 99% looks full whatever came before);
 * a missing value is a space. Left-padded with spaces while the history is shorter than the width.
 */
export function fixedSparkline(values: readonly (number | null)[], width: number, max: number): string {
  const w = Math.max(0, Math.floor(width));
  const cells = values.slice(-w).map((v) => (v === null || !Number.isFinite(v) || max <= 0 ? ' ' : block(v / max)));
  return ' '.repeat(w - cells.length) + cells.join('');
}

/** A short axis label: 3 significant digits, exponent form for very small or large magnitudes. */
export function formatTick(v: number): string {
  if (!Number.isFinite(v)) return '?';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  if (a >= 100) return v.toFixed(0);
  return String(Number(v.toPrecision(3)));
}

/** A horizontal bar `width` cells wide, filled to `fraction` (clamped to 0..1). */
export function meter(fraction: number, width: number): string {
  const w = Math.max(0, Math.floor(width));
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * w);
  return '█'.repeat(filled) + '░'.repeat(w - filled);
}
