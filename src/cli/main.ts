/**
 * `medtune` entry: every file in ./commands registers its verbs; `medtune` with no verb opens the TUI.
 * Command modules export `register(program)` and an optional `order` that sets their place in --help.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { reportError } from './output.js';
import { MedtuneError } from '../core/errors.js';
import { version } from '../app/index.js';

export interface CommandModule {
  register(program: Command): void;
  order?: number;
}

/** Set by the one-file bundle (scripts/bundle.mjs), which cannot read the commands folder at run time. */
declare const MEDTUNE_BUNDLE: boolean | undefined;
let registered: CommandModule[] | undefined;

/** The bundle hands over its statically imported command modules here, before `main` runs. */
export function useCommands(mods: CommandModule[]): void {
  registered = mods;
}

async function loadCommands(): Promise<CommandModule[]> {
  if (registered) return [...registered].sort((a, b) => (a.order ?? 50) - (b.order ?? 50));
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
    .description(
      'Fine-tune vision-language models on medical images with LLaMA-Factory, from one terminal.\nRun `medtune` with no command to open the TUI.',
    )
    .version(version(), '-V, --version')
    .option('-w, --workspace <dir>', 'workspace folder (default: $MEDTUNE_WORKSPACE or the current directory)')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: false });
  for (const mod of await loadCommands()) mod.register(program);
  return program;
}

/** The first word that is not an option or an option's value: the command the user meant. */
function firstWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-w' || a === '--workspace') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return undefined;
}

export async function main(argv = process.argv): Promise<void> {
  const program = await buildProgram();
  let word = firstWord(argv.slice(2));
  // The root action (the TUI) keeps commander's own `help` command from working: `help X` means `X --help`.
  if (word === 'help') {
    const at = argv.indexOf('help', 2);
    argv = [...argv.slice(0, at), ...argv.slice(at + 1), '--help'];
    word = firstWord(argv.slice(2));
  }
  const known = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  if (word !== undefined && !known.has(word)) {
    const near = [...known].filter((k) => k.startsWith(word.slice(0, 2)));
    reportError(
      new MedtuneError({
        doing: 'reading the command line',
        problem: `"${word}" is not a medtune command`,
        next: `${near.length ? `did you mean ${near.join(' or ')}? ` : ''}\`medtune --help\` lists the commands; \`medtune\` alone opens the TUI`,
        code: 'UNKNOWN_COMMAND',
      }),
      argv.includes('--json'),
    );
    process.exitCode = 2;
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    reportError(err, argv.includes('--json'));
    process.exitCode = process.exitCode || 1;
  }
}

const invokedDirectly = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly && !(typeof MEDTUNE_BUNDLE !== 'undefined' && MEDTUNE_BUNDLE)) void main();
