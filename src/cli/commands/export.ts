import type { Command } from 'commander';
import { action } from '../command.js';
import { requireVenv } from '../../runtime/venv.js';
import { exportRun } from '../../runtime/exporter.js';
import { verifyExport } from '../../runtime/verify.js';

export const order = 40;

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command): void {
  program
    .command('export')
    .argument('[run]', 'run id, prefix or "latest"', 'latest')
    .description('merge the LoRA adapter into the base model (llamafactory-cli export), then verify the result loads and answers')
    .option('-c, --checkpoint <n>', 'merge checkpoint-N instead of the final adapter', (v) => Number(v))
    .option('--name <name>', 'export folder name under exports/ (default: the run id)')
    .option('-s, --set <key=value>', 'override an export key, e.g. --set export_size=2 (repeatable)', collect)
    .option('--image <file>', 'image for the verification generation (default: one from the run\'s dataset)')
    .option('--no-verify', 'skip the verification')
    .option('--json', 'print the result as JSON')
    .action(action(async (ctx, ref: string, opts: { checkpoint?: number; name?: string; set?: string[]; image?: string; verify: boolean }) => {
      const r = ctx.reporter;
      const venv = await requireVenv();
      const started = Date.now();
      const timer = setInterval(() => r.progress('export', 0, null, phase), 500);
      let phase = 'starting llamafactory-cli export';
      let result;
      try {
        result = await exportRun(ctx.workspace, venv, { run: ref, checkpoint: opts.checkpoint, name: opts.name, overrides: opts.set }, (p) => (phase = p));
      } finally {
        clearInterval(timer);
      }
      r.step(`merged into ${result.dir} in ${result.seconds} s (${result.files.length} files)`);
      if (!opts.verify) {
        r.result({ ...result, verify: null }, `✓ export at ${result.dir} (not verified)`);
        return;
      }
      r.progress('verify', 0, null, 'loading the export with AutoProcessor and generating once');
      const verify = await verifyExport({ workspace: ctx.workspace, venv, exportDir: result.dir, baseDir: result.base, image: opts.image });
      const seconds = Math.round((Date.now() - started) / 1000);
      const lines = [`${verify.ok ? '✓' : '✗'} export ${result.name}: ${verify.ok ? 'verified' : 'verification FAILED'} (${seconds} s)`];
      for (const c of verify.checks) lines.push(`  ${c.ok ? '✓' : '✗'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
      if (verify.copied.length) lines.push(`  copied from the base model: ${verify.copied.join(', ')}`);
      if (verify.generation) lines.push(`  sample answer: ${JSON.stringify(verify.generation.text).slice(0, 160)}`);
      lines.push(`  folder: ${result.dir}`);
      r.result({ ...result, verify }, lines);
      return verify.ok ? 0 : 1;
    }));
}
