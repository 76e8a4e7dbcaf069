/** `medtune doctor`: every check a newcomer's first run depends on, each failure with its fix. */
import { statfs, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { checkPackageRanges, diskCheck, parseLlamafactoryEnv, type Check } from '../core/doctor.js';
import type { MedtuneError } from '../core/errors.js';
import { MIN_PYTHON, findPython } from './python.js';
import { locateVenv } from './venv.js';
import { buildToolsPresent, locateLlamaCpp, LLAMA_CPP_PIN } from './llamacpp.js';
import { llamaCppChecks } from '../core/gguf.js';
import { canonicalName } from '../core/requirements.js';
import { listGpus, type GpuInfo } from './gpu-monitor.js';
import { cacheRoot } from './paths.js';
import { helperEnv } from './pythonhelper.js';
import type { Workspace } from './workspace.js';

const GiB = 2 ** 30;

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
  python: string | null;
  venv: { dir: string; ready: boolean; hash: string; mode: 'pinned' | 'system-torch' | null } | null;
  llamafactoryEnv: Record<string, string> | null;
  packages: Record<string, string>;
  gpus: GpuInfo[];
  disk: { workspace: number | null; cache: number | null };
}

/** Free bytes of the filesystem holding `path` (or its nearest existing parent); null when it cannot be read. */
export async function freeBytes(path: string): Promise<number | null> {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    const s = await statfs(p);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export async function runDoctor(ws: Workspace, env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const checks: Check[] = [];
  const report: DoctorReport = {
    ok: false,
    checks,
    python: null,
    venv: null,
    llamafactoryEnv: null,
    packages: {},
    gpus: [],
    disk: { workspace: null, cache: null },
  };

  try {
    const py = await findPython(env);
    report.python = `${py.version} (${py.executable})`;
    checks.push({ name: 'python', level: 'ok', detail: report.python });
  } catch (err) {
    const e = err as MedtuneError;
    checks.push({ name: 'python', level: 'fail', detail: e.problem ?? String(err), fix: e.next ?? `install Python ${MIN_PYTHON}+` });
  }

  if (report.python) {
    const loc = await locateVenv(env);
    report.venv = { dir: loc.dir, ready: loc.ready, hash: loc.hash, mode: loc.marker?.mode ?? (loc.ready ? 'pinned' : null) };
    if (!loc.ready) {
      checks.push({ name: 'venv', level: 'fail', detail: `not built for the current pins (${loc.dir})`, fix: 'run `medtune setup`' });
    } else {
      checks.push({ name: 'venv', level: 'ok', detail: `${loc.dir} (pins ${loc.hash}, built ${loc.marker?.createdAt})` });
      const sys = loc.marker?.system;
      if (sys) {
        const bad = sys.torch.filter((t) => !t.ok);
        checks.push({
          name: 'system torch',
          level: bad.length ? 'fail' : 'ok',
          detail: `${sys.torch.map((t) => `${t.name} ${t.version ?? 'missing'} (${t.range})`).join(', ')} from ${sys.python}; ${sys.reused.length} packages reused, the other pins installed in the venv`,
          fix: bad.length ? 'run `medtune setup --force` (without --system-torch to install the pinned torch)' : undefined,
        });
      }
      const venvEnv = helperEnv({
        dir: loc.dir,
        bin: `${loc.dir}/bin`,
        python: `${loc.dir}/bin/python`,
        hash: loc.hash,
        marker: loc.marker!,
      });
      const lf = await execa(`${loc.dir}/bin/llamafactory-cli`, ['env'], {
        env: venvEnv,
        extendEnv: false,
        reject: false,
        timeout: 120_000,
      });
      if (lf.exitCode === 0) {
        report.llamafactoryEnv = parseLlamafactoryEnv(String(lf.stdout));
        const v = report.llamafactoryEnv['llamafactory version'];
        checks.push({
          name: 'llamafactory-cli env',
          level: v ? 'ok' : 'fail',
          detail: v ? `llamafactory ${v}, PyTorch ${report.llamafactoryEnv['PyTorch version'] ?? '?'}` : 'printed no version',
          fix: v ? undefined : 'run `medtune setup --force`',
        });
      } else {
        checks.push({
          name: 'llamafactory-cli env',
          level: 'fail',
          detail: String(lf.stderr).trim().split('\n').pop() ?? `exit ${lf.exitCode}`,
          fix: 'run `medtune setup --force` to rebuild the venv',
        });
      }
      // The first distribution of a name on sys.path is the one imported (a system-torch venv's own over the reused ones).
      const pkgs = await execa(
        `${loc.dir}/bin/python`,
        [
          '-c',
          'import json, importlib.metadata as m\nd = {}\nfor x in m.distributions():\n    d.setdefault(x.metadata["Name"], x.version)\nprint(json.dumps(d))',
        ],
        { reject: false },
      );
      if (pkgs.exitCode === 0) report.packages = JSON.parse(String(pkgs.stdout)) as Record<string, string>;
      checks.push(
        ...checkPackageRanges(report.packages, loc.marker?.skipped?.map((s) => canonicalName(s.replace(/[=<>!~].*$/, ''))) ?? []),
      );
    }
  }

  const gpu = await listGpus(env);
  report.gpus = gpu.gpus;
  checks.push(
    gpu.gpus.length
      ? { name: 'gpus', level: 'ok', detail: gpu.gpus.map((g) => `${g.index}: ${g.name} ${g.memoryTotalMiB ?? '?'} MiB`).join('; ') }
      : {
          name: 'gpus',
          level: 'warn',
          detail: `none (${gpu.reason ?? 'nvidia-smi listed no GPU'}): training runs on the CPU, fine for the demo only`,
          fix: 'for real runs use a machine with an NVIDIA GPU and its driver (nvidia-smi on PATH)',
        },
  );

  const llama = await locateLlamaCpp(env);
  const tools = llama.ready ? { cmake: null, cxx: null } : await buildToolsPresent(env);
  checks.push(
    ...llamaCppChecks({
      built: llama.ready ? `${LLAMA_CPP_PIN.package} ${LLAMA_CPP_PIN.version}'s llama.cpp, built ${llama.ready.marker.createdAt}` : null,
      dir: llama.dir,
      ...tools,
    }),
  );

  await mkdir(cacheRoot(env), { recursive: true }).catch(() => undefined);
  report.disk.workspace = await freeBytes(ws.root);
  report.disk.cache = await freeBytes(cacheRoot(env));
  if (report.disk.workspace !== null) checks.push(diskCheck('disk (workspace)', ws.root, report.disk.workspace, 20 * GiB, 1 * GiB));
  if (report.disk.cache !== null)
    checks.push(
      diskCheck(
        'disk (cache)',
        cacheRoot(env),
        report.disk.cache,
        report.venv?.ready ? 2 * GiB : 10 * GiB,
        report.venv?.ready ? 0.2 * GiB : 8 * GiB,
      ),
    );

  report.ok = !checks.some((c) => c.level === 'fail');
  return report;
}
