/** Checks that a model folder (an export, a model under models/) has all its weights before anything loads it. */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { SAFETENSORS_PROBE_BYTES, safetensorsProblem, shardsOfIndex, tensorNamesOfHeader } from '../core/safetensors.js';
import { moduleNamesOf, type ModelFacts } from '../core/options.js';

async function checkFile(path: string): Promise<string | null> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) return 'it is missing';
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(st.size, SAFETENSORS_PROBE_BYTES));
    await fh.read(head, 0, head.length, 0);
    return safetensorsProblem(st.size, head);
  } finally {
    await fh.close();
  }
}

/**
 * Throws a MedtuneError naming the first missing or cut-short weights file of `dir`. Folders with only
 * pytorch_model.bin weights (or none medtune knows) are left to the loader.
 */
export async function checkModelWeights(dir: string, what: { doing: string; fix: string }): Promise<void> {
  const index = join(dir, 'model.safetensors.index.json');
  let files: string[];
  const indexText = await readFile(index, 'utf8').catch(() => null);
  if (indexText !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(indexText);
    } catch (err) {
      throw new MedtuneError({
        doing: what.doing,
        problem: `${index} is not valid JSON (${(err as Error).message})`,
        next: what.fix,
        code: 'WEIGHTS_INCOMPLETE',
      });
    }
    files = shardsOfIndex(parsed);
    const outside = files.find((f) => !resolve(dir, f).startsWith(resolve(dir) + sep));
    if (outside || !files.length) {
      throw new MedtuneError({
        doing: what.doing,
        problem: `${index} ${outside ? `names a shard outside the folder (${outside})` : 'names no shard'}`,
        next: what.fix,
        code: 'WEIGHTS_INCOMPLETE',
      });
    }
  } else if (
    await stat(join(dir, 'model.safetensors')).then(
      () => true,
      () => false,
    )
  ) {
    files = ['model.safetensors'];
  } else {
    const any = await stat(join(dir, 'pytorch_model.bin')).then(
      () => true,
      () => false,
    );
    if (any) return;
    throw new MedtuneError({
      doing: what.doing,
      problem: `${dir} has no weights (no model.safetensors, model.safetensors.index.json or pytorch_model.bin)`,
      next: what.fix,
      code: 'WEIGHTS_INCOMPLETE',
    });
  }
  const bad: string[] = [];
  for (const f of files) {
    const problem = await checkFile(join(dir, f));
    if (problem) bad.push(`${basename(f)}: ${problem}`);
  }
  if (bad.length) {
    throw new MedtuneError({
      doing: what.doing,
      problem: `${bad.length} of ${files.length} weights file${files.length > 1 ? 's' : ''} in ${dir} ${bad.length > 1 ? 'are' : 'is'} missing or damaged (${bad[0]})`,
      details: bad.slice(1),
      next: what.fix,
      code: 'WEIGHTS_INCOMPLETE',
    });
  }
}

/** The tensor names of a model folder's weights (from the index, else the header of model.safetensors); null if unknown. */
async function tensorNames(dir: string): Promise<string[] | null> {
  const index = await readFile(join(dir, 'model.safetensors.index.json'), 'utf8').catch(() => null);
  if (index !== null) {
    try {
      const map = (JSON.parse(index) as { weight_map?: Record<string, unknown> }).weight_map;
      return map && typeof map === 'object' ? Object.keys(map) : null;
    } catch {
      return null;
    }
  }
  const fh = await open(join(dir, 'model.safetensors'), 'r').catch(() => null);
  if (!fh) return null;
  try {
    const len = Buffer.alloc(8);
    await fh.read(len, 0, 8, 0);
    const headerLen = Number(len.readBigUInt64LE(0));
    if (headerLen <= 0 || headerLen > 100 * 2 ** 20) return null;
    const head = Buffer.alloc(8 + headerLen);
    await fh.read(head, 0, head.length, 0);
    return tensorNamesOfHeader(head);
  } finally {
    await fh.close();
  }
}

/** What the option checks need to know of a model: its positions (config.json) and its module names (its weights). */
export async function readModelFacts(dir: string): Promise<ModelFacts> {
  const config = await readFile(join(dir, 'config.json'), 'utf8')
    .then((t) => JSON.parse(t) as Record<string, unknown>)
    .catch(() => ({}) as Record<string, unknown>);
  const text = (config.text_config && typeof config.text_config === 'object' ? config.text_config : config) as Record<string, unknown>;
  const positions = text.max_position_embeddings ?? config.max_position_embeddings;
  const names = await tensorNames(dir);
  return {
    maxPositions: typeof positions === 'number' && positions > 0 ? positions : null,
    moduleNames: names ? moduleNamesOf(names) : null,
  };
}
