import type { Command } from 'commander';
import { action } from '../command.js';
import { doctor } from '../../app/index.js';

export const order = 11;

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const;

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check Python, the venv, LLaMA-Factory and its packages, GPUs and free disk')
    .option('--json', 'print the report as JSON')
    .action(
      action(async (ctx) => {
        ctx.reporter.progress('checking');
        const report = await doctor(ctx.app);
        const lines = report.checks.map(
          (c) => `${MARK[c.level]} ${c.name.padEnd(22)} ${c.detail}${c.fix && c.level !== 'ok' ? `\n  → ${c.fix}` : ''}`,
        );
        lines.push(report.ok ? '\nAll required checks passed.' : '\nSome checks failed; each says how to fix it.');
        ctx.reporter.result(report, lines);
        return report.ok ? 0 : 1;
      }),
    );
}
