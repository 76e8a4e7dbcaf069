import { InvalidArgumentError, type Command } from 'commander';
import { action } from '../command.js';
import { apiKey as apiKeyOf } from '../../app/index.js';
import { requireVenv } from '../../runtime/venv.js';
import { listServers, startServer, stopServers } from '../../runtime/serve.js';
import { serverLine } from '../serverview.js';

export const order = 53;

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number 1..65535');
  return n;
}

export function register(program: Command): void {
  program
    .command('serve')
    .argument(
      '[model]',
      'a model folder, a model under models/, a run id (its adapter on its base) or an export name; none: list the servers',
    )
    .description(
      "serve a model with LLaMA-Factory's OpenAI-compatible API (llamafactory-cli api), detached; 127.0.0.1 unless --host says otherwise",
    )
    .option('--host <address>', 'address to bind; anything but loopback needs an API key (one is generated and shown once)', '127.0.0.1')
    .option('--port <n>', 'port (default 8000, or a free one when 8000 is taken)', port)
    .option('--api-key <key>', 'require this key (Authorization: Bearer KEY); default $MEDTUNE_API_KEY')
    .option('--no-api-key', 'never generate a key (only a loopback bind is then allowed)')
    .option('--stop [id]', 'stop the named server (id or prefix), or every running one of this workspace')
    .option('--json', 'print as JSON')
    .action(
      action(
        async (ctx, model: string | undefined, opts: { host: string; port?: number; apiKey?: string | false; stop?: string | boolean }) => {
          const r = ctx.reporter;
          if (opts.stop !== undefined) {
            const stopped = await stopServers(ctx.workspace, typeof opts.stop === 'string' ? opts.stop : undefined);
            r.result({ stopped }, stopped.length ? stopped.map((s) => `✓ stopped ${s.id} (${s.model.label})`) : ['no server was running']);
            return;
          }
          if (!model) {
            const all = await listServers(ctx.workspace);
            r.result({ servers: all }, all.length ? all.map(serverLine) : ['no servers: `medtune serve MODEL` starts one']);
            return;
          }
          const venv = await requireVenv();
          const apiKey = opts.apiKey === false ? undefined : apiKeyOf(ctx.app, opts.apiKey);
          const { server, generatedKey } = await startServer(ctx.workspace, venv, {
            model,
            host: opts.host,
            port: opts.port,
            apiKey,
            noApiKey: opts.apiKey === false,
            onProgress: (m) => r.progress('starting', 0, null, m),
          });
          const lines = [
            `✓ ${server.model.label} answers at ${server.url} (OpenAI-style: POST /chat/completions, model "${server.modelName}")`,
            `  bound to ${server.host}:${server.port}${server.keyRequired ? ', API key required' : ''}; logs in ${server.dir}`,
          ];
          if (generatedKey) lines.push(`  API key (shown once, stored nowhere): ${generatedKey}`);
          lines.push(`  ask it: medtune ask ${server.model.ref} --image scan.dcm "…"   stop it: medtune serve --stop ${server.id}`);
          r.result({ server, apiKey: generatedKey }, lines);
        },
      ),
    );
}
