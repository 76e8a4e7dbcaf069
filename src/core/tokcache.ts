/**
 * The key of LLaMA-Factory's `tokenized_path` cache. LLaMA-Factory loads a tokenized dataset from that folder
 * whenever it exists and then ignores every other data argument, so the folder's name must change whenever
 * anything that shaped the tokens changes: the dataset files and their registration, the template, the cutoff,
 * the image pixel limits (they set each image's token count), the model's tokenizer and processor files, the
 * split and sampling settings, and LLaMA-Factory's own version. Pure: callers pass digests of the files.
 */
import { createHash } from 'node:crypto';
import type { ConfigValue, TrainConfig } from './trainconfig.js';

/** Train-config keys that change what "Running tokenizer on dataset" produces (LLaMA-Factory 0.9.5 DataArguments and friends). */
export const TOKENIZATION_KEYS = [
  'stage',
  'template',
  'cutoff_len',
  'max_samples',
  'val_size',
  'eval_dataset',
  'train_on_prompt',
  'mask_history',
  'packing',
  'neat_packing',
  'tool_format',
  'default_system',
  'enable_thinking',
  'ignore_pad_token_for_loss',
  'mix_strategy',
  'interleave_probs',
  'seed',
  'streaming',
  'buffer_size',
  'image_max_pixels',
  'image_min_pixels',
  'image_do_pan_and_scan',
  'crop_to_patches',
  'video_max_pixels',
  'video_min_pixels',
  'video_fps',
  'video_maxlen',
  'use_audio_in_video',
  'audio_sampling_rate',
  'do_predict',
  'predict_with_generate',
  'finetuning_type',
  'freeze_vision_tower',
] as const;

export interface FileDigest {
  /** Path relative to its folder (data dir or model dir). */
  path: string;
  sha256: string;
}

export interface TokenCacheInput {
  /** Each dataset of the run: its dataset_info.json entry and the digests of its files. */
  datasets: { name: string; entry: unknown; files: FileDigest[] }[];
  config: TrainConfig;
  /** Digests of the model's tokenizer and processor files (tokenizer*.json, vocab, merges, *_config.json, chat template). */
  modelFiles: FileDigest[];
  llamafactoryVersion: string;
}

/** Deterministic JSON: object keys sorted at every depth. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** A 16-hex-digit key; equal inputs give equal keys whatever the order of datasets' files or config keys. */
export function tokenizedCacheKey(input: TokenCacheInput): string {
  const config: Record<string, ConfigValue> = {};
  for (const k of TOKENIZATION_KEYS) if (input.config[k] !== undefined) config[k] = input.config[k]!;
  const sortFiles = (files: FileDigest[]) => [...files].sort((a, b) => a.path.localeCompare(b.path));
  const doc = {
    v: 1,
    datasets: input.datasets.map((d) => ({ name: d.name, entry: d.entry, files: sortFiles(d.files) })),
    config,
    model: sortFiles(input.modelFiles),
    llamafactory: input.llamafactoryVersion,
  };
  return createHash('sha256').update(canonical(doc)).digest('hex').slice(0, 16);
}

/** The model files whose content shapes tokenization (matched on the file name). */
export function isTokenizerFile(name: string): boolean {
  return /^(tokenizer.*\.(json|model)|vocab\.(json|txt)|merges\.txt|special_tokens_map\.json|added_tokens\.json|(preprocessor|processor|video_preprocessor)_config\.json|chat_template\.(json|jinja)|config\.json)$/.test(
    name,
  );
}

/** `preprocessing_num_workers: auto`: one tokenizing process per core, at most 16 (LLaMA-Factory's map gains little past that). */
export function autoPreprocessingWorkers(cores: number): number {
  return Math.max(1, Math.min(16, Math.floor(cores)));
}
