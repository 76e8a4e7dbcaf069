/** The GPU panels rendered from recorded nvidia-smi output, and the full screen driven by the replayer. */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { attributeProcesses, parseComputeApps, parseGpuRows, type HostSample } from '../../src/core/gpu.js';
import { MONO_THEME } from '../../src/ui/theme.js';
import { GpuPanel } from '../../src/ui/gpu/GpuPanel.js';
import { HostPanel } from '../../src/ui/gpu/HostPanel.js';
import { GpuMonitorPanel, panelRows } from '../../src/ui/gpu/GpuMonitorPanel.js';
import type { GpuMonitorState } from '../../src/runtime/gpu-monitor.js';
import { GpuScreen } from '../../src/ui/gpu/GpuScreen.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'gpu');
const fixture = (p: string) => readFileSync(join(FIX, p), 'utf8');
const fields = (dir: string) => fixture(`${dir}/query-gpu.fields`).trim().split(',');
const ANSI = /\u001b\[[0-9;]*m/g;
const plain = (s: string | undefined) => (s ?? '').replace(ANSI, '');

/** The H200 ×2 minute at 1 Hz, up to the middle of the load (so the sparklines hold idle then busy). */
const twoGpuHistory = parseGpuRows(fixture('h200x2/stream-1hz.csv'), fields('h200x2')).slice(0, 30);
const twoGpuProcs = attributeProcesses(parseComputeApps(fixture('h200x2/apps-load-1.csv')), new Set([703]), new Map([[703, 'python3'], [704, 'bash']]));

async function until(cond: () => boolean, ms = 8000, show: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met in time\n${show()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('GpuPanel', () => {
  it('shows every GPU of the latest sample with history, throttle words and processes', () => {
    const { lastFrame } = render(<GpuPanel samples={twoGpuHistory} processes={twoGpuProcs} peakReservedGiB={14.2} width={100} theme={MONO_THEME} />);
    const frame = plain(lastFrame());
    expect(frame).toContain('GPU 0  NVIDIA H200');
    expect(frame).toContain('GPU 1  NVIDIA H200');
    expect(frame).toMatch(/util\s+99%\s+memory bus \d+%/);
    expect(frame).toContain('3.1 / 140.4 GiB used · 0.6 reserved · run peak 14.2');
    expect(frame).toContain('4.1 / 140.4 GiB used');
    expect(frame).toMatch(/power\s+\d+ \/ 700 W/);
    expect(frame).toContain('held back: power cap');
    expect(frame).toMatch(/▁+█+/);
    expect(frame).toMatch(/703\s+0\s+3\.1 GiB\s+● this run\s+python3/);
    expect(frame).toMatch(/704\s+1\s+4\.1 GiB\s+owner unknown\s+python3/);
    expect(frame).toContain('owner unknown: a pid this process cannot see (a container?)');
    expect(frame.split('\n').every((l) => l.length <= 100)).toBe(true);
  });

  it('idle, no processes', () => {
    const idle = parseGpuRows(fixture('h100x1/idle-500ms.csv'), fields('h100x1'));
    const frame = plain(render(<GpuPanel samples={idle} processes={[]} width={90} theme={MONO_THEME} />).lastFrame());
    expect(frame).toContain('GPU 0  NVIDIA H100 80GB HBM3');
    expect(frame).toContain('0.0 / 79.6 GiB used · 0.5 reserved');
    expect(frame).toContain('SM 345 MHz · mem 2619 MHz · idle');
    expect(frame).toContain('no compute processes');
    expect(frame).not.toContain('run peak');
  });

  it('compact: one line per GPU', () => {
    const frame = plain(render(<GpuPanel samples={twoGpuHistory} processes={twoGpuProcs} peakReservedGiB={14.2} compact width={100} theme={MONO_THEME} />).lastFrame());
    const lines = frame.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^GPU0 H200\s+99% [▁-█ ]{12}\s+3\.1\/140\.4 GiB \(peak 14\.2\)\s+\d+\/700 W\s+\d+°C\s+\d+ MHz power cap$/);
    expect(lines[1]).toMatch(/^GPU1 H200/);
  });

  it('the edited bad fields read as unknown, not as zeros', () => {
    const bad = parseGpuRows(fixture('edited-bad-fields.csv'), fields('h100x1'));
    const frame = plain(render(<GpuPanel samples={bad.slice(0, 1)} processes={[]} width={90} theme={MONO_THEME} />).lastFrame());
    expect(frame).toMatch(/power\s+\? \/ 700 W/);
    const frame2 = plain(render(<GpuPanel samples={bad.slice(1, 2)} processes={[]} width={90} theme={MONO_THEME} />).lastFrame());
    expect(frame2).toContain('clock reasons unknown');
    expect(frame2).not.toContain('reserved');
  });
});

describe('HostPanel and the monitor panel', () => {
  const host: HostSample[] = [10, 40, 90].map((cpuPct, i) => ({ receivedAt: i, cpuPct, cpuCount: 2, memUsedMiB: 12_000, memTotalMiB: 24_000, load1: 0.5 }));

  it('says why there is no GPU and shows CPU and RAM', () => {
    const frame = plain(render(<HostPanel reason="nvidia-smi not found on PATH" samples={host} width={100} theme={MONO_THEME} />).lastFrame());
    expect(frame).toContain('No NVIDIA GPU: nvidia-smi not found on PATH. Showing CPU and RAM.');
    expect(frame).toMatch(/CPU\s+90% of 2 cores {2}load 0\.50/);
    expect(frame).toMatch(/RAM\s+11\.7 \/ 23\.4 GiB █████░░░░░/);
    expect(frame).toContain('▂▄▇');
  });

  it('switches on the monitor state, with notes for dropped fields and warnings', () => {
    expect(plain(render(<GpuMonitorPanel state={{ mode: 'starting' }} theme={MONO_THEME} />).lastFrame())).toContain('starting nvidia-smi');
    const frame = plain(
      render(
        <GpuMonitorPanel
          state={{ mode: 'gpu', samples: twoGpuHistory, processes: [], droppedFields: ['memory.reserved'], ignoredDevices: ['7'], warning: 'nvidia-smi stopped (code 0); restarting in 1 s' }}
          compact
          width={100}
          theme={MONO_THEME}
        />,
      ).lastFrame(),
    );
    expect(frame).toContain('nvidia-smi stopped (code 0); restarting in 1 s');
    expect(frame).toContain('this driver does not report memory.reserved');
    expect(frame).toContain('CUDA_VISIBLE_DEVICES entries that name no GPU: 7');
    expect(plain(render(<GpuMonitorPanel state={{ mode: 'host', reason: 'nvidia-smi: No devices were found', samples: host }} compact width={120} theme={MONO_THEME} />).lastFrame())).toMatch(
      /^No GPU \(nvidia-smi: No devices were found\) · CPU\s+90% of 2 cores/,
    );
  });
});

describe('panelRows', () => {
  const host: HostSample[] = [{ receivedAt: 0, cpuPct: 5, cpuCount: 2, memUsedMiB: 1, memTotalMiB: 2, load1: null }];
  const many = Array.from({ length: 11 }, (_, i) => ({ ...twoGpuProcs[i % 2]!, pid: 1000 + i }));
  const gpu = (over: Partial<Extract<GpuMonitorState, { mode: 'gpu' }>>): GpuMonitorState => ({ mode: 'gpu', samples: twoGpuHistory, processes: twoGpuProcs, droppedFields: [], ignoredDevices: [], warning: null, ...over });
  it.each<[string, GpuMonitorState, boolean]>([
    ['starting', { mode: 'starting' }, false],
    ['host', { mode: 'host', reason: 'x', samples: host }, false],
    ['host compact', { mode: 'host', reason: 'x', samples: host }, true],
    ['two GPUs, processes, unknown owner', gpu({}), false],
    ['two GPUs compact with notes', gpu({ droppedFields: ['memory.reserved'], warning: 'w' }), true],
    ['no processes', gpu({ processes: [] }), false],
    ['more processes than rows', gpu({ processes: many }), false],
    ['one GPU, all processes ours', gpu({ samples: parseGpuRows(fixture('h100x1/load-500ms.csv'), fields('h100x1')), processes: [{ ...twoGpuProcs[0]!, owner: 'run' }] }), false],
  ])('matches the rendered height: %s', (_what, state, compact) => {
    const frame = plain(render(<GpuMonitorPanel state={state} compact={compact} width={100} maxProcesses={8} theme={MONO_THEME} />).lastFrame());
    expect(frame.split('\n')).toHaveLength(panelRows(state, compact, 8));
  });
});

describe('GpuScreen with the replayer', () => {
  it('streams the recorded H200 ×2 load, quits on q and ends its nvidia-smi child', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'medtune-gpu-tui-'));
    const log = join(tmp, 'calls.jsonl');
    const env = { ...process.env, MEDTUNE_NVIDIA_SMI: join(FIX, 'replay-nvidia-smi.mjs'), MEDTUNE_REPLAY_DIR: join(FIX, 'h200x2'), MEDTUNE_REPLAY_GPU: 'load-500ms.csv', MEDTUNE_REPLAY_APPS: 'apps-load-1.csv', MEDTUNE_REPLAY_LOG: log };
    try {
      const app = render(<GpuScreen options={{ env, intervalMs: 40, processIntervalMs: 100 }} readPeak={async () => 3.5} />);
      await until(() => /held back: power cap/.test(plain(app.lastFrame())) && /run peak 3\.5/.test(plain(app.lastFrame())) && /704/.test(plain(app.lastFrame())), 8000, () => plain(app.lastFrame()));
      const frame = plain(app.lastFrame());
      expect(frame).toContain('medtune gpu · all GPUs');
      expect(frame).toContain('GPU 1  NVIDIA H200');
      expect(frame).toMatch(/q quit {2}esc quit/);
      const calls = (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { pid: number; args: string[] });
      const stream = calls.filter((c) => c.args.includes('-lms'));
      expect(stream).toHaveLength(1);
      app.stdin.write('q');
      await until(() => {
        try {
          process.kill(stream[0]!.pid, 0);
          return false;
        } catch {
          return true;
        }
      });
      app.unmount();
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
