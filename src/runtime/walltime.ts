/**
 * The wall-time estimate (core/walltime.ts) where it meets the machine: what a sample of the training data costs
 * (mean tokens and vision-tower patches over rows spread evenly through each dataset's file, each image's size read
 * from its header only), the model's config and processor, and the GPUs the run will use.
 */
import { open, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { imageSizeFromHeader } from '../core/imagesize.js';
import { trainOptions } from '../core/options.js';
import {
  estimateWallTime,
  imagePatches,
  modelFlopsShape,
  type PixelLimits,
  pixelLimits,
  rowTextAndImages,
  sampleTokens,
  type WallTimeEstimate,
} from '../core/walltime.js';
import { readDatasetInfo } from './datasetinfo.js';
import type { Workspace } from './workspace.js';

/** Rows read per dataset: the mean of 64 rows of one dataset varies by a few percent. */
const ROWS_PER_DATASET = 64;
/** Bytes of an image read for its size: JPEG's frame header sits after EXIF/ICC segments, seldom past 256 KiB. */
const HEADER_BYTES = 256 * 1024;

export interface DataShape {
  /** Mean tokens per sample (text from characters, template, image tokens), at most cutoff_len. */
  tokens: number;
  patches: number;
  rows: number;
}

async function headerOf(path: string): Promise<Uint8Array | null> {
  const f = await open(path, 'r').catch(() => null);
  if (!f) return null;
  try {
    const buf = new Uint8Array(HEADER_BYTES);
    const { bytesRead } = await f.read(buf, 0, HEADER_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await f.close();
  }
}

/** Null when no row of the datasets could be read (a missing file is reported by the plan's own count). */
export async function measureDataShape(
  ws: Workspace,
  datasets: string[],
  limits: PixelLimits,
  cutoffLen: number,
): Promise<DataShape | null> {
  const info = await readDatasetInfo(ws);
  let tokens = 0;
  let patches = 0;
  let rows = 0;
  for (const name of datasets) {
    const entry = info[name];
    if (!entry?.file_name) continue;
    const text = await readFile(join(ws.dataDir, entry.file_name), 'utf8').catch(() => '');
    const trimmed = text.trim();
    let all: unknown[];
    try {
      all = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown[]) : trimmed.split('\n').filter(Boolean);
    } catch {
      continue;
    }
    const step = Math.max(1, all.length / ROWS_PER_DATASET);
    for (let i = 0; i < all.length; i += step) {
      let row = all[Math.floor(i)];
      if (typeof row === 'string') {
        try {
          row = JSON.parse(row);
        } catch {
          continue;
        }
      }
      const r = rowTextAndImages(row, entry);
      let p = 0;
      for (const img of r.images) {
        const header = await headerOf(isAbsolute(img) ? img : join(ws.dataDir, img));
        const size = header && imageSizeFromHeader(header);
        if (size) p += imagePatches(size.width, size.height, limits);
      }
      tokens += sampleTokens(r.textChars, p, limits.mergeSize, cutoffLen);
      patches += p;
      rows++;
    }
  }
  return rows ? { tokens: tokens / rows, patches: patches / rows, rows } : null;
}

export interface WallTimePlan {
  ws: Workspace;
  profile: string;
  config: Record<string, unknown>;
  profileValues: Record<string, unknown>;
  modelDir: string;
  modelConfig: Record<string, unknown>;
  datasets: string[];
  /** Training samples after max_samples and val_size. */
  samples: number;
  totalSteps: number;
  /** Processes training in parallel (their samples per step add up). */
  devices: number;
  /** nvidia-smi names of the GPUs this run will use; empty on a machine without one. */
  gpuNames: string[];
}

/** The estimate of a planned run; null for the cpu profile, a model medtune cannot size, or data it cannot read. */
export async function planWallTime(p: WallTimePlan): Promise<WallTimeEstimate | null> {
  const shape = modelFlopsShape(p.modelConfig);
  if (!shape) return null;
  const processor = await readFile(join(p.modelDir, 'preprocessor_config.json'), 'utf8')
    .then((t) => JSON.parse(t) as Record<string, unknown>)
    .catch(() => ({}));
  const limits = pixelLimits(p.config, processor, shape);
  const o = trainOptions(p.config);
  const data = await measureDataShape(p.ws, p.datasets, limits, o.cutoff_len);
  if (!data) return null;
  const perStep = o.per_device_train_batch_size * o.gradient_accumulation_steps * p.devices;
  const maxSteps = o.max_steps ?? 0;
  const epochs = o.num_train_epochs;
  return estimateWallTime({
    profile: p.profile,
    config: p.config,
    profileValues: p.profileValues,
    shape,
    tokens: data.tokens,
    patches: data.patches,
    samplesTotal: maxSteps > 0 ? p.totalSteps * perStep : p.samples * epochs,
    gpuNames: p.gpuNames,
  });
}
