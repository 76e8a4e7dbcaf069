/**
 * Which checkpoint a resume can really continue from. A checkpoint whose optimizer state is missing (deleted by
 * hand, or cut short by a full disk: torch.save then fails with "unexpected pos" and leaves a truncated zip) still
 * has weights and trainer_state.json, and the HF Trainer would silently resume it with a fresh optimizer and
 * scheduler. medtune resumes from the newest checkpoint that is whole, and says why it skipped the newer ones.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readAll } from './follow.js';
import { nonEmptyFile } from './files.js';

export interface CheckpointInfo {
  step: number;
  path: string;
  /** trainer_state.json (written last by the Trainer) parses and model or adapter weights are there. */
  complete: boolean;
}

// Full, LoRA and sharded layouts; DeepSpeed keeps its shards in global_step<N>/ and names them in `latest`.
const WEIGHTS = [
  'adapter_model.safetensors',
  'adapter_model.bin',
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
  'latest',
];

async function checkpointComplete(path: string): Promise<boolean> {
  const state = await readAll(join(path, 'trainer_state.json')).catch(() => null);
  if (state === null) return false;
  try {
    const parsed: unknown = JSON.parse(state);
    if (parsed === null || typeof parsed !== 'object' || typeof (parsed as { global_step?: unknown }).global_step !== 'number')
      return false;
  } catch {
    return false;
  }
  for (const name of WEIGHTS) if (await nonEmptyFile(join(path, name))) return true;
  return false;
}

/** The `checkpoint-N` folders of an output_dir, by step; none when the folder does not exist. */
export async function listCheckpoints(outputDir: string): Promise<CheckpointInfo[]> {
  const entries = await readdir(outputDir, { withFileTypes: true }).catch(() => []);
  const out: CheckpointInfo[] = [];
  for (const e of entries) {
    const m = /^checkpoint-(\d+)$/.exec(e.name);
    if (!m || !e.isDirectory()) continue;
    const path = join(outputDir, e.name);
    out.push({ step: Number(m[1]), path, complete: await checkpointComplete(path) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The path of the newest complete checkpoint, or null. */
export async function latestCompleteCheckpoint(outputDir: string): Promise<string | null> {
  const all = await listCheckpoints(outputDir);
  for (let i = all.length - 1; i >= 0; i--) if (all[i]?.complete) return all[i]?.path ?? null;
  return null;
}

export interface SkippedCheckpoint {
  step: number;
  path: string;
  reason: string;
}

export interface ResumeChoice {
  path: string | null;
  skipped: SkippedCheckpoint[];
}

/** torch.save writes a zip: a whole one ends with an end-of-central-directory record ("PK\x05\x06"). */
async function wholeTorchZip(path: string): Promise<'ok' | 'missing' | 'truncated'> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) return 'missing';
  if (st.size < 22) return 'truncated';
  const fh = await open(path, 'r');
  try {
    const len = Math.min(st.size, 66 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, st.size - len);
    // Legacy (non-zip) pickles start with 0x80; they carry no end record to check.
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    if (head[0] === 0x80) return 'ok';
    return buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06])) >= 0 ? 'ok' : 'truncated';
  } finally {
    await fh.close();
  }
}

/** Whether a run's train.yaml saves weights only (then no checkpoint carries optimizer state, by design). */
export async function savesOnlyModel(trainYaml: string): Promise<boolean> {
  try {
    const cfg = parseYaml(await readFile(trainYaml, 'utf8')) as Record<string, unknown> | null;
    return cfg?.save_only_model === true;
  } catch {
    return false;
  }
}

/** What is wrong with a complete-looking checkpoint for a resume, or null when it is whole. */
export async function resumeProblem(path: string, opts: { saveOnlyModel?: boolean } = {}): Promise<string | null> {
  if (opts.saveOnlyModel) return null;
  // DeepSpeed keeps optimizer shards under global_step<N>/, named by `latest`.
  if (
    await stat(join(path, 'latest'))
      .then((s) => s.isFile())
      .catch(() => false)
  )
    return null;
  for (const name of ['optimizer.pt', 'scheduler.pt']) {
    const state = await wholeTorchZip(join(path, name));
    if (state === 'missing') return `${name} is missing (optimizer state)`;
    if (state === 'truncated') return `${name} is cut short (a save interrupted, e.g. by a full disk)`;
  }
  return null;
}

/** The newest checkpoint a resume can continue from, and the newer ones skipped with their reason. */
export async function resumableCheckpoint(outputDir: string, opts: { saveOnlyModel?: boolean } = {}): Promise<ResumeChoice> {
  const all = await listCheckpoints(outputDir);
  const skipped: SkippedCheckpoint[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const c = all[i]!;
    if (!c.complete) {
      skipped.push({ step: c.step, path: c.path, reason: 'no trainer_state.json or no weights (the save did not finish)' });
      continue;
    }
    const problem = await resumeProblem(c.path, opts);
    if (!problem) return { path: c.path, skipped };
    skipped.push({ step: c.step, path: c.path, reason: problem });
  }
  return { path: null, skipped };
}

/** Whether a folder holds a LoRA adapter (what LLaMA-Factory saves into output_dir at the end, or at a graceful stop). */
export async function holdsAdapter(dir: string): Promise<boolean> {
  for (const name of ['adapter_model.safetensors', 'adapter_model.bin']) {
    if (
      await stat(join(dir, name)).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return true;
  }
  return false;
}

/** What an ended run leaves to continue from: its resumable checkpoint, and the adapter in output_dir or a checkpoint. */
export async function runLeaves(m: {
  outputDir: string;
  trainYaml: string;
}): Promise<{ checkpoint: string | null; adapter: string | null }> {
  const checkpoint = (await resumableCheckpoint(m.outputDir, { saveOnlyModel: await savesOnlyModel(m.trainYaml) })).path;
  if (await holdsAdapter(m.outputDir)) return { checkpoint, adapter: m.outputDir };
  const saved = (await listCheckpoints(m.outputDir)).filter((c) => c.complete).reverse();
  for (const c of saved) if (await holdsAdapter(c.path)) return { checkpoint, adapter: c.path };
  return { checkpoint, adapter: null };
}
