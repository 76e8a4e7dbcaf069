/**
 * The GPU monitor: one long-lived `nvidia-smi --query-gpu … -lms <ms>` child per monitor (a process per sample
 * would cost 20–30 ms each, and 1–3 s per GPU without persistence mode), a slower one-shot poll of
 * `--query-compute-apps`, and a CPU/RAM fallback where there is no NVIDIA GPU. MEDTUNE_NVIDIA_SMI names the
 * executable (default: nvidia-smi on PATH), so a replayer of recorded output can drive it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { createInterface } from 'node:readline';
import {
  APPS_QUERY_FIELDS,
  CSV_FORMAT,
  GPU_QUERY_FIELDS,
  Ring,
  SampleAssembler,
  attributeProcesses,
  classifySmiFailure,
  cpuBusyPct,
  droppedFields,
  filterSample,
  mapVisibleDevices,
  parseComputeApps,
  parseGpuRow,
  parseGpuRows,
  parseMeminfo,
  parseProcStatCpu,
  spawnFailureReason,
  withoutField,
  type CpuTimes,
  type GpuProcessView,
  type GpuSample,
  type HostSample,
} from '../core/gpu.js';

export interface GpuMonitorOptions {
  /** The -lms period of the nvidia-smi child, and of host samples in the fallback (default 1000). */
  intervalMs?: number;
  /**
   * How often compute apps are polled (default 5000). Each poll is a one-shot nvidia-smi: measured 0.01–0.02 s
   * of CPU per call, more than the streaming child costs in a whole minute, so the process list updates slowly.
   */
  processIntervalMs?: number;
  /** Samples kept for sparklines (default 120). */
  historySize?: number;
  env?: NodeJS.ProcessEnv;
  /** The run's processes; a function is called at each poll, so a growing process tree is followed. */
  ownPids?: ReadonlySet<number> | (() => ReadonlySet<number>);
  /** The run's CUDA_VISIBLE_DEVICES: only those GPUs (and their processes) are shown. Undefined: every GPU. */
  visibleDevices?: string;
}

export type GpuMonitorState =
  | { mode: 'starting' }
  | {
      mode: 'gpu';
      /** History, oldest first; the last one is live. */
      samples: GpuSample[];
      processes: GpuProcessView[];
      /** Query fields this driver rejected (their values show as unknown). */
      droppedFields: string[];
      /** CUDA_VISIBLE_DEVICES entries that named no GPU. */
      ignoredDevices: string[];
      /** A passing problem, e.g. the child exited and is being restarted. */
      warning: string | null;
    }
  | { mode: 'host'; reason: string; samples: HostSample[] };

interface SmiResult {
  stdout: string;
  failure: { kind: 'spawn'; reason: string } | { kind: 'exit'; code: number | null; stdout: string; stderr: string } | null;
}

function executable(env: NodeJS.ProcessEnv): { exe: string; fromEnv: boolean } {
  const named = env.MEDTUNE_NVIDIA_SMI;
  return named ? { exe: named, fromEnv: true } : { exe: 'nvidia-smi', fromEnv: false };
}

/** A one-shot nvidia-smi call that never throws. */
function runSmi(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<SmiResult> {
  const { exe, fromEnv } = executable(env);
  return new Promise((resolve) => {
    execFile(exe, args, { env, timeout: timeoutMs, maxBuffer: 4 * 2 ** 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, failure: null });
      if (err.killed)
        return resolve({ stdout: '', failure: { kind: 'spawn', reason: `${exe} did not answer within ${timeoutMs / 1000} s` } });
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
        return resolve({ stdout: '', failure: { kind: 'spawn', reason: spawnFailureReason(exe, code, fromEnv) } });
      }
      const exit = (err as { code?: unknown }).code;
      resolve({ stdout, failure: { kind: 'exit', code: typeof exit === 'number' ? exit : null, stdout, stderr } });
    });
  });
}

export type GpuProbe = { ok: true; fields: string[]; sample: GpuSample } | { ok: false; reason: string };

/**
 * One query to learn whether there are GPUs and which fields this driver accepts: an unknown field fails the
 * whole query, so it is replaced by its old name or dropped, and the query retried.
 */
export async function probeGpus(env: NodeJS.ProcessEnv = process.env): Promise<GpuProbe> {
  let fields: string[] = [...GPU_QUERY_FIELDS];
  for (;;) {
    const r = await runSmi([`--query-gpu=${fields.join(',')}`, CSV_FORMAT], env);
    if (r.failure?.kind === 'spawn') return { ok: false, reason: r.failure.reason };
    if (r.failure) {
      const f = classifySmiFailure(r.failure.code, r.failure.stdout, r.failure.stderr);
      if (f.kind === 'unavailable') return { ok: false, reason: f.reason };
      const next = withoutField(fields, f.field);
      if (!next) return { ok: false, reason: `nvidia-smi rejected the field ${f.field}` };
      fields = next;
      continue;
    }
    const sample = parseGpuRows(r.stdout, fields)[0];
    if (!sample) return { ok: false, reason: 'nvidia-smi listed no GPUs' };
    return { ok: true, fields, sample };
  }
}

/**
 * CUDA_VISIBLE_DEVICES as a live process sees it (from /proc/<pid>/environ): null when the process is gone
 * or not readable, undefined when the variable is unset (every GPU).
 */
export async function visibleDevicesOf(pid: number): Promise<string | undefined | null> {
  try {
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    const entry = environ.split('\0').find((e) => e.startsWith('CUDA_VISIBLE_DEVICES='));
    return entry === undefined ? undefined : entry.slice('CUDA_VISIBLE_DEVICES='.length);
  } catch {
    return null;
  }
}

/** /proc/<pid>/comm and the base name of argv[0]; null when the pid is not visible here. */
async function commOf(pid: number): Promise<string[] | null> {
  try {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? '';
    return argv0 ? [comm, argv0.split('/').pop()!] : [comm];
  } catch {
    return null;
  }
}

/** Processes on the GPUs, each marked as the run's, another's, or unknown; null when the query failed. */
export async function readGpuProcesses(env: NodeJS.ProcessEnv, ownPids: ReadonlySet<number>): Promise<GpuProcessView[] | null> {
  const r = await runSmi([`--query-compute-apps=${APPS_QUERY_FIELDS.join(',')}`, CSV_FORMAT], env);
  if (r.failure) return null;
  const procs = parseComputeApps(r.stdout, APPS_QUERY_FIELDS);
  const local = new Map<number, string[]>();
  await Promise.all(
    procs.map(async (p) => {
      const comm = await commOf(p.pid);
      if (comm !== null) local.set(p.pid, comm);
    }),
  );
  return attributeProcesses(procs, ownPids, local);
}

async function readCpuTimes(): Promise<CpuTimes> {
  try {
    const parsed = parseProcStatCpu(await readFile('/proc/stat', 'utf8'));
    if (parsed) return parsed;
  } catch {
    // no /proc (macOS): the os module's per-CPU times
  }
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.idle + c.times.user + c.times.nice + c.times.sys + c.times.irq;
  }
  return { idle, total };
}

async function readMemory(): Promise<{ usedMiB: number; totalMiB: number }> {
  try {
    const parsed = parseMeminfo(await readFile('/proc/meminfo', 'utf8'));
    if (parsed) return parsed;
  } catch {
    // no /proc: the os module (free memory there excludes caches, so "used" reads high)
  }
  return { usedMiB: (os.totalmem() - os.freemem()) / 2 ** 20, totalMiB: os.totalmem() / 2 ** 20 };
}

/** One host reading; pass the previous CPU times to get a busy percentage. */
export async function readHostSample(prev: CpuTimes | null): Promise<{ sample: HostSample; cpu: CpuTimes }> {
  const [cpu, mem] = await Promise.all([readCpuTimes(), readMemory()]);
  const load = os.loadavg()[0];
  return {
    cpu,
    sample: {
      receivedAt: Date.now(),
      cpuPct: cpuBusyPct(prev, cpu),
      cpuCount: os.availableParallelism(),
      memUsedMiB: mem.usedMiB,
      memTotalMiB: mem.totalMiB,
      // Windows reports 0 for the load average: not a measurement.
      load1: load !== undefined && os.platform() !== 'win32' ? load : null,
    },
  };
}

export interface GpuInfo {
  index: number;
  name: string;
  memoryTotalMiB: number | null;
}

/** One-shot GPU listing through the monitor's careful nvidia-smi parser (field fallbacks, [N/A] cells, quoting). */
export async function listGpus(env: NodeJS.ProcessEnv = process.env): Promise<{ gpus: GpuInfo[]; reason?: string }> {
  const probe = await probeGpus(env);
  if (!probe.ok) return { gpus: [], reason: probe.reason };
  return { gpus: probe.sample.gpus.map((g) => ({ index: g.index, name: g.name ?? '?', memoryTotalMiB: g.memoryTotalMiB })) };
}

export type GpuSnapshot =
  | { mode: 'gpu'; sample: GpuSample; processes: GpuProcessView[]; droppedFields: string[]; ignoredDevices: string[] }
  | { mode: 'host'; reason: string; host: HostSample };

function resolveOwnPids(own: GpuMonitorOptions['ownPids']): ReadonlySet<number> {
  if (!own) return new Set();
  return typeof own === 'function' ? own() : own;
}

function deviceFilter(opts: GpuMonitorOptions, sample: GpuSample): { uuids: Set<string> | null; ignored: string[] } {
  if (opts.visibleDevices === undefined) return { uuids: null, ignored: [] };
  const mapped = mapVisibleDevices(opts.visibleDevices, sample.gpus);
  return { uuids: new Set(mapped.uuids), ignored: mapped.ignored };
}

function onDevices(procs: GpuProcessView[], uuids: ReadonlySet<string> | null): GpuProcessView[] {
  return uuids === null ? procs : procs.filter((p) => p.gpuUuid === null || uuids.has(p.gpuUuid));
}

/** One reading of everything (for `medtune gpu --once`): GPUs and their processes, or the host fallback. */
export async function readGpuSnapshot(opts: GpuMonitorOptions = {}): Promise<GpuSnapshot> {
  const env = opts.env ?? process.env;
  const probe = await probeGpus(env);
  if (!probe.ok) {
    // A CPU percentage needs two readings.
    const first = await readHostSample(null);
    await new Promise((r) => setTimeout(r, 250));
    return { mode: 'host', reason: probe.reason, host: (await readHostSample(first.cpu)).sample };
  }
  const { uuids, ignored } = deviceFilter(opts, probe.sample);
  const processes = (await readGpuProcesses(env, resolveOwnPids(opts.ownPids))) ?? [];
  return {
    mode: 'gpu',
    sample: filterSample(probe.sample, uuids),
    processes: onDevices(processes, uuids),
    droppedFields: droppedFields(GPU_QUERY_FIELDS, probe.fields),
    ignoredDevices: ignored,
  };
}

const MAX_RESTART_DELAY_MS = 30_000;

/**
 * Live telemetry. `start()` probes once, then streams; listeners get a new state object per completed
 * sample and per change in the process list (never per row), so a UI re-renders at most at the sample rate.
 */
export class GpuMonitor extends EventEmitter<{ update: [GpuMonitorState] }> {
  private readonly opts: Required<Pick<GpuMonitorOptions, 'intervalMs' | 'processIntervalMs' | 'historySize'>> & GpuMonitorOptions;
  private readonly env: NodeJS.ProcessEnv;
  private current: GpuMonitorState = { mode: 'starting' };
  private gpuHistory: Ring<GpuSample>;
  private hostHistory: Ring<HostSample>;
  private child: ChildProcess | null = null;
  private timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private started: Promise<void> | null = null;
  private fields: string[] = [];
  private uuids: Set<string> | null = null;
  private ignored: string[] = [];
  private processes: GpuProcessView[] = [];
  private processesKey = '';
  private polling = false;
  private warning: string | null = null;
  private restartDelay = 1000;
  private expectedGpus: number | null = null;
  private childStderr = '';

  constructor(opts: GpuMonitorOptions = {}) {
    super();
    this.opts = { intervalMs: 1000, processIntervalMs: 5000, historySize: 120, ...opts };
    this.env = opts.env ?? process.env;
    this.gpuHistory = new Ring(this.opts.historySize);
    this.hostHistory = new Ring(this.opts.historySize);
  }

  get state(): GpuMonitorState {
    return this.current;
  }

  /** Calls `listener` on every update; returns the unsubscribe function. */
  subscribe(listener: (state: GpuMonitorState) => void): () => void {
    this.on('update', listener);
    return () => {
      this.off('update', listener);
    };
  }

  /** Starts watching; resolves once the first state (a GPU sample or the host fallback) is known. */
  start(): Promise<void> {
    this.started ??= this.begin();
    return this.started;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      child.kill('SIGTERM');
      // A driver call can hang in the kernel; do not let stop() hang with it.
      const force = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(force);
    }
    await this.started?.catch(() => undefined);
  }

  private async begin(): Promise<void> {
    const probe = await probeGpus(this.env);
    if (this.stopped) return;
    if (!probe.ok) return this.beginHost(probe.reason);
    this.fields = probe.fields;
    this.expectedGpus = probe.sample.gpus.length;
    const filter = deviceFilter(this.opts, probe.sample);
    this.uuids = filter.uuids;
    this.ignored = filter.ignored;
    this.gpuHistory.push(filterSample(probe.sample, this.uuids));
    await this.pollProcesses(false);
    if (this.stopped) return;
    this.publishGpu();
    this.spawnStream();
    this.every(this.opts.processIntervalMs, () => this.pollProcesses(true));
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const tick = () => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        void fn().finally(() => {
          if (!this.stopped) tick();
        });
      }, ms);
      this.timers.add(t);
    };
    tick();
  }

  private spawnStream(): void {
    const { exe } = executable(this.env);
    const args = [`--query-gpu=${this.fields.join(',')}`, CSV_FORMAT, '-lms', String(this.opts.intervalMs)];
    const child = spawn(exe, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.childStderr = '';
    const assembler = new SampleAssembler(this.expectedGpus);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const row = parseGpuRow(line, this.fields);
      if (!row) return;
      for (const sample of assembler.push(row)) this.onSample(sample);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.childStderr = (this.childStderr + chunk.toString('utf8')).slice(-2000);
    });
    child.on('error', () => {
      // A spawn failure also emits 'close'; the restart happens there.
    });
    child.on('close', (code, signal) => {
      if (this.stopped || this.child !== child) return;
      this.child = null;
      const said = this.childStderr.trim().split('\n').pop();
      const how = signal ? `signal ${signal}` : `code ${code ?? '?'}`;
      this.warning = `nvidia-smi stopped (${how})${said ? `: ${said}` : ''}; restarting in ${Math.round(this.restartDelay / 1000)} s`;
      this.publishGpu();
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.stopped) this.spawnStream();
      }, this.restartDelay);
      this.timers.add(t);
      this.restartDelay = Math.min(MAX_RESTART_DELAY_MS, this.restartDelay * 2);
    });
  }

  private onSample(sample: GpuSample): void {
    this.restartDelay = 1000;
    this.warning = null;
    this.gpuHistory.push(filterSample(sample, this.uuids));
    this.publishGpu();
  }

  private async pollProcesses(publish: boolean): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const procs = await readGpuProcesses(this.env, resolveOwnPids(this.opts.ownPids));
      if (procs === null || this.stopped) return;
      const shown = onDevices(procs, this.uuids);
      const key = JSON.stringify(shown);
      if (key === this.processesKey) return;
      this.processesKey = key;
      this.processes = shown;
      if (publish) this.publishGpu();
    } finally {
      this.polling = false;
    }
  }

  private publishGpu(): void {
    this.current = {
      mode: 'gpu',
      samples: this.gpuHistory.toArray(),
      processes: this.processes,
      droppedFields: droppedFields(GPU_QUERY_FIELDS, this.fields),
      ignoredDevices: this.ignored,
      warning: this.warning,
    };
    this.emit('update', this.current);
  }

  private async beginHost(reason: string): Promise<void> {
    let prev = (await readHostSample(null)).cpu;
    const publish = () => {
      this.current = { mode: 'host', reason, samples: this.hostHistory.toArray() };
      this.emit('update', this.current);
    };
    publish();
    this.every(this.opts.intervalMs, async () => {
      const next = await readHostSample(prev);
      prev = next.cpu;
      if (this.stopped) return;
      this.hostHistory.push(next.sample);
      publish();
    });
  }
}
