/** tqdm's progress bars as LLaMA-Factory's stderr prints them (redrawn after `\r`). */

/** One redraw of a tqdm bar. */
export interface ProgressBar {
  /** The bar's description (`Running tokenizer on dataset (num_proc=16)`); '' for the Trainer's own bars. */
  desc: string;
  done: number;
  total: number | null;
  elapsedSeconds: number | null;
  remainingSeconds: number | null;
  /** Units per second (tqdm prints `N it/s` or, when slower than 1/s, `N s/it`). */
  rate: number | null;
  unit: string;
}

// tqdm and LLaMA-Factory colour nothing, but nested bars move the cursor (`ESC[A`).
export const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const SCALE: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };

function scaled(text: string): number {
  const m = /^([\d.]+)([kMGTP]?)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] ? (SCALE[m[2]] ?? 1) : 1);
}

/** tqdm's `[H:]MM:SS` (hours unbounded). */
export function parseClock(text: string): number | null {
  const m = /^(?:(\d+):)?(\d+):(\d{2})$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

function parseRate(text: string): { rate: number | null; unit: string } {
  const m = /^\s*([\d.]+|\?)\s*([^/\s]*)\/(\w+)/.exec(text);
  if (!m) return { rate: null, unit: 'it' };
  const value = m[1] === '?' ? null : Number(m[1]);
  if (m[2] === 's') return { rate: value && value > 0 ? 1 / value : null, unit: m[3] ?? 'it' };
  return { rate: value, unit: m[2] || 'it' };
}

const BAR_KNOWN =
  /^(?:(.*?):\s*)?\s*(\d{1,3})%\|[^|]*\|\s*([\d.]+[kMGTP]?)\/([\d.]+[kMGTP]?)\s*\[([\d:]+)<([\d:]+|\?),\s*([^\],]*)(?:,[^\]]*)?\]/;
const BAR_UNKNOWN = /^(.+?):\s*([\d.]+[kMGTP]?)\s*([A-Za-z]*)\s*\[([\d:]+),\s*([^\],]*)(?:,[^\]]*)?\]/;

/** Parses a tqdm bar at the start of `segment`; `rest` is whatever was printed right after it. */
export function parseProgressBar(segment: string): { bar: ProgressBar; rest: string } | undefined {
  const known = BAR_KNOWN.exec(segment);
  if (known) {
    const { rate, unit } = parseRate(known[7] ?? '');
    const total = scaled(known[4] ?? '');
    return {
      bar: {
        desc: (known[1] ?? '').trim(),
        done: scaled(known[3] ?? ''),
        total: Number.isFinite(total) ? total : null,
        elapsedSeconds: parseClock(known[5] ?? ''),
        remainingSeconds: known[6] === '?' ? null : parseClock(known[6] ?? ''),
        rate,
        unit,
      },
      rest: segment.slice(known[0].length),
    };
  }
  const unknown = BAR_UNKNOWN.exec(segment);
  if (unknown && !unknown[1]?.includes('>>')) {
    const { rate, unit } = parseRate(unknown[5] ?? '');
    return {
      bar: {
        desc: (unknown[1] ?? '').trim(),
        done: scaled(unknown[2] ?? ''),
        total: null,
        elapsedSeconds: parseClock(unknown[4] ?? ''),
        remainingSeconds: null,
        rate,
        unit: unknown[3] || unit,
      },
      rest: segment.slice(unknown[0].length),
    };
  }
  return undefined;
}
