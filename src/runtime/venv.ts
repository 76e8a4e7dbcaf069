/**
 * The managed Python venv: one per set of pins, in the user cache, shared by workspaces.
 * A venv counts as built only when its marker file exists; the marker is written last, so an
 * interrupted or failed setup is never mistaken for a good one and is rebuilt from scratch.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { MedtuneError } from '../core/errors.js';
import { parseRequirements, requirementsHash, type Requirement } from '../core/requirements.js';
import { LineSplitter } from '../core/protocol.js';
import { cacheRoot, REQUIREMENTS_FILE } from './paths.js';
import { findPython, type PythonInfo } from './python.js';
import { readJsonIfExists, withLock, writeJsonAtomic, writeFileAtomic } from './atomic.js';

export const MARKER = 'medtune-venv.json';

export interface VenvMarker {
  hash: string;
  python: string;
  pythonVersion: string;
  createdAt: string;
  seconds: number;
  packages: Record<string, string>;
}

export interface Venv {
  dir: string;
  python: string;
  bin: string;
  hash: string;
  marker: VenvMarker;
}

export type SetupEvent =
  | { kind: 'phase'; phase: 'python' | 'create' | 'install' | 'install-nodeps' | 'verify' | 'done'; message: string }
  | { kind: 'package'; name: string; action: 'collecting' | 'downloading' | 'using' | 'installing'; message: string }
  | { kind: 'line'; message: string };

export async function readRequirements(file = REQUIREMENTS_FILE): Promise<{ text: string; reqs: Requirement[] }> {
  const text = await readFile(file, 'utf8');
  return { text, reqs: parseRequirements(text) };
}

export function venvDirFor(hash: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.MEDTUNE_VENV ? env.MEDTUNE_VENV : join(cacheRoot(env), `venv-${hash}`);
}

export interface VenvLocation {
  dir: string;
  hash: string;
  python: PythonInfo;
  ready: boolean;
  marker?: VenvMarker;
}

/** Where the venv for the current pins is and whether it is built; finds Python but installs nothing. */
export async function locateVenv(env: NodeJS.ProcessEnv = process.env, requirementsFile = REQUIREMENTS_FILE): Promise<VenvLocation> {
  const python = await findPython(env);
  const { text } = await readRequirements(requirementsFile);
  const hash = requirementsHash(text, python.version);
  const dir = venvDirFor(hash, env);
  const marker = await readJsonIfExists<VenvMarker>(join(dir, MARKER));
  const ready = !!marker && marker.hash === hash && existsSync(join(dir, 'bin', 'python'));
  return { dir, hash, python, ready, marker };
}

/** The venv for the current pins, or a clear error telling the user to run `medtune setup`. */
export async function requireVenv(env: NodeJS.ProcessEnv = process.env): Promise<Venv> {
  const loc = await locateVenv(env);
  if (!loc.ready || !loc.marker) {
    throw new MedtuneError({
      doing: 'opening the Python environment',
      problem: existsSync(loc.dir)
        ? `the venv at ${loc.dir} is incomplete or was built for other pins`
        : `no venv has been built for the current pins (expected at ${loc.dir})`,
      next: 'run `medtune setup` (it takes a few minutes once; later runs reuse it)',
      code: 'VENV_MISSING',
    });
  }
  return toVenv(loc.dir, loc.hash, loc.marker);
}

function toVenv(dir: string, hash: string, marker: VenvMarker): Venv {
  return { dir, hash, marker, bin: join(dir, 'bin'), python: join(dir, 'bin', 'python') };
}

/** Maps pip's output lines to progress events. */
export function classifyPipLine(line: string): SetupEvent {
  const t = line.trim();
  let m = /^Collecting ([A-Za-z0-9._-]+)/.exec(t);
  if (m) return { kind: 'package', name: m[1]!, action: 'collecting', message: t };
  m = /^Downloading (\S+)/.exec(t);
  if (m) return { kind: 'package', name: m[1]!.split('/').pop()!, action: 'downloading', message: t };
  m = /^(?:Using cached|Processing) (\S+)/.exec(t);
  if (m) return { kind: 'package', name: m[1]!.split('/').pop()!, action: 'using', message: t };
  m = /^Installing collected packages: (.+)$/.exec(t);
  if (m) return { kind: 'package', name: m[1]!, action: 'installing', message: t };
  return { kind: 'line', message: t };
}

async function pip(py: string, args: string[], onEvent: (e: SetupEvent) => void, env: NodeJS.ProcessEnv): Promise<void> {
  const child = execa(py, ['-m', 'pip', ...args], {
    reject: false,
    all: true,
    env: { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_PROGRESS_BAR: 'off', PYTHONUNBUFFERED: '1' },
  });
  const split = new LineSplitter();
  const tail: string[] = [];
  child.all?.setEncoding('utf8');
  child.all?.on('data', (chunk: string) => {
    for (const line of split.push(chunk)) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      onEvent(classifyPipLine(line));
    }
  });
  const r = await child;
  if (r.exitCode !== 0) {
    throw new MedtuneError({
      doing: `installing Python packages (pip ${args.slice(0, 2).join(' ')})`,
      problem: `pip exited with code ${r.exitCode}`,
      details: tail.filter((l) => !/^WARNING: Location/.test(l)).slice(-15),
      next: 'check the network and free disk, then run `medtune setup` again (it starts clean)',
      code: 'PIP_FAILED',
    });
  }
}

export interface SetupOptions {
  env?: NodeJS.ProcessEnv;
  force?: boolean;
  onEvent?: (e: SetupEvent) => void;
  /** Another pin file (tests); default python/requirements.txt. */
  requirementsFile?: string;
}

/** Builds the venv if needed; a second call with unchanged pins returns in well under a second. */
export async function ensureVenv(opts: SetupOptions = {}): Promise<{ venv: Venv; built: boolean }> {
  const env = opts.env ?? process.env;
  const onEvent = opts.onEvent ?? (() => {});
  onEvent({ kind: 'phase', phase: 'python', message: 'looking for Python >= 3.11' });
  const reqFileIn = opts.requirementsFile ?? REQUIREMENTS_FILE;
  const loc = await locateVenv(env, reqFileIn);
  if (loc.ready && loc.marker && !opts.force) {
    onEvent({ kind: 'phase', phase: 'done', message: `venv ready at ${loc.dir}` });
    return { venv: toVenv(loc.dir, loc.hash, loc.marker), built: false };
  }
  await mkdir(cacheRoot(env), { recursive: true });
  return withLock(`${loc.dir}`, async () => {
    const again = await locateVenv(env, reqFileIn);
    if (again.ready && again.marker && !opts.force) {
      return { venv: toVenv(again.dir, again.hash, again.marker), built: false };
    }
    const started = Date.now();
    const dir = loc.dir;
    try {
      await rm(dir, { recursive: true, force: true });
      onEvent({ kind: 'phase', phase: 'create', message: `creating venv with Python ${loc.python.version} at ${dir}` });
      const created = await execa(loc.python.executable, ['-m', 'venv', dir], { reject: false, all: true });
      if (created.exitCode !== 0) {
        throw new MedtuneError({
          doing: 'creating the Python venv',
          problem: String(created.all).trim().split('\n').pop() ?? `exit ${created.exitCode}`,
          next: 'install the venv module (Debian/Ubuntu: apt-get install python3-venv)',
          code: 'VENV_CREATE_FAILED',
        });
      }
      const py = join(dir, 'bin', 'python');
      const { reqs } = await readRequirements(reqFileIn);
      const withDeps = reqs.filter((r) => !r.noDeps);
      const noDeps = reqs.filter((r) => r.noDeps);
      const reqFile = join(dir, 'medtune-requirements.txt');
      await writeFileAtomic(reqFile, withDeps.map((r) => r.line).join('\n') + '\n');
      onEvent({ kind: 'phase', phase: 'install', message: `installing ${withDeps.length} pinned packages and their dependencies` });
      const findLinks = env.MEDTUNE_WHEELS ? ['--find-links', env.MEDTUNE_WHEELS] : [];
      await pip(py, ['install', ...findLinks, '-r', reqFile], onEvent, env);
      if (noDeps.length) {
        onEvent({ kind: 'phase', phase: 'install-nodeps', message: `installing ${noDeps.map((r) => r.name).join(', ')} without its unused dependencies` });
        await pip(py, ['install', '--no-deps', ...findLinks, ...noDeps.map((r) => r.line)], onEvent, env);
      }
      onEvent({ kind: 'phase', phase: 'verify', message: 'importing llamafactory.train.tuner (catches every import break seen so far)' });
      const verify = await execa(py, ['-c', 'import llamafactory.train.tuner, json, importlib.metadata as m; print(json.dumps({d.metadata["Name"].lower(): d.version for d in m.distributions()}))'], {
        reject: false,
        all: false,
        env: { ...env, DISABLE_VERSION_CHECK: '' },
      });
      if (verify.exitCode !== 0) {
        throw new MedtuneError({
          doing: 'checking the new venv',
          problem: 'LLaMA-Factory does not import with the installed packages',
          details: String(verify.stderr).trim().split('\n').slice(-12),
          next: 'the pins in python/requirements.txt do not work together on this machine; see `medtune doctor`',
          code: 'VENV_VERIFY_FAILED',
        });
      }
      const packages = JSON.parse(String(verify.stdout).trim().split('\n').pop()!) as Record<string, string>;
      const marker: VenvMarker = {
        hash: loc.hash,
        python: loc.python.executable,
        pythonVersion: loc.python.version,
        createdAt: new Date().toISOString(),
        seconds: Math.round((Date.now() - started) / 1000),
        packages,
      };
      await writeJsonAtomic(join(dir, MARKER), marker);
      onEvent({ kind: 'phase', phase: 'done', message: `venv ready at ${dir} (${marker.seconds} s)` });
      return { venv: toVenv(dir, loc.hash, marker), built: true };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }, { timeoutMs: 60 * 60_000 });
}
