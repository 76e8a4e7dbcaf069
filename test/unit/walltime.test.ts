/**
 * Hours before a run starts (src/core/walltime.ts): FLOPs from the model's config, patches from image sizes, the
 * card table, and the calibration check: the estimate within 15% of every measured row of
 * bench/results/gpu-train.json that ran a profile's current values (a calibration check, not a timing assert).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  cardPeak,
  DEFAULT_PIXEL_LIMITS,
  estimateWallTime,
  flopsPerSample,
  hoursText,
  imagePatches,
  modelFlopsShape,
  pixelLimits,
  profileRate,
  sampleTokens,
  trainingImageSize,
  wallTimeText,
} from '../../src/core/walltime.js';

const read = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8'));
const QWEN2VL_2B = read('../../bench/gpu-train/qwen2vl-2b-config.json') as Record<string, unknown>;
const SHAPE = modelFlopsShape(QWEN2VL_2B)!;
const AT_512 = { ...DEFAULT_PIXEL_LIMITS, imageMaxPixels: 512 * 512 };
const REF = { per_device_train_batch_size: 2, gradient_accumulation_steps: 8, dataloader_num_workers: 4 };

interface Row {
  card: string;
  gpu: string;
  call: string;
  reference: boolean;
  profile: string | null;
  configuration: string;
  gradientCheckpointing: boolean;
  samplesPerSecond: number | null;
  estimatedSamplesPerSecond: number | null;
  tokensPerSample: number | null;
  patchesPerSample: number | null;
  mpsThreadPercentage: number | null;
}
const ROWS = read('../../bench/results/gpu-train.json') as Row[];

describe('FLOPs per sample from the config', () => {
  it('counts the 2B architecture as the bench measured it', () => {
    // build_model.py: 2,208,985,600 parameters, 665,271,296 of them in the vision tower (tied embeddings counted once).
    expect(SHAPE.visionParams / 665_271_296).toBeCloseTo(1, 2);
    expect(SHAPE.llmParams / 1.5437e9).toBeCloseTo(1, 3);
  });

  it('gives 6.8 TFLOP at 548 tokens and 1,296 patches with checkpointing, a quarter less without', () => {
    const ckpt = flopsPerSample(SHAPE, 548, 1296, true);
    expect(ckpt / 1e12).toBeCloseTo(6.8, 1);
    expect(1 - flopsPerSample(SHAPE, 548, 1296, false) / ckpt).toBeCloseTo(0.25, 2);
  });

  it('reads a Qwen2.5-VL vision config (hidden_size, gated intermediate_size, out_hidden_size)', () => {
    const shape = modelFlopsShape({
      ...QWEN2VL_2B,
      hidden_size: 2048,
      intermediate_size: 11008,
      num_hidden_layers: 36,
      num_attention_heads: 16,
      vision_config: {
        depth: 32,
        hidden_size: 1280,
        intermediate_size: 3420,
        out_hidden_size: 2048,
        patch_size: 14,
        spatial_merge_size: 2,
      },
    })!;
    // Qwen2.5-VL-3B's vision tower: ≈ 0.67 B parameters.
    expect(shape.visionParams / 1e9).toBeGreaterThan(0.6);
    expect(shape.visionParams / 1e9).toBeLessThan(0.72);
    expect(modelFlopsShape({ model_type: 'x' })).toBeNull();
  });
});

describe('image size at training time (LLaMA-Factory preprocess, then smart_resize)', () => {
  it.each([
    // width, height, size the vision tower sees, patches, limits
    [512, 512, 504, 504, 1296, AT_512],
    [1024, 1024, 504, 504, 1296, AT_512],
    [1024, 768, 896, 672, 3072, DEFAULT_PIXEL_LIMITS],
    [20, 300, 28, 308, 44, DEFAULT_PIXEL_LIMITS],
    [700, 700, 448, 448, 1024, { ...DEFAULT_PIXEL_LIMITS, processorMaxPixels: 256 * 28 * 28 }],
    [10, 10, 56, 56, 16, { ...DEFAULT_PIXEL_LIMITS, imageMinPixels: 0 }],
  ])('%i×%i → %i×%i', (w, h, tw, th, patches, limits) => {
    expect(trainingImageSize(w, h, limits)).toEqual({ width: tw, height: th });
    expect(imagePatches(w, h, limits)).toBe(patches);
  });

  it('rounds halves to even as Python does (18.5 × 28 = 518 → 504)', () => {
    expect(trainingImageSize(518, 518, { ...DEFAULT_PIXEL_LIMITS, imageMaxPixels: 2 ** 30 }).width).toBe(504);
  });

  it('takes the processor bounds in either spelling', () => {
    expect(pixelLimits({ image_max_pixels: '262144' }, { min_pixels: 3136, max_pixels: 12845056 })).toMatchObject({
      imageMaxPixels: 262144,
      processorMinPixels: 3136,
      processorMaxPixels: 12845056,
    });
    expect(pixelLimits({}, { size: { shortest_edge: 3136, longest_edge: 100352 } }).processorMaxPixels).toBe(100352);
  });

  it('counts a sample’s tokens from its text, the template and its patches, cut at cutoff_len', () => {
    expect(sampleTokens(800, 1296, 2, 1024)).toBe(200 + 22 + 324);
    expect(sampleTokens(80_000, 1296, 2, 1024)).toBe(1024);
  });
});

describe('cards from nvidia-smi names', () => {
  it.each([
    ['NVIDIA GeForce RTX 4080 SUPER', 'RTX 4080 SUPER', 104.4],
    ['NVIDIA GeForce RTX 4080', 'RTX 4080', 97.5],
    ['NVIDIA H100 80GB HBM3', 'H100 SXM', 989.4],
    ['NVIDIA H100 PCIe', 'H100 PCIe', 756.5],
    ['NVIDIA H200', 'H200', 989.4],
    ['NVIDIA A100-SXM4-40GB', 'A100', 312],
    ['NVIDIA A10', 'A10', 125],
    ['NVIDIA L40S', 'L40S', 362],
    ['NVIDIA L4', 'L4', 121],
    ['NVIDIA RTX 6000 Ada Generation', 'RTX 6000 Ada', 364.2],
    ['NVIDIA GeForce RTX 3090', 'RTX 3090', 71.2],
    ['NVIDIA B200', 'B200', 2250],
  ])('%s', (name, card, tflops) => {
    expect(cardPeak(name)).toEqual({ card, bf16Tflops: tflops });
  });

  it('knows no BF16 peak for cards without BF16', () => {
    expect(cardPeak('Tesla T4')).toBeNull();
    expect(cardPeak('Tesla V100-SXM2-16GB')).toBeNull();
  });
});

describe('calibration against bench/results/gpu-train.json', () => {
  const measured = ROWS.filter((r) => r.samplesPerSecond !== null && r.profile !== null);

  it('has rows of every card kind the estimate is calibrated on', () => {
    expect([...new Set(measured.map((r) => r.card))]).toEqual(expect.arrayContaining(['H100 80GB', 'H200', 'RTX 4080 SUPER']));
    expect(measured.filter((r) => r.reference).length).toBeGreaterThanOrEqual(4);
  });

  it.each(measured.map((r) => [`${r.card} · ${r.call} · ${r.configuration}`, r] as const))('%s: within 15%', (_, r) => {
    const peak = cardPeak(r.gpu)!.bf16Tflops * (r.mpsThreadPercentage ? r.mpsThreadPercentage / 100 : 1);
    const rate = profileRate(r.profile!, peak, SHAPE, r.tokensPerSample ?? 548, r.patchesPerSample ?? 1296, r.gradientCheckpointing)!;
    expect(Math.abs(rate / r.samplesPerSecond! - 1)).toBeLessThanOrEqual(0.15);
    expect(r.estimatedSamplesPerSecond).not.toBeNull();
  });
});

describe('the estimate of a planned run', () => {
  const base = {
    profile: 'gpu-24g',
    config: { ...REF },
    profileValues: REF,
    shape: SHAPE,
    tokens: 548,
    patches: 1296,
    samplesTotal: 161_630 * 3,
  };

  it('gives the blog’s 35 h on its RTX 4080 SUPER, compute-bound', () => {
    const e = estimateWallTime({ ...base, gpuNames: ['NVIDIA GeForce RTX 4080 SUPER'] })!;
    expect(e.cards[0]).toMatchObject({ card: 'RTX 4080 SUPER', bound: 'compute' });
    expect(e.cards[0]!.seconds / 3600).toBeCloseTo(35, 0);
    expect(wallTimeText(e)).toBe('≈ 35 h on this RTX 4080 SUPER (3.9 samples/s, compute-bound)');
  });

  it('shows reference cards when this machine has no GPU', () => {
    const e = estimateWallTime({ ...base, gpuNames: [] })!;
    expect(e.onThisMachine).toBe(false);
    expect(e.cards.map((c) => c.card)).toEqual(['RTX 4080 SUPER', 'RTX 4090', 'A100', 'H100 SXM']);
    expect(wallTimeText(e)).toMatch(
      /^≈ 35 h on an RTX 4080 SUPER, 31 h on an RTX 4090, 31 h on an A100, 31 h on an H100 SXM \(no GPU here\)$/,
    );
  });

  it('splits the samples over several cards of one run, the slowest setting the pace', () => {
    const e = estimateWallTime({
      ...base,
      profile: 'gpu-80g',
      config: {},
      profileValues: {},
      gpuNames: ['NVIDIA H100 80GB HBM3', 'NVIDIA A100-SXM4-80GB'],
    })!;
    const one = estimateWallTime({ ...base, profile: 'gpu-80g', config: {}, profileValues: {}, gpuNames: ['NVIDIA A100-SXM4-80GB'] })!;
    expect(e.cards[0]!.card).toBe('A100');
    expect(e.cards[0]!.seconds).toBeCloseTo(one.cards[0]!.seconds / 2, 0);
    expect(wallTimeText(e, 2)).toContain('on these 2 × A100');
  });

  it('says when the profile’s speed keys were overridden, and has nothing for the cpu profile or an unknown card', () => {
    const e = estimateWallTime({ ...base, config: { ...REF, per_device_train_batch_size: 4 }, gpuNames: ['NVIDIA H100 80GB HBM3'] })!;
    expect(e.overridden).toEqual(['per_device_train_batch_size']);
    expect(wallTimeText(e)).toContain('rough: per_device_train_batch_size differ');
    expect(estimateWallTime({ ...base, profile: 'cpu', gpuNames: [] })).toBeNull();
    expect(estimateWallTime({ ...base, gpuNames: ['Tesla T4'] })).toBeNull();
  });

  it.each([
    [125_000, '35 h'],
    [11_160, '3.1 h'],
    [2_880, '48 min'],
    [5, '1 min'],
  ])('hoursText(%i) = %s', (s, text) => {
    expect(hoursText(s)).toBe(text);
  });
});
