import type { Command } from 'commander';
import { action, collect } from '../command.js';
import { ask } from '../../app/index.js';
import { positive } from './eval.js';

export const order = 52;

export function register(program: Command): void {
  program
    .command('ask')
    .argument('<model>', 'a model folder, a model under models/, a run id (its adapter on its base) or an export name; prefix run:, export: or model: when names collide')
    .argument('<question...>', 'the question (Chinese or English); quote it or not')
    .description('ask a model about one or more images (several --image flags go into one question); the answer streams as it is generated')
    .requiredOption('-i, --image <file>', 'an image (repeat for several, in order)', collect)
    .option('--max-new-tokens <n>', 'longest answer, in tokens', positive, 256)
    .option('--json', 'print one JSON object with the answer instead of streaming it')
    .action(action(async (ctx, model: string, words: string[], opts: { image: string[]; maxNewTokens: number }) => {
      const r = ctx.reporter;
      let streamed = false;
      const result = await ask(ctx.app, {
        model, images: opts.image, question: words.join(' '), maxNewTokens: opts.maxNewTokens,
        onToken: ctx.json ? undefined : (text) => {
          if (!streamed) r.done();
          streamed = true;
          process.stdout.write(text);
        },
      }, (e) => {
        if (!streamed) r.progress(e.phase, e.done, e.total, e.message);
      });
      if (ctx.json) {
        r.result(result);
        return;
      }
      // The answer is already on stdout; end its line and say what produced it on stderr.
      process.stdout.write(streamed ? '\n' : `${result.answer}\n`);
      r.info(`(${result.model.label}: ${result.tokens} tokens in ${result.seconds} s on ${result.device}, ${result.images.length} image${result.images.length > 1 ? 's' : ''})`);
    }));
}
