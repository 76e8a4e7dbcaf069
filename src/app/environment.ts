/** The machine medtune runs on: the managed venv (`setup`), the checks a first run depends on (`doctor`), its version. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { extraPackages, installExtras } from '../runtime/extras.js';
import { ensureLlamaCpp, type LlamaCpp, type LlamaSetupOptions } from '../runtime/llamacpp.js';
import { runDoctor, type DoctorReport } from '../runtime/doctor.js';
import { PACKAGE_ROOT } from '../runtime/paths.js';
import { ensureVenv, type SetupOptions, type Venv } from '../runtime/venv.js';
import type { App } from './context.js';

/**
 * Builds the managed venv, or finds the one built for these pins; `with` adds trackers' packages to it (checked
 * before anything is built; the pins and the venv's name stay as they are).
 */
export async function setup(
  opts: SetupOptions & { with?: readonly string[] } = {},
): Promise<{ venv: Venv; built: boolean; extras: Record<string, string> }> {
  if (opts.with) extraPackages(opts.with);
  const { venv, built } = await ensureVenv(opts);
  const extras = opts.with?.length ? await installExtras(venv, opts.with, opts.onEvent) : {};
  return { venv, built, extras };
}

/** Every check a newcomer's first run depends on, each failure with its fix. */
export async function doctor(app: App): Promise<DoctorReport> {
  return runDoctor(app.ws, app.env);
}

/** medtune's own version (package.json). */
export function version(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Builds the pinned llama.cpp (converter, quantiser, multimodal CLI) for `export --gguf`, once per machine. */
export async function setupLlamaCpp(venv: Venv, opts: LlamaSetupOptions = {}): Promise<{ llama: LlamaCpp; built: boolean }> {
  return ensureLlamaCpp(venv, opts);
}
