/** Progress as every use case reports it; the CLI prints it as a bar, the TUI as a task line. */
import type { DataProgress } from '../core/dataset.js';

export type ProgressEvent = DataProgress;

export type OnProgress = (e: ProgressEvent) => void;

export const ignoreProgress: OnProgress = () => undefined;

/** A progress callback that prefixes each phase (`3/6 tiny model: loading`). */
export function prefixed(onProgress: OnProgress, prefix: string): OnProgress {
  return (e) => onProgress({ ...e, phase: `${prefix}${e.phase}` });
}
