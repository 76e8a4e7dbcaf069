import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MedtuneError } from '../../src/core/errors.js';
import { cmd, renderAdvice, renderStep } from '../../src/core/nextstep.js';
import { findWorkspace, markWorkspace, workspaceAt } from '../../src/runtime/workspace.js';

const root = mkdtempSync(join(tmpdir(), 'medtune-find-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mk = (...parts: string[]) => {
  const d = join(root, ...parts);
  mkdirSync(d, { recursive: true });
  return d;
};
const marked = (...parts: string[]) => {
  const d = mk(...parts);
  writeFileSync(join(d, 'medtune.yaml'), '# test\n');
  return d;
};

// top/demo is a workspace with a run inside; top/two has two workspaces below it; a legacy one has runs/ + dataset_info.json.
const top = mk('top');
const demo = marked('top', 'medtune-demo');
const runDir = mk('top', 'medtune-demo', 'runs', 'r1', 'output');
writeFileSync(join(runDir, 'trainer_log.jsonl'), '');
const two = mk('two');
marked('two', 'a');
marked('two', 'b');
const legacy = mk('legacy');
mk('legacy', 'runs');
mk('legacy', 'data');
writeFileSync(join(legacy, 'data', 'dataset_info.json'), '{}');
const lfClone = mk('lfclone');
mk('lfclone', 'data');
writeFileSync(join(lfClone, 'data', 'dataset_info.json'), '{}');
const empty = mk('empty');
const noEnv = {} as NodeJS.ProcessEnv;

describe('findWorkspace', () => {
  it.each([
    ['-w wins over everything', { flag: demo, cwd: two }, demo, 'flag', demo],
    ['$MEDTUNE_WORKSPACE next, and commands need no -w', { env: { MEDTUNE_WORKSPACE: demo }, cwd: two }, demo, 'env', null],
    ['a path argument inside a workspace selects it', { cwd: two, paths: [join(runDir, 'trainer_log.jsonl')] }, demo, 'path', demo],
    ['a relative path argument', { cwd: top, paths: ['medtune-demo/runs/r1'] }, demo, 'path', 'medtune-demo'],
    ['walks up from a folder inside the workspace', { cwd: runDir }, demo, 'above', null],
    ['the only workspace below', { cwd: top }, demo, 'below', 'medtune-demo'],
    ['a workspace made before medtune.yaml', { cwd: join(legacy, 'runs') }, legacy, 'above', null],
    ['a LLaMA-Factory clone is no workspace', { cwd: lfClone }, lfClone, 'here', null],
    ['nothing anywhere: the current folder', { cwd: empty }, empty, 'here', null],
    ['a path argument outside any workspace is ignored', { cwd: top, paths: [empty, 'latest'] }, demo, 'below', 'medtune-demo'],
  ])('%s', (_name, req, expected, origin, flag) => {
    const f = findWorkspace({ env: noEnv, ...req });
    expect(f.ws.root).toBe(expected);
    expect(f.origin).toBe(origin);
    expect(f.flag).toBe(flag);
  });

  it('refuses several workspaces below, naming the -w for each', () => {
    let err: unknown;
    try {
      findWorkspace({ env: noEnv, cwd: two });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MedtuneError);
    expect((err as MedtuneError).code).toBe('AMBIGUOUS_WORKSPACE');
    expect((err as MedtuneError).next).toContain('`medtune -w a …` or `medtune -w b …`');
    expect(findWorkspace({ env: noEnv, cwd: two, lenient: true }).ws.root).toBe(two);
  });

  it('markWorkspace writes medtune.yaml once and never rewrites it', async () => {
    const ws = workspaceAt(join(root, 'fresh', 'new'));
    await markWorkspace(ws);
    expect(findWorkspace({ env: noEnv, cwd: join(root, 'fresh') }).ws.root).toBe(ws.root);
    writeFileSync(ws.config, 'model: x\n');
    await markWorkspace(ws);
    expect(readFileSync(ws.config, 'utf8')).toBe('model: x\n');
  });
});

describe('next steps', () => {
  it.each([
    [cmd('runs'), null, 'medtune runs'],
    [cmd('runs'), 'medtune-demo', 'medtune -w medtune-demo runs'],
    [cmd('ask', 'export:x', 'What is shown?'), '/a b/ws', "medtune -w '/a b/ws' ask export:x 'What is shown?'"],
    [cmd('ask', 'x', "it's"), null, "medtune ask x 'it'\\''s'"],
  ])('%j with -w %s', (step, flag, text) => expect(renderStep(step, flag)).toBe(text));

  it('renders advice with commands in backticks', () => {
    expect(renderAdvice(['wait for it (', cmd('attach', 'r1'), ')'], 'd')).toBe('wait for it (`medtune -w d attach r1`)');
    expect(renderAdvice('plain', 'd')).toBe('plain');
  });
});
