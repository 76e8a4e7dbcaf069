/**
 * GPU memory of a planned LoRA run, per GPU, before launch; and the next smaller setting after a CUDA OOM.
 *
 * allocated = frozen weights (dtype, or 4-bit) + LoRA weights, gradients and optimizer state
 *           + batch × tokens × (logits: vocab × LOGIT_BYTES  +  activations: layers × hidden × ACT_BYTES)
 * reserved  = allocated + the caching allocator's slack (ALLOCATOR_SLACK);  peak = reserved + CUDA context.
 * tokens per sample = min(cutoff_len, image tokens (image_max_pixels / 28²) + TEXT_TOKENS).
 *
 * Calibrated on bench/results/gpu-train.md (Qwen2-VL-2B architecture, H100, LoRA r8, 512² scans): with 151,936-wide
 * logits the per-sample cost is dominated by the logits (fp32 upcast, softmax and their gradients), ≈2.8 GiB per
 * 530-token sample, with or without gradient checkpointing (the measured runs agree: 49.2 GiB allocated at bs 16
 * with checkpointing, 46.8 without). test/unit/vram.test.ts holds the measured points and the error bound.
 */
import { loraParamCount, textConfigOf } from './estimate.js';

const GiB = 2 ** 30;
/** Bytes per logit element over a step: bf16 logits, their fp32 upcast, softmax, gradients. */
export const LOGIT_BYTES = 35;
/**
 * The same with Liger's fused linear cross-entropy (`enable_liger_kernel`), which never holds the whole logits:
 * measured on an H200 (bench/results/gpu-train.md) as 1.38 GiB allocated per 534-token sample at bs 32 (48.5 GiB),
 * against 2.65 without; the slope of reserved memory over bs 4, 32, 48 and 64 is 1.42 GiB per sample.
 */
export const LOGIT_BYTES_LIGER = 15.5;
/** With `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` reserved stays near allocated: 49.72 vs 48.5 GiB at bs 32. */
export const EXPANDABLE_SLACK_SHARE = 0.03;
/** Bytes per token × layer × hidden unit kept for backward: with checkpointing only the layer inputs. */
export const ACT_BYTES = { checkpointing: 4, full: 10 };
/**
 * The caching allocator's slack over what is allocated: measured 4.2, 8.2, 16.7 and 18.8 GiB at batch 2, 4, 8 and
 * 16, i.e. about 60% of the allocation at small batches, levelling off near 7 samples' worth at large ones.
 */
export const ALLOCATOR_SLACK = { share: 0.6, maxSamples: 7 };
export const CUDA_CONTEXT_GIB = 0.75;
/** Question + answer tokens of a MedTrinity caption sample (measured: ≈200). */
export const TEXT_TOKENS = 200;
/** A setting "fits" a card when its estimated peak stays under this share of the card's memory. */
export const FIT_SHARE = 0.95;

export interface VramInputs {
  /** Parameters of the whole model (vision tower included). */
  params: number;
  /** Bytes per frozen parameter in training: 2 for bf16/fp16, 4 for fp32, 0.5 for 4-bit, 1 for 8-bit. */
  bytesPerParam: number;
  hidden: number;
  layers: number;
  vocab: number;
  loraParams: number;
  /** Per-device batch. */
  batch: number;
  /** Tokens per sample. */
  tokens: number;
  gradientCheckpointing: boolean;
  /** Optimizer bytes per trainable parameter: 8 for AdamW, 2 for 8-bit AdamW. */
  optimizerBytes: number;
  /** Liger kernels (`enable_liger_kernel`): the fused cross-entropy never materialises the logits. */
  liger?: boolean;
  /** The allocator grows segments instead of caching blocks (`PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`). */
  expandableSegments?: boolean;
}

export interface VramEstimate {
  weightsGiB: number;
  trainableGiB: number;
  perSampleGiB: number;
  allocatedGiB: number;
  reservedGiB: number;
  /** What nvidia-smi would show at the peak: what the card must hold. */
  peakGiB: number;
}

export function estimateVram(i: VramInputs): VramEstimate {
  const weights = i.params * i.bytesPerParam;
  // fp32 LoRA weights + gradients + optimizer moments.
  const trainable = i.loraParams * (4 + 4 + i.optimizerBytes);
  const perSample =
    i.tokens *
    (i.vocab * (i.liger ? LOGIT_BYTES_LIGER : LOGIT_BYTES) +
      i.layers * i.hidden * (i.gradientCheckpointing ? ACT_BYTES.checkpointing : ACT_BYTES.full));
  const allocated = weights + trainable + i.batch * perSample;
  const slack = i.expandableSegments
    ? allocated * EXPANDABLE_SLACK_SHARE
    : Math.min(allocated * ALLOCATOR_SLACK.share, perSample * ALLOCATOR_SLACK.maxSamples);
  const reserved = allocated + slack;
  const r = (b: number) => Math.round((b / GiB) * 100) / 100;
  return {
    weightsGiB: r(weights),
    trainableGiB: r(trainable),
    perSampleGiB: r(perSample),
    allocatedGiB: r(allocated),
    reservedGiB: r(reserved),
    peakGiB: r(reserved + CUDA_CONTEXT_GIB * GiB),
  };
}

/** Image tokens of Qwen2-VL for an image_max_pixels budget: one token per 28×28 pixels (14² patches, 2×2 merge). */
export function imageTokens(maxPixels: number): number {
  return Math.floor(maxPixels / (28 * 28));
}

type Cfg = Record<string, unknown>;
const num = (v: unknown, d: number) =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : d;
const truthy = (v: unknown) => v === true || v === 'true';

export function tokensPerSample(cfg: Cfg): number {
  return Math.min(num(cfg.cutoff_len, 2048), imageTokens(num(cfg.image_max_pixels, 768 * 768)) + TEXT_TOKENS);
}

/** Inputs from a train config, the model's config.json and the bytes of its weights on disk. */
/** `env`: the run's environment (PYTORCH_CUDA_ALLOC_CONF decides the allocator's slack). */
export function vramInputs(
  cfg: Cfg,
  model: Cfg,
  weightsOnDiskBytes: number,
  env: Record<string, string | undefined> = {},
): VramInputs | null {
  const text = textConfigOf(model);
  if (!text) return null;
  const src = (model.text_config && typeof model.text_config === 'object' ? model.text_config : model) as Cfg;
  const vocab = num(src.vocab_size ?? model.vocab_size, 0);
  const diskDtype = String(model.torch_dtype ?? model.dtype ?? src.torch_dtype ?? src.dtype ?? 'bfloat16');
  const params = weightsOnDiskBytes / (diskDtype.includes('32') ? 4 : 2);
  const quant = num(cfg.quantization_bit, 0);
  const halfPrecision = truthy(cfg.bf16) || truthy(cfg.fp16) || truthy(cfg.pure_bf16);
  const bytesPerParam = quant === 4 ? 0.55 : quant === 8 ? 1.05 : halfPrecision ? 2 : 4;
  const optim = String(cfg.optim ?? 'adamw_torch');
  return {
    params,
    bytesPerParam,
    hidden: text.hidden_size,
    layers: text.num_hidden_layers,
    vocab,
    loraParams: loraParamCount(text, num(cfg.lora_rank, 8)),
    batch: num(cfg.per_device_train_batch_size, 1),
    tokens: tokensPerSample(cfg),
    gradientCheckpointing: !truthy(cfg.disable_gradient_checkpointing),
    optimizerBytes: /8bit/.test(optim) ? 2 : 8,
    liger: truthy(cfg.enable_liger_kernel),
    expandableSegments: /expandable_segments\s*:\s*true/i.test(env.PYTORCH_CUDA_ALLOC_CONF ?? ''),
  };
}

export interface SmallerSetting {
  /** `key=value` overrides for `--set`. */
  overrides: string[];
  why: string;
  estimate: VramEstimate;
}

/**
 * The next smaller setting that fits `gpuGiB` (estimated peak under 95% of it), trying in order: halve the batch and double
 * gradient accumulation (same effective batch), turn checkpointing on, halve image_max_pixels, QLoRA 4-bit. Each
 * step keeps the earlier ones. Null when nothing on the list fits.
 */
export function nextSmallerSetting(
  cfg: Cfg,
  model: Cfg,
  weightsOnDiskBytes: number,
  gpuGiB: number,
  env: Record<string, string | undefined> = {},
): SmallerSetting | null {
  const fits = (e: VramEstimate) => e.peakGiB <= gpuGiB * FIT_SHARE;
  const cur: Cfg = { ...cfg };
  const overrides = new Map<string, string>();
  const whys: string[] = [];
  const steps: Array<() => boolean> = [];
  // Batch halvings first (as many as it takes), then the other levers.
  for (let b = num(cfg.per_device_train_batch_size, 1); b > 1; b = Math.floor(b / 2)) {
    steps.push(() => {
      const bs = Math.max(1, Math.floor(num(cur.per_device_train_batch_size, 1) / 2));
      const ga = num(cur.gradient_accumulation_steps, 1) * (num(cur.per_device_train_batch_size, 1) / bs);
      cur.per_device_train_batch_size = bs;
      cur.gradient_accumulation_steps = Math.round(ga);
      overrides.set('per_device_train_batch_size', String(bs));
      overrides.set('gradient_accumulation_steps', String(Math.round(ga)));
      whys[0] = `batch ${bs} × accumulation ${Math.round(ga)} (same effective batch)`;
      return true;
    });
  }
  steps.push(() => {
    if (!truthy(cur.disable_gradient_checkpointing)) return false;
    cur.disable_gradient_checkpointing = false;
    overrides.set('disable_gradient_checkpointing', 'false');
    whys[1] = 'gradient checkpointing on';
    return true;
  });
  // Up to three halvings of the image budget (an eighth of it at most).
  for (let k = 0; k < 3; k++)
    steps.push(() => {
      const px = num(cur.image_max_pixels, 768 * 768);
      if (px <= 128 * 128) return false;
      cur.image_max_pixels = Math.floor(px / 2);
      overrides.set('image_max_pixels', String(cur.image_max_pixels));
      whys[2] = `image_max_pixels ${cur.image_max_pixels} (fewer image tokens)`;
      return true;
    });
  steps.push(() => {
    if (num(cur.quantization_bit, 0) === 4) return false;
    cur.quantization_bit = 4;
    overrides.set('quantization_bit', '4');
    whys[3] = 'QLoRA: base weights in 4 bits';
    return true;
  });
  for (const step of steps) {
    if (!step()) continue;
    const inputs = vramInputs(cur, model, weightsOnDiskBytes, env);
    if (!inputs) return null;
    const e = estimateVram(inputs);
    if (fits(e)) return { overrides: [...overrides].map(([k, v]) => `${k}=${v}`), why: whys.filter(Boolean).join(', '), estimate: e };
  }
  return null;
}
