/** Small file questions asked in many places, answered once: is this a model or an adapter folder, what are a log's last lines. */
import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes read from the end of a log for a tail: enough for a traceback, small for a 10 GB log. */
export const TAIL_BYTES = 64 * 1024;

/** A file that exists and holds at least one byte. */
export async function nonEmptyFile(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  return st?.isFile() === true && st.size > 0;
}

/** A folder transformers can load a model from (it has config.json). */
export function isModelDir(dir: string): boolean {
  return existsSync(join(dir, 'config.json'));
}

/** A folder holding a PEFT LoRA adapter: its config and its weights. */
export function isAdapterDir(dir: string): boolean {
  return (
    existsSync(join(dir, 'adapter_config.json')) &&
    (existsSync(join(dir, 'adapter_model.safetensors')) || existsSync(join(dir, 'adapter_model.bin')))
  );
}

async function readTail(file: string, bytes: number): Promise<{ text: string; cut: boolean }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return { text: '', cut: false };
  }
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    return { text: buf.subarray(0, bytesRead).toString('utf8'), cut: start > 0 };
  } finally {
    await fh.close();
  }
}

/** The last `bytes` of a file as text ('' when it does not exist). */
export async function tailText(file: string, bytes = TAIL_BYTES): Promise<string> {
  return (await readTail(file, bytes)).text;
}

/**
 * The last `n` non-blank lines of a file. A tqdm bar redraws with `\r`: only its last state counts. The first
 * line of a window that starts mid-file is a fragment and is dropped.
 */
export async function tailLines(file: string, n: number, bytes = TAIL_BYTES): Promise<string[]> {
  const { text, cut } = await readTail(file, bytes);
  const all = text.split('\n');
  return (cut ? all.slice(1) : all)
    .map((l) => l.split('\r').filter(Boolean).pop() ?? '')
    .filter((l) => l.trim() !== '')
    .slice(-n);
}
