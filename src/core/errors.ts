import { adviceSteps, renderAdvice, type Advice, type NextStep } from './nextstep.js';

/**
 * Errors that explain themselves: what medtune was doing, what went wrong, what to do next.
 * Every user-facing failure is a MedtuneError; the CLI prints it without a stack trace.
 */
export interface MedtuneErrorInit {
  /** What medtune was doing, e.g. "preparing dataset medtrinity-demo". */
  doing: string;
  /** What went wrong, in the user's words. */
  problem: string;
  /** What to do next: a command (as a NextStep, so a face can render it for where the user stands), a key to change, a flag. */
  next?: Advice;
  /** A stable machine-readable code, e.g. "VENV_MISSING". */
  code?: string;
  /** Extra lines of context (a stderr tail, a list of bad rows). */
  details?: string[];
  cause?: unknown;
}

export class MedtuneError extends Error {
  readonly doing: string;
  readonly problem: string;
  readonly advice: Advice | undefined;
  readonly code: string;
  readonly details: string[];

  constructor(init: MedtuneErrorInit) {
    super(`${init.doing}: ${init.problem}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'MedtuneError';
    this.doing = init.doing;
    this.problem = init.problem;
    this.advice = init.next;
    this.code = init.code ?? 'ERROR';
    this.details = init.details ?? [];
  }

  /** The advice as text, its commands without `-w` (faces render it with `formatError`'s workspace flag). */
  get next(): string | undefined {
    return renderAdvice(this.advice, null);
  }

  /** The commands the advice names. */
  get steps(): NextStep[] {
    return adviceSteps(this.advice);
  }

  toJSON(): Record<string, unknown> {
    return this.describe(null);
  }

  /** The JSON form, its commands rendered with the `-w` they need from where the user stands. */
  describe(workspaceFlag: string | null): Record<string, unknown> {
    return {
      error: true,
      code: this.code,
      doing: this.doing,
      problem: this.problem,
      next: renderAdvice(this.advice, workspaceFlag) ?? null,
      details: this.details,
    };
  }
}

/** Renders an error as the three lines a person needs; `workspaceFlag`: the `-w` its commands need from here. */
export function formatError(err: unknown, workspaceFlag: string | null = null): string {
  if (err instanceof MedtuneError) {
    const lines = [`✗ While ${err.doing}: ${err.problem}`];
    for (const d of err.details) lines.push(`  ${d}`);
    const next = renderAdvice(err.advice, workspaceFlag);
    if (next) lines.push(`→ ${next}`);
    return lines.join('\n');
  }
  const message = err instanceof Error ? err.message : String(err);
  return `✗ Unexpected error: ${message}\n→ This is a bug in medtune; please report it with the command you ran.`;
}

export function isMedtuneError(err: unknown): err is MedtuneError {
  return err instanceof MedtuneError;
}
