/** Models, profiles and images as the faces list and show them. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseConfigYaml, type Profile, type TrainConfig } from '../core/trainconfig.js';
import { runHelper } from '../runtime/pythonhelper.js';
import { buildTinyModel, fetchModel, listModels, type FetchOptions, type ModelEntry, type TinyModelOptions } from '../runtime/models.js';
import { TEMPLATES_DIR } from '../runtime/paths.js';
import { loadProfiles } from '../runtime/planner.js';
import type { Hub } from '../core/models.js';
import type { App } from './context.js';

export async function models(app: App): Promise<ModelEntry[]> {
  return listModels(app.ws);
}

/** Builds the tiny random Qwen2-VL offline (models/tiny-qwen2-vl unless `opts.out`). */
export async function tinyModel(app: App, onProgress: Parameters<typeof buildTinyModel>[2], opts: TinyModelOptions = {}) {
  return buildTinyModel(app.ws, await app.venv(), onProgress, opts);
}

/** Downloads a base model (a known name or a hub repository id) into models/. */
export async function fetchBaseModel(app: App, name: string, hub: Hub, opts: FetchOptions = {}) {
  return fetchModel(app.ws, await app.venv(), name, hub, opts);
}

export interface ProfileView {
  name: string;
  description: string;
  profile: Profile;
  /** The train template's values with the profile's on top: what a form shows before anything is typed. */
  values: TrainConfig;
}

export async function profiles(): Promise<ProfileView[]> {
  const file = join(TEMPLATES_DIR, 'train', 'lora_sft.yaml');
  const template: TrainConfig = parseConfigYaml(await readFile(file, 'utf8'), file);
  return Object.entries(await loadProfiles()).map(([name, p]) => ({
    name,
    description: p.description,
    profile: p,
    values: { ...template, ...(p.values as TrainConfig) },
  }));
}

const Thumbnails = z.object({
  images: z.array(
    z.union([
      z.object({ path: z.string(), width: z.number().int(), height: z.number().int(), rgb: z.string() }),
      z.object({ path: z.string(), error: z.string() }),
    ]),
  ),
});

export interface Thumbnail {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Images decoded and downscaled (largest side `maxSide`) for a terminal; unreadable ones are left out. */
export async function thumbnails(app: App, paths: string[], maxSide: number): Promise<Map<string, Thumbnail>> {
  const out = new Map<string, Thumbnail>();
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length === 0) return out;
  const { images } = await runHelper('thumbnails', ['--max-side', String(maxSide), ...existing], Thumbnails, {
    venv: await app.venv(),
    doing: 'decoding images for the preview',
  });
  for (const img of images) {
    if ('rgb' in img) out.set(img.path, { width: img.width, height: img.height, rgb: new Uint8Array(Buffer.from(img.rgb, 'base64')) });
  }
  return out;
}
