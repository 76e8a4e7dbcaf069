/**
 * An Ask session's transcript: every question, the images the models received (converted scans by their
 * digest-named PNGs, never the scans' own paths), and each model's answer. Kept in transcripts/ of the workspace.
 */
export interface TranscriptAnswer {
  /** The model, as people read it ("run X (LoRA adapter on …)"). */
  model: string;
  answer: string;
  seconds: number;
  /** Where it ran: "cpu", "cuda:0", or "server http://…". */
  device: string;
  error?: string;
}

export interface TranscriptTurn {
  at: string;
  question: string;
  images: string[];
  /** How the scans were converted (modality, slice, window). */
  notes: string[];
  answers: TranscriptAnswer[];
}

export interface Transcript {
  format: 'medtune-transcript/1';
  startedAt: string;
  turns: TranscriptTurn[];
}

export const newTranscript = (startedAt: string): Transcript => ({ format: 'medtune-transcript/1', startedAt, turns: [] });

export const withTurn = (t: Transcript, turn: TranscriptTurn): Transcript => ({ ...t, turns: [...t.turns, turn] });

/** transcripts/ask-20261204-181500.json for a session started at that time (UTC). */
export function transcriptName(startedAt: string): string {
  return `ask-${startedAt.replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}.json`;
}
