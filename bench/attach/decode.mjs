// The decoder and summary alone, in one thread: CPU time to summarise a whole trainer_log.jsonl held in memory,
// as a first `status` does (the bytes before the last MiB read for the bulk fields, the rest whole), for one or
// more builds of medtune, alternately, so each sees the same machine load. No file reading, no Node start.
// Usage: node bench/attach/decode.mjs LOG RUNS ROOT...   (each ROOT: a checkout with `npm run build` done)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [log, runsArg, ...roots] = process.argv.slice(2);
if (!log || !roots.length) {
  console.error('usage: node bench/attach/decode.mjs LOG RUNS ROOT...');
  process.exit(2);
}
const buf = readFileSync(log);
const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
const feeders = await Promise.all(
  roots.map(async (r) => (await import(pathToFileURL(join(r, 'dist', 'core', 'trainersummary.js')).href)).TrainerLogFeeder),
);
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const times = roots.map(() => []);
let check;
for (let i = 0; i < Number(runsArg ?? 5); i++) {
  for (const [k, Feeder] of feeders.entries()) {
    const t0 = process.cpuUsage();
    const f = new Feeder({ fullFrom: Math.max(0, bytes.length - (1 << 20)) });
    for (let o = 0; o < bytes.length; o += 8 << 20) f.feed(bytes.subarray(o, Math.min(bytes.length, o + (8 << 20))));
    const s = f.summary();
    const u = process.cpuUsage(t0);
    times[k].push((u.user + u.system) / 1e6);
    // Every build must give the same summary, or the comparison means nothing.
    const key = JSON.stringify(s);
    if (check === undefined) check = key;
    else if (key !== check) throw new Error(`${roots[k]} gives another summary than ${roots[0]}`);
  }
}
for (const [k, r] of roots.entries())
  console.log(`${r}: median CPU ${median(times[k]).toFixed(3)} s (${times[k].map((t) => t.toFixed(3)).join(', ')})`);
