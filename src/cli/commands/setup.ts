import type { Command } from 'commander';
import { resolve } from 'node:path';
import { action, collect } from '../command.js';
import { setup, setupLlamaCpp } from '../../app/index.js';
import { TRACKER_NAMES } from '../../core/trackers.js';
import type { LlamaBuildEvent } from '../../runtime/llamacpp.js';
import type { SetupEvent } from '../../runtime/venv.js';

export const order = 10;

export function register(program: Command): void {
  program
    .command('setup')
    .description('build the managed Python venv (LLaMA-Factory and its pinned stack); fast when already built')
    .option('--force', 'rebuild even if a venv for these pins exists')
    .option(
      '--wheels <dir>',
      'install offline from this folder of wheels only (air-gapped machines); missing ones are named before anything is built',
    )
    .option(
      '--system-torch',
      "build on this Python's installed torch (e.g. a GPU box's CUDA build), checked against LLaMA-Factory 0.9.5's ranges; other installed packages inside those ranges are reused too",
    )
    .option(
      '--with <tracker>',
      `add an experiment tracker's package to the venv (repeatable): ${TRACKER_NAMES.filter((n) => n !== 'tensorboard').join(', ')} (tensorboard is pinned); the pins and the venv's name stay as they are`,
      collect,
    )
    .option('--gguf', 'also build the pinned llama.cpp (converter, quantiser, multimodal CLI) for `export --gguf`; once per machine')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { force?: boolean; wheels?: string; systemTorch?: boolean; with?: string[]; gguf?: boolean }) => {
        const r = ctx.reporter;
        const started = Date.now();
        let phase = 'setup';
        let packages = 0;
        let current = '';
        const timer = setInterval(() => r.progress(phase, packages, null, current), 500);
        try {
          const { venv, built, extras } = await setup({
            with: opts.with,
            force: opts.force,
            wheels: opts.wheels ? resolve(opts.wheels) : undefined,
            systemTorch: opts.systemTorch,
            onEvent: (e: SetupEvent) => {
              if (e.kind === 'phase') {
                if (e.phase !== 'done') r.step(e.message);
                phase = e.phase === 'install' || e.phase === 'install-nodeps' ? 'pip install' : e.phase;
                current = '';
              } else if (e.kind === 'package') {
                if (e.action === 'collecting') packages++;
                current =
                  e.action === 'installing'
                    ? `installing ${e.name.split(',').length} packages (the long part: unpacking torch)`
                    : `${e.action} ${e.name}`;
              }
            },
          });
          clearInterval(timer);
          let llamaCpp: { dir: string; built: boolean; seconds: number } | null = null;
          if (opts.gguf) {
            const t0 = Date.now();
            let percent: number | null = null;
            const tick = setInterval(() => r.progress('building llama.cpp', percent ?? 0, 100, percent === null ? '' : 'compiling'), 1000);
            try {
              const { llama, built: llamaBuilt } = await setupLlamaCpp(venv, {
                onEvent: (e: LlamaBuildEvent) => {
                  if (e.kind === 'compile') percent = e.percent;
                  else if (e.phase !== 'done') r.step(e.message);
                },
              });
              llamaCpp = { dir: llama.dir, built: llamaBuilt, seconds: Math.round((Date.now() - t0) / 1000) };
              r.step(
                llamaBuilt
                  ? `llama.cpp built in ${Math.round((Date.now() - t0) / 1000)} s at ${llama.dir}`
                  : `llama.cpp already built: ${llama.dir}`,
              );
            } finally {
              clearInterval(tick);
            }
          }
          const seconds = Math.round((Date.now() - started) / 1000);
          if (Object.keys(extras).length)
            r.step(
              `added ${Object.entries(extras)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}`,
            );
          r.result(
            {
              ok: true,
              built,
              dir: venv.dir,
              hash: venv.hash,
              seconds,
              python: venv.marker.pythonVersion,
              llamafactory: venv.marker.packages.llamafactory ?? null,
              mode: venv.marker.mode ?? 'pinned',
              torch: venv.marker.system?.torch ?? null,
              reused: venv.marker.system?.reused.length ?? 0,
              skipped: venv.marker.skipped ?? [],
              extras: venv.marker.extras ?? {},
              llamaCpp,
            },
            built
              ? `✓ venv built in ${seconds} s at ${venv.dir}${venv.marker.system ? `\n  on ${venv.marker.system.python}: ${venv.marker.system.torch.map((t) => `${t.name} ${t.version}`).join(', ')} (inside LLaMA-Factory 0.9.5's ranges), ${venv.marker.system.reused.length} more packages reused` : ''}${venv.marker.skipped?.length ? `\n  left out (optional, no wheel): ${venv.marker.skipped.join(', ')}` : ''}\n  next: medtune doctor`
              : `✓ venv already built for these pins: ${venv.dir} (checked in ${seconds} s)`,
          );
        } finally {
          clearInterval(timer);
        }
      }),
    );
}
