import type { Command } from 'commander';
import { action, collect, pickRun } from '../command.js';
import { ask, ASK_MAX_NEW_TOKENS } from '../../app/index.js';
import { positive } from './eval.js';
import { addScanOptions, scanOptions } from '../scanopts.js';
import { samplingOptions, type SamplingFlags } from '../sampling.js';

export const order = 52;

interface AskFlags extends SamplingFlags {
  image?: string[];
  maxNewTokens: number;
  window?: string;
  slices?: string;
  server?: string | false;
  apiKey?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('ask')
    .argument(
      '<model>',
      'a model folder, a model under models/, a run id (its adapter on its base), "latest" (the newest completed run) or an export name; prefix run:, export: or model: when names collide; gguf:NAME[/TYPE] or gguf:FILE.gguf asks the GGUF files through llama.cpp',
    )
    .argument('<question...>', 'the question (Chinese or English); quote it or not')
    .description(
      'ask a model a question, about one or more images (several --image flags go into one question) or about text alone; the answer streams as it is generated',
    )
    .option('-i, --image <file>', 'an image, a DICOM file or series folder, or a NIfTI volume (repeat for several, in order)', collect)
    .option('--max-new-tokens <n>', 'longest answer, in tokens', positive, ASK_MAX_NEW_TOKENS)
    .option('--server <url>', 'ask a running OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1) instead of loading the model')
    .option('--api-key <key>', "the server's API key (default $MEDTUNE_API_KEY)")
    .option('--no-server', 'load the model even when `medtune serve` is serving it');
  samplingOptions(cmd, 'for this question').option('--json', 'print one JSON object with the answer instead of streaming it');
  addScanOptions(cmd).action(
    action(async (ctx, given: string, words: string[], opts: AskFlags) => {
      const r = ctx.reporter;
      const model = await pickRun(ctx, 'ask', given);
      let streamed = false;
      const result = await ask(
        ctx.app,
        {
          model,
          images: opts.image ?? [],
          question: words.join(' '),
          maxNewTokens: opts.maxNewTokens,
          sampling: samplingOptions.read(opts),
          scan: scanOptions(opts),
          server: opts.server === false ? 'never' : opts.server ? { url: opts.server, apiKey: opts.apiKey } : 'auto',
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
      process.stdout.write(streamed ? (result.cut ? '…\n' : '\n') : `${result.answer}${result.cut ? '…' : ''}\n`);
      for (const note of result.notes) r.info(note);
      const n = result.images.length;
      r.info(
        `(${result.model.label}: ${result.device.startsWith('server') ? '' : `${result.tokens} tokens `}in ${result.seconds} s on ${result.device}, ${n ? `${n} image${n > 1 ? 's' : ''}` : 'no image'}${result.cut ? `; cut at ${opts.maxNewTokens} tokens: --max-new-tokens N for more` : ''})`,
      );
    }),
  );
}
