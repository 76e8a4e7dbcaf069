/** Shared plumbing for command modules: workspace resolution and error handling around actions. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { latestRun, openApp, startQueued, type App, type OnProgress } from '../app/index.js';
import { commandArg, renderAdvice, renderStep, type Advice, type NextStep } from '../core/nextstep.js';
import { checkOptionText, describeValid, type OptionSpec } from '../core/options.js';
import type { FoundWorkspace, Workspace } from '../runtime/workspace.js';
import { createReporter, reportError, type Reporter } from './output.js';

export interface ActionContext {
  /** The application layer on this workspace: every command calls its use cases. */
  app: App;
  workspace: Workspace;
  reporter: Reporter;
  json: boolean;
  command: Command;
  /** How the workspace was found, and the `-w` a printed command needs to reach it from here. */
  found: FoundWorkspace;
  /** A next step as the command to paste here (`-w` added when the workspace is not found from here). */
  step(s: NextStep): string;
  /** Advice with commands in it, rendered the same way. */
  advise(a: Advice): string;
}

/**
 * Commands that need no workspace — several workspaces below the current folder are no error for them: doctor,
 * setup, gpu, demo (it makes its own), and serve without a model (it lists or stops the machine's servers).
 */
const WITHOUT_WORKSPACE = new Set(['doctor', 'setup', 'gpu', 'demo']);
const needsNoWorkspace = (command: Command, paths: string[]) =>
  WITHOUT_WORKSPACE.has(command.name()) || (command.name() === 'serve' && paths.length === 0);

/** The arguments that may be paths: positionals, and the strings of a variadic one. */
const pathArgs = (args: unknown[]) =>
  args.flatMap((a) => (typeof a === 'string' ? [a] : Array.isArray(a) ? a.filter((x) => typeof x === 'string') : []));

/**
 * Wraps a command action: builds the context, prints errors without stack traces, sets the exit code.
 * The action receives the context first, then commander's arguments (positionals, then the options object).
 * Returning a number sets the exit code.
 */
export function action<A extends unknown[]>(fn: (ctx: ActionContext, ...args: A) => Promise<void | number>) {
  return async (...raw: unknown[]): Promise<void> => {
    const command = raw[raw.length - 1] as Command;
    const opts = command.optsWithGlobals() as { workspace?: string; json?: boolean };
    const json = !!opts.json;
    let app: App;
    let found: FoundWorkspace;
    try {
      const paths = pathArgs(raw.slice(0, -2));
      ({ app, found } = openApp({ flag: opts.workspace, paths, lenient: needsNoWorkspace(command, paths) }));
    } catch (err) {
      reportError(err, json);
      process.exitCode = 1;
      return;
    }
    const workspace = found.ws;
    const reporter = createReporter({ json });
    if (found.origin === 'below')
      reporter.info(
        `using the workspace ${found.flag} below this folder (\`-w ${commandArg(found.flag ?? '')}\` names it; cd into it to drop the flag)`,
      );
    const ctx: ActionContext = {
      app,
      workspace,
      reporter,
      json,
      command,
      found,
      step: (s) => renderStep(s, found.flag),
      advise: (a) => renderAdvice(a, found.flag) ?? '',
    };
    try {
      // Queued runs whose turn has come start with whatever medtune command runs next (docs/experiments.md).
      await startQueued(ctx.app).catch((err: Error) => ctx.reporter.warn(`could not start queued runs: ${err.message}`));
      const code = await fn(ctx, ...(raw.slice(0, -1) as A));
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      ctx.reporter.done();
      reportError(err, json, found.flag);
      process.exitCode = 1;
    }
  };
}

/** A use case's progress events, printed by the reporter. */
export function progressTo(r: Reporter, prefix = ''): OnProgress {
  return (e) => r.progress(`${prefix}${e.phase}`, e.done, e.total, e.message);
}

/** Collects a repeatable option (`--set a=1 --set b=2`). */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/**
 * Adds the flag of a registry option (core/options.ts) to a command: its help, its default in the help text, and
 * the same check as `--set` and the TUI form. `withDefault` also hands commander the default value.
 */
export function optionFlag(cmd: Command, spec: OptionSpec, opts: { withDefault?: boolean } = {}): Command {
  const shown = spec.default === null ? '' : ` (default ${String(spec.default)})`;
  const opt = new Option(spec.flag!, `${spec.help}${opts.withDefault ? '' : shown}`).argParser((text: string) => {
    const r = checkOptionText(spec, text);
    // A flag left out is unset: "or null" means nothing here.
    if (!r.ok) throw new InvalidArgumentError(`expected ${describeValid({ ...spec, nullable: false })}`);
    return r.value;
  });
  if (opts.withDefault && spec.default !== null) opt.default(spec.default);
  return cmd.addOption(opt);
}

/** A run reference as given; `latest` becomes the run it means for this verb (core/run.ts), and the choice is printed. */
export async function pickRun(ctx: ActionContext, verb: string, ref: string): Promise<string> {
  if (ref !== 'latest') return ref;
  const { id, line } = await latestRun(ctx.app, verb);
  ctx.reporter.info(line);
  return id;
}
