/**
 * The workspace: one fine-tuning project's folder, marked by its medtune.yaml and found the way git finds a
 * repository (see `findWorkspace`).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { commandArg } from '../core/nextstep.js';

export interface Workspace {
  root: string;
  config: string;
  dataDir: string;
  datasetInfo: string;
  modelsDir: string;
  runsDir: string;
  exportsDir: string;
  /** Multi-step jobs (the demo), each supervised like a run: jobs/<id>/run.json + job.json. */
  jobsDir: string;
}

export const WORKSPACE_FILE = 'medtune.yaml';

export function workspaceAt(root: string): Workspace {
  const r = resolve(root);
  return {
    root: r,
    config: join(r, WORKSPACE_FILE),
    dataDir: join(r, 'data'),
    datasetInfo: join(r, 'data', 'dataset_info.json'),
    modelsDir: join(r, 'models'),
    runsDir: join(r, 'runs'),
    exportsDir: join(r, 'exports'),
    jobsDir: join(r, 'jobs'),
  };
}

/**
 * A folder is a workspace when it holds medtune.yaml, or (made before medtune wrote one) both runs/ and
 * data/dataset_info.json — a LLaMA-Factory clone has the second but not the first.
 */
export function isWorkspace(dir: string): boolean {
  return existsSync(join(dir, WORKSPACE_FILE)) || (existsSync(join(dir, 'runs')) && existsSync(join(dir, 'data', 'dataset_info.json')));
}

/** The nearest workspace at or above a path (a file or a folder), or null. */
export function workspaceAbove(path: string): string | null {
  let dir = resolve(path);
  if (existsSync(dir) && !statSync(dir).isDirectory()) dir = dirname(dir);
  for (;;) {
    if (isWorkspace(dir)) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** The workspaces directly below a folder, by name. */
export function workspacesBelow(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name);
  } catch {
    return [];
  }
  return names.filter((n) => isWorkspace(join(dir, n))).sort();
}

/** How a workspace was found; `below` is said to the user, the others are what they expect. */
export type WorkspaceOrigin = 'flag' | 'env' | 'path' | 'above' | 'below' | 'here';

export interface FoundWorkspace {
  ws: Workspace;
  origin: WorkspaceOrigin;
  /**
   * The `-w` value a printed command needs to reach this workspace from `cwd` (relative when that is shorter),
   * or null when a command typed in `cwd` finds it on its own.
   */
  flag: string | null;
}

export interface FindWorkspaceRequest {
  /** -w / --workspace. */
  flag?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The command's arguments that may be paths (an export, a run folder, a trainer_log.jsonl…). */
  paths?: string[];
  /** With several workspaces below and none found otherwise: use `cwd` instead of refusing (doctor, setup). */
  lenient?: boolean;
}

/** The `-w` argument that reaches `root` from `cwd`: relative when it stays below cwd, else absolute. */
export function workspaceFlag(root: string, cwd: string): string {
  const r = resolve(root);
  const c = resolve(cwd);
  return r.startsWith(`${c}/`) ? r.slice(c.length + 1) : r;
}

const inside = (path: string, root: string) => path === root || path.startsWith(`${root}/`);

/** The `-w` a command typed in `cwd` needs to reach `root`: null when cwd lies inside it. */
export function reachFlag(root: string, cwd: string): string | null {
  return inside(resolve(cwd), resolve(root)) ? null : workspaceFlag(root, cwd);
}

/**
 * Which workspace a command works on: -w, else $MEDTUNE_WORKSPACE, else the workspace holding a path argument,
 * else the nearest one at or above the current folder, else the only one directly below it (several: refused
 * with the `-w` to pass), else the current folder (a new workspace).
 */
export function findWorkspace(req: FindWorkspaceRequest = {}): FoundWorkspace {
  const env = req.env ?? process.env;
  const cwd = resolve(req.cwd ?? process.cwd());
  const found = (root: string, origin: WorkspaceOrigin): FoundWorkspace => {
    const ws = workspaceAt(resolve(cwd, root));
    return { ws, origin, flag: origin === 'env' ? null : reachFlag(ws.root, cwd) };
  };
  if (req.flag) return found(req.flag, 'flag');
  if (env.MEDTUNE_WORKSPACE) return found(env.MEDTUNE_WORKSPACE, 'env');
  for (const p of req.paths ?? []) {
    const path = resolve(cwd, p);
    if (!existsSync(path)) continue;
    const root = workspaceAbove(path);
    if (root) return found(root, 'path');
  }
  const above = workspaceAbove(cwd);
  if (above) return found(above, 'above');
  const below = workspacesBelow(cwd);
  if (below.length === 1) return found(join(cwd, below[0]!), 'below');
  if (below.length > 1 && !req.lenient)
    throw new MedtuneError({
      doing: `finding the workspace from ${cwd}`,
      problem: `there is no workspace here but ${below.length} below it: ${below.join(', ')}`,
      next: below.map((b) => `\`medtune -w ${commandArg(b)} …\``).join(' or '),
      code: 'AMBIGUOUS_WORKSPACE',
    });
  return found(cwd, 'here');
}

const WORKSPACE_FILE_TEXT = `# A medtune workspace: medtune finds it from this folder and every folder below it.
# Settings, all optional (the command-line flags win over them):
#   model: tiny-qwen2-vl          # a model under models/ or a path
#   datasets: [medtrinity-sample] # entries of data/dataset_info.json
#   profile: auto                 # cpu, gpu-16g, gpu-24g, gpu-40g, gpu-80g, gpu-140g or auto
#   overrides: {}                 # LLaMA-Factory keys, as --set would give them
#   autoResume: false
#   notify: { command: "" }
`;

/** Marks a folder as a workspace (writes a commented medtune.yaml) unless it already has one; never rewrites it. */
export async function markWorkspace(ws: Workspace): Promise<void> {
  await mkdir(ws.root, { recursive: true });
  await writeFile(ws.config, WORKSPACE_FILE_TEXT, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}
