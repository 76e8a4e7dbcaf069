import type { Command } from 'commander';
import { action, collect, progressTo } from '../command.js';
import { planError, planTrain, runDir, startTrain, type TrainChoices } from '../../app/index.js';
import { cmd } from '../../core/nextstep.js';
import { attachAndReport, findingLine } from '../runview.js';
import { describeScale, ENGINES, parseEngine } from '../../core/distributed.js';

export const order = 30;

export function register(program: Command): void {
  program
    .command('train')
    .description('LoRA-fine-tune a model on prepared datasets with llamafactory-cli (detached: it survives this terminal)')
    .option('-m, --model <name|path>', 'model folder under models/ or a path (default: medtune.yaml, else tiny-qwen2-vl)')
    .option('-d, --dataset <name>', 'dataset from data/dataset_info.json (repeatable; default: medtune.yaml)', collect)
    .option(
      '--eval-dataset <name>',
      'dataset for the eval-loss curve (default: NAME_val of each dataset when `data prepare` made one; "none" for no eval)',
    )
    .option(
      '-p, --profile <name>',
      'hardware profile: cpu, gpu-16g, gpu-24g, gpu-40g, gpu-80g, gpu-140g, or auto (default: medtune.yaml, else the largest that fits the GPUs here, cpu without one)',
    )
    .option('-s, --set <key=value>', 'override a LLaMA-Factory key (repeatable), e.g. --set num_train_epochs=1', collect)
    .option('--gpus <list>', 'CUDA_VISIBLE_DEVICES for the run (indices or UUIDs)')
    .option('--nproc <n>', 'processes on this node (default: one per chosen GPU; on CPU, 1)', Number)
    .option('--engine <name>', `distributed engine: ${ENGINES.join(', ')} (default ddp)`)
    .option('--nnodes <n>', 'nodes in the run; start the same command on each with its own --node-rank', Number)
    .option('--node-rank <r>', "this node's rank, 0 to nnodes-1 (node 0 hosts --master)", Number)
    .option('--master <host:port>', 'rendezvous address of node 0, reachable from every node')
    .option('--ray-workers <n>', 'Ray workers (one GPU each) for --engine ray', Number)
    .option('--auto-resume <n>', 'resume automatically after a crash, at most n times', (v) => Number(v))
    .option('--name <suffix>', 'appended to the run id')
    .option(
      '--from <run>',
      'start from the adapter a run saved (at a stop, at its end or in a checkpoint); its model and datasets unless given',
    )
    .option('--queue', 'queue the run: it starts when the GPUs it uses (on CPU: the machine) are free of other medtune runs')
    .option('--after <run>', 'queue the run to start when this run has ended (implies --queue)')
    .option('--dry-run', 'print the YAML and the exact command, check them, start nothing')
    .option('--detach', 'return as soon as the run has started')
    .option('--json', 'print the result as JSON')
    .action(
      action(
        async (
          ctx,
          opts: {
            model?: string;
            dataset?: string[];
            evalDataset?: string;
            profile?: string;
            set?: string[];
            gpus?: string;
            nproc?: number;
            engine?: string;
            nnodes?: number;
            nodeRank?: number;
            master?: string;
            rayWorkers?: number;
            autoResume?: number;
            name?: string;
            from?: string;
            dryRun?: boolean;
            detach?: boolean;
            queue?: boolean;
            after?: string;
          },
        ) => {
          const r = ctx.reporter;
          const choices: TrainChoices = {
            model: opts.model,
            datasets: opts.dataset,
            evalDataset: opts.evalDataset === 'none' ? null : opts.evalDataset,
            profile: opts.profile,
            overrides: opts.set,
            gpus: opts.gpus,
            nproc: opts.nproc,
            engine: opts.engine === undefined ? undefined : parseEngine(opts.engine),
            nnodes: opts.nnodes,
            nodeRank: opts.nodeRank,
            master: opts.master,
            rayWorkers: opts.rayWorkers,
            autoResume: opts.autoResume,
            name: opts.name,
            from: opts.from,
          };
          const checked = await planTrain(ctx.app, choices, { forLaunch: !opts.dryRun, onProgress: progressTo(r) });
          const { plan, request, findings } = checked;
          for (const f of findings) if (f.severity === 'warn') r.warn(findingLine(f));
          if (!checked.ok) throw planError(checked);
          r.step(
            `config checked by LLaMA-Factory's parser (${plan.samples} samples, ${plan.totalSteps} steps, profile ${request.profile}${request.evalDataset ? `, eval on ${request.evalDataset}` : ''})`,
          );
          const dist = plan.distributed;
          const time = findings.find((f) => f.code === 'WALL_TIME');
          if (time) r.step(`expected wall time ${time.message}`);
          r.step(describeScale(dist, plan.config));
          for (const reason of dist.reasons) r.step(`  ${reason}`);
          for (const node of dist.otherNodes) r.step(`start node ${node.nodeRank}:  ${node.line}`);
          if (opts.dryRun) {
            r.result(
              {
                dryRun: true,
                id: plan.id,
                yaml: plan.yaml,
                command: plan.command,
                env: plan.env,
                commandLine: plan.commandLine,
                samples: plan.samples,
                totalSteps: plan.totalSteps,
                disk: plan.disk,
                vram: plan.vram,
                time: plan.time,
                findings,
                distributed: dist,
              },
              [plan.yaml, '# command:', plan.commandLine],
            );
            return;
          }
          const queue = opts.queue || opts.after !== undefined ? { ...(opts.after ? { after: opts.after } : {}) } : undefined;
          const { manifest } = await startTrain(ctx.app, choices, { checked, onProgress: progressTo(r), queue });
          const dir = await runDir(ctx.app, manifest.id);
          if (queue && manifest.queue) {
            r.result({ id: manifest.id, dir, status: manifest.status, queue: manifest.queue }, [
              `run ${manifest.id} queued${manifest.queue.after ? ` after ${manifest.queue.after}` : ''}: it starts by itself when its turn comes (this terminal may close)`,
              `see the queue:  ${ctx.step(cmd('runs'))}`,
              `take it off:    ${ctx.step(cmd('stop', manifest.id))}`,
            ]);
            return;
          }
          r.step(`run ${manifest.id} started (detached; logs in ${dir})`);
          if (opts.detach) {
            r.result({ id: manifest.id, dir, status: manifest.status, otherNodes: dist.otherNodes }, [
              `watch it:  medtune attach ${manifest.id}`,
              `stop it:   medtune stop ${manifest.id}`,
            ]);
            return;
          }
          return attachAndReport(ctx.app, dir, manifest.id, r);
        },
      ),
    );
}
