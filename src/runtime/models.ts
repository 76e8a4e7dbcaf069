/** Base models in <workspace>/models: listing, building the tiny model, fetching from a hub. */
import { existsSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import {
  classifyModel,
  countSafetensorsParams,
  describeMissing,
  FetchHelperResult,
  findKnownModel,
  type FetchResult,
  HUB_TITLES,
  inspectModelFiles,
  MODEL_RECORD,
  ModelRecord,
  modelDirName,
  shardsInIndex,
  templateForModelType,
  TINY_MODEL_DIR,
  TINY_MODEL_NAME,
  TinyModelResult,
  type Hub,
} from '../core/models.js';
import type { ProgressEvent } from '../core/protocol.js';
import { readJsonIfExists, writeJsonAtomic } from './atomic.js';
import { runHelper } from './pythonhelper.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export interface ModelEntry {
  /** Folder name under models/. */
  name: string;
  dir: string;
  bytes: number;
  /** A known model's name ('qwen2-vl-2b', 'tiny') or 'custom'. */
  kind: string;
  template: string | null;
  modelType: string | null;
  params: number | null;
  complete: boolean;
  /** What the folder lacks, one line per part (empty when complete). */
  missing: string[];
  source: ModelRecord['source'] | null;
}

async function walk(dir: string, root = dir): Promise<{ path: string; bytes: number }[]> {
  const out: { path: string; bytes: number }[] = [];
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, ent.name);
    if (ent.isDirectory()) out.push(...(await walk(full, root)));
    else if (ent.isFile()) out.push({ path: relative(root, full).split('\\').join('/'), bytes: (await stat(full)).size });
  }
  return out;
}

/** Reads the JSON header of a safetensors file (8-byte little-endian length, then JSON). */
async function safetensorsHeader(file: string): Promise<Record<string, unknown> | null> {
  const fh = await open(file, 'r');
  try {
    const len = Buffer.alloc(8);
    await fh.read(len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (n <= 0 || n > 100 * 1024 * 1024) return null;
    const buf = Buffer.alloc(n);
    await fh.read(buf, 0, n, 8);
    return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

/** Everything `model list` says about one folder. */
export async function inspectModelDir(dir: string): Promise<ModelEntry> {
  const files = await walk(dir);
  const names = files.map((f) => f.path);
  const index = names.includes('model.safetensors.index.json')
    ? await readJsonIfExists<unknown>(join(dir, 'model.safetensors.index.json')).catch(() => undefined)
    : undefined;
  const report = inspectModelFiles(names, shardsInIndex(index));
  const config = await readJsonIfExists<{ model_type?: string }>(join(dir, 'config.json')).catch(() => undefined);
  const record = await readJsonIfExists<unknown>(join(dir, MODEL_RECORD))
    .then((r) => ModelRecord.safeParse(r))
    .catch(() => undefined);
  const rec = record?.success ? record.data : undefined;
  let params: number | null = rec?.params ?? null;
  if (params === null) {
    const headers = await Promise.all(
      names.filter((n) => !n.includes('/') && n.endsWith('.safetensors')).map((n) => safetensorsHeader(join(dir, n))),
    );
    params = headers.every((h) => h) && headers.length ? headers.reduce((s, h) => s + countSafetensorsParams(h!), 0) : null;
  }
  const kind = classifyModel({ dirName: basename(dir), modelType: config?.model_type, recordedName: rec?.name });
  const known = findKnownModel(kind);
  return {
    name: basename(dir),
    dir,
    bytes: files.reduce((s, f) => s + f.bytes, 0),
    kind,
    template: known?.template ?? templateForModelType(config?.model_type),
    modelType: config?.model_type ?? null,
    params,
    complete: report.complete,
    missing: describeMissing(report),
    source: rec?.source ?? null,
  };
}

/** The model folders under <workspace>/models (hidden folders, such as unfinished downloads, are skipped). */
export async function listModels(ws: Workspace): Promise<ModelEntry[]> {
  if (!existsSync(ws.modelsDir)) return [];
  const entries = await readdir(ws.modelsDir, { withFileTypes: true });
  const dirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  return Promise.all(dirs.map((d) => inspectModelDir(join(ws.modelsDir, d))));
}

export interface TinyModelOptions {
  /** Target folder; default <workspace>/models/tiny-qwen2-vl. */
  out?: string;
  seed?: number;
  env?: NodeJS.ProcessEnv;
}

/** Builds the tiny random Qwen2-VL offline (a few seconds); an existing folder is replaced atomically. */
export async function buildTinyModel(
  ws: Workspace,
  venv: Venv,
  onProgress?: (e: ProgressEvent) => void,
  opts: TinyModelOptions = {},
): Promise<TinyModelResult> {
  const out = resolve(opts.out ?? join(ws.modelsDir, TINY_MODEL_DIR));
  const seed = opts.seed ?? 0;
  const parsed = await runHelper('tiny_model', ['--out', out, '--seed', String(seed)], TinyModelResult, {
    venv,
    doing: `building the tiny Qwen2-VL model in ${out}`,
    env: { HF_HUB_OFFLINE: '1', ...opts.env },
    onEvent: (e) => {
      if (e.event === 'progress') onProgress?.(e);
    },
  });
  await writeJsonAtomic(join(out, MODEL_RECORD), {
    name: TINY_MODEL_NAME,
    source: 'built',
    seed,
    params: parsed.params,
    createdAt: new Date().toISOString(),
  } satisfies ModelRecord);
  return parsed;
}

export interface FetchOptions {
  onProgress?: (e: ProgressEvent) => void;
  /** Seconds the hub's first API answer may take before medtune calls it unreachable. */
  probeTimeoutS?: number;
  revision?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** Where a fetch of `name` goes and from which repository. Accepts a known name or a raw `org/model` id. */
export function resolveFetchTarget(ws: Workspace, name: string, hub: Hub): { repoId: string; dir: string; title: string } {
  const known = findKnownModel(name);
  if (known) {
    const repoId = known.hubIds[hub];
    if (!repoId) {
      throw new MedtuneError({
        doing: `fetching model ${name}`,
        problem:
          known.source === 'built'
            ? `${known.name} is built locally, not downloaded`
            : `${known.name} has no ${HUB_TITLES[hub]} repository known to medtune`,
        next:
          known.source === 'built' ? '`medtune model tiny` builds it in a few seconds' : `try --hub ${hub === 'hf' ? 'modelscope' : 'hf'}`,
        code: 'NOT_FETCHABLE',
      });
    }
    return { repoId, dir: join(ws.modelsDir, modelDirName(known)), title: known.title };
  }
  if (/^[\w.-]+\/[\w.-]+$/.test(name)) {
    return { repoId: name, dir: join(ws.modelsDir, name.split('/')[1]!.toLowerCase()), title: name };
  }
  throw new MedtuneError({
    doing: `fetching model ${name}`,
    problem: `"${name}" is neither a model medtune knows nor a hub repository id (org/name)`,
    next: 'known models: `medtune model list`; or pass a repository id such as Qwen/Qwen2-VL-2B-Instruct',
    code: 'UNKNOWN_MODEL',
  });
}

/**
 * Downloads a base model into <workspace>/models/<name>. Fails within seconds when the hub is unreachable
 * or the repository gated, having written nothing; an interrupted download resumes on the next call.
 */
export async function fetchModel(ws: Workspace, venv: Venv, name: string, hub: Hub = 'hf', opts: FetchOptions = {}): Promise<FetchResult> {
  const target = resolveFetchTarget(ws, name, hub);
  if (existsSync(target.dir)) {
    const entry = await inspectModelDir(target.dir);
    if (entry.complete) {
      const files = await walk(target.dir);
      return {
        dir: target.dir,
        repoId: target.repoId,
        hub,
        bytes: entry.bytes,
        files: files.map((f) => f.path),
        seconds: 0,
        alreadyPresent: true,
      };
    }
    throw new MedtuneError({
      doing: `fetching ${target.title} into ${target.dir}`,
      problem: 'that folder exists but is not a complete model',
      details: entry.missing,
      next: `complete it by copying the missing files from the original model, or remove ${target.dir} and fetch again`,
      code: 'MODEL_DIR_INCOMPLETE',
    });
  }
  const probe = opts.probeTimeoutS ?? 5;
  const args = ['--repo-id', target.repoId, '--hub', hub, '--out', target.dir, '--probe-timeout', String(probe)];
  if (opts.revision) args.push('--revision', opts.revision);
  const parsed = await runHelper('fetch_model', args, FetchHelperResult, {
    venv,
    doing: `fetching ${target.title} (${target.repoId}) from ${HUB_TITLES[hub]}`,
    // Short per-request timeouts (unless the user set their own): a dead connection fails the download
    // instead of hanging it.
    env: {
      HF_HUB_ETAG_TIMEOUT: process.env.HF_HUB_ETAG_TIMEOUT ?? String(probe),
      HF_HUB_DOWNLOAD_TIMEOUT: process.env.HF_HUB_DOWNLOAD_TIMEOUT ?? '30',
      ...opts.env,
    },
    signal: opts.signal,
    onEvent: (e) => {
      if (e.event === 'progress') opts.onProgress?.(e);
    },
  });
  const known = findKnownModel(name);
  await writeJsonAtomic(join(target.dir, MODEL_RECORD), {
    name: known?.name ?? target.repoId,
    source: hub,
    repoId: target.repoId,
    revision: parsed.revision,
    createdAt: new Date().toISOString(),
  } satisfies ModelRecord);
  return {
    dir: parsed.dir,
    repoId: parsed.repo_id,
    hub,
    revision: parsed.revision,
    bytes: parsed.bytes,
    files: parsed.files,
    seconds: parsed.seconds,
    alreadyPresent: false,
  };
}
