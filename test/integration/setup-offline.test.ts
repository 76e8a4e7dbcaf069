/**
 * `medtune setup --wheels DIR` and `--system-torch` with the real pins, pip and Python. Each test uses its own
 * empty cache, so nothing touches the shared venv. The system-torch build layers over the suite's own venv (it has
 * torch and every pin), so it needs no wheel and no network, like an air-gapped GPU box whose stack already fits.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { BIN, lastJson } from './harness.js';

let dir = '';
let venv: Venv;
const run = (args: string[], env: Record<string, string>, timeout = 10 * 60_000) =>
  execa(process.execPath, [BIN, ...args], { reject: false, all: true, timeout, env: { CI: '1', ...env } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medtune-setup-offline-'));
  await mkdir(join(dir, 'wheels'));
  venv = await requireVenv();
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('setup --wheels', () => {
  it('names every missing pinned wheel before building anything, with the command that fetches them', async () => {
    const cache = join(dir, 'cache-missing');
    const r = await run(['setup', '--wheels', join(dir, 'wheels'), '--json'], { MEDTUNE_CACHE: cache });
    expect(r.exitCode).not.toBe(0);
    const err = lastJson<{ error: boolean; code: string; problem: string; next: string }>(r.stdout);
    expect(err.code).toBe('WHEEL_MISSING');
    for (const pin of ['torch==2.14.1', 'transformers==5.5.4', 'llamafactory==0.9.5', 'liger-kernel==0.8.5'])
      expect(err.problem).toContain(pin);
    // Optional pins are not demanded.
    expect(err.problem).not.toContain('av==');
    expect(err.next).toMatch(/pip download --no-deps --only-binary=:all: .* -d .*wheels .*transformers==5\.5\.4/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(cache) ? (await readdir(cache)).filter((f) => f.startsWith('venv-') && !f.endsWith('.lock')) : []).toEqual([]);
  }, 120_000);

  it('a wheel folder that does not exist is a clear error', async () => {
    const r = await run(['setup', '--wheels', join(dir, 'nowhere'), '--json'], { MEDTUNE_CACHE: join(dir, 'cache-nowhere') });
    expect(r.exitCode).not.toBe(0);
    expect(lastJson<{ code: string }>(r.stdout).code).toBe('WHEELS_DIR_MISSING');
  }, 120_000);
});

describe('setup --system-torch', () => {
  it('refuses a Python without torch, naming what is missing', async () => {
    const bare = await execa('python3', ['-c', 'import sys; print(sys.executable)'], { reject: false });
    const hasTorch = (await execa('python3', ['-c', 'import torch'], { reject: false })).exitCode === 0;
    if (hasTorch || bare.exitCode !== 0) return; // this machine's python3 has torch: the case cannot be built here
    const r = await run(['setup', '--system-torch', '--json'], { MEDTUNE_CACHE: join(dir, 'cache-bare'), MEDTUNE_PYTHON: 'python3' });
    expect(r.exitCode).not.toBe(0);
    const err = lastJson<{ code: string; problem: string }>(r.stdout);
    expect(err.code).toBe('SYSTEM_TORCH_UNSUITABLE');
    expect(err.problem).toMatch(/torch is not installed there/);
  }, 120_000);

  it(
    'builds offline on an existing torch, reusing what fits, and doctor shows the torch check',
    async () => {
      const cache = join(dir, 'cache-system');
      const env = { MEDTUNE_CACHE: cache, MEDTUNE_PYTHON: venv.python };
      const r = await run(['setup', '--system-torch', '--wheels', join(dir, 'wheels'), '--json'], env);
      expect(r.exitCode, r.all).toBe(0);
      const out = lastJson<{
        ok: boolean;
        built: boolean;
        mode: string;
        dir: string;
        torch: { name: string; ok: boolean }[];
        reused: number;
        skipped: string[];
      }>(r.stdout);
      expect(out.built).toBe(true);
      expect(out.mode).toBe('system-torch');
      expect(out.dir).toMatch(/-system$/);
      expect(out.torch.map((t) => [t.name, t.ok])).toEqual([
        ['torch', true],
        ['torchvision', true],
        ['torchaudio', true],
      ]);
      expect(out.reused).toBeGreaterThan(20);
      const doctor = await run(['-w', dir, 'doctor', '--json'], env, 5 * 60_000);
      const report = lastJson<{ venv: { mode: string; ready: boolean }; checks: { name: string; level: string; detail: string }[] }>(
        doctor.stdout,
      );
      expect(report.venv).toMatchObject({ ready: true, mode: 'system-torch' });
      const sys = report.checks.find((c) => c.name === 'system torch');
      expect(sys?.level).toBe('ok');
      expect(sys?.detail).toContain(venv.python);
      expect(report.checks.find((c) => c.name === 'package transformers')?.level).toBe('ok');
      // A second setup finds it and builds nothing.
      const again = await run(['setup', '--system-torch', '--json'], env);
      expect(lastJson<{ built: boolean }>(again.stdout).built).toBe(false);
    },
    10 * 60_000,
  );
});
