/**
 * What a check found, with its meaning in a stable code and a severity, so that a face decides how to show it
 * and the application decides whether it blocks, without either reading the sentence.
 */
export type Severity = 'ok' | 'warn' | 'fail';

export interface Finding {
  /** Stable, upper-case: NEEDS_GPU, CUTOFF_TOO_SHORT, DISK_TOO_SMALL… */
  code: string;
  severity: Severity;
  /** What it is about, for a list of checks: `disk`, `dataset ct`, `LLaMA-Factory`… */
  subject?: string;
  message: string;
  /** What to do about it, when there is something to do. */
  next?: string;
}

export function finding(code: string, severity: Severity, message: string, next?: string, subject?: string): Finding {
  return { code, severity, ...(subject ? { subject } : {}), message, ...(next !== undefined ? { next } : {}) };
}

export function hasFailure(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'fail');
}
