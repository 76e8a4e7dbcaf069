/**
 * Faults: hostile images and text through the real CLI (`medtune data prepare` on a local parquet folder made by
 * test/fixtures/data/make_hostile_more.py): 1×20000 and 20000×1 images, a decompression bomb, a 10 MB caption,
 * control characters and right-to-left overrides in captions and ids, symlinks out of the source folder. Each
 * is refused or neutralised with a reason; nothing is written outside the workspace.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helperEnv } from '../../src/runtime/pythonhelper.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { requireVenv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { lastJson, medtune, strayProcesses } from './harness.js';

const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** Every path under `dir` with its size and mtime, not following links. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = lstatSync(p);
      out[relative(dir, p)] = `${st.size}:${st.mtimeMs}:${e.isSymbolicLink() ? 'link' : e.isDirectory() ? 'dir' : 'file'}`;
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

interface Row {
  id: string;
  messages: { role: string; content: string }[];
  images: string[];
}

describe('faults: hostile images and text', () => {
  let root: string;
  let src: string;
  let outside: string;
  let ws: Workspace;
  let expected: { kept: number; neutralised: number; skipped: Record<string, number> };
  let before: { src: Record<string, string>; outside: Record<string, string> };
  let result: { kept: number; neutralised: number; skipped: Record<string, number> };
  let rows: Row[];
  let stderr: string;

  beforeAll(async () => {
    const venv = await requireVenv();
    root = await mkdtemp(join(tmpdir(), 'medtune-hostile-'));
    src = join(root, 'src');
    outside = join(root, 'outside');
    ws = workspaceAt(join(root, 'ws'));
    const made = await execa(venv.python, [join(PACKAGE_ROOT, 'test', 'fixtures', 'data', 'make_hostile_more.py'), src, outside], {
      env: helperEnv(venv),
      extendEnv: false,
    });
    expected = (JSON.parse(made.stdout.trim().split('\n').pop()!) as { expected: typeof expected }).expected;
    before = { src: snapshot(src), outside: snapshot(outside) };
    const r = await medtune(ws, ['data', 'prepare', '--source', src, '--name', 'hostile', '--val-ratio', '0', '--workers', '1', '--json'], {
      timeout: 600_000,
    });
    stderr = r.stderr;
    expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
    result = lastJson(r.stdout);
    rows = readFileSync(join(ws.dataDir, 'hostile', 'train.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row);
  }, 600_000);
  afterAll(async () => {
    expect(strayProcesses(ws)).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });

  it('refuses extreme aspect ratios, the bomb and the 10 MB caption, each counted under its reason', () => {
    expect(result.skipped).toEqual(expected.skipped);
    expect(result.kept).toBe(expected.kept);
    expect(rows.map((r) => r.id).sort()).toEqual(['good-0', 'good-1', 'rtl-caption', 'rtl-\u202eid\u202c-\u001b[2J\u0000name'].sort());
    expect(Math.max(...rows.map((r) => JSON.stringify(r).length))).toBeLessThan(10_000);
  });

  it('strips control characters and right-to-left overrides from captions', () => {
    const rtl = rows.find((r) => r.id === 'rtl-caption')!;
    const answer = rtl.messages.find((m) => m.role === 'assistant')!.content;
    expect(answer).toBe('The image is a CT scan niarb eht fo showing isolated text  [31m.');
    for (const r of rows)
      for (const m of r.messages) {
        expect(m.content).not.toMatch(BIDI);
        expect(m.content).not.toMatch(CONTROL);
      }
    expect(result.neutralised).toBe(expected.neutralised);
  });

  it('names image files in plain ASCII whatever the id holds, and the preview escapes the id for the terminal', async () => {
    for (const r of rows) for (const img of r.images) expect(img).toMatch(/^hostile\/images\/[A-Za-z0-9._/-]+$/);
    const preview = await medtune(ws, ['data', 'preview', 'hostile', '--limit', '10', '--json']);
    expect(preview.exitCode, preview.all?.slice(-1500)).toBe(0);
    expect(preview.stdout).not.toMatch(BIDI);
    expect(preview.stdout).not.toMatch(/\u001b/);
    expect(preview.stdout).toContain('rtl-⟨U+202E⟩id⟨U+202C⟩-⟨U+001B⟩[2J⟨U+0000⟩name');
  });

  it('leaves out symlinks that lead out of the source folder, and says so with the file name escaped', () => {
    expect(rows.some((r) => r.id.startsWith('outside-'))).toBe(false);
    // The file name's right-to-left override is shown escaped, not obeyed by the terminal.
    expect(stderr).toMatch(/left out .*esc⟨U\+202E⟩ape\.parquet: a symlink/);
    expect(stderr).not.toMatch(BIDI);
  });

  it('`data check` flags a hand-made dataset with a 1×20000 image and a 10 MB answer before training would crash on it', async () => {
    const dir = join(ws.dataDir, 'handmade');
    mkdirSync(join(dir, 'images'), { recursive: true });
    const venv = await requireVenv();
    await execa(
      venv.python,
      ['-c', 'import sys; from PIL import Image; Image.new("L", (1, 20000), 90).save(sys.argv[1])', join(dir, 'images', 'tall.png')],
      { env: helperEnv(venv), extendEnv: false },
    );
    const row = (img: string, answer: string) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: '<image>What is this?' },
          { role: 'assistant', content: answer },
        ],
        images: [img],
      });
    const ok = rows[0]!.images[0]!;
    writeFileSync(
      join(dir, 'train.jsonl'),
      `${[row('handmade/images/tall.png', 'A CT scan.'), row(ok, 'B'.repeat(10 * 2 ** 20)), row(ok, 'A CT scan.')].join('\n')}\n`,
    );
    const info = JSON.parse(readFileSync(ws.datasetInfo, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      ws.datasetInfo,
      JSON.stringify({ ...info, handmade: { ...(info.hostile as object), file_name: 'handmade/train.jsonl' } }, null, 2),
    );
    const r = await medtune(ws, ['data', 'check', 'handmade', '--json'], { timeout: 300_000 });
    const report = lastJson<{ ok: boolean; bad_rows: number; by_problem: Record<string, number> }>(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.by_problem).toMatchObject({ extreme_aspect_ratio: 1, text_too_long: 1 });
    expect(report.bad_rows).toBe(2);
  }, 300_000);

  it('writes nothing outside the workspace: the source and the outside folder are untouched, every output file is under data/', () => {
    expect(snapshot(src)).toEqual(before.src);
    expect(snapshot(outside)).toEqual(before.outside);
    const files = Object.entries(snapshot(ws.root));
    expect(files.filter(([, v]) => v.endsWith(':link'))).toEqual([]);
    for (const [p] of files) expect(join(ws.root, p).startsWith(ws.root + sep)).toBe(true);
    // The symlinked image was not copied: no file under data/ has the outside secret's bytes.
    const secret = statSync(join(outside, 'secret.jpg')).size;
    const images = files.filter(([p, v]) => p.includes(`images${sep}`) && v.endsWith(':file'));
    for (const [p] of images) {
      if (statSync(join(ws.root, p)).size === secret)
        expect(readFileSync(join(ws.root, p)).equals(readFileSync(join(outside, 'secret.jpg')))).toBe(false);
    }
  });
});
