/**
 * Every test file starts from the same environment, whatever the developer's shell exports: medtune's own
 * variables change what it does (workspace, API key, nvidia-smi, scan threads…), so they are removed here.
 * Kept on purpose: where this machine keeps the venv and what builds it (MEDTUNE_CACHE, MEDTUNE_VENV,
 * MEDTUNE_PYTHON, MEDTUNE_WHEELS: the global setup builds or reuses it there, and a test that needs another one
 * passes its own), and MEDTUNE_SKIP_VENV (the suite's switch to skip that build). Tests that need a variable set
 * it themselves, on the child process or around the call.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const KEEP = new Set(['MEDTUNE_CACHE', 'MEDTUNE_VENV', 'MEDTUNE_PYTHON', 'MEDTUNE_WHEELS', 'MEDTUNE_SKIP_VENV']);

for (const name of Object.keys(process.env)) {
  if (name.startsWith('MEDTUNE_') && !KEEP.has(name)) delete process.env[name];
}

// Servers register themselves machine-wide (a pointer per server in the state folder): tests keep theirs in a
// folder of the test run, so a developer's own servers never appear in a test and tests never leave pointers.
process.env.MEDTUNE_STATE_DIR = mkdtempSync(join(tmpdir(), 'medtune-state-'));
