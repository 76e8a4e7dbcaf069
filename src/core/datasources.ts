/**
 * Where `data prepare` reads from, as a registry parsed in one place. A source string (`sample`, `hub:25M_demo`,
 * a parquet file, a folder) means exactly one DataSource; everything else (the default dataset name, the
 * helper's --source argument, the TUI's list, whether the network is needed) follows from it.
 */

export type DataSource =
  | { kind: 'sample' }
  | { kind: 'hub'; config: HubConfig }
  | { kind: 'parquet'; path: string }
  | { kind: 'folder'; path: string };

export type HubConfig = '25M_demo' | '25M_full';

export interface DataSourceEntry {
  /** What a user types (and the TUI's list passes back). */
  id: string;
  label: string;
  description: string;
  /** The dataset name `data prepare` uses without --name. */
  defaultName: string;
  /** Needs the Hugging Face Hub (and, MedTrinity being gated, a token). */
  hub: boolean;
}

/** The sources medtune offers by name; local parquet files and folders are named by their path. */
export const DATA_SOURCES: readonly DataSourceEntry[] = [
  { id: 'sample', label: 'Sample set (offline)', description: "240 synthetic scans of 8 modalities in MedTrinity-25M's schema; generated locally", defaultName: 'medtrinity-sample', hub: false },
  { id: 'hub:25M_demo', label: 'MedTrinity-25M demo (Hub)', description: '161,630 rows with images, 10 parquet shards', defaultName: 'medtrinity-demo', hub: true },
  { id: 'hub:25M_full', label: 'MedTrinity-25M full (Hub)', description: 'captions parquet + 25M_accessible/*.tar.zst images (very large)', defaultName: 'medtrinity-full', hub: true },
];

const SAMPLE_ALIASES = ['sample', 'sample-set', 'builtin'];
const HUB_ALIASES: Record<string, HubConfig> = { hub: '25M_demo', 'hub:25m_demo': '25M_demo', '25m_demo': '25M_demo', 'hub:25m_full': '25M_full', '25m_full': '25M_full' };

/** The one parser of source strings. Anything that is not a named source is a local path. */
export function parseDataSource(text: string): DataSource {
  const s = text.trim();
  const lower = s.toLowerCase();
  if (SAMPLE_ALIASES.includes(lower)) return { kind: 'sample' };
  if (HUB_ALIASES[lower]) return { kind: 'hub', config: HUB_ALIASES[lower] };
  if (lower.startsWith('hub:') || lower.startsWith('hf:') || lower.startsWith('ucsc-vlaa/medtrinity-25m')) {
    return { kind: 'hub', config: /full/i.test(s) ? '25M_full' : '25M_demo' };
  }
  return /\.parquet$/i.test(s) ? { kind: 'parquet', path: s } : { kind: 'folder', path: s.replace(/[\\/]+$/, '') || s };
}

/** The registry entry of a named source; null for local paths. */
export function dataSourceEntry(src: DataSource): DataSourceEntry | null {
  if (src.kind === 'sample') return DATA_SOURCES[0]!;
  if (src.kind === 'hub') return DATA_SOURCES.find((e) => e.id === `hub:${src.config}`) ?? null;
  return null;
}

/** The --source argument of the data_prepare helper (named sources by id, paths as given). */
export function dataSourceArg(src: DataSource): string {
  return dataSourceEntry(src)?.id ?? (src.kind === 'parquet' || src.kind === 'folder' ? src.path : '');
}

/** The dataset name `data prepare` uses when --name is not given. */
export function defaultNameOf(src: DataSource): string {
  const named = dataSourceEntry(src);
  if (named) return named.defaultName;
  const path = src.kind === 'parquet' || src.kind === 'folder' ? src.path : '';
  const last = path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? 'dataset';
  const cleaned = last.replace(/\.parquet$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return cleaned.replace(/_val$/, '-val') || 'dataset';
}
