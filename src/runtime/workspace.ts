/** The workspace: one fine-tuning project's folder (default: the current directory). */
import { resolve, join } from 'node:path';

export interface Workspace {
  root: string;
  config: string;
  dataDir: string;
  datasetInfo: string;
  modelsDir: string;
  runsDir: string;
  exportsDir: string;
  /** Multi-step jobs (the demo), each supervised like a run: jobs/<id>/run.json + job.json. */
  jobsDir: string;
}

export function workspaceAt(root: string): Workspace {
  const r = resolve(root);
  return {
    root: r,
    config: join(r, 'medtune.yaml'),
    dataDir: join(r, 'data'),
    datasetInfo: join(r, 'data', 'dataset_info.json'),
    modelsDir: join(r, 'models'),
    runsDir: join(r, 'runs'),
    exportsDir: join(r, 'exports'),
    jobsDir: join(r, 'jobs'),
  };
}

/** --workspace beats $MEDTUNE_WORKSPACE beats the current directory. */
export function resolveWorkspace(flag?: string, env: NodeJS.ProcessEnv = process.env): Workspace {
  return workspaceAt(flag ?? env.MEDTUNE_WORKSPACE ?? process.cwd());
}
