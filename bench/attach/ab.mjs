// A/B: the first `medtune status DIR --json` of a never-seen trainer log with two builds of medtune, run
// alternately (A, B, A, B, …) so that both see the same machine load. Wall, user+sys CPU and peak RSS from GNU time;
// the summary cache is emptied before every run. Prints each run and the medians.
// Usage: node bench/attach/ab.mjs ROOT_A ROOT_B OUTPUT_DIR [RUNS=7] [THREADS]
//   ROOT_*: checkouts with `npm run build` done; OUTPUT_DIR: a folder holding trainer_log.jsonl (make-log.mjs makes one).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const [a, b, dir, runsArg, threads] = process.argv.slice(2);
if (!a || !b || !dir) {
  console.error('usage: node bench/attach/ab.mjs ROOT_A ROOT_B OUTPUT_DIR [RUNS=7] [THREADS]');
  process.exit(2);
}
const runs = Number(runsArg ?? 7);
const cache = join(dir, '..', 'ab-cache');
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

// GNU time gives the peak RSS too; where it is missing, bash's `time` gives wall and CPU.
const gnuTime = existsSync('/usr/bin/time');

function status(root) {
  rmSync(cache, { recursive: true, force: true });
  const argv = [process.execPath, join(root, 'bin', 'medtune.js'), 'status', dir, '--json'];
  const [cmd, args] = gnuTime
    ? ['/usr/bin/time', ['-f', '%e %U %S %M', ...argv]]
    : ['bash', ['-c', 'TIMEFORMAT="%R %U %S 0"; time "$@" >/dev/null', 'bash', ...argv]];
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, MEDTUNE_CACHE: cache, ...(threads ? { MEDTUNE_SCAN_THREADS: threads } : {}) },
  });
  if (r.status !== 0) throw new Error(`${root}: status exited ${r.status}: ${r.stderr}`);
  const [wall, user, sys, kb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: Math.round((user + sys) * 100) / 100, rssMiB: Math.round(kb / 1024), load: Math.round(loadavg()[0] * 10) / 10 };
}

const out = { A: [], B: [] };
for (let i = 0; i < runs; i++) {
  for (const [name, root] of [
    ['A', a],
    ['B', b],
  ]) {
    const m = status(root);
    out[name].push(m);
    console.log(`${name} ${i + 1}: wall ${m.wall} s, cpu ${m.cpu} s, rss ${m.rssMiB} MiB, load ${m.load}`);
  }
}
for (const name of ['A', 'B']) {
  const ms = out[name];
  console.log(
    `${name} median of ${runs}: wall ${median(ms.map((m) => m.wall))} s, cpu ${median(ms.map((m) => m.cpu))} s, rss ${median(ms.map((m) => m.rssMiB))} MiB`,
  );
}
