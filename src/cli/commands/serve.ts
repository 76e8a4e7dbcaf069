import { InvalidArgumentError, type Command } from 'commander';
import { action } from '../command.js';
import { serve, servers, serverSteps, stopServing } from '../../app/index.js';
import { describeSampling, GREEDY } from '../../core/serve.js';
import { cmd } from '../../core/nextstep.js';
import { serverLine } from '../serverview.js';
import { samplingOptions, type SamplingFlags } from '../sampling.js';

export const order = 53;

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number 1..65535');
  return n;
}

interface ServeFlags extends SamplingFlags {
  host: string;
  port?: number;
  apiKey?: string | false;
  stop?: string | boolean;
}

export function register(program: Command): void {
  const command = program
    .command('serve')
    .argument(
      '[model]',
      'a model folder, a model under models/, a run id (its adapter on its base) or an export name; none: list the servers',
    )
    .description(
      "serve a model with LLaMA-Factory's OpenAI-compatible API (llamafactory-cli api), detached; 127.0.0.1 unless --host says otherwise. Servers are the machine's: listing and --stop see those started from any folder",
    )
    .option('--host <address>', 'address to bind; anything but loopback needs an API key (one is generated and shown once)', '127.0.0.1')
    .option('--port <n>', 'port (default 8000, or a free one when 8000 is taken)', port)
    .option('--api-key <key>', 'require this key (Authorization: Bearer KEY); default $MEDTUNE_API_KEY')
    .option('--no-api-key', 'never generate a key (only a loopback bind is then allowed)')
    .option(
      '--stop [id]',
      'stop the named server (id or prefix, from any folder), `all` of this machine, or (no id) those of this workspace',
    );
  samplingOptions(command, "the server's default for requests that name no temperature / top_p")
    .option('--json', 'print as JSON')
    .action(
      action(async (ctx, model: string | undefined, opts: ServeFlags) => {
        const r = ctx.reporter;
        if (opts.stop !== undefined) {
          const which =
            opts.stop === 'all' ? { all: true as const } : typeof opts.stop === 'string' ? { id: opts.stop } : { workspace: true as const };
          const { stopped, elsewhere } = await stopServing(ctx.app, which);
          const lines = stopped.length
            ? stopped.map((s) => `✓ stopped ${s.id} (${s.model.label}, ${s.url})`)
            : ['no server of this workspace was running'];
          if (elsewhere.length)
            lines.push(
              `still running on this machine (started from other folders):`,
              ...elsewhere.map((s) => `  ${serverLine(s, ctx.workspace.root)}\n    stop it: ${ctx.step(cmd('serve', '--stop', s.id))}`),
              `  or stop every one: ${ctx.step(cmd('serve', '--stop', 'all'))}`,
            );
          r.result({ stopped, elsewhere }, lines);
          return;
        }
        if (!model) {
          const all = await servers(ctx.app);
          r.result(
            { servers: all },
            all.length
              ? all.map((s) => serverLine(s, ctx.workspace.root))
              : [`no servers: ${ctx.step(cmd('serve', 'MODEL'))} starts one (an export, a run id, a model)`],
          );
          return;
        }
        const { server, generatedKey } = await serve(ctx.app, {
          model,
          host: opts.host,
          port: opts.port,
          apiKey: opts.apiKey,
          sampling: samplingOptions.read(opts),
          onProgress: (m) => r.progress('starting', 0, null, m),
        });
        const steps = serverSteps(server, generatedKey);
        const lines = [
          `✓ ${server.model.label} answers at ${server.url} (OpenAI-compatible: POST /chat/completions, model "${server.modelName}")`,
          `  sampling: ${describeSampling(server.sampling ?? GREEDY)}; a request's own temperature / top_p win`,
          `  bound to ${server.host}:${server.port}${server.keyRequired ? ', API key required' : ''}; logs in ${server.dir}`,
        ];
        if (generatedKey) lines.push(`  API key (shown once, stored nowhere): ${generatedKey}`);
        lines.push(`  ask it:  ${ctx.step(steps.ask)}`, `  stop it: ${ctx.step(steps.stop)}`);
        r.result({ server, apiKey: generatedKey }, lines);
      }),
    );
}
