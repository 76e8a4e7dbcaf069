/**
 * The backbone for real: the managed venv (built by the global setup), its idempotence, LLaMA-Factory importing
 * without DISABLE_VERSION_CHECK, `medtune doctor`, the Python helper runner, and a failed setup that leaves nothing.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MedtuneError } from '../../src/core/errors.js';
import { ResultEvent } from '../../src/core/protocol.js';
import { ensureVenv, requireVenv, type Venv } from '../../src/runtime/venv.js';
import { helperEnv, runHelper } from '../../src/runtime/pythonhelper.js';
import { workspaceAt } from '../../src/runtime/workspace.js';
import { lastJson, medtune } from './harness.js';

describe('managed venv, doctor and helper runner', () => {
  let venv: Venv;
  let tmp: string;
  beforeAll(async () => {
    venv = await requireVenv();
    tmp = await mkdtemp(join(tmpdir(), 'medtune-backbone-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('a second setup with unchanged pins reuses the venv', async () => {
    const { venv: again, built } = await ensureVenv();
    expect(built).toBe(false);
    expect(again.dir).toBe(venv.dir);
    const cli = await medtune(workspaceAt(tmp), ['setup', '--json']);
    expect(cli.exitCode, cli.all).toBe(0);
    expect(lastJson<{ built: boolean; dir: string }>(cli.stdout)).toMatchObject({ built: false, dir: venv.dir });
  });

  it('runs llamafactory-cli and imports the trainer without DISABLE_VERSION_CHECK', async () => {
    const env = { ...helperEnv(venv), DISABLE_VERSION_CHECK: '' };
    const version = await execa(join(venv.bin, 'llamafactory-cli'), ['version'], { env, extendEnv: false, reject: false });
    expect(version.stdout).toContain('version 0.9.5');
    const imp = await execa(venv.python, ['-c', 'import llamafactory.train.tuner, transformers; print(transformers.__version__)'], {
      env,
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect(imp.stdout.trim()).toBe('5.5.4');
  }, 180_000);

  it('doctor passes here and reports each pinned package against LLaMA-Factory ranges', async () => {
    const r = await medtune(workspaceAt(tmp), ['doctor', '--json']);
    expect(r.exitCode, r.all).toBe(0);
    const report = lastJson<{ ok: boolean; checks: Array<{ name: string; level: string }>; llamafactoryEnv: Record<string, string> }>(
      r.stdout,
    );
    expect(report.ok).toBe(true);
    expect(report.llamafactoryEnv['llamafactory version']).toBe('0.9.5');
    const names = report.checks.map((c) => c.name);
    for (const p of ['transformers', 'datasets', 'accelerate', 'peft', 'trl']) expect(names).toContain(`package ${p}`);
    expect(report.checks.find((c) => c.name === 'gpus')?.level).not.toBe('fail');
  }, 180_000);

  it('the helper runner turns a helper error event into a MedtuneError with its next step', async () => {
    const bad = join(tmp, 'bad.yaml');
    await writeFile(bad, 'stage: sft\nno_such_key: 1\n');
    const err = await runHelper('check_args', ['--mode', 'train', '--yaml', bad], ResultEvent, { venv, doing: 'checking a config' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MedtuneError);
    expect((err as MedtuneError).code).toBe('INVALID_ARGS');
    expect((err as MedtuneError).problem).toMatch(/LLaMA-Factory rejects the train config: \S+/);
    expect((err as MedtuneError).next).toBeTruthy();
  }, 120_000);

  it('a crashing helper fails with the tail of its stderr', async () => {
    const err = await runHelper('check_args', ['--mode', 'train'], ResultEvent, {
      venv,
      doing: 'checking a config',
      stderrFile: join(tmp, 'crash.log'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MedtuneError);
    expect((err as MedtuneError).details.join('\n')).toMatch(/--yaml/);
  }, 60_000);

  it('names an unknown command and suggests the near ones; `help X` shows X --help', async () => {
    const r = await medtune(workspaceAt(tmp), ['stats', '--json']);
    expect(r.exitCode).toBe(2);
    expect(lastJson<{ code: string; next: string }>(r.stdout)).toMatchObject({
      code: 'UNKNOWN_COMMAND',
      next: expect.stringContaining('status'),
    });
    const help = await medtune(workspaceAt(tmp), ['help', 'train']);
    expect(help.stdout).toContain('Usage: medtune train');
  });

  it('a failed setup leaves no half-built venv behind', async () => {
    const pins = join(tmp, 'requirements.txt');
    await writeFile(pins, 'medtune-no-such-package-zz==0.0.1\n');
    const dir = join(tmp, 'venv');
    const err = await ensureVenv({ requirementsFile: pins, env: { ...process.env, MEDTUNE_VENV: dir } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MedtuneError);
    expect((err as MedtuneError).code).toBe('PIP_FAILED');
    expect(existsSync(dir)).toBe(false);
  }, 300_000);
});
