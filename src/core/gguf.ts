/**
 * GGUF export decisions, pure: which llama.cpp types a model's shapes can take, what each costs on disk and in
 * memory, the Ollama Modelfile, and the progress lines of llama.cpp's build and quantiser.
 */
import type { Check } from './doctor.js';
import { textConfigOf, type TextConfig } from './estimate.js';

/** The types `export --gguf` offers, from largest to smallest. */
export const GGUF_TYPES = ['f16', 'q8_0', 'q4_k_m'] as const;
export type GgufType = (typeof GGUF_TYPES)[number];

export function isGgufType(s: string): s is GgufType {
  return (GGUF_TYPES as readonly string[]).includes(s);
}

interface TypeFacts {
  /** llama-quantize's name for it. */
  quantName: string;
  /** Weights per quantisation block: every row of a quantised matrix must be a multiple of it. */
  block: number;
  /** Bytes per weight of a 2-D matrix (Q4_K_M mixes Q4_K with Q6_K for attn_v, half of ffn_down and the output). */
  bytesPerWeight: number;
  /** One line on what it costs, for the choice list. */
  quality: string;
}

export const GGUF_TYPE_FACTS: Record<GgufType, TypeFacts> = {
  f16: { quantName: 'F16', block: 1, bytesPerWeight: 2, quality: 'lossless for a bf16/fp16 model' },
  q8_0: { quantName: 'Q8_0', block: 32, bytesPerWeight: 34 / 32, quality: 'near-lossless; half the size of f16' },
  q4_k_m: { quantName: 'Q4_K_M', block: 256, bytesPerWeight: 4.85 / 8, quality: 'smallest; some loss on fine detail' },
};

/** The shapes that decide a GGUF export, read from a Qwen2-VL config.json. */
export interface GgufShapes {
  text: TextConfig;
  vocab: number;
  tiedEmbeddings: boolean;
  vision: { embed: number; depth: number; mlpRatio: number; patch: number; temporalPatch: number; merge: number; inChannels: number };
}

export function ggufShapesOf(config: Record<string, unknown>): GgufShapes | null {
  const text = textConfigOf(config);
  const tc = (config.text_config && typeof config.text_config === 'object' ? config.text_config : config) as Record<string, unknown>;
  const vc = config.vision_config as Record<string, unknown> | undefined;
  const num = (o: Record<string, unknown> | undefined, k: string, dflt?: number) => (typeof o?.[k] === 'number' ? (o[k] as number) : dflt);
  const vocab = num(tc, 'vocab_size') ?? num(config, 'vocab_size');
  const embed = num(vc, 'embed_dim');
  const depth = num(vc, 'depth');
  if (!text || !vocab || !embed || !depth) return null;
  return {
    text,
    vocab,
    tiedEmbeddings: (config.tie_word_embeddings ?? tc.tie_word_embeddings) === true,
    vision: {
      embed,
      depth,
      mlpRatio: num(vc, 'mlp_ratio', 4)!,
      patch: num(vc, 'patch_size', 14)!,
      temporalPatch: num(vc, 'temporal_patch_size', 2)!,
      merge: num(vc, 'spatial_merge_size', 2)!,
      inChannels: num(vc, 'in_channels', 3)!,
    },
  };
}

function headDim(t: TextConfig): number {
  return t.head_dim ?? t.hidden_size / t.num_attention_heads;
}

/** The row lengths (input widths) of the language model's matrices: what a quantisation block must divide. */
export function rowLengths(s: GgufShapes): { tensor: string; length: number }[] {
  const t = s.text;
  return [
    { tensor: 'embeddings, attention q/k/v, mlp gate/up (hidden_size)', length: t.hidden_size },
    { tensor: 'attention output (heads × head_dim)', length: t.num_attention_heads * headDim(t) },
    { tensor: 'mlp down (intermediate_size)', length: t.intermediate_size },
  ];
}

export type TypeCheck = { type: GgufType; ok: true } | { type: GgufType; ok: false; problem: string; instead: GgufType };

/** Whether llama-quantize can give `type` to every matrix of the language model (the vision projector stays f16). */
export function checkGgufType(s: GgufShapes, type: GgufType): TypeCheck {
  const { block } = GGUF_TYPE_FACTS[type];
  const bad = rowLengths(s).filter((r) => r.length % block !== 0);
  if (!bad.length) return { type, ok: true };
  const instead = [...GGUF_TYPES].reverse().find((t) => rowLengths(s).every((r) => r.length % GGUF_TYPE_FACTS[t].block === 0))!;
  return {
    type,
    ok: false,
    problem: `${type} packs weights in blocks of ${block}, but this model's rows are ${bad.map((b) => `${b.length} long (${b.tensor})`).join(' and ')}`,
    instead,
  };
}

/** Parameter counts: the language model (what is quantised) and the vision tower with its merger (the mmproj). */
export function ggufParams(s: GgufShapes): { text: number; textMatrices: number; vision: number } {
  const t = s.text;
  const h = t.hidden_size;
  const kv = (t.num_key_value_heads ?? t.num_attention_heads) * headDim(t);
  const q = t.num_attention_heads * headDim(t);
  const perLayerMatrices = h * q + 2 * h * kv + q * h + 3 * h * t.intermediate_size;
  const perLayerOther = q + 2 * kv + 2 * h; // q/k/v biases, two norms
  const embeddings = s.vocab * h * (s.tiedEmbeddings ? 1 : 2);
  const textMatrices = t.num_hidden_layers * perLayerMatrices + embeddings;
  const v = s.vision;
  const e = v.embed;
  const mlp = e * v.mlpRatio;
  const merged = e * v.merge * v.merge;
  const block = 3 * e * e + 3 * e + e * e + e + 2 * e * mlp + mlp + e + 4 * e;
  const vision =
    v.inChannels * v.temporalPatch * v.patch * v.patch * e + v.depth * block + 2 * e + merged * merged + merged + merged * h + h;
  return { text: textMatrices + t.num_hidden_layers * perLayerOther + h, textMatrices, vision };
}

/** Context length the memory estimate assumes (Ollama's and llama.cpp's usual default). */
export const GGUF_CONTEXT = 4096;

export interface GgufEstimate {
  type: GgufType;
  check: TypeCheck;
  modelBytes: number;
  mmprojBytes: number;
  /** Weights + mmproj + an f16 KV cache for GGUF_CONTEXT tokens + compute buffers (about a tenth of the weights). */
  memoryBytes: number;
  quality: string;
}

export function estimateGguf(s: GgufShapes, type: GgufType): GgufEstimate {
  const p = ggufParams(s);
  const facts = GGUF_TYPE_FACTS[type];
  const modelBytes = Math.round(p.textMatrices * facts.bytesPerWeight + (p.text - p.textMatrices) * 4);
  const mmprojBytes = p.vision * 2;
  const t = s.text;
  const kvBytes = 2 * t.num_hidden_layers * GGUF_CONTEXT * (t.num_key_value_heads ?? t.num_attention_heads) * headDim(t) * 2;
  const memoryBytes = Math.round((modelBytes + mmprojBytes) * 1.1 + kvBytes);
  return { type, check: checkGgufType(s, type), modelBytes, mmprojBytes, memoryBytes, quality: facts.quality };
}

/** File names inside exports/<name>/gguf/. */
export function ggufFileName(exportName: string, type: GgufType): string {
  return `${exportName}-${type}.gguf`;
}
/** `mmproj-` first: LM Studio and llama.cpp's own model repositories recognise a projector by that prefix. */
export function mmprojFileName(exportName: string): string {
  return `mmproj-${exportName}-f16.gguf`;
}
export function modelfileName(type: GgufType): string {
  return `Modelfile.${type}`;
}

/**
 * An Ollama Modelfile: the model and its projector as two FROM lines (Ollama files the second as the image
 * projector), Qwen2-VL's ChatML turns as a Go template, and its stop token.
 */
export function ollamaModelfile(modelFile: string, mmprojFile: string): string {
  return [
    `FROM ./${modelFile}`,
    `FROM ./${mmprojFile}`,
    'TEMPLATE """{{- if .System }}<|im_start|>system',
    '{{ .System }}<|im_end|>',
    '{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}',
    '{{ .Content }}<|im_end|>',
    '{{ end }}<|im_start|>assistant',
    '"""',
    'SYSTEM "You are a helpful assistant."',
    'PARAMETER stop "<|im_end|>"',
    'PARAMETER stop "<|endoftext|>"',
    'PARAMETER temperature 0',
    '',
  ].join('\n');
}

/** `[ 42%] Building …` from a CMake build: the percentage, or null. */
export function cmakePercent(line: string): number | null {
  const m = /^\[\s*(\d{1,3})%\]/.exec(line.trim());
  return m ? Number(m[1]) : null;
}

/** `[  12/ 338]  blk.0.attn_k.weight - …` from llama-quantize: tensors done and total, or null. */
export function quantizeProgress(line: string): { done: number; total: number } | null {
  const m = /^\[\s*(\d+)\/\s*(\d+)\]/.exec(line.trim());
  return m ? { done: Number(m[1]), total: Number(m[2]) } : null;
}

/** `doctor`'s lines for GGUF export: optional, so what is missing warns, with the command that adds it. */
export function llamaCppChecks(f: { built: string | null; dir: string; cmake: string | null; cxx: string | null }): Check[] {
  const install = 'Debian/Ubuntu: sudo apt-get install cmake g++ (macOS: xcode-select --install && brew install cmake)';
  const out: Check[] = [];
  if (f.built) return [{ name: 'llama.cpp (gguf)', level: 'ok', detail: `${f.built} at ${f.dir}` }];
  out.push({
    name: 'cmake',
    level: f.cmake ? 'ok' : 'warn',
    detail: f.cmake ?? 'not found (needed once, to build llama.cpp for `export --gguf`)',
    fix: f.cmake ? undefined : install,
  });
  out.push({
    name: 'c++ compiler',
    level: f.cxx ? 'ok' : 'warn',
    detail: f.cxx ?? 'not found (needed once, to build llama.cpp for `export --gguf`)',
    fix: f.cxx ? undefined : install,
  });
  out.push({
    name: 'llama.cpp (gguf)',
    level: 'warn',
    detail: `not built (only \`export --gguf\` and \`ask gguf:\` need it; expected at ${f.dir})`,
    fix:
      f.cmake && f.cxx
        ? 'run `medtune setup --gguf` (builds it once; up to an hour on 2 cores)'
        : `${install}, then run \`medtune setup --gguf\``,
  });
  return out;
}
