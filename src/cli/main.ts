/**
 * `medtune` entry: every file in ./commands registers its verbs; `medtune` with no verb opens the TUI.
 * Command modules export `register(program)` and an optional `order` that sets their place in --help.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { reportError } from './output.js';
import { PACKAGE_ROOT } from '../runtime/paths.js';

export interface CommandModule {
  register(program: Command): void;
  order?: number;
}

async function loadCommands(): Promise<CommandModule[]> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const files = readdirSync(dir).filter((f) => f.endsWith(ext) && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'));
  const mods = await Promise.all(files.map(async (f) => (await import(pathToFileURL(join(dir, f)).href)) as CommandModule));
  return mods.filter((m) => typeof m.register === 'function').sort((a, b) => (a.order ?? 50) - (b.order ?? 50));
}

export async function buildProgram(): Promise<Command> {
  const program = new Command();
  program
    .name('medtune')
    .description('Fine-tune vision-language models on medical images with LLaMA-Factory, from one terminal.\nRun `medtune` with no command to open the TUI.')
    .version((JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version, '-V, --version')
    .option('-w, --workspace <dir>', 'workspace folder (default: $MEDTUNE_WORKSPACE or the current directory)')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: false });
  for (const mod of await loadCommands()) mod.register(program);
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    reportError(err, argv.includes('--json'));
    process.exitCode = process.exitCode || 1;
  }
}

const invokedDirectly = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) void main();
