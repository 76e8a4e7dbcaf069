/**
 * The application's handle on one workspace: what every use case needs (the workspace, the environment, the
 * venv once it is found, the GPUs once they are listed). Both faces create one and pass it to the use cases.
 */
import { listGpus, type GpuInfo } from '../runtime/gpu-monitor.js';
import { requireVenv, type Venv } from '../runtime/venv.js';
import { findWorkspace, workspaceAt, type FindWorkspaceRequest, type FoundWorkspace, type Workspace } from '../runtime/workspace.js';

export interface App {
  ws: Workspace;
  env: NodeJS.ProcessEnv;
  /** The managed venv; rejects with a MedtuneError (run `medtune setup`) when it is not built. */
  venv(): Promise<Venv>;
  /** Use this venv from now on (after the demo built it). */
  useVenv(venv: Venv): void;
  /** The GPUs of this machine, listed once per App. */
  gpus(): Promise<GpuInfo[]>;
}

export function createApp(ws: Workspace, opts: { env?: NodeJS.ProcessEnv; venv?: Venv } = {}): App {
  const env = opts.env ?? process.env;
  let venv: Promise<Venv> | null = opts.venv ? Promise.resolve(opts.venv) : null;
  let gpus: Promise<GpuInfo[]> | null = null;
  return {
    ws,
    env,
    venv() {
      venv ??= requireVenv(env).catch((err: unknown) => {
        venv = null;
        throw err;
      });
      return venv;
    },
    useVenv(v) {
      venv = Promise.resolve(v);
    },
    gpus() {
      gpus ??= listGpus(env).then((r) => r.gpus);
      return gpus;
    },
  };
}

/**
 * The App on the workspace a command works on (runtime/workspace.ts findWorkspace: -w, $MEDTUNE_WORKSPACE, a path
 * argument, the nearest above, the only one below), and how it was found.
 */
export function openApp(req: FindWorkspaceRequest = {}): { app: App; found: FoundWorkspace } {
  const found = findWorkspace(req);
  return { app: createApp(found.ws, { env: req.env }), found };
}

/** The application on the workspace at `root` (a face that knows the folder only, such as the TUI's Ask screen). */
export function appAt(root: string, opts: { env?: NodeJS.ProcessEnv; venv?: Venv } = {}): App {
  return createApp(workspaceAt(root), opts);
}
