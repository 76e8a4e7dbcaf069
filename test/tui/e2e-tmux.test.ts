/**
 * The TUI end to end, driven like a person would: the real `medtune` binary in an 80×24 tmux window on a fresh
 * workspace, keys sent with send-keys, the screen read back with capture-pane. It prepares the sample set on the
 * Data screen, runs the demo from Home (sample data, tiny Qwen2-VL, a training run), kills the demo's long run
 * from the monitor, launches a short run from the Train form after a pre-flight, watches it reach 100%, exports
 * and verifies it, and quits. The demo's own run (594 steps) would make this take over four minutes on a 2-core
 * machine; the short run (56 steps) shows the same screens.
 *
 * Every wait is on what the screen says, polled; a timeout names the step and shows the last screen.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { BIN, killStrayProcesses, strayProcesses, waitUntil } from '../integration/harness.js';

const SOCKET = `medtune-e2e-${process.pid}`;
const COLUMNS = 80;
const ROWS = 24;
const POLL_MS = 250;
const GPU_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'gpu');
// The sample set has 224 training rows and the cpu profile a batch of 2: 0.5 epochs is 56 steps.
const EPOCHS = '0.5';

let root: string;
let ws: Workspace;
let confDir: string;

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

type ScreenTest = string | RegExp | ((s: string) => boolean);

function matches(s: string, what: ScreenTest): boolean {
  if (typeof what === 'string') return s.includes(what);
  if (what instanceof RegExp) return what.test(s);
  return what(s);
}

const EXITED = /\[medtune exited with status (\d+)\]/;

/**
 * One tmux session running `medtune args…` in an 80×24 window: keys in, the screen out. A shell runs it,
 * prints its exit status on the terminal afterwards, as a person would see it, and stays. tmux itself is not
 * asked (remain-on-exit): tmux 3.3 at times reports a dead pane's exit status only once another child exits,
 * and the last line a process writes just before its terminal closes can be lost.
 * `env` is added to the server's environment (a shell's, with CI=1) for this session only.
 */
function openPane(session: string, args: string[], env: Record<string, string> = {}) {
  let last = '';
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    String(COLUMNS),
    '-y',
    String(ROWS),
    '-c',
    PACKAGE_ROOT,
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    'sh',
    '-c',
    '"$@"; echo "[medtune exited with status $?]"; exec sleep 3600',
    'sh',
    process.execPath,
    BIN,
    ...args,
  );
  const screen = (): string => {
    last = tmux('capture-pane', '-p', '-t', session);
    return last;
  };
  const failure = (what: string, why: string) =>
    new Error(`${why} while waiting for ${what}; the screen (${COLUMNS}×${ROWS}) was:\n${last}`);
  return {
    screen,
    /** The last screen read, for messages. */
    last: () => last,
    /** Key names as tmux spells them (Tab, Down, Enter, C-u, or single characters). */
    press: (...keys: string[]) => void tmux('send-keys', '-t', session, ...keys),
    /** Text typed as it is, not read as key names. */
    type: (text: string) => void tmux('send-keys', '-t', session, '-l', text),
    /**
     * Polls the screen until `what` shows; fails at once on `fail` (an error the TUI printed) or when medtune
     * exits, and after `ms` with the last screen.
     */
    async waitFor(label: string, what: ScreenTest, ms: number, fail?: RegExp): Promise<string> {
      const end = Date.now() + ms;
      for (;;) {
        const s = screen();
        if (matches(s, what)) return s;
        if (fail?.test(s)) throw failure(label, `the screen showed ${fail}`);
        const exited = EXITED.exec(s);
        if (exited) throw failure(label, `medtune exited with status ${exited[1]}`);
        if (Date.now() > end) throw failure(label, `timed out after ${Math.round(ms / 1000)} s`);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    /** Quits with q and returns the exit status. */
    async quit(): Promise<number> {
      tmux('send-keys', '-t', session, 'q');
      const end = Date.now() + 15_000;
      for (;;) {
        const exited = EXITED.exec(screen());
        if (exited) return Number(exited[1]);
        if (Date.now() > end) throw failure('medtune to exit after q', 'timed out after 15 s');
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
  };
}

const timings: Array<[string, number]> = [];
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  const v = await fn();
  timings.push([name, Math.round((Date.now() - t) / 100) / 10]);
  return v;
}

/** A task that failed shows medtune's error lines (core/errors.ts formatError). */
const TASK_FAILED = /^✗ (While|Unexpected)/m;

/** The run monitor's header line: the run id (shortened in the middle while a long phase shows) and its status. */
const header = (id: string, status: string) => new RegExp(`^${id} (${status})\\b`, 'm');

/** Run folders of the workspace, oldest first (ids start with their creation time). */
function runIds(): string[] {
  return existsSync(ws.runsDir)
    ? readdirSync(ws.runsDir)
        .filter((d) => !d.startsWith('.'))
        .sort()
    : [];
}

describe('medtune TUI end to end in tmux', () => {
  beforeAll(async () => {
    const probe = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
    if (probe.error) {
      throw new Error(
        'tmux is not installed: the TUI end-to-end test drives medtune in a tmux window. Install it (`apt-get install tmux`, as .ci/run does) and run the tests again.',
      );
    }
    if (!existsSync(join(PACKAGE_ROOT, 'dist', 'cli', 'main.js')))
      throw new Error('medtune is not built: run `npm run build` (npm test does) first');
    root = await mkdtemp(join(tmpdir(), 'medtune-e2e-tmux-'));
    ws = workspaceAt(root);
    confDir = await mkdtemp(join(tmpdir(), 'medtune-e2e-tmux-conf-'));
    const conf = join(confDir, 'tmux.conf');
    // No status line, so a pane is the whole 80×24 window; the server waits for sessions instead of leaving
    // when it has none.
    await writeFile(conf, 'set -g status off\nset -g exit-empty off\n');
    // Sessions get the server's environment: a shell's, not vitest's, and CI=1 as in CI, where Ink would
    // otherwise draw nothing until exit.
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_ENV'),
    );
    Object.assign(env, { CI: '1', HF_HUB_OFFLINE: '1' });
    delete env.TMUX;
    delete env.NO_COLOR;
    const started = spawnSync('tmux', ['-L', SOCKET, '-f', conf, 'start-server'], { encoding: 'utf8', env });
    if (started.status !== 0) throw new Error(`tmux start-server failed: ${started.stderr || started.error?.message}`);
  });

  afterAll(async () => {
    if (!root) return;
    // Trainers and supervisors first, so nothing writes into the workspace while it is removed.
    killStrayProcesses(ws);
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
    await rm(root, { recursive: true, force: true });
    await rm(confDir, { recursive: true, force: true });
    if (timings.length) process.stderr.write(`[e2e-tmux] ${timings.map(([n, s]) => `${n} ${s}s`).join(', ')}\n`);
  });

  it(
    'prepares data, runs the demo, trains to 100%, exports with a verification and quits cleanly',
    async () => {
      const tui = openPane('tui', ['-w', root]);
      await step('open', () => tui.waitFor('the Home screen of an empty workspace', 'Press d to run the demo', 30_000));

      await step('prepare', async () => {
        tui.press('2');
        await tui.waitFor('the Data screen', 'none yet: tab to Prepare', 10_000);
        tui.press('Tab', 'Tab');
        await tui.waitFor('the Prepare view', /source\s+‹ Sample set \(offline\) ›/, 10_000);
        tui.press('p');
        const s = await tui.waitFor(
          'the sample set to be prepared',
          /✓ medtrinity-sample: \d+ train rows, \d+ val rows, \d+ images/,
          120_000,
          TASK_FAILED,
        );
        expect(s).toContain('✓ dataset medtrinity-sample ready');
        tui.press('Tab', 'Tab');
        await tui.waitFor(
          'the new entry in the Datasets view',
          /▸ medtrinity-sample\s+\d+\s+file\s+medtrinity-sample\/train\.jsonl/,
          10_000,
        );
      });

      const demoRun = await step('demo', async () => {
        tui.press('1');
        await tui.waitFor('Home with the dataset', /Datasets 1/, 10_000);
        tui.press('d');
        await tui.waitFor('the demo to start', '⟳ demo', 10_000);
        // The demo prepares its data, builds the tiny model, checks the config, launches, and opens the run.
        await tui.waitFor('the demo run in the monitor', header('\\S+-demo', 'queued|preparing|training'), 300_000, TASK_FAILED);
        const ids = runIds();
        expect(ids).toHaveLength(1);
        expect(ids[0]).toMatch(/-demo$/);
        return ids[0]!;
      });

      await step('demo training', () =>
        tui.waitFor(
          'the demo run to train',
          (s) => header(demoRun, 'training').test(s) && /step \d+\/\d+/.test(s),
          180_000,
          header(demoRun, 'failed|stopped|completed'),
        ),
      );

      await step('kill demo', async () => {
        tui.press('k');
        await tui.waitFor('the kill question', `Kill ${demoRun} now?`, 10_000);
        tui.press('y');
        await tui.waitFor('the demo run to end', header(demoRun, 'stopped'), 60_000, header(demoRun, 'failed|completed'));
      });

      await step('train form', async () => {
        tui.press('3');
        // The tiny model the demo built, the first profile, and the first dataset are the form's defaults.
        await tui.waitFor(
          'the Train form with its choices read',
          (s) => /▸ model\s+‹ tiny-qwen2-vl ›/.test(s) && /profile\s+‹ cpu ›/.test(s) && /datasets\s+‹ medtrinity-sample ›/.test(s),
          10_000,
        );
        tui.press('Down', 'Down', 'Down', 'Down');
        await tui.waitFor('the epochs field', /▸ epochs/, 10_000);
        tui.press('Enter', 'C-u');
        tui.type(EPOCHS);
        tui.press('Enter');
        await tui.waitFor('the new epochs', new RegExp(`▸ epochs\\s+${EPOCHS.replace('.', '\\.')}\\s`), 10_000);
      });

      await step('pre-flight', async () => {
        tui.press('p');
        const s = await tui.waitFor('the pre-flight', /pre-flight (passed|failed)/, 180_000, TASK_FAILED);
        expect(s, s).toContain('✓ pre-flight passed');
        expect(s).toMatch(/✓ LLaMA-Factory\s+its parser accepted every key/);
        expect(s).toMatch(/✓ dataset medtrinit\S*\s*\d+ rows, all usable/);
      });

      const runId = await step('train', async () => {
        tui.press('L');
        await tui.waitFor(
          'the new run in the monitor',
          (x) => runIds().length === 2 && header('(?!\\S+-demo )\\S+', 'queued|preparing|training|saving|completed').test(x),
          60_000,
          TASK_FAILED,
        );
        const id = runIds().find((r) => r !== demoRun)!;
        // 100% and "completed" together: the trainer wrote its last step and the supervisor saw it exit 0.
        const done = await tui.waitFor(
          'the run to complete',
          (x) => header(id, 'completed').test(x) && /100%\s+step (\d+)\/\1\b/.test(x),
          360_000,
          header(id, 'failed|stopped'),
        );
        expect(done).toMatch(/ETA done/);
        return id;
      });

      await step('export', async () => {
        tui.press('x');
        await tui.waitFor('the Export screen with the run', new RegExp(`▸ run\\s+‹ ${runId} ›`), 10_000);
        await tui.waitFor('the export form', 'press e to export', 10_000);
        tui.press('e');
        const s = await tui.waitFor('the verification', /✓ verified:|✗ verification failed/, 300_000, TASK_FAILED);
        // The folder is shortened in the middle at 80 columns; its name ends the line.
        expect(s, s).toMatch(new RegExp(`✓ verified: /.*${runId.slice(-12)}$`, 'm'));
        for (const check of ['files', 'processor', 'chat_template', 'model', 'generate']) expect(s).toMatch(new RegExp(`✓ ${check}\\s`));
        expect(s).not.toContain('✗');
        // The same default name as `medtune export RUN`.
        expect(existsSync(join(ws.exportsDir, runId, 'verify.json'))).toBe(true);
      });

      await step('quit', async () => {
        expect(await tui.quit(), tui.last()).toBe(0);
        // The alternate screen was left: the pane shows the terminal as it was (the shell's line), not a frame.
        expect(tui.last()).not.toContain('1 Home  2 Data');
      });

      await waitUntil(() => strayProcesses(ws).length === 0, 30_000, 'no trainer or supervisor of the workspace left').catch(
        (err: Error) => {
          const left = strayProcesses(ws).map((pid) => `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
          throw new Error(`${err.message}; left: ${left.join(' | ')}`);
        },
      );
    },
    20 * 60_000,
  );

  it('medtune gpu draws recorded H200 ×2 panels full-screen and quits with q', async () => {
    const gpu = openPane('gpu', ['gpu', '-w', root], {
      MEDTUNE_NVIDIA_SMI: join(GPU_FIXTURES, 'replay-nvidia-smi.mjs'),
      MEDTUNE_REPLAY_DIR: join(GPU_FIXTURES, 'h200x2'),
      MEDTUNE_REPLAY_GPU: 'load-500ms.csv',
      MEDTUNE_REPLAY_APPS: 'apps-load-1.csv',
    });
    const s = await gpu.waitFor('both GPUs and their processes', (x) => /Processes 2/.test(x) && /GPU 1\s+NVIDIA H200/.test(x), 30_000);
    // Each frame replaces the last: no line of an earlier frame is left on the screen.
    expect(s).not.toContain('starting nvidia-smi');
    expect(s.match(/GPU 0\s+NVIDIA H200/g), s).toHaveLength(1);
    expect(s.match(/GPU 1\s+NVIDIA H200/g), s).toHaveLength(1);
    expect(await gpu.quit(), gpu.last()).toBe(0);
  }, 60_000);
});
