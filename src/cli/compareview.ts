/** A comparison as text for the terminal: core/runcompare.ts's chart rows (coloured per run on a TTY), legend and tables. */
import { comparisonChart, comparisonTableLines, legendLines, type CompareAxis, type Comparison } from '../core/runcompare.js';

/** One ANSI colour per run (cyan, magenta, yellow, green, blue, red), cycling like the markers. */
const RUN_COLOURS = [36, 35, 33, 32, 34, 31];

/** Colour for a terminal that wants it: a TTY, and NO_COLOR unset or empty (https://no-color.org). */
export function wantsColour(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!stream.isTTY && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

export interface CompareTextOptions {
  width: number;
  colour: boolean;
  axis?: CompareAxis;
  chartHeight?: number;
}

export function comparisonLines(c: Comparison, opts: CompareTextOptions): string[] {
  const paint = (text: string, run: number | null) =>
    opts.colour && run !== null ? `\x1b[${RUN_COLOURS[run % RUN_COLOURS.length]}m${text}\x1b[0m` : text;
  const chart = comparisonChart(c, { width: opts.width, height: opts.chartHeight, axis: opts.axis });
  const out: string[] = [];
  if (chart.rows.length) {
    out.push('loss (filled marker) and eval loss (hollow marker)');
    for (const row of chart.rows) out.push(`${row.label} ┤${row.segments.map((s) => paint(s.text, s.run)).join('')}`);
    out.push(...chart.axisLines);
  } else {
    out.push('no loss logged yet by any of these runs');
  }
  out.push('', ...legendLines(c).map((l, i) => paint(l, i)), '', ...comparisonTableLines(c));
  return out;
}

/** What `--json` prints: ids, each curve as steps and values, the differing parameters, the scores. */
export function comparisonJson(c: Comparison) {
  return {
    runs: c.runs.map((r) => ({
      id: r.id,
      dir: r.dir,
      status: r.status,
      step: r.step,
      totalSteps: r.totalSteps,
      curves: r.curves,
      samplesPerStep: r.samplesPerStep,
      scores: {
        finalLoss: r.finalLoss,
        trainLoss: r.trainLoss,
        evalLoss: r.evalLoss,
        wallSeconds: r.wallSeconds,
        samplesPerSecond: r.samplesPerSecond,
        bench: r.bench,
      },
    })),
    differing: c.differing,
  };
}
