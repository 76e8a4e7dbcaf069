/** Shared plumbing for command modules: workspace resolution and error handling around actions. */
import type { Command } from 'commander';
import { openApp, type App, type OnProgress } from '../app/index.js';
import type { Workspace } from '../runtime/workspace.js';
import { createReporter, reportError, type Reporter } from './output.js';

export interface ActionContext {
  /** The application layer on this workspace: every command calls its use cases. */
  app: App;
  workspace: Workspace;
  reporter: Reporter;
  json: boolean;
  command: Command;
}

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
    const app = openApp(opts.workspace);
    const ctx: ActionContext = { app, workspace: app.ws, reporter: createReporter({ json }), json, command };
    try {
      const code = await fn(ctx, ...(raw.slice(0, -1) as A));
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      ctx.reporter.done();
      reportError(err, json);
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
