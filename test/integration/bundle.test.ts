/**
 * `npm run bundle`: the one-file medtune that travels to GPU machines without node_modules. The bundle is written
 * to a temporary folder with no node_modules above it, and run from there with a cache that has no venv.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { lastJson } from './harness.js';

let dir = '';
let out = '';
const env = () => ({ MEDTUNE_CACHE: join(dir, 'cache'), CI: '1' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medtune-bundle-'));
  out = join(dir, 'medtune');
  await execa(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'bundle.mjs'), '--out', out], { timeout: 5 * 60_000 });
}, 6 * 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('bundle', () => {
  it('holds the two entries and the folders the CLI reads, and no node_modules', () => {
    for (const p of [
      'dist/cli/main.js',
      'dist/runtime/supervisor-main.js',
      'bin/medtune.js',
      'package.json',
      'python/requirements.txt',
      'python/medtune_py',
      'templates/profiles.yaml',
    ]) {
      expect(existsSync(join(out, p)), p).toBe(true);
    }
    expect(existsSync(join(out, 'node_modules'))).toBe(false);
  });

  it('starts: --version through the launcher and the entry itself', async () => {
    const pkg = (await import(join(PACKAGE_ROOT, 'package.json'), { with: { type: 'json' } })).default as { version: string };
    for (const entry of ['bin/medtune.js', 'dist/cli/main.js']) {
      const r = await execa(process.execPath, [join(out, entry), '--version'], { reject: false, env: env(), timeout: 60_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  }, 120_000);

  it('doctor --json runs every check and names the missing venv', async () => {
    const r = await execa(process.execPath, [join(out, 'bin', 'medtune.js'), 'doctor', '--json'], {
      reject: false,
      env: env(),
      timeout: 120_000,
    });
    const report = lastJson<{
      ok: boolean;
      checks: { name: string; level: string; fix?: string }[];
      venv: { dir: string; ready: boolean };
    }>(r.stdout);
    expect(report.venv.ready).toBe(false);
    expect(report.venv.dir.startsWith(join(dir, 'cache'))).toBe(true);
    const venv = report.checks.find((c) => c.name === 'venv');
    expect(venv?.level).toBe('fail');
    expect(venv?.fix).toMatch(/medtune setup/);
    expect(report.checks.map((c) => c.name)).toContain('python');
  }, 150_000);

  it('lists every command of the package in --help', async () => {
    const r = await execa(process.execPath, [join(out, 'bin', 'medtune.js'), '--help'], { reject: false, env: env(), timeout: 60_000 });
    expect(r.exitCode).toBe(0);
    for (const cmd of ['setup', 'doctor', 'train', 'attach', 'stop', 'resume', 'export', 'eval', 'compare', 'gpu']) {
      expect(r.stdout, cmd).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    }
  }, 60_000);
});
