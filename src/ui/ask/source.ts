/**
 * What the Ask screen needs from the workspace, apart from the main WorkspaceSource: models to ask, a file
 * listing for the picker, scans converted into what the model receives, a streamed answer, transcripts.
 * The runtime implementation is runtime-ask.ts; tests pass a fake through AskSourceContext.
 */
import { createContext } from 'react';
import type { RgbImage } from '../../core/halfblock.js';
import type { Transcript } from '../../core/transcript.js';

export interface AskTarget {
  /** What `ask` takes (model:NAME, export:NAME, run:ID). */
  ref: string;
  label: string;
  /** A ready `medtune serve` answers for it (no loading). */
  served: boolean;
}

export type FileKind = 'dir' | 'image' | 'scan' | 'other';

export interface DirListing {
  dir: string;
  parent: string | null;
  entries: { name: string; path: string; kind: FileKind }[];
}

export interface PreparedImages {
  /** What the models receive, in order. */
  images: string[];
  notes: string[];
  /** Previews of those images (the first few), as the half-block view draws them. */
  previews: RgbImage[];
}

export interface AskAnswer {
  answer: string;
  seconds: number;
  device: string;
}

export interface AskSource {
  listTargets(): Promise<AskTarget[]>;
  listDir(dir: string | null): Promise<DirListing>;
  prepare(files: string[], scan: { window: string; slices: string }, signal?: AbortSignal): Promise<PreparedImages>;
  ask(target: string, images: string[], question: string, onToken: (text: string) => void, signal: AbortSignal): Promise<AskAnswer>;
  /** Writes the whole transcript (atomically); returns its path. */
  saveTranscript(t: Transcript): Promise<string>;
}

export const AskSourceContext = createContext<AskSource | null>(null);
