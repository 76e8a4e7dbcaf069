/** The suite's own environment (test/setup-env.ts): nothing of the developer's medtune settings leaks in. */
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';

describe('the test environment', () => {
  it('holds no MEDTUNE_* variable but the venv location and the suite switch', () => {
    const left = Object.keys(process.env).filter((k) => k.startsWith('MEDTUNE_'));
    expect(
      left.filter((k) => !['MEDTUNE_CACHE', 'MEDTUNE_VENV', 'MEDTUNE_PYTHON', 'MEDTUNE_WHEELS', 'MEDTUNE_SKIP_VENV'].includes(k)),
    ).toEqual(['MEDTUNE_STATE_DIR']);
  });

  it('keeps server pointers in a folder of the test run', () => {
    expect(process.env.MEDTUNE_STATE_DIR?.startsWith(tmpdir())).toBe(true);
  });
});
