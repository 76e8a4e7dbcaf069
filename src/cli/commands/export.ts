import type { Command } from 'commander';
import { action, collect, optionFlag, pickRun, progressTo } from '../command.js';
import { ASK_EXAMPLE, exportAndVerify, runDir, startExportJob } from '../../app/index.js';
import { cmd } from '../../core/nextstep.js';
import { settingOption } from '../../core/options.js';
import { reportJob } from '../jobview.js';

export const order = 40;

export function register(program: Command): void {
  const command = program
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
  optionFlag(command, settingOption('export', 'name'));
  command.action(
    action(
      async (
        ctx,
        given: string,
        opts: { checkpoint?: number; name?: string; set?: string[]; image?: string; verify: boolean; eval?: boolean; detach?: boolean },
      ) => {
        const r = ctx.reporter;
        // The run first: a wrong id fails before any progress is printed.
        const ref = await pickRun(ctx, 'export', given);
        await runDir(ctx.app, ref);
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
            r.result({ job: job.id, dir: job.dir }, [
              `follow it: ${ctx.step(cmd('attach', job.id))}`,
              `stop it:   ${ctx.step(cmd('stop', job.id))}`,
            ]);
            return;
          }
          return reportJob(job.dir, r, ctx.step);
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
        const model = `export:${result.name}`;
        const next = [
          `  try it:   ${ctx.step(cmd('ask', model, ASK_EXAMPLE))}`,
          `  score it: ${ctx.step(cmd('eval', model))}`,
          `  serve it: ${ctx.step(cmd('serve', model))}`,
        ];
        const verify = out.verify;
        if (!verify) {
          r.result({ ...result, verify: null }, [`✓ export at ${result.dir} (not verified)`, ...next]);
          return;
        }
        const seconds = Math.round((Date.now() - started) / 1000);
        const lines = [`${verify.ok ? '✓' : '✗'} export ${result.name}: ${verify.ok ? 'verified' : 'verification FAILED'} (${seconds} s)`];
        for (const c of verify.checks) lines.push(`  ${c.ok ? '✓' : '✗'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
        if (verify.copied.length) lines.push(`  copied from the base model: ${verify.copied.join(', ')}`);
        if (verify.generation) lines.push(`  sample answer: ${JSON.stringify(verify.generation.text).slice(0, 160)}`);
        lines.push(`  folder: ${result.dir}`);
        if (verify.ok) lines.push(...next);
        r.result({ ...result, verify }, lines);
        return verify.ok ? 0 : 1;
      },
    ),
  );
}
