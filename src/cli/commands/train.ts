import type { Command } from 'commander';
import { action } from '../command.js';
import { requireVenv } from '../../runtime/venv.js';
import { planRun, preflight, launchRun, type TrainRequest } from '../../runtime/runcontrol.js';
import { readSettings } from '../../runtime/settings.js';
import { runPaths } from '../../runtime/manifest.js';
import { attachAndReport } from '../runview.js';

export const order = 30;

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command): void {
  program
    .command('train')
    .description('LoRA-fine-tune a model on prepared datasets with llamafactory-cli (detached: it survives this terminal)')
    .option('-m, --model <name|path>', 'model folder under models/ or a path (default: medtune.yaml, else tiny-qwen2-vl)')
    .option('-d, --dataset <name>', 'dataset from data/dataset_info.json (repeatable)', collect)
    .option('--eval-dataset <name>', 'dataset for the eval-loss curve (e.g. NAME_val from `data prepare`)')
    .option('-p, --profile <name>', 'hardware profile: cpu, gpu-16g, gpu-24g, gpu-40g, gpu-80g (default: cpu without a GPU, else gpu-24g)')
    .option('-s, --set <key=value>', 'override a LLaMA-Factory key (repeatable), e.g. --set num_train_epochs=1', collect)
    .option('--gpus <list>', 'CUDA_VISIBLE_DEVICES for the run (indices or UUIDs)')
    .option('--auto-resume <n>', 'resume automatically after a crash, at most n times', (v) => Number(v))
    .option('--name <suffix>', 'appended to the run id')
    .option('--dry-run', 'print the YAML and the exact command, check them, start nothing')
    .option('--detach', 'return as soon as the run has started')
    .option('--json', 'print the result as JSON')
    .action(action(async (ctx, opts: { model?: string; dataset?: string[]; evalDataset?: string; profile?: string; set?: string[]; gpus?: string; autoResume?: number; name?: string; dryRun?: boolean; detach?: boolean }) => {
      const r = ctx.reporter;
      const venv = await requireVenv();
      const settings = await readSettings(ctx.workspace);
      const { listGpus } = await import('../../runtime/doctor.js');
      const hasGpu = (await listGpus()).gpus.length > 0;
      const req: TrainRequest = {
        model: opts.model ?? settings.model ?? 'tiny-qwen2-vl',
        datasets: opts.dataset ?? settings.datasets ?? [],
        evalDataset: opts.evalDataset,
        profile: opts.profile ?? settings.profile ?? (hasGpu ? 'gpu-24g' : 'cpu'),
        overrides: opts.set,
        gpus: opts.gpus,
        autoResume: opts.autoResume,
        name: opts.name,
      };
      r.progress('plan', 0, null, 'building the train config');
      const plan = await planRun(ctx.workspace, venv, req);
      for (const w of plan.warnings) r.warn(w);
      await preflight(ctx.workspace, venv, plan, (phase, msg) => r.progress(phase, 0, null, msg), { forLaunch: !opts.dryRun });
      r.step(`config checked by LLaMA-Factory's parser (${plan.samples} samples, ${plan.totalSteps} steps, profile ${req.profile})`);
      if (opts.dryRun) {
        r.result({ dryRun: true, id: plan.id, yaml: plan.yaml, command: plan.command, env: plan.env, commandLine: plan.commandLine, samples: plan.samples, totalSteps: plan.totalSteps, disk: plan.disk, warnings: plan.warnings },
          [plan.yaml, '# command:', plan.commandLine]);
        return;
      }
      const manifest = await launchRun(ctx.workspace, venv, req, plan);
      const dir = runPaths(`${ctx.workspace.runsDir}/${manifest.id}`).dir;
      r.step(`run ${manifest.id} started (detached; logs in ${dir})`);
      if (opts.detach) {
        r.result({ id: manifest.id, dir, status: manifest.status }, [`watch it:  medtune attach ${manifest.id}`, `stop it:   medtune stop ${manifest.id}`]);
        return;
      }
      return attachAndReport(dir, manifest.id, r);
    }));
}
