/**
 * Pure planning of `medtune setup` for offline wheel folders (`--wheels DIR`) and for venvs built on a Python
 * that already has a CUDA torch (`--system-torch`): which pins a wheel folder lacks, and which pins the existing
 * packages already satisfy.
 */
import { canonicalName, pinnedVersion, type Requirement } from './requirements.js';
import { LLAMAFACTORY_RANGES } from './doctor.js';
import { satisfies } from './version.js';

/** The packages a `--system-torch` venv must take from the existing Python: never installed by medtune there. */
export const SYSTEM_TORCH_PACKAGES = ['torch', 'torchvision', 'torchaudio'] as const;

export interface DistFile {
  name: string;
  version: string;
  kind: 'wheel' | 'sdist';
}

/** Name and version of a wheel (`name-ver-py-abi-plat.whl`) or sdist (`name-ver.tar.gz|.zip`) file name; null otherwise. */
export function parseDistFile(file: string): DistFile | null {
  const base = file.split('/').pop()!;
  if (base.endsWith('.whl')) {
    const parts = base.slice(0, -4).split('-');
    if (parts.length < 5) return null;
    return { name: canonicalName(parts[0]!), version: parts[1]!, kind: 'wheel' };
  }
  const m = /^(.+)-([0-9][^-]*)\.(tar\.gz|zip)$/.exec(base);
  return m ? { name: canonicalName(m[1]!), version: m[2]!, kind: 'sdist' } : null;
}

/** Normalises a version for comparison of file names with pins (case, a leading v, local labels kept). */
function normVersion(v: string): string {
  return v.trim().toLowerCase().replace(/^v/, '');
}

export interface WheelCheck {
  /** Pins with a file in the folder. */
  found: { req: Requirement; file: string }[];
  /** Required pins with no file: setup cannot proceed offline. */
  missing: Requirement[];
  /** Optional pins (`# medtune: optional`) with no file: skipped, with a warning. */
  skipped: Requirement[];
}

/** Matches `==` pins (and unpinned names, any version) against the files of a wheel folder. */
export function checkWheelFolder(reqs: Requirement[], files: string[]): WheelCheck {
  const dists = files.map((f) => ({ f, d: parseDistFile(f) })).filter((x): x is { f: string; d: DistFile } => x.d !== null);
  const out: WheelCheck = { found: [], missing: [], skipped: [] };
  for (const req of reqs) {
    const pin = pinnedVersion(req);
    const hit = dists.find(
      ({ d }) =>
        d.name === req.name &&
        (pin === null || normVersion(d.version) === normVersion(pin)) &&
        (d.kind === 'wheel' || !dists.some((o) => o.d.name === d.name && o.d.kind === 'wheel' && o.d.version === d.version)),
    );
    if (hit) out.found.push({ req, file: hit.f });
    else if (req.optional) out.skipped.push(req);
    else out.missing.push(req);
  }
  return out;
}

/** The command that fills a wheel folder with what it lacks, on a machine with network access. */
export function downloadHint(missing: Requirement[], dir: string, pythonVersion: string): string {
  const py = pythonVersion.split('.').slice(0, 2).join('');
  return `pip download --no-deps --only-binary=:all: --python-version ${py} --platform manylinux_2_17_x86_64 -d ${dir} ${missing.map((r) => r.line.replace(/\s+/g, '')).join(' ')}`;
}

export interface ReusedPackage {
  name: string;
  version: string;
  /** The pin it stands in for ("==5.5.4"), empty for the torch family, which medtune never installs there. */
  pin: string;
  /** LLaMA-Factory 0.9.5's range it was checked against, when it has one. */
  range?: string;
}

export interface TorchCheck {
  name: string;
  version: string | null;
  range: string;
  ok: boolean;
}

export interface SystemPlan {
  /** torch, torchvision, torchaudio of the existing Python against LLaMA-Factory's ranges. */
  torch: TorchCheck[];
  /** Pins the existing packages satisfy: the same version, or any version inside LLaMA-Factory's range where it has one. */
  reused: ReusedPackage[];
  /** Pins to install into the venv (they shadow the existing packages of the same name). */
  install: Requirement[];
}

/**
 * Plans a venv layered over an existing Python's packages. The torch family is checked, never installed.
 * A pin with a LLaMA-Factory range is reused when the existing version is inside that range, otherwise installed;
 * a pin without one (numpy, pillow, pyarrow, …) is reused at whatever version is there, since LLaMA-Factory
 * accepts any; pip still installs a different version if a package it installs needs one.
 */
export function planSystemInstall(reqs: Requirement[], installed: Record<string, string>): SystemPlan {
  const have: Record<string, string> = {};
  for (const [k, v] of Object.entries(installed)) have[canonicalName(k)] ??= v;
  const torch: TorchCheck[] = SYSTEM_TORCH_PACKAGES.map((name) => {
    const range = LLAMAFACTORY_RANGES[name]!;
    const version = have[name] ?? null;
    return { name, version, range, ok: version !== null && satisfies(version, range) };
  });
  const plan: SystemPlan = { torch, reused: [], install: [] };
  for (const req of reqs) {
    if ((SYSTEM_TORCH_PACKAGES as readonly string[]).includes(req.name)) continue;
    const version = have[req.name];
    const range = LLAMAFACTORY_RANGES[req.name];
    const pin = pinnedVersion(req);
    const ok = version !== undefined && (pin === version || (range ? satisfies(version, range) : true));
    if (ok) plan.reused.push({ name: req.name, version: version!, pin: req.spec, ...(range ? { range } : {}) });
    else plan.install.push(req);
  }
  return plan;
}

/** The package pip could not find in an offline folder, from its output lines (null when it failed otherwise). */
export function pipMissingPackage(lines: string[]): string | null {
  for (const line of lines) {
    const m =
      /No matching distribution found for ([^\s;]+)/.exec(line) ??
      /Could not find a version that satisfies the requirement ([^\s;(]+)/.exec(line);
    if (m) return m[1]!;
  }
  return null;
}
