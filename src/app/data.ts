/** Datasets: where they can come from, preparing one, listing, previewing and checking them row by row. */
import type { CheckResult, PrepareResult } from '../core/dataset.js';
import { defaultDatasetName } from '../core/dataset.js';
import { parseDataSource } from '../core/datasources.js';
import { prepareBenchDataset } from '../runtime/bench.js';
import { finding, type Finding } from '../core/findings.js';
import {
  checkDataset,
  listDataSources,
  listDatasets,
  prepareDataset,
  previewDataset,
  type DataSourceInfo,
  type DatasetListingEntry,
  type DatasetPreviewResult,
  type PrepareOptions,
  type PreviewOptions,
} from '../runtime/datasets.js';
import { markWorkspace } from '../runtime/workspace.js';
import type { App } from './context.js';
import { ignoreProgress, type OnProgress } from './events.js';

export type PrepareRequest = Omit<PrepareOptions, 'name' | 'signal'> & { name?: string };

export async function prepareData(
  app: App,
  req: PrepareRequest,
  onProgress: OnProgress = ignoreProgress,
  signal?: AbortSignal,
): Promise<PrepareResult> {
  const opts = { ...req, name: req.name ?? defaultDatasetName(req.source), signal };
  const venv = await app.venv();
  await markWorkspace(app.ws);
  // A benchmark keeps its own splits and questions; every other source goes through the data_prepare helper.
  return parseDataSource(req.source).kind === 'bench'
    ? prepareBenchDataset(app.ws, venv, opts, onProgress)
    : prepareDataset(app.ws, venv, opts, onProgress);
}

export function dataSources(app: App): DataSourceInfo[] {
  return listDataSources(app.env);
}

export async function datasets(app: App): Promise<DatasetListingEntry[]> {
  return listDatasets(app.ws);
}

export async function preview(app: App, entry: string, opts: PreviewOptions = {}): Promise<DatasetPreviewResult> {
  return previewDataset(app.ws, entry, opts);
}

/** A check's result as findings: one per entry, one per kind of bad row (with a first example). */
export function checkFindings(r: CheckResult): Finding[] {
  const out: Finding[] = r.entries.map((e) =>
    !e.checked
      ? finding('ENTRY_UNCHECKED', 'warn', e.why ?? 'not checked', undefined, e.entry)
      : e.bad_rows
        ? finding('ENTRY_BAD_ROWS', 'fail', `${e.rows ?? '?'} rows, ${e.bad_rows} bad`, undefined, e.entry)
        : finding('ENTRY_OK', 'ok', `${e.rows ?? '?'} rows, all usable`, undefined, e.entry),
  );
  for (const [kind, n] of Object.entries(r.by_problem)) {
    const first = r.problems.find((p) => p.kind === kind);
    out.push(
      finding(
        kind.toUpperCase().replace(/[^A-Z0-9]+/g, '_'),
        'fail',
        `${n} row${n === 1 ? '' : 's'}${first ? `, e.g. ${first.file}:${first.line}: ${first.problem}` : ''}`,
        'fix those rows (or prepare the dataset again), then check again',
        kind,
      ),
    );
  }
  return out;
}

export async function check(
  app: App,
  name: string,
  onProgress: OnProgress = ignoreProgress,
  signal?: AbortSignal,
): Promise<{ result: CheckResult; findings: Finding[] }> {
  const result = await checkDataset(app.ws, await app.venv(), name, onProgress, signal);
  return { result, findings: checkFindings(result) };
}
