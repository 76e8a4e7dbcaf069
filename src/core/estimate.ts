/** Size estimates made before launch: LoRA parameters, checkpoint bytes, disk needed, VRAM headroom. */

export interface TextConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
}

/** Reads the language model's shape from a Qwen2-VL config.json (flat in transformers 4, nested `text_config` in 5). */
export function textConfigOf(config: Record<string, unknown>): TextConfig | null {
  const src = (config.text_config && typeof config.text_config === 'object' ? config.text_config : config) as Record<string, unknown>;
  const pick = (k: string) =>
    typeof src[k] === 'number' ? (src[k] as number) : typeof config[k] === 'number' ? (config[k] as number) : undefined;
  const hidden = pick('hidden_size');
  const inter = pick('intermediate_size');
  const layers = pick('num_hidden_layers');
  const heads = pick('num_attention_heads');
  if (!hidden || !inter || !layers || !heads) return null;
  return {
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: pick('num_key_value_heads'),
    head_dim: pick('head_dim'),
  };
}

/** LoRA parameters with `lora_target: all` on the language model's linear layers (vision tower frozen). */
export function loraParamCount(t: TextConfig, rank: number): number {
  const h = t.hidden_size;
  const headDim = t.head_dim ?? h / t.num_attention_heads;
  const kv = (t.num_key_value_heads ?? t.num_attention_heads) * headDim;
  const linears: Array<[number, number]> = [
    [h, h], // q
    [h, kv], // k
    [h, kv], // v
    [h, h], // o
    [h, t.intermediate_size], // gate
    [h, t.intermediate_size], // up
    [t.intermediate_size, h], // down
  ];
  return t.num_hidden_layers * linears.reduce((sum, [i, o]) => sum + rank * (i + o), 0);
}

/**
 * Bytes one checkpoint-N/ takes: fp32 adapter weights, AdamW's two fp32 moments, plus the tokenizer/processor
 * files and trainer state (a flat allowance). `saveOnlyModel` drops the optimizer state.
 */
export function checkpointBytes(loraParams: number, opts: { saveOnlyModel?: boolean; extraBytes?: number } = {}): number {
  const adapter = loraParams * 4;
  const optimizer = opts.saveOnlyModel ? 0 : loraParams * 8 + 16_384;
  return adapter + optimizer + (opts.extraBytes ?? 12 * 2 ** 20);
}

export interface DiskPlan {
  checkpointBytes: number;
  keptCheckpoints: number;
  /** Checkpoints kept plus the one being written before rotation, plus the final adapter. */
  neededBytes: number;
  freeBytes: number;
  fits: boolean;
}

export function planDisk(
  loraParams: number,
  saveTotalLimit: number | null,
  totalSaves: number,
  freeBytes: number,
  opts: { saveOnlyModel?: boolean; marginBytes?: number } = {},
): DiskPlan {
  const each = checkpointBytes(loraParams, opts);
  const kept = saveTotalLimit && saveTotalLimit > 0 ? Math.min(saveTotalLimit, totalSaves) : totalSaves;
  const transient = totalSaves > kept ? 1 : 0;
  const needed = each * (kept + transient) + loraParams * 4 + (opts.marginBytes ?? 512 * 2 ** 20);
  return { checkpointBytes: each, keptCheckpoints: kept, neededBytes: needed, freeBytes, fits: needed <= freeBytes };
}

/** Total optimizer steps, the way HF Trainer counts them for one process. */
export function totalSteps(
  samples: number,
  perDeviceBatch: number,
  gradAccum: number,
  epochs: number,
  devices = 1,
  maxSteps?: number,
): number {
  if (maxSteps && maxSteps > 0) return maxSteps;
  const perEpoch = Math.max(1, Math.ceil(Math.ceil(samples / (perDeviceBatch * devices)) / gradAccum));
  return Math.ceil(perEpoch * epochs);
}
