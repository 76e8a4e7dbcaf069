#!/usr/bin/env node
/**
 * The GPU monitor's own CPU cost (the Node side): a GpuMonitor fed by the replayer of recorded nvidia-smi output
 * at 1 Hz for a while, measured with process.cpuUsage(); the replayer's CPU (standing in for nvidia-smi, whose
 * cost was measured on the GPU machines) is not counted. Also an idle Node baseline over the same time, the same
 * monitor with the full-screen Ink panel rendering into a fake terminal, and the pure parse cost per sample.
 *
 *   npm run build && node bench/gpu-monitor/monitor-cpu.mjs [seconds=60]
 *
 * Prints one JSON line per case; bench/results/gpu-monitor.md records a run.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import os from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const { GpuMonitor } = await import(dist('runtime/gpu-monitor.js'));
const { parseGpuRow, SampleAssembler } = await import(dist('core/gpu.js'));
// Loaded up front so module loading is not counted in the screen case.
const React = await import('react');
const { render } = await import('ink');
const { GpuScreen } = await import(dist('ui/gpu/GpuScreen.js'));
const fixtures = join(root, 'test', 'fixtures', 'gpu');
const seconds = Number(process.argv[2] ?? 60);

function replayEnv(dir) {
  return {
    ...process.env,
    MEDTUNE_NVIDIA_SMI: join(fixtures, 'replay-nvidia-smi.mjs'),
    MEDTUNE_REPLAY_DIR: join(fixtures, dir),
    MEDTUNE_REPLAY_APPS: 'apps-load-1.csv',
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(name, body) {
  const before = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const extra = await body();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const d = process.cpuUsage(before);
  const cpu = (d.user + d.system) / 1e6;
  const row = {
    case: name,
    wall_s: +wall.toFixed(1),
    user_s: +(d.user / 1e6).toFixed(3),
    system_s: +(d.system / 1e6).toFixed(3),
    cpu_pct_of_one_core: +((cpu / wall) * 100).toFixed(3),
    ...extra,
  };
  process.stdout.write(`${JSON.stringify(row)}\n`);
  return row;
}

async function monitorFor(dir) {
  const m = new GpuMonitor({ env: replayEnv(dir), intervalMs: 1000 });
  let updates = 0;
  m.subscribe(() => updates++);
  await m.start();
  await sleep(seconds * 1000);
  const s = m.state;
  await m.stop();
  return {
    updates,
    samples_in_history: s.mode === 'gpu' ? s.samples.length : 0,
    gpus: s.mode === 'gpu' ? s.samples.at(-1).gpus.length : 0,
  };
}

class FakeTerminal extends Writable {
  columns = 120;
  rows = 40;
  isTTY = false;
  bytes = 0;
  frames = 0;
  _write(chunk, _enc, cb) {
    this.bytes += chunk.length;
    this.frames++;
    cb();
  }
}

async function screenFor(dir) {
  const stdout = new FakeTerminal();
  const app = render(React.createElement(GpuScreen, { options: { env: replayEnv(dir), intervalMs: 1000 } }), {
    stdout,
    maxFps: 4,
    patchConsole: false,
    exitOnCtrlC: false,
  });
  await sleep(seconds * 1000);
  app.unmount();
  await sleep(200);
  return { frames_written: stdout.frames, bytes_written: stdout.bytes };
}

function parseCost(dir) {
  const fields = readFileSync(join(fixtures, dir, 'query-gpu.fields'), 'utf8')
    .trim()
    .split(',');
  const lines = readFileSync(join(fixtures, dir, 'stream-1hz.csv'), 'utf8')
    .split('\n')
    .filter(Boolean);
  const rounds = 2000;
  let samples = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    const asm = new SampleAssembler();
    for (const line of lines) samples += asm.push(parseGpuRow(line, fields)).length;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return {
    case: `parse ${dir}/stream-1hz.csv ×${rounds}`,
    samples,
    us_per_sample: +(ns / 1e3 / samples).toFixed(2),
    us_per_row: +(ns / 1e3 / (lines.length * rounds)).toFixed(2),
  };
}

process.stdout.write(
  `${JSON.stringify({ machine: `${os.cpus()[0]?.model ?? '?'} ×${os.availableParallelism()}`, node: process.version, date: new Date().toISOString(), seconds })}\n`,
);
// Let start-up work (JIT, garbage from module loading) settle before the baseline.
await sleep(3000);
await measure('idle node baseline', async () => {
  await sleep(seconds * 1000);
  return {};
});
await measure('GpuMonitor, 1 GPU (h100x1 replay)', () => monitorFor('h100x1'));
await measure('GpuMonitor, 2 GPUs (h200x2 replay)', () => monitorFor('h200x2'));
await measure('GpuMonitor + full-screen Ink panel, 2 GPUs, maxFps 4', () => screenFor('h200x2'));
for (const dir of ['h100x1', 'h200x2']) process.stdout.write(`${JSON.stringify(parseCost(dir))}\n`);
