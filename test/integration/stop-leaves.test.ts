/**
 * A graceful stop before the first checkpoint, with the real llamafactory-cli on the tiny model: `stop` says what
 * it left (the adapter LLaMA-Factory saved at the stop, no checkpoint) and names the command that really
 * continues; `resume` refuses and names the same; `train --from` starts a new run from that adapter.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import { DATASET, lastJson, makeWorkspace, medtune, strayProcesses, waitUntil, type TestWorkspace } from './harness.js';

const TRAIN = ['train', '--dataset', DATASET, '--eval-dataset', 'none', '--profile', 'cpu'];
const sets = (...kv: string[]) => kv.flatMap((s) => ['--set', s]);

describe('stop before the first checkpoint', () => {
  let t: TestWorkspace;
  beforeAll(async () => {
    t = await makeWorkspace('stop-leaves');
  });
  afterAll(async () => {
    for (const pid of strayProcesses(t.ws)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await t.cleanup();
  });

  it('says what it leaves, and `train --from` continues from the saved adapter', async () => {
    const started = await medtune(t.ws, [
      ...TRAIN,
      '--model',
      t.modelDir,
      ...sets('max_steps=200', 'save_steps=500', 'logging_steps=1'),
      '--detach',
      '--json',
    ]);
    const id = lastJson<{ id: string }>(started.stdout).id;
    const step = async () => lastJson<{ step: number }>((await medtune(t.ws, ['status', id, '--json'])).stdout).step;
    await waitUntil(async () => (await step()) >= 3, 600_000, 'step 3');

    const stop = await medtune(t.ws, ['stop', id]);
    expect(stop.exitCode, stop.all).toBe(0);
    expect(stop.all).toContain(`adapter saved: ${join(t.ws.runsDir, id, 'output')}`);
    expect(stop.all).toContain('no checkpoint to resume from');
    // The command works from where the test stands: medtune adds the -w it needs.
    expect(stop.all).toContain(`continue with:  medtune -w ${t.ws.root} train --from ${id}`);
    expect(stop.all).not.toMatch(/medtune resume/);

    const resume = await medtune(t.ws, ['resume', id]);
    expect(resume.exitCode).not.toBe(0);
    expect(resume.all).toMatch(new RegExp(`medtune (-w \\S+ )?train --from ${id}`));

    const next = await medtune(t.ws, [...TRAIN, '--from', id, '--name', 'continued', ...sets('max_steps=2'), '--json']);
    expect(next.exitCode, next.all).toBe(0);
    const r = lastJson<{ id: string; status: string }>(next.stdout);
    expect(r.status).toBe('completed');
    const m = (await readManifest(join(t.ws.runsDir, r.id)))!;
    expect(m.model).toBe(t.modelDir);
    const yaml = readFileSync(m.trainYaml, 'utf8');
    expect(yaml).toContain(`adapter_name_or_path: ${join(t.ws.runsDir, id, 'output')}`);
    // LLaMA-Factory loaded the adapter and trained it further (not a fresh LoRA).
    expect(
      readFileSync(join(t.ws.runsDir, r.id, 'stderr.log'), 'utf8') + readFileSync(join(t.ws.runsDir, r.id, 'stdout.log'), 'utf8'),
    ).toMatch(/Loaded adapter\(s\): .*output/);
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 1_500_000);
});
