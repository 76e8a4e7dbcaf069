/**
 * Shared setup for integration tests: a workspace with the offline sample dataset and the tiny Qwen2-VL,
 * built through the same runtime functions the CLI uses, and a way to run the real `medtune` binary.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { prepareDataset } from '../../src/runtime/datasets.js';
import { buildTinyModel } from '../../src/runtime/models.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { listProcesses } from '../../src/runtime/proctree.js';

export const BIN = join(PACKAGE_ROOT, 'bin', 'medtune.js');
export const DATASET = 'sample';

export interface TestWorkspace {
  ws: Workspace;
  venv: Venv;
  modelDir: string;
  cleanup(): Promise<void>;
}

export async function makeWorkspace(prefix: string): Promise<TestWorkspace> {
  const root = await mkdtemp(join(tmpdir(), `medtune-${prefix}-`));
  const ws = workspaceAt(root);
  const venv = await requireVenv();
  await prepareDataset(ws, venv, { source: 'sample', name: DATASET, valRatio: 0.2 });
  const model = await buildTinyModel(ws, venv);
  return { ws, venv, modelDir: model.dir, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Runs the built CLI; never rejects, so tests can assert on failures too. */
export function medtune(
  ws: Workspace,
  args: string[],
  opts: { timeout?: number } = {},
): ResultPromise<{ reject: false; all: true; timeout?: number }> {
  return execa(process.execPath, [BIN, '-w', ws.root, ...args], {
    reject: false,
    all: true,
    timeout: opts.timeout ?? 15 * 60_000,
    env: { CI: '1' },
  }) as unknown as ResultPromise<{ reject: false; all: true; timeout?: number }>;
}

export function lastJson<T = Record<string, unknown>>(stdout: string): T {
  const start = stdout.search(/^[[{]/m);
  if (start < 0) throw new Error(`expected JSON on stdout, got: ${JSON.stringify(stdout.slice(0, 500))}`);
  return JSON.parse(stdout.slice(start)) as T;
}

/** Processes whose command line mentions the workspace (trainers, supervisors): none may outlive a test. */
export function strayProcesses(ws: Workspace): number[] {
  const out: number[] = [];
  for (const p of listProcesses()) {
    try {
      const cmd = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      if (cmd.includes(ws.root) && p.pid !== process.pid) out.push(p.pid);
    } catch {
      // gone
    }
  }
  return out;
}

/** SIGKILLs every process of the workspace still alive: a failed test must not leave a trainer running on the CI machine. */
export function killStrayProcesses(ws: Workspace): void {
  for (const pid of strayProcesses(ws)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function waitUntil(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
