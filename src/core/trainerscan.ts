/**
 * A fast decoder for trainer_log.jsonl lines straight from bytes, so a log of a million records is read in a
 * fraction of a second: no string per line, no JSON.parse, one object per record.
 *
 * It reads the flat objects LLaMA-Factory writes (`{"key": value, ...}` with numbers, strings, null, true/false
 * and Python's bare NaN/Infinity) and gives exactly what decodeTrainerLine gives for the same line. Anything it
 * does not expect (escapes, nesting, odd spacing it cannot follow) goes to decodeTrainerLine itself.
 */
import type { TrainerRecord } from './run.js';
import { decodeTrainerLine, num, parseTimedelta } from './trainerlog.js';

export type DecodedRecord = Omit<TrainerRecord, 'attempt'> & { elapsedSeconds?: number };

const Q = 0x22; // "
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const NL = 0x0a;
const BACKSLASH = 0x5c;

type Field =
  | 'step'
  | 'totalSteps'
  | 'loss'
  | 'evalLoss'
  | 'lr'
  | 'epoch'
  | 'percent'
  | 'elapsed'
  | 'remaining'
  | 'throughput'
  | 'totalTokens'
  | 'vramAllocated'
  | 'vramReserved';

const KEYS: ReadonlyArray<readonly [string, Field]> = [
  ['current_steps', 'step'],
  ['total_steps', 'totalSteps'],
  ['loss', 'loss'],
  ['eval_loss', 'evalLoss'],
  ['lr', 'lr'],
  ['epoch', 'epoch'],
  ['percentage', 'percent'],
  ['elapsed_time', 'elapsed'],
  ['remaining_time', 'remaining'],
  ['throughput', 'throughput'],
  ['total_tokens', 'totalTokens'],
  ['vram_allocated', 'vramAllocated'],
  ['vram_reserved', 'vramReserved'],
];
const STRING_FIELDS = new Set<Field>(['elapsed', 'remaining']);

// Keys are told apart by length and a hash of their bytes, then checked byte by byte.
const KEY_BYTES = KEYS.map(([k]) => Uint8Array.from(k, (c) => c.charCodeAt(0)));
function hashOf(buf: Uint8Array, from: number, to: number): number {
  let h = to - from;
  for (let i = from; i < to; i++) h = (Math.imul(h, 31) + buf[i]!) | 0;
  return h;
}
const BY_HASH = new Map<number, number>();
for (const [i, k] of KEY_BYTES.entries()) BY_HASH.set(hashOf(k, 0, k.length), i);

const isWs = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d;

const nativeLatin1 = (globalThis as { Buffer?: { prototype: { latin1Slice?: (this: Uint8Array, from: number, to: number) => string } } })
  .Buffer?.prototype.latin1Slice;

/** The bytes [from, to) as a string of the same code units (Node's native slice where there is one). */
const latin1 = (buf: Uint8Array, from: number, to: number): string => {
  if (nativeLatin1) return nativeLatin1.call(buf, from, to);
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(buf[i]!);
  return s;
};

/**
 * A JSON number at [from, to) as JSON.parse reads it (Number() of its text: correctly rounded), undefined where the
 * bytes are not a number (sign, digits, fraction, exponent).
 */
function parseNumber(buf: Uint8Array, from: number, to: number): number | undefined {
  let i = from;
  if (buf[i] === 0x2d) i++;
  const digits = () => {
    const d0 = i;
    while (i < to && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    return i - d0;
  };
  let any = digits() > 0;
  if (buf[i] === 0x2e) {
    i++;
    any = digits() > 0 || any;
  }
  if (!any) return undefined;
  if (buf[i] === 0x65 || buf[i] === 0x45) {
    i++;
    if (buf[i] === 0x2d || buf[i] === 0x2b) i++;
    if (digits() === 0) return undefined;
  }
  return i === to ? Number(latin1(buf, from, to)) : undefined;
}

const NOT_FAST = Symbol('not fast');

/** The record of one line at [from, to) (no newline), undefined when it is none, NOT_FAST to fall back. */
function fastDecode(buf: Uint8Array, from: number, to: number): DecodedRecord | undefined | typeof NOT_FAST {
  let i = from;
  while (i < to && isWs(buf[i]!)) i++;
  if (buf[i] !== LBRACE) return NOT_FAST;
  i++;
  const rec: Partial<Record<Field, number | string>> = {};
  for (;;) {
    while (i < to && isWs(buf[i]!)) i++;
    if (buf[i] === RBRACE) {
      i++;
      break;
    }
    if (buf[i] !== Q) return NOT_FAST;
    const ks = ++i;
    while (i < to && buf[i] !== Q) {
      if (buf[i] === BACKSLASH) return NOT_FAST;
      i++;
    }
    if (i >= to) return NOT_FAST;
    const ke = i++;
    while (i < to && isWs(buf[i]!)) i++;
    if (buf[i] !== COLON) return NOT_FAST;
    i++;
    while (i < to && isWs(buf[i]!)) i++;
    const idx = BY_HASH.get(hashOf(buf, ks, ke));
    let field: Field | undefined;
    if (idx !== undefined) {
      const k = KEY_BYTES[idx]!;
      if (k.length === ke - ks) {
        let same = true;
        for (let j = 0; j < k.length; j++)
          if (k[j] !== buf[ks + j]) {
            same = false;
            break;
          }
        if (same) field = KEYS[idx]![1];
      }
    }
    const c = buf[i];
    if (c === Q) {
      const vs = ++i;
      while (i < to && buf[i] !== Q) {
        if (buf[i] === BACKSLASH) return NOT_FAST;
        i++;
      }
      if (i >= to) return NOT_FAST;
      const ve = i++;
      if (field !== undefined) {
        for (let j = vs; j < ve; j++) if (buf[j]! >= 0x80) return NOT_FAST;
        const text = latin1(buf, vs, ve);
        if (STRING_FIELDS.has(field)) rec[field] = text;
        else {
          const v = num(text);
          if (v !== undefined) rec[field] = v;
        }
      }
    } else if (c === LBRACE || c === 0x5b) {
      return NOT_FAST;
    } else {
      const vs = i;
      while (i < to && buf[i] !== COMMA && buf[i] !== RBRACE && !isWs(buf[i]!)) i++;
      const ve = i;
      if (ve === vs) return NOT_FAST;
      const first = buf[vs];
      if (first === 0x6e || first === 0x74 || first === 0x66) {
        // null, true, false: no number
        const word = latin1(buf, vs, ve);
        if (word !== 'null' && word !== 'true' && word !== 'false') return NOT_FAST;
      } else if (first === 0x4e || first === 0x49 || (first === 0x2d && buf[vs + 1] === 0x49)) {
        const word = latin1(buf, vs, ve);
        const v =
          word === 'NaN'
            ? Number.NaN
            : word === 'Infinity'
              ? Number.POSITIVE_INFINITY
              : word === '-Infinity'
                ? Number.NEGATIVE_INFINITY
                : undefined;
        if (v === undefined) return NOT_FAST;
        if (field !== undefined && !STRING_FIELDS.has(field)) rec[field] = v;
      } else {
        const v = parseNumber(buf, vs, ve);
        if (v === undefined) return NOT_FAST;
        if (field !== undefined && !STRING_FIELDS.has(field)) rec[field] = v;
      }
    }
    while (i < to && isWs(buf[i]!)) i++;
    if (buf[i] === COMMA) {
      i++;
      continue;
    }
    if (buf[i] === RBRACE) {
      i++;
      break;
    }
    return NOT_FAST;
  }
  while (i < to && isWs(buf[i]!)) i++;
  if (i !== to) return NOT_FAST;
  const step = rec.step;
  const totalSteps = rec.totalSteps;
  if (typeof step !== 'number' || typeof totalSteps !== 'number' || !Number.isInteger(step) || step < 0) return undefined;
  // Built in decodeTrainerLine's key order, so both give equal objects.
  const out: DecodedRecord = { step, totalSteps };
  for (const [, f] of KEYS) {
    if (f === 'step' || f === 'totalSteps') continue;
    const v = rec[f];
    if (v !== undefined) (out as unknown as Record<string, unknown>)[f] = v;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8');

/** Decodes the line at [from, to) of `buf` (without its newline), as decodeTrainerLine would. */
export function decodeTrainerBytes(buf: Uint8Array, from: number, to: number): DecodedRecord | undefined {
  const fast = fastDecode(buf, from, to);
  if (fast !== NOT_FAST) return fast;
  return decodeTrainerLine(utf8.decode(buf.subarray(from, to)));
}

/** Adds `elapsedSeconds` parsed from `elapsed`. */
export function timed(rec: DecodedRecord): DecodedRecord {
  if (rec.elapsed !== undefined) {
    const s = parseTimedelta(rec.elapsed);
    if (s !== undefined) rec.elapsedSeconds = s;
  }
  return rec;
}

const nl_ = (buf: Uint8Array, from: number): number => indexFrom(buf, NL, from);

export interface LineScan {
  /** Bytes consumed: up to and including the last newline in the range. */
  consumed: number;
  /** Complete non-blank lines that were not records. */
  skipped: number;
  /** Complete lines seen (blank ones included). */
  lines: number;
}

/**
 * Calls `onRecord` for every complete line of buf[from, to) that is a record, in order; the bytes after the
 * last newline are left for the next call (a line still being written).
 */
export function scanTrainerLines(buf: Uint8Array, from: number, to: number, onRecord: (rec: DecodedRecord) => void): LineScan {
  let start = from;
  let skipped = 0;
  let lines = 0;
  for (;;) {
    const nl = nl_(buf, start);
    if (nl < 0 || nl >= to) break;
    lines++;
    let end = nl;
    if (end > start && buf[end - 1] === 0x0d) end--;
    let blank = true;
    for (let i = start; i < end; i++)
      if (!isWs(buf[i]!)) {
        blank = false;
        break;
      }
    if (!blank) {
      const rec = decodeTrainerBytes(buf, start, end);
      if (rec) onRecord(timed(rec));
      else skipped++;
    }
    start = nl + 1;
  }
  return { consumed: start - from, skipped, lines };
}

/** What the bulk of a long log is read for: the curve, the attempts and the peak memory. */
export interface LiteRecord {
  step: number;
  totalSteps: number;
  loss?: number | undefined;
  evalLoss?: number | undefined;
  elapsedSeconds?: number | undefined;
  vramAllocated?: number | undefined;
  vramReserved?: number | undefined;
}

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const P_STEP = bytes('{"current_steps": ');
const P_TOTAL = bytes(', "total_steps": ');
const P_VRAM_R = bytes('"vram_reserved": ');
const P_VRAM_A = bytes('"vram_allocated": ');

function at(buf: Uint8Array, i: number, p: Uint8Array): boolean {
  for (let j = 0; j < p.length; j++) if (buf[i + j] !== p[j]) return false;
  return true;
}

/** End of a bare JSON value starting at i (the next `,` or `}`), or -1. */
function valueEnd(buf: Uint8Array, i: number, to: number): number {
  while (i < to && buf[i] !== COMMA && buf[i] !== RBRACE) i++;
  return i < to ? i : -1;
}

function bareNumber(buf: Uint8Array, from: number, to: number): number | undefined | typeof NOT_FAST {
  const c = buf[from];
  if (c === 0x6e && to - from === 4) return undefined; // null
  if (c === 0x4e || c === 0x49 || c === 0x22 || (c === 0x2d && buf[from + 1] === 0x49)) return NOT_FAST;
  const v = parseNumber(buf, from, to);
  return v === undefined ? NOT_FAST : v;
}

/** `H:MM:SS` or `N day(s), H:MM:SS` from bytes, whole seconds; NOT_FAST for anything else. */
function timedeltaAt(buf: Uint8Array, from: number, to: number): number | typeof NOT_FAST {
  let i = from;
  let days = 0;
  let n = 0;
  let any = false;
  while (i < to && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    n = n * 10 + (buf[i++]! - 0x30);
    any = true;
  }
  if (!any) return NOT_FAST;
  if (buf[i] === 0x20) {
    // " day, " or " days, "
    days = n;
    while (i < to && buf[i] !== COMMA) i++;
    i += 2;
    n = 0;
    any = false;
    while (i < to && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
      n = n * 10 + (buf[i++]! - 0x30);
      any = true;
    }
    if (!any) return NOT_FAST;
  }
  if (buf[i] !== COLON || buf[i + 3] !== COLON || i + 6 !== to) return NOT_FAST;
  const m1 = buf[i + 1]! - 0x30;
  const m2 = buf[i + 2]! - 0x30;
  const s1 = buf[i + 4]! - 0x30;
  const s2 = buf[i + 5]! - 0x30;
  if (m1 < 0 || m1 > 9 || m2 < 0 || m2 > 9 || s1 < 0 || s1 > 9 || s2 < 0 || s2 > 9) return NOT_FAST;
  return days * 86_400 + n * 3600 + (m1 * 10 + m2) * 60 + s1 * 10 + s2;
}

/**
 * The bulk fields of a line in LLaMA-Factory's own layout (`{"current_steps": N, "total_steps": N, "loss": …`),
 * by position; any other layout is read whole by decodeTrainerBytes. Gives the same values for these fields.
 */
export function decodeTrainerLite(buf: Uint8Array, from: number, to: number): LiteRecord | undefined {
  const rec = blankLite();
  if (liteFast(buf, from, to, rec) !== NOT_FAST) {
    const out: LiteRecord = { step: rec.step, totalSteps: rec.totalSteps };
    for (const k of LITE_OPTIONAL) if (rec[k] !== undefined) out[k] = rec[k];
    return out;
  }
  const full = decodeTrainerBytes(buf, from, to);
  return full && timed(full);
}

const LITE_OPTIONAL = ['loss', 'evalLoss', 'elapsedSeconds', 'vramAllocated', 'vramReserved'] as const;

/** A LiteRecord with every field present (undefined where absent): one shape, so one object can be reused. */
const blankLite = (): LiteRecord => ({
  step: 0,
  totalSteps: 0,
  loss: undefined,
  evalLoss: undefined,
  elapsedSeconds: undefined,
  vramAllocated: undefined,
  vramReserved: undefined,
});

/** Fills `rec` (every optional field reset) from a line in LLaMA-Factory's layout; NOT_FAST for any other. */
function liteFast(buf: Uint8Array, from: number, to: number, rec: LiteRecord): true | typeof NOT_FAST {
  if (buf[to - 1] !== RBRACE || !at(buf, from, P_STEP)) return NOT_FAST;
  let i = from + P_STEP.length;
  let step = 0;
  const s0 = i;
  while (buf[i]! >= 0x30 && buf[i]! <= 0x39) step = step * 10 + (buf[i++]! - 0x30);
  if (i === s0 || i - s0 > 15 || !at(buf, i, P_TOTAL)) return NOT_FAST;
  i += P_TOTAL.length;
  let totalSteps = 0;
  const t0 = i;
  while (buf[i]! >= 0x30 && buf[i]! <= 0x39) totalSteps = totalSteps * 10 + (buf[i++]! - 0x30);
  if (i === t0 || i - t0 > 15 || (buf[i] !== COMMA && buf[i] !== RBRACE)) return NOT_FAST;
  rec.step = step;
  rec.totalSteps = totalSteps;
  rec.loss = undefined;
  rec.evalLoss = undefined;
  rec.elapsedSeconds = undefined;
  rec.vramAllocated = undefined;
  rec.vramReserved = undefined;
  let p = i;
  // loss and eval_loss come first when present; then elapsed_time is found by Node's native search (it is on
  // every line LLaMA-Factory writes). A line without it, or with a nested value, an escape or a second record
  // run into it, goes to the full decoder.
  if (at(buf, p, P_LOSS)) {
    const vs = p + P_LOSS.length;
    const ve = valueEnd(buf, vs, to);
    if (ve < 0) return NOT_FAST;
    const v = bareNumber(buf, vs, ve);
    if (v === NOT_FAST) return NOT_FAST;
    if (v !== undefined) rec.loss = v;
    p = ve;
  }
  if (at(buf, p, P_EVAL_LOSS)) {
    const vs = p + P_EVAL_LOSS.length;
    const ve = valueEnd(buf, vs, to);
    if (ve < 0) return NOT_FAST;
    const v = bareNumber(buf, vs, ve);
    if (v === NOT_FAST) return NOT_FAST;
    if (v !== undefined) rec.evalLoss = v;
    p = ve;
  }
  const e = indexFrom(buf, P_ELAPSED, p);
  const gotElapsed = e >= 0 && e < to;
  if (gotElapsed) {
    const vs = e + P_ELAPSED.length;
    let ve = vs;
    while (ve < to && buf[ve] !== Q) ve++;
    if (ve >= to) return NOT_FAST;
    const secs = timedeltaAt(buf, vs, ve);
    if (secs === NOT_FAST) return NOT_FAST;
    rec.elapsedSeconds = secs;
    p = ve + 1;
  }
  const odd = indexFrom(buf, ODD, i);
  if (odd >= 0 && odd < to) return NOT_FAST;
  if (!gotElapsed && buf[p] !== RBRACE) return NOT_FAST;
  // The rest is only read from its end: the memory figures RECORD_VRAM adds come last.
  if (gotElapsed && buf[to - 2]! >= 0x30 && buf[to - 2]! <= 0x39) {
    let q = to - 2;
    while (q > p && buf[q] !== 0x20) q--;
    const vs = q + 1;
    if (q - P_VRAM_R.length >= p && at(buf, q - P_VRAM_R.length + 1, P_VRAM_R.subarray(0, P_VRAM_R.length - 1))) {
      const v = bareNumber(buf, vs, to - 1);
      if (v === NOT_FAST) return NOT_FAST;
      if (v !== undefined) rec.vramReserved = v;
    } else if (q - P_VRAM_A.length >= p && at(buf, q - P_VRAM_A.length + 1, P_VRAM_A.subarray(0, P_VRAM_A.length - 1))) {
      const v = bareNumber(buf, vs, to - 1);
      if (v === NOT_FAST) return NOT_FAST;
      if (v !== undefined) rec.vramAllocated = v;
    }
  }
  return true;
}

const P_ELAPSED = bytes('"elapsed_time": "');
const P_LOSS = bytes(', "loss": ');
const P_EVAL_LOSS = bytes(', "eval_loss": ');
/** `{` after the first byte: a nested value or a second record run into the line. */
const ODD = LBRACE;

const nativeIndexOf = (
  globalThis as { Buffer?: { prototype: { indexOf: (this: Uint8Array, v: Uint8Array | number, from: number) => number } } }
).Buffer?.prototype.indexOf;

/** Where `needle` first occurs in `hay` at or after `from` (Node's native search when there is one). */
function indexFrom(hay: Uint8Array, needle: Uint8Array | number, from: number): number {
  if (nativeIndexOf) return nativeIndexOf.call(hay, needle, from);
  if (typeof needle === 'number') return hay.indexOf(needle, from);
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * scanTrainerLines with the bulk decoder: for the part of a long log before its last few thousand lines. The
 * record handed to `onRecord` is one object reused for every line (no allocation per line): copy what you keep.
 */
export function scanTrainerLinesLite(buf: Uint8Array, from: number, to: number, onRecord: (rec: LiteRecord) => void): LineScan {
  const scratch = blankLite();
  let start = from;
  let skipped = 0;
  let lines = 0;
  for (;;) {
    const nl = indexFrom(buf, NL, start);
    if (nl < 0 || nl >= to) break;
    lines++;
    let end = nl;
    if (end > start && buf[end - 1] === 0x0d) end--;
    if (end > start && !(end - start <= 2 && isWs(buf[start]!))) {
      if (liteFast(buf, start, end, scratch) !== NOT_FAST) onRecord(scratch);
      else {
        const full = decodeTrainerBytes(buf, start, end);
        if (full) onRecord(timed(full));
        else if (!isBlank(buf, start, end)) skipped++;
      }
    }
    start = nl + 1;
  }
  return { consumed: start - from, skipped, lines };
}

function isBlank(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isWs(buf[i]!)) return false;
  return true;
}
