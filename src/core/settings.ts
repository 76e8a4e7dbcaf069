/** medtune.yaml: a workspace's own settings. Every field is optional; the CLI flags win over them. */
import { z } from 'zod';

export const Settings = z
  .object({
    model: z.string().optional().describe('default model: a name under models/ or a path'),
    datasets: z.array(z.string()).optional().describe('default datasets (names in data/dataset_info.json)'),
    profile: z.string().optional().describe('default hardware profile (cpu, gpu-16g, gpu-24g, gpu-40g, gpu-80g, gpu-140g, auto)'),
    overrides: z.array(z.string()).optional().describe('key=value overrides applied to every train config'),
    report_to: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .describe('experiment trackers of every run: tensorboard, wandb, swanlab, mlflow, or none (--set report_to=… wins)'),
    autoResume: z.number().int().min(0).max(10).optional().describe('automatic resumes after a crash'),
    notify: z
      .object({
        command: z
          .string()
          .optional()
          .describe('shell command run when a run ends; gets MEDTUNE_RUN_ID, MEDTUNE_RUN_STATUS, MEDTUNE_RUN_DIR, MEDTUNE_RUN_CAUSE'),
      })
      .optional(),
  })
  .strict();
export type Settings = z.infer<typeof Settings>;
