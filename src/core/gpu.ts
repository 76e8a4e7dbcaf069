/**
 * GPU telemetry from nvidia-smi, as pure functions: CSV rows to readings, rows of one refresh to one sample,
 * clock-event bitmasks to words, CUDA_VISIBLE_DEVICES to GPU UUIDs, compute apps to owned processes, and the
 * host CPU/RAM fallback. Facts behind the choices: nvidia-smi's documented query fields and the recordings in
 * test/fixtures/gpu/.
 */

/**
 * What the monitor asks `--query-gpu` for, in order. Columns are read by position (nvidia-smi renames some
 * headers, e.g. clocks.sm → clocks.current.sm); `name` goes last so a comma inside it cannot shift a column.
 */
export const GPU_QUERY_FIELDS = [
  'timestamp',
  'index',
  'uuid',
  'utilization.gpu',
  'utilization.memory',
  'memory.used',
  'memory.reserved',
  'memory.total',
  'temperature.gpu',
  'temperature.memory',
  'power.draw',
  'power.limit',
  'clocks.sm',
  'clocks.mem',
  'pstate',
  'fan.speed',
  'clocks_event_reasons.active',
  'name',
] as const;

/** What the monitor asks `--query-compute-apps` for; the process name last, for the same reason. */
export const APPS_QUERY_FIELDS = ['pid', 'gpu_uuid', 'used_memory', 'process_name'] as const;

/** Older drivers (before 535) know the clock-event bitmask only under its old name. */
export const FIELD_FALLBACKS: Readonly<Record<string, string>> = {
  'clocks_event_reasons.active': 'clocks_throttle_reasons.active',
};

/** Without an index no row can be placed in a sample, so this field is never dropped. */
export const REQUIRED_GPU_FIELDS: readonly string[] = ['index'];

export const CSV_FORMAT = '--format=csv,noheader,nounits';

/** One GPU at one refresh. A value the GPU does not report (`[N/A]`, `[Not Supported]`, …) is null. */
export interface GpuReading {
  index: number;
  uuid: string | null;
  name: string | null;
  /** nvidia-smi's own clock, "YYYY/MM/DD HH:MM:SS.mmm"; rows of one refresh differ by milliseconds. */
  timestamp: string | null;
  utilizationPct: number | null;
  memoryUtilizationPct: number | null;
  memoryUsedMiB: number | null;
  /** Driver and firmware reservation, reported apart from `used` by newer drivers (480–616 MiB on H100/H200). */
  memoryReservedMiB: number | null;
  memoryTotalMiB: number | null;
  temperatureC: number | null;
  memoryTemperatureC: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  smClockMHz: number | null;
  memoryClockMHz: number | null;
  pstate: string | null;
  fanPct: number | null;
  /** The clocks_event_reasons.active bitmask (see decodeClockEventReasons). */
  clockEventReasons: number | null;
}

/** The rows of one refresh: every GPU the query returned, in nvidia-smi's order. */
export interface GpuSample {
  /** When the sample was completed, ms since the epoch (medtune's clock). */
  receivedAt: number;
  gpus: GpuReading[];
}

type NumericKey = {
  [K in keyof GpuReading]: GpuReading[K] extends number | null ? (K extends 'index' | 'clockEventReasons' ? never : K) : never;
}[keyof GpuReading];

type FieldTarget =
  | { kind: 'number'; key: NumericKey }
  | { kind: 'text'; key: 'uuid' | 'name' | 'timestamp' | 'pstate' }
  | { kind: 'index' }
  | { kind: 'mask' };

const GPU_FIELD_TARGETS: Readonly<Record<string, FieldTarget>> = {
  timestamp: { kind: 'text', key: 'timestamp' },
  index: { kind: 'index' },
  uuid: { kind: 'text', key: 'uuid' },
  name: { kind: 'text', key: 'name' },
  gpu_name: { kind: 'text', key: 'name' },
  'utilization.gpu': { kind: 'number', key: 'utilizationPct' },
  'utilization.memory': { kind: 'number', key: 'memoryUtilizationPct' },
  'memory.used': { kind: 'number', key: 'memoryUsedMiB' },
  'memory.reserved': { kind: 'number', key: 'memoryReservedMiB' },
  'memory.total': { kind: 'number', key: 'memoryTotalMiB' },
  'temperature.gpu': { kind: 'number', key: 'temperatureC' },
  'temperature.memory': { kind: 'number', key: 'memoryTemperatureC' },
  'power.draw': { kind: 'number', key: 'powerW' },
  'power.limit': { kind: 'number', key: 'powerLimitW' },
  'clocks.sm': { kind: 'number', key: 'smClockMHz' },
  'clocks.current.sm': { kind: 'number', key: 'smClockMHz' },
  'clocks.mem': { kind: 'number', key: 'memoryClockMHz' },
  'clocks.current.memory': { kind: 'number', key: 'memoryClockMHz' },
  pstate: { kind: 'text', key: 'pstate' },
  'fan.speed': { kind: 'number', key: 'fanPct' },
  'clocks_event_reasons.active': { kind: 'mask' },
  'clocks_throttle_reasons.active': { kind: 'mask' },
};

/**
 * A CSV cell, or null for what the GPU did not report. nvidia-smi writes every such state as a bracketed
 * token ("[N/A]", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "[GPU is lost]"), and a
 * short row leaves cells undefined.
 */
export function cellValue(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const v = raw.trim();
  if (v === '' || v === 'N/A' || /^\[.*\]$/.test(v)) return null;
  return v;
}

/** A number from a cell; tolerates a unit suffix ("480 MiB") in case units were not turned off. */
export function cellNumber(raw: string | undefined): number | null {
  const v = cellValue(raw);
  if (v === null) return null;
  const m = /^-?\d+(?:\.\d+)?/.exec(v);
  return m ? Number(m[0]) : null;
}

/** The clock-event bitmask ("0x0000000000000004"); bits above 2^53 carry no defined reason, so a number will do. */
export function cellMask(raw: string | undefined): number | null {
  const v = cellValue(raw);
  if (v === null || !/^0x[0-9a-f]+$/i.test(v)) return null;
  return Number(BigInt(v));
}

/** Splits a CSV row into exactly `count` cells: extra commas belong to the last (free-text) column. */
export function splitRow(line: string, count: number): string[] {
  const parts = line.split(',');
  if (parts.length <= count) return parts;
  return [...parts.slice(0, count - 1), parts.slice(count - 1).join(',')];
}

function emptyReading(index: number): GpuReading {
  return {
    index,
    uuid: null,
    name: null,
    timestamp: null,
    utilizationPct: null,
    memoryUtilizationPct: null,
    memoryUsedMiB: null,
    memoryReservedMiB: null,
    memoryTotalMiB: null,
    temperatureC: null,
    memoryTemperatureC: null,
    powerW: null,
    powerLimitW: null,
    smClockMHz: null,
    memoryClockMHz: null,
    pstate: null,
    fanPct: null,
    clockEventReasons: null,
  };
}

/**
 * One `--query-gpu` row, read by the position of each field in `fields` (the list the query was made with).
 * Null when the row has no usable index (a blank or garbled line); fields medtune does not know are ignored.
 */
export function parseGpuRow(line: string, fields: readonly string[]): GpuReading | null {
  if (line.trim() === '') return null;
  const cells = splitRow(line, fields.length);
  const indexAt = fields.indexOf('index');
  const index = indexAt < 0 ? null : cellNumber(cells[indexAt]);
  if (index === null || !Number.isInteger(index)) return null;
  const r = emptyReading(index);
  fields.forEach((field, i) => {
    const target = GPU_FIELD_TARGETS[field];
    if (!target) return;
    switch (target.kind) {
      case 'number':
        r[target.key] = cellNumber(cells[i]);
        break;
      case 'text':
        r[target.key] = cellValue(cells[i]);
        break;
      case 'mask':
        r.clockEventReasons = cellMask(cells[i]);
        break;
      case 'index':
        break;
    }
  });
  return r;
}

/**
 * Groups streamed rows into samples. nvidia-smi prints every GPU once per refresh, each row with its own
 * timestamp (a few ms apart, up to ~90 ms seen while a process attached), so a refresh is recognised by its
 * indices: a repeated index starts a new sample. Once the GPU count is known, a group that reaches it is
 * complete at once instead of waiting a whole period for the next refresh's first row.
 */
export class SampleAssembler {
  private group: GpuReading[] = [];
  private expected: number | null;

  constructor(
    expectedGpus: number | null = null,
    private readonly now: () => number = Date.now,
  ) {
    this.expected = expectedGpus && expectedGpus > 0 ? expectedGpus : null;
  }

  /** Adds a row; returns the samples it completed (zero, one, or two when the count was wrong). */
  push(row: GpuReading): GpuSample[] {
    const done: GpuSample[] = [];
    if (this.group.some((g) => g.index === row.index)) {
      // The GPU count changed (a GPU fell off the bus or came back): learn it from the refresh just ended.
      this.expected = this.group.length;
      done.push(this.take());
    }
    this.group.push(row);
    if (this.expected !== null && this.group.length >= this.expected) done.push(this.take());
    return done;
  }

  /** The rows gathered so far as a sample (when the stream ends), or null if none. */
  flush(): GpuSample | null {
    return this.group.length ? this.take() : null;
  }

  private take(): GpuSample {
    const sample = { receivedAt: this.now(), gpus: this.group };
    this.group = [];
    return sample;
  }
}

/** All samples in a recorded or one-shot block of rows. */
export function parseGpuRows(text: string, fields: readonly string[], now: () => number = Date.now): GpuSample[] {
  const asm = new SampleAssembler(null, now);
  const out: GpuSample[] = [];
  for (const line of text.split('\n')) {
    const row = parseGpuRow(line, fields);
    if (row) out.push(...asm.push(row));
  }
  const last = asm.flush();
  if (last) out.push(last);
  return out;
}

/** nvml.h's clock event reasons, in words a user can act on. */
export const CLOCK_EVENT_REASONS: readonly { bit: number; name: string; words: string }[] = [
  { bit: 0x1, name: 'gpu_idle', words: 'idle' },
  { bit: 0x2, name: 'applications_clocks_setting', words: 'application clocks setting' },
  { bit: 0x4, name: 'sw_power_cap', words: 'power cap' },
  { bit: 0x8, name: 'hw_slowdown', words: 'hardware slowdown' },
  { bit: 0x10, name: 'sync_boost', words: 'sync boost' },
  { bit: 0x20, name: 'sw_thermal_slowdown', words: 'thermal cap' },
  { bit: 0x40, name: 'hw_thermal_slowdown', words: 'hardware thermal slowdown' },
  { bit: 0x80, name: 'hw_power_brake_slowdown', words: 'power brake' },
  { bit: 0x100, name: 'display_clock_setting', words: 'display clock setting' },
];

/** The active reasons in words; an empty list means clocks run as high as they can. */
export function decodeClockEventReasons(mask: number | null): string[] {
  if (mask === null || mask === 0) return [];
  const known = CLOCK_EVENT_REASONS.filter((r) => (mask & r.bit) !== 0).map((r) => r.words);
  const knownBits = CLOCK_EVENT_REASONS.reduce((acc, r) => acc | r.bit, 0);
  // Bitwise operators truncate to 32 bits; reasons above bit 31 are not defined, subtraction keeps them visible.
  const rest = mask - (mask & knownBits);
  if (rest !== 0) known.push(`other (0x${rest.toString(16)})`);
  return known;
}

/** Reasons that mean the GPU is being held back (idle and setting-driven reasons are not). */
export function isThrottled(mask: number | null): boolean {
  return mask !== null && (mask & (0x4 | 0x8 | 0x20 | 0x40 | 0x80)) !== 0;
}

/** A GPU as CUDA_VISIBLE_DEVICES can name it. */
export interface GpuIdentity {
  index: number;
  uuid: string | null;
}

export interface VisibleDevices {
  /** UUIDs of the GPUs the run sees, in CUDA's order (cuda:0 first). */
  uuids: string[];
  /** Entries that matched no GPU, and everything after the first of them (CUDA stops reading there). */
  ignored: string[];
}

/**
 * Maps a run's CUDA_VISIBLE_DEVICES to nvidia-smi GPUs by UUID. Unset means every GPU; empty means none.
 * Entries are indices or (prefixes of) GPU UUIDs; CUDA stops at the first entry that names no device, and so
 * does this. Indices are taken in nvidia-smi's PCI-bus order, which is CUDA's with CUDA_DEVICE_ORDER=PCI_BUS_ID
 * (and, on hosts of identical GPUs, with CUDA's default order too). MIG instance UUIDs are not GPUs and stop
 * the list here: their parent GPU is not in this query.
 */
export function mapVisibleDevices(cvd: string | undefined, gpus: readonly GpuIdentity[]): VisibleDevices {
  const withUuid = gpus.filter((g): g is GpuIdentity & { uuid: string } => g.uuid !== null);
  if (cvd === undefined) return { uuids: withUuid.map((g) => g.uuid), ignored: [] };
  const entries = cvd.split(',').map((e) => e.trim());
  if (cvd.trim() === '') return { uuids: [], ignored: [] };
  const uuids: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const uuid = resolveDevice(entries[i]!, withUuid);
    if (uuid === null) return { uuids, ignored: entries.slice(i) };
    if (!uuids.includes(uuid)) uuids.push(uuid);
  }
  return { uuids, ignored: [] };
}

function resolveDevice(entry: string, gpus: readonly { index: number; uuid: string }[]): string | null {
  if (/^\d+$/.test(entry)) return gpus.find((g) => g.index === Number(entry))?.uuid ?? null;
  const want = entry.toLowerCase();
  if (!want.startsWith('gpu-')) return null;
  const matches = gpus.filter((g) => g.uuid.toLowerCase().startsWith(want));
  return matches.length === 1 ? matches[0]!.uuid : null;
}

/** One process with a compute context, as `--query-compute-apps` lists it. */
export interface GpuProcess {
  pid: number;
  name: string | null;
  gpuUuid: string | null;
  usedMemoryMiB: number | null;
}

/**
 * `--query-compute-apps` output. An idle GPU prints nothing at all (no header either), which is an empty list.
 * `name` and `used_gpu_memory` are nvidia-smi's aliases of `process_name` and `used_memory`.
 */
export function parseComputeApps(text: string, fields: readonly string[] = APPS_QUERY_FIELDS): GpuProcess[] {
  const at = (...names: string[]) => fields.findIndex((f) => names.includes(f));
  const pidAt = at('pid');
  const nameAt = at('process_name', 'name');
  const uuidAt = at('gpu_uuid');
  const memAt = at('used_memory', 'used_gpu_memory');
  const out: GpuProcess[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const cells = splitRow(line, fields.length);
    const pid = pidAt < 0 ? null : cellNumber(cells[pidAt]);
    if (pid === null || !Number.isInteger(pid)) continue;
    out.push({
      pid,
      name: nameAt < 0 ? null : cellValue(cells[nameAt]),
      gpuUuid: uuidAt < 0 ? null : cellValue(cells[uuidAt]),
      usedMemoryMiB: memAt < 0 ? null : cellNumber(cells[memAt]),
    });
  }
  return out;
}

/**
 * Whose process it is: the run's (in its process tree), another process of this host, or unknown — the
 * driver reports pids of the host's pid namespace, so inside a container a pid may be absent here or belong
 * to a different program.
 */
export type ProcessOwner = 'run' | 'other' | 'unknown';

export interface GpuProcessView extends GpuProcess {
  owner: ProcessOwner;
}

/** The command name the kernel keeps (/proc/<pid>/comm) is cut to 15 characters. */
function sameProgram(smiName: string | null, names: string | readonly string[]): boolean {
  if (smiName === null) return true;
  const base = smiName.split('/').pop() ?? smiName;
  return (typeof names === 'string' ? [names] : names).some((n) => base.slice(0, 15) === n.slice(0, 15));
}

/**
 * Marks each process's owner. `localComm` holds the names each pid that exists in this pid namespace goes by
 * (/proc/<pid>/comm, and the base name of argv[0]: a console script such as llamafactory-cli has its own name as
 * comm while nvidia-smi names the interpreter, e.g. /venv/bin/python; absent: not visible here). A pid counts as ours only if the program name agrees too, so a
 * host pid that happens to equal one of ours is not claimed.
 */
export function attributeProcesses(
  procs: readonly GpuProcess[],
  ownPids: ReadonlySet<number>,
  localComm: ReadonlyMap<number, string | readonly string[]>,
): GpuProcessView[] {
  return procs.map((p) => {
    const comm = localComm.get(p.pid);
    if (comm === undefined || !sameProgram(p.name, comm)) return { ...p, owner: 'unknown' as const };
    return { ...p, owner: ownPids.has(p.pid) ? ('run' as const) : ('other' as const) };
  });
}

/** What went wrong when nvidia-smi did not answer a query. */
export type SmiFailure = { kind: 'invalid-field'; field: string } | { kind: 'unavailable'; reason: string };

/**
 * Reads a failed query: an unknown field name fails the whole query (`Field "x" is not a valid field to
 * query.`, exit 2), anything else (no driver, no devices) means there is no GPU to watch, with nvidia-smi's
 * first line as the reason.
 */
export function classifySmiFailure(exitCode: number | null, stdout: string, stderr: string): SmiFailure {
  const text = `${stderr}\n${stdout}`;
  const m = /Field "([^"]+)" is not a valid field to query/.exec(text);
  if (m) return { kind: 'invalid-field', field: m[1]! };
  const first = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return {
    kind: 'unavailable',
    reason: first ? `nvidia-smi: ${first}` : `nvidia-smi exited with code ${exitCode ?? '?'} and said nothing`,
  };
}

/** Why nvidia-smi could not be started, in one line. */
export function spawnFailureReason(executable: string, errorCode: string | undefined, fromEnv: boolean): string {
  const where = fromEnv ? ` (MEDTUNE_NVIDIA_SMI=${executable})` : '';
  if (errorCode === 'ENOENT') return fromEnv ? `${executable} not found${where}` : `${executable} not found on PATH`;
  if (errorCode === 'EACCES') return `${executable} is not executable${where}`;
  return `${executable} could not be started${where}: ${errorCode ?? 'unknown error'}`;
}

/**
 * The query fields after nvidia-smi rejected one: its old name if it has one, else without it. Null when the
 * field is required or not ours (then retrying cannot help).
 */
export function withoutField(fields: readonly string[], bad: string): string[] | null {
  const at = fields.indexOf(bad);
  if (at < 0 || REQUIRED_GPU_FIELDS.includes(bad)) return null;
  const fallback = FIELD_FALLBACKS[bad];
  const next = [...fields];
  if (fallback && !fields.includes(fallback)) next[at] = fallback;
  else next.splice(at, 1);
  return next;
}

/** The fields of `wanted` that `used` does not carry (dropped for this driver), for the panel's footnote. */
export function droppedFields(wanted: readonly string[], used: readonly string[]): string[] {
  return wanted.filter((f) => !used.includes(f) && !(FIELD_FALLBACKS[f] && used.includes(FIELD_FALLBACKS[f])));
}

/** `medtune gpu --once --json`: one snapshot, every field present, null when not reported. */
export interface GpuSnapshotJson {
  gpus: Array<{
    index: number;
    uuid: string | null;
    name: string | null;
    utilizationPct: number | null;
    memoryUsedMiB: number | null;
    memoryReservedMiB: number | null;
    memoryTotalMiB: number | null;
    temperatureC: number | null;
    powerW: number | null;
    powerLimitW: number | null;
    smClockMHz: number | null;
    memoryUtilizationPct: number | null;
    memoryTemperatureC: number | null;
    memoryClockMHz: number | null;
    pstate: string | null;
    fanPct: number | null;
    clockEventReasons: string[];
    timestamp: string | null;
  }>;
  processes: Array<{ pid: number; name: string | null; gpuUuid: string | null; usedMemoryMiB: number | null; owner: ProcessOwner }>;
}

export function toSnapshotJson(sample: GpuSample | null, processes: readonly GpuProcessView[]): GpuSnapshotJson {
  return {
    gpus: (sample?.gpus ?? []).map((g) => ({
      index: g.index,
      uuid: g.uuid,
      name: g.name,
      utilizationPct: g.utilizationPct,
      memoryUsedMiB: g.memoryUsedMiB,
      memoryReservedMiB: g.memoryReservedMiB,
      memoryTotalMiB: g.memoryTotalMiB,
      temperatureC: g.temperatureC,
      powerW: g.powerW,
      powerLimitW: g.powerLimitW,
      smClockMHz: g.smClockMHz,
      memoryUtilizationPct: g.memoryUtilizationPct,
      memoryTemperatureC: g.memoryTemperatureC,
      memoryClockMHz: g.memoryClockMHz,
      pstate: g.pstate,
      fanPct: g.fanPct,
      clockEventReasons: decodeClockEventReasons(g.clockEventReasons),
      timestamp: g.timestamp,
    })),
    processes: processes.map((p) => ({ pid: p.pid, name: p.name, gpuUuid: p.gpuUuid, usedMemoryMiB: p.usedMemoryMiB, owner: p.owner })),
  };
}

/** Keeps the samples of chosen GPUs (by UUID), for a run that sees only some of the host's GPUs. */
export function filterSample(sample: GpuSample, uuids: ReadonlySet<string> | null): GpuSample {
  if (uuids === null) return sample;
  return { ...sample, gpus: sample.gpus.filter((g) => g.uuid !== null && uuids.has(g.uuid)) };
}

/**
 * The run's peak reserved GPU memory (GiB) from trainer_log.jsonl records, whose `vram_reserved` is a running
 * peak when RECORD_VRAM=1. Null when no record has a positive value (CPU runs write -0.0).
 */
export function peakReservedGiB(records: readonly { vramReserved?: number }[]): number | null {
  let peak: number | null = null;
  for (const r of records) {
    const v = r.vramReserved;
    if (v !== undefined && v > 0 && (peak === null || v > peak)) peak = v;
  }
  return peak;
}

/** A fixed-size history, oldest first. */
export class Ring<T> {
  private items: T[] = [];
  constructor(readonly capacity: number) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }

  toArray(): T[] {
    return this.items.slice();
  }

  get size(): number {
    return this.items.length;
  }
}

/** Sparklines live in chart.ts (one copy); the GPU panels use the fixed-scale kind. */
export { fixedSparkline } from './chart.js';

/** MiB as GiB with one decimal ("3.1"), or "?" when unknown. */
export function gib(mib: number | null): string {
  return mib === null ? '?' : (mib / 1024).toFixed(1);
}

/** Host CPU and RAM, for machines without an NVIDIA GPU. */
export interface HostSample {
  receivedAt: number;
  /** Busy share of all CPUs since the previous sample, 0..100; null for the first. */
  cpuPct: number | null;
  cpuCount: number;
  memUsedMiB: number;
  memTotalMiB: number;
  load1: number | null;
}

export interface CpuTimes {
  idle: number;
  total: number;
}

/** The aggregate "cpu" line of /proc/stat; iowait counts as idle. */
export function parseProcStatCpu(text: string): CpuTimes | null {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  if (v.length < 4 || v.some((n) => !Number.isFinite(n))) return null;
  // guest and guest_nice (fields 9 and 10) are already counted in user and nice.
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { idle: (v[3] ?? 0) + (v[4] ?? 0), total };
}

export function cpuBusyPct(prev: CpuTimes | null, cur: CpuTimes): number | null {
  if (!prev) return null;
  const dt = cur.total - prev.total;
  if (dt <= 0) return null;
  return Math.min(100, Math.max(0, (1 - (cur.idle - prev.idle) / dt) * 100));
}

/** MemTotal and MemAvailable (kB) from /proc/meminfo, as MiB used/total. */
export function parseMeminfo(text: string): { usedMiB: number; totalMiB: number } | null {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const total = kb('MemTotal');
  const avail = kb('MemAvailable') ?? kb('MemFree');
  if (total === null || avail === null) return null;
  return { usedMiB: (total - avail) / 1024, totalMiB: total / 1024 };
}
