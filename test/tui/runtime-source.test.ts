/**
 * The real WorkspaceSource on a temporary workspace: run folders (from the recorded LLaMA-Factory run in
 * test/fixtures), log tails, dataset entries, and a preview whose image is decoded by the Python helper.
 */
import { cp, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { requireVenv } from '../../src/runtime/venv.js';
import type { RunManifest } from '../../src/core/run.js';
import { createRuntimeSource } from '../../src/ui/runtime-source.js';
import type { WorkspaceSource } from '../../src/ui/source.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'llamafactory', 'train-ok');
const DEMO = { dataset: 'medtrinity-sample', epochs: 1, overrides: [] };

let root: string;
let ws: Workspace;
let source: WorkspaceSource;

async function addRun(id: string, status: RunManifest['status']): Promise<string> {
  const dir = join(ws.runsDir, id);
  await mkdir(join(dir, 'output'), { recursive: true });
  await cp(join(FIXTURE, 'trainer_log.jsonl'), join(dir, 'output', 'trainer_log.jsonl'));
  await cp(join(FIXTURE, 'stderr.log'), join(dir, 'stderr.log'));
  await writeFile(join(dir, 'stdout.log'), `===== medtune attempt 1 started 2026-11-27T10:00:00Z =====\nstdout line\n`);
  const manifest: RunManifest = {
    id,
    createdAt: '2026-11-27T10:00:00Z',
    updatedAt: '2026-11-27T10:05:00Z',
    status,
    model: join(ws.modelsDir, 'tiny'),
    datasets: ['demo'],
    profile: 'cpu',
    outputDir: join(dir, 'output'),
    trainYaml: join(dir, 'train.yaml'),
    command: ['llamafactory-cli', 'train'],
    env: {},
    cwd: ws.root,
    attempts: [{ n: 1, startedAt: '2026-11-27T10:00:00Z', endedAt: '2026-11-27T10:05:00Z', exitCode: 0 }],
    autoResume: 0,
  };
  await writeFile(join(dir, 'run.json'), JSON.stringify(manifest));
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'medtune-tui-src-'));
  ws = workspaceAt(root);
  source = createRuntimeSource(ws, { demo: DEMO });
});
afterAll(async () => {
  await source.close();
  await rm(root, { recursive: true, force: true });
});

describe('an empty workspace', () => {
  it('lists nothing, without errors, and names itself after its folder', async () => {
    expect(await source.listRuns()).toEqual([]);
    expect(await source.listDatasets()).toEqual([]);
    expect(await source.listModels()).toEqual([]);
    expect(await source.listExports()).toEqual([]);
    expect(source.info()).toEqual({ root, name: root.split('/').pop() });
    expect((await source.listDataSources()).map((s) => s.id)).toContain('sample');
    expect((await source.listProfiles()).map((p) => p.name)).toContain('cpu');
  });
});

describe('runs', () => {
  it('reads a finished run, its records and checkpoints, once until run.json changes', async () => {
    const dir = await addRun('r-ok', 'completed');
    const [view] = await source.listRuns();
    expect(view).toMatchObject({ id: 'r-ok', status: 'completed' });
    expect(view!.records.length).toBeGreaterThan(3);
    expect(view!.records.some((r) => r.loss !== undefined)).toBe(true);
    expect(await source.readRun('r-ok')).toBe(view);
    await utimes(join(dir, 'run.json'), new Date(), new Date(Date.now() + 5000));
    expect(await source.readRun('r-ok')).not.toBe(view);
  });

  it('tails stdout then stderr, with the attempt mark once', async () => {
    const tail = await source.readLog('r-ok', 5);
    expect(tail.lines).toHaveLength(5);
    expect(tail.lines.filter((l) => l.startsWith('===== medtune attempt'))).toHaveLength(0);
    const all = await source.readLog('r-ok', 10_000);
    expect(all.lines[0]).toBe('stdout line');
  });

  it('follows a run that is going', async () => {
    await addRun('r-live', 'training');
    const v = await source.readRun('r-live');
    expect(v.id).toBe('r-live');
    expect(v.records.length).toBeGreaterThan(3);
  });

  it('rejects an unknown run with an explanation', async () => {
    await expect(source.readRun('nope')).rejects.toMatchObject({ name: 'MedtuneError' });
  });
});

describe('datasets', () => {
  beforeAll(async () => {
    const data = join(ws.dataDir, 'scans');
    await mkdir(join(data, 'images'), { recursive: true });
    const venv = await requireVenv();
    // A 40×20 image: left half red, right half blue.
    await execa(venv.python, [
      '-c',
      [
        'from PIL import Image',
        'im = Image.new("RGB", (40, 20), (255, 0, 0))',
        'im.paste((0, 0, 255), (20, 0, 40, 20))',
        `im.save(${JSON.stringify(join(data, 'images', 'a.png'))})`,
      ].join('\n'),
    ]);
    const row = {
      messages: [
        { role: 'user', content: '<image>What modality is this?' },
        { role: 'assistant', content: 'A CT scan.' },
      ],
      images: ['scans/images/a.png'],
      modality: 'CT',
    };
    await writeFile(
      join(data, 'train.jsonl'),
      `${JSON.stringify(row)}\n${JSON.stringify({ ...row, images: ['scans/images/missing.png'] })}\n`,
    );
    await writeFile(
      ws.datasetInfo,
      JSON.stringify({
        scans: { file_name: 'scans/train.jsonl', formatting: 'sharegpt', columns: { messages: 'messages', images: 'images' } },
      }),
    );
  });

  it('lists dataset_info.json entries', async () => {
    const [d] = await source.listDatasets();
    expect(d).toMatchObject({ name: 'scans', file: 'scans/train.jsonl' });
  });

  it('previews a row with its image decoded and scaled for the terminal', async () => {
    const p = await source.previewDataset('scans', { offset: 0, count: 2, maxSide: 16 });
    expect(p.total).toBe(2);
    const [first, second] = p.samples;
    expect(first).toMatchObject({ index: 0, question: 'What modality is this?', answer: 'A CT scan.', modality: 'CT' });
    expect(first!.image).toMatchObject({ width: 16, height: 8 });
    expect(first!.image!.rgb.length).toBe(16 * 8 * 3);
    expect([...first!.image!.rgb.slice(0, 3)]).toEqual([255, 0, 0]);
    expect([...first!.image!.rgb.slice(-3)]).toEqual([0, 0, 255]);
    expect(second!.image).toBeNull();
  }, 60_000);
});
