import { describe, expect, it } from 'vitest';
import { compareVersions, satisfies } from '../../src/core/version.js';
import { parseRequirements, requirementsHash, pinnedVersion } from '../../src/core/requirements.js';
import { checkPackageRanges, parseLlamafactoryEnv, diskCheck, worstLevel } from '../../src/core/doctor.js';
import { parseHelperLine, LineSplitter } from '../../src/core/protocol.js';
import { formatDuration, formatBytes, progressBar } from '../../src/core/format.js';
import { MedtuneError, formatError } from '../../src/core/errors.js';
import { classifyPipLine } from '../../src/runtime/venv.js';

describe('versions', () => {
  it.each([
    ['5.5.4', '5.6.0', -1],
    ['5.6.0', '5.6.0', 0],
    ['2.14.1+cu130', '2.14.1', 0],
    ['0.10', '0.9.5', 1],
    ['1.11.0', '1.11', 0],
  ])('compare %s vs %s', (a, b, want) => expect(compareVersions(a, b)).toBe(want));

  it.each([
    ['5.5.4', '>=4.55.0,<=5.6.0,!=4.52.0,!=4.57.0', true],
    ['5.17.0', '>=4.55.0,<=5.6.0', false],
    ['4.57.0', '>=4.55.0,<=5.6.0,!=4.57.0', false],
    ['0.25.0', '>=0.18.0,<=0.24.0', false],
    ['2.9.1', '==2.9.*', true],
    ['2.10.0', '==2.9.*', false],
    ['1.4.2', '~=1.4', true],
    ['2.0', '~=1.4', false],
    ['1.0', 'garbage', false],
  ])('%s satisfies %s: %s', (v, spec, want) => expect(satisfies(v, spec)).toBe(want));
});

describe('requirements', () => {
  const text = `# comment\ntorch==2.14.1\nTransformers == 5.5.4  # why\n\nllamafactory==0.9.5  # medtune: no-deps\n-r other.txt\nnumpy\n`;
  it('parses pins, names and no-deps markers', () => {
    const reqs = parseRequirements(text);
    expect(reqs.map((r) => [r.name, r.spec, r.noDeps])).toEqual([
      ['torch', '==2.14.1', false],
      ['transformers', '==5.5.4', false],
      ['llamafactory', '==0.9.5', true],
      ['numpy', '', false],
    ]);
    expect(pinnedVersion(reqs[0]!)).toBe('2.14.1');
    expect(pinnedVersion(reqs[3]!)).toBeNull();
  });
  it('hashes pins, not comments, and includes the python minor', () => {
    const h = requirementsHash(text, '3.11.7');
    expect(requirementsHash(text.replace('# comment', '# another'), '3.11.9')).toBe(h);
    expect(requirementsHash(text.replace('2.14.1', '2.9.1'), '3.11.7')).not.toBe(h);
    expect(requirementsHash(text, '3.12.1')).not.toBe(h);
  });
});

describe('doctor', () => {
  it('parses llamafactory-cli env output', () => {
    const env = parseLlamafactoryEnv(
      '\n- `llamafactory` version: 0.9.5\n- Platform: Linux-6.1\n- PyTorch version: 2.14.1+cu130 (GPU)\n- Default data directory: not detected\n',
    );
    expect(env).toMatchObject({
      'llamafactory version': '0.9.5',
      'PyTorch version': '2.14.1+cu130 (GPU)',
      'Default data directory': 'not detected',
    });
  });
  it('flags packages outside LLaMA-Factory ranges and missing ones, each with a fix', () => {
    const checks = checkPackageRanges({
      llamafactory: '0.9.5',
      transformers: '5.17.0',
      datasets: '4.0.0',
      Accelerate: '1.11.0',
      peft: '0.18.1',
      trl: '0.25.0',
      torch: '2.14.1',
      torchvision: '0.29.1',
      torchaudio: '2.11.0',
      torchdata: '0.11.0',
    });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName['package transformers']!.level).toBe('fail');
    expect(byName['package trl']!.level).toBe('fail');
    expect(byName['package accelerate']!.level).toBe('ok');
    expect(byName['package av']!.detail).toBe('not installed');
    expect(checks.filter((c) => c.level === 'fail').every((c) => c.fix)).toBe(true);
    expect(worstLevel(checks)).toBe('fail');
  });
  it.each([
    [100 * 2 ** 30, 'ok'],
    [5 * 2 ** 30, 'warn'],
    [0.5 * 2 ** 30, 'fail'],
  ])('disk check for %d bytes is %s', (free, level) => {
    expect(diskCheck('disk', '/x', free, 20 * 2 ** 30, 2 ** 30).level).toBe(level);
  });
});

describe('helper protocol', () => {
  it.each([
    ['{"event":"progress","phase":"convert","done":3,"total":10}', 'progress'],
    ['{"event":"result","kept":3}', 'result'],
    ['{"event":"error","code":"X","message":"bad"}', 'error'],
    ['plain text from a library', 'log'],
    ['{"event":"progress"}', 'log'],
  ])('%s is a %s event', (line, kind) => expect(parseHelperLine(line)?.event).toBe(kind));
  it('splits chunks into lines across boundaries', () => {
    const s = new LineSplitter();
    expect(s.push('a\nb')).toEqual(['a']);
    expect(s.push('c\r\nd')).toEqual(['bc']);
    expect(s.flush()).toEqual(['d']);
  });
});

describe('formatting and errors', () => {
  it.each([
    [5, '00:05'],
    [3725, '1:02:05'],
    [90000, '1d 1h00m'],
    [null, '--:--'],
  ])('duration %s', (s, want) => expect(formatDuration(s)).toBe(want));
  it('bytes and bars', () => {
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(progressBar(5, 10, 12)).toBe('[#####.....]');
    expect(progressBar(0, null, 12)).toHaveLength(12);
  });
  it('an error says what, why and what next', () => {
    const text = formatError(new MedtuneError({ doing: 'preparing data', problem: 'no such file', next: 'pass --source' }));
    expect(text).toContain('While preparing data: no such file');
    expect(text).toContain('→ pass --source');
  });
  it('classifies pip lines', () => {
    expect(classifyPipLine('Collecting torch==2.14.1')).toMatchObject({ kind: 'package', name: 'torch', action: 'collecting' });
    expect(classifyPipLine('Installing collected packages: a, b')).toMatchObject({ action: 'installing' });
  });
});
