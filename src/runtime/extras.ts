/**
 * `medtune setup --with NAME`: packages a built venv does not pin (the trackers but TensorBoard), installed into it
 * under the pins as constraints, so nothing pinned moves and the venv keeps its name (the hash of the pins). What
 * was added is recorded in the venv's marker (`extras`), which is what a run's pre-flight reads.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { MedtuneError } from '../core/errors.js';
import { normalizePackage, TRACKER_NAMES, TRACKERS } from '../core/trackers.js';
import { readJsonIfExists, withLock, writeJsonAtomic } from './atomic.js';
import { MARKER, pip, type SetupEvent, type Venv, type VenvMarker } from './venv.js';

/** The pip packages of `--with` names; an unknown name is refused before pip runs. */
export function extraPackages(names: readonly string[]): string[] {
  const unknown = names.filter((n) => !TRACKERS[n]);
  if (unknown.length) {
    throw new MedtuneError({
      doing: 'reading --with',
      problem: `${unknown.map((n) => `"${n}"`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not something setup adds`,
      next: `pass --with ${TRACKER_NAMES.join(' | ')}`,
      code: 'BAD_OPTION',
    });
  }
  return [...new Set(names.flatMap((n) => TRACKERS[n]!.pipPackages))];
}

/** Installs the packages (pins held as constraints) and records their versions in the marker; returns them. */
export async function installExtras(
  venv: Venv,
  names: readonly string[],
  onEvent: (e: SetupEvent) => void = () => {},
): Promise<Record<string, string>> {
  const packages = extraPackages(names);
  if (!packages.length) return {};
  onEvent({ kind: 'phase', phase: 'install', message: `installing ${packages.join(', ')} into ${venv.dir} (its pins held)` });
  await pip(venv.python, ['install', '-c', join(venv.dir, 'medtune-requirements.txt'), ...packages], onEvent, process.env);
  const dists = [...new Set(names.flatMap((n) => TRACKERS[n]!.needs))];
  const r = await execa(venv.python, [
    '-c',
    'import json, sys, importlib.metadata as m\nprint(json.dumps({n: m.version(n) for n in sys.argv[1:]}))',
    ...dists,
  ]);
  const versions = JSON.parse(r.stdout) as Record<string, string>;
  const file = join(venv.dir, MARKER);
  await withLock(file, async () => {
    const marker = (await readJsonIfExists<VenvMarker>(file)) ?? venv.marker;
    marker.extras = { ...(marker.extras ?? {}), ...Object.fromEntries(Object.entries(versions).map(([k, v]) => [normalizePackage(k), v])) };
    await writeJsonAtomic(file, marker);
    venv.marker = marker;
  });
  return versions;
}
