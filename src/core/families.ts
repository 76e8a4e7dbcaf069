/**
 * Model families as data: one entry per family holds what medtune must know to train, export and serve it
 * (LLaMA-Factory template, image-token arithmetic, chat format, the speed-ups that work, known checkpoints).
 * A new family is a new entry here, not an edit in every file that once assumed Qwen2-VL.
 */

export type Speedup = 'flash_attn' | 'liger_kernel' | 'unsloth';

export interface ModelFamily {
  id: string;
  title: string;
  /** config.json `model_type` values of this family. */
  modelTypes: readonly string[];
  /** LLaMA-Factory `template`. */
  template: string;
  /** How a conversation is written for the model (all Qwen VL families use ChatML with vision tokens). */
  chatFormat: 'chatml';
  /** Vision patch side in pixels and the spatial merge factor: one LLM token covers (patch·merge)² pixels. */
  patchSize: number;
  mergeSize: number;
  /** LLaMA-Factory speed-ups that patch this family (Liger: qwen2_vl and qwen2_5_vl only). */
  speedups: readonly Speedup[];
  /** Hub repository ids of checkpoints medtune has seen work. */
  checkpoints: readonly string[];
}

export const MODEL_FAMILIES: readonly ModelFamily[] = [
  {
    id: 'qwen2_vl',
    title: 'Qwen2-VL',
    modelTypes: ['qwen2_vl'],
    template: 'qwen2_vl',
    chatFormat: 'chatml',
    patchSize: 14,
    mergeSize: 2,
    speedups: ['flash_attn', 'liger_kernel', 'unsloth'],
    checkpoints: ['Qwen/Qwen2-VL-2B-Instruct', 'Qwen/Qwen2-VL-7B-Instruct', 'Qwen/Qwen2-VL-72B-Instruct'],
  },
  {
    id: 'qwen2_5_vl',
    title: 'Qwen2.5-VL',
    modelTypes: ['qwen2_5_vl'],
    // LLaMA-Factory has no qwen2_5_vl template: Qwen2.5-VL uses qwen2_vl (LLaMA-Factory #7024).
    template: 'qwen2_vl',
    chatFormat: 'chatml',
    patchSize: 14,
    mergeSize: 2,
    speedups: ['flash_attn', 'liger_kernel', 'unsloth'],
    checkpoints: [
      'Qwen/Qwen2.5-VL-3B-Instruct',
      'Qwen/Qwen2.5-VL-7B-Instruct',
      'Qwen/Qwen2.5-VL-32B-Instruct',
      'Qwen/Qwen2.5-VL-72B-Instruct',
    ],
  },
  {
    id: 'qwen3_vl',
    title: 'Qwen3-VL',
    modelTypes: ['qwen3_vl', 'qwen3_vl_moe'],
    template: 'qwen3_vl',
    chatFormat: 'chatml',
    patchSize: 16,
    mergeSize: 2,
    speedups: ['flash_attn'],
    checkpoints: ['Qwen/Qwen3-VL-2B-Instruct', 'Qwen/Qwen3-VL-4B-Instruct', 'Qwen/Qwen3-VL-8B-Instruct', 'Qwen/Qwen3-VL-30B-A3B-Instruct'],
  },
];

/** The family medtune assumes when a config names none (the tiny model and the demo are Qwen2-VL). */
export const DEFAULT_FAMILY: ModelFamily = MODEL_FAMILIES[0]!;

export function familyOfModelType(modelType: string | undefined | null): ModelFamily | null {
  if (!modelType) return null;
  return MODEL_FAMILIES.find((f) => f.modelTypes.includes(modelType)) ?? null;
}

export function familyOfTemplate(template: string | undefined | null): ModelFamily | null {
  if (!template) return null;
  return MODEL_FAMILIES.find((f) => f.template === template || f.id === template) ?? null;
}

/** The family of a checkpoint by its hub id (case-insensitive), when known. */
export function familyOfCheckpoint(repoId: string): ModelFamily | null {
  const key = repoId.trim().toLowerCase();
  return MODEL_FAMILIES.find((f) => f.checkpoints.some((c) => c.toLowerCase() === key)) ?? null;
}

/** The template of a train config: its own `template` key, else the default family's. */
export function templateOf(config: { template?: unknown }): string {
  return typeof config.template === 'string' && config.template ? config.template : DEFAULT_FAMILY.template;
}

/** LLM tokens one image of `pixels` pixels takes at most (after the processor's resize to that budget). */
export function imageTokens(family: ModelFamily, pixels: number): number {
  const side = family.patchSize * family.mergeSize;
  return Math.ceil(pixels / (side * side));
}
