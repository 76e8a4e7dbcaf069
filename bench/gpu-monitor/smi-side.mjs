#!/usr/bin/env node
/**
 * The nvidia-smi side of the monitor's cost, read from what test/fixtures/gpu/record.sh measured on the GPU
 * machines: the long-lived `-lms 1000` child's CPU over 60 s (/proc/<pid>/stat utime + stime, in CLK_TCK
 * ticks) and its RSS, and the cost of one-shot `--query-compute-apps` polls (/usr/bin/time: wall user sys).
 *
 *   node bench/gpu-monitor/smi-side.mjs
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'gpu');

for (const dir of ['h100x1', 'h200x2']) {
  const read = (f) => readFileSync(join(fixtures, dir, f), 'utf8');
  const env = read('env.txt');
  const tck = Number(/CLK_TCK=(\d+)/.exec(env)?.[1] ?? 100);
  const cpuText = read('stream-1hz-cpu.txt');
  const elapsed = Number(/elapsed_s=(\d+)/.exec(cpuText)?.[1]);
  const stat = cpuText.split('\n').find((l) => l.includes('(nvidia-smi)'));
  // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(after[11]) / tck;
  const stime = Number(after[12]) / tck;
  const rss = /VmRSS:\s+(\d+) kB/.exec(cpuText)?.[1];
  const rows = /rows=(\d+)/.exec(cpuText)?.[1];
  const calls = read('oneshot-cost.txt')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
  const avg = (i) => calls.reduce((a, c) => a + c[i], 0) / calls.length;
  const gpus = env.split('\n').filter((l) => l.startsWith('GPU ')).length;
  console.log(
    JSON.stringify({
      machine: `${gpus} × ${/GPU 0: ([^(]+) \(/.exec(env)?.[1].trim()}`,
      recorded: env.split('\n')[0],
      stream_child: {
        seconds: elapsed,
        rows: Number(rows),
        user_s: utime,
        system_s: stime,
        cpu_pct_of_one_core: +(((utime + stime) / elapsed) * 100).toFixed(3),
        rss_mib: +(Number(rss) / 1024).toFixed(1),
      },
      compute_apps_oneshot: { calls: calls.length, wall_s: +avg(0).toFixed(3), user_s: +avg(1).toFixed(3), system_s: +avg(2).toFixed(3) },
    }),
  );
}
