/** data/dataset_info.json, LLaMA-Factory's dataset registry: read here, and written only here, under its lock. */
import { readFile } from 'node:fs/promises';
import { parseDatasetInfo, type DatasetInfo } from '../core/dataset.js';
import { MedtuneError } from '../core/errors.js';
import { withLock, writeJsonAtomic } from './atomic.js';
import type { Workspace } from './workspace.js';

/** dataset_info.json as entries; {} when it does not exist yet; a clear error (and no write) when it is broken. */
export async function readDatasetInfo(ws: Workspace): Promise<DatasetInfo> {
  let text: string;
  try {
    text = await readFile(ws.datasetInfo, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  try {
    return parseDatasetInfo(text);
  } catch (err) {
    throw new MedtuneError({
      doing: `reading ${ws.datasetInfo}`,
      problem: `it is not a valid dataset_info.json: ${(err as Error).message}`,
      next: 'fix the file by hand (medtune never overwrites a file it cannot read), then run the command again',
      code: 'BAD_DATASET_INFO',
    });
  }
}

/** Changes dataset_info.json under its lock: `change` gets the entries as they are now and returns the new ones. */
export async function updateDatasetInfo(ws: Workspace, change: (info: DatasetInfo) => DatasetInfo): Promise<void> {
  await withLock(ws.datasetInfo, async () => {
    await writeJsonAtomic(ws.datasetInfo, change(await readDatasetInfo(ws)));
  });
}
