import type { Command } from 'commander';
import { continueLines } from '../../core/run.js';
import { action } from '../command.js';
import {
  compareRunRefs,
  queuePlaces,
  type QueuePlace,
  findJobDir,
  listJobs,
  listRuns,
  resume,
  runDir,
  runLogTail,
  runOrOutputDir,
  runStatus,
  servers,
  stop,
  stopJob,
  streamRunStatus,
} from '../../app/index.js';
import { cmd } from '../../core/nextstep.js';
import { viewSummary } from '../../core/runview.js';
import { attachAndReport, bar, runLine, runSummary } from '../runview.js';
import { reportJob } from '../jobview.js';
import { serverLine } from '../serverview.js';
import { comparisonJson, comparisonLines, wantsColour } from '../compareview.js';
import { parseAxis, parseRankBy } from '../../core/runcompare.js';

export const order = 31;

export function register(program: Command): void {
  const runs = program
    .command('runs')
    .description('list the runs of this workspace (and its jobs, such as the demo, in the text view)')
    .option('--json', 'print as JSON')
    .action(
      action(async (ctx) => {
        const views = await listRuns(ctx.app);
        const places = await queuePlaces(ctx.app);
        const waitLine = (p: QueuePlace) =>
          `#${p.position} in the queue, waits for ${p.after ? `run ${p.after} to end` : p.devices ? `GPU ${p.devices.join(',')}` : 'free devices'}${p.sweep ? ` (sweep ${p.sweep})` : ''}`;
        // Running and ended runs by id (time), then the waiting ones in the order they will start.
        const ordered = [
          ...views.filter((v) => !places.has(v.id)),
          ...views.filter((v) => places.has(v.id)).sort((a, b) => places.get(a.id)!.position - places.get(b.id)!.position),
        ];
        const lines = ordered.length
          ? ordered.map((v) => {
              const place = places.get(v.id);
              if (place) return `${v.id.padEnd(40)} ${v.status.padEnd(10)} ${waitLine(place)}`;
              return `${v.id.padEnd(40)} ${v.status.padEnd(10)} ${bar(v, 12)} ${runLine(v)}${v.cause ? `  ✗ ${v.cause.summary}` : ''}`;
            })
          : [
              `no runs in ${ctx.workspace.root} yet: \`${ctx.step(cmd('demo'))}\` (the whole pipeline on CPU), or \`${ctx.step(cmd('train', '--dataset', 'NAME'))}\``,
            ];
        for (const j of await listJobs(ctx.app)) {
          const i = j.steps.findIndex((st) => st.status === 'running' || st.status === 'failed');
          const where = i >= 0 ? `step ${i + 1}/${j.steps.length} ${j.steps[i]!.name}` : `${j.steps.length} steps`;
          lines.push(`job ${j.id.padEnd(36)} ${j.status.padEnd(10)} ${where}${j.error ? `  ✗ ${j.error.problem}` : ''}`);
        }
        const all = await servers(ctx.app);
        if (all.length)
          lines.push(
            '',
            'model servers (`medtune serve`; those of other folders too):',
            ...all.map((s) => serverLine(s, ctx.workspace.root)),
          );
        ctx.reporter.result(
          ordered.map((v) => {
            const place = places.get(v.id);
            return place ? { ...viewSummary(v), queue: place } : viewSummary(v);
          }),
          lines,
        );
      }),
    );

  runs
    .command('compare')
    .argument('<runs...>', 'two or more run ids, prefixes, "latest", or paths of LLaMA-Factory output folders')
    .description('runs side by side: loss and eval-loss curves in one chart, the parameters that differ, results and scores')
    .option('--x <axis>', 'x axis: steps or samples (default: samples when the runs differ in samples per step)')
    .option('--rank <by>', 'order best first: eval-loss, or bench:ID for a `medtune eval --bench ID` score')
    .option('--json', 'print ids, curves (steps and values), differing parameters and scores as JSON')
    .action(
      action(async (ctx, refs: string[], opts: { x?: string; rank?: string }) => {
        const axis = opts.x === undefined ? undefined : parseAxis(opts.x);
        const c = await compareRunRefs(ctx.app, refs, opts.rank === undefined ? undefined : parseRankBy(opts.rank));
        ctx.reporter.result(
          comparisonJson(c),
          comparisonLines(c, { width: Math.min(process.stdout.columns || 100, 140), colour: wantsColour(), axis }),
        );
      }),
    );

  program
    .command('status')
    .argument('[run]', 'run id, prefix, "latest", or the path of any LLaMA-Factory output_dir', 'latest')
    .description('status of a run, or of any LLaMA-Factory output_dir (LLaMA Board or plain CLI)')
    .option('--json', 'print a summary as JSON (records only with --records)')
    .option('--records', 'include the newest trainer_log records (see --limit)')
    .option('--limit <n>', 'how many records --records includes', (v) => Number(v), 1000)
    .option('--ndjson', 'print every trainer_log record as written, one JSON object a line (for piping)')
    .action(
      action(async (ctx, ref: string, opts: { records?: boolean; limit: number; ndjson?: boolean }) => {
        if (opts.ndjson) {
          await streamRunStatus(ctx.app, ref, (r) => process.stdout.write(`${JSON.stringify(r)}\n`));
          return;
        }
        const { view: v, records } = await runStatus(ctx.app, ref, { records: opts.records ? opts.limit : undefined });
        const summary = records ? { ...viewSummary(v), records } : viewSummary(v);
        ctx.reporter.result(summary, [
          ...runSummary(v),
          `  attempts: ${v.attempts}${v.writers > 1 ? ` (${v.writers} processes wrote at once)` : ''}, records: ${v.recordCount}, checkpoints: ${v.checkpoints.join(', ') || 'none'}${v.peakVramGiB !== null ? `, peak VRAM ${v.peakVramGiB.toFixed(1)} GiB` : ''}`,
        ]);
      }),
    );

  program
    .command('attach')
    .argument('[run]', 'run id, prefix or "latest", a job id (the demo\'s), or the path of any LLaMA-Factory output_dir', 'latest')
    .description('watch a run, a job or any LLaMA-Factory output_dir live until it ends (Ctrl-C detaches; it goes on)')
    .option('--json', 'print the final status as JSON')
    .action(
      action(async (ctx, ref: string) => {
        const job = ref === 'latest' ? null : await findJobDir(ctx.workspace, ref);
        if (job) return reportJob(job, ctx.reporter, ctx.step);
        return attachAndReport(ctx.app, await runOrOutputDir(ctx.app, ref), ref, ctx.reporter);
      }),
    );

  program
    .command('stop')
    .argument('[run]', 'run id, prefix or "latest", or a job id (stops the job and its run)', 'latest')
    .description(
      'stop a run gracefully (the adapter is saved), escalating to SIGTERM and SIGKILL after a timeout; a queued run is taken off the queue',
    )
    .option('--now', 'kill the whole process tree at once (nothing is saved beyond the last checkpoint)')
    .option('--timeout <seconds>', 'grace period before escalating', (v) => Number(v), 120)
    .option('--json', 'print as JSON')
    .action(
      action(async (ctx, ref: string, opts: { now?: boolean; timeout: number }) => {
        const job = ref === 'latest' ? null : await findJobDir(ctx.workspace, ref);
        if (job) {
          ctx.reporter.progress('stopping', 0, null, 'stopping the job and the run it started');
          const s = await stopJob(ctx.app, job);
          ctx.reporter.result({ id: s.id, status: s.status }, `✓ job ${s.id} ${s.status}`);
          return;
        }
        // The run first: a wrong id fails before anything says "stopping".
        const dir = await runDir(ctx.app, ref);
        ctx.reporter.progress('stopping', 0, null, opts.now ? 'SIGKILL' : 'asking LLaMA-Factory to save and stop');
        const { manifest, signals, leaves } = await stop(ctx.app, dir, { now: opts.now, graceMs: opts.timeout * 1000 });
        const ended = manifest.status === 'completed';
        ctx.reporter.result(
          { id: manifest.id, status: manifest.status, signals, ...leaves },
          manifest.status === 'cancelled'
            ? [`✓ run ${manifest.id} taken off the queue (cancelled; it never started)`]
            : [
                `✓ run ${manifest.id} ${manifest.status}${signals.length ? ` (sent ${signals.join(' → ')})` : ''}`,
                ...(ended
                  ? [`export it:  ${ctx.step(cmd('export', manifest.id))}`]
                  : continueLines(manifest.id, leaves, ctx.step).map((l) => `  ${l}`)),
              ],
        );
      }),
    );

  program
    .command('resume')
    .argument('[run]', 'run id, prefix or "latest"', 'latest')
    .description('start a new attempt from the latest complete checkpoint')
    .option('--detach', 'return as soon as the attempt has started')
    .option('--json', 'print as JSON')
    .action(
      action(async (ctx, ref: string, opts: { detach?: boolean }) => {
        const { manifest, checkpoint, skipped } = await resume(ctx.app, ref);
        for (const k of skipped) ctx.reporter.step(`skipped checkpoint-${k.step}: ${k.reason}`);
        ctx.reporter.step(`run ${manifest.id} resuming from ${checkpoint}`);
        if (opts.detach) {
          ctx.reporter.result({ id: manifest.id, checkpoint }, `watch it: ${ctx.step(cmd('attach', manifest.id))}`);
          return;
        }
        return attachAndReport(ctx.app, await runDir(ctx.app, manifest.id), manifest.id, ctx.reporter);
      }),
    );

  program
    .command('logs')
    .argument('[run]', 'run id, prefix or "latest"', 'latest')
    .description("print a run's logs (stderr by default)")
    .option('--stdout', 'LLaMA-Factory stdout instead of stderr')
    .option('--supervisor', "medtune's supervisor log")
    .option('-n, --lines <n>', 'last n lines', (v) => Number(v), 60)
    .action(
      action(async (ctx, ref: string, opts: { stdout?: boolean; supervisor?: boolean; lines: number }) => {
        const log = opts.supervisor ? 'supervisor' : opts.stdout ? 'stdout' : 'stderr';
        const { file, lines } = await runLogTail(ctx.app, ref, log, opts.lines);
        process.stdout.write(`${lines.join('\n')}\n`);
        process.stderr.write(`(${file}: last ${lines.length} lines)\n`);
      }),
    );
}
