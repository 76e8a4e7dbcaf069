/** The NDJSON protocol spoken by the Python helpers in python/ (one JSON object per stdout line). */
import { z } from 'zod';

export const ProgressEvent = z.object({
  event: z.literal('progress'),
  phase: z.string(),
  done: z.number().optional(),
  total: z.number().nullable().optional(),
  unit: z.string().optional(),
  message: z.string().optional(),
});
export const LogEvent = z.object({
  event: z.literal('log'),
  level: z.enum(['debug', 'info', 'warning', 'error']).default('info'),
  message: z.string(),
});
export const ResultEvent = z.object({ event: z.literal('result') }).passthrough();
/** A piece of generated text, streamed as the model produces it (python/medtune_py/infer.py `ask`). */
export const TokenEvent = z.object({ event: z.literal('token'), text: z.string() });
export const ErrorEvent = z.object({
  event: z.literal('error'),
  code: z.string(),
  message: z.string(),
  next: z.string().optional(),
  details: z.array(z.string()).optional(),
});
export const HelperEvent = z.discriminatedUnion('event', [ProgressEvent, LogEvent, ResultEvent, ErrorEvent, TokenEvent]);

export type ProgressEvent = z.infer<typeof ProgressEvent>;
export type LogEvent = z.infer<typeof LogEvent>;
export type ResultEvent = z.infer<typeof ResultEvent>;
export type ErrorEvent = z.infer<typeof ErrorEvent>;
export type TokenEvent = z.infer<typeof TokenEvent>;
export type HelperEvent = z.infer<typeof HelperEvent>;

/** Parses one stdout line; lines that are not protocol events (a stray print) become log events. */
export function parseHelperLine(line: string): HelperEvent | null {
  const trimmed = line.trim();
  if (!trimmed) return null;
  if (trimmed.startsWith('{')) {
    try {
      const parsed = HelperEvent.safeParse(JSON.parse(trimmed));
      if (parsed.success) return parsed.data;
    } catch {
      // not JSON: fall through and keep it as a log line
    }
  }
  return { event: 'log', level: 'info', message: trimmed };
}

/** Splits a stream of chunks into complete lines, keeping the unfinished tail for the next chunk. */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const parts = text.split(/\r?\n/);
    this.rest = parts.pop() ?? '';
    return parts;
  }
  flush(): string[] {
    const r = this.rest;
    this.rest = '';
    return r ? [r] : [];
  }
}
