/** Text rendering of a run for the CLI (attach, status, runs). */
import type { Finding } from '../core/findings.js';
import type { RunView } from '../core/run.js';
import { formatDuration, progressBar } from '../core/format.js';
import type { Reporter } from './output.js';
import { attachRun, type App } from '../app/index.js';
import { viewSummary } from '../core/runview.js';

export function runLine(v: RunView): string {
  const step = v.totalSteps ? `step ${v.step}/${v.totalSteps}` : `step ${v.step}`;
  const loss = v.loss !== null ? ` loss ${v.loss.toFixed(4)}` : '';
  const evalLoss = v.evalLoss !== null ? ` eval ${v.evalLoss.toFixed(4)}` : '';
  const epoch = v.epoch !== null ? ` epoch ${v.epoch.toFixed(2)}` : '';
  const eta = v.etaSeconds !== null ? ` eta ${formatDuration(v.etaSeconds)}` : '';
  return `${step}${epoch}${loss}${evalLoss}${eta}`;
}

/** Feeds successive views to a reporter: progress bars, plus one line per notable change. */
export function createRunPrinter(r: Reporter): (v: RunView) => void {
  // Each status is announced once per attempt; 'saving' comes and goes with every checkpoint, so it is not.
  let seen = new Set<string>();
  let lastAttempts = 0;
  let lastCkpts = 0;
  return (v) => {
    if (v.attempts !== lastAttempts) {
      if (v.attempts > 1)
        r.step(
          `attempt ${v.attempts} started${v.launchRetry ? ` (automatic retry: attempt ${v.attempts - 1} failed at launch and left nothing behind)` : ''}`,
        );
      seen = new Set();
      lastAttempts = v.attempts;
    }
    if (!seen.has(v.status) && v.status !== 'saving') {
      // A ✓ only for what went well: the summary that follows says why a run failed.
      if (seen.size) (v.status === 'failed' ? r.warn : r.step)(`run ${v.status}`);
      seen.add(v.status);
    }
    if (v.checkpoints.length > lastCkpts) {
      r.step(`checkpoint-${v.checkpoints[v.checkpoints.length - 1]} saved`);
      lastCkpts = v.checkpoints.length;
    }
    if (v.step > 0 || v.status === 'training') {
      r.progress('training', v.step, v.totalSteps, runLine(v));
    } else if (v.phase) {
      r.progress(v.phase.name, v.phase.done, v.phase.total);
    } else if (v.status === 'preparing' || v.status === 'queued') {
      r.progress('starting', 0, null, 'loading LLaMA-Factory and the model');
    }
  };
}

export function runSummary(v: RunView): string[] {
  const lines = [`${v.status === 'completed' ? '✓' : v.status === 'failed' ? '✗' : '•'} run ${v.id}: ${v.status} — ${runLine(v)}`];
  if (v.cause) {
    lines.push(`  cause: ${v.cause.summary}`);
    if (v.cause.evidence) lines.push(`  log:   ${v.cause.evidence}`);
    lines.push(`  → ${v.cause.next}`);
  }
  lines.push(`  folder: ${v.dir}`);
  return lines;
}

export function bar(v: RunView, width = 20): string {
  return progressBar(v.step, v.totalSteps, width);
}

/**
 * Watches a run until it ends, printing progress; Ctrl-C detaches (the run goes on). Rings the terminal bell
 * when the run ends, prints the summary and returns the exit code.
 */
export async function attachAndReport(app: App, dir: string, id: string, r: Reporter): Promise<number> {
  const onSigint = () => {
    r.done();
    process.stderr.write(`\ndetached: the run goes on. Reattach with \`medtune attach ${id}\`.\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  const final = await attachRun(app, dir, createRunPrinter(r));
  process.off('SIGINT', onSigint);
  if (process.stderr.isTTY) process.stderr.write('\x07');
  r.result(viewSummary(final), runSummary(final));
  return final.status === 'completed' ? 0 : 1;
}

/** A finding as one line: the message, then what to do. */
export function findingLine(f: Finding): string {
  return f.next ? `${f.message} (${f.next})` : f.message;
}
