/** sweeps/<id>.json: which runs a sweep queued, from which grid, ranked by what. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { SweepRecord } from '../core/sweep.js';
import { readJsonIfExists, writeJsonAtomic } from './atomic.js';
import type { Workspace } from './workspace.js';

export const sweepsDir = (ws: Workspace): string => join(ws.root, 'sweeps');

export async function writeSweep(ws: Workspace, record: SweepRecord): Promise<string> {
  const file = join(sweepsDir(ws), `${record.id}.json`);
  await writeJsonAtomic(file, record);
  return file;
}

export async function listSweepIds(ws: Workspace): Promise<string[]> {
  const names = await readdir(sweepsDir(ws)).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => n.slice(0, -5))
    .sort();
}

/** A sweep by id, unique prefix, or `latest`. */
export async function readSweep(ws: Workspace, ref: string): Promise<SweepRecord> {
  const ids = await listSweepIds(ws);
  const matches = ids.includes(ref) ? [ref] : ref === 'latest' ? ids.slice(-1) : ids.filter((id) => id.startsWith(ref));
  if (matches.length !== 1) {
    throw new MedtuneError({
      doing: `finding sweep "${ref}"`,
      problem: matches.length
        ? `"${ref}" matches ${matches.length} sweeps (${matches.slice(0, 4).join(', ')})`
        : `no sweep "${ref}" in ${sweepsDir(ws)}`,
      next: matches.length
        ? 'give more of the id'
        : ids.length
          ? `sweeps here: ${ids.slice(-4).join(', ')}`
          : 'start one with `medtune sweep --grid KEY=V1,V2`',
      code: 'NO_SWEEP',
    });
  }
  const file = join(sweepsDir(ws), `${matches[0]}.json`);
  const parsed = SweepRecord.safeParse(await readJsonIfExists(file));
  if (!parsed.success) {
    throw new MedtuneError({
      doing: `reading ${file}`,
      problem: 'it is not a sweep record medtune wrote',
      next: `its runs are still in runs/: compare them with \`medtune runs compare ID ID…\``,
      code: 'BAD_SWEEP',
    });
  }
  return parsed.data;
}
