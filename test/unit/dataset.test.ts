import { describe, expect, it } from 'vitest';
import {
  baseName,
  checkSummaryLines,
  datasetNameProblem,
  defaultDatasetName,
  entryNames,
  formatCounts,
  listingsFor,
  mergeHistograms,
  parseDatasetInfo,
  prepareSummaryLines,
  previewRow,
  sharegptEntry,
  sourceKind,
  withDatasetEntries,
  type CheckResult,
  type DatasetManifest,
  type PrepareResult,
} from '../../src/core/dataset.js';

describe('dataset names', () => {
  it.each([
    ['medtrinity-demo', null],
    ['ct_only.v2', null],
    ['A', null],
    ['', 'not a valid'],
    ['../escape', 'not a valid'],
    ['a/b', 'not a valid'],
    ['.hidden', 'not a valid'],
    ['x'.repeat(65), 'not a valid'],
    ['名前', 'not a valid'],
    ['mine_val', 'validation split'],
  ])('%s → %s', (name, problem) => {
    const got = datasetNameProblem(name);
    if (problem === null) expect(got).toBeNull();
    else expect(got).toContain(problem);
  });

  it('pairs a dataset with its _val entry and back', () => {
    expect(entryNames('d')).toEqual({ train: 'd', val: 'd_val' });
    expect(baseName('d_val')).toBe('d');
    expect(baseName('d')).toBe('d');
  });

  it.each([
    ['sample', 'medtrinity-sample'],
    ['hub:25M_demo', 'medtrinity-demo'],
    ['25M_full', 'medtrinity-full'],
    ['/data/MedTrinity/25M_demo/', '25M_demo'],
    ['./train-00000-of-00010.parquet', 'train-00000-of-00010'],
    ['/x/my data (copy)', 'my-data-copy-'],
    ['/x/foo_val', 'foo-val'],
    ['/', 'dataset'],
  ])('default name for %s is %s', (source, name) => {
    expect(defaultDatasetName(source)).toBe(name);
    expect(datasetNameProblem(defaultDatasetName(source))).toBeNull();
  });

  it.each([
    ['sample', 'sample'],
    ['SAMPLE', 'sample'],
    ['hub', 'hub'],
    ['hub:25M_full', 'hub'],
    ['25m_demo', 'hub'],
    ['UCSC-VLAA/MedTrinity-25M:25M_demo', 'hub'],
    ['./hub', 'local'],
    ['/data/x.parquet', 'local'],
  ])('source %s is %s', (s, kind) => expect(sourceKind(s)).toBe(kind));
});

describe('dataset_info.json', () => {
  const foreign = {
    mllm_demo: {
      file_name: 'mllm_demo.json',
      formatting: 'sharegpt' as const,
      columns: { messages: 'messages', images: 'images' },
      custom_key: 1,
    },
  };

  it('adds both entries, keeps every other entry exactly as it was', () => {
    const out = withDatasetEntries(foreign, 'ct', true);
    expect(out.mllm_demo).toEqual(foreign.mllm_demo);
    expect(out.ct).toEqual(sharegptEntry('ct/train.jsonl'));
    expect(out.ct_val?.file_name).toBe('ct/val.jsonl');
    expect(Object.keys(out)).toEqual(['mllm_demo', 'ct', 'ct_val']);
  });

  it('drops a stale _val entry when the new split has no val rows', () => {
    const before = withDatasetEntries(foreign, 'ct', true);
    const after = withDatasetEntries(before, 'ct', false);
    expect(after.ct_val).toBeUndefined();
    expect(after.ct).toBeDefined();
    expect(before.ct_val).toBeDefined();
  });

  it("uses the sharegpt multimodal shape of LLaMA-Factory's mllm_demo", () => {
    expect(sharegptEntry('a/train.jsonl')).toEqual({
      file_name: 'a/train.jsonl',
      formatting: 'sharegpt',
      columns: { messages: 'messages', images: 'images' },
      tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant' },
    });
  });

  it.each([
    ['[]', 'JSON object'],
    ['{"a": 3}', 'entry "a"'],
    ['{"a": {"formatting": "weird"}}', 'entry "a"'],
    ['{broken', 'JSON'],
  ])('rejects %s', (text, why) => expect(() => parseDatasetInfo(text)).toThrow(why));

  it('parses a real-looking file and keeps unknown keys', () => {
    const info = parseDatasetInfo(JSON.stringify({ ...foreign, hub: { hf_hub_url: 'x/y', ranking: true } }));
    expect(info.hub).toEqual({ hf_hub_url: 'x/y', ranking: true });
    expect((info.mllm_demo as Record<string, unknown>).custom_key).toBe(1);
  });
});

const manifest: DatasetManifest = {
  format: 'medtune-dataset/1',
  name: 'ct',
  created_at: '2026-11-27T00:00:00+00:00',
  source: { spec: 'sample', kind: 'sample', layout: 'demo', root: '/x', files: 3 },
  options: { limit: null, val_ratio: 0.1, modality: null, lang: 'en', max_pixels: 1, unit_rows: 1000 },
  counts: {
    rows_read: 12,
    kept: 10,
    train: 9,
    val: 1,
    skipped: { corrupt_image: 2 },
    converted: 1,
    copied: 9,
    neutralised: 0,
    unmatched_images: 0,
    trimmed_by_limit: 0,
    limit_reached: false,
  },
  modalities: { train: { CT: 5, MRI: 4 }, val: { CT: 1 } },
  content_hash: 'h',
  warnings: [],
};

describe('listing', () => {
  it('links entries to their manifests and leaves foreign ones alone', () => {
    const info = { ...withDatasetEntries({ other: { file_name: 'other.json' } }, 'ct', true), hub: { hf_hub_url: 'a/b' } };
    const list = listingsFor(info, { ct: manifest });
    expect(list.find((l) => l.entry === 'ct')).toMatchObject({
      dataset: 'ct',
      split: 'train',
      rows: 9,
      modalities: { CT: 5, MRI: 4 },
      source: 'sample',
    });
    expect(list.find((l) => l.entry === 'ct_val')).toMatchObject({ dataset: 'ct', split: 'val', rows: 1 });
    expect(list.find((l) => l.entry === 'other')).toMatchObject({ dataset: null, rows: null, file: 'other.json' });
    expect(list.find((l) => l.entry === 'hub')).toMatchObject({ dataset: null, file: 'a/b', source: 'a/b' });
  });

  it('does not claim an entry that points elsewhere although a folder has its name', () => {
    const list = listingsFor({ ct: { file_name: 'elsewhere.jsonl' } }, { ct: manifest });
    expect(list[0]).toMatchObject({ dataset: null, rows: null });
  });

  it('merges and formats histograms, largest first', () => {
    expect(mergeHistograms({ CT: 2, MRI: 5 }, { CT: 4 })).toEqual([
      ['CT', 6],
      ['MRI', 5],
    ]);
    expect(formatCounts({ b: 1, a: 1, c: 3 })).toBe('c 3, a 1, b 1');
    expect(formatCounts({})).toBe('none');
  });
});

describe('preview rows', () => {
  it('reads question, answer and images of a sharegpt row', () => {
    const row = previewRow(3, {
      messages: [
        { role: 'user', content: '<image>Describe this medical image.' },
        { role: 'assistant', content: 'A CT scan.' },
      ],
      images: ['ct/images/u/a.jpg'],
      id: 'a',
      modality: 'CT',
    });
    expect(row).toEqual({
      line: 3,
      id: 'a',
      modality: 'CT',
      question: 'Describe this medical image.',
      answer: 'A CT scan.',
      images: ['ct/images/u/a.jpg'],
    });
  });

  it.each([null, 'text', { messages: 'x' }, { messages: [{ role: 'user', content: 3 }], images: [1, 'a.jpg'] }])(
    'survives a malformed row %#',
    (raw) => {
      const row = previewRow(1, raw);
      expect(row.answer).toBe('');
      expect(Array.isArray(row.images)).toBe(true);
    },
  );
});

describe('summaries', () => {
  const result: PrepareResult = {
    name: 'ct',
    dir: '/w/data/ct',
    kept: 10,
    skipped: { corrupt_image: 2 },
    train: 9,
    val: 1,
    rows_read: 12,
    converted: 1,
    copied: 9,
    neutralised: 1,
    modalities: manifest.modalities,
    content_hash: 'h',
    source: 'sample',
    layout: 'demo',
    limit_reached: false,
    warnings: ['archive ended early'],
    reused: false,
    resumed_units: 2,
    processed_units: 1,
    units: 3,
    seconds: 1.5,
    entries: { train: 'ct', val: 'ct_val' },
  };

  it('says what was kept, skipped, converted, resumed, registered and what to run next', () => {
    const text = prepareSummaryLines(result).join('\n');
    for (const s of [
      '9 train / 1 val',
      '10 kept of 12 read',
      'corrupt_image 2',
      '1 converted',
      'placeholder',
      'resumed: 2 of 3',
      '! archive ended early',
      'ct, ct_val',
      'medtune train -d ct --eval-dataset ct_val',
    ]) {
      expect(text).toContain(s);
    }
  });

  it('lists bad rows by file and line', () => {
    const check: CheckResult = {
      ok: false,
      name: 'ct',
      rows: 10,
      bad_rows: 3,
      entries: [
        { entry: 'ct', checked: true, rows: 9, bad_rows: 3, files: ['ct/train.jsonl'] },
        { entry: 'ct_val', checked: false, why: 'formatting alpaca' },
      ],
      by_problem: { image_missing: 3 },
      problems: [{ entry: 'ct', file: 'ct/train.jsonl', line: 7, kind: 'image_missing', problem: 'image not found: x.jpg' }],
    };
    const text = checkSummaryLines(check).join('\n');
    expect(text).toContain('ct/train.jsonl:7: image not found: x.jpg');
    expect(text).toContain('2 more bad rows');
    expect(text).toContain('ct_val: not checked (formatting alpaca)');
    expect(text).toContain('✗ ct: 3 of 10 rows');
  });
});
