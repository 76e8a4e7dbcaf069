import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { chooseProfile, Profiles } from '../../src/core/trainconfig.js';
import { TEMPLATES_DIR } from '../../src/runtime/paths.js';

const profiles = Profiles.parse(parse(readFileSync(join(TEMPLATES_DIR, 'profiles.yaml'), 'utf8')));

describe('templates/profiles.yaml', () => {
  it('parses, and every GPU profile uses bf16 and auto tokenizing workers', () => {
    for (const [name, p] of Object.entries(profiles)) {
      if (p.vramGiB === 0) continue;
      expect(p.values.bf16, name).toBe(true);
      expect(p.values.preprocessing_num_workers, name).toBe('auto');
    }
  });

  it('the Liger profiles keep their memory down with expandable segments', () => {
    for (const [name, p] of Object.entries(profiles)) {
      if (p.values.enable_liger_kernel) expect(p.env?.PYTORCH_CUDA_ALLOC_CONF, name).toBe('expandable_segments:True');
    }
  });
});

describe('chooseProfile (`--profile auto` and the default) by the memory nvidia-smi reports', () => {
  it.each([
    ['no GPU', [], 'cpu'],
    ['a 12 GB card (smaller than every profile)', [12288], 'gpu-16g'],
    ['RTX 4080 16 GB', [16376], 'gpu-16g'],
    ['RTX 4090 24 GB', [24564], 'gpu-24g'],
    ['A100 40 GB', [40960], 'gpu-40g'],
    ['L40S 48 GB', [46068], 'gpu-40g'],
    ['H100 80 GB', [81559], 'gpu-80g'],
    ['H200 141 GB', [143771], 'gpu-140g'],
    ['a mixed host: the smallest card decides', [143771, 24564], 'gpu-24g'],
  ])('%s -> %s', (_what, mib, want) => {
    expect(
      chooseProfile(
        profiles,
        (mib as number[]).map((m) => m / 1024),
      ),
    ).toBe(want);
  });
});
