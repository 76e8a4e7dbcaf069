/**
 * The Python helpers' own tests (python/tests: protocol, MedTrinity rows and images, sanitising, metrics), run by
 * pytest under the training venv's Python — the interpreter and packages the helpers run with.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { requireVenv } from '../../src/runtime/venv.js';

describe('python/tests under the venv', () => {
  it('pass, and there are tests to pass', async () => {
    const venv = await requireVenv();
    const r = await execa('node', [join(PACKAGE_ROOT, 'scripts', 'pytools.mjs'), 'test', venv.python, '-q'], {
      cwd: PACKAGE_ROOT,
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(0);
    const passed = /(\d+) passed/.exec(String(r.all));
    expect(Number(passed?.[1] ?? 0), r.all).toBeGreaterThan(0);
  }, 300_000);
});
