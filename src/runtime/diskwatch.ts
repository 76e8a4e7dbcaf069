/**
 * The supervisor's disk watch: every second it compares the free space of output_dir's filesystem with what the
 * next checkpoint needs (the largest checkpoint already written, else the estimate from the model and LoRA rank),
 * and stops the run (SIGTERM to its group: nothing more is written, the checkpoints stay) before torch.save would
 * fail half-way. The cause is recorded in run.json as DISK_LOW; `resume` works once space is freed.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import { diskVerdict, nextSaveBytes, type DiskVerdict } from '../core/diskguard.js';
import { formatBytes } from '../core/format.js';
import { freeBytes } from './doctor.js';
import { checkpointBytes, loraParamCount, textConfigOf } from '../core/estimate.js';
import type { RunManifest } from '../core/run.js';

/** Total bytes of the files under `dir` (not following links). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(p);
    else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** The estimate of one checkpoint of this run, from its train.yaml and its model's config.json. */
export async function estimatedCheckpointBytes(m: Pick<RunManifest, 'trainYaml' | 'model'>): Promise<number> {
  try {
    const cfg = (parseYaml(await readFile(m.trainYaml, 'utf8')) ?? {}) as Record<string, unknown>;
    const model = JSON.parse(await readFile(join(m.model, 'config.json'), 'utf8')) as Record<string, unknown>;
    const text = textConfigOf(model);
    if (!text) return 0;
    return checkpointBytes(loraParamCount(text, Number(cfg.lora_rank ?? 8)), { saveOnlyModel: cfg.save_only_model === true });
  } catch {
    return 0;
  }
}

/** What the next checkpoint of a run needs against what is free now. */
export async function checkpointRoom(outputDir: string, estimate: number): Promise<DiskVerdict> {
  const entries = await readdir(outputDir).catch(() => [] as string[]);
  const ckpts = entries
    .filter((e) => /^checkpoint-\d+$/.test(e))
    .sort((a, b) => Number(b.slice(11)) - Number(a.slice(11)))
    .slice(0, 2);
  const measured = await Promise.all(ckpts.map((c) => treeBytes(join(outputDir, c))));
  // A filesystem that cannot be measured is not stopped for.
  return diskVerdict((await freeBytes(outputDir)) ?? Number.MAX_SAFE_INTEGER, nextSaveBytes(measured, estimate));
}

export interface DiskWatch {
  stop(): void;
}

/** Calls `onLow` once, as soon as the next checkpoint would no longer fit. */
export function startDiskWatch(outputDir: string, estimate: number, onLow: (v: DiskVerdict) => void, intervalMs = 1000): DiskWatch {
  let fired = false;
  let busy = false;
  const timer = setInterval(() => {
    if (fired || busy) return;
    busy = true;
    checkpointRoom(outputDir, estimate)
      .then((v) => {
        if (!v.ok && !fired) {
          fired = true;
          onLow(v);
        }
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  return { stop: () => clearInterval(timer) };
}

export function diskLowCause(v: DiskVerdict, outputDir: string, runId: string): { code: string; summary: string; next: string } {
  return {
    code: 'DISK_LOW',
    summary: `stopped before the next checkpoint: ${formatBytes(v.freeBytes)} free where ${outputDir} lives, the next save needs ${formatBytes(v.neededBytes)} with margin`,
    next: `free disk (or lower save_total_limit), then \`medtune resume ${runId}\` continues from the last complete checkpoint`,
  };
}

/** Refuses to start a write of about `bytes` into `dir` without room for it. */
export async function requireRoom(dir: string, bytes: number, what: { doing: string; next: string }): Promise<void> {
  const v = diskVerdict((await freeBytes(dir)) ?? Number.MAX_SAFE_INTEGER, bytes);
  if (v.ok) return;
  throw new MedtuneError({
    doing: what.doing,
    problem: `only ${formatBytes(v.freeBytes)} is free where ${dir} lives, and this needs about ${formatBytes(v.neededBytes)} (with margin)`,
    next: what.next,
    code: 'DISK_TOO_SMALL',
  });
}
