import { describe, expect, it } from 'vitest';
import {
  checkGgufType,
  cmakePercent,
  estimateGguf,
  ggufParams,
  ggufShapesOf,
  llamaCppChecks,
  ollamaModelfile,
  quantizeProgress,
  type GgufShapes,
  type GgufType,
} from '../../src/core/gguf.js';

// config.json values as transformers 5 writes them (nested text_config) and as the Hub's Qwen2-VL ships them (flat).
const tiny = {
  architectures: ['Qwen2VLForConditionalGeneration'],
  model_type: 'qwen2_vl',
  tie_word_embeddings: true,
  text_config: {
    hidden_size: 64,
    intermediate_size: 256,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 1012,
  },
  vision_config: {
    depth: 3,
    embed_dim: 32,
    hidden_size: 64,
    mlp_ratio: 4,
    num_heads: 4,
    patch_size: 14,
    spatial_merge_size: 2,
    temporal_patch_size: 2,
  },
};
const qwen2vl2b = {
  model_type: 'qwen2_vl',
  hidden_size: 1536,
  intermediate_size: 8960,
  num_hidden_layers: 28,
  num_attention_heads: 12,
  num_key_value_heads: 2,
  vocab_size: 151936,
  tie_word_embeddings: true,
  vision_config: {
    depth: 32,
    embed_dim: 1280,
    hidden_size: 1536,
    mlp_ratio: 4,
    num_heads: 16,
    patch_size: 14,
    spatial_merge_size: 2,
    temporal_patch_size: 2,
  },
};
const qwen2vl7b = {
  ...qwen2vl2b,
  hidden_size: 3584,
  intermediate_size: 18944,
  num_attention_heads: 28,
  num_key_value_heads: 4,
  vocab_size: 152064,
  tie_word_embeddings: false,
  vision_config: { ...qwen2vl2b.vision_config, hidden_size: 3584 },
};
const shapes = (c: Record<string, unknown>): GgufShapes => ggufShapesOf(c)!;
const withText = (patch: Record<string, number>) => shapes({ ...tiny, text_config: { ...tiny.text_config, ...patch } });

describe('checkGgufType: rows must be whole quantisation blocks', () => {
  it.each<[string, GgufShapes, GgufType, boolean, GgufType | null]>([
    ['tiny, f16', shapes(tiny), 'f16', true, null],
    ['tiny, q8_0 (64 = 2 blocks of 32)', shapes(tiny), 'q8_0', true, null],
    ['tiny, q4_k_m (64 < 256)', shapes(tiny), 'q4_k_m', false, 'q8_0'],
    ['Qwen2-VL-2B, q4_k_m (1536 and 8960 are multiples of 256)', shapes(qwen2vl2b), 'q4_k_m', true, null],
    ['Qwen2-VL-7B, q4_k_m', shapes(qwen2vl7b), 'q4_k_m', true, null],
    [
      'hidden 48: q8_0 fails, only f16 works',
      withText({ hidden_size: 48, num_attention_heads: 4, intermediate_size: 256 }),
      'q8_0',
      false,
      'f16',
    ],
    ['hidden 48: q4_k_m names f16', withText({ hidden_size: 48, num_attention_heads: 4, intermediate_size: 256 }), 'q4_k_m', false, 'f16'],
    [
      'FFN 320 (not /256) with hidden 512',
      withText({ hidden_size: 512, intermediate_size: 320, num_attention_heads: 8 }),
      'q4_k_m',
      false,
      'q8_0',
    ],
    [
      'explicit head_dim makes the attention output 4 × 40 = 160',
      withText({ hidden_size: 256, intermediate_size: 512, head_dim: 40 }),
      'q8_0',
      true,
      null,
    ],
    ['head_dim 40 against blocks of 256', withText({ hidden_size: 256, intermediate_size: 512, head_dim: 40 }), 'q4_k_m', false, 'q8_0'],
  ])('%s', (_name, s, type, ok, instead) => {
    const c = checkGgufType(s, type);
    expect(c.ok).toBe(ok);
    if (!c.ok) {
      expect(c.instead).toBe(instead);
      expect(c.problem).toMatch(/blocks of \d+/);
    }
  });
});

describe('ggufParams and estimateGguf', () => {
  it("counts the tiny model's parameters (depth-3 ViT) exactly as the builder reports them", () => {
    const p = ggufParams(shapes(tiny));
    // tiny_model.py's result event for these sizes: 288,800 parameters.
    expect(p.text + p.vision).toBe(288_800);
  });

  it('counts Qwen2-VL-2B at its published 2.2 B (1.5 B language model, 0.67 B vision tower)', () => {
    const p = ggufParams(shapes(qwen2vl2b));
    expect(p.text / 1e9).toBeCloseTo(1.54, 1);
    expect(p.vision / 1e9).toBeCloseTo(0.67, 1);
  });

  it('orders sizes f16 > q8_0 > q4_k_m, keeps the mmproj at f16, and adds the KV cache to the memory', () => {
    const [f16, q8, q4] = (['f16', 'q8_0', 'q4_k_m'] as const).map((t) => estimateGguf(shapes(qwen2vl2b), t));
    expect(f16!.modelBytes).toBeGreaterThan(q8!.modelBytes);
    expect(q8!.modelBytes).toBeGreaterThan(q4!.modelBytes);
    expect(f16!.modelBytes / 2 ** 30).toBeCloseTo(2.9, 0);
    expect(q8!.mmprojBytes).toBe(f16!.mmprojBytes);
    for (const e of [f16!, q8!, q4!]) expect(e.memoryBytes).toBeGreaterThan(e.modelBytes + e.mmprojBytes);
    expect(q4!.check.ok).toBe(true);
  });

  it('is null for a config without the vision tower', () => {
    expect(
      ggufShapesOf({ hidden_size: 64, intermediate_size: 256, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 10 }),
    ).toBeNull();
  });
});

describe('ollamaModelfile', () => {
  it('names the model and the projector as two FROM lines beside it, with ChatML and its stop token', () => {
    const text = ollamaModelfile('run-q8_0.gguf', 'mmproj-run-f16.gguf');
    expect(text.split('\n').slice(0, 2)).toEqual(['FROM ./run-q8_0.gguf', 'FROM ./mmproj-run-f16.gguf']);
    expect(text).toContain('<|im_start|>assistant');
    expect(text).toContain('PARAMETER stop "<|im_end|>"');
  });
});

describe('progress lines', () => {
  it.each([
    ['[ 42%] Building CXX object src/llama.cpp.o', 42],
    ['[100%] Linking CXX executable ../../bin/llama-mtmd-cli', 100],
    ['-- Configuring done', null],
  ])('cmakePercent(%j)', (line, want) => expect(cmakePercent(line)).toBe(want));

  it.each([
    [
      '[  12/ 338]                  blk.0.attn_k.weight - [ 1536,   256,     1,     1], type =    f16, converting to q8_0',
      { done: 12, total: 338 },
    ],
    ['llama_model_quantize_impl: model size  =  2.95 GiB', null],
  ])('quantizeProgress(%j)', (line, want) => expect(quantizeProgress(line)).toEqual(want));
});

describe('llamaCppChecks', () => {
  it('is one ok line when built', () => {
    expect(llamaCppChecks({ built: 'x', dir: '/c', cmake: null, cxx: null })).toEqual([
      { name: 'llama.cpp (gguf)', level: 'ok', detail: 'x at /c' },
    ]);
  });
  it('warns, never fails, and names the package command when cmake is missing', () => {
    const checks = llamaCppChecks({ built: null, dir: '/c', cmake: null, cxx: 'g++ 12' });
    expect(checks.every((c) => c.level !== 'fail')).toBe(true);
    expect(checks.find((c) => c.name === 'cmake')!.fix).toContain('apt-get install cmake');
    expect(checks.find((c) => c.name === 'llama.cpp (gguf)')!.fix).toContain('medtune setup --gguf');
  });
});
