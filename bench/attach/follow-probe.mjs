// One attach-style session in its own process: follow an output_dir, time the first full view, then append
// records in batches and time each update (wall from append to the view that shows it, and this process's CPU).
// Usage: node follow-probe.mjs DIR UPDATES BATCH  → one JSON line on stdout.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { followRunDir } from '../../dist/runtime/rundir.js';

const [dir, updatesArg, batchArg] = process.argv.slice(2);
const updates = Number(updatesArg ?? 20);
const batch = Number(batchArg ?? 10);
const t0 = performance.now();
let waiting = null;
const follower = await followRunDir(
  dir,
  (v) => {
    if (waiting && v.step >= waiting.step) {
      const w = waiting;
      waiting = null;
      w.resolve();
    }
  },
  { debounceMs: 0, tickMs: 3_600_000, pollMs: 20 },
);
const firstMs = performance.now() - t0;
const first = follower.view;
const rssFirst = process.memoryUsage().rss;
let step = first.step;
const total = first.totalSteps;
const walls = [];
const cpus = [];
for (let u = 0; u < updates; u++) {
  let lines = '';
  for (let k = 0; k < batch; k++) {
    step++;
    lines += `{"current_steps": ${step}, "total_steps": ${total}, "loss": ${0.4 + Math.random() * 0.01}, "lr": 1e-05, "epoch": 2.9, "percentage": 99.0, "elapsed_time": "20 days, 0:00:00", "remaining_time": "0:00:01", "throughput": 2409.41, "total_tokens": ${step * 4096}, "vram_allocated": 61.37, "vram_reserved": 74.5}\n`;
  }
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const seen = new Promise((resolve) => (waiting = { step, resolve }));
  appendFileSync(join(dir, 'trainer_log.jsonl'), lines);
  await seen;
  walls.push(performance.now() - w0);
  const c = process.cpuUsage(c0);
  cpus.push((c.user + c.system) / 1000);
}
await follower.close();
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(
  JSON.stringify({
    firstViewMs: Math.round(firstMs),
    rssFirstMiB: Math.round(rssFirst / 2 ** 20),
    recordCount: first.recordCount,
    updateWallMsMedian: Math.round(median(walls) * 10) / 10,
    updateCpuMsMedian: Math.round(median(cpus) * 10) / 10,
    rssEndMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
