/** Checks that a model folder (an export, a model under models/) has all its weights before anything loads it. */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { SAFETENSORS_PROBE_BYTES, safetensorsProblem, shardsOfIndex } from '../core/safetensors.js';

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
