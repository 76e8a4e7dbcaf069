/**
 * `--set` values are checked before anything else, with the real CLI: the key is named, what would be valid is
 * said, the exit status is non-zero and no run folder appears.
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import { DATASET, makeWorkspace, medtune, type TestWorkspace } from './harness.js';

describe('train --set checks (real CLI)', () => {
  let t: TestWorkspace;
  const runFolders = () =>
    existsSync(t.ws.runsDir) ? readdirSync(t.ws.runsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).length : 0;
  beforeAll(async () => {
    t = await makeWorkspace('options');
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it.each([
    ['lora_rank=0', /lora_rank must be a whole number at least 1/],
    ['num_train_epochs=abc', /num_train_epochs must be a number above 0/],
    ['cutoff_len=1000000', /cutoff_len 1000000 is beyond the model's \d+ positions/],
    ['lora_target=no_such_module', /lora_target names no_such_module, which the model does not have; use all, or some of .*q_proj/],
  ])(
    '%s --dry-run is refused before planning',
    async (set, message) => {
      const before = runFolders();
      for (const dryRun of [['--dry-run'], []]) {
        const r = await medtune(t.ws, ['train', '--model', t.modelDir, '--dataset', DATASET, '--profile', 'cpu', '--set', set, ...dryRun]);
        expect(r.exitCode).not.toBe(0);
        expect(r.all).toMatch(message);
        expect(r.all).not.toMatch(/NaN/);
      }
      expect(runFolders()).toBe(before);
    },
    120_000,
  );

  it(
    'a value only the model refuses fails once, with its cause printed and advice that works (no retry, no resume)',
    async () => {
      // qkv is a module of the tiny model (so medtune's check passes) but of its vision tower, which the template
      // freezes: PEFT refuses the LoRA config when the model is built.
      const before = new Set(existsSync(t.ws.runsDir) ? readdirSync(t.ws.runsDir) : []);
      const set = ['lora_target=qkv', 'max_samples=8', 'num_train_epochs=1'].flatMap((s) => ['--set', s]);
      const r = await medtune(t.ws, ['train', '--model', t.modelDir, '--dataset', DATASET, '--profile', 'cpu', ...set]);
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toMatch(/cause: The trainer stopped on a Python error: ValueError: /);
      expect(r.all).toContain('start a new run with `medtune train`');
      expect(r.all).not.toMatch(/medtune resume|automatic retry|attempt 2/);
      const id = readdirSync(t.ws.runsDir).find((d) => !before.has(d) && !d.startsWith('.'))!;
      const m = (await readManifest(`${t.ws.runsDir}/${id}`))!;
      expect(m.status).toBe('failed');
      expect(m.attempts).toHaveLength(1);
      expect(m.cause?.code).toBe('PYTHON_ERROR');
      const status = await medtune(t.ws, ['status', id]);
      expect(status.all).toContain('ValueError');
      expect(status.all).not.toMatch(/medtune resume/);
    },
    15 * 60_000,
  );
});
