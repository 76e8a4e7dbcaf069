/**
 * The managed Python venv: one per set of pins, in the user cache, shared by workspaces.
 * A venv counts as built only when its marker file exists; the marker is written last, so an
 * interrupted or failed setup is never mistaken for a good one and is rebuilt from scratch.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { MedtuneError } from '../core/errors.js';
import { parseRequirements, requirementsHash, type Requirement } from '../core/requirements.js';
import {
  checkWheelFolder,
  downloadHint,
  pipMissingPackage,
  planSystemInstall,
  type ReusedPackage,
  type TorchCheck,
} from '../core/install.js';
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
  /** 'system-torch': layered over an existing Python's packages (its CUDA torch); absent for an all-pinned venv. */
  mode?: VenvMode;
  /** For 'system-torch': the Python whose packages it reuses, the torch check and what was reused. */
  system?: { python: string; torch: TorchCheck[]; reused: ReusedPackage[] };
  /** Optional pins left out because the wheel folder had none. */
  skipped?: string[];
  /** The wheel folder of an offline install. */
  wheels?: string;
  /** Packages added later with `medtune setup --with` (trackers), outside the pins and their hash: name → version. */
  extras?: Record<string, string>;
}

export type VenvMode = 'pinned' | 'system-torch';

/** One name per distribution, the first on sys.path winning (a venv's own over the packages it is layered on). */
const LIST_PACKAGES =
  'import json, importlib.metadata as m\nd = {}\nfor x in m.distributions():\n    d.setdefault(x.metadata["Name"].lower(), x.version)\nprint(json.dumps(d))';

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

export function venvDirFor(hash: string, env: NodeJS.ProcessEnv = process.env, mode: VenvMode = 'pinned'): string {
  if (env.MEDTUNE_VENV) return env.MEDTUNE_VENV;
  return join(cacheRoot(env), mode === 'system-torch' ? `venv-${hash}-system` : `venv-${hash}`);
}

export interface VenvLocation {
  dir: string;
  hash: string;
  python: PythonInfo;
  ready: boolean;
  marker?: VenvMarker;
}

/**
 * Where the venv for the current pins is and whether it is built; finds Python but installs nothing.
 * The all-pinned venv is preferred; a `--system-torch` one for the same pins is used when it is the one built.
 * With `mode` it looks at that kind only (setup).
 */
export async function locateVenv(
  env: NodeJS.ProcessEnv = process.env,
  requirementsFile = REQUIREMENTS_FILE,
  mode?: VenvMode,
): Promise<VenvLocation> {
  const python = await findPython(env);
  const { text } = await readRequirements(requirementsFile);
  const hash = requirementsHash(text, python.version);
  const look = async (m: VenvMode): Promise<VenvLocation> => {
    const dir = venvDirFor(hash, env, m);
    const marker = await readJsonIfExists<VenvMarker>(join(dir, MARKER));
    const ready = !!marker && marker.hash === hash && existsSync(join(dir, 'bin', 'python'));
    return { dir, hash, python, ready, marker };
  };
  if (mode) return look(mode);
  const pinned = await look('pinned');
  if (pinned.ready || env.MEDTUNE_VENV) return pinned;
  const system = await look('system-torch');
  return system.ready ? system : pinned;
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

export async function pip(
  py: string,
  args: string[],
  onEvent: (e: SetupEvent) => void,
  env: NodeJS.ProcessEnv,
  wheels?: string,
): Promise<void> {
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
    const missing = wheels ? pipMissingPackage(tail) : null;
    if (missing) {
      throw new MedtuneError({
        doing: `installing Python packages offline from ${wheels}`,
        problem: `the wheel folder has no file for ${missing}, which a pinned package needs`,
        details: tail.filter((l) => /ERROR|requires|Requires|from /.test(l)).slice(-6),
        next: `on a machine with network: pip download --no-deps --only-binary=:all: -d ${wheels} ${missing}; then run setup again`,
        code: 'WHEEL_MISSING',
      });
    }
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
  /** Offline install: only this folder's wheels (pip --no-index --find-links); checked before anything is built. */
  wheels?: string;
  /** Build on the Python's existing packages (its CUDA torch) instead of installing torch; see planSystemInstall. */
  systemTorch?: boolean;
  onEvent?: (e: SetupEvent) => void;
  /** Another pin file (tests); default python/requirements.txt. */
  requirementsFile?: string;
}

/** Lists a Python's installed distributions (name -> version, first on sys.path wins). */
async function listPackages(py: string, env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const r = await execa(py, ['-c', LIST_PACKAGES], { reject: false, env: { ...env, PYTHONNOUSERSITE: '1' } });
  if (r.exitCode !== 0) {
    throw new MedtuneError({
      doing: `listing the packages of ${py}`,
      problem: String(r.stderr).trim().split('\n').pop() ?? `exit ${r.exitCode}`,
      next: 'check that this Python starts (`MEDTUNE_PYTHON` chooses another)',
      code: 'PYTHON_BROKEN',
    });
  }
  return JSON.parse(String(r.stdout).trim().split('\n').pop()!) as Record<string, string>;
}

/** The site-packages folders of a Python (its own, and a venv's base's when it is a venv with system packages). */
async function sitePaths(py: string): Promise<string[]> {
  const r = await execa(
    py,
    ['-c', 'import json, sys, site; print(json.dumps([p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]))'],
    { reject: false },
  );
  return r.exitCode === 0 ? (JSON.parse(String(r.stdout).trim()) as string[]) : [];
}

interface InstallPlan {
  withDeps: Requirement[];
  noDeps: Requirement[];
  skipped: string[];
  system?: VenvMarker['system'];
}

/** Decides what to install, and fails before anything is built when the torch check or the wheel folder says no. */
async function planInstall(
  reqs: Requirement[],
  opts: SetupOptions,
  python: string,
  env: NodeJS.ProcessEnv,
  pyVersion: string,
): Promise<InstallPlan> {
  let todo = reqs;
  let system: InstallPlan['system'];
  if (opts.systemTorch) {
    const plan = planSystemInstall(reqs, await listPackages(python, env));
    const bad = plan.torch.filter((t) => !t.ok);
    if (bad.length) {
      throw new MedtuneError({
        doing: `building the venv on the packages of ${python} (--system-torch)`,
        problem: bad
          .map((t) =>
            t.version ? `${t.name} ${t.version} is outside LLaMA-Factory 0.9.5's range ${t.range}` : `${t.name} is not installed there`,
          )
          .join('; '),
        next: 'point MEDTUNE_PYTHON at the Python that has the CUDA torch, or run `medtune setup` without --system-torch to install the pinned torch',
        code: 'SYSTEM_TORCH_UNSUITABLE',
      });
    }
    system = { python, torch: plan.torch, reused: plan.reused };
    todo = plan.install;
  }
  const skipped: string[] = [];
  if (opts.wheels) {
    const files = await readdir(opts.wheels).catch(() => {
      throw new MedtuneError({
        doing: 'reading the wheel folder',
        problem: `${opts.wheels} is not a readable folder`,
        next: 'pass --wheels the folder that holds the .whl files',
        code: 'WHEELS_DIR_MISSING',
      });
    });
    const check = checkWheelFolder(todo, files);
    if (check.missing.length) {
      throw new MedtuneError({
        doing: `checking the wheel folder ${opts.wheels} for an offline install`,
        problem: `no wheel for ${check.missing.map((r) => `${r.name}${r.spec}`).join(', ')}`,
        next: `on a machine with network: ${downloadHint(check.missing, opts.wheels, pyVersion)}${opts.systemTorch ? '' : " (or add --system-torch to reuse this Python's torch and friends)"}`,
        code: 'WHEEL_MISSING',
      });
    }
    skipped.push(...check.skipped.map((r) => `${r.name}${r.spec}`));
    todo = todo.filter((r) => !check.skipped.includes(r));
  }
  return { withDeps: todo.filter((r) => !r.noDeps), noDeps: todo.filter((r) => r.noDeps), skipped, system };
}

/** Builds the venv if needed; a second call with unchanged pins returns in well under a second. */
export async function ensureVenv(opts: SetupOptions = {}): Promise<{ venv: Venv; built: boolean }> {
  const env = opts.env ?? process.env;
  const onEvent = opts.onEvent ?? (() => {});
  onEvent({ kind: 'phase', phase: 'python', message: 'looking for Python >= 3.11' });
  const reqFileIn = opts.requirementsFile ?? REQUIREMENTS_FILE;
  const mode: VenvMode = opts.systemTorch ? 'system-torch' : 'pinned';
  const any = await locateVenv(env, reqFileIn);
  if (any.ready && any.marker && !opts.force) {
    onEvent({ kind: 'phase', phase: 'done', message: `venv ready at ${any.dir}` });
    return { venv: toVenv(any.dir, any.hash, any.marker), built: false };
  }
  const loc = await locateVenv(env, reqFileIn, mode);
  await mkdir(cacheRoot(env), { recursive: true });
  const { reqs } = await readRequirements(reqFileIn);
  const plan = await planInstall(reqs, opts, loc.python.executable, env, loc.python.version);
  return withLock(
    `${loc.dir}`,
    async () => {
      const again = await locateVenv(env, reqFileIn, mode);
      if (again.ready && again.marker && !opts.force) {
        return { venv: toVenv(again.dir, again.hash, again.marker), built: false };
      }
      const started = Date.now();
      const dir = loc.dir;
      try {
        await rm(dir, { recursive: true, force: true });
        onEvent({
          kind: 'phase',
          phase: 'create',
          message: `creating venv with Python ${loc.python.version} at ${dir}${plan.system ? ` on the packages of ${plan.system.python}` : ''}`,
        });
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
        if (plan.system) {
          // The existing Python's site-packages go after the venv's own (addsitedir also reads their .pth files),
          // so every pin installed here wins.
          // (A venv's --system-site-packages would reach only the base interpreter's, not a venv's such as /opt/torch/.venv.)
          const sites = await sitePaths(loc.python.executable);
          const own = await sitePaths(py);
          await writeFileAtomic(
            join(
              own[own.length - 1] ?? join(dir, 'lib', `python${loc.python.version.split('.').slice(0, 2).join('.')}`, 'site-packages'),
              'medtune-system.pth',
            ),
            `${sites.map((p) => `import site; site.addsitedir(${JSON.stringify(p)})`).join('\n')}\n`,
          );
          onEvent({
            kind: 'phase',
            phase: 'create',
            message: `reusing ${plan.system.reused.length} packages there; torch ${plan.system.torch.map((t) => `${t.name} ${t.version}`).join(', ')} checked against LLaMA-Factory 0.9.5's ranges`,
          });
        }
        const reqFile = join(dir, 'medtune-requirements.txt');
        await writeFileAtomic(reqFile, `${plan.withDeps.map((r) => r.line).join('\n')}\n`);
        const findLinks = opts.wheels
          ? ['--no-index', '--find-links', opts.wheels]
          : env.MEDTUNE_WHEELS
            ? ['--find-links', env.MEDTUNE_WHEELS]
            : [];
        for (const s of plan.skipped) onEvent({ kind: 'line', message: `skipping optional ${s}: no wheel in ${opts.wheels}` });
        if (plan.withDeps.length) {
          onEvent({
            kind: 'phase',
            phase: 'install',
            message: `installing ${plan.withDeps.length} pinned packages and their dependencies${opts.wheels ? ` from ${opts.wheels} (offline)` : ''}`,
          });
          await pip(py, ['install', ...findLinks, '-r', reqFile], onEvent, env, opts.wheels);
        }
        if (plan.noDeps.length) {
          onEvent({
            kind: 'phase',
            phase: 'install-nodeps',
            message: `installing ${plan.noDeps.map((r) => r.name).join(', ')} without its unused dependencies`,
          });
          await pip(py, ['install', '--no-deps', ...findLinks, ...plan.noDeps.map((r) => r.line)], onEvent, env, opts.wheels);
        }
        onEvent({ kind: 'phase', phase: 'verify', message: 'importing llamafactory.train.tuner (catches every import break seen so far)' });
        const verify = await execa(py, ['-c', 'import llamafactory.train.tuner'], {
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
        const packages = await listPackages(py, env);
        const marker: VenvMarker = {
          hash: loc.hash,
          python: loc.python.executable,
          pythonVersion: loc.python.version,
          createdAt: new Date().toISOString(),
          seconds: Math.round((Date.now() - started) / 1000),
          packages,
          mode,
          ...(plan.system ? { system: plan.system } : {}),
          ...(plan.skipped.length ? { skipped: plan.skipped } : {}),
          ...(opts.wheels ? { wheels: opts.wheels } : {}),
        };
        await writeJsonAtomic(join(dir, MARKER), marker);
        onEvent({ kind: 'phase', phase: 'done', message: `venv ready at ${dir} (${marker.seconds} s)` });
        return { venv: toVenv(dir, loc.hash, marker), built: true };
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    },
    { timeoutMs: 60 * 60_000 },
  );
}
