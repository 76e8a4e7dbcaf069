import { BENCHMARKS, BENCH_IDS, parseBenchSource } from './bench.js';

/**
 * Where `data prepare` reads from, as a registry parsed in one place. A source string (`sample`, `hub:25M_demo`,
 * a parquet file, a folder) means exactly one DataSource; everything else (the default dataset name, the
 * helper's --source argument, the TUI's list, whether the network is needed) follows from it.
 */

export type DataSource =
  | { kind: 'sample' }
  | { kind: 'hub'; config: HubConfig }
  | { kind: 'parquet'; path: string }
  | { kind: 'folder'; path: string }
  /** A medical VQA benchmark's train split (core/bench.ts), from the Hub or a local copy of its parquet files. */
  | { kind: 'bench'; id: string; dir: string | null };

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
  {
    id: 'sample',
    label: 'Sample set (offline)',
    description: "240 synthetic scans of 8 modalities in MedTrinity-25M's schema; generated locally",
    defaultName: 'medtrinity-sample',
    hub: false,
  },
  {
    id: 'hub:25M_demo',
    label: 'MedTrinity-25M demo (Hub)',
    description: '161,630 rows with images, 10 parquet shards',
    defaultName: 'medtrinity-demo',
    hub: true,
  },
  {
    id: 'hub:25M_full',
    label: 'MedTrinity-25M full (Hub)',
    description: 'captions parquet + 25M_accessible/*.tar.zst images (very large)',
    defaultName: 'medtrinity-full',
    hub: true,
  },
  ...BENCH_IDS.map((id) => ({
    id: `bench:${id}`,
    label: `${BENCHMARKS[id].label} train split (Hub)`,
    description: `${BENCHMARKS[id].repo}: a medical VQA benchmark's train split, to tune on it and measure on its test split`,
    defaultName: `bench-${id}`,
    hub: true,
  })),
];

const SAMPLE_ALIASES = ['sample', 'sample-set', 'builtin'];
const HUB_ALIASES: Record<string, HubConfig> = {
  hub: '25M_demo',
  'hub:25m_demo': '25M_demo',
  '25m_demo': '25M_demo',
  'hub:25m_full': '25M_full',
  '25m_full': '25M_full',
};

/** The one parser of source strings. Anything that is not a named source is a local path. */
export function parseDataSource(text: string): DataSource {
  const s = text.trim();
  const lower = s.toLowerCase();
  const bench = parseBenchSource(s);
  if (bench) return { kind: 'bench', id: bench.id, dir: bench.dir };
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
  if (src.kind === 'bench') return DATA_SOURCES.find((e) => e.id === `bench:${src.id}`) ?? null;
  return null;
}

/** The --source argument of the data_prepare helper (named sources by id, paths as given). */
export function dataSourceArg(src: DataSource): string {
  if (src.kind === 'bench') return `bench:${src.id}${src.dir ? `:${src.dir}` : ''}`;
  return dataSourceEntry(src)?.id ?? (src.kind === 'parquet' || src.kind === 'folder' ? src.path : '');
}

/** The dataset name `data prepare` uses when --name is not given. */
export function defaultNameOf(src: DataSource): string {
  if (src.kind === 'bench') return `bench-${src.id}`;
  const named = dataSourceEntry(src);
  if (named) return named.defaultName;
  const path = src.kind === 'parquet' || src.kind === 'folder' ? src.path : '';
  const last =
    path
      .replace(/[\\/]+$/, '')
      .split(/[\\/]/)
      .pop() ?? 'dataset';
  const cleaned = last
    .replace(/\.parquet$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return cleaned.replace(/_val$/, '-val') || 'dataset';
}
