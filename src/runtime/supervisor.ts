/**
 * The run supervisor: a small detached Node process (its own session) that launches llamafactory-cli, waits for
 * it, and records every attempt in run.json. It belongs to no terminal: closing the TUI, the CLI or the SSH
 * session does nothing to it. stdout and stderr go to files, never to a pipe that could fill and stall the run.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, existsSync, statSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { attemptBanner, shouldRetryLaunch, type Attempt, type FailureCause, type RunManifest } from '../core/run.js';
import { diagnoseFailure } from '../core/diagnose.js';
import { resumableCheckpoint, savesOnlyModel } from './checkpoints.js';
import { tailText } from './files.js';
import { latestCompleteCheckpoint } from './checkpoints.js';
import { readManifest, runPaths, updateManifest, type RunPaths } from './manifest.js';
import { readSettings } from './settings.js';
import { workspaceAt } from './workspace.js';
import { procIdentity } from './reconcile.js';
import { diskLowCause, estimatedCheckpointBytes, startDiskWatch } from './diskwatch.js';
import { signalGroup } from './proctree.js';
import { withOomAdvice } from './vramcheck.js';

/** Boot id and start times of the supervisor and the trainer, recorded with the attempt. */
function identityFields(pid: number | undefined): Pick<Attempt, 'bootId' | 'supervisorStartTicks' | 'pidStartTicks'> {
  const self = procIdentity(process.pid);
  const child = procIdentity(pid);
  return {
    ...(self?.bootId ? { bootId: self.bootId } : {}),
    ...(self?.startTicks !== undefined ? { supervisorStartTicks: self.startTicks } : {}),
    ...(child?.startTicks !== undefined ? { pidStartTicks: child.startTicks } : {}),
  };
}

function log(paths: RunPaths, message: string): void {
  appendFileSync(paths.supervisorLog, `[${new Date().toISOString()}] ${message}\n`);
}

/** Causes worth an automatic resume: the run itself was fine, the machine or the process was not. */
const RETRYABLE = new Set(['HOST_OOM', 'KILLED', 'NCCL', 'NATIVE_CRASH', 'ABORTED', 'WORKER_FAILED', 'UNKNOWN']);

async function runAttempt(
  paths: RunPaths,
  m: RunManifest,
  resumeFrom: string | undefined,
  launchRetry = false,
): Promise<{ exitCode: number | null; signal: string | null; seconds: number; logged: boolean }> {
  const n = m.attempts.length + 1;
  const started = Date.now();
  const banner = attemptBanner(
    n,
    new Date().toISOString(),
    resumeFrom,
    launchRetry ? `automatic retry: attempt ${n - 1} failed at launch and left nothing behind` : undefined,
  );
  appendFileSync(paths.stdout, banner);
  appendFileSync(paths.stderr, banner);
  const out = openSync(paths.stdout, 'a');
  const err = openSync(paths.stderr, 'a');
  const args = m.command.slice(1);
  // OmegaConf dot-list override after the YAML: resume exactly from the checkpoint medtune checked is complete.
  if (resumeFrom) args.push(`resume_from_checkpoint=${resumeFrom}`);
  const child = spawn(m.command[0]!, args, {
    cwd: m.cwd,
    env: { ...process.env, ...m.env },
    stdio: ['ignore', out, err],
    detached: true,
  });
  closeSync(out);
  closeSync(err);
  // Listen before the first await: a trainer that dies at launch (a library that fails to load) can exit while the
  // manifest is still being written, and an 'exit' nobody listens to would leave this supervisor waiting forever.
  const exited = new Promise<{ exitCode: number | null; signal: string | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ exitCode: code, signal }));
    child.on('error', (e) => {
      appendFileSync(paths.stderr, `medtune: could not start ${m.command[0]}: ${e.message}\n`);
      resolve({ exitCode: 127, signal: null });
    });
  });
  const startStep = resumeFrom ? Number(/checkpoint-(\d+)/.exec(resumeFrom)?.[1] ?? 0) : 0;
  const attempt: Attempt = {
    n,
    startedAt: new Date().toISOString(),
    supervisorPid: process.pid,
    pid: child.pid,
    ...identityFields(child.pid),
    pgid: child.pid,
    startStep,
    ...(resumeFrom ? { resumedFrom: resumeFrom } : {}),
    ...(launchRetry ? { launchRetry: true } : {}),
  };
  await updateManifest(paths.dir, (cur) => {
    cur.attempts.push(attempt);
    if (!cur.stopRequested) cur.status = 'preparing';
    delete cur.cause;
  });
  log(paths, `attempt ${n}: started pid ${child.pid}: ${m.command.join(' ')}${resumeFrom ? ` resume_from_checkpoint=${resumeFrom}` : ''}`);

  // Stop while the next checkpoint still fits: torch.save on a full disk leaves it cut short.
  const disk = startDiskWatch(m.outputDir, await estimatedCheckpointBytes(m), (v) => {
    const cause = diskLowCause(v, m.outputDir, m.id);
    log(paths, `attempt ${n}: ${cause.summary}; stopping (SIGTERM)`);
    void updateManifest(paths.dir, (cur) => {
      cur.stopRequested = true;
      cur.status = 'stopping';
      cur.cause = cause;
      const a = cur.attempts[cur.attempts.length - 1];
      if (a) a.cause = cause;
    })
      .catch(() => undefined)
      .finally(() => {
        if (child.pid) signalGroup(child.pid, 'SIGTERM');
      });
  });
  const trainerLog = join(paths.outputDir, 'trainer_log.jsonl');
  const baseSize = existsSync(trainerLog) ? statSync(trainerLog).size : 0;
  const watch = setInterval(() => {
    const size = existsSync(trainerLog) ? statSync(trainerLog).size : 0;
    if (size > baseSize) {
      void updateManifest(paths.dir, (cur) => {
        if (cur.status === 'preparing') cur.status = 'training';
      }).catch(() => undefined);
    }
  }, 1000);

  const result = await exited;
  clearInterval(watch);
  disk.stop();
  const seconds = (Date.now() - started) / 1000;
  log(paths, `attempt ${n}: exited code=${result.exitCode} signal=${result.signal} after ${seconds.toFixed(1)} s`);
  const logged = (existsSync(trainerLog) ? statSync(trainerLog).size : 0) > baseSize;
  return { ...result, seconds, logged };
}

async function notify(paths: RunPaths, m: RunManifest): Promise<void> {
  const settings = await readSettings(workspaceAt(m.cwd)).catch(() => ({}) as Awaited<ReturnType<typeof readSettings>>);
  const cmd = settings.notify?.command;
  if (!cmd) return;
  const r = await execa(cmd, {
    shell: true,
    reject: false,
    timeout: 60_000,
    cwd: m.cwd,
    env: { MEDTUNE_RUN_ID: m.id, MEDTUNE_RUN_STATUS: m.status, MEDTUNE_RUN_DIR: paths.dir, MEDTUNE_RUN_CAUSE: m.cause?.summary ?? '' },
  });
  log(paths, `notify hook exited ${r.exitCode}`);
}

/** Supervises attempts until the run completes, is stopped, or fails beyond its automatic-resume budget. */
export async function supervise(runDir: string, firstResumeFrom?: string): Promise<RunManifest> {
  const paths = runPaths(runDir);
  let resumeFrom = firstResumeFrom;
  let autoResumesUsed = 0;
  let launchRetry = false;
  for (;;) {
    const m = await readManifest(runDir);
    if (!m) throw new Error(`no run.json in ${runDir}`);
    const before = await latestCompleteCheckpoint(paths.outputDir);
    const { exitCode, signal, seconds, logged } = await runAttempt(paths, m, resumeFrom, launchRetry);
    const after = (await readManifest(runDir))!;
    let cause: FailureCause | undefined;
    let status: RunManifest['status'];
    if (after.stopRequested) {
      status = 'stopped';
    } else if (exitCode === 0) {
      status = 'completed';
    } else {
      status = 'failed';
      const stderrTail = await tailText(paths.stderr);
      // Advice names `medtune resume` only where a checkpoint can be resumed.
      const resumable = !!(await resumableCheckpoint(paths.outputDir, { saveOnlyModel: await savesOnlyModel(after.trainYaml) })).path;
      cause = diagnoseFailure({
        exitCode,
        signal,
        stdoutTail: await tailText(paths.stdout),
        stderrTail,
        runId: after.id,
        resumable,
      }) ?? {
        code: 'UNKNOWN',
        summary: `llamafactory-cli ended with code ${exitCode} (signal ${signal ?? 'none'})`,
        next: `read ${paths.stderr}`,
      };
    }
    // A CUDA OOM names the next smaller setting that fits the card (core/vram.ts).
    if (cause?.code === 'CUDA_OOM') cause = await withOomAdvice(cause, after, await tailText(paths.stderr));
    const next = await updateManifest(runDir, (cur) => {
      const a = cur.attempts[cur.attempts.length - 1]!;
      a.endedAt = new Date().toISOString();
      a.exitCode = exitCode;
      a.signal = signal;
      if (cause) a.cause = cause;
      cur.status = status;
      if (cause) cur.cause = cause;
    });
    const newCheckpoint = (await latestCompleteCheckpoint(paths.outputDir)) !== before;
    if (shouldRetryLaunch({ status, seconds, logged, newCheckpoint, causeCode: cause?.code, wasRetry: launchRetry, kind: next.kind })) {
      // Died at launch (e.g. a library that failed to load right after another run exited) with nothing written:
      // once, at once, from the same starting point. The attempt records it and its banner says so.
      launchRetry = true;
      log(
        paths,
        `attempt ${next.attempts.length} failed ${seconds.toFixed(1)} s after launch (${cause?.code ?? 'no cause'}) and left nothing behind: retrying once`,
      );
      continue;
    }
    launchRetry = false;
    if (status === 'failed' && cause && RETRYABLE.has(cause.code) && autoResumesUsed < next.autoResume) {
      const ckpt = (await resumableCheckpoint(paths.outputDir, { saveOnlyModel: await savesOnlyModel(next.trainYaml) })).path;
      if (ckpt) {
        autoResumesUsed++;
        resumeFrom = ckpt;
        log(paths, `automatic resume ${autoResumesUsed}/${next.autoResume} from ${ckpt} after ${cause.code}`);
        continue;
      }
    }
    await notify(paths, next).catch((e: Error) => log(paths, `notify hook failed: ${e.message}`));
    return next;
  }
}
