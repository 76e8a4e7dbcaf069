import type { Command } from 'commander';
import { action, collect } from '../command.js';
import { apiKey, ask } from '../../app/index.js';
import { positive } from './eval.js';
import { addScanOptions, scanOptions } from '../scanopts.js';

export const order = 52;

export function register(program: Command): void {
  const cmd = program
    .command('ask')
    .argument(
      '<model>',
      'a model folder, a model under models/, a run id (its adapter on its base) or an export name; prefix run:, export: or model: when names collide',
    )
    .argument('<question...>', 'the question (Chinese or English); quote it or not')
    .description('ask a model about one or more images (several --image flags go into one question); the answer streams as it is generated')
    .requiredOption(
      '-i, --image <file>',
      'an image, a DICOM file or series folder, or a NIfTI volume (repeat for several, in order)',
      collect,
    )
    .option('--max-new-tokens <n>', 'longest answer, in tokens', positive, 256)
    .option('--server <url>', 'ask a running OpenAI-style server (e.g. http://127.0.0.1:8000/v1) instead of loading the model')
    .option('--api-key <key>', "the server's API key (default $MEDTUNE_API_KEY)")
    .option('--no-server', 'load the model even when `medtune serve` is serving it')
    .option('--json', 'print one JSON object with the answer instead of streaming it');
  addScanOptions(cmd).action(
    action(
      async (
        ctx,
        model: string,
        words: string[],
        opts: { image: string[]; maxNewTokens: number; window?: string; slices?: string; server?: string | false; apiKey?: string },
      ) => {
        const r = ctx.reporter;
        let streamed = false;
        const result = await ask(
          ctx.app,
          {
            model,
            images: opts.image,
            question: words.join(' '),
            maxNewTokens: opts.maxNewTokens,
            scan: scanOptions(opts),
            server: opts.server === false ? 'never' : opts.server ? { url: opts.server, apiKey: apiKey(ctx.app, opts.apiKey) } : 'auto',
            onToken: ctx.json
              ? undefined
              : (text) => {
                  if (!streamed) r.done();
                  streamed = true;
                  process.stdout.write(text);
                },
          },
          (e) => {
            if (!streamed) r.progress(e.phase, e.done, e.total, e.message);
          },
        );
        if (ctx.json) {
          r.result(result);
          return;
        }
        // The answer is already on stdout; end its line and say what produced it on stderr.
        process.stdout.write(streamed ? '\n' : `${result.answer}\n`);
        for (const note of result.notes) r.info(note);
        r.info(
          `(${result.model.label}: ${result.device.startsWith('server') ? '' : `${result.tokens} tokens `}in ${result.seconds} s on ${result.device}, ${result.images.length} image${result.images.length > 1 ? 's' : ''})`,
        );
      },
    ),
  );
}
