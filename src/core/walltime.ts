/**
 * Hours before a run starts: FLOPs per sample from the model's config.json and the data's token and patch counts,
 * the card's dense BF16 peak from a table matched on nvidia-smi's names, and a per-profile calibration on
 * bench/results/gpu-train.json (test/unit/walltime.test.ts checks the estimate against every measured row).
 *
 * The model of a step: a LoRA run is either compute-bound (a small card: the blog's RTX 4080 SUPER) or bound by
 * the host side (loader, collator, launch overhead: the same settings on an H100 or H200 leave the GPU 24–78%
 * busy), so samples/s = min(peak × efficiency / FLOPs per sample, the profile's host ceiling).
 */
import { textConfigOf } from './estimate.js';

type Cfg = Record<string, unknown>;
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v)
    ? v
    : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
      ? Number(v)
      : undefined;
const truthy = (v: unknown) => v === true || v === 'true';

// ---------------------------------------------------------------------------------------------------------------
// Cards

export interface CardPeak {
  /** The card's short name, as a person says it ("RTX 4080 SUPER", "H100 SXM"). */
  card: string;
  /** Dense BF16 tensor throughput with FP32 accumulation (what torch's bf16 matmuls use), TFLOP/s, vendor spec. */
  bf16Tflops: number;
}

/**
 * Most specific first: "RTX 4080 SUPER" before "RTX 4080", "H100 PCIe"/"NVL" before any H100, A100 before A10.
 * GeForce cards accumulate BF16 in FP32 at half their FP16-accumulate rate (Ada/Ampere/Blackwell whitepapers):
 * the 4080 SUPER's 104 TFLOP/s is twice its 52 TFLOP/s of FP32 shader throughput, not that figure.
 * T4, V100 and older have no BF16: they are not listed, so no estimate is shown for them.
 */
const CARDS: Array<[RegExp, CardPeak]> = [
  [/\bB200\b/i, { card: 'B200', bf16Tflops: 2250 }],
  [/\bH200 NVL\b/i, { card: 'H200 NVL', bf16Tflops: 835.5 }],
  [/\bH200\b/i, { card: 'H200', bf16Tflops: 989.4 }],
  [/\bH100 ?PCIe\b/i, { card: 'H100 PCIe', bf16Tflops: 756.5 }],
  [/\bH100 NVL\b/i, { card: 'H100 NVL', bf16Tflops: 835.5 }],
  [/\b(H100|H800|GH200)\b/i, { card: 'H100 SXM', bf16Tflops: 989.4 }],
  [/\bH20\b/i, { card: 'H20', bf16Tflops: 148 }],
  [/\b(A100|A800)\b/i, { card: 'A100', bf16Tflops: 312 }],
  [/\bA10G\b/i, { card: 'A10G', bf16Tflops: 70 }],
  [/\bA10\b/i, { card: 'A10', bf16Tflops: 125 }],
  [/\bA30\b/i, { card: 'A30', bf16Tflops: 165 }],
  [/\bA40\b/i, { card: 'A40', bf16Tflops: 149.7 }],
  [/\bL40S\b/i, { card: 'L40S', bf16Tflops: 362 }],
  [/\bL40\b/i, { card: 'L40', bf16Tflops: 181 }],
  [/\bL4\b/i, { card: 'L4', bf16Tflops: 121 }],
  [/RTX PRO 6000/i, { card: 'RTX PRO 6000 Blackwell', bf16Tflops: 503.8 }],
  [/RTX 6000 Ada/i, { card: 'RTX 6000 Ada', bf16Tflops: 364.2 }],
  [/RTX A6000/i, { card: 'RTX A6000', bf16Tflops: 154.8 }],
  [/RTX A5000/i, { card: 'RTX A5000', bf16Tflops: 111.1 }],
  [/RTX A4000/i, { card: 'RTX A4000', bf16Tflops: 76.7 }],
  [/RTX 5090/i, { card: 'RTX 5090', bf16Tflops: 209.5 }],
  [/RTX 5080/i, { card: 'RTX 5080', bf16Tflops: 112.6 }],
  [/RTX 4090/i, { card: 'RTX 4090', bf16Tflops: 165.2 }],
  [/RTX 4080 SUPER/i, { card: 'RTX 4080 SUPER', bf16Tflops: 104.4 }],
  [/RTX 4080/i, { card: 'RTX 4080', bf16Tflops: 97.5 }],
  [/RTX 4070 Ti SUPER/i, { card: 'RTX 4070 Ti SUPER', bf16Tflops: 88.2 }],
  [/RTX 4060 Ti/i, { card: 'RTX 4060 Ti', bf16Tflops: 44.1 }],
  [/RTX 3090/i, { card: 'RTX 3090', bf16Tflops: 71.2 }],
  [/RTX 3080/i, { card: 'RTX 3080', bf16Tflops: 59.5 }],
];

/** The card behind an nvidia-smi name ("NVIDIA GeForce RTX 4080 SUPER", "NVIDIA H100 80GB HBM3"); null when unknown. */
export function cardPeak(smiName: string): CardPeak | null {
  for (const [re, peak] of CARDS) if (re.test(smiName)) return peak;
  return null;
}

/** Shown when this machine has no GPU: a 16 GB consumer card, a 24 GB one, and the two datacenter ones people rent. */
export const REFERENCE_CARDS = [
  'NVIDIA GeForce RTX 4080 SUPER',
  'NVIDIA GeForce RTX 4090',
  'NVIDIA A100-SXM4-80GB',
  'NVIDIA H100 80GB HBM3',
];

// ---------------------------------------------------------------------------------------------------------------
// Model and data

export interface ModelFlopsShape {
  /** Parameters the language model multiplies by per token: every decoder linear and the LM head. */
  llmParams: number;
  /** Parameters of the vision tower and its merger, multiplied per patch (null: no vision tower in the config). */
  visionParams: number;
  patchSize: number;
  mergeSize: number;
}

/** The shape FLOPs are counted on, from a Qwen2-VL / Qwen2.5-VL config.json (transformers 4 flat or 5 nested). */
export function modelFlopsShape(config: Cfg): ModelFlopsShape | null {
  const t = textConfigOf(config);
  if (!t) return null;
  const text = (config.text_config && typeof config.text_config === 'object' ? config.text_config : config) as Cfg;
  const vocab = num(text.vocab_size) ?? num(config.vocab_size) ?? 0;
  const h = t.hidden_size;
  const kv = (t.num_key_value_heads ?? t.num_attention_heads) * (t.head_dim ?? h / t.num_attention_heads);
  const perLayer = 2 * h * h + 2 * h * kv + 3 * h * t.intermediate_size;
  const llmParams = t.num_hidden_layers * perLayer + vocab * h;
  const v = (config.vision_config && typeof config.vision_config === 'object' ? config.vision_config : {}) as Cfg;
  const patchSize = num(v.patch_size) ?? num(v.spatial_patch_size) ?? 14;
  const mergeSize = num(v.spatial_merge_size) ?? 2;
  const depth = num(v.depth) ?? 0;
  const temporal = num(v.temporal_patch_size) ?? 2;
  const channels = num(v.in_channels) ?? num(v.in_chans) ?? 3;
  let visionParams = 0;
  if (depth > 0) {
    // Qwen2-VL names the ViT width embed_dim (hidden_size is the merger's output); Qwen2.5-VL names it hidden_size,
    // with a gated MLP of intermediate_size and out_hidden_size as the merger's output.
    const qwen2 = num(v.embed_dim) !== undefined;
    const e = (qwen2 ? num(v.embed_dim) : num(v.hidden_size)) ?? 0;
    const mlp = qwen2 ? 2 * e * e * (num(v.mlp_ratio) ?? 4) : 3 * e * (num(v.intermediate_size) ?? 4 * e);
    const out = (qwen2 ? num(v.hidden_size) : num(v.out_hidden_size)) ?? h;
    const merged = e * mergeSize * mergeSize;
    visionParams = depth * (4 * e * e + mlp) + channels * temporal * patchSize * patchSize * e + merged * merged + merged * out;
  }
  return { llmParams, visionParams, patchSize, mergeSize };
}

/** Python's round(): halves go to the even neighbour (smart_resize rounds with it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface PixelLimits {
  /** LLaMA-Factory's `image_max_pixels` / `image_min_pixels` (its defaults: 768², 32²). */
  imageMaxPixels: number;
  imageMinPixels: number;
  /** The processor's own bounds (preprocessor_config.json min_pixels/max_pixels, or size.shortest_edge/longest_edge). */
  processorMinPixels: number;
  processorMaxPixels: number;
  patchSize: number;
  mergeSize: number;
}

export const DEFAULT_PIXEL_LIMITS: PixelLimits = {
  imageMaxPixels: 768 * 768,
  imageMinPixels: 32 * 32,
  processorMinPixels: 56 * 56,
  processorMaxPixels: 28 * 28 * 1280,
  patchSize: 14,
  mergeSize: 2,
};

/** The pixel limits of a train config over the model's processor config. */
export function pixelLimits(trainConfig: Cfg, processorConfig: Cfg, shape?: Pick<ModelFlopsShape, 'patchSize' | 'mergeSize'>): PixelLimits {
  const size = (processorConfig.size && typeof processorConfig.size === 'object' ? processorConfig.size : {}) as Cfg;
  const d = DEFAULT_PIXEL_LIMITS;
  return {
    imageMaxPixels: num(trainConfig.image_max_pixels) ?? d.imageMaxPixels,
    imageMinPixels: num(trainConfig.image_min_pixels) ?? d.imageMinPixels,
    processorMinPixels: num(processorConfig.min_pixels) ?? num(size.shortest_edge) ?? d.processorMinPixels,
    processorMaxPixels: num(processorConfig.max_pixels) ?? num(size.longest_edge) ?? d.processorMaxPixels,
    patchSize: shape?.patchSize ?? num(processorConfig.patch_size) ?? d.patchSize,
    mergeSize: shape?.mergeSize ?? num(processorConfig.merge_size) ?? d.mergeSize,
  };
}

/**
 * The size an image has when the vision tower sees it: LLaMA-Factory 0.9.5's `_preprocess_image` (scale down to
 * image_max_pixels, up to image_min_pixels, sides at least 28), then the Qwen2-VL processor's `smart_resize` (sides
 * rounded to multiples of patch × merge, kept within its min/max pixels). An image stored at this size passes
 * both untouched.
 */
export function trainingImageSize(width: number, height: number, l: PixelLimits = DEFAULT_PIXEL_LIMITS): { width: number; height: number } {
  let w = width;
  let h = height;
  if (w * h > l.imageMaxPixels) {
    const f = Math.sqrt(l.imageMaxPixels / (w * h));
    w = Math.floor(w * f);
    h = Math.floor(h * f);
  }
  if (w * h < l.imageMinPixels) {
    const f = Math.sqrt(l.imageMinPixels / (w * h));
    w = Math.floor(w * f);
    h = Math.floor(h * f);
  }
  if (Math.min(w, h) < 28) {
    w = Math.max(w, 28);
    h = Math.max(h, 28);
  }
  const factor = l.patchSize * l.mergeSize;
  let hb = roundHalfEven(h / factor) * factor;
  let wb = roundHalfEven(w / factor) * factor;
  if (hb * wb > l.processorMaxPixels) {
    const beta = Math.sqrt((h * w) / l.processorMaxPixels);
    hb = Math.max(factor, Math.floor(h / beta / factor) * factor);
    wb = Math.max(factor, Math.floor(w / beta / factor) * factor);
  } else if (hb * wb < l.processorMinPixels) {
    const beta = Math.sqrt(l.processorMinPixels / (h * w));
    hb = Math.ceil((h * beta) / factor) * factor;
    wb = Math.ceil((w * beta) / factor) * factor;
  }
  return { width: wb, height: hb };
}

/** Vision-tower patches of one image (a 512² scan under image_max_pixels 512²: 504² → 36² = 1,296 patches, 324 tokens). */
export function imagePatches(width: number, height: number, l: PixelLimits = DEFAULT_PIXEL_LIMITS): number {
  const s = trainingImageSize(width, height, l);
  return (s.width / l.patchSize) * (s.height / l.patchSize);
}

/** Qwen2-VL chat-template tokens around one exchange: system prompt, role markers, vision start/end. */
export const TEMPLATE_TOKENS = 22;
/** Characters per token of Qwen2's BPE on English medical captions (about 4; Chinese text is nearer 1.5). */
export const CHARS_PER_TOKEN = 4;

/** Tokens of a sample: text (from its characters) + the template + one token per merge² patches, cut at cutoff_len. */
export function sampleTokens(textChars: number, patches: number, mergeSize: number, cutoffLen: number): number {
  return Math.min(cutoffLen, Math.ceil(textChars / CHARS_PER_TOKEN) + TEMPLATE_TOKENS + patches / (mergeSize * mergeSize));
}

/**
 * FLOPs of one training sample with LoRA on the language model and the vision tower frozen: the LLM's forward
 * and its input-gradient backward (the frozen weights get no weight gradient), plus a second forward when
 * gradient checkpointing recomputes activations; the vision tower's forward only. LoRA's own matmuls and attention
 * scores are left out (a few percent at ~550 tokens). Qwen2-VL-2B at 548 tokens and 1,296 patches with
 * checkpointing: 6.8 TFLOP (the arithmetic in bench/results/gpu-train.md).
 */
export function flopsPerSample(shape: ModelFlopsShape, tokens: number, patches: number, checkpointing: boolean): number {
  return 2 * shape.llmParams * tokens * (checkpointing ? 3 : 2) + 2 * shape.visionParams * patches;
}

// ---------------------------------------------------------------------------------------------------------------
// Calibration

export interface ProfileSpeed {
  /** Samples/s with an unlimited GPU: what the host side (loader, collator, launches) allows at this batch. */
  hostSamplesPerSecond: number;
  /** Share of the dense BF16 peak reached when the card, not the host, is the limit. */
  computeEfficiency: number;
  /** Which measurements set the two values. */
  basis: string;
}

/**
 * The blog's run: 161,630 × 3 samples in 35 h on an RTX 4080 SUPER = 3.85 samples/s at 6.8 TFLOP per sample
 * = 26.2 TFLOP/s of the card's 104.4: 25%. The only compute-bound measurement so far, so every profile uses it
 * until the emulated 16 GB card (bench/gpu/emulate16g.sh) measures gpu-16g.
 */
export const COMPUTE_EFFICIENCY = 0.2508;

/**
 * Host ceilings: the geometric mean of the profile's rows on H100/H200 cards in bench/results/gpu-train.json,
 * where these settings leave the GPU partly idle (peak × efficiency is above every one of them).
 */
export const PROFILE_SPEED: Readonly<Record<string, ProfileSpeed>> = {
  'gpu-16g': { hostSamplesPerSecond: 11.41, computeEfficiency: COMPUTE_EFFICIENCY, basis: 'H200 under a 15 GiB cap (11.41)' },
  'gpu-24g': {
    hostSamplesPerSecond: 4.35,
    computeEfficiency: COMPUTE_EFFICIENCY,
    basis: 'H200 4.12, H100 4.11 and 4.85; the blog’s RTX 4080 SUPER 3.85',
  },
  'gpu-40g': { hostSamplesPerSecond: 8.2, computeEfficiency: COMPUTE_EFFICIENCY, basis: 'H100 8.20' },
  'gpu-80g': { hostSamplesPerSecond: 41.73, computeEfficiency: COMPUTE_EFFICIENCY, basis: 'H200 43.31, H100 40.2' },
  'gpu-140g': { hostSamplesPerSecond: 44.31, computeEfficiency: COMPUTE_EFFICIENCY, basis: 'H200 46.2, H100 42.5' },
};

/** Config keys whose change moves a profile's speed; a run that overrides them is estimated more roughly. */
export const SPEED_KEYS = [
  'per_device_train_batch_size',
  'disable_gradient_checkpointing',
  'enable_liger_kernel',
  'dataloader_num_workers',
];

export interface CardRate {
  card: string;
  /** nvidia-smi's name the card was matched from. */
  smiName: string;
  samplesPerSecond: number;
  /** What limits it: the card's compute, or the host side at this profile's settings. */
  bound: 'compute' | 'host';
  seconds: number;
}

/** Samples/s of one card at one profile; null for a card without a BF16 entry. */
export function cardRate(smiName: string, flops: number, speed: ProfileSpeed): Omit<CardRate, 'seconds'> | null {
  const peak = cardPeak(smiName);
  return peak ? { card: peak.card, smiName, ...rateAtPeak(peak.bf16Tflops, flops, speed) } : null;
}

/** Samples/s on one card of `bf16Tflops` dense peak (an emulated card: the host card's peak × its share of SMs). */
export function rateAtPeak(
  bf16Tflops: number,
  flops: number,
  speed: ProfileSpeed,
): { samplesPerSecond: number; bound: 'compute' | 'host' } {
  const compute = (bf16Tflops * 1e12 * speed.computeEfficiency) / flops;
  return compute < speed.hostSamplesPerSecond
    ? { samplesPerSecond: compute, bound: 'compute' }
    : { samplesPerSecond: speed.hostSamplesPerSecond, bound: 'host' };
}

export interface WallTimeInputs {
  profile: string;
  /** The planned config (profile + overrides). */
  config: Cfg;
  /** The profile's own values, to tell whether speed keys were overridden. */
  profileValues: Cfg;
  shape: ModelFlopsShape;
  /** Mean tokens and patches per sample of the data (measured on a sample of its rows). */
  tokens: number;
  patches: number;
  /** Samples the whole run trains on (samples × epochs, or max_steps × effective batch). */
  samplesTotal: number;
  /** nvidia-smi names of the GPUs the run will use; empty: none here (reference cards are shown). */
  gpuNames: string[];
}

export interface WallTimeEstimate {
  flopsPerSample: number;
  tokens: number;
  patches: number;
  samplesTotal: number;
  /** True when the cards are this machine's; false for the reference cards of a machine without a GPU. */
  onThisMachine: boolean;
  cards: CardRate[];
  /** The profile's speed keys were overridden: the calibration was measured at other settings. */
  overridden: string[];
  basis: string;
}

/** The estimate of a planned run; null for a profile without a calibration (cpu) or a model medtune cannot size. */
export function estimateWallTime(i: WallTimeInputs): WallTimeEstimate | null {
  const speed = PROFILE_SPEED[i.profile];
  if (!speed || i.samplesTotal <= 0) return null;
  const checkpointing = !truthy(i.config.disable_gradient_checkpointing);
  const flops = flopsPerSample(i.shape, i.tokens, i.patches, checkpointing);
  const onThisMachine = i.gpuNames.length > 0;
  // Data parallel over the cards of one run: each card takes its share and the slowest sets the pace (linear
  // scaling: not measured on several GPUs yet).
  const names = onThisMachine ? i.gpuNames : REFERENCE_CARDS;
  const devices = onThisMachine ? i.gpuNames.length : 1;
  let cards = names
    .map((n) => cardRate(n, flops, speed))
    .filter((c): c is Omit<CardRate, 'seconds'> => c !== null)
    .map((c) => ({ ...c, seconds: i.samplesTotal / c.samplesPerSecond }));
  if (onThisMachine && cards.length) {
    const slowest = cards.reduce((a, b) => (b.samplesPerSecond < a.samplesPerSecond ? b : a));
    const rate = slowest.samplesPerSecond * devices;
    cards = [{ ...slowest, samplesPerSecond: rate, seconds: i.samplesTotal / rate }];
  }
  if (!cards.length) return null;
  const overridden = SPEED_KEYS.filter((k) => k in i.config && String(i.config[k]) !== String(i.profileValues[k] ?? i.config[k]));
  return {
    flopsPerSample: flops,
    tokens: i.tokens,
    patches: i.patches,
    samplesTotal: i.samplesTotal,
    onThisMachine,
    cards,
    overridden,
    basis: speed.basis,
  };
}

/** "26 h", "3.1 h", "48 min". */
export function hoursText(seconds: number): string {
  const h = seconds / 3600;
  if (h >= 10) return `${Math.round(h)} h`;
  if (h >= 1) return `${h.toFixed(1)} h`;
  return `${Math.max(1, Math.round(seconds / 60))} min`;
}

/** "≈ 26 h on this RTX 4080 SUPER" / "≈ 3.1 h on these 2 × H100 SXM" / "≈ 26 h on an RTX 4080 SUPER, 3.1 h on an H100 SXM". */
export function wallTimeText(e: WallTimeEstimate, devices = 1): string {
  const rough = e.overridden.length ? ` (rough: ${e.overridden.join(', ')} differ from the profile's measured settings)` : '';
  if (e.onThisMachine) {
    const c = e.cards[0]!;
    const where = devices > 1 ? `these ${devices} × ${c.card}` : `this ${c.card}`;
    return `≈ ${hoursText(c.seconds)} on ${where} (${c.samplesPerSecond.toFixed(1)} samples/s, ${c.bound}-bound)${rough}`;
  }
  const an = (card: string) => (/^[AEFHILMNORSX]/.test(card) ? 'an' : 'a');
  return `≈ ${e.cards.map((c) => `${hoursText(c.seconds)} on ${an(c.card)} ${c.card}`).join(', ')} (no GPU here)${rough}`;
}

/** Samples/s of a profile on a card of `bf16Tflops`, for a bench row or a plan; null for an uncalibrated profile. */
export function profileRate(
  profile: string,
  bf16Tflops: number,
  shape: ModelFlopsShape,
  tokens: number,
  patches: number,
  checkpointing: boolean,
): number | null {
  const speed = PROFILE_SPEED[profile];
  return speed ? rateAtPeak(bf16Tflops, flopsPerSample(shape, tokens, patches, checkpointing), speed).samplesPerSecond : null;
}

/**
 * Text characters and image paths of one sharegpt row, as LLaMA-Factory reads it through its dataset_info entry
 * (medtune's `messages`/`content`, or the classic `conversations`/`value`).
 */
export function rowTextAndImages(
  row: unknown,
  entry: { columns?: Record<string, string>; tags?: Record<string, string> } = {},
): { textChars: number; images: string[] } {
  const r = (row ?? {}) as Record<string, unknown>;
  const msgs = r[entry.columns?.messages ?? (Array.isArray(r.messages) ? 'messages' : 'conversations')];
  const contentKey = entry.tags?.content_tag ?? 'content';
  let textChars = 0;
  if (Array.isArray(msgs))
    for (const m of msgs) {
      const c = (m as Record<string, unknown>)?.[contentKey] ?? (m as Record<string, unknown>)?.value;
      if (typeof c === 'string') textChars += c.replace(/<image>/g, '').length;
    }
  const imgs = r[entry.columns?.images ?? 'images'];
  return { textChars, images: Array.isArray(imgs) ? imgs.filter((p): p is string => typeof p === 'string') : [] };
}
