/**
 * Serving: LLaMA-Factory's OpenAI-compatible API for a model, export or run, detached. Servers hold ports, so
 * they are the machine's: listing and stopping see the ones started from any folder.
 */
import { cmd, type NextStep } from '../core/nextstep.js';
import type { Sampling } from '../core/serve.js';
import { listServers, startServer, stopServers, type ListedServer, type ServeResult, type StopWhich } from '../runtime/serve.js';
import { serverApiKey } from './ask.js';
import type { App } from './context.js';

export type { ListedServer, StopWhich };

export interface ServeRequest {
  model: string;
  host?: string;
  port?: number;
  /** Default $MEDTUNE_API_KEY; `false`: never generate one (loopback only). */
  apiKey?: string | false;
  /** The decoding of requests that name none; default greedy. */
  sampling?: Partial<Sampling>;
  onProgress?: (message: string) => void;
}

export async function serve(app: App, req: ServeRequest): Promise<ServeResult> {
  return startServer(app.ws, await app.venv(), {
    model: req.model,
    host: req.host,
    port: req.port,
    apiKey: req.apiKey === false ? undefined : serverApiKey(app, req.apiKey),
    noApiKey: req.apiKey === false,
    sampling: req.sampling,
    onProgress: req.onProgress,
  });
}

/** The servers of this workspace (ended ones too), then the live ones started from other folders. */
export const servers = (app: App): Promise<ListedServer[]> => listServers(app.ws, app.env);

export const stopServing = (app: App, which: StopWhich) => stopServers(app.ws, which, app.env);

export const ASK_EXAMPLE = 'Which imaging modality is this?';

/**
 * The commands that use a server: `ask` through it (no model loading), and stopping it. `apiKey`: the key to
 * put into the command when medtune generated it (it is shown once anyway).
 */
export function serverSteps(s: Pick<ListedServer, 'url' | 'id' | 'model'>, apiKey: string | null): { ask: NextStep; stop: NextStep } {
  return {
    ask: cmd('ask', '--server', s.url, ...(apiKey ? ['--api-key', apiKey] : []), s.model.ref, ASK_EXAMPLE),
    stop: cmd('serve', '--stop', s.id),
  };
}
