/**
 * `medtune serve`: the bind policy (loopback by default; any other address only behind an API key), the server
 * record kept in servers/<id>/server.json, and the pieces of an OpenAI-style chat request with image parts.
 */
import { z } from 'zod';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8000;

/** Addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

export type KeyPolicy = { ok: true; key: 'none' | 'given' | 'generate' } | { ok: false; code: string; problem: string; next: string };

/**
 * Whether a bind is allowed and where its key comes from. A loopback bind needs no key (one may be given); any
 * other address gets the given key, or a generated one, and is refused when the user asked for no key at all.
 */
export function keyPolicy(host: string, apiKey: string | undefined, noKey: boolean): KeyPolicy {
  if (apiKey !== undefined && apiKey.trim().length < 8) {
    return {
      ok: false,
      code: 'WEAK_API_KEY',
      problem: 'the API key is shorter than 8 characters',
      next: 'pass a longer --api-key, or leave it out to have one generated',
    };
  }
  if (isLoopback(host)) return { ok: true, key: apiKey !== undefined ? 'given' : 'none' };
  if (noKey) {
    return {
      ok: false,
      code: 'NONLOCAL_WITHOUT_KEY',
      problem: `binding to ${host} would let other machines use the model without a key`,
      next: `drop --no-api-key (a key is then generated and shown once), pass --api-key KEY, or bind to ${DEFAULT_HOST}`,
    };
  }
  return { ok: true, key: apiKey !== undefined ? 'given' : 'generate' };
}

/** Where a client on this machine reaches a server bound to `host`. */
export function clientHost(host: string): string {
  const h = host.trim();
  if (h === '0.0.0.0') return DEFAULT_HOST;
  if (h === '::' || h === '[::]') return '[::1]';
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
}

export const ServerStatus = z.enum(['starting', 'ready', 'stopping', 'stopped', 'exited', 'failed']);
export type ServerStatus = z.infer<typeof ServerStatus>;

export const ServerRecord = z.object({
  id: z.string(),
  status: ServerStatus,
  host: z.string(),
  port: z.number(),
  url: z.string(),
  /** Whether requests need `Authorization: Bearer KEY` (the key itself is never written down). */
  keyRequired: z.boolean(),
  model: z.object({ kind: z.string(), ref: z.string(), label: z.string(), model: z.string(), adapter: z.string().nullable() }),
  /** The name /v1/models reports (API_MODEL_NAME). */
  modelName: z.string(),
  supervisorPid: z.number().nullable(),
  pid: z.number().nullable(),
  startedAt: z.string(),
  readyAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  command: z.array(z.string()),
  /** The server's default decoding (a request's own temperature / top_p win); absent in records before it was kept. */
  sampling: z.object({ temperature: z.number(), topP: z.number() }).optional(),
});
export type ServerRecord = z.infer<typeof ServerRecord>;

/**
 * How a model picks its tokens. Temperature 0 is greedy decoding (the same answer every time, as `eval` scores
 * it); above 0 the answer is sampled from the tokens whose probabilities add up to top_p.
 */
export interface Sampling {
  temperature: number;
  topP: number;
}

/** medtune's default everywhere (ask, eval, serve): greedy. top_p only matters once temperature is above 0. */
export const GREEDY: Sampling = { temperature: 0, topP: 0.7 };

/** Which sampling setting cannot be used and why, or null. */
export function samplingProblem(s: Partial<Sampling>): { key: keyof Sampling; problem: string } | null {
  if (s.temperature !== undefined && !(Number.isFinite(s.temperature) && s.temperature >= 0 && s.temperature <= 2))
    return { key: 'temperature', problem: `temperature ${s.temperature} is outside 0…2 (0: greedy)` };
  if (s.topP !== undefined && !(Number.isFinite(s.topP) && s.topP > 0 && s.topP <= 1))
    return { key: 'topP', problem: `top-p ${s.topP} is outside (0, 1]` };
  return null;
}

/** "greedy" or "temperature 0.7, top-p 0.9". */
export function describeSampling(s: Sampling): string {
  return s.temperature === 0 ? 'greedy (temperature 0)' : `sampled: temperature ${s.temperature}, top-p ${s.topP}`;
}

export const LIVE_SERVER_STATUSES: readonly ServerStatus[] = ['starting', 'ready', 'stopping'];

/** The user message of a chat completion: the images first (in order), then the question. */
export function chatMessage(images: { mime: string; base64: string }[], question: string): { role: 'user'; content: unknown[] } {
  return {
    role: 'user',
    content: [
      ...images.map((i) => ({ type: 'image_url', image_url: { url: `data:${i.mime};base64,${i.base64}` } })),
      { type: 'text', text: question },
    ],
  };
}

/** The image types LLaMA-Factory 0.9.5's API accepts as data URLs (api/chat.py), by their first bytes. */
export function imageMime(head: Uint8Array): string | null {
  const starts = (...b: number[]) => b.every((x, i) => head[i] === x);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'image/png';
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (starts(0x42, 0x4d)) return 'image/bmp';
  return null;
}

/**
 * The text pieces of a server-sent-event stream of chat completion chunks. `feed` takes raw text as it arrives
 * and returns the deltas of the complete events in it; `done` turns true at `data: [DONE]`.
 */
export class ChatStreamParser {
  private rest = '';
  done = false;
  /** The last finish_reason the server sent ("stop", or "length" when the answer was cut at max_tokens). */
  finishReason: string | null = null;
  feed(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split(/\r?\n/);
    this.rest = lines.pop() ?? '';
    const out: string[] = [];
    for (const line of lines) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') {
        this.done = true;
        continue;
      }
      try {
        const parsed = JSON.parse(data) as { choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[] };
        const finish = parsed.choices?.[0]?.finish_reason;
        if (finish) this.finishReason = finish;
        const piece = parsed.choices?.[0]?.delta?.content;
        if (piece) out.push(piece);
      } catch {
        // a keep-alive comment or a partial line: nothing to show
      }
    }
    return out;
  }
}
