/**
 * GGUF export, for real: the pinned llama.cpp built once per machine (medtune's own build, reused from the user
 * cache after the first time), a tiny Qwen2-VL trained through `medtune train`, merged and converted by
 * `medtune export --gguf f16,q8_0` (llama.cpp's converter and quantiser), then llama.cpp's multimodal CLI asked
 * about a sample image from the files, by the export's check (verify.json) and by `medtune ask gguf:`.
 */
import { existsSync, openSync, readFileSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLlamaCpp } from '../../src/runtime/llamacpp.js';
import { DATASET, lastJson, makeWorkspace, medtune, strayProcesses, type TestWorkspace } from './harness.js';

interface GgufVerifyJson {
  ok: boolean;
  gguf: {
    ok: boolean;
    image: string;
    prompt: string;
    llamaCpp: string;
    mmproj: { file: string; bytes: number };
    models: { type: string; file: string; bytes: number; modelfile: string; answer: string; seconds: number; ok: boolean }[];
  };
}

function magic(file: string): string {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(4);
  readSync(fd, buf, 0, 4, 0);
  closeSync(fd);
  return buf.toString('latin1');
}

describe('export --gguf and ask gguf: on the tiny model', () => {
  let t: TestWorkspace;
  let runId: string;
  let exported: { code: number | undefined; out: Record<string, unknown>; all: string };
  let dir: string;
  let image: string;

  beforeAll(async () => {
    t = await makeWorkspace('gguf');
    // Once per machine (51 min on a busy 2-core machine), then read from the user cache in well under a second.
    const started = Date.now();
    const { built } = await ensureLlamaCpp(t.venv);
    process.stderr.write(`[gguf] llama.cpp ${built ? 'built' : 'reused'} in ${Math.round((Date.now() - started) / 1000)} s\n`);
    const train = await medtune(t.ws, [
      'train',
      '--model',
      t.modelDir,
      '--dataset',
      DATASET,
      '--profile',
      'cpu',
      '--name',
      'gguf',
      ...['max_steps=20', 'save_steps=20', 'logging_steps=5', 'learning_rate=5.0e-3'].flatMap((o) => ['--set', o]),
      '--json',
    ]);
    expect(train.exitCode, train.all?.slice(-2000)).toBe(0);
    runId = lastJson<{ id: string }>(train.stdout).id;
    const val = readFileSync(join(t.ws.dataDir, DATASET, 'val.jsonl'), 'utf8')
      .trim()
      .split('\n');
    image = join(t.ws.dataDir, (JSON.parse(val[0]!) as { images: string[] }).images[0]!);
    const r = await medtune(t.ws, ['export', runId, '--gguf', 'f16,q8_0', '--image', image, '--json']);
    exported = { code: r.exitCode, out: lastJson(r.stdout), all: r.all ?? '' };
    dir = exported.out.dir as string;
    // The first build of llama.cpp on a 2-core machine, then train, merge and convert.
  }, 75 * 60_000);
  afterAll(async () => {
    expect(strayProcesses(t.ws)).toEqual([]);
    await t?.cleanup();
  });

  it('writes the f16 and q8_0 model files, one f16 vision projector and a Modelfile for each', () => {
    expect(exported.code, exported.all.slice(-3000)).toBe(0);
    const g = join(dir, 'gguf');
    const f16 = join(g, `${runId}-f16.gguf`);
    const q8 = join(g, `${runId}-q8_0.gguf`);
    const mmproj = join(g, `mmproj-${runId}-f16.gguf`);
    for (const f of [f16, q8, mmproj]) expect(magic(f)).toBe('GGUF');
    // q8_0 stores a matrix in 34 bytes per 32 weights, f16 in 64; the norms and the file's vocabulary stay.
    expect(statSync(q8).size).toBeLessThan(statSync(f16).size * 0.8);
    // The projector holds the ViT's weights (3 blocks of 32-wide layers, the merger): ~200 KB, not an empty shell.
    expect(statSync(mmproj).size).toBeGreaterThan(150_000);
    for (const type of ['f16', 'q8_0']) {
      const modelfile = readFileSync(join(g, `Modelfile.${type}`), 'utf8');
      expect(modelfile).toContain(`FROM ./${runId}-${type}.gguf\nFROM ./mmproj-${runId}-f16.gguf`);
    }
    expect(existsSync(join(dir, '.pending-gguf'))).toBe(false);
  });

  it("records llama.cpp's answer about the image from each file, its time and the sizes in verify.json", () => {
    const v = JSON.parse(readFileSync(join(dir, 'verify.json'), 'utf8')) as GgufVerifyJson;
    expect(v.ok).toBe(true);
    expect(v.gguf.ok).toBe(true);
    expect(v.gguf.image).toBe(image);
    expect(v.gguf.models.map((m) => m.type)).toEqual(['f16', 'q8_0']);
    for (const m of v.gguf.models) {
      expect(m.answer.length).toBeGreaterThan(0);
      expect(m.seconds).toBeGreaterThan(0);
      expect(m.bytes).toBe(statSync(join(dir, 'gguf', m.file)).size);
    }
    expect(v.gguf.mmproj.bytes).toBe(statSync(join(dir, 'gguf', v.gguf.mmproj.file)).size);
    // The safetensors check is still there beside it.
    expect((v as unknown as { checks: unknown[] }).checks.length).toBeGreaterThan(0);
  });

  it(
    'answers `ask gguf:NAME/TYPE` and `ask gguf:FILE.gguf` through llama.cpp',
    async () => {
      const name = exported.out.name as string;
      const r = await medtune(t.ws, [
        'ask',
        `gguf:${name}/f16`,
        '--image',
        image,
        '--max-new-tokens',
        '64',
        '--json',
        'Describe this medical image.',
      ]);
      expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
      const out = lastJson<{ answer: string; model: { kind: string; model: string }; device: string }>(r.stdout);
      expect(out.model.kind).toBe('gguf');
      expect(out.device).toContain('llama.cpp');
      expect(out.model.model).toBe(join(dir, 'gguf', `${name}-f16.gguf`));
      // (Not compared word for word with the export check's answer: llama.cpp's greedy CPU decoding of a barely
      // trained model, whose top tokens are near ties, differs between runs.)
      expect(out.answer.length).toBeGreaterThan(0);
      // A model file by path (as copied to a laptop) finds the projector beside it.
      const q8 = join(dir, 'gguf', `${name}-q8_0.gguf`);
      const byPath = await medtune(t.ws, [
        'ask',
        `gguf:${q8}`,
        '--image',
        image,
        '--max-new-tokens',
        '64',
        '--json',
        'Describe this medical image.',
      ]);
      expect(byPath.exitCode, byPath.all?.slice(-2000)).toBe(0);
      const second = lastJson<{ answer: string; model: { model: string } }>(byPath.stdout);
      expect(second.model.model).toBe(q8);
      expect(second.answer.length).toBeGreaterThan(0);
    },
    5 * 60_000,
  );

  it(
    'converts an export merged earlier without merging it again',
    async () => {
      const plain = await medtune(t.ws, ['export', runId, '--name', 'plain', '--no-verify', '--json']);
      expect(plain.exitCode, plain.all?.slice(-2000)).toBe(0);
      const weights = statSync(join(t.ws.exportsDir, 'plain', 'model.safetensors')).mtimeMs;
      const r = await medtune(t.ws, ['export', runId, '--name', 'plain', '--gguf', 'q8_0', '--no-verify', '--json']);
      expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
      expect(lastJson<{ reused: boolean }>(r.stdout).reused).toBe(true);
      expect(statSync(join(t.ws.exportsDir, 'plain', 'model.safetensors')).mtimeMs).toBe(weights);
      expect(magic(join(t.ws.exportsDir, 'plain', 'gguf', 'plain-q8_0.gguf'))).toBe('GGUF');
      // Only q8_0 was asked for: the f16 intermediate is gone.
      expect(existsSync(join(t.ws.exportsDir, 'plain', 'gguf', 'plain-f16.gguf'))).toBe(false);
    },
    15 * 60_000,
  );

  it(
    'refuses q4_k_m for the 64-wide tiny model before merging anything, naming q8_0',
    async () => {
      const r = await medtune(t.ws, ['export', runId, '--name', 'q4', '--gguf', 'q4_k_m', '--json']);
      expect(r.exitCode).not.toBe(0);
      const err = lastJson<{ code: string; problem: string; next: string }>(r.stdout);
      expect(err.code).toBe('GGUF_TYPE_UNFIT');
      expect(err.problem).toContain('blocks of 256');
      expect(err.next).toContain('--gguf q8_0');
      expect(existsSync(join(t.ws.exportsDir, 'q4'))).toBe(false);
      expect(existsSync(join(t.ws.exportsDir, '.pending-q4'))).toBe(false);
    },
    5 * 60_000,
  );
});
