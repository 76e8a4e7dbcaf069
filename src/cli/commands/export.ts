import type { Command } from 'commander';
import { action, collect, optionFlag, pickRun, progressTo } from '../command.js';
import { ASK_EXAMPLE, exportAndVerify, planGguf, runDir, startExportJob } from '../../app/index.js';
import { cmd } from '../../core/nextstep.js';
import { GGUF_TYPES, isGgufType, type GgufType } from '../../core/gguf.js';
import { formatBytes } from '../../core/format.js';
import { MedtuneError } from '../../core/errors.js';
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
    .option(
      '--gguf <types>',
      `also write GGUF files for llama.cpp, Ollama and LM Studio (model + vision projector + Modelfile): ${GGUF_TYPES.join(', ')}, comma-separated`,
      (v: string, prev: string[] = []) => [
        ...prev,
        ...v
          .split(',')
          .map((t) => t.trim().toLowerCase())
          .filter(Boolean),
      ],
    )
    .option('--eval', "then evaluate the export on its run's held-out split")
    .option('--detach', 'run export (+ verify, + eval) as a supervised job and return at once; `medtune attach JOB` follows it')
    .option('--json', 'print the result as JSON');
  optionFlag(command, settingOption('export', 'name'));
  command.action(
    action(
      async (
        ctx,
        given: string,
        opts: {
          checkpoint?: number;
          name?: string;
          set?: string[];
          image?: string;
          verify: boolean;
          eval?: boolean;
          detach?: boolean;
          gguf?: string[];
        },
      ) => {
        const r = ctx.reporter;
        // The run first: a wrong id fails before any progress is printed.
        const ref = await pickRun(ctx, 'export', given);
        await runDir(ctx.app, ref);
        const bad = opts.gguf?.find((t) => !isGgufType(t));
        if (bad) {
          throw new MedtuneError({
            doing: `exporting ${ref}`,
            problem: `--gguf ${bad} is not a GGUF type medtune writes`,
            next: `use one or more of ${GGUF_TYPES.join(', ')}, e.g. --gguf q8_0 (or --gguf f16,q8_0)`,
            code: 'BAD_OPTION',
          });
        }
        const gguf = opts.gguf ? ([...new Set(opts.gguf)] as GgufType[]) : undefined;
        if (gguf) {
          r.info('GGUF types for this model (size of the model file + the f16 vision projector, memory to run with a 4k context):');
          for (const e of await planGguf(ctx.app, ref)) {
            r.info(
              `  ${gguf.includes(e.type) ? '▸' : ' '} ${e.type.padEnd(6)} ${formatBytes(e.modelBytes).padStart(9)} + ${formatBytes(e.mmprojBytes).padStart(9)}, ~${formatBytes(e.memoryBytes)} to run: ${e.check.ok ? e.quality : `not for this model (use ${e.check.instead})`}`,
            );
          }
        }
        const request = {
          run: ref,
          checkpoint: opts.checkpoint,
          name: opts.name,
          overrides: opts.set,
          verify: opts.verify,
          image: opts.image,
          gguf,
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
        r.step(
          result.reused
            ? `converted the existing export ${result.dir} (merged earlier)`
            : `merged into ${result.dir} in ${result.seconds} s (${result.files.length} files)`,
        );
        const model = `export:${result.name}`;
        const next = [
          `  try it:   ${ctx.step(cmd('ask', model, ASK_EXAMPLE))}`,
          `  score it: ${ctx.step(cmd('eval', model))}`,
          `  serve it: ${ctx.step(cmd('serve', model))}`,
        ];
        const ggufLines: string[] = [];
        const g = out.gguf?.verify;
        if (g) {
          ggufLines.push(`  ${g.ok ? '✓' : '✗'} gguf (llama.cpp): ${formatBytes(g.mmproj.bytes)} mmproj ${g.mmproj.file}`);
          for (const m of g.models)
            ggufLines.push(
              `    ${m.ok ? '✓' : '✗'} ${m.type} ${formatBytes(m.bytes)} ${m.file}: ${JSON.stringify(m.answer).slice(0, 120)} (${m.seconds.toFixed(1)} s)`,
            );
        } else if (out.gguf) {
          ggufLines.push(
            `  gguf (not verified): ${out.gguf.manifest.models.map((m) => m.file).join(', ')} + ${out.gguf.manifest.mmproj.file}`,
          );
        } else if (gguf) ggufLines.push('  gguf: not written (the merged model failed its check)');
        if (out.gguf) {
          ggufLines.push(`    Ollama: cd ${result.dir}/gguf && ollama create ${result.name} -f ${out.gguf.manifest.models[0]!.modelfile}`);
          ggufLines.push(`    ask it: ${ctx.step(cmd('ask', `gguf:${result.name}`, '--image', g?.image ?? 'SCAN.png', ASK_EXAMPLE))}`);
        }
        const verify = out.verify;
        if (!verify) {
          r.result({ ...result, verify: null, gguf: out.gguf }, [
            `${out.ok ? '✓' : '✗'} export at ${result.dir}${result.reused ? '' : ' (not verified)'}`,
            ...ggufLines,
            ...next,
          ]);
          return out.ok ? 0 : 1;
        }
        const seconds = Math.round((Date.now() - started) / 1000);
        const lines = [`${verify.ok ? '✓' : '✗'} export ${result.name}: ${verify.ok ? 'verified' : 'verification FAILED'} (${seconds} s)`];
        for (const c of verify.checks) lines.push(`  ${c.ok ? '✓' : '✗'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
        if (verify.copied.length) lines.push(`  copied from the base model: ${verify.copied.join(', ')}`);
        if (verify.generation) lines.push(`  sample answer: ${JSON.stringify(verify.generation.text).slice(0, 160)}`);
        lines.push(...ggufLines);
        lines.push(`  folder: ${result.dir}`);
        if (out.ok) lines.push(...next);
        r.result({ ...result, verify, gguf: out.gguf }, lines);
        return out.ok ? 0 : 1;
      },
    ),
  );
}
