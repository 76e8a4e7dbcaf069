/**
 * `data prepare` on a hostile parquet (test/fixtures/data/make_hostile.py): every bad row is skipped and counted,
 * nothing is written outside the dataset folder, the result passes our check and LLaMA-Factory's own loader
 * (get_dataset with template qwen2_vl and the tiny Qwen2-VL's tokenizer + processor), and dataset_info.json keeps
 * other entries. Also: the 25M_full layout (captions parquet + tar.zst images) and the bundled sample set.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, appendFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { checkDataset, listDatasets, prepareDataset, previewDataset } from '../../src/runtime/datasets.js';
import { helperEnv } from '../../src/runtime/pythonhelper.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import type { PrepareResult } from '../../src/core/dataset.js';
import { lastJson, medtune } from './harness.js';

const FIXTURES = join(PACKAGE_ROOT, 'test', 'fixtures', 'data');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));
}

interface Row {
  messages: { role: string; content: string }[];
  images: string[];
  id: string;
  modality: string;
}

function rows(file: string): Row[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
}

async function py(venv: Venv, args: string[], cwd = '/'): Promise<string> {
  const r = await execa(venv.python, args, { cwd, env: { ...helperEnv(venv), HF_HUB_OFFLINE: '1' }, extendEnv: false });
  return r.stdout;
}

describe('data prepare on a hostile parquet', () => {
  let venv: Venv;
  let root: string;
  let ws: Workspace;
  let hostile: string;
  let expected: { kept: number; converted: number; copied: number; neutralised: number; skipped: Record<string, number> };
  let result: PrepareResult;
  let all: Row[];

  beforeAll(async () => {
    venv = await requireVenv();
    root = await mkdtemp(join(tmpdir(), 'medtune-data-'));
    hostile = join(root, 'hostile-src');
    ws = workspaceAt(join(root, 'ws'));
    const made = JSON.parse((await py(venv, [join(FIXTURES, 'make_hostile.py'), hostile])).trim().split('\n').pop()!) as {
      expected: typeof expected;
    };
    expected = made.expected;
    await mkdir(ws.dataDir, { recursive: true });
    await writeFile(ws.datasetInfo, JSON.stringify({ mine: { file_name: 'mine.json', formatting: 'alpaca', custom: [1, 2] } }, null, 2));
    result = await prepareDataset(ws, venv, { source: hostile, name: 'hostile', valRatio: 0.25, workers: 2, unitRows: 4 });
    all = [...rows(join(ws.dataDir, 'hostile', 'train.jsonl')), ...rows(join(ws.dataDir, 'hostile', 'val.jsonl'))];
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps the good rows and counts every skipped one by reason', () => {
    expect(result.kept).toBe(expected.kept);
    expect(result.skipped).toEqual(expected.skipped);
    expect(result.converted).toBe(expected.converted);
    expect(result.copied).toBe(expected.copied);
    expect(result.neutralised).toBe(expected.neutralised);
    expect(result.train + result.val).toBe(result.kept);
    expect(result.val).toBeGreaterThan(0);
    expect(result.rows_read).toBe(40);
    expect(all).toHaveLength(expected.kept);
  });

  it('writes nothing outside data/<name>/ (ids like ../../etc/passwd and /abs stay file names)', () => {
    const files = walk(ws.root).map((f) => relative(ws.root, f));
    for (const f of files) expect(f === join('data', 'dataset_info.json') || f.startsWith(join('data', 'hostile') + sep), f).toBe(true);
    const images = files.filter((f) => f.includes(`${sep}images${sep}`));
    expect(images).toHaveLength(expected.kept);
    for (const f of images) expect(f.split(sep).pop()!.length).toBeLessThanOrEqual(100);
  });

  it('image paths are relative to data/, unique, and resolve under it', () => {
    const paths = all.flatMap((r) => r.images);
    expect(new Set(paths).size).toBe(paths.length);
    for (const p of paths) {
      expect(p.startsWith('hostile/images/')).toBe(true);
      expect(p).not.toMatch(/\.\.|^\//);
      expect(statSync(join(ws.dataDir, p)).isFile()).toBe(true);
    }
  });

  it('placeholders always equal images; caption placeholders and special tokens are defused', () => {
    for (const r of all) {
      const text = r.messages.map((m) => m.content).join('\n');
      expect((text.match(/<image>/g) ?? []).length).toBe(r.images.length);
      expect(text).not.toMatch(/<video>|<audio>|<\|/);
      expect(r.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    }
    const defused = all.find((r) => r.id === 'placeholders')!;
    expect(defused.messages[1]!.content).toContain('[image][image] with [video] and [audio] text [im_end] [image_pad]');
  });

  it('keeps the first copy of a duplicate id, and one whose earlier copy was unusable', () => {
    const dup1 = all.filter((r) => r.id === 'dup-1');
    expect(dup1).toHaveLength(1);
    expect(dup1[0]!.modality).toBe('CT');
    const dup2 = all.filter((r) => r.id === 'dup-2');
    expect(dup2).toHaveLength(1);
    expect(dup2[0]!.modality).toBe('MRI');
    const ab = all.filter((r) => r.id === 'a/b' || r.id === 'a_b');
    expect(ab).toHaveLength(2);
    expect(ab[0]!.images[0]).not.toBe(ab[1]!.images[0]);
  });

  it('keeps unicode and padded ids as ids, and reads path-only images only from inside the source', () => {
    const ids = all.map((r) => r.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        '病例-αβγ-😀/..\\x',
        '../../etc/passwd',
        '/abs/evil.jpg',
        'x'.repeat(5000),
        'padded-id',
        'path-inside',
        '.',
        '..',
      ]),
    );
    expect(ids).not.toContain('path-escape');
  });

  it('converts odd formats and modes, and copies JPEG/PNG bytes as they are', async () => {
    const byId = Object.fromEntries(all.map((r) => [r.id, join(ws.dataDir, r.images[0]!)]));
    const probe = JSON.parse(
      await py(venv, [
        '-c',
        `
import json, sys
from PIL import Image
out = {}
for k, p in json.loads(sys.argv[1]).items():
    im = Image.open(p)
    out[k] = [im.format, im.mode, list(im.getextrema()) if im.mode == "L" else None]
print(json.dumps(out))`,
        JSON.stringify({
          cmyk: byId['cmyk-jpeg'],
          png16: byId.png16,
          pal: byId['palette-transparent'],
          webp: byId.webp,
          tiff: byId.tiff,
          gif: byId.gif,
          grey: byId['grey-jpeg'],
        }),
      ]),
    ) as Record<string, [string, string, number[] | null]>;
    expect(probe.cmyk!.slice(0, 2)).toEqual(['JPEG', 'RGB']);
    expect(probe.png16).toEqual(['PNG', 'L', [0, 255]]);
    expect(probe.pal!.slice(0, 2)).toEqual(['PNG', 'RGB']);
    expect(probe.webp![0]).toBe('PNG');
    expect(probe.tiff![0]).toBe('PNG');
    expect(probe.gif![0]).toBe('PNG');
    expect(probe.grey!.slice(0, 2)).toEqual(['JPEG', 'L']);
  });

  it('registers <name> and <name>_val and leaves other entries untouched', async () => {
    const info = JSON.parse(await readFile(ws.datasetInfo, 'utf8')) as Record<string, Record<string, unknown>>;
    expect(info.mine).toEqual({ file_name: 'mine.json', formatting: 'alpaca', custom: [1, 2] });
    expect(info.hostile).toMatchObject({
      file_name: 'hostile/train.jsonl',
      formatting: 'sharegpt',
      columns: { messages: 'messages', images: 'images' },
    });
    expect(info.hostile_val).toMatchObject({ file_name: 'hostile/val.jsonl' });
    expect(result.entries).toEqual({ train: 'hostile', val: 'hostile_val' });
  });

  it('writes a manifest with counts, source, options and a content hash', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the manifest is checked field by field below
    const m = JSON.parse(await readFile(join(ws.dataDir, 'hostile', 'manifest.json'), 'utf8')) as Record<string, any>;
    expect(m.counts).toMatchObject({ kept: expected.kept, train: result.train, val: result.val, skipped: expected.skipped });
    expect(m.source).toMatchObject({ spec: hostile, layout: 'demo', files: 2 });
    expect(m.options).toMatchObject({ val_ratio: 0.25, lang: 'en', limit: null });
    expect(m.content_hash).toBe(result.content_hash);
  });

  it('is reused when run again with the same source and options, and refuses other options without --force', async () => {
    const again = await prepareDataset(ws, venv, { source: hostile, name: 'hostile', valRatio: 0.25, workers: 1, unitRows: 4 });
    expect(again.reused).toBe(true);
    expect(again.content_hash).toBe(result.content_hash);
    await expect(prepareDataset(ws, venv, { source: hostile, name: 'hostile', valRatio: 0.5, unitRows: 4 })).rejects.toMatchObject({
      code: 'DATASET_EXISTS',
    });
  });

  it('estimates the disk it needs before starting and refuses when it would not fit, writing nothing', async () => {
    const err = await prepareDataset(ws, venv, {
      source: hostile,
      name: 'nospace',
      valRatio: 0.25,
      workers: 1,
      unitRows: 4,
      minFreeGib: 1e9,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DISK_SPACE' });
    expect(String((err as Error).message)).toMatch(/needs about \d+ (MiB|GiB)/);
    expect(existsSync(join(ws.dataDir, 'nospace'))).toBe(false);
  });

  it('passes `data check`, which reports bad rows by line once rows are broken', async () => {
    const ok = await checkDataset(ws, venv, 'hostile');
    expect(ok).toMatchObject({ ok: true, rows: expected.kept, bad_rows: 0 });

    await mkdir(join(ws.dataDir, 'broken'), { recursive: true });
    const good = all[0]!;
    const lines = [
      good,
      { ...good, messages: [good.messages[1], good.messages[0]] },
      { ...good, messages: [good.messages[0]] },
      { ...good, messages: [{ role: 'user', content: '<image><image>two' }, good.messages[1]] },
      { ...good, images: ['broken/nope.jpg'] },
      { ...good, images: ['hostile/manifest.json'] },
    ].map((r) => JSON.stringify(r));
    await writeFile(join(ws.dataDir, 'broken', 'rows.jsonl'), `${lines.join('\n')}\n`);
    await appendFile(join(ws.dataDir, 'broken', 'rows.jsonl'), '{not json\n');
    const info = JSON.parse(await readFile(ws.datasetInfo, 'utf8')) as Record<string, unknown>;
    info.broken = { ...(info.hostile as object), file_name: 'broken/rows.jsonl' };
    await writeFile(ws.datasetInfo, JSON.stringify(info));
    const bad = await checkDataset(ws, venv, 'broken');
    expect(bad.ok).toBe(false);
    expect(bad.bad_rows).toBe(6);
    expect(bad.problems.map((p) => [p.line, p.kind])).toEqual([
      [2, 'role_order'],
      [3, 'message_count'],
      [4, 'placeholder_count'],
      [5, 'image_missing'],
      [6, 'image_decode'],
      [7, 'invalid_json'],
    ]);
  });

  it('lists and previews the dataset', async () => {
    const list = await listDatasets(ws);
    expect(list.find((d) => d.entry === 'hostile')).toMatchObject({
      dataset: 'hostile',
      split: 'train',
      rows: result.train,
      registered: true,
    });
    expect(list.find((d) => d.entry === 'mine')).toMatchObject({ dataset: null });
    const p = await previewDataset(ws, 'hostile_val', { limit: 2 });
    expect(p.split).toBe('val');
    expect(p.total).toBe(result.val);
    expect(p.rows[0]!.question.length).toBeGreaterThan(5);
    expect(p.rows[0]!.question).not.toContain('<image>');
    expect(statSync(p.rows[0]!.imagePaths[0]!).isFile()).toBe(true);
  });

  it(
    "loads through LLaMA-Factory's own get_dataset (template qwen2_vl, tiny Qwen2-VL tokenizer + processor)",
    async () => {
      const model = join(root, 'tiny');
      await py(venv, ['-m', 'medtune_py.tiny_model', '--out', model]);
      const r = await execa(venv.python, [join(FIXTURES, 'lf_load.py'), ws.dataDir, 'hostile', model, join(root, 'lf')], {
        cwd: '/',
        env: { ...helperEnv(venv), HF_HUB_OFFLINE: '1' },
        extendEnv: false,
        reject: false,
        timeout: 5 * 60_000,
      });
      expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<
        string,
        { rows: number; min_image_tokens: number; rows_with_labels: number }
      >;
      expect(out.train_dataset).toMatchObject({ rows: result.train, rows_with_labels: result.train });
      expect(out.eval_dataset).toMatchObject({ rows: result.val, rows_with_labels: result.val });
      expect(out.train_dataset!.min_image_tokens).toBeGreaterThan(0);
      // Run from "/": every image was found through media_dir (= data/), none by luck from the working directory.
      expect(r.stderr).not.toContain('does not exist in `media_dir`');
      expect(r.stderr).not.toMatch(/Invalid role tag|Invalid message count/);
    },
    5 * 60_000,
  );
});

describe('data prepare: other sources', () => {
  let venv: Venv;
  let root: string;
  let ws: Workspace;

  beforeAll(async () => {
    venv = await requireVenv();
    root = await mkdtemp(join(tmpdir(), 'medtune-data-src-'));
    ws = workspaceAt(join(root, 'ws'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('joins 25M_full captions with 25M_accessible/*.tar.zst images by file name', async () => {
    const src = join(root, 'mirror');
    await py(venv, ['-m', 'medtune_py.sample_set', '--out', src, '--layout', 'full', '--rows', '96', '--shards', '3', '--size', '64']);
    const r = await prepareDataset(ws, venv, { source: src, name: 'full', valRatio: 0.1 });
    // Every 8th row is a CT of the "restricted" source whose pixels are not shipped, as in the real release.
    expect(r.layout).toBe('full');
    expect(r.kept).toBe(84);
    expect(r.skipped).toEqual({ image_not_accessible: 12 });
    const ct = await prepareDataset(ws, venv, { source: src, name: 'full-mri', modality: 'mri,x-ray', limit: 10, lang: 'zh' });
    expect(ct.kept).toBe(10);
    expect(ct.limit_reached).toBe(true);
    expect(Object.keys({ ...ct.modalities.train, ...ct.modalities.val }).sort()).toEqual(['MRI', 'X-ray']);
    const q = rows(join(ws.dataDir, 'full-mri', 'train.jsonl'))[0]!.messages[0]!.content;
    expect(q).toMatch(/^<image>[^\x00-\x7f]/);
  });

  it('generates and converts the bundled sample set: 8 modalities, visibly different images', async () => {
    const r = await prepareDataset(ws, venv, { source: 'sample', name: 'sample', valRatio: 0.2 });
    expect(r.kept).toBe(240);
    const modalities = { ...r.modalities.train };
    for (const [k, v] of Object.entries(r.modalities.val)) modalities[k] = (modalities[k] ?? 0) + v;
    expect(modalities).toEqual({ CT: 30, MRI: 30, 'X-ray': 30, ultrasound: 30, pathology: 30, endoscopy: 30, dermoscopy: 30, fundus: 30 });
    const captions = rows(join(ws.dataDir, 'sample', 'train.jsonl')).map((x) => x.messages[1]!.content);
    for (const c of captions)
      expect(c).toMatch(/^The image is an? .+ of the .+\. The region of interest, located in the .+ of the image, .+ indicative of .+\./);
    // Mean colour per modality: each modality's images sit far apart (what lets a tiny model tell them apart).
    const stats = JSON.parse(
      await py(venv, [
        '-c',
        `
import json, sys, numpy as np
from collections import defaultdict
from PIL import Image
acc = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    a = np.asarray(Image.open(sys.argv[2] + "/" + r["images"][0]).convert("RGB").resize((32, 32)), dtype=float) / 255
    acc[r["modality"]].append(a)
cent = {k: np.mean(v, axis=0) for k, v in acc.items()}
keys = sorted(cent)
print(json.dumps(min(float(np.sqrt(((cent[a] - cent[b]) ** 2).mean())) for a in keys for b in keys if a < b)))`,
        join(ws.dataDir, 'sample', 'train.jsonl'),
        ws.dataDir,
      ]),
    ) as number;
    expect(stats).toBeGreaterThan(0.05);
  });

  it('prints one JSON object with kept, skipped, train, val and dir from `medtune data prepare --json`', async () => {
    const src = join(root, 'cli-src');
    await py(venv, ['-m', 'medtune_py.sample_set', '--out', src, '--rows', '40', '--shards', '2', '--size', '64']);
    const r = await medtune(ws, ['data', 'prepare', '--source', src, '--name', 'cli', '--val-ratio', '0.2', '--json'], {
      timeout: 120_000,
    });
    expect(r.exitCode, r.all).toBe(0);
    const out = lastJson<PrepareResult>(r.stdout);
    expect(out).toMatchObject({ kept: 40, skipped: {}, dir: join(ws.dataDir, 'cli') });
    expect(out.train + out.val).toBe(40);
    const list = lastJson<{ datasets: { entry: string }[] }>((await medtune(ws, ['data', 'list', '--json'])).stdout);
    expect(list.datasets.map((d) => d.entry)).toEqual(expect.arrayContaining(['cli', 'cli_val']));
    const check = await medtune(ws, ['data', 'check', 'cli', '--json']);
    expect(check.exitCode).toBe(0);
    expect(lastJson<{ ok: boolean }>(check.stdout).ok).toBe(true);
    const bad = await medtune(ws, ['data', 'prepare', '--source', join(root, 'nowhere'), '--name', 'x', '--json']);
    expect(bad.exitCode).toBe(1);
    expect(lastJson<{ code: string }>(bad.stdout).code).toBe('SOURCE_NOT_FOUND');
  });
});
