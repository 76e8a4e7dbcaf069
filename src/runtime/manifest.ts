/** runs/<id>/run.json: read, and read-modify-write under a lock so the supervisor and `stop` never clobber each other. */
import { readdir } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmd } from '../core/nextstep.js';
import { MedtuneError } from '../core/errors.js';
import { RunManifest, runRootPids, type RunStatus } from '../core/run.js';
import { isAlive, processTreePids } from './proctree.js';
import { readJsonIfExists, withLock, writeJsonAtomic } from './atomic.js';
import type { Workspace } from './workspace.js';

export interface RunPaths {
  dir: string;
  manifest: string;
  trainYaml: string;
  stdout: string;
  stderr: string;
  supervisorLog: string;
  outputDir: string;
}

export function runPaths(dir: string): RunPaths {
  return {
    dir,
    manifest: join(dir, 'run.json'),
    trainYaml: join(dir, 'train.yaml'),
    stdout: join(dir, 'stdout.log'),
    stderr: join(dir, 'stderr.log'),
    supervisorLog: join(dir, 'supervisor.log'),
    outputDir: join(dir, 'output'),
  };
}

export async function readManifest(dir: string): Promise<RunManifest | undefined> {
  const file = join(dir, 'run.json');
  let raw: unknown;
  try {
    raw = await readJsonIfExists<unknown>(file);
  } catch (err) {
    // Truncated or edited by hand: say which file and leave it exactly as it is (every writer reads it first).
    throw new MedtuneError({
      doing: `reading ${file}`,
      problem: `it is not valid JSON (${(err as Error).message}); it may have been cut short by a full disk or edited by hand`,
      next: `restore it from a backup, or move the folder ${dir} out of runs/ (its output/ is still readable with \`medtune status ${join(dir, 'output')}\`); medtune does not rewrite a file it cannot read`,
      code: 'BAD_MANIFEST',
    });
  }
  if (raw === undefined) return undefined;
  const parsed = RunManifest.safeParse(raw);
  if (!parsed.success) {
    throw new MedtuneError({
      doing: `reading ${join(dir, 'run.json')}`,
      problem: `the file does not match medtune's run format (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`,
      next: 'it may come from a newer medtune; `medtune status PATH/output` still reads the LLaMA-Factory output',
      code: 'BAD_MANIFEST',
    });
  }
  return parsed.data;
}

export async function writeManifest(dir: string, m: RunManifest): Promise<void> {
  await writeJsonAtomic(join(dir, 'run.json'), { ...m, updatedAt: new Date().toISOString() });
}

/** Applies `fn` to the current manifest under the run's lock and writes the result atomically. */
export async function updateManifest(dir: string, fn: (m: RunManifest) => RunManifest | void): Promise<RunManifest> {
  return withLock(join(dir, 'run.json'), async () => {
    const m = await readManifest(dir);
    if (!m)
      throw new MedtuneError({
        doing: `updating run ${dir}`,
        problem: 'run.json is missing',
        next: 'check the run id with `medtune runs`',
        code: 'NO_RUN',
      });
    const next = fn(m) ?? m;
    next.updatedAt = new Date().toISOString();
    await writeJsonAtomic(join(dir, 'run.json'), next);
    return next;
  });
}

/** Resolves a run id, a unique id prefix, or a path to a run folder. */
export async function resolveRunDir(ws: Workspace, ref: string): Promise<string> {
  if (existsSync(join(ref, 'run.json'))) return ref;
  const direct = join(ws.runsDir, ref);
  if (existsSync(join(direct, 'run.json'))) return direct;
  const ids = await listRunIds(ws);
  const matches = ref === 'latest' ? ids.slice(-1) : ids.filter((id) => id.startsWith(ref));
  if (matches.length === 1) return join(ws.runsDir, matches[0]!);
  throw new MedtuneError({
    doing: `finding run "${ref}"`,
    problem: matches.length
      ? `"${ref}" matches ${matches.length} runs (${matches.slice(0, 4).join(', ')})`
      : `no run "${ref}" in ${ws.runsDir}`,
    next: matches.length ? 'give more of the id' : ['list the runs with ', cmd('runs')],
    code: matches.length ? 'AMBIGUOUS_RUN' : 'NO_RUN',
  });
}

/** Run ids, oldest first (ids start with a timestamp). */
export async function listRunIds(ws: Workspace): Promise<string[]> {
  try {
    const entries = await readdir(ws.runsDir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(join(ws.runsDir, e.name, 'run.json')))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/**
 * Pids of every live process of these runs (each run's roots, core/run.ts `runRootPids`, and their descendants),
 * read synchronously so the GPU monitor can call it on each process poll to mark the run's own GPU processes.
 * No folders: every run of the workspace.
 */
export function runProcessPids(ws: Workspace, runDirs?: readonly string[]): Set<number> {
  let dirs = runDirs;
  if (!dirs) {
    try {
      dirs = readdirSync(ws.runsDir).map((id) => join(ws.runsDir, id));
    } catch {
      return new Set();
    }
  }
  const roots: number[] = [];
  for (const dir of dirs) {
    try {
      const m = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunManifest;
      for (const pid of runRootPids(m)) if (isAlive(pid)) roots.push(pid);
    } catch {
      // not a run folder, or run.json mid-rename
    }
  }
  return processTreePids(roots);
}

/** The newest run whose status is one of `statuses` (any status when null), or null. */
export async function newestRun(ws: Workspace, statuses: readonly RunStatus[] | null): Promise<RunManifest | null> {
  const ids = await listRunIds(ws);
  for (let i = ids.length - 1; i >= 0; i--) {
    const m = await readManifest(join(ws.runsDir, ids[i]!)).catch(() => null);
    if (m && (!statuses || statuses.includes(m.status))) return m;
  }
  return null;
}
