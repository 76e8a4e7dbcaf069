/**
 * Ask: one question to a model — about images, scans or text alone — answered by a running `medtune serve` of
 * the same model when there is one, else by loading it. Both faces go through here: the models one can ask, the
 * file picker's listing, scans converted into what the model receives (with previews), the answer, the
 * transcript.
 */
import { readdir } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import type { RgbImage } from '../core/halfblock.js';
import { cmd } from '../core/nextstep.js';
import { scanKindOf } from '../core/scans.js';
import { GREEDY, samplingProblem, type Sampling } from '../core/serve.js';
import { transcriptName, type Transcript } from '../core/transcript.js';
import { writeJsonAtomic } from '../runtime/atomic.js';
import { ask as askModel, type AskResult } from '../runtime/infer.js';
import { listRunIds, readManifest } from '../runtime/manifest.js';
import { listModels } from '../runtime/models.js';
import { resolveImages, type ScanOptions } from '../runtime/scans.js';
import { listServers } from '../runtime/serve.js';
import { askGguf, GGUF_PREFIX, resolveGgufRef } from '../runtime/gguf.js';
import { requireLlamaCpp } from '../runtime/llamacpp.js';
import { cacheRoot } from '../runtime/paths.js';
import type { App } from './context.js';
import { ignoreProgress, type OnProgress } from './events.js';
import { thumbnails } from './models.js';

/** The longest answer, in tokens, when the user names none (CLI and TUI alike). */
export const ASK_MAX_NEW_TOKENS = 256;

export type { AskResult, Sampling };
export { GREEDY };

/** A model one can ask: what `ask` takes as MODEL, and how people read it. */
export interface AskTarget {
  /** model:NAME, export:NAME or run:ID. */
  ref: string;
  kind: 'model' | 'export' | 'run';
  /** The model's, export's or run's own name. */
  name: string;
  label: string;
  /** A ready `medtune serve` of this machine answers for it (no loading). */
  served: boolean;
}

/** The models of the workspace one can ask: its models, its exports, its completed runs (newest first). */
export async function askTargets(app: App): Promise<AskTarget[]> {
  const ws = app.ws;
  const servers = (await listServers(ws, app.env)).filter((s) => s.status === 'ready');
  const served = (model: string, adapter: string | null) => servers.some((s) => s.model.model === model && s.model.adapter === adapter);
  const out: AskTarget[] = [];
  for (const m of await listModels(ws).catch(() => []))
    out.push({ ref: `model:${m.name}`, kind: 'model', name: m.name, label: `model ${m.name}`, served: served(m.dir, null) });
  const exports = await readdir(ws.exportsDir, { withFileTypes: true }).catch(() => []);
  for (const e of exports.filter((d) => d.isDirectory() && !d.name.startsWith('.')))
    out.push({
      ref: `export:${e.name}`,
      kind: 'export',
      name: e.name,
      label: `export ${e.name}`,
      served: served(join(ws.exportsDir, e.name), null),
    });
  for (const id of (await listRunIds(ws)).reverse()) {
    const m = await readManifest(join(ws.runsDir, id)).catch(() => undefined);
    if (m?.status === 'completed')
      out.push({ ref: `run:${id}`, kind: 'run', name: id, label: `run ${id}`, served: served(m.model, m.outputDir) });
  }
  return out;
}

export type FileKind = 'dir' | 'image' | 'scan' | 'other';

export interface DirListing {
  dir: string;
  parent: string | null;
  entries: { name: string; path: string; kind: FileKind }[];
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff']);

/** A folder for the image picker (default: the workspace): folders first, each file's kind by its name. */
export async function listImageDir(app: App, dir: string | null): Promise<DirListing> {
  const d = resolve(dir ?? app.ws.root);
  const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
  const out: DirListing['entries'] = [];
  for (const e of entries
    .filter((x) => !x.name.startsWith('.'))
    .sort((a, b) => Number(b.isDirectory()) - Number(a.isDirectory()) || a.name.localeCompare(b.name))) {
    // The name only: reading every file's header would make a large folder slow to list.
    const kind: FileKind = e.isDirectory()
      ? 'dir'
      : IMAGE_EXT.has(extname(e.name).toLowerCase())
        ? 'image'
        : scanKindOf(e.name, null) || extname(e.name) === ''
          ? 'scan'
          : 'other';
    out.push({ name: e.name, path: join(d, e.name), kind });
  }
  return { dir: d, parent: dirname(d) === d ? null : dirname(d), entries: out };
}

export interface PreparedImages {
  /** What the models receive, in order. */
  images: string[];
  notes: string[];
  /** Previews of the first few, for a terminal. */
  previews: RgbImage[];
}

/** Attached images and scans → what the model receives (scans converted), with previews of the first four. */
export async function prepareImages(app: App, files: string[], scan: ScanOptions, previewSide = 64): Promise<PreparedImages> {
  const r = await resolveImages(app.ws, () => app.venv(), files, scan, 'preparing the images');
  const shown = r.images.slice(0, 4);
  const thumbs = await thumbnails(app, shown, previewSide);
  return { images: r.images, notes: r.notes, previews: shown.flatMap((p) => (thumbs.has(p) ? [thumbs.get(p)!] : [])) };
}

/** The key for a server that needs one: the one given, else $MEDTUNE_API_KEY. */
export const serverApiKey = (app: App, given?: string): string | undefined => given ?? app.env.MEDTUNE_API_KEY;

export interface AskRequest {
  /** A model folder, a model name, a run id, an export name, or run:/export:/model: with a name. */
  model: string;
  /** Images, DICOM files or series folders, NIfTI volumes; none: a question about text alone. */
  images?: string[];
  question: string;
  maxNewTokens?: number;
  /** Default greedy (temperature 0), as `eval` scores. */
  sampling?: Partial<Sampling>;
  scan?: ScanOptions;
  /** `auto`: a ready server of this machine for the same model answers, else the model is loaded. */
  server?: 'auto' | 'never' | { url: string; apiKey?: string };
  onToken?: (text: string) => void;
  signal?: AbortSignal;
}

export async function ask(app: App, req: AskRequest, onProgress: OnProgress = ignoreProgress): Promise<AskResult> {
  const sampling: Sampling = { ...GREEDY, ...req.sampling };
  const bad = samplingProblem(sampling);
  if (bad)
    throw new MedtuneError({
      doing: 'asking the model',
      problem: bad.problem,
      next: ['pass --temperature 0…2 and --top-p in (0, 1], e.g. ', cmd('ask', req.model, '--temperature', '0.7', req.question || '…')],
      code: 'BAD_SAMPLING',
    });
  if (req.model.startsWith(GGUF_PREFIX)) return askGgufModel(app, req, onProgress);
  const server = typeof req.server === 'object' ? { ...req.server, apiKey: serverApiKey(app, req.server.apiKey) } : req.server;
  return askModel(app.ws, await app.venv(), {
    model: req.model,
    images: req.images ?? [],
    question: req.question,
    maxNewTokens: req.maxNewTokens ?? ASK_MAX_NEW_TOKENS,
    sampling,
    scan: req.scan,
    server,
    onToken: req.onToken,
    signal: req.signal,
    onProgress: (phase, done, total, message) => onProgress({ phase, done, total, message }),
  });
}

/** `gguf:REF`: the GGUF files through llama.cpp (greedy), what a laptop will run. */
async function askGgufModel(app: App, req: AskRequest, onProgress: OnProgress): Promise<AskResult> {
  const doing = `asking ${req.model}`;
  const target = await resolveGgufRef(app.ws.exportsDir, req.model);
  const llama = await requireLlamaCpp(doing, app.env);
  if (!req.images?.length)
    throw new MedtuneError({ doing, problem: "llama.cpp's multimodal CLI needs an image", next: 'pass --image FILE', code: 'NO_IMAGE' });
  const { images, notes } = await resolveImages(app.ws, () => app.venv(), req.images, req.scan ?? {}, doing);
  onProgress({ phase: 'generate', done: 0, total: null, message: `llama.cpp: ${target.label}` });
  const a = await askGguf(llama, {
    model: target.model,
    mmproj: target.mmproj,
    images,
    prompt: req.question,
    maxTokens: req.maxNewTokens ?? ASK_MAX_NEW_TOKENS,
    log: join(cacheRoot(app.env), 'logs', `llama-mtmd-${process.pid}.log`),
    signal: req.signal,
  });
  return {
    answer: a.text,
    tokens: 0,
    promptTokens: 0,
    seconds: a.seconds,
    firstTokenSeconds: null,
    cut: false,
    device: `llama.cpp ${llama.marker.version} (CPU)`,
    question: req.question,
    images,
    notes,
    model: { kind: 'gguf', ref: req.model, label: target.label, model: target.model, adapter: null },
  };
}

/** Writes an Ask session's transcript (atomically) into transcripts/ of the workspace; returns its path. */
export async function saveTranscript(app: App, t: Transcript): Promise<string> {
  const file = join(app.ws.root, 'transcripts', transcriptName(t.startedAt));
  await writeJsonAtomic(file, t);
  return file;
}
