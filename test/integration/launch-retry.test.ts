/**
 * The supervisor's one retry of a launch failure that left nothing behind, with the real llamafactory-cli on the
 * tiny model. The failure is induced for real: a sitecustomize.py on the trainer's PYTHONPATH aborts the first
 * Python process that starts (as "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so" did on a GPU machine,
 * right after another run exited) and lets every later one through.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import { attemptSupervisorAlive } from '../../src/runtime/reconcile.js';
import { BIN, DATASET, lastJson, makeWorkspace, medtune, killStrayProcesses, waitUntil, type TestWorkspace } from './harness.js';

// Only the trainer (llamafactory-cli) crashes, not medtune's own Python helpers (the preflight check).
const CRASH_ONCE = `import os, sys
marker = os.environ.get("MEDTUNE_TEST_CRASH_ONCE")
trainer = b"llamafactory-cli" in open("/proc/self/cmdline", "rb").read()
if trainer and marker and not os.path.exists(marker):
    open(marker, "w").close()
    sys.stderr.write("Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so (induced by the test)\\n")
    sys.stderr.flush()
    os.abort()
`;

describe('supervisor: early launch failure', () => {
  let t: TestWorkspace;
  let site = '';
  beforeAll(async () => {
    t = await makeWorkspace('launch-retry');
    site = join(t.ws.root, 'crash-site');
    await mkdir(site, { recursive: true });
    await writeFile(join(site, 'sitecustomize.py'), CRASH_ONCE);
  });
  afterAll(async () => {
    killStrayProcesses(t.ws);
    await t.cleanup();
  });

  /** `medtune train` of the tiny model for 3 steps, its first launch crashed once by the test's sitecustomize. */
  const trainCrashingOnce = (marker: string, args: string[]) =>
    execa(
      process.execPath,
      [BIN, '-w', t.ws.root, 'train', '--model', t.modelDir, '--dataset', DATASET, '--profile', 'cpu', '--set', 'max_steps=3', ...args],
      { reject: false, all: true, timeout: 10 * 60_000, env: { CI: '1', PYTHONPATH: site, MEDTUNE_TEST_CRASH_ONCE: marker } },
    );

  /** `medtune train --detach` of the tiny model with the crashing sitecustomize; the run's folder once it has ended. */
  async function trainUntilEnded(name: string, marker: string, extra: string[] = []): Promise<string> {
    const r = await trainCrashingOnce(marker, [...extra, '--name', name, '--detach', '--json']);
    expect(r.exitCode, r.all).toBe(0);
    const dir = join(t.ws.runsDir, lastJson<{ id: string }>(r.stdout).id);
    // Ended: a terminal status and no supervisor left to start another attempt (between a failed attempt and its
    // retry, run.json says "failed" for a moment).
    await waitUntil(
      async () => {
        const m = await readManifest(dir);
        return !!m && ['completed', 'failed', 'stopped'].includes(m.status) && !attemptSupervisorAlive(m);
      },
      10 * 60_000,
      'the run to end',
    );
    return dir;
  }

  it(
    'retries once at once, records it in run.json, and the run completes',
    async () => {
      const marker = join(t.ws.root, 'crashed-once');
      const dir = await trainUntilEnded('retry', marker, ['--set', 'save_steps=100']);
      const m = (await readManifest(dir))!;
      expect(existsSync(marker)).toBe(true);
      const story = () =>
        `${readFileSync(join(dir, 'supervisor.log'), 'utf8')}\n${readFileSync(join(dir, 'stderr.log'), 'utf8').slice(-3000)}`;
      expect(m.status, story()).toBe('completed');
      expect(m.attempts).toHaveLength(2);
      const [first, second] = m.attempts;
      expect(first!.exitCode === null ? first!.signal : first!.exitCode).toBeTruthy();
      expect(first!.cause?.code).toBeDefined();
      expect(second!.launchRetry).toBe(true);
      expect(second!.exitCode).toBe(0);
      expect(readFileSync(join(dir, 'supervisor.log'), 'utf8')).toMatch(
        /failed [\d.]+ s after launch .* left nothing behind: retrying once/,
      );
      const attach = await medtune(t.ws, ['attach', m.id], { timeout: 120_000 });
      expect(attach.all).toMatch(/automatic retry: attempt 1 failed at launch and left nothing behind/);
    },
    15 * 60_000,
  );

  it(
    "an attached `train` follows the retry to the run's real end (not the first attempt's failure)",
    async () => {
      const marker = join(t.ws.root, 'crashed-once-attached');
      const r = await trainCrashingOnce(marker, ['--name', 'attached']);
      expect(existsSync(marker)).toBe(true);
      expect(r.all).toMatch(/attempt 2 started \(automatic retry: attempt 1 failed at launch and left nothing behind\)/);
      expect(r.all).toMatch(/✓ run \S+: completed/);
      expect(r.exitCode, r.all).toBe(0);
    },
    12 * 60_000,
  );

  it(
    'a run that fails the same way again is not retried a second time',
    async () => {
      const always = join(t.ws.root, 'crash-always');
      await writeFile(
        join(site, 'sitecustomize.py'),
        CRASH_ONCE.replace('if trainer and marker and not os.path.exists(marker):', 'if trainer and marker:'),
      );
      const dir = await trainUntilEnded('retry-twice', always);
      const m = (await readManifest(dir))!;
      expect(m.status).toBe('failed');
      expect(m.attempts).toHaveLength(2);
      expect(m.attempts[1]!.launchRetry).toBe(true);
      await writeFile(join(site, 'sitecustomize.py'), CRASH_ONCE);
    },
    12 * 60_000,
  );
});
