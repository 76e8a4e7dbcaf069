/**
 * Base models medtune knows, and what a model folder must hold to be trained, exported and served.
 * Pure: callers pass file lists and parsed JSON; nothing here touches the disk.
 */
import { z } from 'zod';
import { DEFAULT_FAMILY, familyOfModelType } from './families.js';
import { formatBytes } from './format.js';

export type Hub = 'hf' | 'modelscope';
export const HUBS: readonly Hub[] = ['hf', 'modelscope'];
export const HUB_TITLES: Record<Hub, string> = { hf: 'Hugging Face', modelscope: 'ModelScope' };

export interface KnownModel {
  /** medtune's short name, also the folder under <workspace>/models. */
  name: string;
  title: string;
  /** Repository id per hub; empty for models medtune builds itself. */
  hubIds: Partial<Record<Hub, string>>;
  /** LLaMA-Factory `template`. */
  template: string;
  /** Parameter count of the full model (LLM + ViT). */
  params: number;
  /** Bytes of the weights as published (for disk checks before a download). */
  weightBytes: number;
  source: 'hub' | 'built';
  /** The config.json model_type this model has. */
  modelType: string;
}

/** Both known models (and the tiny one medtune builds) are Qwen2-VL. */
const QWEN2_VL = DEFAULT_FAMILY;

export const TINY_MODEL_NAME = 'tiny';
export const TINY_MODEL_DIR = 'tiny-qwen2-vl';

/**
 * Train values that depend on the model, over the profile's: the tiny offline model (276K parameters, random
 * weights) learns the sample set only with a large LoRA rank and learning rate; at rank 8 and 1e-4 it learns
 * nothing in the demo's epochs (the demo measured 93% against 0% with these).
 */
export const TINY_TRAIN_VALUES: Readonly<Record<string, number>> = { lora_rank: 64, lora_alpha: 128, learning_rate: 5.0e-3 };

/** The model's own train values (empty for every model but the tiny one); `model` is a name or a path. */
export function modelTrainValues(model: string): Readonly<Record<string, number>> {
  return model.replace(/\/+$/, '').split('/').pop() === TINY_MODEL_DIR ? TINY_TRAIN_VALUES : {};
}

export const KNOWN_MODELS: readonly KnownModel[] = [
  {
    name: 'qwen2-vl-2b',
    title: 'Qwen2-VL-2B-Instruct',
    hubIds: { hf: 'Qwen/Qwen2-VL-2B-Instruct', modelscope: 'qwen/Qwen2-VL-2B-Instruct' },
    template: QWEN2_VL.template,
    // Instantiated from the published config: LLM 1,543,714,304 + ViT 665,271,296.
    params: 2_208_985_600,
    // Two bf16 shards, 3.99 GB + 429 MB.
    weightBytes: 4_420_000_000,
    source: 'hub',
    modelType: QWEN2_VL.modelTypes[0]!,
  },
  {
    name: TINY_MODEL_NAME,
    title: 'tiny random Qwen2-VL (built offline)',
    hubIds: {},
    template: QWEN2_VL.template,
    // Default sizes of python/medtune_py/tiny_model.py.
    params: 288_800,
    weightBytes: 1_162_112,
    source: 'built',
    modelType: QWEN2_VL.modelTypes[0]!,
  },
];

/** A known model by name; also accepts its folder name and, case-insensitively, a hub id. */
export function findKnownModel(nameOrId: string): KnownModel | undefined {
  const key = nameOrId.trim().toLowerCase();
  return KNOWN_MODELS.find(
    (m) => m.name === key || modelDirName(m) === key || Object.values(m.hubIds).some((id) => id.toLowerCase() === key),
  );
}

/** The folder under <workspace>/models a known model lives in. */
export function modelDirName(model: KnownModel): string {
  return model.name === TINY_MODEL_NAME ? TINY_MODEL_DIR : model.name;
}

/** LLaMA-Factory template for a config.json model_type, when medtune knows its family. */
export function templateForModelType(modelType: string | undefined): string | null {
  return familyOfModelType(modelType)?.template ?? null;
}

export type ModelPart = 'config' | 'weights' | 'tokenizer' | 'processor' | 'chat_template';

/**
 * Each part a model folder needs, as alternative file sets: the transformers-5 layout first, then the
 * legacy Hub layout. Kept in step with REQUIRED in python/medtune_py/verify_export.py.
 */
export const REQUIRED_FILES: Record<ModelPart, readonly (readonly string[])[]> = {
  config: [['config.json']],
  weights: [['model.safetensors'], ['model.safetensors.index.json']],
  tokenizer: [
    ['tokenizer.json', 'tokenizer_config.json'],
    ['vocab.json', 'merges.txt', 'tokenizer_config.json'],
  ],
  processor: [['processor_config.json'], ['preprocessor_config.json']],
  chat_template: [['chat_template.jinja'], ['chat_template.json']],
};

export interface MissingPart {
  part: ModelPart;
  /** Any one of these file sets would do. */
  anyOf: string[][];
}

export interface ModelFilesReport {
  complete: boolean;
  present: ModelPart[];
  missing: MissingPart[];
  /** Shards named model-0000i-of-0000N.safetensors that are absent although a sibling shard exists. */
  missingShards: string[];
}

const SHARD = /^model-(\d+)-of-(\d+)\.safetensors$/;

function shardName(i: number, n: number, width: number): string {
  return `model-${String(i).padStart(width, '0')}-of-${String(n).padStart(width, '0')}.safetensors`;
}

/**
 * Which required files a model folder lacks, given its file names (relative, '/'-separated) and, for a
 * sharded checkpoint, the shard files its model.safetensors.index.json names.
 */
export function inspectModelFiles(files: readonly string[], indexShards: readonly string[] = []): ModelFilesReport {
  const have = new Set(files.map((f) => f.replace(/^\.\//, '')));
  const present: ModelPart[] = [];
  const missing: MissingPart[] = [];
  for (const [part, alternatives] of Object.entries(REQUIRED_FILES) as [ModelPart, readonly (readonly string[])[]][]) {
    if (alternatives.some((alt) => alt.every((f) => have.has(f)))) present.push(part);
    else missing.push({ part, anyOf: alternatives.map((alt) => [...alt]) });
  }
  const missingShards: string[] = [];
  const shards = [...have].map((f) => SHARD.exec(f)).filter((m): m is RegExpExecArray => m !== null);
  if (shards.length) {
    const first = shards[0]!;
    const n = Number(first[2]);
    const width = first[2]!.length;
    for (let i = 1; i <= n; i++) {
      const name = shardName(i, n, width);
      if (!have.has(name)) missingShards.push(name);
    }
  }
  for (const name of new Set(indexShards)) {
    if (!have.has(name) && !missingShards.includes(name)) missingShards.push(name);
  }
  return { complete: missing.length === 0 && missingShards.length === 0, present, missing, missingShards };
}

/** One line per problem, for errors and `model list`. */
export function describeMissing(report: ModelFilesReport): string[] {
  const lines = report.missing.map((m) => `${m.part}: ${m.anyOf.map((alt) => alt.join(' + ')).join(' or ')}`);
  if (report.missingShards.length) lines.push(`weight shards: ${report.missingShards.join(', ')}`);
  return lines;
}

/** The shard files a model.safetensors.index.json maps weights to. */
export function shardsInIndex(index: unknown): string[] {
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object') return [];
  return [...new Set(Object.values(map as Record<string, unknown>).filter((v): v is string => typeof v === 'string'))].sort();
}

/** Parameters described by a safetensors header (the JSON after the 8-byte length). */
export function countSafetensorsParams(header: Record<string, unknown>): number {
  let total = 0;
  for (const [key, value] of Object.entries(header)) {
    if (key === '__metadata__' || !value || typeof value !== 'object') continue;
    const shape = (value as { shape?: unknown }).shape;
    if (!Array.isArray(shape)) continue;
    total += shape.reduce((acc: number, d) => acc * (typeof d === 'number' ? d : 0), 1);
  }
  return total;
}

/** What `model list` shows a folder as: a known model's name, or 'custom'. */
export function classifyModel(input: { dirName: string; modelType?: string; recordedName?: string }): string {
  if (input.recordedName && findKnownModel(input.recordedName)) return findKnownModel(input.recordedName)!.name;
  const byDir = findKnownModel(input.dirName);
  if (byDir && (!input.modelType || byDir.modelType === input.modelType)) return byDir.name;
  return 'custom';
}

/** A parameter count as people say it: 2.21B, 276K. */
export function formatParams(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '?';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

/** "12.3 MiB of 4.1 GiB" for a helper's byte progress, else its own message. */
export function describeProgress(e: { unit?: string; done?: number; total?: number | null; message?: string }): string | undefined {
  if (e.unit === 'B' && e.done !== undefined) return e.total ? `${formatBytes(e.done)} of ${formatBytes(e.total)}` : formatBytes(e.done);
  return e.message;
}

/** medtune's note in a model folder of where it came from; transformers ignores it. */
export const MODEL_RECORD = 'medtune-model.json';

export const ModelRecord = z.object({
  name: z.string(),
  source: z.enum(['built', 'hf', 'modelscope']),
  repoId: z.string().optional(),
  revision: z.string().optional(),
  seed: z.number().int().optional(),
  params: z.number().int().optional(),
  createdAt: z.string(),
});
export type ModelRecord = z.infer<typeof ModelRecord>;

export const TinyModelResult = z.object({
  dir: z.string(),
  params: z.number().int(),
  bytes: z.number().int(),
  files: z.array(z.object({ name: z.string(), bytes: z.number().int(), sha256: z.string() })),
  vocab: z.number().int(),
  sizes: z.record(z.string(), z.number()),
  seed: z.number().int(),
  seconds: z.number(),
});
export type TinyModelResult = z.infer<typeof TinyModelResult>;

export interface FetchResult {
  dir: string;
  repoId: string;
  hub: Hub;
  revision?: string;
  bytes: number;
  files: string[];
  seconds: number;
  /** True when the folder was already complete and nothing was downloaded. */
  alreadyPresent: boolean;
}

/** The result event of python/medtune_py/fetch_model.py. */
export const FetchHelperResult = z.object({
  dir: z.string(),
  repo_id: z.string(),
  hub: z.enum(['hf', 'modelscope']),
  revision: z.string(),
  bytes: z.number(),
  files: z.array(z.string()),
  seconds: z.number(),
});
