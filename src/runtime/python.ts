/** Finding a usable Python (>= 3.11 with venv) on this machine. */
import { execa } from 'execa';
import { MedtuneError } from '../core/errors.js';
import { compareVersions } from '../core/version.js';

export interface PythonInfo {
  executable: string;
  version: string;
}

export const MIN_PYTHON = '3.11';

const PROBE = 'import sys, venv, ensurepip; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3])';

export async function probePython(cmd: string): Promise<PythonInfo | { error: string }> {
  try {
    const r = await execa(cmd, ['-c', PROBE], { timeout: 20_000, reject: false });
    if (r.exitCode !== 0) {
      const err = String(r.stderr);
      if (/ensurepip|venv/.test(err)) return { error: `${cmd} lacks the venv module (${err.trim().split('\n').pop()})` };
      return { error: `${cmd} failed: ${err.trim().split('\n').pop() ?? `exit ${r.exitCode}`}` };
    }
    const [executable, version] = String(r.stdout).trim().split('\n');
    return { executable: executable!.trim(), version: version!.trim() };
  } catch (err) {
    return { error: `${cmd}: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Candidates in order: $MEDTUNE_PYTHON, then the newest python3.x on PATH, then python3. */
export async function findPython(env: NodeJS.ProcessEnv = process.env): Promise<PythonInfo> {
  const candidates = env.MEDTUNE_PYTHON ? [env.MEDTUNE_PYTHON] : ['python3.13', 'python3.12', 'python3.11', 'python3'];
  const problems: string[] = [];
  for (const c of candidates) {
    const info = await probePython(c);
    if ('error' in info) {
      if (!/ENOENT|not found/.test(info.error)) problems.push(info.error);
      continue;
    }
    if (compareVersions(info.version, MIN_PYTHON) < 0) {
      problems.push(`${c} is Python ${info.version}, older than ${MIN_PYTHON}`);
      continue;
    }
    return info;
  }
  throw new MedtuneError({
    doing: 'looking for Python',
    problem: `no Python >= ${MIN_PYTHON} with the venv module was found`,
    details: problems,
    next: `install Python ${MIN_PYTHON}+ (Debian/Ubuntu: apt-get install python3 python3-venv), or point MEDTUNE_PYTHON at one`,
    code: 'PYTHON_MISSING',
  });
}
