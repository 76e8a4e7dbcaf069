/**
 * One engine under two faces, for real (llamafactory-cli in the real venv, the tiny Qwen2-VL):
 * - a demo started through the TUI's code path (its WorkspaceSource, in a process that then exits, as the TUI
 *   does when a person quits) still completes its export, verification and learning check;
 * - `medtune eval` of that export finds the held-out split of the run it was merged from;
 * - the CLI and the TUI produce the same plan and YAML for the same choices, and the same defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import type { JobState } from '../../src/app/jobs.js';
import type { DemoResult } from '../../src/app/demo.js';
import { createRuntimeSource } from '../../src/ui/runtime-source.js';
import { lastJson, medtune, strayProcesses, waitUntil } from './harness.js';

// 0.5 epochs of the 192-row training split at the cpu profile's batch of 2: a short run that still exports.
const EPOCHS = 0.5;

/** The TUI's demo path (Home › d calls source.runDemo) in its own process, which exits once the run is up. */
const TUI_DEMO = `
const { createRuntimeSource } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist', 'ui', 'runtime-source.js'))});
const { workspaceAt } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist', 'runtime', 'workspace.js'))});
const source = createRuntimeSource(workspaceAt(process.argv[1]), { demo: { epochs: ${EPOCHS} } });
const r = await source.runDemo(() => {});
await source.close();
process.stdout.write(JSON.stringify(r) + '\\n');
process.exit(0);
`;

let ws: Workspace;
let launched: { runId: string; jobId: string };
let tuiExitedAt: number;
let job: JobState;

beforeAll(async () => {
  ws = workspaceAt(await mkdtemp(join(tmpdir(), 'medtune-app-')));
  const tui = await execa(process.execPath, ['--input-type=module', '-e', TUI_DEMO, ws.root], {
    reject: false,
    all: true,
    timeout: 15 * 60_000,
    env: { CI: '1' },
  });
  tuiExitedAt = Date.now();
  if (tui.exitCode !== 0) throw new Error(`the TUI's demo path failed:\n${tui.all}`);
  launched = JSON.parse(String(tui.stdout).trim().split('\n').pop()!) as { runId: string; jobId: string };
  const jobFile = join(ws.jobsDir, launched.jobId, 'job.json');
  await waitUntil(
    () => {
      const s = JSON.parse(readFileSync(jobFile, 'utf8')) as JobState;
      return ['completed', 'failed', 'stopped'].includes(s.status);
    },
    30 * 60_000,
    'the demo job to end',
  );
  job = JSON.parse(readFileSync(jobFile, 'utf8')) as JobState;
}, 45 * 60_000);

afterAll(async () => {
  if (ws) await rm(ws.root, { recursive: true, force: true });
});

describe('a demo started from the TUI', () => {
  it('completes export, verification and learning check after the TUI process is gone', () => {
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.runId).toBe(launched.runId);
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([
      ['data', 'done'],
      ['model', 'done'],
      ['train', 'done'],
      ['export', 'done'],
      ['learn', 'done'],
    ]);
    // The TUI had exited before the job merged the adapter.
    expect(Date.parse(job.steps.find((s) => s.name === 'export')!.startedAt!)).toBeGreaterThan(tuiExitedAt - 1_000);
    const result = job.result as unknown as DemoResult;
    expect(result.run.status).toBe('completed');
    const verify = JSON.parse(readFileSync(join(result.export!.dir, 'verify.json'), 'utf8')) as { ok: boolean };
    expect(verify.ok).toBe(true);
    expect(result.learningCheck!.samples).toBeGreaterThan(10);
    expect(typeof result.learningCheck!.tunedAccuracy).toBe('number');
    const manifest = JSON.parse(readFileSync(join(ws.jobsDir, launched.jobId, 'run.json'), 'utf8')) as { kind: string; status: string };
    expect(manifest).toMatchObject({ kind: 'job', status: 'completed' });
  });

  it('trained with the held-out split as its eval dataset (the policy both faces share)', () => {
    const yaml = readFileSync(join(ws.runsDir, launched.runId, 'train.yaml'), 'utf8');
    expect(yaml).toMatch(/^eval_dataset: medtrinity-sample_val$/m);
  });

  it('can be attached to after the fact, from the CLI', async () => {
    const r = await medtune(ws, ['attach', launched.jobId, '--json']);
    expect(r.exitCode, r.all).toBe(0);
    expect(lastJson<{ job: string; ok: boolean }>(String(r.stdout))).toMatchObject({ job: launched.jobId, ok: true });
  });
});

describe('eval of an export', () => {
  it(
    "finds the held-out split of the export's run, by name and by a path outside exports/",
    async () => {
      const name = (job.result as unknown as DemoResult).export!.name;
      const byName = await medtune(ws, ['eval', `export:${name}`, '-n', '4', '--max-new-tokens', '16', '--json'], { timeout: 10 * 60_000 });
      expect(byName.exitCode, byName.all?.slice(-3000)).toBe(0);
      expect(lastJson<{ dataset: string }>(String(byName.stdout)).dataset).toBe('medtrinity-sample_val');
      const copy = join(ws.root, 'elsewhere', name);
      await cp(join(ws.exportsDir, name), copy, { recursive: true });
      const byPath = await medtune(ws, ['eval', copy, '-n', '4', '--max-new-tokens', '16', '--json'], { timeout: 10 * 60_000 });
      expect(byPath.exitCode, byPath.all?.slice(-3000)).toBe(0);
      expect(lastJson<{ dataset: string }>(String(byPath.stdout)).dataset).toBe('medtrinity-sample_val');
    },
    25 * 60_000,
  );
});

describe('the two faces', () => {
  const normalise = (yaml: string, id: string) => yaml.split(id).join('<run>');

  it(
    'give the same plan and YAML for the same choices',
    async () => {
      const cli = await medtune(
        ws,
        [
          'train',
          '--dry-run',
          '--json',
          '-m',
          'tiny-qwen2-vl',
          '-d',
          'medtrinity-sample',
          '-p',
          'cpu',
          '--set',
          'num_train_epochs=1',
          '--set',
          'learning_rate=0.0002',
          '--set',
          'lora_rank=16',
        ],
        { timeout: 10 * 60_000 },
      );
      expect(cli.exitCode, cli.all?.slice(-3000)).toBe(0);
      const c = lastJson<{ id: string; yaml: string; totalSteps: number }>(String(cli.stdout));
      const source = createRuntimeSource(ws);
      try {
        const t = await source.planTrain(
          {
            model: 'tiny-qwen2-vl',
            datasets: [{ name: 'medtrinity-sample', weight: 1 }],
            profile: 'cpu',
            overrides: { num_train_epochs: 1, learning_rate: 0.0002, lora_rank: 16 },
          },
          () => {},
        );
        expect(t.ok, JSON.stringify(t.checks)).toBe(true);
        const tuiId = /for run (\S+) \(profile/.exec(t.yaml)![1]!;
        expect(normalise(t.yaml, tuiId)).toBe(normalise(c.yaml, c.id));
        expect(c.yaml).toMatch(/^eval_dataset: medtrinity-sample_val$/m);
        expect(t.checks.map((x) => x.name)).toContain('LLaMA-Factory');
      } finally {
        await source.close();
      }
    },
    20 * 60_000,
  );

  it(
    "start from the same defaults: medtune.yaml's, else this machine's profile",
    async () => {
      await writeFile(ws.config, 'datasets: [medtrinity-sample]\noverrides: [num_train_epochs=1]\n');
      const source = createRuntimeSource(ws);
      try {
        const d = await source.trainDefaults();
        expect(d.datasets).toEqual(['medtrinity-sample']);
        const cli = await medtune(ws, ['train', '--dry-run', '--json'], { timeout: 10 * 60_000 });
        expect(cli.exitCode, cli.all?.slice(-3000)).toBe(0);
        const c = lastJson<{ yaml: string }>(String(cli.stdout));
        expect(c.yaml).toContain(`profile ${d.profile})`);
        expect(c.yaml).toMatch(/^dataset: medtrinity-sample$/m);
        expect(c.yaml).toContain(`model_name_or_path: ${join(ws.modelsDir, d.model)}`);
      } finally {
        await source.close();
        await rm(ws.config, { force: true });
      }
    },
    20 * 60_000,
  );

  it('leave no process behind', async () => {
    await waitUntil(() => strayProcesses(ws).length === 0, 60_000, 'the last processes to exit').catch(() => undefined);
    expect(strayProcesses(ws)).toEqual([]);
    expect(existsSync(join(ws.jobsDir, launched.jobId, 'supervisor.log'))).toBe(true);
  });
});
