#!/usr/bin/env node
// medtune's Python development tools, for `npm test`:
//   node scripts/pytools.mjs lint               ruff check on python/, bench/ and test/fixtures/ (ruff.toml)
//   node scripts/pytools.mjs test PYTHON [ARGS] pytest python/tests under PYTHON (the training venv's python)
// The tools (python/requirements-dev.txt) live in a venv of their own, built once per pin set into
// $MEDTUNE_CACHE (default ~/.cache/medtune)/pytools-<hash> from PyPI, so the training venv and its hash never change.
// pytest runs under the training venv's Python with the tools venv's packages appended to sys.path: the
// training venv's own packages win wherever both have one.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pins = join(root, 'python', 'requirements-dev.txt');
const basePython = process.env.MEDTUNE_PYTHON ?? 'python3';

function fail(doing, problem, next) {
  console.error(`✗ While ${doing}: ${problem}\n  Next: ${next}`);
  process.exit(1);
}

/** The tools venv for these pins, built if missing (into a scratch folder first, so a half-built one never counts). */
function toolsVenv() {
  const cache = process.env.MEDTUNE_CACHE ?? join(homedir(), '.cache', 'medtune');
  const hash = createHash('sha256').update(readFileSync(pins)).digest('hex').slice(0, 12);
  const dir = join(cache, `pytools-${hash}`);
  if (existsSync(join(dir, 'bin', 'ruff'))) return dir;
  const scratch = `${dir}.tmp-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  const steps = [
    [basePython, ['-m', 'venv', scratch]],
    [join(scratch, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', pins]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) {
      rmSync(scratch, { recursive: true, force: true });
      fail('installing the Python dev tools (ruff, pytest)', `${cmd} ${args.join(' ')} exited ${r.status ?? r.error?.message}`, `check that ${basePython} has venv and that PyPI can be reached, then run npm test again`);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  return dir;
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'lint') {
  const r = spawnSync(join(toolsVenv(), 'bin', 'ruff'), ['check', 'python', 'bench', 'test/fixtures'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else if (command === 'test' && rest[0]) {
  const [python, ...args] = rest;
  const tools = toolsVenv();
  const site = execFileSync(join(tools, 'bin', 'python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
  const run = `import sys; sys.path.append(${JSON.stringify(site)}); import pytest; raise SystemExit(pytest.main(sys.argv[1:]))`;
  const r = spawnSync(python, ['-c', run, '-p', 'no:cacheprovider', 'tests', ...args], { cwd: join(root, 'python'), stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else {
  console.error('usage: node scripts/pytools.mjs lint | test PYTHON [PYTEST ARGS...]');
  process.exit(2);
}
