import { describe, expect, it } from 'vitest';
import { checkWheelFolder, parseDistFile, pipMissingPackage, planSystemInstall } from '../../src/core/install.js';
import { parseRequirements } from '../../src/core/requirements.js';

const REQS = parseRequirements(
  [
    'torch==2.14.1',
    'torchvision==0.29.1',
    'torchaudio==2.11.0',
    'transformers==5.5.4',
    'accelerate==1.11.0',
    'numpy==2.4.6',
    'pillow==13.0.0',
    'av==16.0.0  # medtune: optional',
    'zstandard==0.25.0  # medtune: optional (archives)',
    'llamafactory==0.9.5  # medtune: no-deps',
  ].join('\n'),
);

describe('parseRequirements markers', () => {
  it('reads optional and no-deps, alone or together', () => {
    const r = parseRequirements(
      'a==1  # medtune: optional\nb==2  # medtune: no-deps\nc==3  # medtune: no-deps optional\nd==4 # optional in prose',
    );
    expect(r.map((x) => [x.name, x.optional, x.noDeps])).toEqual([
      ['a', true, false],
      ['b', false, true],
      ['c', true, true],
      ['d', false, false],
    ]);
  });
});

describe('parseDistFile', () => {
  it.each([
    ['transformers-5.5.4-py3-none-any.whl', { name: 'transformers', version: '5.5.4', kind: 'wheel' }],
    [
      'tokenizers-0.22.2-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
      { name: 'tokenizers', version: '0.22.2', kind: 'wheel' },
    ],
    ['antlr4_python3_runtime-4.9.3-py3-none-any.whl', { name: 'antlr4-python3-runtime', version: '4.9.3', kind: 'wheel' }],
    ['/w/liger_kernel-0.8.5-py3-none-any.whl', { name: 'liger-kernel', version: '0.8.5', kind: 'wheel' }],
    ['rouge-chinese-1.0.3.tar.gz', { name: 'rouge-chinese', version: '1.0.3', kind: 'sdist' }],
    ['jieba-0.42.1.zip', { name: 'jieba', version: '0.42.1', kind: 'sdist' }],
    ['README.md', null],
    ['broken.whl', null],
  ])('%s', (file, want) => {
    expect(parseDistFile(file)).toEqual(want);
  });
});

describe('checkWheelFolder', () => {
  it('finds exact versions, names the missing required pins and skips missing optional ones', () => {
    const files = [
      'transformers-5.5.4-py3-none-any.whl',
      'accelerate-1.12.0-py3-none-any.whl',
      'numpy-2.4.6-cp311-cp311-manylinux_2_17_x86_64.whl',
      'Pillow-13.0.0-cp311-cp311-manylinux_2_28_x86_64.whl',
      'zstandard-0.25.0-cp311-cp311-manylinux_2_17_x86_64.whl',
      'notes.txt',
    ];
    const c = checkWheelFolder(REQS, files);
    expect(c.found.map((f) => f.req.name)).toEqual(['transformers', 'numpy', 'pillow', 'zstandard']);
    expect(c.missing.map((r) => r.name)).toEqual(['torch', 'torchvision', 'torchaudio', 'accelerate', 'llamafactory']);
    expect(c.skipped.map((r) => r.name)).toEqual(['av']);
  });

  it('an empty folder misses every required pin', () => {
    const c = checkWheelFolder(REQS, []);
    expect(c.found).toEqual([]);
    expect(c.missing).toHaveLength(8);
  });
});

describe('planSystemInstall', () => {
  const gpuBox = {
    torch: '2.11.0',
    torchvision: '0.26.0',
    torchaudio: '2.11.0',
    transformers: '5.17.0',
    accelerate: '1.11.0',
    numpy: '2.5.2',
    Pillow: '12.1.0',
  };

  it('reuses torch in range, pins in range and unranged packages at any version; installs the rest', () => {
    const p = planSystemInstall(REQS, gpuBox);
    expect(p.torch).toEqual([
      { name: 'torch', version: '2.11.0', range: '>=2.4.0', ok: true },
      { name: 'torchvision', version: '0.26.0', range: '>=0.19.0', ok: true },
      { name: 'torchaudio', version: '2.11.0', range: '>=2.4.0', ok: true },
    ]);
    expect(p.reused.map((r) => `${r.name} ${r.version}`)).toEqual(['accelerate 1.11.0', 'numpy 2.5.2', 'pillow 12.1.0']);
    // transformers 5.17 is outside LLaMA-Factory's <=5.6.0: the pin is installed over it.
    expect(p.install.map((r) => r.name)).toEqual(['transformers', 'av', 'zstandard', 'llamafactory']);
  });

  it('flags a torch outside the range or missing, and never plans to install it', () => {
    const p = planSystemInstall(REQS, { torch: '2.3.1', torchvision: '0.18.1' });
    expect(p.torch.map((t) => [t.name, t.ok])).toEqual([
      ['torch', false],
      ['torchvision', false],
      ['torchaudio', false],
    ]);
    expect(p.torch[2]!.version).toBeNull();
    expect(p.install.map((r) => r.name)).not.toContain('torch');
  });

  it('an accelerate above the range is installed, one inside it reused', () => {
    expect(planSystemInstall(REQS, { ...gpuBox, accelerate: '1.15.0' }).install.map((r) => r.name)).toContain('accelerate');
    expect(planSystemInstall(REQS, { ...gpuBox, accelerate: '1.3.0' }).reused.map((r) => r.name)).toContain('accelerate');
  });
});

describe('pipMissingPackage', () => {
  it('reads the package an offline pip could not find', () => {
    expect(
      pipMissingPackage([
        'Looking in links: /w',
        'ERROR: Could not find a version that satisfies the requirement defusedxml (from nltk) (from versions: none)',
        'ERROR: No matching distribution found for defusedxml',
      ]),
    ).toBe('defusedxml');
    expect(pipMissingPackage(['ERROR: No matching distribution found for regex>=2025.10.22'])).toBe('regex>=2025.10.22');
    expect(pipMissingPackage(['ERROR: THESE PACKAGES DO NOT MATCH THE HASHES'])).toBeNull();
  });
});
