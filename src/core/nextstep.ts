/**
 * Advice as data: a next step is a medtune command (its arguments), not a sentence. The faces render it for
 * where the user stands — with `-w DIR` when the workspace is not found from the current folder — so every
 * command medtune prints works when pasted.
 */

export interface NextStep {
  kind: 'command';
  /** The arguments after `medtune`, e.g. ['ask', 'export:x', 'What is shown?']. */
  argv: string[];
}

/** Advice text with commands in it: ['wait for it (', cmd('attach', id), ')']. */
export type Advice = string | readonly (string | NextStep)[];

export const cmd = (...argv: string[]): NextStep => ({ kind: 'command', argv });

export const isNextStep = (v: unknown): v is NextStep =>
  typeof v === 'object' && v !== null && (v as NextStep).kind === 'command' && Array.isArray((v as NextStep).argv);

/** One shell word: left bare when it is plain, else single-quoted. */
export function commandArg(a: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  return `'${a.replace(/'/g, `'\\''`)}'`;
}

/** `medtune [-w DIR] ARGS…`, ready to paste. */
export function renderStep(step: NextStep, workspaceFlag: string | null): string {
  return ['medtune', ...(workspaceFlag ? ['-w', commandArg(workspaceFlag)] : []), ...step.argv.map(commandArg)].join(' ');
}

/** Advice as one line; commands in backticks. */
export function renderAdvice(advice: Advice | undefined, workspaceFlag: string | null): string | undefined {
  if (advice === undefined || typeof advice === 'string') return advice;
  return advice.map((p) => (typeof p === 'string' ? p : `\`${renderStep(p, workspaceFlag)}\``)).join('');
}

/** The commands in a piece of advice. */
export function adviceSteps(advice: Advice | undefined): NextStep[] {
  return advice === undefined || typeof advice === 'string' ? [] : advice.filter(isNextStep);
}
