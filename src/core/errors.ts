/**
 * Errors that explain themselves: what medtune was doing, what went wrong, what to do next.
 * Every user-facing failure is a MedtuneError; the CLI prints it without a stack trace.
 */
export interface MedtuneErrorInit {
  /** What medtune was doing, e.g. "preparing dataset medtrinity-demo". */
  doing: string;
  /** What went wrong, in the user's words. */
  problem: string;
  /** What to do next: a command, a key to change, a flag to pass. */
  next?: string;
  /** A stable machine-readable code, e.g. "VENV_MISSING". */
  code?: string;
  /** Extra lines of context (a stderr tail, a list of bad rows). */
  details?: string[];
  cause?: unknown;
}

export class MedtuneError extends Error {
  readonly doing: string;
  readonly problem: string;
  readonly next: string | undefined;
  readonly code: string;
  readonly details: string[];

  constructor(init: MedtuneErrorInit) {
    super(`${init.doing}: ${init.problem}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'MedtuneError';
    this.doing = init.doing;
    this.problem = init.problem;
    this.next = init.next;
    this.code = init.code ?? 'ERROR';
    this.details = init.details ?? [];
  }

  toJSON(): Record<string, unknown> {
    return {
      error: true,
      code: this.code,
      doing: this.doing,
      problem: this.problem,
      next: this.next ?? null,
      details: this.details,
    };
  }
}

/** Renders an error as the three lines a person needs. */
export function formatError(err: unknown): string {
  if (err instanceof MedtuneError) {
    const lines = [`✗ While ${err.doing}: ${err.problem}`];
    for (const d of err.details) lines.push(`  ${d}`);
    if (err.next) lines.push(`→ ${err.next}`);
    return lines.join('\n');
  }
  const message = err instanceof Error ? err.message : String(err);
  return `✗ Unexpected error: ${message}\n→ This is a bug in medtune; please report it with the command you ran.`;
}

export function isMedtuneError(err: unknown): err is MedtuneError {
  return err instanceof MedtuneError;
}
