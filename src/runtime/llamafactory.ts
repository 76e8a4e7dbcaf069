/** `llamafactory-cli <verb> <yaml>` run to its end in the venv (eval's predict, export's merge), offline, into log files. */
import { join } from 'node:path';
import { execa } from 'execa';
import { helperEnv } from './pythonhelper.js';
import type { Venv } from './venv.js';

export interface LlamafactoryRun {
  verb: 'train' | 'export';
  yaml: string;
  cwd: string;
  /** Files stdout and stderr are appended to (the same file for both is fine). */
  stdout: string;
  stderr: string;
  signal?: AbortSignal;
  /** Called every half second while it runs (progress read from its files). */
  onPoll?: () => void;
}

/** The argv and the environment (beyond the venv's) of a run: what its YAML header records. */
export function llamafactoryCommand(
  venv: Venv,
  verb: LlamafactoryRun['verb'],
  yaml: string,
): { command: string[]; env: Record<string, string> } {
  return { command: [join(venv.bin, 'llamafactory-cli'), verb, yaml], env: { HF_HUB_OFFLINE: '1', PYTHONUNBUFFERED: '1' } };
}

/** Runs it; resolves with its exit code (127 when it could not start, null when cancelled) and whether it was cancelled. */
export async function runLlamafactory(venv: Venv, run: LlamafactoryRun): Promise<{ exitCode: number | null; canceled: boolean }> {
  const { command, env } = llamafactoryCommand(venv, run.verb, run.yaml);
  const poll = run.onPoll ? setInterval(run.onPoll, 500) : undefined;
  const r = await execa(command[0]!, command.slice(1), {
    cwd: run.cwd,
    env: { ...helperEnv(venv), ...env },
    extendEnv: false,
    stdin: 'ignore',
    stdout: { file: run.stdout, append: true },
    stderr: { file: run.stderr, append: true },
    cancelSignal: run.signal,
    forceKillAfterDelay: 5_000,
    reject: false,
  }).finally(() => clearInterval(poll));
  return { exitCode: r.exitCode ?? (r.failed && !r.isCanceled ? 127 : null), canceled: r.isCanceled };
}
