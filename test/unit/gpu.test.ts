import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  APPS_QUERY_FIELDS,
  GPU_QUERY_FIELDS,
  Ring,
  SampleAssembler,
  attributeProcesses,
  cellMask,
  cellNumber,
  cellValue,
  classifySmiFailure,
  cpuBusyPct,
  decodeClockEventReasons,
  droppedFields,
  filterSample,
  fixedSparkline,
  isThrottled,
  mapVisibleDevices,
  parseComputeApps,
  parseGpuRow,
  parseGpuRows,
  parseMeminfo,
  parseProcStatCpu,
  peakReservedGiB,
  spawnFailureReason,
  splitRow,
  toSnapshotJson,
  withoutField,
  type GpuReading,
} from '../../src/core/gpu.js';
import { parseTrainerLog } from '../../src/core/trainerlog.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'gpu');
const fixture = (path: string) => readFileSync(join(FIX, path), 'utf8');
const fieldsOf = (dir: string) => fixture(`${dir}/query-gpu.fields`).trim().split(',');

describe('recorded field lists', () => {
  it('are the ones the monitor asks for, so the fixtures replay its exact query', () => {
    expect(fieldsOf('h100x1')).toEqual([...GPU_QUERY_FIELDS]);
    expect(fieldsOf('h200x2')).toEqual([...GPU_QUERY_FIELDS]);
    expect(fixture('h100x1/query-compute-apps.fields').trim().split(',')).toEqual([...APPS_QUERY_FIELDS]);
  });
});

describe('cells', () => {
  it.each([
    ['42', '42'],
    [' P0 ', 'P0'],
    ['[N/A]', null],
    ['[Not Supported]', null],
    ['[Unknown Error]', null],
    ['[Insufficient Permissions]', null],
    ['[GPU is lost]', null],
    ['N/A', null],
    ['', null],
    [undefined, null],
  ])('cellValue(%j) = %j', (raw, want) => {
    expect(cellValue(raw)).toBe(want);
  });

  it.each([
    [' 699.95', 699.95],
    ['480 MiB', 480],
    ['-3', -3],
    ['[N/A]', null],
    ['Enabled', null],
  ])('cellNumber(%j) = %j', (raw, want) => {
    expect(cellNumber(raw)).toBe(want);
  });

  it.each([
    ['0x0000000000000004', 4],
    [' 0x0000000000000001', 1],
    ['0x00000000000000C4', 0xc4],
    ['[N/A]', null],
    ['4', null],
  ])('cellMask(%j) = %j', (raw, want) => {
    expect(cellMask(raw)).toBe(want);
  });

  it('splitRow keeps commas of the last column and leaves short rows short', () => {
    expect(splitRow('1, a, b, c', 2)).toEqual(['1', ' a, b, c']);
    expect(splitRow('1, a', 4)).toEqual(['1', ' a']);
  });
});

describe('parseGpuRow on recorded rows', () => {
  it('reads an H100 row under load by column position', () => {
    const line = fixture('h100x1/load-500ms.csv').split('\n')[3]!;
    expect(parseGpuRow(line, fieldsOf('h100x1'))).toEqual<GpuReading>({
      index: 0,
      uuid: 'GPU-9b525c44-bcf3-a243-edb4-7a88c27a3fa6',
      name: 'NVIDIA H100 80GB HBM3',
      timestamp: '2026/11/27 21:33:59.817',
      utilizationPct: 99,
      memoryUtilizationPct: 32,
      memoryUsedMiB: 3187,
      memoryReservedMiB: 480,
      memoryTotalMiB: 81559,
      temperatureC: 59,
      memoryTemperatureC: 52,
      powerW: 699.95,
      powerLimitW: 700,
      smClockMHz: 1425,
      memoryClockMHz: 2619,
      pstate: 'P0',
      fanPct: null,
      clockEventReasons: 4,
    });
  });

  it('handles the edited bad fields: unknown errors, short rows, garbage, a comma in the name', () => {
    const rows = fixture('edited-bad-fields.csv')
      .split('\n')
      .map((l) => parseGpuRow(l, [...GPU_QUERY_FIELDS]));
    expect(rows[0]).toMatchObject({ powerW: null, powerLimitW: 700 });
    expect(rows[1]).toMatchObject({ memoryReservedMiB: null, memoryTemperatureC: null, clockEventReasons: null, powerW: 699.95 });
    expect(rows[2]).toMatchObject({ powerW: 689.34, powerLimitW: null, name: null, pstate: null });
    expect(rows[3]).toBeNull();
    expect(rows[4]).toMatchObject({ name: 'NVIDIA H100, 80GB HBM3', clockEventReasons: 0xc4 });
    expect(rows[5]).toBeNull();
  });

  it('reads a reduced field list (a driver that rejected some fields)', () => {
    expect(parseGpuRow('3, 77, NVIDIA A100-SXM4-40GB', ['index', 'utilization.gpu', 'name'])).toMatchObject({
      index: 3,
      utilizationPct: 77,
      name: 'NVIDIA A100-SXM4-40GB',
      memoryReservedMiB: null,
    });
    expect(parseGpuRow('0, 0x0000000000000001', ['index', 'clocks_throttle_reasons.active'])?.clockEventReasons).toBe(1);
  });

  it('needs an index', () => {
    expect(parseGpuRow('[N/A], 5', ['index', 'utilization.gpu'])).toBeNull();
    expect(parseGpuRow('5', ['utilization.gpu'])).toBeNull();
  });
});

describe('grouping rows into samples', () => {
  it('one GPU: every row is a sample', () => {
    const samples = parseGpuRows(fixture('h100x1/idle-500ms.csv'), fieldsOf('h100x1'));
    expect(samples).toHaveLength(10);
    expect(samples.every((s) => s.gpus.length === 1)).toBe(true);
  });

  it('two GPUs: rows of one refresh (timestamps a few ms apart) form one sample', () => {
    const samples = parseGpuRows(fixture('h200x2/stream-1hz.csv'), fieldsOf('h200x2'));
    expect(samples).toHaveLength(60);
    expect(samples.every((s) => s.gpus.map((g) => g.index).join() === '0,1')).toBe(true);
    const loaded = samples.filter((s) => s.gpus.every((g) => (g.utilizationPct ?? 0) >= 99));
    expect(loaded.length).toBeGreaterThan(15);
    expect(new Set(loaded.map((s) => s.gpus.map((g) => g.memoryUsedMiB).join()))).toEqual(new Set(['3187,4211']));
  });

  it('the recorded refresh with GPU rows 91 ms apart is still one sample', () => {
    const lines = fixture('h200x2/stream-1hz.csv').split('\n');
    const at = lines.findIndex((l) => l.startsWith('2026/11/27 21:35:34.006'));
    expect(lines[at + 1]).toMatch(/^2026\/11\/27 21:35:34\.097, 1,/);
    const asm = new SampleAssembler();
    const fields = fieldsOf('h200x2');
    const out = lines.slice(at, at + 3).flatMap((l) => asm.push(parseGpuRow(l, fields)!));
    expect(out).toHaveLength(1);
    expect(out[0]!.gpus.map((g) => g.timestamp)).toEqual(['2026/11/27 21:35:34.006', '2026/11/27 21:35:34.097']);
  });

  it('completes a sample as soon as the known GPU count is reached', () => {
    const asm = new SampleAssembler(2, () => 7);
    const r = (index: number) => parseGpuRow(`${index}`, ['index'])!;
    expect(asm.push(r(0))).toEqual([]);
    expect(asm.push(r(1))).toEqual([{ receivedAt: 7, gpus: [r(0), r(1)] }]);
    expect(asm.flush()).toBeNull();
  });

  it('learns a new GPU count when a GPU drops out of the refresh', () => {
    const asm = new SampleAssembler(3);
    const r = (index: number) => parseGpuRow(`${index}`, ['index'])!;
    expect(asm.push(r(0))).toEqual([]);
    expect(asm.push(r(2))).toEqual([]);
    const done = asm.push(r(0));
    expect(done.map((s) => s.gpus.map((g) => g.index))).toEqual([[0, 2]]);
    expect(asm.push(r(2)).map((s) => s.gpus.map((g) => g.index))).toEqual([[0, 2]]);
  });
});

describe('clock event reasons', () => {
  it.each([
    [null, []],
    [0, []],
    [0x1, ['idle']],
    [0x4, ['power cap']],
    [0xc4, ['power cap', 'hardware thermal slowdown', 'power brake']],
    [0x28, ['hardware slowdown', 'thermal cap']],
    [0x200, ['other (0x200)']],
    [2 ** 40 + 1, ['idle', 'other (0x10000000000)']],
  ])('decode(%j) = %j', (mask, want) => {
    expect(decodeClockEventReasons(mask)).toEqual(want);
  });

  it.each([
    [null, false],
    [0x1, false],
    [0x2, false],
    [0x4, true],
    [0x40, true],
  ])('isThrottled(%j) = %j', (mask, want) => {
    expect(isThrottled(mask)).toBe(want);
  });

  it('recorded: idle H100 reports GpuIdle, the loaded one SwPowerCap', () => {
    const f = fieldsOf('h100x1');
    const idle = parseGpuRow(fixture('h100x1/idle-500ms.csv').split('\n')[0]!, f)!;
    const load = parseGpuRow(fixture('h100x1/load-500ms.csv').split('\n')[5]!, f)!;
    expect(decodeClockEventReasons(idle.clockEventReasons)).toEqual(['idle']);
    expect(decodeClockEventReasons(load.clockEventReasons)).toEqual(['power cap']);
  });
});

describe('mapVisibleDevices', () => {
  const gpus = [
    { index: 0, uuid: 'GPU-6c6d2b6e-9078-1312-0b80-87c682177c9e' },
    { index: 1, uuid: 'GPU-5513a10c-21a3-5c44-5fd2-4e7adcd12047' },
  ];
  const u0 = gpus[0]!.uuid;
  const u1 = gpus[1]!.uuid;
  it.each<[string | undefined, string[], string[]]>([
    [undefined, [u0, u1], []],
    ['', [], []],
    ['0', [u0], []],
    ['1,0', [u1, u0], []],
    [' 1 , 0 ', [u1, u0], []],
    ['GPU-5513a10c-21a3-5c44-5fd2-4e7adcd12047', [u1], []],
    ['gpu-5513A10C', [u1], []],
    ['GPU-', [], ['GPU-']],
    ['0,2,1', [u0], ['2', '1']],
    ['-1,0', [], ['-1', '0']],
    ['0,0', [u0], []],
    ['MIG-0b3c8c0c-1111-2222-3333-444444444444', [], ['MIG-0b3c8c0c-1111-2222-3333-444444444444']],
  ])('%j → %j (ignored %j)', (cvd, uuids, ignored) => {
    expect(mapVisibleDevices(cvd, gpus)).toEqual({ uuids, ignored });
  });

  it('skips GPUs whose UUID was not reported', () => {
    expect(mapVisibleDevices('0', [{ index: 0, uuid: null }])).toEqual({ uuids: [], ignored: ['0'] });
  });

  it('recorded: torch in the load process saw the UUID nvidia-smi reports for its CUDA_VISIBLE_DEVICES', () => {
    const sample = parseGpuRows(fixture('h200x2/oneshot-idle.csv'), fieldsOf('h200x2'))[0]!;
    for (const line of fixture('h200x2/load-procs.txt')
      .split('\n')
      .filter((l) => l.includes('torch_uuid'))) {
      const cvd = /cvd=(\S+)/.exec(line)![1]!;
      const torchUuid = /torch_uuid=(\S+)/.exec(line)![1]!;
      expect(mapVisibleDevices(cvd, sample.gpus).uuids).toEqual([`GPU-${torchUuid}`]);
    }
  });
});

describe('compute apps', () => {
  it('an idle GPU prints nothing: no processes', () => {
    expect(fixture('h100x1/apps-idle.csv')).toBe('');
    expect(parseComputeApps(fixture('h100x1/apps-idle.csv'))).toEqual([]);
  });

  it('reads the recorded processes of two GPUs', () => {
    expect(parseComputeApps(fixture('h200x2/apps-load-1.csv'))).toEqual([
      { pid: 703, name: 'python3', gpuUuid: 'GPU-6c6d2b6e-9078-1312-0b80-87c682177c9e', usedMemoryMiB: 3178 },
      { pid: 704, name: 'python3', gpuUuid: 'GPU-5513a10c-21a3-5c44-5fd2-4e7adcd12047', usedMemoryMiB: 4202 },
    ]);
  });

  it('handles [N/A] memory, a comma in the name, aliases and garbage', () => {
    const text = '12, GPU-a, [N/A], /opt/my,app/python\nnot a pid, GPU-a, 1, x\n';
    expect(parseComputeApps(text)).toEqual([{ pid: 12, name: '/opt/my,app/python', gpuUuid: 'GPU-a', usedMemoryMiB: null }]);
    expect(parseComputeApps('7, 100, python3', ['pid', 'used_gpu_memory', 'name'])).toEqual([
      { pid: 7, name: 'python3', gpuUuid: null, usedMemoryMiB: 100 },
    ]);
  });

  it.each<[string, number, string | undefined, number[], string]>([
    ['run process, same program', 703, 'python3', [703], 'run'],
    ['another local process', 703, 'python3', [], 'other'],
    ['pid not visible here (host pid in a container)', 703, undefined, [703], 'unknown'],
    ['pid visible but a different program (namespace clash)', 703, 'bash', [703], 'unknown'],
    ['full path in nvidia-smi, comm cut at 15 chars', 9, 'llamafactory-cl', [9], 'run'],
  ])('owner: %s', (_what, pid, comm, own, owner) => {
    const name = pid === 9 ? '/venv/bin/llamafactory-cli' : 'python3';
    const local = new Map<number, string>(comm === undefined ? [] : [[pid, comm]]);
    expect(attributeProcesses([{ pid, name, gpuUuid: null, usedMemoryMiB: 1 }], new Set(own), local)[0]!.owner).toBe(owner);
  });

  it.each<[string, string[], string]>([
    // Seen on the H200 (bench/results/gpu-e2e.md): nvidia-smi names the interpreter, comm is the console script.
    ['a console script: nvidia-smi names the interpreter, argv[0] agrees', ['llamafactory-cl', 'python'], 'run'],
    ['neither comm nor argv[0] agrees', ['bash', 'bash'], 'unknown'],
  ])('owner by comm or argv[0]: %s', (_what, names, owner) => {
    const procs = [{ pid: 1039, name: '/tmp/mt/cache/venv-df9a25b7a95e-system/bin/python', gpuUuid: null, usedMemoryMiB: 74918 }];
    expect(attributeProcesses(procs, new Set([1039]), new Map([[1039, names]]))[0]!.owner).toBe(owner);
  });

  it('recorded pids are the load processes’ own (no pid namespace on the VM)', () => {
    const procs = parseComputeApps(fixture('h100x1/apps-load-1.csv'));
    const own = /pid=(\d+)/.exec(fixture('h100x1/load-procs.txt'))![1];
    expect(procs.map((p) => String(p.pid))).toEqual([own]);
  });
});

describe('failures and field fallbacks', () => {
  it('reads the recorded invalid-field message', () => {
    const out = fixture('h100x1/invalid-field.out').replace(/rc=\d+\n$/, '');
    expect(classifySmiFailure(2, out, '')).toEqual({ kind: 'invalid-field', field: 'not.a.field' });
  });

  it.each([
    [
      9,
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n",
      '',
      "nvidia-smi: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    ],
    [6, 'No devices were found\n', '', 'nvidia-smi: No devices were found'],
    [null, '', '', 'nvidia-smi exited with code ? and said nothing'],
  ])('unavailable (exit %j)', (code, stdout, stderr, reason) => {
    expect(classifySmiFailure(code, stdout, stderr)).toEqual({ kind: 'unavailable', reason });
  });

  it.each([
    ['nvidia-smi', 'ENOENT', false, 'nvidia-smi not found on PATH'],
    ['/opt/smi', 'ENOENT', true, '/opt/smi not found (MEDTUNE_NVIDIA_SMI=/opt/smi)'],
    ['/opt/smi', 'EACCES', true, '/opt/smi is not executable (MEDTUNE_NVIDIA_SMI=/opt/smi)'],
  ])('spawnFailureReason(%s, %s)', (exe, code, fromEnv, want) => {
    expect(spawnFailureReason(exe, code, fromEnv)).toBe(want);
  });

  it('replaces a rejected field by its old name, or drops it; never drops the index', () => {
    const f = [...GPU_QUERY_FIELDS];
    const older = withoutField(f, 'clocks_event_reasons.active')!;
    expect(older).toContain('clocks_throttle_reasons.active');
    expect(older).toHaveLength(f.length);
    expect(withoutField(older, 'clocks_throttle_reasons.active')).not.toContain('clocks_throttle_reasons.active');
    expect(withoutField(f, 'memory.reserved')).not.toContain('memory.reserved');
    expect(withoutField(f, 'index')).toBeNull();
    expect(withoutField(f, 'not.ours')).toBeNull();
    expect(droppedFields(f, older)).toEqual([]);
    expect(droppedFields(f, withoutField(f, 'memory.reserved')!)).toEqual(['memory.reserved']);
  });
});

describe('snapshot JSON', () => {
  it('has every field of the contract, null where the GPU does not report it', () => {
    const sample = parseGpuRows(fixture('h200x2/load-500ms.csv'), fieldsOf('h200x2'))[5]!;
    const procs = attributeProcesses(parseComputeApps(fixture('h200x2/apps-load-1.csv')), new Set([703]), new Map([[703, 'python3']]));
    const json = toSnapshotJson(sample, procs);
    expect(json.gpus).toHaveLength(2);
    for (const g of json.gpus) {
      for (const k of [
        'index',
        'uuid',
        'name',
        'utilizationPct',
        'memoryUsedMiB',
        'memoryReservedMiB',
        'memoryTotalMiB',
        'temperatureC',
        'powerW',
        'powerLimitW',
        'smClockMHz',
      ]) {
        expect(g).toHaveProperty(k);
      }
      expect(g.fanPct).toBeNull();
      expect(g.memoryTotalMiB).toBe(143771);
    }
    expect(json.processes).toEqual([
      { pid: 703, name: 'python3', gpuUuid: 'GPU-6c6d2b6e-9078-1312-0b80-87c682177c9e', usedMemoryMiB: 3178, owner: 'run' },
      { pid: 704, name: 'python3', gpuUuid: 'GPU-5513a10c-21a3-5c44-5fd2-4e7adcd12047', usedMemoryMiB: 4202, owner: 'unknown' },
    ]);
    expect(toSnapshotJson(null, [])).toEqual({ gpus: [], processes: [] });
  });

  it('filterSample keeps the chosen GPUs', () => {
    const sample = parseGpuRows(fixture('h200x2/oneshot-idle.csv'), fieldsOf('h200x2'))[0]!;
    expect(filterSample(sample, new Set(['GPU-5513a10c-21a3-5c44-5fd2-4e7adcd12047'])).gpus.map((g) => g.index)).toEqual([1]);
    expect(filterSample(sample, null)).toBe(sample);
  });
});

describe('peakReservedGiB', () => {
  it.each<[{ vramReserved?: number }[], number | null]>([
    [[], null],
    [[{}], null],
    [[{ vramReserved: -0 }, { vramReserved: 0 }], null],
    [[{ vramReserved: 12.5 }, { vramReserved: 14.2 }, {}, { vramReserved: 14.1 }], 14.2],
  ])('%j → %j', (records, want) => {
    expect(peakReservedGiB(records)).toBe(want);
  });

  it('reads what the shared trainer_log.jsonl parser decodes', () => {
    const log =
      '{"current_steps": 1, "total_steps": 4, "loss": 2.1, "vram_allocated": 10.0, "vram_reserved": 12.5}\n{"current_steps": 2, "total_steps": 4, "loss": 2.0, "vram_allocated": 10.1, "vram_reserved": 14.2}\n';
    expect(peakReservedGiB(parseTrainerLog(log).raw)).toBe(14.2);
  });
});

describe('helpers', () => {
  it('Ring keeps the newest items', () => {
    const r = new Ring<number>(3);
    for (const n of [1, 2, 3, 4, 5]) r.push(n);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect(r.size).toBe(3);
  });

  it.each<[(number | null)[], number, number, string]>([
    [[], 4, 100, '    '],
    [[0, 50, 100], 3, 100, '▁▅█'],
    [[0, 50, 100], 5, 100, '  ▁▅█'],
    [[100, null, 250], 3, 100, '█ █'],
    [[1, 2, 3, 4], 2, 4, '▆█'],
  ])('fixedSparkline(%j, %i, %i) = %j', (values, width, max, want) => {
    expect(fixedSparkline(values, width, max)).toBe(want);
  });

  it('reads /proc/stat and /proc/meminfo', () => {
    const a = parseProcStatCpu('cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n')!;
    const b = parseProcStatCpu('cpu  200 0 200 1300 200 0 0 0 0 0\n')!;
    expect(a).toEqual({ idle: 800, total: 1000 });
    expect(cpuBusyPct(null, a)).toBeNull();
    expect(cpuBusyPct(a, b)).toBeCloseTo(100 * (1 - 700 / 900));
    expect(cpuBusyPct(a, a)).toBeNull();
    expect(parseProcStatCpu('intr 1 2')).toBeNull();
    expect(parseMeminfo('MemTotal:       2048 kB\nMemFree:  10 kB\nMemAvailable:   1024 kB\n')).toEqual({ usedMiB: 1, totalMiB: 2 });
    expect(parseMeminfo('MemTotal: 2048 kB\nMemFree: 1024 kB\n')).toEqual({ usedMiB: 1, totalMiB: 2 });
    expect(parseMeminfo('nothing')).toBeNull();
  });
});
