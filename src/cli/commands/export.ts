import type { Command } from 'commander';
import { action, collect, optionFlag, pickRun, progressTo } from '../command.js';
import { settingOption } from '../../core/options.js';
import { exportAndVerify, startExportJob } from '../../app/index.js';
import { reportJob } from '../jobview.js';

export const order = 40;

export function register(program: Command): void {
  const cmd = program
    .command('export')
    .argument('[run]', 'run id, prefix or "latest" (the newest completed run)', 'latest')
    .description('merge the LoRA adapter into the base model (llamafactory-cli export), then verify the result loads and answers')
    .option('-c, --checkpoint <n>', 'merge checkpoint-N instead of the final adapter', (v) => Number(v))
    .option('-s, --set <key=value>', 'override an export key, e.g. --set export_size=2 (repeatable)', collect)
    .option('--image <file>', "image for the verification generation (default: one from the run's dataset)")
    .option('--no-verify', 'skip the verification')
    .option('--eval', "then evaluate the export on its run's held-out split")
    .option('--detach', 'run export (+ verify, + eval) as a supervised job and return at once; `medtune attach JOB` follows it')
    .option('--json', 'print the result as JSON');
  optionFlag(cmd, settingOption('export', 'name'));
  cmd.action(
    action(
      async (
        ctx,
        given: string,
        opts: { checkpoint?: number; name?: string; set?: string[]; image?: string; verify: boolean; eval?: boolean; detach?: boolean },
      ) => {
        const r = ctx.reporter;
        const ref = await pickRun(ctx, 'export', given);
        const request = {
          run: ref,
          checkpoint: opts.checkpoint,
          name: opts.name,
          overrides: opts.set,
          verify: opts.verify,
          image: opts.image,
        };
        if (opts.detach || opts.eval) {
          const job = await startExportJob(ctx.app, { ...request, eval: opts.eval });
          r.step(`export job ${job.id} started (detached: Ctrl-C leaves it running)`);
          if (opts.detach) {
            r.result({ job: job.id, dir: job.dir }, [`follow it: medtune attach ${job.id}`, `stop it:   medtune stop ${job.id}`]);
            return;
          }
          return reportJob(job.dir, r);
        }
        const started = Date.now();
        const cancel = new AbortController();
        const onSigint = () => cancel.abort();
        process.once('SIGINT', onSigint);
        let out;
        try {
          out = await exportAndVerify(ctx.app, request, progressTo(r, 'export: '), cancel.signal);
        } finally {
          process.off('SIGINT', onSigint);
        }
        const result = out.export;
        r.step(`merged into ${result.dir} in ${result.seconds} s (${result.files.length} files)`);
        const verify = out.verify;
        if (!verify) {
          r.result({ ...result, verify: null }, `✓ export at ${result.dir} (not verified)`);
          return;
        }
        const seconds = Math.round((Date.now() - started) / 1000);
        const lines = [`${verify.ok ? '✓' : '✗'} export ${result.name}: ${verify.ok ? 'verified' : 'verification FAILED'} (${seconds} s)`];
        for (const c of verify.checks) lines.push(`  ${c.ok ? '✓' : '✗'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
        if (verify.copied.length) lines.push(`  copied from the base model: ${verify.copied.join(', ')}`);
        if (verify.generation) lines.push(`  sample answer: ${JSON.stringify(verify.generation.text).slice(0, 160)}`);
        lines.push(`  folder: ${result.dir}`);
        r.result({ ...result, verify }, lines);
        return verify.ok ? 0 : 1;
      },
    ),
  );
}
