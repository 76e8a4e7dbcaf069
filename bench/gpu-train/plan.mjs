#!/usr/bin/env node
// Writes the train YAMLs of the GPU bench with medtune's own planner (planRun: template defaults < hardware
// profile < fills < --set overrides), so the bench runs exactly what `medtune train --profile P` would.
// `medtune train --dry-run` cannot be used on a machine without a GPU: its preflight runs LLaMA-Factory's parser,
// which rejects bf16 there. planRun itself only reads nvidia-smi, so a recorded H100 line stands in for it.
//
//   npm run build && node bench/gpu-train/plan.mjs --ws /tmp/mtws --model /tmp/mtws/models/qwen2vl-2b-arch \
//     --dataset medtrinity512 --steps gpu-80g=60,gpu-40g=30,gpu-24g=20 --out bench/gpu-train/configs
//
// Writes <out>/<profile>.yaml and <out>/<profile>.env.json (the environment planRun launches it with).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', '..', 'dist');
const { planRun } = await import(pathToFileURL(join(dist, 'runtime', 'runcontrol.js')).href);
const { workspaceAt } = await import(pathToFileURL(join(dist, 'runtime', 'workspace.js')).href);
const { requireVenv } = await import(pathToFileURL(join(dist, 'runtime', 'venv.js')).href);

const { values: a } = parseArgs({
  options: {
    ws: { type: 'string' },
    model: { type: 'string' },
    dataset: { type: 'string' },
    steps: { type: 'string' },
    'logging-steps': { type: 'string', default: '5' },
    out: { type: 'string' },
  },
});
for (const k of ['ws', 'model', 'dataset', 'steps', 'out']) {
  if (!a[k]) throw new Error(`--${k} is required`);
}
process.env.MEDTUNE_NVIDIA_SMI ??= join(here, 'h100-smi.sh');

const ws = workspaceAt(a.ws);
const venv = await requireVenv();
await mkdir(a.out, { recursive: true });
for (const item of a.steps.split(',')) {
  const [profile, steps] = item.split('=');
  const plan = await planRun(ws, venv, {
    model: a.model,
    datasets: [a.dataset],
    profile,
    name: profile,
    overrides: [`max_steps=${steps}`, `logging_steps=${a['logging-steps']}`, `output_dir=${join(ws.root, 'out', profile)}`],
  });
  await writeFile(join(a.out, `${profile}.yaml`), plan.yaml);
  await writeFile(join(a.out, `${profile}.env.json`), `${JSON.stringify(plan.env, null, 2)}\n`);
  const c = plan.config;
  console.log(
    `${profile}: bs ${c.per_device_train_batch_size} x GA ${c.gradient_accumulation_steps}, grad-ckpt ${c.disable_gradient_checkpointing ? 'off' : 'on'}, ` +
      `${plan.samples} samples, ${plan.totalSteps} steps${plan.findings.length ? `; findings: ${plan.findings.map((f) => `${f.severity} ${f.code}`).join('; ')}` : ''}`,
  );
}
