/**
 * The GPU screen (8): every GPU from recorded nvidia-smi output, the process table with user, command and run,
 * and killing a run's own process after a y/n question, through the source; live from the replayer at the end.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attributeProcesses, parseComputeApps, parseGpuRows, type GpuReading } from '../../src/core/gpu.js';
import type { GpuMonitorState } from '../../src/runtime/gpu-monitor.js';
import { MONO_THEME } from '../../src/ui/theme.js';
import { FakeSource, hostState } from './fake-source.js';
import { KEY, renderApp, type Tui } from './harness.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'gpu');
const fixture = (p: string) => readFileSync(join(FIX, p), 'utf8');
const fields = (dir: string) => fixture(`${dir}/query-gpu.fields`).trim().split(',');
const RUN = '20261208-003905-tiny-qwen2-vl-demo';
// eslint-disable-next-line no-control-regex
const COLOUR = /\u001b\[(3[0-9]|4[0-9]|9[0-7]|10[0-7]|38;|48;)/;

/** The recorded H200 ×2 minute up to the middle of the load, and its two load processes, both visible here. */
function h200x2(): GpuMonitorState {
  return {
    mode: 'gpu',
    samples: parseGpuRows(fixture('h200x2/stream-1hz.csv'), fields('h200x2')).slice(0, 30),
    processes: attributeProcesses(parseComputeApps(fixture('h200x2/apps-load-1.csv')), new Set(), new Map([[703, 'python3'], [704, 'python3']])),
    droppedFields: [],
    ignoredDevices: [],
    warning: null,
  };
}

/** pid 703 is a rank of a medtune run, 704 somebody else's job. */
function source(): FakeSource {
  const src = new FakeSource();
  src.processes.set(703, { user: 'alice', command: '/venv/bin/python3 -m llamafactory.launcher runs/x/train.yaml', runId: RUN });
  src.processes.set(704, { user: 'bob', command: 'python3 matmul-load.py --gpu 1', runId: null });
  return src;
}

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

function fits(screen: string, columns: number, rows: number) {
  const lines = screen.split('\n');
  expect(lines.length).toBeLessThanOrEqual(rows - 1);
  for (const l of lines) expect([...l].length).toBeLessThanOrEqual(columns);
}

describe('the GPU screen', () => {
  it.each([
    [80, 24],
    [120, 40],
  ])('shows every GPU and every process with its user and run at %i×%i', async (columns, rows) => {
    tui = renderApp({ source: source(), gpu: h200x2() }, { columns, rows });
    await tui.waitFor('Runs');
    await tui.press('8');
    const s = await tui.waitFor('bob');
    expect(s.split('\n')[0]).toContain(' 8 GPU ');
    expect(s).toContain('GPU 0  NVIDIA H200');
    expect(s).toContain('GPU 1  NVIDIA H200');
    expect(s).toContain('held back: power cap');
    expect(s).toMatch(/▁+[▂-█]+/);
    expect(s).toContain('2 on the GPUs, 1 of medtune runs');
    expect(s).toMatch(/PID\s+USER\s+GPU\s+GPU MEM\s+RUN\s+COMMAND/);
    // The run id whole where there is room, else cut at its end (its timestamp stays); the command in full below.
    expect(s).toMatch(columns > 100 ? new RegExp(`▸ 703\\s+alice\\s+0\\s+3\\.1 GiB ${RUN} /venv/bin/python3`) : /▸ 703\s+alice\s+0\s+3\.1 GiB 20261208-003905-tiny\S*… \/venv\/bin/);
    expect(s).toMatch(/ {2}704\s+bob\s+1\s+4\.1 GiB –\s+python3 matmul-load/);
    expect(s).toContain('pid 703 · alice · /venv/bin/python3 -m llamafactory.launcher runs/x/train.yaml');
    expect(s).toContain(`run ${RUN} · t SIGTERM, k SIGKILL (asks first)`);
    fits(s, columns, rows);
    expect(s.trimEnd().split('\n').at(-1)).toMatch(/↑↓ processes {2}t term {2}k kill {2}enter open run/);
  });

  it('asks before killing a run\'s process, and sends the chosen signal through the source', async () => {
    const src = source();
    tui = renderApp({ source: src, gpu: h200x2(), initialScreen: 'gpu' });
    await tui.waitFor('alice');
    await tui.press('k');
    const q = await tui.waitFor('y / n');
    expect(q).toContain(`Send SIGKILL to pid 703 of run ${RUN}? y / n`);
    expect(q.trimEnd().split('\n').at(-1)).toBe(' y yes  n no');
    await tui.press('n');
    await tui.waitFor(`run ${RUN} · t SIGTERM`);
    expect(src.callsTo('killProcess')).toHaveLength(0);
    await tui.press('t');
    await tui.waitFor('Send SIGTERM to pid 703');
    await tui.press('y');
    await tui.waitFor(`✓ SIGTERM sent to pid 703 of run ${RUN}`);
    expect(src.callsTo('killProcess').map((c) => c.args)).toEqual([[703, 'SIGTERM']]);
  });

  it('will not kill a process that is not a medtune run\'s, and says why', async () => {
    const src = source();
    const state = h200x2();
    if (state.mode !== 'gpu') throw new Error('a GPU state');
    // A third process whose pid is not visible here (a container's): its owner is unknown.
    state.processes.push({ pid: 99001, gpuUuid: state.processes[1]!.gpuUuid, name: 'python3', usedMemoryMiB: 512, owner: 'unknown' });
    tui = renderApp({ source: src, gpu: state, initialScreen: 'gpu' });
    await tui.waitFor('alice');
    await tui.press(KEY.down);
    let s = await tui.waitFor("not of a run in this workspace: medtune kills only its runs' processes");
    expect(s).toContain('pid 704 · bob · python3 matmul-load.py --gpu 1');
    expect(s).toMatch(/▸ 704\s+bob/);
    expect(s.trimEnd().split('\n').at(-1)).not.toMatch(/kill/);
    await tui.press('k', 't', KEY.enter);
    expect(tui.screen()).not.toContain('y / n');
    await tui.press(KEY.down);
    s = await tui.waitFor('owner unknown: pid not visible here (a container?), so medtune leaves it alone');
    expect(s).toContain('pid 99001 · python3');
    expect(s).toMatch(/▸ 99001\s+\?\s+1\s+0\.5 GiB –\s+python3/);
    await tui.press('k');
    expect(tui.screen()).not.toContain('y / n');
    expect(src.callsTo('killProcess')).toHaveLength(0);
  });

  it('? lists the screen\'s keys', async () => {
    tui = renderApp({ source: source(), gpu: h200x2(), initialScreen: 'gpu' });
    await tui.waitFor('alice');
    await tui.press('?');
    const s = await tui.waitFor('Everywhere');
    expect(s).toContain('Keys: GPU');
    expect(s).toMatch(/t \/ T\s+SIGTERM the selected process, if a run's own \(asks first\)/);
    expect(s).toMatch(/k \/ K\s+SIGKILL the selected process, if a run's own \(asks first\)/);
    expect(s).toContain('1 … 8');
  });

  it('enter opens the run of the selected process', async () => {
    tui = renderApp({ source: source(), gpu: h200x2(), initialScreen: 'gpu' });
    await tui.waitFor('alice');
    await tui.press(KEY.enter);
    await tui.waitFor((s) => s.split('\n')[0]!.includes('4 Run') && !s.includes('on the GPUs'));
  });

  it('reports a refused kill in the notice line', async () => {
    const src = source();
    src.killProcess = async () => {
      throw new Error('sending SIGTERM to process 703: the process has ended');
    };
    tui = renderApp({ source: src, gpu: h200x2(), initialScreen: 'gpu' });
    await tui.waitFor('alice');
    await tui.press('t', 'y');
    await tui.waitFor('the process has ended');
  });

  it('eight GPUs at 80×24: a line each, every one shown, the table still there', async () => {
    const base = h200x2();
    if (base.mode !== 'gpu') throw new Error('a GPU state');
    const eight = (gpus: GpuReading[]) => Array.from({ length: 8 }, (_, i) => ({ ...gpus[i % 2]!, index: i, uuid: i < 2 ? gpus[i]!.uuid : `GPU-${i}` }));
    const state: GpuMonitorState = { ...base, samples: base.samples.map((s) => ({ ...s, gpus: eight(s.gpus) })) };
    tui = renderApp({ source: source(), gpu: state, initialScreen: 'gpu' }, { columns: 80, rows: 24 });
    const s = await tui.waitFor('bob');
    for (let i = 0; i < 8; i++) expect(s).toMatch(new RegExp(`^GPU${i} H200\\s+\\d+%`, 'm'));
    expect(s).toContain('8 GPUs');
    fits(s, 80, 24);
  });

  it('without a GPU: says so and shows CPU and RAM', async () => {
    tui = renderApp({ source: source(), gpu: hostState(), initialScreen: 'gpu' }, { columns: 80, rows: 24 });
    const s = await tui.waitFor('No NVIDIA GPU');
    expect(s).toContain('No NVIDIA GPU: nvidia-smi not found on PATH. Showing CPU and RAM.');
    expect(s).toMatch(/CPU\s+35% of 2 cores/);
    expect(s).toMatch(/RAM\s+5\.9 \/ 23\.4 GiB/);
    expect(s).toContain('No GPU processes to list');
    fits(s, 80, 24);
  });

  it('honours NO_COLOR: no colour codes, the selection and the question still readable', async () => {
    tui = renderApp({ source: source(), gpu: h200x2(), theme: MONO_THEME, initialScreen: 'gpu' });
    await tui.waitFor('alice');
    expect(tui.raw()).not.toMatch(COLOUR);
    expect(tui.screen()).toMatch(/▸ 703\s+alice/);
    await tui.press('k');
    await tui.waitFor('Send SIGKILL to pid 703');
    expect(tui.raw()).not.toMatch(COLOUR);
  });
});

describe('the GPU screen on the replayer', () => {
  it('streams the recorded H200 ×2 load and kills this run\'s process through the source', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'medtune-gpu-screen-'));
    try {
      // nvidia-smi's process list with a pid that exists here (this test's own), under the name the kernel gives it.
      const comm = readFileSync('/proc/self/comm', 'utf8').trim();
      const [u0, u1] = parseComputeApps(fixture('h200x2/apps-load-1.csv')).map((p) => p.gpuUuid);
      const apps = join(tmp, 'apps.csv');
      await writeFile(apps, `${process.pid}, ${u0}, 3178, ${comm}\n704, ${u1}, 4202, python3\n`);
      const env = { ...process.env, MEDTUNE_NVIDIA_SMI: join(FIX, 'replay-nvidia-smi.mjs'), MEDTUNE_REPLAY_DIR: join(FIX, 'h200x2'), MEDTUNE_REPLAY_GPU: 'load-500ms.csv', MEDTUNE_REPLAY_APPS: apps };
      const src = new FakeSource();
      src.processes.set(process.pid, { user: 'alice', command: 'python -m llamafactory.launcher', runId: RUN });
      tui = renderApp({ source: src, gpu: undefined, gpuOptions: { env, intervalMs: 40, processIntervalMs: 100 }, initialScreen: 'gpu' }, { columns: 100, rows: 30 });
      const s = await tui.waitFor((x) => x.includes('held back: power cap') && x.includes('alice') && /704/.test(x), 8000);
      expect(s).toContain('GPU 1  NVIDIA H200');
      expect(s).toMatch(/ {2}704\s+\?\s+1\s+4\.1 GiB –\s+python3/);
      await tui.press(KEY.down);
      await tui.waitFor('owner unknown: pid not visible here');
      await tui.press(KEY.up, 'k');
      await tui.waitFor(`Send SIGKILL to pid ${process.pid}`);
      await tui.press('y');
      await tui.waitFor(`✓ SIGKILL sent to pid ${process.pid} of run ${RUN}`);
      expect(src.callsTo('killProcess').map((c) => c.args)).toEqual([[process.pid, 'SIGKILL']]);
    } finally {
      tui?.unmount();
      tui = undefined;
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
