/** Runs a Python helper (python/medtune_py/<name>.py) in the venv and reads its NDJSON events. */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import type { z } from 'zod';
import { MedtuneError } from '../core/errors.js';
import { LineSplitter, parseHelperLine, type ErrorEvent, type HelperEvent, type ResultEvent } from '../core/protocol.js';
import { cacheRoot, PYTHON_DIR } from './paths.js';
import { tailLines } from './files.js';
import type { Venv } from './venv.js';

export interface HelperOptions {
  venv: Venv;
  /** What the helper is doing, in the user's words (used in errors). */
  doing: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where stderr goes; default: <cache>/logs/<helper>-<time>.log. */
  stderrFile?: string;
  onEvent?: (e: HelperEvent) => void;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export function helperEnv(venv: Venv, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...extra,
    PYTHONPATH: [PYTHON_DIR, process.env.PYTHONPATH].filter(Boolean).join(':'),
    PYTHONUNBUFFERED: '1',
    PATH: `${venv.bin}:${process.env.PATH ?? ''}`,
    VIRTUAL_ENV: venv.dir,
    // Nothing medtune runs may reach for a hub unless a command asks for it explicitly.
    HF_HUB_DISABLE_TELEMETRY: '1',
    TOKENIZERS_PARALLELISM: 'false',
  };
}

/**
 * Runs `python -m medtune_py.<name> args…`; resolves with its result event checked against `schema`, rejects with
 * a MedtuneError (the helper's own error, HELPER_FAILED, or HELPER_PROTOCOL for a result of another shape).
 */
export async function runHelper<S extends z.ZodType>(name: string, args: string[], schema: S, opts: HelperOptions): Promise<z.infer<S>> {
  const stderrFile =
    opts.stderrFile ?? join(cacheRoot(), 'logs', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
  await mkdir(dirname(stderrFile), { recursive: true });
  const errStream = createWriteStream(stderrFile, { flags: 'a' });
  let result: ResultEvent | undefined;
  let lastError: ErrorEvent | undefined;
  const split = new LineSplitter();
  const handle = (line: string) => {
    const ev = parseHelperLine(line);
    if (!ev) return;
    if (ev.event === 'result') result = ev;
    if (ev.event === 'error') lastError = ev;
    opts.onEvent?.(ev);
  };
  const child = execa(opts.venv.python, ['-m', `medtune_py.${name}`, ...args], {
    cwd: opts.cwd,
    env: helperEnv(opts.venv, opts.env),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    cancelSignal: opts.signal,
    timeout: opts.timeoutMs,
    forceKillAfterDelay: 5000,
  });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => split.push(chunk).forEach(handle));
  child.stderr?.pipe(errStream);
  const r = await child;
  split.flush().forEach(handle);
  await new Promise<void>((res) => errStream.end(res));
  if (r.exitCode === 0 && result) {
    const parsed = schema.safeParse(result);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new MedtuneError({
      doing: opts.doing,
      problem: `the Python helper ${name} returned an unexpected result: ${issue ? `${issue.path.join('.') || 'result'}: ${issue.message}` : 'invalid'}`,
      next: 'the helpers in python/ and this medtune do not match: reinstall medtune, then `medtune doctor`',
      code: 'HELPER_PROTOCOL',
    });
  }
  if (lastError) {
    throw new MedtuneError({
      doing: opts.doing,
      problem: lastError.message,
      next: lastError.next ?? `see the helper's log: ${stderrFile}`,
      details: lastError.details ?? [],
      code: lastError.code,
    });
  }
  const why = r.isCanceled
    ? 'it was cancelled'
    : r.timedOut
      ? `it ran past its time limit (${opts.timeoutMs} ms)`
      : r.signal
        ? `it was killed by ${r.signal}`
        : r.exitCode === 0
          ? 'it ended without a result'
          : `it exited with code ${r.exitCode}`;
  throw new MedtuneError({
    doing: opts.doing,
    problem: `the Python helper ${name} failed: ${why}`,
    details: await tailLines(stderrFile, 15),
    next: `full log: ${stderrFile}; \`medtune doctor\` checks the environment`,
    code: 'HELPER_FAILED',
  });
}

/** Progress as (phase, done, total, message), the shape a helper's progress events are relayed in. */
export type Progress = (phase: string, done: number, total: number | null, message?: string) => void;

/** Relays a helper's progress events to a Progress callback. */
export const relayProgress =
  (p: Progress | undefined) => (e: { event: string; phase?: string; done?: number; total?: number | null; message?: string }) => {
    if (e.event === 'progress' && e.phase) p?.(e.phase, e.done ?? 0, e.total ?? null, e.message);
  };
