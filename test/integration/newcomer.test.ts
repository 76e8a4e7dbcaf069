/**
 * A newcomer's first hour, for real (the built CLI, the real venv, the real llamafactory-cli): `medtune demo`
 * from an empty folder, then — still standing in that folder, above the demo's workspace — runs, eval of the
 * export by its path, ask with and without an image, serve and serve --stop, a bad --set. Every command medtune
 * printed as a next step is then run from the same folder and must not fail for want of a workspace or a run.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceAt } from '../../src/runtime/workspace.js';
import { BIN, strayProcesses } from './harness.js';

let here: string;
let env: NodeJS.ProcessEnv;
/** Every command medtune printed, as text, with what printed it. */
const printed: { cmd: string; from: string }[] = [];

/** Runs `medtune ARGS` in the folder above the workspace, like the newcomer does, and collects its hints. */
async function medtune(args: string[], timeout = 10 * 60_000) {
  const r = await execa(process.execPath, [BIN, ...args], { cwd: here, env, extendEnv: false, reject: false, all: true, timeout });
  for (const cmd of hintsIn(r.all ?? '')) printed.push({ cmd, from: `medtune ${args.join(' ')}` });
  return r;
}

/** The commands in a text: `medtune …` in backticks, or a line that is one. */
function hintsIn(text: string): string[] {
  const out = [...text.matchAll(/`(medtune(?: [^`]*)?)`/g)].map((m) => m[1]!);
  for (const line of text.split('\n')) {
    const m = /^\s*(?:[a-z ]+:\s+)?(medtune(?: .*)?)$/.exec(line);
    if (m && !m[1]!.includes('`')) out.push(m[1]!.trim());
  }
  return out;
}

/** Shell words, as medtune quotes them (bare, or single-quoted with '\'' for a quote). */
function words(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (quoted) {
      if (c === "'") quoted = false;
      else cur += c;
    } else if (c === "'") {
      quoted = true;
      any = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      any = true;
    } else if (c === ' ') {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += c;
  }
  if (cur || any) out.push(cur);
  return out;
}

const LOST = /not found|no runs|no run "|no such|not registered|no held-out dataset|NO_RUN|NO_MODEL|AMBIGUOUS_WORKSPACE/;

beforeAll(async () => {
  here = await mkdtemp(join(tmpdir(), 'medtune-newcomer-'));
  // The user's own environment, but no workspace from it, and a registry of servers of this test's own.
  env = { PATH: process.env.PATH, HOME: process.env.HOME, CI: '1', MEDTUNE_STATE_DIR: join(here, '.state') };
  for (const k of ['MEDTUNE_VENV', 'MEDTUNE_CACHE', 'XDG_CACHE_HOME', 'TMPDIR'] as const) if (process.env[k]) env[k] = process.env[k];
});

afterAll(async () => {
  if (!here) return;
  await execa(process.execPath, [BIN, 'serve', '--stop', 'all'], { cwd: here, env, extendEnv: false, reject: false });
  expect(strayProcesses(workspaceAt(join(here, 'medtune-demo')))).toEqual([]);
  await rm(here, { recursive: true, force: true });
});

describe('a newcomer, standing in the folder where the demo ran', () => {
  let exportName: string;
  let runId: string;

  beforeAll(async () => {
    // One epoch: the path is what is tested here, not what the model learns (demo.test.ts measures that). About
    // 3 minutes on an idle 2-core CPU; the limit leaves room for a machine shared with other work.
    const r = await medtune(['demo', '--epochs', '1'], 30 * 60_000);
    expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
    const ws = join(here, 'medtune-demo');
    expect(existsSync(join(ws, 'medtune.yaml'))).toBe(true);
    exportName = readdirSync(join(ws, 'exports')).filter((n) => !n.startsWith('.'))[0]!;
    runId = readdirSync(join(ws, 'runs')).filter((n) => !n.startsWith('.'))[0]!;
    expect(r.stdout).toContain(`medtune -w medtune-demo ask export:${exportName}`);
  }, 31 * 60_000);

  it('runs: finds the workspace below and says so', async () => {
    const r = await medtune(['runs']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(runId);
    expect(r.stderr).toContain('using the workspace medtune-demo below this folder');
  });

  it(
    'eval of the export by its path: the path selects the workspace and the held-out split',
    async () => {
      const r = await medtune(['eval', join('medtune-demo', 'exports', exportName), '-n', '4', '--json']);
      expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
      expect(r.stdout).toMatch(/"dataset": "medtrinity-sample_val"/);
    },
    5 * 60_000,
  );

  it(
    'ask with an image and without one',
    async () => {
      const images = join('medtune-demo', 'data', 'medtrinity-sample', 'images');
      const shard = readdirSync(join(here, images))[0]!;
      const image = readdirSync(join(here, images, shard)).find((f) => /\.(png|jpe?g)$/.test(f))!;
      const withImage = await medtune([
        'ask',
        `export:${exportName}`,
        '--image',
        join(images, shard, image),
        '--max-new-tokens',
        '8',
        'Which imaging modality is this?',
      ]);
      expect(withImage.exitCode, withImage.all).toBe(0);
      expect(withImage.stderr).toMatch(/1 image[;)]/);
      const textOnly = await medtune(['ask', `export:${exportName}`, '--max-new-tokens', '8', 'What is a CT scan?']);
      expect(textOnly.exitCode, textOnly.all).toBe(0);
      expect(textOnly.stderr).toMatch(/no image[;)]/);
    },
    5 * 60_000,
  );

  it(
    'serve prints a command that uses the server, greedy by default; serve --stop from here stops it',
    async () => {
      const r = await medtune(['serve', `export:${exportName}`]);
      expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
      expect(r.stdout).toContain('sampling: greedy (temperature 0)');
      const askIt = /ask it:\s+(medtune .*)$/m.exec(r.stdout)?.[1];
      expect(askIt).toMatch(/ask --server http:\/\/127\.0\.0\.1:\d+\/v1 /);
      const asked = await medtune(words(askIt!).slice(1));
      expect(asked.exitCode, asked.all).toBe(0);
      expect(asked.stderr).toMatch(/on server http/);
      // Listed from a folder that is no workspace at all and has none below: servers are the machine's.
      const away = await mkdtemp(join(tmpdir(), 'medtune-elsewhere-'));
      const elsewhere = await execa(process.execPath, [BIN, 'serve'], { cwd: away, env, extendEnv: false, reject: false });
      await rm(away, { recursive: true, force: true });
      expect(elsewhere.stdout, elsewhere.all).toContain(exportName);
      expect(elsewhere.stdout).toContain(`(from ${join(here, 'medtune-demo')})`);
      const stop = await medtune(['serve', '--stop']);
      expect(stop.exitCode, stop.all).toBe(0);
      expect(stop.stdout).toMatch(/✓ stopped .*export/);
    },
    5 * 60_000,
  );

  it(
    'a bad --set fails and leaves no run folder',
    async () => {
      const before = readdirSync(join(here, 'medtune-demo', 'runs'));
      const r = await medtune(['train', '--set', 'num_train_epochs=abc']);
      expect(r.exitCode, r.all).not.toBe(0);
      expect(readdirSync(join(here, 'medtune-demo', 'runs'))).toEqual(before);
    },
    5 * 60_000,
  );

  it(
    'every command medtune printed works from here',
    async () => {
      const seen = new Set<string>();
      for (const { cmd, from } of printed) {
        const argv = words(cmd).slice(1);
        // Not re-run: the demo itself and the TUI (minutes / a terminal), starting servers (done above), and
        // commands whose arguments are placeholders for the user to fill in.
        if (seen.has(cmd) || !argv.length || argv.some((a) => /^[A-Z][A-Z_]+$/.test(a) || a === '…')) continue;
        const verb = argv.filter((a, i) => !(a.startsWith('-') || argv[i - 1] === '-w'))[0];
        if (!verb || ['demo', 'tui', 'serve', 'train', 'stop'].includes(verb) || argv.includes('--server')) continue;
        seen.add(cmd);
        const r = await medtune([...argv, ...(verb === 'eval' ? ['-n', '2'] : []), ...(verb === 'ask' ? ['--max-new-tokens', '4'] : [])]);
        expect(`${cmd} (printed by ${from}) → exit ${r.exitCode}`).toBe(`${cmd} (printed by ${from}) → exit 0`);
        expect(r.all ?? '', `${cmd} (printed by ${from})`).not.toMatch(LOST);
      }
      expect(seen.size).toBeGreaterThan(3);
    },
    10 * 60_000,
  );
});
