/**
 * Datasets as LLaMA-Factory reads them: dataset_info.json entries, the manifest medtune writes next to each
 * prepared dataset, the results of the prepare/check helpers, and the pure helpers around them.
 *
 * Naming: `medtune data prepare --name X` writes data/X/{train.jsonl,val.jsonl,images/,manifest.json} and
 * registers two entries: `X` (train.jsonl) and `X_val` (val.jsonl, only when the split has rows). Use
 * `dataset: X` and `eval_dataset: X_val` in a train config.
 */
import { displaySafe } from './sanitize.js';
import { defaultNameOf, parseDataSource } from './datasources.js';
import { z } from 'zod';

/** Modalities derived from a caption's first sentence (python/medtune_py/medtrinity.py holds the rules). */
export const MODALITIES = ['CT', 'MRI', 'X-ray', 'ultrasound', 'pathology', 'endoscopy', 'dermoscopy', 'fundus', 'PET', 'other'] as const;
export const LANGS = ['en', 'zh', 'mixed'] as const;
export type Lang = (typeof LANGS)[number];

export const VAL_SUFFIX = '_val';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why a dataset name is not allowed, or null when it is. */
export function datasetNameProblem(name: string): string | null {
  if (!NAME_RE.test(name))
    return `"${name}" is not a valid dataset name: use letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit`;
  if (name.endsWith(VAL_SUFFIX)) return `"${name}" ends in ${VAL_SUFFIX}, which medtune keeps for the validation split`;
  return null;
}

export function entryNames(name: string): { train: string; val: string } {
  return { train: name, val: `${name}${VAL_SUFFIX}` };
}

/** The dataset a registered entry belongs to (`X_val` → `X`). */
export function baseName(entry: string): string {
  return entry.endsWith(VAL_SUFFIX) ? entry.slice(0, -VAL_SUFFIX.length) : entry;
}

export const DatasetInfoEntry = z
  .object({
    file_name: z.string().optional(),
    hf_hub_url: z.string().optional(),
    ms_hub_url: z.string().optional(),
    formatting: z.enum(['alpaca', 'sharegpt', 'openai']).optional(),
    columns: z.record(z.string(), z.string()).optional(),
    tags: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();
export type DatasetInfoEntry = z.infer<typeof DatasetInfoEntry>;
export type DatasetInfo = Record<string, DatasetInfoEntry>;

/** A sharegpt multimodal entry in LLaMA-Factory's `mllm_demo` shape; `file` is relative to dataset_dir. */
export function sharegptEntry(file: string): DatasetInfoEntry {
  return {
    file_name: file,
    formatting: 'sharegpt',
    columns: { messages: 'messages', images: 'images' },
    tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant' },
  };
}

/**
 * dataset_info.json with the entries of dataset `name` set (and `name_val` removed when there is no val split);
 * every other entry is kept as it was, in its place.
 */
export function withDatasetEntries(info: DatasetInfo, name: string, hasVal: boolean): DatasetInfo {
  const { train, val } = entryNames(name);
  const out: DatasetInfo = { ...info, [train]: sharegptEntry(`${name}/train.jsonl`) };
  if (hasVal) out[val] = sharegptEntry(`${name}/val.jsonl`);
  else delete out[val];
  return out;
}

/** Parses dataset_info.json text; throws a plain Error with the reason when it is not an object of entries. */
export function parseDatasetInfo(text: string): DatasetInfo {
  const raw: unknown = JSON.parse(text);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('dataset_info.json must hold a JSON object of entries');
  const out: DatasetInfo = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const parsed = DatasetInfoEntry.safeParse(v);
    if (!parsed.success) throw new Error(`entry "${k}" is not a dataset entry (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    out[k] = parsed.data;
  }
  return out;
}

const Counts = z.record(z.string(), z.number());

/** What `python -m medtune_py.data_prepare` reports at the end. */
export const PrepareResult = z.object({
  name: z.string(),
  dir: z.string(),
  kept: z.number(),
  skipped: Counts,
  train: z.number(),
  val: z.number(),
  rows_read: z.number(),
  converted: z.number(),
  copied: z.number(),
  neutralised: z.number(),
  modalities: z.object({ train: Counts, val: Counts }),
  content_hash: z.string(),
  source: z.string(),
  layout: z.enum(['demo', 'full', 'bench', 'scans']),
  limit_reached: z.boolean(),
  warnings: z.array(z.string()),
  reused: z.boolean(),
  resumed_units: z.number(),
  processed_units: z.number(),
  units: z.number(),
  seconds: z.number(),
  workers: z.number().optional(),
  /** Scan sources: members of the folder that gave no image, by their place in the folder's sorted walk. */
  refused: z.array(z.object({ member: z.number(), code: z.string(), reason: z.string() })).optional(),
});
export type HelperPrepareResult = z.infer<typeof PrepareResult>;
export type PrepareResult = HelperPrepareResult & {
  /** dataset_info.json entries now pointing at this dataset. */
  entries: { train: string; val: string | null };
};

export const DatasetManifest = z
  .object({
    format: z.literal('medtune-dataset/1'),
    name: z.string(),
    created_at: z.string(),
    source: z.object({ spec: z.string(), kind: z.string(), layout: z.string(), root: z.string(), files: z.number() }),
    options: z.object({
      limit: z.number().nullable(),
      val_ratio: z.number(),
      modality: z.array(z.string()).nullable(),
      lang: z.string(),
      max_pixels: z.number(),
      unit_rows: z.number(),
    }),
    counts: z.object({
      rows_read: z.number(),
      kept: z.number(),
      train: z.number(),
      val: z.number(),
      skipped: Counts,
      converted: z.number(),
      copied: z.number(),
      neutralised: z.number(),
      unmatched_images: z.number(),
      trimmed_by_limit: z.number(),
      limit_reached: z.boolean(),
    }),
    modalities: z.object({ train: Counts, val: Counts }),
    content_hash: z.string(),
    warnings: z.array(z.string()),
  })
  .passthrough();
export type DatasetManifest = z.infer<typeof DatasetManifest>;

export const CheckProblem = z.object({ entry: z.string(), file: z.string(), line: z.number(), kind: z.string(), problem: z.string() });
export const CheckResult = z.object({
  ok: z.boolean(),
  name: z.string(),
  rows: z.number(),
  bad_rows: z.number(),
  entries: z.array(
    z.object({
      entry: z.string(),
      checked: z.boolean(),
      rows: z.number().optional(),
      bad_rows: z.number().optional(),
      files: z.array(z.string()).optional(),
      why: z.string().optional(),
    }),
  ),
  by_problem: Counts,
  problems: z.array(CheckProblem),
});
export type CheckResult = z.infer<typeof CheckResult>;
export type CheckProblem = z.infer<typeof CheckProblem>;

/** Progress as the data helpers report it (the shape the CLI reporter and the TUI both take). */
export interface DataProgress {
  phase: string;
  done: number;
  total: number | null;
  message?: string;
}

/** A dataset_info.json entry as `data list` shows it, with its medtune manifest when it has one. */
export interface DatasetListing {
  /** The dataset_info.json key. */
  entry: string;
  /** The prepared dataset it belongs to (entry minus `_val`), or null for entries medtune did not make. */
  dataset: string | null;
  split: 'train' | 'val' | null;
  file: string | null;
  rows: number | null;
  modalities: Record<string, number>;
  source: string | null;
  createdAt: string | null;
}

export function listingsFor(info: DatasetInfo, manifests: Record<string, DatasetManifest>): DatasetListing[] {
  return Object.entries(info).map(([entry, e]) => {
    const base = baseName(entry);
    const m = manifests[base];
    const split = !m ? null : entry === base ? 'train' : 'val';
    const ours = !!m && e.file_name === `${base}/${split}.jsonl`;
    return {
      entry,
      dataset: ours ? base : null,
      split: ours ? split : null,
      file: e.file_name ?? e.hf_hub_url ?? e.ms_hub_url ?? null,
      rows: ours && split ? m.counts[split] : null,
      modalities: ours && split ? m.modalities[split] : {},
      source: ours ? m.source.spec : (e.hf_hub_url ?? null),
      createdAt: ours ? m.created_at : null,
    };
  });
}

/** One row of a sharegpt dataset as people read it. */
export interface PreviewRow {
  line: number;
  id: string | null;
  modality: string | null;
  question: string;
  answer: string;
  images: string[];
}

const PLACEHOLDER = /<image>/g;

export function previewRow(line: number, row: unknown): PreviewRow {
  const r = (row ?? {}) as { messages?: unknown; images?: unknown; id?: unknown; modality?: unknown };
  const msgs = Array.isArray(r.messages) ? (r.messages as { role?: unknown; content?: unknown }[]) : [];
  const text = (m: { content?: unknown } | undefined) => (typeof m?.content === 'string' ? m.content : '');
  const user = msgs.find((m) => m?.role === 'user');
  const assistant = msgs.find((m) => m?.role === 'assistant');
  return {
    line,
    // Ids and text come from the source as they were: escape what could drive the terminal.
    id: typeof r.id === 'string' ? displaySafe(r.id) : null,
    modality: typeof r.modality === 'string' ? displaySafe(r.modality) : null,
    question: displaySafe(text(user).replace(PLACEHOLDER, '').trim()),
    answer: displaySafe(text(assistant)),
    images: Array.isArray(r.images) ? r.images.filter((p): p is string => typeof p === 'string') : [],
  };
}

/** Sum of per-split counts, largest first. */
export function mergeHistograms(...parts: Record<string, number>[]): [string, number][] {
  const total: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p)) total[k] = (total[k] ?? 0) + v;
  return Object.entries(total).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export function formatCounts(counts: Record<string, number> | [string, number][]): string {
  const list = Array.isArray(counts) ? counts : Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return list.length ? list.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}

/** The dataset name `data prepare` uses when --name is not given. */
export function defaultDatasetName(source: string): string {
  return defaultNameOf(parseDataSource(source));
}

export type SourceKind = 'sample' | 'hub' | 'local';

export function sourceKind(source: string): SourceKind {
  const src = parseDataSource(source);
  if (src.kind === 'bench') return src.dir ? 'local' : 'hub';
  return src.kind === 'parquet' || src.kind === 'folder' ? 'local' : src.kind;
}

function countBy(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}

export function prepareSummaryLines(r: PrepareResult): string[] {
  const skippedTotal = Object.values(r.skipped).reduce((a, b) => a + b, 0);
  const lines = [
    r.reused
      ? `✓ dataset ${r.name} is already prepared from this source with these options (${r.train} train / ${r.val} val)`
      : `✓ dataset ${r.name}: ${r.train} train / ${r.val} val rows (${r.kept} kept of ${r.rows_read} read) in ${r.seconds.toFixed(1)} s`,
    `  skipped: ${skippedTotal ? formatCounts(r.skipped) : 'none'}`,
    `  images: ${r.copied} copied as they were, ${r.converted} converted${r.neutralised ? `; ${r.neutralised} captions had placeholder text defused` : ''}`,
    `  modalities: ${formatCounts(mergeHistograms(r.modalities.train, r.modalities.val))}`,
  ];
  if (r.refused?.length) lines.push(`  refused scans: ${formatCounts(countBy(r.refused.map((x) => x.code)))}`);
  if (r.resumed_units) lines.push(`  resumed: ${r.resumed_units} of ${r.units} shards were already done`);
  if (r.limit_reached) lines.push('  stopped at --limit');
  for (const w of r.warnings) lines.push(`! ${w}`);
  lines.push(`  registered: ${[r.entries.train, r.entries.val].filter(Boolean).join(', ')} in data/dataset_info.json → ${r.dir}`);
  lines.push(
    `  next: medtune data check ${r.name} · medtune train -d ${r.entries.train}${r.entries.val ? ` --eval-dataset ${r.entries.val}` : ''}`,
  );
  return lines;
}

export function checkSummaryLines(r: CheckResult): string[] {
  const lines: string[] = [];
  for (const e of r.entries) {
    lines.push(
      e.checked
        ? `${e.bad_rows ? '✗' : '✓'} ${e.entry}: ${e.rows} rows${e.bad_rows ? `, ${e.bad_rows} bad` : ', all pass'} (${(e.files ?? []).join(', ')})`
        : `- ${e.entry}: not checked (${e.why})`,
    );
  }
  for (const p of r.problems) lines.push(`  ${p.file}:${p.line}: ${p.problem}`);
  if (r.bad_rows > r.problems.length) lines.push(`  … ${r.bad_rows - r.problems.length} more bad rows (${formatCounts(r.by_problem)})`);
  lines.push(
    r.ok
      ? `✓ ${r.name}: ${r.rows} rows pass LLaMA-Factory's checks (roles, message count, placeholders = images, images exist and decode)`
      : `✗ ${r.name}: ${r.bad_rows} of ${r.rows} rows would be dropped or would stop training; fix them or prepare the dataset again`,
  );
  return lines;
}
