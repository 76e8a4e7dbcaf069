/**
 * Scans wherever an image is accepted: DICOM files, DICOM folders and NIfTI volumes are converted by the scans
 * helper into PNGs in the workspace's scans/ folder (named by a digest of the scan's bytes, so nothing from the
 * scan's path or header reaches a file name), and ordinary images pass through untouched.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import {
  describeScan,
  isRefused,
  parseSlices,
  parseWindow,
  ScanResult,
  scanKindOf,
  slicesArg,
  windowArg,
  type ConvertedScan,
  type RefusedScan,
  type ScanKind,
} from '../core/scans.js';
import { runHelper } from './pythonhelper.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export interface ScanOptions {
  /** auto, a preset (lung, mediastinum, bone, brain, abdomen) or CENTER/WIDTH. */
  window?: string;
  /** middle, N, N,M,… (0-based) or even:K. */
  slices?: string;
}

/** Where converted scans go: content-addressed PNGs, shared by ask, compare and the TUI. */
export const scansDir = (ws: Workspace) => join(ws.root, 'scans');

async function head(file: string): Promise<Uint8Array | null> {
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(132);
      const { bytesRead } = await fh.read(buf, 0, 132, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/** 'folder' for a directory (a series or a study), the scan kind of a file, or null for anything else. */
export async function scanInputKind(path: string): Promise<ScanKind | 'folder' | null> {
  const st = await stat(path).catch(() => null);
  if (!st) return null;
  if (st.isDirectory()) return 'folder';
  return scanKindOf(basename(path), await head(path));
}

export function checkScanOptions(opts: ScanOptions, doing: string): { window: string; slices: string } {
  const w = parseWindow(opts.window);
  if (!w.ok) throw new MedtuneError({ doing, problem: w.problem, next: 'pass --window auto, a preset or C/W', code: 'BAD_WINDOW' });
  const s = parseSlices(opts.slices);
  if (!s.ok) throw new MedtuneError({ doing, problem: s.problem, next: 'pass --slices middle, N, N,M or even:K', code: 'BAD_SLICES' });
  return { window: windowArg(w.value), slices: slicesArg(s.value) };
}

export interface ConvertedInput {
  /** The path as given. */
  input: string;
  scans: ConvertedScan[];
  refused: RefusedScan[];
}

/** Converts scan paths (files or folders) into PNGs under scans/; one entry per input, in order. */
export async function convertScans(
  ws: Workspace,
  venv: Venv,
  inputs: string[],
  opts: ScanOptions = {},
  signal?: AbortSignal,
): Promise<ConvertedInput[]> {
  const doing = 'converting scans into images';
  const args = checkScanOptions(opts, doing);
  if (!inputs.length) return [];
  const converted = await runHelper(
    'scans',
    ['convert', '--out', scansDir(ws), `--window=${args.window}`, `--slices=${args.slices}`, ...inputs.map((i) => resolve(i))],
    ScanResult,
    { venv, doing, signal },
  );
  return inputs.map((input, i) => {
    const items = converted.items.filter((it) => it.input === i);
    return { input, scans: items.filter((it): it is ConvertedScan => !isRefused(it)), refused: items.filter(isRefused) };
  });
}

export interface ResolvedImages {
  /** What the model receives, in order: ordinary images as given, scans as converted PNGs. */
  images: string[];
  /** The same images by input (a scan folder or a volume can give several). */
  groups: string[][];
  /** One line per converted scan and per refusal, for people. */
  notes: string[];
}

/**
 * The images a request names, with scans converted. An input that yields no image at all (a lone segmentation,
 * a truncated file, a folder without a scan) is an error; refused members of a folder that gave other images
 * are reported in the notes.
 */
export async function resolveImages(
  ws: Workspace,
  venv: Venv | (() => Promise<Venv>),
  inputs: string[],
  opts: ScanOptions = {},
  doing = 'reading the images',
): Promise<ResolvedImages> {
  const kinds = await Promise.all(inputs.map((i) => scanInputKind(resolve(i))));
  const scanIdx = inputs.map((_, i) => i).filter((i) => kinds[i] !== null);
  if (!scanIdx.length) {
    checkScanOptions(opts, doing);
    const images = inputs.map((i) => resolve(i));
    return { images, groups: images.map((i) => [i]), notes: [] };
  }
  const v = typeof venv === 'function' ? await venv() : venv;
  const converted = await convertScans(
    ws,
    v,
    scanIdx.map((i) => inputs[i]!),
    opts,
  );
  const groups: string[][] = [];
  const notes: string[] = [];
  let next = 0;
  inputs.forEach((input, i) => {
    if (kinds[i] === null) {
      groups.push([resolve(input)]);
      return;
    }
    const c = converted[next++]!;
    const name = `input ${i + 1}`;
    if (!c.scans.length) {
      const first = c.refused[0]?.refused;
      throw new MedtuneError({
        doing,
        problem: `${name} (${input}) gave no image: ${first ? first.reason : 'nothing in it could be read'}${c.refused.length > 1 ? ` (and ${c.refused.length - 1} more refusal(s))` : ''}`,
        next: 'pass a DICOM image, a series folder or a NIfTI volume (segmentations, reports and DICOMDIR indexes are not images)',
        code: first ? `SCAN_${first.code}` : 'SCAN_REFUSED',
      });
    }
    const group: string[] = [];
    for (const s of c.scans) {
      group.push(...s.images.map((im) => im.file));
      notes.push(`${name}: ${describeScan(s)}`);
    }
    groups.push(group);
    for (const r of c.refused) notes.push(`${name}: skipped one member (${r.refused.code}: ${r.refused.reason})`);
  });
  return { images: groups.flat(), groups, notes };
}

/**
 * Whether a folder holds scans (DICOM or NIfTI) rather than MedTrinity files: no parquet or .tar.zst in it, and
 * at least one scan among the first files of a breadth-first walk.
 */
export async function isScanFolder(dir: string, budget = 400): Promise<boolean> {
  const queue = [dir];
  let seen = 0;
  let found = false;
  while (queue.length && seen < budget) {
    const d = queue.shift()!;
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) {
        queue.push(p);
        continue;
      }
      if (/\.(parquet|tar\.zst)$/i.test(e.name)) return false;
      if (++seen > budget) break;
      if (!found && scanKindOf(e.name, await head(p)) !== null) found = true;
    }
  }
  return found;
}

export interface ScanDatasetOptions extends ScanOptions {
  source: string;
  name: string;
  /** CSV with `series,caption`; without it the rows have empty answers (an inference set). */
  captions?: string;
  valRatio?: number;
  lang?: string;
  force?: boolean;
  signal?: AbortSignal;
}

/** The scans helper's `dataset` arguments (runtime/datasets.ts registers the result). */
export function scanDatasetArgs(ws: Workspace, opts: ScanDatasetOptions, templatesDir: string): string[] {
  const args = checkScanOptions(opts, `preparing dataset ${opts.name}`);
  const out = [
    '--source',
    resolve(opts.source),
    '--data-dir',
    ws.dataDir,
    '--name',
    opts.name,
    '--templates',
    templatesDir,
    `--window=${args.window}`,
    `--slices=${args.slices}`,
    '--val-ratio',
    String(opts.valRatio ?? 0),
  ];
  if (opts.captions) out.push('--captions', resolve(opts.captions));
  if (opts.lang) out.push('--lang', opts.lang);
  if (opts.force) out.push('--force');
  return out;
}
