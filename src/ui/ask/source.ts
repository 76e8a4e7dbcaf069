/**
 * What the Ask screen needs from the workspace, apart from the main WorkspaceSource: models to ask, a file
 * listing for the picker, scans converted into what the model receives, a streamed answer, transcripts.
 * The implementation on a real workspace is runtime-ask.ts (the application's Ask use case); tests pass a fake
 * through AskSourceContext.
 */
import { createContext } from 'react';
import type { AskTarget, DirListing, FileKind, PreparedImages, Sampling } from '../../app/index.js';
import type { Transcript } from '../../core/transcript.js';

export type { AskTarget, DirListing, FileKind, PreparedImages, Sampling };

export interface AskAnswer {
  answer: string;
  seconds: number;
  device: string;
  /** Stopped at the token limit rather than at its end. */
  cut: boolean;
}

export interface AskQuestion {
  /** What the model receives (none: text alone). */
  images: string[];
  question: string;
  sampling: Sampling;
}

export interface AskSource {
  listTargets(): Promise<AskTarget[]>;
  listDir(dir: string | null): Promise<DirListing>;
  prepare(files: string[], scan: { window: string; slices: string }, signal?: AbortSignal): Promise<PreparedImages>;
  ask(target: string, q: AskQuestion, onToken: (text: string) => void, signal: AbortSignal): Promise<AskAnswer>;
  /** Writes the whole transcript (atomically); returns its path. */
  saveTranscript(t: Transcript): Promise<string>;
}

export const AskSourceContext = createContext<AskSource | null>(null);
