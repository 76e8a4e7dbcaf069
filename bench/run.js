#!/usr/bin/env node
// `npm run bench [-- NAME [ARGS...]]`: lists medtune's benchmarks, or runs one by name with its own arguments.
// Each writes its figures to stdout; bench/results/ holds the recorded runs (machine, date, command, figures).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cacheVenvPython = () => {
  const cache = process.env.MEDTUNE_CACHE ?? join(process.env.HOME ?? '/root', '.cache', 'medtune');
  const venv = process.env.MEDTUNE_VENV ?? (existsSync(cache) ? readdirSync(cache).filter((d) => d.startsWith('venv-')).map((d) => join(cache, d)).sort().pop() : undefined);
  return venv ? join(venv, 'bin', 'python') : 'python3';
};

const BENCHES = {
  attach: { what: 'first view and per-update cost of status/attach on 10^4..10^6-record logs vs re-reading (bench/results/attach.md)', argv: () => ['node', 'bench/attach/run.mjs'] },
  'data-convert': { what: "medtune's converter vs the reference script on MedTrinity-style rows (bench/results/data-convert.md)", argv: () => [cacheVenvPython(), 'bench/data-convert/run.py'] },
  'data-scale': { what: 'data prepare rows/s against worker count at 25M_demo size, with the reference (bench/results/data-scale.md)', argv: () => [cacheVenvPython(), 'bench/data-scale/run.py'] },
  'gpu-monitor': { what: 'CPU cost of the GPU monitor and its panel (bench/results/gpu-monitor.md)', argv: () => ['node', 'bench/gpu-monitor/monitor-cpu.mjs'] },
  'tiny-model': { what: 'can the tiny Qwen2-VL learn the modality with LoRA on a CPU (bench/results/tiny-model.md)', argv: () => [cacheVenvPython(), 'bench/tiny-model/learn.py'] },
  'gpu-train': { what: 'GPU profiles and speed levers, on a GPU machine (bench/results/gpu-train.md, gpu-train.json)', argv: () => ['bash', 'bench/gpu/speed.sh'] },
  'gpu-e2e': { what: 'the whole workflow through the CLI on a GPU machine (bench/results/gpu-e2e.md)', argv: () => ['bash', 'bench/gpu/e2e.sh'] },
};

const [name, ...args] = process.argv.slice(2);
if (!name || !(name in BENCHES)) {
  if (name) console.error(`no benchmark "${name}"`);
  console.log('usage: npm run bench -- NAME [ARGS...]   (npm run build first: several use dist/)\n');
  for (const [n, b] of Object.entries(BENCHES)) console.log(`  ${n.padEnd(13)} ${b.what}`);
  process.exit(name ? 2 : 0);
}
const [cmd, ...rest] = BENCHES[name].argv();
const r = spawnSync(cmd, [...rest, ...args], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
