/**
 * What became of a run whose run.json still says it is active: decided from the process table (is the recorded
 * pid alive, and is it still the same process — same boot, same start time — or a later process that reused the
 * number?) and from what the trainer left in output_dir. Pure: the runtime gathers the facts.
 */
import type { FailureCause, RunManifest, RunStatus } from './run.js';
import { TERMINAL_STATUSES } from './run.js';

/** Who a pid was when medtune recorded it: enough to tell it from a later process with the same number. */
export interface ProcIdentity {
  /** /proc/sys/kernel/random/boot_id when it was recorded. */
  bootId?: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot). */
  startTicks?: number;
}

/** A recorded pid, looked up now. */
export type ProcLiveness = 'alive' | 'gone' | 'reused';

export interface ReconcileFacts {
  manifest: RunManifest;
  supervisor: ProcLiveness;
  trainer: ProcLiveness;
  /** The machine restarted since the last attempt was recorded. */
  rebooted: boolean;
  /** train_results.json or all_results.json exist (LLaMA-Factory's end of training, normal or graceful stop). */
  results: boolean;
  /** The last step logged and the planned total. */
  step: number;
  totalSteps: number | null;
  /** Steps of the complete checkpoints, for the advice. */
  checkpoints: readonly number[];
  nowMs: number;
  /** A run queued this long ago without any attempt has lost its supervisor (default 120 s). */
  queuedGraceMs?: number;
}

export type Reconciliation =
  | { action: 'none'; note?: string }
  /** The supervisor is gone but the trainer runs on: the run goes on; the next look after it ends records it. */
  | { action: 'orphaned'; note: string }
  | { action: 'finalize'; status: RunStatus; cause?: FailureCause };

/** Compares a recorded identity with the process now holding the pid. */
export function liveness(alive: boolean, recorded: ProcIdentity, current: ProcIdentity | null): ProcLiveness {
  if (!alive || current === null) return 'gone';
  if (recorded.bootId && current.bootId && recorded.bootId !== current.bootId) return 'reused';
  if (recorded.startTicks !== undefined && current.startTicks !== undefined && recorded.startTicks !== current.startTicks) return 'reused';
  return 'alive';
}

export function reconcile(f: ReconcileFacts): Reconciliation {
  const m = f.manifest;
  if (TERMINAL_STATUSES.includes(m.status)) return { action: 'none' };
  const attempt = m.attempts[m.attempts.length - 1];
  const resumeHint = f.checkpoints.length
    ? `\`medtune resume ${m.id}\` continues from checkpoint-${f.checkpoints[f.checkpoints.length - 1]}`
    : `no complete checkpoint was saved: start again with \`medtune train\` (lower save_steps to lose less next time)`;
  if (!attempt || attempt.endedAt) {
    // Only a queued run (a launch or a resume) waits for its supervisor's first attempt: it writes one within a
    // second. Any other active status without a running attempt is not a state medtune writes: leave it be.
    if (m.status !== 'queued') return { action: 'none' };
    // Waiting in the queue: no supervisor yet, by design (core/queue.ts starts it).
    if (m.queue) return { action: 'none' };
    const age = f.nowMs - Date.parse(m.updatedAt);
    if (f.supervisor === 'alive' || !(age > (f.queuedGraceMs ?? 120_000))) return { action: 'none' };
    return {
      action: 'finalize',
      status: 'failed',
      cause: {
        code: 'SUPERVISOR_LOST',
        summary: `the run was ${m.status} but its supervisor never started an attempt (it was killed, or the machine restarted)`,
        next: attempt ? resumeHint : `start it again with \`medtune train\``,
      },
    };
  }
  if (f.supervisor === 'alive') return { action: 'none' };
  if (f.trainer === 'alive') {
    return {
      action: 'orphaned',
      note: `the supervisor (pid ${attempt.supervisorPid}) is gone; the trainer (pid ${attempt.pid}) is still running and will be recorded when it ends`,
    };
  }
  const finished = f.results && (f.totalSteps === null || f.step >= f.totalSteps);
  if (finished) return { action: 'finalize', status: 'completed' };
  if (m.stopRequested || (f.results && m.status === 'stopping')) return { action: 'finalize', status: 'stopped' };
  if (f.results) {
    // A graceful stop nobody recorded (LLaMA-Factory saved and exited short of the total).
    return {
      action: 'finalize',
      status: 'stopped',
      cause: {
        code: 'STOPPED_UNRECORDED',
        summary: `the trainer saved and ended at step ${f.step}${f.totalSteps ? `/${f.totalSteps}` : ''} while its supervisor was gone`,
        next: resumeHint,
      },
    };
  }
  const who = f.trainer === 'reused' || f.supervisor === 'reused' ? ' (its pid now belongs to another process)' : '';
  return {
    action: 'finalize',
    status: 'failed',
    cause: f.rebooted
      ? {
          code: 'INTERRUPTED',
          summary: `the machine restarted while the run was ${m.status} (step ${f.step}${f.totalSteps ? `/${f.totalSteps}` : ''})`,
          next: resumeHint,
        }
      : {
          code: 'SUPERVISOR_LOST',
          summary: `the run's supervisor (pid ${attempt.supervisorPid}) and trainer (pid ${attempt.pid}) were killed while it was ${m.status}, at step ${f.step}${f.totalSteps ? `/${f.totalSteps}` : ''}${who}`,
          next: resumeHint,
        },
  };
}
