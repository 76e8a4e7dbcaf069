/**
 * Builds the managed venv once before any test file runs (minutes on a fresh machine, under a second when the
 * user cache already has it). Integration tests then call requireVenv(). Only the integration project has
 * this setup (the unit and tui projects never need the venv); MEDTUNE_SKIP_VENV=1 skips it for an integration file that does
 * not need the venv either.
 */
import { ensureVenv } from '../src/runtime/venv.js';

export default async function setup(): Promise<void> {
  if (process.env.MEDTUNE_SKIP_VENV === '1') return;
  const started = Date.now();
  const { venv, built } = await ensureVenv({
    onEvent: (e) => {
      if (e.kind === 'phase') process.stderr.write(`[venv] ${e.message}\n`);
    },
  });
  process.stderr.write(`[venv] ${built ? 'built' : 'reused'} ${venv.dir} in ${Math.round((Date.now() - started) / 1000)} s\n`);
}
