/**
 * trainer_log.jsonl on disk, at any length: a bounded summary in one pass (the last megabyte decoded whole, the
 * rest for its curve and attempts only), the newest records read backwards from the end, every record streamed,
 * and whether a live process still writes the folder.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile, readlink, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isAbsolute, join, resolve } from 'node:path';
import type { TrainerRecord } from '../core/run.js';
import { TrainerLogFeeder, type AggregatorState, type FeederState, type TrainerLogSummary } from '../core/trainersummary.js';
import { AttemptTracker, TrainerLogReader, mergeRecord } from '../core/trainerlog.js';
import { scanTrainerLines } from '../core/trainerscan.js';
import { listProcesses } from './proctree.js';
import { readJsonIfExists, writeJsonAtomic } from './atomic.js';
import { cacheRoot, PACKAGE_ROOT } from './paths.js';
import type { PartRequest } from './trainerlog-worker.js';

/** The end of the log decoded whole: enough lines for the recent records and the pace window. */
export const FULL_TAIL_BYTES = 1 << 20;
const CHUNK = 4 << 20;

function missing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export interface TrainerLogRead {
  summary: TrainerLogSummary;
  /** The feeder that read it: feed it the bytes from `offset + feeder.pending` on to follow the file. */
  feeder: TrainerLogFeeder;
  /** Bytes of complete lines read: where following the file goes on from. */
  offset: number;
  size: number;
  /** A first read done in parts on several threads: how many parts, and how many were joined as read. */
  parts?: { count: number; joined: number };
}

/** A feeder for a file of `size` bytes: lite decoding up to its last megabyte. */
export function feederFor(size: number): TrainerLogFeeder {
  return new TrainerLogFeeder({ fullFrom: Math.max(0, size - FULL_TAIL_BYTES) });
}

/** Logs smaller than this are read whole every time; larger ones leave a summary in the cache to go on from. */
const CACHE_FROM_BYTES = 8 << 20;
const CACHE_VERSION = 1;
const HEAD = 256;

interface SummaryCache {
  version: number;
  path: string;
  dev: number;
  ino: number;
  /** The first bytes of the file when it was read: a log deleted and written again starts differently. */
  head: string;
  state: FeederState;
}

function cachePath(path: string): string {
  return join(cacheRoot(), 'trainerlog', `${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 32)}.json`);
}

export interface ReadSummaryOptions {
  /** Go on from (and leave) a summary in medtune's cache for large logs (default true). */
  cache?: boolean;
}

/**
 * Summarises a whole trainer_log.jsonl in one pass, in bounded memory; null when it does not exist. A large log
 * leaves its summary in medtune's cache (~/.cache/medtune/trainerlog/), so the next read, by any process, reads
 * only the bytes added since, as long as the file is the same one (device, inode, first bytes) and has not shrunk.
 */
export async function readTrainerLogSummary(path: string, opts: ReadSummaryOptions = {}): Promise<TrainerLogRead | null> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (missing(err)) return null;
    throw err;
  }
  try {
    const st = await fh.stat();
    const size = st.size;
    const useCache = opts.cache !== false && size >= CACHE_FROM_BYTES;
    const headBuf = Buffer.alloc(Math.min(HEAD, size));
    await fh.read(headBuf, 0, headBuf.length, 0);
    const head = headBuf.toString('base64');
    let feeder: TrainerLogFeeder | null = null;
    if (useCache) {
      const cached = await readJsonIfExists<SummaryCache>(cachePath(path)).catch(() => undefined);
      if (
        cached &&
        cached.version === CACHE_VERSION &&
        cached.dev === st.dev &&
        cached.ino === st.ino &&
        cached.head === head &&
        cached.state.consumed <= size
      ) {
        try {
          feeder = TrainerLogFeeder.from(cached.state);
        } catch {
          feeder = null;
        }
      }
    }
    let parts: { count: number; joined: number } | null = null;
    if (!feeder) {
      feeder = feederFor(size);
      parts = await readPartsAtOnce(fh, path, size, feeder);
    }
    await feedRange(fh, feeder, feeder.offset + feeder.pending, size);
    if (useCache) {
      const entry: SummaryCache = { version: CACHE_VERSION, path: resolve(path), dev: st.dev, ino: st.ino, head, state: feeder.state() };
      // A cache that cannot be written only costs the next reader a full pass.
      await writeJsonAtomic(cachePath(path), entry).catch(() => undefined);
    }
    feeder.flush();
    return { summary: feeder.summary(), feeder, offset: feeder.offset, size, ...(parts ? { parts } : {}) };
  } finally {
    await fh.close();
  }
}

/** Below this a log is read by one thread: a worker's start would cost more than it saves. */
const PARTS_FROM_BYTES = 48 << 20;
/** Bytes a part should have at least. */
const MIN_PART_BYTES = 16 << 20;
/** Each worker thread adds ~20–25 MB: four keep a first read under 200 MB. */
const MAX_PARTS = 4;
const WORKER_ENTRY = join(PACKAGE_ROOT, 'dist', 'runtime', 'trainerlog-worker.js');

let mainThreadRenders = false;

/**
 * For a process whose main thread draws a screen (the TUI): the first read of a long log gives every part to a
 * worker thread, so the main thread is free to render while they run (elsewhere it reads the first part itself).
 */
export function readLongLogsOffMainThread(on = true): void {
  mainThreadRenders = on;
}

/** Threads for the first read of a long log: MEDTUNE_SCAN_THREADS, else the cores (at most MAX_PARTS). */
function scanThreads(): number {
  const asked = Number(process.env.MEDTUNE_SCAN_THREADS);
  if (Number.isInteger(asked) && asked >= 1) return Math.min(asked, MAX_PARTS);
  return Math.min(availableParallelism(), MAX_PARTS);
}

/** Where the line that holds byte `at` ends (the offset after its newline), or -1 within `look` bytes. */
async function lineEndAfter(fh: FileHandle, at: number, look = 1 << 16): Promise<number> {
  const buf = Buffer.allocUnsafe(look);
  const { bytesRead } = await fh.read(buf, 0, look, at);
  const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
  return nl < 0 ? -1 : at + nl + 1;
}

function summarizePart(req: PartRequest): Promise<{ state: AggregatorState; pending: number; read: number } | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: { state: AggregatorState; pending: number; read: number } | null) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    try {
      // A part's garbage is one record per line, short-lived: an 8 MB young generation holds it with few scavenges
      // (2 MB made a worker read at half the main thread's pace; 8 MB: 10⁶ records on two threads 0.88 → 0.79 s,
      // four threads still ~150 MB in all).
      const w = new Worker(WORKER_ENTRY, { workerData: req, resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 48 } });
      w.once('message', (m: { state: AggregatorState; pending: number; read: number }) => done(m));
      w.once('error', () => done(null));
      w.once('exit', () => done(null));
    } catch {
      done(null);
    }
  });
}

async function feedRange(fh: FileHandle, feeder: TrainerLogFeeder, start: number, end: number): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, end - start)));
  let offset = start;
  while (offset < end) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - offset), offset);
    if (bytesRead === 0) break;
    // A plain Uint8Array view, like the lines the feeder joins itself: one array type keeps the decoder monomorphic.
    feeder.feed(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead));
    offset += bytesRead;
  }
}

/**
 * The first read of a long log, on every core: the bytes before its last megabyte are cut at newlines into
 * parts; this thread reads the first (unless readLongLogsOffMainThread), worker threads the others, and each
 * part's summary is joined to the ones
 * before it where that gives what one pass gives (one attempt and one writer in the part, carrying on the one
 * before: TrainerLogAggregator.append); any other part is read here again, in order. Leaves the feeder at the
 * end of the parts (nothing is done for a log too short, one thread, or a build without the worker).
 */
async function readPartsAtOnce(
  fh: FileHandle,
  path: string,
  size: number,
  feeder: TrainerLogFeeder,
): Promise<{ count: number; joined: number } | null> {
  const threads = scanThreads();
  const liteEnd = Math.max(0, size - FULL_TAIL_BYTES);
  if (threads < 2 || size < PARTS_FROM_BYTES || !existsSync(WORKER_ENTRY)) return null;
  const count = Math.min(threads, Math.floor(liteEnd / MIN_PART_BYTES));
  if (count < 2) return null;
  // Part boundaries just after a newline, the last one at or before the end of the lite region.
  const cuts = [0];
  for (let k = 1; k <= count; k++) {
    const at = k === count ? Math.max(cuts[k - 1]!, liteEnd - (1 << 16)) : Math.floor((liteEnd * k) / count);
    let end = await lineEndAfter(fh, at);
    if (k === count) {
      // The last newline before the end of the lite region.
      const buf = Buffer.allocUnsafe(liteEnd - at);
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
      end = nl < 0 ? -1 : at + nl + 1;
    }
    if (end < 0 || end <= cuts[k - 1]!) return null;
    cuts.push(end);
  }
  const resolved = resolve(path);
  // The parts worker threads read: all of them where the main thread renders, else all but the first.
  const first = mainThreadRenders ? 0 : 1;
  const others = cuts.slice(first, -1).map((start, i) => summarizePart({ path: resolved, start, end: cuts[i + first + 1]!, recent: 1024 }));
  if (first === 1) await feedRange(fh, feeder, 0, cuts[1]!);
  let joined = 0;
  for (let k = first; k < count; k++) {
    const part = await others[k - first]!;
    const bytes = cuts[k + 1]! - cuts[k]!;
    if (part && part.pending === 0 && part.read === bytes && feeder.appendPart(part.state, bytes)) joined++;
    else await feedRange(fh, feeder, cuts[k]!, cuts[k + 1]!);
  }
  return { count, joined };
}

/**
 * The newest `limit` merged records, read backwards from the end of the file (a few blocks, whatever the log's
 * length). Records of one step from before an attempt boundary that lies beyond the lines read cannot be told
 * superseded; within them the merge is TrainerLogReader's.
 */
export async function readTrainerLogTail(path: string, limit: number): Promise<TrainerRecord[] | null> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (missing(err)) return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const want = Math.max(0, limit);
    let start = size;
    let block = 64 * 1024;
    let tail: Buffer = Buffer.alloc(0);
    let records: TrainerRecord[] = [];
    while (start > 0) {
      const from = Math.max(0, start - block);
      const buf = Buffer.allocUnsafe(start - from);
      await fh.read(buf, 0, buf.length, from);
      start = from;
      block = Math.min(block * 2, 16 << 20);
      const all = Buffer.concat([buf, tail]);
      tail = all;
      // Drop the first, possibly cut, line unless the read reached the start of the file.
      const cut = start === 0 ? 0 : all.indexOf(0x0a) + 1;
      const reader = new TrainerLogReader();
      reader.feed(all.subarray(cut).toString('utf8'));
      reader.flush();
      records = reader.records();
      // One step more than wanted, so the oldest one returned cannot be half of a step cut by the read.
      if (records.length > want) break;
    }
    return records.slice(Math.max(0, records.length - want));
  } finally {
    await fh.close();
  }
}

/**
 * Calls `onRecord` for every record in file order, as written (not merged: a resumed attempt's steps repeat),
 * each with the attempt that wrote it; bounded memory, for piping as NDJSON.
 */
export async function streamTrainerRecords(path: string, onRecord: (r: TrainerRecord) => void): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (missing(err)) return false;
    throw err;
  }
  try {
    const tracker = new AttemptTracker();
    const buf = Buffer.allocUnsafe(CHUNK);
    let keep = 0;
    let offset = 0;
    const emit = (rec: Parameters<Parameters<typeof scanTrainerLines>[3]>[0]) => {
      const { attempt } = tracker.place(rec);
      const { elapsedSeconds: _s, ...fields } = rec;
      onRecord(mergeRecord(undefined, { ...fields, attempt }));
    };
    for (;;) {
      const { bytesRead } = await fh.read(buf, keep, buf.length - keep, offset);
      offset += bytesRead;
      const end = keep + bytesRead;
      const r = scanTrainerLines(buf, 0, end, emit);
      keep = end - r.consumed;
      if (bytesRead === 0) {
        if (keep > 0) scanTrainerLines(Buffer.concat([buf.subarray(0, keep), Buffer.from('\n')]), 0, keep + 1, emit);
        break;
      }
      if (keep === buf.length)
        keep = 0; // a line longer than the buffer is not a record
      else buf.copy(buf, 0, r.consumed, end);
    }
    return true;
  } finally {
    await fh.close();
  }
}

const TRAINER = /llamafactory|launcher\.py|(^|\/)train\.py$|torchrun/;

async function yamlOutputDir(path: string): Promise<string | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null || text.length > 1 << 20) return null;
  const m = /^output_dir:\s*["']?([^"'#\n]+?)["']?\s*(?:#.*)?$/m.exec(text);
  return m ? m[1]!.trim() : null;
}

/**
 * Whether a live process writes `outputDir`: a LLaMA-Factory trainer (llamafactory-cli, its launcher, torchrun)
 * whose arguments name the folder, whose YAML config's output_dir is it, or whose LLAMABOARD_WORKDIR is it.
 * Null where processes cannot be listed (not Linux).
 */
export async function outputDirWriterAlive(outputDir: string): Promise<boolean | null> {
  if (process.platform !== 'linux') return null;
  const target = resolve(outputDir);
  const procs = listProcesses();
  if (procs.length === 0) return null;
  for (const p of procs) {
    if (p.pid === process.pid) continue;
    const args = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    if (!args.some((a) => TRAINER.test(a))) continue;
    const cwd = await readlink(`/proc/${p.pid}/cwd`).catch(() => null);
    const abs = (a: string) => (isAbsolute(a) ? a : cwd ? resolve(cwd, a) : null);
    for (const a of args) {
      const value = a.startsWith('output_dir=') ? a.slice('output_dir='.length) : a;
      const path = abs(value);
      if (path === target) return true;
      if (path && /\.ya?ml$/.test(path)) {
        const out = await yamlOutputDir(path);
        if (out && abs(out) === target) return true;
      }
    }
    const env = await readFile(`/proc/${p.pid}/environ`, 'utf8').catch(() => '');
    const workdir = env
      .split('\0')
      .find((e) => e.startsWith('LLAMABOARD_WORKDIR='))
      ?.slice('LLAMABOARD_WORKDIR='.length);
    if (workdir && abs(workdir) === target) return true;
  }
  return false;
}
