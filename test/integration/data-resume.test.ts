/**
 * Resume after kill -9: the data_prepare helper (and its worker processes) die mid-run; the same command again
 * keeps the finished shards (their images are not rewritten), redoes the rest, and produces exactly the dataset
 * an uninterrupted run produces.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { prepareArgs, prepareDataset, type PrepareOptions } from '../../src/runtime/datasets.js';
import { helperEnv } from '../../src/runtime/pythonhelper.js';
import { listProcesses } from '../../src/runtime/proctree.js';
import type { PrepareResult } from '../../src/core/dataset.js';

function alive(pid: number): boolean {
  try {
    return !/\)\s+Z\s/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function files(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => join(d.parentPath, d.name))
    : [];
}

describe('data prepare resumes after kill -9', () => {
  let venv: Venv;
  let root: string;
  let ws: Workspace;
  let opts: PrepareOptions;
  let doneBeforeKill: string[];
  let imagesBeforeKill: Map<string, { ino: number; mtimeMs: number }>;
  let workers: number[];
  let resumed: PrepareResult;
  const markers = () => readdirSync(join(ws.dataDir, 'r', '.work', 'units')).filter((f) => f.endsWith('.done.json'));

  beforeAll(async () => {
    venv = await requireVenv();
    root = await mkdtemp(join(tmpdir(), 'medtune-resume-'));
    ws = workspaceAt(join(root, 'ws'));
    const src = join(root, 'src');
    await execa(
      venv.python,
      ['-m', 'medtune_py.sample_set', '--out', src, '--rows', '960', '--shards', '4', '--size', '64', '--row-group-size', '20'],
      { env: helperEnv(venv), extendEnv: false },
    );
    // 48 units of 20 rows, two worker processes: a kill lands between units and inside them.
    opts = { source: src, name: 'r', valRatio: 0.1, workers: 2, unitRows: 20 };

    const child = execa(venv.python, ['-m', 'medtune_py.data_prepare', ...prepareArgs(ws, opts)], {
      env: helperEnv(venv),
      extendEnv: false,
      reject: false,
    });
    await until(() => existsSync(join(ws.dataDir, 'r', '.work', 'units')) && markers().length >= 4, 60_000, 'four finished shards');
    workers = listProcesses()
      .filter((p) => p.ppid === child.pid)
      .map((p) => p.pid);
    child.kill('SIGKILL');
    const r = await child;
    expect(r.signal).toBe('SIGKILL');
    await until(() => workers.every((w) => !alive(w)), 5_000, 'the worker processes to die with the helper');

    doneBeforeKill = markers();
    imagesBeforeKill = new Map();
    for (const m of doneBeforeKill) {
      for (const f of files(join(ws.dataDir, 'r', 'images', m.replace('.done.json', '')))) {
        const s = statSync(f);
        imagesBeforeKill.set(f, { ino: s.ino, mtimeMs: s.mtimeMs });
      }
    }
    resumed = await prepareDataset(ws, venv, opts);
  }, 180_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('was killed mid-run, with worker processes that died with it', () => {
    expect(workers.length).toBeGreaterThanOrEqual(1);
    expect(doneBeforeKill.length).toBeGreaterThanOrEqual(4);
    expect(doneBeforeKill.length).toBeLessThan(48);
  });

  it('did not redo the finished shards', () => {
    expect(resumed.resumed_units).toBe(doneBeforeKill.length);
    expect(resumed.processed_units).toBe(48 - doneBeforeKill.length);
    expect(imagesBeforeKill.size).toBe(doneBeforeKill.length * 20);
    for (const [f, before] of imagesBeforeKill) {
      const now = statSync(f);
      expect({ ino: now.ino, mtimeMs: now.mtimeMs }, f).toEqual(before);
    }
  });

  it('produced exactly what an uninterrupted run produces, with no leftovers', async () => {
    const clean = workspaceAt(join(root, 'clean'));
    const fresh = await prepareDataset(clean, venv, { ...opts, workers: 1 });
    expect(resumed.kept).toBe(960);
    expect(resumed.content_hash).toBe(fresh.content_hash);
    for (const f of ['train.jsonl', 'val.jsonl']) {
      expect(readFileSync(join(ws.dataDir, 'r', f), 'utf8')).toBe(readFileSync(join(clean.dataDir, 'r', f), 'utf8'));
    }
    expect(files(join(ws.dataDir, 'r', 'images'))).toHaveLength(960);
    expect(existsSync(join(ws.dataDir, 'r', '.work'))).toBe(false);
    expect(existsSync(join(ws.dataDir, 'r', '.prepare.lock'))).toBe(false);
  }, 120_000);
});
