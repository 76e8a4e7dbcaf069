import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { action } from '../command.js';
import { listRunIds, resolveRunDir } from '../../runtime/manifest.js';
import { readRunDir } from '../../runtime/runreader.js';
import { requireVenv } from '../../runtime/venv.js';
import { resumeRun, stopRun } from '../../runtime/runcontrol.js';
import { attachAndReport, bar, runLine, runSummary } from '../runview.js';

export const order = 31;

export function register(program: Command): void {
  program
    .command('runs')
    .description('list the runs of this workspace')
    .option('--json', 'print as JSON')
    .action(action(async (ctx) => {
      const views = await Promise.all((await listRunIds(ctx.workspace)).map((id) => readRunDir(join(ctx.workspace.runsDir, id))));
      const lines = views.length
        ? views.map((v) => `${v.id.padEnd(40)} ${v.status.padEnd(10)} ${bar(v, 12)} ${runLine(v)}${v.cause ? `  ✗ ${v.cause.summary}` : ''}`)
        : ['no runs yet: `medtune demo`, or `medtune train --dataset NAME`'];
      ctx.reporter.result(views.map((v) => ({ ...v, records: v.records.length })), lines);
    }));

  program
    .command('status')
    .argument('[run]', 'run id, prefix, "latest", or the path of any LLaMA-Factory output_dir', 'latest')
    .description('status of a run, or of any LLaMA-Factory output_dir (LLaMA Board or plain CLI)')
    .option('--json', 'print as JSON (every trainer_log record included)')
    .action(action(async (ctx, ref: string) => {
      const dir = existsSync(ref) ? ref : await resolveRunDir(ctx.workspace, ref);
      const v = await readRunDir(dir);
      ctx.reporter.result(v, [...runSummary(v), `  attempts: ${v.attempts}, records: ${v.records.length}, checkpoints: ${v.checkpoints.join(', ') || 'none'}${v.peakVramGiB !== null ? `, peak VRAM ${v.peakVramGiB.toFixed(1)} GiB` : ''}`]);
    }));

  program
    .command('attach')
    .argument('[run]', 'run id, prefix or "latest"', 'latest')
    .description('watch a run live (Ctrl-C detaches; the run goes on)')
    .option('--json', 'print the final status as JSON')
    .action(action(async (ctx, ref: string) => attachAndReport(await resolveRunDir(ctx.workspace, ref), ref, ctx.reporter)));

  program
    .command('stop')
    .argument('[run]', 'run id, prefix or "latest"', 'latest')
    .description('stop a run gracefully (the adapter is saved), escalating to SIGTERM and SIGKILL after a timeout')
    .option('--now', 'kill the whole process tree at once (nothing is saved beyond the last checkpoint)')
    .option('--timeout <seconds>', 'grace period before escalating', (v) => Number(v), 120)
    .option('--json', 'print as JSON')
    .action(action(async (ctx, ref: string, opts: { now?: boolean; timeout: number }) => {
      ctx.reporter.progress('stopping', 0, null, opts.now ? 'SIGKILL' : 'asking LLaMA-Factory to save and stop');
      const { manifest, signals } = await stopRun(ctx.workspace, ref, { now: opts.now, graceMs: opts.timeout * 1000 });
      ctx.reporter.result({ id: manifest.id, status: manifest.status, signals }, `✓ run ${manifest.id} ${manifest.status}${signals.length ? ` (sent ${signals.join(' → ')})` : ''}\n  resume later with: medtune resume ${manifest.id}`);
    }));

  program
    .command('resume')
    .argument('[run]', 'run id, prefix or "latest"', 'latest')
    .description('start a new attempt from the latest complete checkpoint')
    .option('--detach', 'return as soon as the attempt has started')
    .option('--json', 'print as JSON')
    .action(action(async (ctx, ref: string, opts: { detach?: boolean }) => {
      const venv = await requireVenv();
      const { manifest, checkpoint } = await resumeRun(ctx.workspace, venv, ref);
      ctx.reporter.step(`run ${manifest.id} resuming from ${checkpoint}`);
      if (opts.detach) {
        ctx.reporter.result({ id: manifest.id, checkpoint }, `watch it: medtune attach ${manifest.id}`);
        return;
      }
      return attachAndReport(await resolveRunDir(ctx.workspace, manifest.id), manifest.id, ctx.reporter);
    }));

  program
    .command('logs')
    .argument('[run]', 'run id, prefix or "latest"', 'latest')
    .description("print a run's logs (stderr by default)")
    .option('--stdout', 'LLaMA-Factory stdout instead of stderr')
    .option('--supervisor', "medtune's supervisor log")
    .option('-n, --lines <n>', 'last n lines', (v) => Number(v), 60)
    .action(action(async (ctx, ref: string, opts: { stdout?: boolean; supervisor?: boolean; lines: number }) => {
      const dir = await resolveRunDir(ctx.workspace, ref);
      const file = join(dir, opts.supervisor ? 'supervisor.log' : opts.stdout ? 'stdout.log' : 'stderr.log');
      const text = await readFile(file, 'utf8').catch(() => '');
      // tqdm redraws with \r: keep the last state of each line.
      const lines = text.split('\n').map((l) => l.split('\r').filter(Boolean).pop() ?? '').slice(-opts.lines);
      process.stdout.write(`${lines.join('\n')}\n`);
      process.stderr.write(`(${file}: last ${lines.length} lines)\n`);
    }));
}
