/**
 * GGUF files of a merged export, with llama.cpp's own tools: the converter (language model + vision projector, f16),
 * llama-quantize for the smaller types, an Ollama Modelfile per type, and llama-mtmd-cli to ask them about an image.
 * Everything is written to a pending folder and renamed to exports/<name>/gguf/ only when it all worked.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { MedtuneError } from '../core/errors.js';
import {
  GGUF_TYPE_FACTS,
  ggufFileName,
  ggufShapesOf,
  isGgufType,
  mmprojFileName,
  modelfileName,
  ollamaModelfile,
  quantizeProgress,
  type GgufShapes,
  type GgufType,
} from '../core/gguf.js';
import { z } from 'zod';
import type { DataProgress } from '../core/dataset.js';
import { LineSplitter } from '../core/protocol.js';
import { readJsonIfExists, writeJsonAtomic } from './atomic.js';
import { runHelper } from './pythonhelper.js';
import type { LlamaCpp } from './llamacpp.js';
import type { Venv } from './venv.js';

export const GGUF_DIR = 'gguf';

/** What gguf_convert.py reports: each file it wrote, with its size and time. */
const ConvertResult = z.object({
  files: z.array(z.object({ file: z.string(), bytes: z.number(), seconds: z.number() })),
});
/** What the export's gguf/ folder holds, written last. */
const MANIFEST = 'gguf.json';

export interface GgufFile {
  type: GgufType;
  file: string;
  bytes: number;
  modelfile: string;
}

export interface GgufManifest {
  export: string;
  mmproj: { file: string; bytes: number };
  models: GgufFile[];
  llamaCpp: string;
  convertSeconds: number;
  quantizeSeconds: number;
}

export async function readGgufShapes(modelDir: string): Promise<GgufShapes | null> {
  const config = await readJsonIfExists<Record<string, unknown>>(join(modelDir, 'config.json')).catch(() => undefined);
  return config ? ggufShapesOf(config) : null;
}

export async function readGgufManifest(exportDir: string): Promise<GgufManifest | null> {
  return (await readJsonIfExists<GgufManifest>(join(exportDir, GGUF_DIR, MANIFEST)).catch(() => undefined)) ?? null;
}

async function run(
  doing: string,
  cmd: string,
  args: string[],
  log: string,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<{ stdout: string; seconds: number }> {
  const started = Date.now();
  const child = execa(cmd, args, { reject: false, stdin: 'ignore', cancelSignal: signal, forceKillAfterDelay: 5_000 });
  const err: string[] = [];
  const split = new LineSplitter();
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    for (const line of split.push(chunk)) {
      err.push(line);
      onLine(line);
    }
  });
  const r = await child;
  await writeFile(log, `$ ${[cmd, ...args].join(' ')}\n${err.join('\n')}\n--- stdout\n${String(r.stdout)}\n`, { flag: 'a' });
  if (r.isCanceled)
    throw new MedtuneError({ doing, problem: 'cancelled', next: 'nothing was kept; run it again when ready', code: 'CANCELLED' });
  if (r.exitCode !== 0) {
    throw new MedtuneError({
      doing,
      problem: `${basename(cmd)} exited with code ${r.exitCode ?? r.signal}`,
      details: err.filter((l) => l.trim()).slice(-10),
      next: `full log: ${log}`,
      code: 'GGUF_TOOL_FAILED',
    });
  }
  return { stdout: String(r.stdout), seconds: (Date.now() - started) / 1000 };
}

export interface ConvertOptions {
  venv: Venv;
  llama: LlamaCpp;
  /** The merged model folder (exports/<name>). */
  exportDir: string;
  types: GgufType[];
  onProgress?: (e: DataProgress) => void;
  signal?: AbortSignal;
}

/** Converts (f16 model + f16 mmproj), quantises each other type from the f16 file, writes Modelfiles. */
export async function convertToGguf(opts: ConvertOptions): Promise<GgufManifest> {
  const name = basename(opts.exportDir);
  const dir = join(opts.exportDir, GGUF_DIR);
  const pending = join(opts.exportDir, `.pending-${GGUF_DIR}`);
  const doing = `converting export ${name} to GGUF`;
  if (existsSync(dir)) {
    throw new MedtuneError({
      doing,
      problem: `${dir} already exists`,
      next: `remove it to convert again: rm -r ${dir}`,
      code: 'GGUF_EXISTS',
    });
  }
  const progress = opts.onProgress ?? (() => {});
  const steps = 2 + opts.types.filter((t) => t !== 'f16').length;
  await rm(pending, { recursive: true, force: true });
  await mkdir(pending, { recursive: true });
  // Outside the pending folder, so that the log of a failed conversion survives it.
  const log = join(opts.exportDir, 'gguf.log');
  try {
    const f16 = join(pending, ggufFileName(name, 'f16'));
    const mmproj = join(pending, mmprojFileName(name));
    const started = Date.now();
    await runHelper(
      'gguf_convert',
      ['--llama-src', opts.llama.src, '--model', opts.exportDir, '--out-model', f16, '--out-mmproj', mmproj],
      ConvertResult,
      {
        venv: opts.venv,
        doing,
        stderrFile: log,
        signal: opts.signal,
        env: { HF_HUB_OFFLINE: '1' },
        onEvent: (e) => {
          if (e.event === 'progress') progress({ phase: e.phase, done: e.done ?? 0, total: steps });
        },
      },
    );
    const convertSeconds = (Date.now() - started) / 1000;
    const qStarted = Date.now();
    let step = 2;
    for (const type of opts.types) {
      if (type === 'f16') continue;
      const phase = `quantising to ${type}`;
      progress({ phase, done: step, total: steps });
      await run(
        `${doing}: ${phase}`,
        opts.llama.quantize,
        [f16, join(pending, ggufFileName(name, type)), GGUF_TYPE_FACTS[type].quantName],
        log,
        (line) => {
          const q = quantizeProgress(line);
          if (q) progress({ phase, done: step, total: steps, message: `tensor ${q.done}/${q.total}` });
        },
        opts.signal,
      );
      step++;
    }
    if (!opts.types.includes('f16')) await rm(f16);
    const models: GgufFile[] = [];
    for (const type of opts.types) {
      const file = ggufFileName(name, type);
      await writeFile(join(pending, modelfileName(type)), ollamaModelfile(file, mmprojFileName(name)));
      models.push({ type, file, bytes: (await stat(join(pending, file))).size, modelfile: modelfileName(type) });
    }
    const manifest: GgufManifest = {
      export: name,
      mmproj: { file: mmprojFileName(name), bytes: (await stat(mmproj)).size },
      models,
      llamaCpp: opts.llama.marker.version,
      convertSeconds: Math.round(convertSeconds * 10) / 10,
      quantizeSeconds: Math.round((Date.now() - qStarted) / 100) / 10,
    };
    await writeJsonAtomic(join(pending, MANIFEST), manifest);
    await rename(pending, dir);
    return manifest;
  } catch (err) {
    await rm(pending, { recursive: true, force: true });
    throw err;
  }
}

export interface GgufAnswer {
  model: string;
  mmproj: string;
  images: string[];
  prompt: string;
  text: string;
  seconds: number;
}

/** Asks llama-mtmd-cli about one image with the model and its projector: greedy, like the other checks. */
export async function askGguf(
  llama: LlamaCpp,
  o: { model: string; mmproj: string; images: string[]; prompt: string; maxTokens?: number; log: string; signal?: AbortSignal },
): Promise<GgufAnswer> {
  const args = ['-m', o.model, '--mmproj', o.mmproj, ...o.images.flatMap((i) => ['--image', i]), '-p', o.prompt];
  args.push('-n', String(o.maxTokens ?? 64), '--temp', '0', '-c', '4096', '--seed', '0');
  const r = await run(`asking ${basename(o.model)} through llama.cpp`, llama.mtmdCli, args, o.log, () => {}, o.signal);
  const text = r.stdout.trim();
  return { model: o.model, mmproj: o.mmproj, images: o.images, prompt: o.prompt, text, seconds: Math.round(r.seconds * 100) / 100 };
}

/** The model and projector files of an export's gguf/ folder, for `ask gguf:NAME[/TYPE]`. */
export async function ggufFilesOf(exportDir: string, type?: string): Promise<{ model: string; mmproj: string; type: GgufType }> {
  const m = await readGgufManifest(exportDir);
  const doing = `opening the GGUF files of ${exportDir}`;
  if (!m) {
    throw new MedtuneError({
      doing,
      problem: `${join(exportDir, GGUF_DIR)} holds no finished GGUF export`,
      next: `convert it (the merged model is reused): medtune export RUN --name ${basename(exportDir)} --gguf q8_0, with RUN the run it was merged from`,
      code: 'GGUF_MISSING',
    });
  }
  const pick = type ? m.models.find((f) => f.type === type) : m.models[0];
  if (!pick || (type && !isGgufType(type))) {
    throw new MedtuneError({
      doing,
      problem: `no ${type} file there (it has ${m.models.map((f) => f.type).join(', ')})`,
      next: `ask one of them: ${m.models.map((f) => `gguf:${m.export}/${f.type}`).join(' or ')}`,
      code: 'GGUF_MISSING',
    });
  }
  const dir = join(exportDir, GGUF_DIR);
  return { model: join(dir, pick.file), mmproj: join(dir, m.mmproj.file), type: pick.type };
}

/** Adds `gguf` to an export's verify.json, keeping what the safetensors check wrote. */
export async function recordGgufVerify(verifyJson: string, gguf: unknown): Promise<void> {
  const current = existsSync(verifyJson) ? (JSON.parse(await readFile(verifyJson, 'utf8')) as Record<string, unknown>) : {};
  await writeJsonAtomic(verifyJson, { ...current, gguf });
}

export const GGUF_PREFIX = 'gguf:';

/**
 * What `gguf:REF` names: an export's GGUF (`gguf:NAME`, its first type, or `gguf:NAME/TYPE`), or a .gguf file
 * whose folder holds one mmproj*.gguf (a copy made for a laptop).
 */
export async function resolveGgufRef(exportsDir: string, ref: string): Promise<{ model: string; mmproj: string; label: string }> {
  const body = ref.slice(GGUF_PREFIX.length);
  if (body.endsWith('.gguf')) {
    const model = resolve(body);
    const doing = `opening ${model}`;
    if (!existsSync(model)) throw new MedtuneError({ doing, problem: 'no such file', next: 'check the path', code: 'GGUF_MISSING' });
    const projectors = (await readdir(dirname(model))).filter((f) => /^mmproj.*\.gguf$/i.test(f) && join(dirname(model), f) !== model);
    if (projectors.length !== 1) {
      throw new MedtuneError({
        doing,
        problem: projectors.length
          ? `its folder holds ${projectors.length} mmproj files (${projectors.join(', ')})`
          : 'its folder holds no mmproj*.gguf vision projector',
        next: 'keep exactly one mmproj*.gguf next to the model file (medtune writes mmproj-NAME-f16.gguf)',
        code: 'GGUF_MISSING',
      });
    }
    return { model, mmproj: join(dirname(model), projectors[0]!), label: `${basename(model)} (llama.cpp)` };
  }
  const [name, type] = body.split('/') as [string, string | undefined];
  const files = await ggufFilesOf(join(exportsDir, name), type);
  return { model: files.model, mmproj: files.mmproj, label: `export ${name} ${files.type} GGUF (llama.cpp)` };
}
