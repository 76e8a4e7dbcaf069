/**
 * CLI output: human text with live progress on stderr, or (with --json) exactly one JSON object on stdout.
 * Progress redraws in place on a TTY. Otherwise (a log, a pipe) it draws no frames: a plain line per phase and
 * 10% step on stderr, so a script reading --json's stdout still sees what a long command (attach) is doing.
 */
import { formatDuration, progressBar, percent } from '../core/format.js';
import { formatError, MedtuneError } from '../core/errors.js';
// Messages carry file names and helper log lines from untrusted data: no terminal escapes get through.
import { displaySafe } from '../core/sanitize.js';

export interface Reporter {
  json: boolean;
  /** Live progress for a named phase. */
  progress(phase: string, done?: number, total?: number | null, message?: string): void;
  /** A finished step, printed as one line. */
  step(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  /** Clears any live line (before printing a final result). */
  done(): void;
  /** Prints the final result: JSON on stdout with --json, else the text lines. */
  result(value: unknown, text?: string | string[]): void;
}

export function createReporter(opts: { json?: boolean; stream?: NodeJS.WriteStream } = {}): Reporter {
  const json = !!opts.json;
  const err = opts.stream ?? process.stderr;
  const tty = !!err.isTTY && !process.env.CI;
  const started = new Map<string, number>();
  let live = false;
  let lastPhase = '';
  let lastDecile = -1;
  let tick = 0;
  const clear = () => {
    if (live && tty) err.write('\r\x1b[2K');
    live = false;
  };
  return {
    json,
    progress(phase, done = 0, total, message) {
      if (!started.has(phase)) started.set(phase, Date.now());
      const elapsed = (Date.now() - started.get(phase)!) / 1000;
      const counts = total ? `${done}/${total}` : done ? String(done) : '';
      const tail = `${formatDuration(elapsed)}${message ? `  ${displaySafe(message)}` : ''}`;
      if (tty) {
        const cols = err.columns ?? 100;
        const line = `${phase} ${progressBar(done, total, 26, tick++)} ${percent(done, total)} ${counts} ${tail}`;
        err.write(`\r\x1b[2K${line.slice(0, cols - 1)}`);
        live = true;
      } else {
        const decile = total ? Math.floor((done / total) * 10) : -1;
        if (phase !== lastPhase || decile !== lastDecile) {
          err.write(`${[phase, total ? `${percent(done, total)} ${counts}` : counts, tail].filter(Boolean).join(' ')}\n`);
          lastPhase = phase;
          lastDecile = decile;
        }
      }
    },
    step(message) {
      clear();
      err.write(`✓ ${displaySafe(message)}\n`);
    },
    info(message) {
      clear();
      err.write(`${displaySafe(message)}\n`);
    },
    warn(message) {
      clear();
      err.write(`! ${displaySafe(message)}\n`);
    },
    done: clear,
    result(value, text) {
      clear();
      if (json) {
        process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      } else if (text !== undefined) {
        process.stdout.write(`${Array.isArray(text) ? text.join('\n') : text}\n`);
      }
    },
  };
}

/** Prints an error the way the user needs it; with --json, as a JSON object on stdout. */
export function reportError(err: unknown, json: boolean, workspaceFlag: string | null = null): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  if (json) {
    const body =
      err instanceof MedtuneError
        ? err.describe(workspaceFlag)
        : { error: true, code: 'INTERNAL', problem: String((err as Error)?.message ?? err) };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  }
  process.stderr.write(`${formatError(err, workspaceFlag)}\n`);
  if (process.env.MEDTUNE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}
