// Benchmark: first view and per-update cost of `medtune status` / attach on trainer logs of 10^4..10^6 records,
// against re-reading the whole file every refresh as LLaMA Board does, measured in the same run.
// Usage: npm run build && node bench/attach/run.mjs [SIZES=10000,100000,1000000] [WORK=/tmp/medtune-attach-bench]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { appendFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const root = join(here, '..', '..');
const sizes = (process.argv[2] ?? '10000,100000,1000000').split(',').map(Number);
const work = process.argv[3] ?? '/tmp/medtune-attach-bench';
const REPEAT = 3;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const results = [];
for (const n of sizes) {
  const dir = join(work, `out-${n}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'trainer_log.jsonl');
  execFileSync(process.execPath, [join(here, 'make-log.mjs'), String(n), log]);
  const bytes = statSync(log).size;
  // First full view through the CLI, Node's start included: wall, user+sys CPU and peak RSS from GNU time. The
  // summary cache (MEDTUNE_CACHE) is emptied before each, so each is a first view of a log never seen.
  const cache = join(work, 'cache');
  const status = (threads) => {
    const r = spawnSync(
      '/usr/bin/time',
      ['-f', '%e %U %S %M', process.execPath, join(root, 'bin', 'medtune.js'), 'status', dir, '--json'],
      { encoding: 'utf8', env: { ...process.env, MEDTUNE_CACHE: cache, ...(threads ? { MEDTUNE_SCAN_THREADS: String(threads) } : {}) } },
    );
    const [wall, user, sys, kb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    return { wall, cpu: user + sys, rssMiB: kb / 1024, load: loadavg()[0] };
  };
  const cli = [];
  for (let i = 0; i < REPEAT; i++) {
    rmSync(cache, { recursive: true, force: true });
    cli.push(status());
  }
  // The same first view on one thread (logs of 48 MiB and more are otherwise read in parts on up to 4 threads).
  const oneThread = [];
  for (let i = 0; i < REPEAT; i++) {
    rmSync(cache, { recursive: true, force: true });
    oneThread.push(status(1));
  }
  // The next `status` of the same log after 10 more records: it goes on from the cached summary (logs ≥ 8 MiB).
  const again = [];
  for (let i = 0; i < REPEAT; i++) {
    const last = JSON.parse(execFileSync('tail', ['-n', '1', log], { encoding: 'utf8' }));
    let extra = '';
    for (let k = 1; k <= 10; k++)
      extra += `${JSON.stringify({ ...last, current_steps: last.current_steps + k })
        .replace(/,"/g, ', "')
        .replace(/":/g, '": ')}\n`;
    appendFileSync(log, extra);
    again.push(status());
  }
  rmSync(cache, { recursive: true, force: true });
  // Follow: the first view in-process, then 20 updates of 10 records each (what attach and the TUI do).
  const probe = JSON.parse(
    execFileSync(process.execPath, [join(here, 'follow-probe.mjs'), dir, '20', '10'], {
      encoding: 'utf8',
      env: { ...process.env, MEDTUNE_CACHE: cache },
    }).trim(),
  );
  // LLaMA Board: the whole file read and parsed on every refresh.
  const board = JSON.parse(execFileSync('python3', [join(here, 'llamaboard.py'), log, String(REPEAT)], { encoding: 'utf8' }).trim());
  const row = {
    records: n,
    mib: Math.round(bytes / 2 ** 20),
    statusWallS: median(cli.map((c) => c.wall)),
    statusCpuS: median(cli.map((c) => c.cpu)),
    statusRssMiB: Math.round(Math.max(...cli.map((c) => c.rssMiB))),
    statusWallAll: cli.map((c) => c.wall),
    oneThreadWallS: median(oneThread.map((c) => c.wall)),
    oneThreadCpuS: median(oneThread.map((c) => c.cpu)),
    oneThreadRssMiB: Math.round(Math.max(...oneThread.map((c) => c.rssMiB))),
    load: cli.map((c) => Math.round(c.load * 10) / 10),
    againWallS: median(again.map((c) => c.wall)),
    againCpuS: median(again.map((c) => c.cpu)),
    againRssMiB: Math.round(Math.max(...again.map((c) => c.rssMiB))),
    ...probe,
    llamaBoardRefreshMs: board.refreshMsMedian,
    llamaBoardRssMiB: board.maxRssMiB,
  };
  results.push(row);
  console.error(JSON.stringify(row));
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `machine: ${cpus()[0]?.model}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}; ${new Date().toISOString()}\n`,
);
console.log(
  '| records | log MiB | first `status --json` wall s (runs) | CPU s | peak RSS MiB | the same on one thread: wall s / CPU s / RSS MiB | next `status` after 10 records: wall s / CPU s | follow: first view ms | follow RSS MiB | per update (10 records) wall ms / CPU ms | LLaMA Board re-read per refresh ms | its RSS MiB |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.records.toLocaleString('en')} | ${r.mib} | ${r.statusWallS} (${r.statusWallAll.join(', ')}) | ${r.statusCpuS.toFixed(2)} | ${r.statusRssMiB} | ${r.oneThreadWallS} / ${r.oneThreadCpuS.toFixed(2)} / ${r.oneThreadRssMiB} | ${r.againWallS} / ${r.againCpuS.toFixed(2)} | ${r.firstViewMs} | ${r.maxRssMiB} | ${r.updateWallMsMedian} / ${r.updateCpuMsMedian} | ${r.llamaBoardRefreshMs} | ${r.llamaBoardRssMiB} |`,
  );
}
console.log(`\n${JSON.stringify(results)}`);
