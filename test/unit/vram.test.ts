/**
 * The VRAM estimate against every GPU measurement in bench/results/gpu-train.md, including the
 * published baseline it quotes (Qwen2-VL-2B architecture, 2,208,985,600 bf16 parameters, LoRA r8,
 * 512² scans, cutoff 1024, one H100): allocated within 8%, reserved within 10% — the error docs/performance.md states.
 */
import { describe, expect, it } from 'vitest';
import { estimateVram, nextSmallerSetting, tokensPerSample, vramInputs } from '../../src/core/vram.js';

const QWEN2VL_2B = {
  model_type: 'qwen2_vl',
  torch_dtype: 'bfloat16',
  text_config: {
    hidden_size: 1536,
    intermediate_size: 8960,
    num_hidden_layers: 28,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    vocab_size: 151936,
  },
};
const WEIGHTS_BYTES = 2_208_985_600 * 2;
const BASE = { lora_rank: 8, cutoff_len: 1024, bf16: true, image_max_pixels: 262144 };

// [batch, checkpointing, measured GiB reserved, measured GiB allocated, source]
const MEASURED: Array<[number, boolean, number, number, string]> = [
  [2, true, 14.2, 10.03, 'gpu-train.md gpu-24g'],
  [4, true, 23.84, 15.62, 'gpu-train.md gpu-40g'],
  [16, false, 65.48, 46.78, 'gpu-train.md gpu-80g'],
  [8, true, 43.5, 26.8, 'published baseline bs 8 GC on'],
  [16, true, 68.0, 49.2, 'published baseline bs 16 GC on'],
];

describe('VRAM estimate', () => {
  it.each(MEASURED)(
    'bs %i, checkpointing %s: within the stated error of %f GiB reserved (%f allocated) — %s',
    (batch, gc, reserved, allocated) => {
      const inputs = vramInputs(
        { ...BASE, per_device_train_batch_size: batch, disable_gradient_checkpointing: !gc },
        QWEN2VL_2B,
        WEIGHTS_BYTES,
      )!;
      const e = estimateVram(inputs);
      expect(Math.abs(e.allocatedGiB - allocated) / allocated).toBeLessThan(0.08);
      expect(Math.abs(e.reservedGiB - reserved) / reserved).toBeLessThan(0.1);
      expect(e.peakGiB).toBeGreaterThan(e.reservedGiB);
    },
  );

  // Liger + expandable segments, no checkpointing, measured on one H200 (bench/results/gpu-train.md, 2026-12-04):
  // [batch, measured GiB reserved, nvidia-smi peak GiB, source]
  const LIGER: Array<[number, number, number, string]> = [
    [4, 10.06, 10.81, 'gpu-16g bs 4 x GA 4'],
    [32, 49.72, 50.47, 'gpu-80g bs 32'],
    [48, 72.42, 73.18, 'gpu-140g bs 48'],
    [64, 95.08, 95.84, 'bs 64'],
  ];
  it.each(LIGER)('Liger + expandable segments, bs %i: within 5%% of %f GiB reserved and %f GiB peak — %s', (batch, reserved, peak) => {
    const cfg = { ...BASE, per_device_train_batch_size: batch, disable_gradient_checkpointing: true, enable_liger_kernel: true };
    const e = estimateVram(vramInputs(cfg, QWEN2VL_2B, WEIGHTS_BYTES, { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' })!);
    expect(Math.abs(e.reservedGiB - reserved) / reserved).toBeLessThan(0.05);
    expect(Math.abs(e.peakGiB - peak) / peak).toBeLessThan(0.05);
    // Without Liger the same batch needs far more: the logits are the bulk of a sample.
    expect(estimateVram(vramInputs({ ...cfg, enable_liger_kernel: false }, QWEN2VL_2B, WEIGHTS_BYTES)!).peakGiB).toBeGreaterThan(
      e.peakGiB * 1.5,
    );
  });

  it('counts image tokens from image_max_pixels and caps the sample at cutoff_len', () => {
    expect(tokensPerSample({ image_max_pixels: 262144, cutoff_len: 1024 })).toBe(534);
    expect(tokensPerSample({ image_max_pixels: 262144, cutoff_len: 256 })).toBe(256);
  });

  it('grows with batch, rank and image size, shrinks with 4-bit weights', () => {
    const peak = (over: Record<string, unknown>) =>
      estimateVram(vramInputs({ ...BASE, per_device_train_batch_size: 2, ...over }, QWEN2VL_2B, WEIGHTS_BYTES)!).peakGiB;
    expect(peak({ per_device_train_batch_size: 4 })).toBeGreaterThan(peak({}));
    expect(peak({ lora_rank: 64 })).toBeGreaterThan(peak({}));
    expect(peak({ image_max_pixels: 1024 * 1024 })).toBeGreaterThan(peak({}));
    expect(peak({ quantization_bit: 4 })).toBeLessThan(peak({}) - 2);
  });

  it('after an OOM, proposes the next smaller setting that fits: gpu-80g settings on a 24 GB card → bs 2 × GA 8', () => {
    const cfg = { ...BASE, per_device_train_batch_size: 16, gradient_accumulation_steps: 1, disable_gradient_checkpointing: true };
    const s = nextSmallerSetting(cfg, QWEN2VL_2B, WEIGHTS_BYTES, 23.6)!;
    expect(s.overrides).toEqual(['per_device_train_batch_size=2', 'gradient_accumulation_steps=8']);
    // The measured neighbours: bs 2 peaked at 15.0 GiB, bs 4 at 24.6 GiB (over a 24 GB card).
    expect(s.estimate.peakGiB).toBeLessThanOrEqual(23.6 * 0.95);
    expect(s.why).toMatch(/same effective batch/);
  });

  it('goes on to checkpointing, smaller images and QLoRA when batch 1 is not enough, and gives up when nothing fits', () => {
    const cfg = {
      ...BASE,
      per_device_train_batch_size: 1,
      gradient_accumulation_steps: 16,
      disable_gradient_checkpointing: true,
      image_max_pixels: 1024 * 1024,
    };
    const s = nextSmallerSetting(cfg, QWEN2VL_2B, WEIGHTS_BYTES, 8)!;
    expect(s.overrides).toContain('disable_gradient_checkpointing=false');
    expect(s.overrides.some((o) => o.startsWith('image_max_pixels=') || o === 'quantization_bit=4')).toBe(true);
    expect(nextSmallerSetting(cfg, QWEN2VL_2B, WEIGHTS_BYTES, 2)).toBeNull();
  });
});
