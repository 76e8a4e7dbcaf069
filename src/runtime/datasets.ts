/**
 * Datasets in a workspace: prepare (Python helper data_prepare), register in dataset_info.json (under a lock,
 * atomically, other entries untouched), list, preview and check (Python helper data_check).
 */
import { DATA_SOURCES } from '../core/datasources.js';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { MedtuneError } from '../core/errors.js';
import { cmd } from '../core/nextstep.js';
import {
  CheckResult,
  DatasetManifest,
  PrepareResult as HelperResult,
  datasetNameProblem,
  entryNames,
  listingsFor,
  previewRow,
  sourceKind,
  withDatasetEntries,
  type DataProgress,
  type DatasetListing,
  type Lang,
  type PrepareResult,
  type PreviewRow,
} from '../core/dataset.js';
import type { HelperEvent } from '../core/protocol.js';
import { parseDatasetRows, type DatasetRow } from '../core/evalreport.js';
import { readDatasetInfo, updateDatasetInfo } from './datasetinfo.js';
import { requireRoom, treeBytes } from './diskwatch.js';
import { runHelper } from './pythonhelper.js';
import { isScanFolder, scanDatasetArgs } from './scans.js';
import { cacheRoot, TEMPLATES_DIR } from './paths.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

async function statSize(path: string): Promise<number> {
  return stat(path).then(
    (s) => (s.isFile() ? s.size : 0),
    () => 0,
  );
}

export interface PrepareOptions {
  /** `sample`, `hub:25M_demo`, `hub:25M_full`, or a parquet file / folder (relative to the current directory). */
  source: string;
  name: string;
  limit?: number;
  /** Share of rows (by a hash of the id) written to val.jsonl; default 0.05. */
  valRatio?: number;
  /** Comma-separated modalities to keep, e.g. `CT,MRI`. */
  modality?: string;
  lang?: Lang;
  /** Parallel worker processes; default one per core. */
  workers?: number;
  maxPixels?: number;
  /** Rows per resumable unit of work (row groups are grouped up to this); default 1000. */
  unitRows?: number;
  /** Replace a dataset of the same name prepared from other data or options. */
  force?: boolean;
  /** Scan folders (DICOM, NIfTI): a CSV of `series,caption`; without it, an inference set with empty answers. */
  captions?: string;
  /** Scan folders: the window and slices the model sees (see runtime/scans.ts). */
  window?: string;
  slices?: string;
  /** GiB to leave free on the dataset's disk: the estimated output is checked against free space first (default 1). */
  minFreeGib?: number;
  signal?: AbortSignal;
  onLog?: (message: string) => void;
}

type OnProgress = (p: DataProgress) => void;

function relay(onProgress?: OnProgress, onLog?: (m: string) => void): (e: HelperEvent) => void {
  return (e) => {
    if (e.event === 'progress') onProgress?.({ phase: e.phase, done: e.done ?? 0, total: e.total ?? null, message: e.message });
    else if (e.event === 'log') onLog?.(e.message);
  };
}

/** Sets the entries of `name` in dataset_info.json, under its lock, leaving every other entry as it was. */
export async function registerDataset(ws: Workspace, name: string, hasVal: boolean): Promise<{ train: string; val: string | null }> {
  await updateDatasetInfo(ws, (info) => withDatasetEntries(info, name, hasVal));
  const names = entryNames(name);
  return { train: names.train, val: hasVal ? names.val : null };
}

/** The data_prepare helper's arguments for these options (the same options always give the same arguments). */
export function prepareArgs(ws: Workspace, opts: PrepareOptions): string[] {
  const source = sourceKind(opts.source) === 'local' && !isAbsolute(opts.source) ? resolve(opts.source) : opts.source;
  const args = [
    '--data-dir',
    ws.dataDir,
    '--name',
    opts.name,
    '--source',
    source,
    '--templates',
    join(TEMPLATES_DIR, 'questions'),
    '--cache',
    join(cacheRoot(), 'datasets'),
  ];
  if (opts.limit !== undefined) args.push('--limit', String(opts.limit));
  if (opts.valRatio !== undefined) args.push('--val-ratio', String(opts.valRatio));
  if (opts.modality) args.push('--modality', opts.modality);
  if (opts.lang) args.push('--lang', opts.lang);
  if (opts.workers !== undefined) args.push('--workers', String(opts.workers));
  if (opts.maxPixels !== undefined) args.push('--max-pixels', String(opts.maxPixels));
  if (opts.unitRows !== undefined) args.push('--unit-rows', String(opts.unitRows));
  if (opts.force) args.push('--force');
  if (opts.minFreeGib !== undefined) args.push('--min-free-gib', String(opts.minFreeGib));
  return args;
}

/** Converts a source (not a benchmark's: bench.ts) into data/<name>/ and registers it; resumes an interrupted run of the same command. */
export async function prepareDataset(ws: Workspace, venv: Venv, opts: PrepareOptions, onProgress?: OnProgress): Promise<PrepareResult> {
  const doing = `preparing dataset ${opts.name}`;
  const nameProblem = datasetNameProblem(opts.name);
  if (nameProblem) throw new MedtuneError({ doing, problem: nameProblem, next: 'pass another --name', code: 'BAD_NAME' });
  // Fail before a long conversion, not after it, when the registry cannot be updated.
  await readDatasetInfo(ws);
  // Images are copied as they are: the output is about the size of a local source.
  await mkdir(ws.dataDir, { recursive: true });
  const source = sourceKind(opts.source) === 'local' ? resolve(opts.source) : null;
  await requireRoom(ws.dataDir, source ? await treeBytes(source).then((b) => b || statSize(source)) : 0, {
    doing,
    next: 'free disk where data/ lives (or move the workspace), then run the same command again: it resumes',
  });
  const scans = source !== null && (opts.captions !== undefined || (await isScanFolder(source)));
  const args = scans ? scanDatasetArgs(ws, opts, join(TEMPLATES_DIR, 'questions')) : prepareArgs(ws, opts);
  const result = await runHelper(scans ? 'scan_dataset' : 'data_prepare', args, HelperResult, {
    venv,
    doing,
    onEvent: relay(onProgress, opts.onLog),
    signal: opts.signal,
  });
  const entries = await registerDataset(ws, opts.name, result.val > 0);
  return { ...result, entries };
}

/** Runs LLaMA-Factory's row checks (and image decoding) over `name` and `name_val`. */
export async function checkDataset(
  ws: Workspace,
  venv: Venv,
  name: string,
  onProgress?: OnProgress,
  signal?: AbortSignal,
): Promise<CheckResult> {
  const doing = `checking dataset ${name}`;
  return runHelper('data_check', ['--data-dir', ws.dataDir, '--name', name], CheckResult, {
    venv,
    doing,
    onEvent: relay(onProgress),
    signal,
  });
}

/** Manifests of the prepared datasets in data/, by folder name (folders without a readable manifest are left out). */
export async function readManifests(ws: Workspace): Promise<Record<string, DatasetManifest>> {
  const out: Record<string, DatasetManifest> = {};
  let dirs: string[];
  try {
    dirs = (await readdir(ws.dataDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name);
  } catch {
    return out;
  }
  for (const d of dirs.sort()) {
    const text = await readFile(join(ws.dataDir, d, 'manifest.json'), 'utf8').catch(() => null);
    if (text === null) continue;
    try {
      const m = DatasetManifest.safeParse(JSON.parse(text));
      if (m.success) out[d] = m.data;
    } catch {
      // a half-written or foreign manifest: the folder is not listed as a medtune dataset
    }
  }
  return out;
}

export interface DatasetListingEntry extends DatasetListing {
  registered: boolean;
}

/** Every dataset_info.json entry, plus prepared datasets whose entries are missing (registered: false). */
export async function listDatasets(ws: Workspace): Promise<DatasetListingEntry[]> {
  const [info, manifests] = await Promise.all([readDatasetInfo(ws), readManifests(ws)]);
  const listed: DatasetListingEntry[] = listingsFor(info, manifests).map((l) => ({ ...l, registered: true }));
  for (const [name, m] of Object.entries(manifests)) {
    if (info[name]) continue;
    listed.push({
      entry: name,
      dataset: name,
      split: 'train',
      file: `${name}/train.jsonl`,
      rows: m.counts.train,
      modalities: m.modalities.train,
      source: m.source.spec,
      createdAt: m.created_at,
      registered: false,
    });
  }
  return listed;
}

export interface PreviewOptions {
  limit?: number;
  offset?: number;
}

export interface DatasetPreviewResult {
  entry: string;
  dataset: string | null;
  file: string;
  split: 'train' | 'val' | null;
  /** Rows in the file (from the manifest; counted when there is none). */
  total: number;
  manifest: DatasetManifest | null;
  rows: (PreviewRow & { imagePaths: string[] })[];
}

/** Reads `limit` rows of an entry's file from `offset` (streamed: a 25M-row file costs no more than a small one). */
export async function previewDataset(ws: Workspace, entry: string, opts: PreviewOptions = {}): Promise<DatasetPreviewResult> {
  const limit = opts.limit ?? 5;
  const offset = opts.offset ?? 0;
  const info = await readDatasetInfo(ws);
  const e = info[entry];
  if (!e?.file_name) {
    throw new MedtuneError({
      doing: `previewing dataset ${entry}`,
      problem: e ? `${entry} is not a local file entry` : `${entry} is not registered in ${ws.datasetInfo}`,
      next: [`registered: ${Object.keys(info).join(', ') || 'none'} (see `, cmd('data', 'list'), ')'],
      code: 'UNKNOWN_DATASET',
    });
  }
  const file = join(ws.dataDir, e.file_name);
  const manifests = await readManifests(ws);
  const listing = listingsFor({ [entry]: e }, manifests)[0]!;
  const manifest = listing.dataset ? (manifests[listing.dataset] ?? null) : null;
  const rows: DatasetPreviewResult['rows'] = [];
  let count = 0;
  const toAbs = (p: string) => (existsSync(join(ws.dataDir, p)) ? join(ws.dataDir, p) : resolve(p));
  if (e.file_name.endsWith('.json')) {
    const all = JSON.parse(await readFile(file, 'utf8')) as unknown[];
    count = all.length;
    all.slice(offset, offset + limit).forEach((r, i) => {
      const row = previewRow(offset + i + 1, r);
      rows.push({ ...row, imagePaths: row.images.map(toAbs) });
    });
  } else {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let lineNo = 0;
    for await (const line of lines) {
      lineNo++;
      if (!line.trim()) continue;
      if (count >= offset && rows.length < limit) {
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(line);
        } catch {
          // shown as an empty row; `medtune data check` reports why
        }
        const row = previewRow(lineNo, parsed);
        rows.push({ ...row, imagePaths: row.images.map(toAbs) });
      }
      count++;
      if (listing.rows !== null && rows.length >= limit) break;
    }
  }
  return { entry, dataset: listing.dataset, file: e.file_name, split: listing.split, total: listing.rows ?? count, manifest, rows };
}

export interface DataSourceInfo {
  id: string;
  label: string;
  description: string;
  available: boolean;
  detail?: string;
  /** The dataset name `data prepare` gives it without --name ('' for a path: it follows the path). */
  defaultName: string;
  /** The source is a path the user gives (a folder, parquet files, DICOM/NIfTI scans): `id` is not passed on. */
  path?: boolean;
}

/** Local files, named by their path: what `data prepare --source PATH` takes. */
export const LOCAL_SOURCE: DataSourceInfo = {
  id: 'local',
  label: 'Local files (a path)',
  description:
    'a folder of images with a captions file, a parquet file or folder of them, a folder of DICOM/NIfTI scans, or a benchmark copy (bench:ID:DIR)',
  available: true,
  defaultName: '',
  path: true,
};

/** Where `data prepare` can read from on this machine. */
export function listDataSources(env: NodeJS.ProcessEnv = process.env): DataSourceInfo[] {
  const offline = /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
  const token = !!(env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN);
  const hubDetail = offline
    ? 'HF_HUB_OFFLINE is set'
    : token
      ? 'HF_TOKEN is set (the dataset is gated: accept its conditions first)'
      : 'gated: set HF_TOKEN after accepting the conditions on the dataset page';
  return [
    ...DATA_SOURCES.map((e) => ({
      id: e.id,
      label: e.label,
      description: e.description,
      defaultName: e.defaultName,
      ...(e.hub ? { available: !offline, detail: hubDetail } : { available: true }),
    })),
    LOCAL_SOURCE,
  ];
}

/** The rows of a registered dataset entry, with image paths made absolute. */
export async function readDatasetRows(ws: Workspace, entry: string): Promise<DatasetRow[]> {
  const info = await readDatasetInfo(ws);
  const file = info[entry]?.file_name;
  if (!file) {
    throw new MedtuneError({
      doing: `reading dataset ${entry}`,
      problem: `${entry} is not a file dataset registered in ${ws.datasetInfo}`,
      next: [`registered: ${Object.keys(info).join(', ') || 'none'}; see `, cmd('data', 'list')],
      code: 'DATASET_UNDEFINED',
    });
  }
  const rows = parseDatasetRows(await readFile(join(ws.dataDir, file), 'utf8'));
  return rows.map((r) => ({ ...r, images: (r.images ?? []).map((i) => (isAbsolute(i) ? i : join(ws.dataDir, i))) }));
}
