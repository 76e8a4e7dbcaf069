/**
 * medtune's pinned llama.cpp: the converter (Python, run in the venv) and two tools (llama-mtmd-cli to verify and
 * ask, llama-quantize), from the llama.cpp source that the pinned llama-cpp-python sdist vendors, fetched from PyPI
 * with the venv's pip and built once per machine into the user cache. Like the venv, it counts as built only when
 * its marker exists, written last; an interrupted build is resumed by CMake (it rebuilds only what is missing) and
 * never used before the marker says it is whole.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { MedtuneError } from '../core/errors.js';
import { cmakePercent } from '../core/gguf.js';
import { LineSplitter } from '../core/protocol.js';
import { readJsonIfExists, withLock, writeJsonAtomic } from './atomic.js';
import { cacheRoot } from './paths.js';
import type { Venv } from './venv.js';

/** llama-cpp-python's sdist carries llama.cpp's whole source under vendor/llama.cpp (commit 0c1e570, 2026-10-01). */
export const LLAMA_CPP_PIN = { package: 'llama-cpp-python', version: '0.3.36' } as const;
export const LLAMA_CPP_TOOLS = ['llama-mtmd-cli', 'llama-quantize'] as const;
const MARKER = 'medtune-llama.json';

/**
 * Built for this CPU (GGML_NATIVE): the cache is per machine and per architecture, and a native build answers
 * several times faster than the portable SSE-only one. Static, so the two tools need no library path; no
 * OpenSSL (nothing here downloads).
 */
export const CMAKE_FLAGS = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DBUILD_SHARED_LIBS=OFF',
  '-DGGML_NATIVE=ON',
  '-DLLAMA_OPENSSL=OFF',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_EXAMPLES=OFF',
  '-DLLAMA_BUILD_SERVER=OFF',
  '-DLLAMA_BUILD_APP=OFF',
];

export interface LlamaCppMarker {
  version: string;
  arch: string;
  createdAt: string;
  /** Seconds the build took (download, configure, compile). */
  seconds: number;
  flags: string[];
}

export interface LlamaCpp {
  dir: string;
  /** llama.cpp's source: convert_hf_to_gguf.py, conversion/, gguf-py/. */
  src: string;
  mtmdCli: string;
  quantize: string;
  marker: LlamaCppMarker;
}

export type LlamaBuildEvent =
  | { kind: 'phase'; phase: 'download' | 'extract' | 'configure' | 'compile' | 'done'; message: string }
  | { kind: 'compile'; percent: number; message: string };

export function llamaCppDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), `llama.cpp-py${LLAMA_CPP_PIN.version}-${arch()}`);
}

function toLlamaCpp(dir: string, marker: LlamaCppMarker): LlamaCpp {
  return {
    dir,
    src: join(dir, 'src'),
    mtmdCli: join(dir, 'bin', 'llama-mtmd-cli'),
    quantize: join(dir, 'bin', 'llama-quantize'),
    marker,
  };
}

export async function locateLlamaCpp(env: NodeJS.ProcessEnv = process.env): Promise<{ dir: string; ready: LlamaCpp | null }> {
  const dir = llamaCppDir(env);
  const marker = await readJsonIfExists<LlamaCppMarker>(join(dir, MARKER)).catch(() => undefined);
  const ok = marker?.version === LLAMA_CPP_PIN.version && LLAMA_CPP_TOOLS.every((t) => existsSync(join(dir, 'bin', t)));
  return { dir, ready: ok && marker ? toLlamaCpp(dir, marker) : null };
}

/** The built llama.cpp, or an error that says how to build it. */
export async function requireLlamaCpp(doing: string, env: NodeJS.ProcessEnv = process.env): Promise<LlamaCpp> {
  const loc = await locateLlamaCpp(env);
  if (loc.ready) return loc.ready;
  throw new MedtuneError({
    doing,
    problem: `llama.cpp (pinned: ${LLAMA_CPP_PIN.package} ${LLAMA_CPP_PIN.version}'s source) is not built on this machine (expected at ${loc.dir})`,
    next: 'run `medtune setup --gguf` (it builds llama.cpp once: cmake and a C++ compiler needed; `medtune doctor` checks them)',
    code: 'LLAMA_CPP_MISSING',
  });
}

/** Which build tools are on PATH: what `doctor` reports and what the build needs. */
export async function buildToolsPresent(env: NodeJS.ProcessEnv = process.env): Promise<{ cmake: string | null; cxx: string | null }> {
  const version = async (cmd: string) => {
    const r = await execa(cmd, ['--version'], { reject: false, env });
    return r.exitCode === 0 ? String(r.stdout).split('\n')[0]!.trim() : null;
  };
  const [cmake, gxx, cxx] = await Promise.all([version('cmake'), version(env.CXX ?? 'g++'), version('c++')]);
  return { cmake, cxx: gxx ?? cxx };
}

async function step(
  doing: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env: NodeJS.ProcessEnv; onLine?: (line: string) => void; signal?: AbortSignal },
): Promise<void> {
  const child = execa(cmd, args, {
    cwd: opts.cwd,
    env: opts.env,
    all: true,
    reject: false,
    stdin: 'ignore',
    cancelSignal: opts.signal,
    forceKillAfterDelay: 5_000,
  });
  const split = new LineSplitter();
  const tail: string[] = [];
  child.all?.setEncoding('utf8');
  child.all?.on('data', (chunk: string) => {
    for (const line of split.push(chunk)) {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      opts.onLine?.(line);
    }
  });
  const r = await child;
  if (r.isCanceled) {
    throw new MedtuneError({
      doing,
      problem: 'cancelled',
      next: 'run `medtune setup --gguf` again: it goes on where it stopped',
      code: 'CANCELLED',
    });
  }
  if (r.exitCode !== 0) {
    throw new MedtuneError({
      doing,
      problem: `${cmd} ${args[0] ?? ''} exited with code ${r.exitCode ?? r.signal}`,
      details: tail.filter((l) => l.trim()).slice(-12),
      next: 'check `medtune doctor` (cmake, a C++ compiler, free disk), then run `medtune setup --gguf` again',
      code: 'LLAMA_CPP_BUILD_FAILED',
    });
  }
}

export interface LlamaSetupOptions {
  env?: NodeJS.ProcessEnv;
  onEvent?: (e: LlamaBuildEvent) => void;
  signal?: AbortSignal;
}

/** Builds llama.cpp if needed (once per machine: 51 min measured on a busy 2-core machine); later calls return at once. */
export async function ensureLlamaCpp(venv: Venv, opts: LlamaSetupOptions = {}): Promise<{ llama: LlamaCpp; built: boolean }> {
  const env = opts.env ?? process.env;
  const onEvent = opts.onEvent ?? (() => {});
  const first = await locateLlamaCpp(env);
  if (first.ready) return { llama: first.ready, built: false };
  const doing = `building llama.cpp (${LLAMA_CPP_PIN.package} ${LLAMA_CPP_PIN.version}'s source)`;
  const tools = await buildToolsPresent(env);
  if (!tools.cmake || !tools.cxx) {
    throw new MedtuneError({
      doing,
      problem: `${[!tools.cmake && 'cmake', !tools.cxx && 'a C++ compiler (g++)'].filter(Boolean).join(' and ')} not found on PATH`,
      next: 'install them (Debian/Ubuntu: sudo apt-get install cmake g++; macOS: xcode-select --install && brew install cmake), then run `medtune setup --gguf`',
      code: 'BUILD_TOOLS_MISSING',
    });
  }
  const dir = first.dir;
  await mkdir(dir, { recursive: true });
  return withLock(
    dir,
    async () => {
      const again = await locateLlamaCpp(env);
      if (again.ready) return { llama: again.ready, built: false };
      const started = Date.now();
      const download = join(dir, 'download');
      const sdist = `llama_cpp_python-${LLAMA_CPP_PIN.version}.tar.gz`;
      onEvent({
        kind: 'phase',
        phase: 'download',
        message: `fetching ${LLAMA_CPP_PIN.package} ${LLAMA_CPP_PIN.version}'s source (76 MB) with pip`,
      });
      await step(
        `${doing}: downloading its source`,
        venv.python,
        [
          '-m',
          'pip',
          'download',
          '--no-deps',
          '--no-binary',
          ':all:',
          '-d',
          download,
          `${LLAMA_CPP_PIN.package}==${LLAMA_CPP_PIN.version}`,
        ],
        { env: { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_PROGRESS_BAR: 'off' }, signal: opts.signal },
      );
      if (!(await readdir(download)).includes(sdist)) {
        throw new MedtuneError({
          doing,
          problem: `pip did not leave ${sdist} in ${download}`,
          next: 'check that PyPI (or your pip index) serves the sdist, then run `medtune setup --gguf` again',
          code: 'LLAMA_CPP_BUILD_FAILED',
        });
      }
      onEvent({ kind: 'phase', phase: 'extract', message: 'unpacking llama.cpp from vendor/llama.cpp' });
      const src = join(dir, 'src');
      await rm(src, { recursive: true, force: true });
      await mkdir(src, { recursive: true });
      await step(
        `${doing}: unpacking its source`,
        'tar',
        ['xzf', join(download, sdist), '--strip-components=3', '-C', src, `llama_cpp_python-${LLAMA_CPP_PIN.version}/vendor/llama.cpp`],
        { env, signal: opts.signal },
      );
      onEvent({ kind: 'phase', phase: 'configure', message: 'cmake: configuring (native CPU, static, Release)' });
      const build = join(dir, 'build');
      await step(`${doing}: cmake configure`, 'cmake', ['-S', src, '-B', build, ...CMAKE_FLAGS], { env, signal: opts.signal });
      onEvent({ kind: 'phase', phase: 'compile', message: `compiling ${LLAMA_CPP_TOOLS.join(' and ')} only` });
      let last = -1;
      await step(
        `${doing}: compiling`,
        'cmake',
        ['--build', build, '--target', ...LLAMA_CPP_TOOLS, '-j', String(Math.max(1, Number(env.MEDTUNE_BUILD_JOBS) || 2))],
        {
          env,
          signal: opts.signal,
          onLine: (line) => {
            const p = cmakePercent(line);
            if (p !== null && p !== last) {
              last = p;
              onEvent({ kind: 'compile', percent: p, message: line.trim() });
            }
          },
        },
      );
      await mkdir(join(dir, 'bin'), { recursive: true });
      for (const t of LLAMA_CPP_TOOLS) await copyFile(join(build, 'bin', t), join(dir, 'bin', t));
      // The tools are static copies: the object files and the sdist are not needed any more.
      await rm(build, { recursive: true, force: true });
      await rm(download, { recursive: true, force: true });
      const marker: LlamaCppMarker = {
        version: LLAMA_CPP_PIN.version,
        arch: arch(),
        createdAt: new Date().toISOString(),
        seconds: Math.round((Date.now() - started) / 1000),
        flags: CMAKE_FLAGS,
      };
      await writeJsonAtomic(join(dir, MARKER), marker);
      onEvent({ kind: 'phase', phase: 'done', message: `llama.cpp ready at ${dir} (${marker.seconds} s)` });
      return { llama: toLlamaCpp(dir, marker), built: true };
    },
    { timeoutMs: 90 * 60_000 },
  );
}
