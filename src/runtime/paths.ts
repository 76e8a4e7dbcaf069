/** Where medtune's own files live (package root) and where it caches (venvs, downloads). */
import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// src/runtime/paths.ts and dist/runtime/paths.js both sit two levels below the package root.
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PYTHON_DIR = join(PACKAGE_ROOT, 'python');
export const TEMPLATES_DIR = join(PACKAGE_ROOT, 'templates');
export const REQUIREMENTS_FILE = join(PYTHON_DIR, 'requirements.txt');

/** Where medtune keeps what is about this machine rather than a workspace (the registry of running servers). */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MEDTUNE_STATE_DIR) return resolve(env.MEDTUNE_STATE_DIR);
  const xdg = env.XDG_STATE_HOME ? resolve(env.XDG_STATE_HOME) : join(homedir(), '.local', 'state');
  return join(xdg, 'medtune');
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MEDTUNE_CACHE) return resolve(env.MEDTUNE_CACHE);
  const xdg = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(xdg, 'medtune');
}
