/**
 * Free disk against the next save. torch.save on a full disk does not fail cleanly: it dies with
 * "PytorchStreamWriter failed writing file … unexpected pos" (no ENOSPC in the text) and leaves a checkpoint cut
 * short. So the supervisor stops a run while the next checkpoint still fits, and `resume`, `export` and
 * `data prepare` refuse to start without room. Pure: the runtime measures.
 */

/** Room kept free on top of the next write: logs, tokenizer copies, the filesystem's own needs. */
export const DISK_MARGIN_BYTES = 64 * 2 ** 20;

/** Bytes the next checkpoint will take: the largest one already written (measured), else the estimate. */
export function nextSaveBytes(measured: readonly number[], estimate: number): number {
  const biggest = measured.length ? Math.max(...measured) : 0;
  return biggest > 0 ? biggest : estimate;
}

export interface DiskVerdict {
  ok: boolean;
  freeBytes: number;
  /** What must be free for the next write to be safe. */
  neededBytes: number;
}

/** Safe when free space holds the next write half again, plus the margin. */
export function diskVerdict(freeBytes: number, nextWriteBytes: number, marginBytes = DISK_MARGIN_BYTES): DiskVerdict {
  const neededBytes = Math.ceil(nextWriteBytes * 1.5) + marginBytes;
  return { ok: freeBytes >= neededBytes, freeBytes, neededBytes };
}
