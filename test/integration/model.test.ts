/**
 * Models with the real venv: the tiny Qwen2-VL is built through the runtime, loads with the Auto classes
 * offline, trains and exports with the real llamafactory-cli (template qwen2_vl), and the export passes
 * verify_export, which also repairs a missing chat template. Fetching fails fast and writes nothing when the
 * hub is unreachable or gated, and downloads with byte progress from a stand-in hub.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MedtuneError } from '../../src/core/errors.js';
import type { ProgressEvent } from '../../src/core/protocol.js';
import { MODEL_RECORD, type TinyModelResult } from '../../src/core/models.js';
import { buildTinyModel, fetchModel, listModels } from '../../src/runtime/models.js';
import { PACKAGE_ROOT } from '../../src/runtime/paths.js';
import { verifyExport } from '../../src/runtime/verify.js';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';

const FIXTURES = join(PACKAGE_ROOT, 'test', 'fixtures');
const OFFLINE = { HF_HUB_OFFLINE: '1' };

let venv: Venv;
let root: string;
let ws: Workspace;
let tiny: TinyModelResult;
const progress: ProgressEvent[] = [];

/** A localhost port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

async function expectMedtuneError(p: Promise<unknown>): Promise<MedtuneError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MedtuneError);
  return err as MedtuneError;
}

/** Files and folders under models/, hidden ones included: a failed fetch must leave none behind. */
const modelsDirEntries = async () => (await readdir(ws.modelsDir)).sort();

beforeAll(async () => {
  venv = await requireVenv();
  root = await mkdtemp(join(tmpdir(), 'medtune-model-'));
  ws = workspaceAt(root);
  tiny = await buildTinyModel(ws, venv, (e) => progress.push(e));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tiny model', () => {
  it('is built into models/tiny-qwen2-vl with progress, a record and every file a Qwen2-VL needs', async () => {
    expect(tiny.dir).toBe(join(ws.modelsDir, 'tiny-qwen2-vl'));
    expect(progress.map((e) => e.phase)).toEqual(['import', 'tokenizer', 'processor', 'model', 'done']);
    expect(tiny.files.map((f) => f.name)).toEqual([
      'chat_template.jinja',
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'processor_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(tiny.bytes).toBeLessThan(10 * 1024 * 1024);
    expect(tiny.params).toBeGreaterThan(100_000);
    expect(tiny.sizes).toMatchObject({ hidden: 64, layers: 2, vision_embed: 32 });
    expect(JSON.parse(readFileSync(join(tiny.dir, MODEL_RECORD), 'utf8'))).toMatchObject({
      name: 'tiny',
      source: 'built',
      seed: 0,
      params: tiny.params,
    });
    expect(await modelsDirEntries()).toEqual(['tiny-qwen2-vl']);
  });

  it('is byte-identical for the same seed and differs for another', async () => {
    const again = await buildTinyModel(ws, venv, undefined, { out: join(root, 'again') });
    const other = await buildTinyModel(ws, venv, undefined, { out: join(root, 'other'), seed: 7 });
    const hashes = (r: TinyModelResult) => Object.fromEntries(r.files.map((f) => [f.name, f.sha256]));
    expect(hashes(again)).toEqual(hashes(tiny));
    expect(hashes(other)['model.safetensors']).not.toBe(hashes(tiny)['model.safetensors']);
    expect(hashes(other)['tokenizer.json']).toBe(hashes(tiny)['tokenizer.json']);
  }, 300_000);

  it('loads offline with AutoTokenizer, AutoProcessor and AutoModelForImageTextToText and runs a step', async () => {
    const script = `
import json, sys, torch
from PIL import Image
from transformers import AutoTokenizer, AutoProcessor, AutoModelForImageTextToText
d = sys.argv[1]
tok = AutoTokenizer.from_pretrained(d)
proc = AutoProcessor.from_pretrained(d)
model = AutoModelForImageTextToText.from_pretrained(d)
msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is the modality of this image?"}]}]
text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
inputs = proc(text=[text], images=[Image.new("RGB", (112, 112), (90, 90, 90))], return_tensors="pt")
ids = inputs["input_ids"][0].tolist()
out = model(**inputs, labels=inputs["input_ids"])
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
            "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
            "<|image_pad|>", "<|video_pad|>"]
print(json.dumps({
  "classes": [type(tok).__name__, type(proc).__name__, type(proc.video_processor).__name__, type(model).__name__],
  "text": text,
  "image_tokens": ids.count(model.config.image_token_id),
  "image_token": tok.convert_ids_to_tokens(model.config.image_token_id),
  "special_ids": [tok.convert_tokens_to_ids(s) for s in specials],
  "vocab": len(tok), "embeddings": model.get_input_embeddings().weight.shape[0],
  "eos": tok.eos_token, "pad": tok.pad_token,
  "words": {w: len(tok(w)["input_ids"]) for w in [" CT", " MRI", " ultrasound", " pathology", " endoscopy", " brain", " chest", " lesion"]},
  "loss": out.loss.item(),
}))`;
    const r = await execa(venv.python, ['-c', script, tiny.dir], { env: OFFLINE });
    const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(got.classes).toEqual(['Qwen2Tokenizer', 'Qwen2VLProcessor', 'Qwen2VLVideoProcessor', 'Qwen2VLForConditionalGeneration']);
    expect(got.text).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n' +
        '<|vision_start|><|image_pad|><|vision_end|>What is the modality of this image?<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(got.image_tokens).toBe(16);
    expect(got.image_token).toBe('<|image_pad|>');
    const ids = got.special_ids as number[];
    expect(ids).toEqual(ids.map((_, i) => ids[0]! + i));
    expect(got.vocab).toBe(got.embeddings);
    expect([got.eos, got.pad]).toEqual(['<|im_end|>', '<|endoftext|>']);
    expect(Object.values(got.words as Record<string, number>).every((n) => n === 1)).toBe(true);
    expect(Number.isFinite(got.loss)).toBe(true);
  }, 180_000);

  it('is listed by the runtime and by `medtune model list --json`', async () => {
    const models = await listModels(ws);
    expect(models.map((m) => m.name)).toEqual(['tiny-qwen2-vl']);
    const entry = models.find((m) => m.name === 'tiny-qwen2-vl')!;
    expect(entry).toMatchObject({
      kind: 'tiny',
      template: 'qwen2_vl',
      modelType: 'qwen2_vl',
      params: tiny.params,
      complete: true,
      missing: [],
      source: 'built',
    });
    const cli = await execa(process.execPath, [join(PACKAGE_ROOT, 'bin', 'medtune.js'), '-w', ws.root, 'model', 'list', '--json'], {
      reject: false,
      env: { CI: '1' },
    });
    expect(cli.exitCode).toBe(0);
    const listed = JSON.parse(cli.stdout) as { models: { name: string; kind: string; params: number }[] };
    expect(listed.models.find((m) => m.name === 'tiny-qwen2-vl')).toMatchObject({ kind: 'tiny', params: tiny.params });
  }, 60_000);
});

describe('model fetch', () => {
  it('fails fast when the hub is unreachable, says what to do, and writes nothing', async () => {
    const before = await modelsDirEntries();
    const err = await expectMedtuneError(
      fetchModel(ws, venv, 'qwen2-vl-2b', 'hf', { env: { HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, HF_HUB_OFFLINE: '' } }),
    );
    expect(err.code).toBe('HUB_UNREACHABLE');
    expect(err.doing).toContain('Qwen/Qwen2-VL-2B-Instruct');
    expect(err.problem).toMatch(/unreachable/);
    expect(err.next).toContain(join(ws.modelsDir, 'qwen2-vl-2b'));
    expect(err.next).toContain('--model PATH');
    expect(await modelsDirEntries()).toEqual(before);
  });

  it('fails fast against the real huggingface.co when this machine cannot resolve it', async (ctx) => {
    // With a network this would start a 4.4 GB download, so it only runs where the hub is out of reach.
    if (
      await lookup('huggingface.co').then(
        () => true,
        () => false,
      )
    )
      ctx.skip();
    const err = await expectMedtuneError(fetchModel(ws, venv, 'qwen2-vl-2b', 'hf', { env: { HF_ENDPOINT: '', HF_HUB_OFFLINE: '' } }));
    expect(err.code).toBe('HUB_UNREACHABLE');
    expect(err.problem).toContain('huggingface.co');
    expect((await modelsDirEntries()).filter((e) => e.includes('qwen2-vl-2b'))).toEqual([]);
  });

  it('explains HF_HUB_OFFLINE instead of trying', async () => {
    const err = await expectMedtuneError(fetchModel(ws, venv, 'qwen2-vl-2b', 'hf', { env: OFFLINE }));
    expect(err.code).toBe('HUB_OFFLINE');
    expect(err.next).toMatch(/unset HF_HUB_OFFLINE/);
  });

  it('reports a gated repository with the HF_TOKEN step, writing nothing', async () => {
    const before = await modelsDirEntries();
    await withFakeHub(tiny.dir, ['--gated'], async (endpoint) => {
      const err = await expectMedtuneError(
        fetchModel(ws, venv, 'qwen2-vl-2b', 'hf', { env: { HF_ENDPOINT: endpoint, HF_HUB_OFFLINE: '', HF_TOKEN: '' } }),
      );
      expect(err.code).toBe('HUB_GATED');
      expect(err.next).toContain('HF_TOKEN');
    });
    expect(await modelsDirEntries()).toEqual(before);
  });

  it('prints the clear error as JSON through the CLI', async () => {
    const cli = await execa(
      process.execPath,
      [join(PACKAGE_ROOT, 'bin', 'medtune.js'), '-w', ws.root, 'model', 'fetch', 'qwen2-vl-2b', '--json'],
      {
        reject: false,
        env: { CI: '1', HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, HF_HUB_OFFLINE: '' },
      },
    );
    expect(cli.exitCode).toBe(1);
    expect(JSON.parse(cli.stdout)).toMatchObject({ error: true, code: 'HUB_UNREACHABLE' });
    expect(cli.stderr).toContain('→ on a machine with access');
  }, 60_000);

  it('refuses what cannot be fetched', async () => {
    expect((await expectMedtuneError(fetchModel(ws, venv, 'tiny', 'hf'))).code).toBe('NOT_FETCHABLE');
    expect((await expectMedtuneError(fetchModel(ws, venv, 'no such model', 'hf'))).code).toBe('UNKNOWN_MODEL');
  });

  it('downloads from a reachable hub with byte progress, then lists the model', async () => {
    const events: ProgressEvent[] = [];
    await withFakeHub(tiny.dir, [], async (endpoint) => {
      const r = await fetchModel(ws, venv, 'qwen2-vl-2b', 'hf', {
        env: { HF_ENDPOINT: endpoint, HF_HUB_OFFLINE: '' },
        onProgress: (e) => events.push(e),
      });
      expect(r).toMatchObject({
        dir: join(ws.modelsDir, 'qwen2-vl-2b'),
        repoId: 'Qwen/Qwen2-VL-2B-Instruct',
        hub: 'hf',
        alreadyPresent: false,
      });
      expect(r.files).toContain('model.safetensors');
      const again = await fetchModel(ws, venv, 'qwen2-vl-2b', 'hf', { env: { HF_ENDPOINT: endpoint, HF_HUB_OFFLINE: '' } });
      expect(again.alreadyPresent).toBe(true);
    });
    const bytes = events.filter((e) => e.phase === 'download');
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.every((e) => e.unit === 'B')).toBe(true);
    expect(bytes[bytes.length - 1]!.done).toBe(bytes[bytes.length - 1]!.total);
    expect((await modelsDirEntries()).filter((e) => e.startsWith('.'))).toEqual([]);
    const entry = (await listModels(ws)).find((m) => m.name === 'qwen2-vl-2b')!;
    expect(entry).toMatchObject({ kind: 'qwen2-vl-2b', template: 'qwen2_vl', complete: true, source: 'hf' });
  }, 60_000);
});

describe('LLaMA-Factory and export verification', () => {
  let exportDir: string;
  const image = () => join(root, 'data', 'images', 'ct-0.png');

  it('trains the tiny model with template qwen2_vl and merges the adapter', async () => {
    await execa(venv.python, [join(FIXTURES, 'llamafactory', 'train-ok', 'make_dataset.py'), join(root, 'data'), 'tiny_mm']);
    const output = join(root, 'output');
    exportDir = join(root, 'export');
    const train = join(root, 'train.yaml');
    await writeFile(
      train,
      [
        `model_name_or_path: ${tiny.dir}`,
        'stage: sft',
        'do_train: true',
        'finetuning_type: lora',
        'lora_target: all',
        'dataset: tiny_mm',
        `dataset_dir: ${join(root, 'data')}`,
        'template: qwen2_vl',
        'cutoff_len: 1024',
        'image_max_pixels: 12544',
        `output_dir: ${output}`,
        'overwrite_output_dir: true',
        'per_device_train_batch_size: 2',
        'learning_rate: 5.0e-3',
        'max_steps: 20',
        'logging_steps: 1',
        'save_steps: 10',
        'save_total_limit: 2',
        'report_to: none',
        '',
      ].join('\n'),
    );
    const env = { ...OFFLINE, LLAMABOARD_ENABLED: '1', LLAMABOARD_WORKDIR: output };
    const t = await execa(join(venv.bin, 'llamafactory-cli'), ['train', train], { env, reject: false, all: true });
    expect(t.exitCode, String(t.all).slice(-3000)).toBe(0);
    const records = readFileSync(join(output, 'trainer_log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { loss?: number });
    const losses = records.flatMap((r) => (r.loss === undefined ? [] : [r.loss]));
    expect(losses).toHaveLength(20);
    expect(losses[19]!).toBeLessThan(losses[0]!);
    const exportYaml = join(root, 'export.yaml');
    await writeFile(
      exportYaml,
      [
        `model_name_or_path: ${tiny.dir}`,
        `adapter_name_or_path: ${output}`,
        'template: qwen2_vl',
        'finetuning_type: lora',
        `export_dir: ${exportDir}`,
        'export_size: 1',
        'export_device: cpu',
        '',
      ].join('\n'),
    );
    const x = await execa(join(venv.bin, 'llamafactory-cli'), ['export', exportYaml], { env: OFFLINE, reject: false, all: true });
    expect(x.exitCode, String(x.all).slice(-3000)).toBe(0);
  }, 600_000);

  it('passes verify_export with one generation on the image', async () => {
    const events: ProgressEvent[] = [];
    const v = await verifyExport({ venv, exportDir, baseDir: tiny.dir, image: image(), onProgress: (e) => events.push(e) });
    expect(v.failure).toBeNull();
    expect(v.ok).toBe(true);
    expect(v.checks.map((c) => c.name)).toEqual(['files', 'processor', 'chat_template', 'model', 'generate']);
    expect(v.copied).toEqual([]);
    expect(v.generation).toMatchObject({ image: image(), prompt: 'Describe this medical image.' });
    expect(v.generation!.tokens).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(exportDir, 'verify.json'), 'utf8'))).toMatchObject({ ok: true });
    expect(events.map((e) => e.phase)).toEqual(['files', 'load', 'generate', 'done']);
  }, 180_000);

  it('copies a removed chat template back from the base model', async () => {
    await rm(join(exportDir, 'chat_template.jinja'));
    const v = await verifyExport({ venv, exportDir, baseDir: tiny.dir, image: image() });
    expect(v.ok).toBe(true);
    expect(v.copied).toEqual(['chat_template.jinja']);
    expect(v.checks[0]!.detail).toContain('copied from base: chat_template.jinja');
    expect(readFileSync(join(exportDir, 'chat_template.jinja'), 'utf8')).toBe(readFileSync(join(tiny.dir, 'chat_template.jinja'), 'utf8'));
  }, 180_000);

  it('fails with the processor error and a next step when no chat template can be found', async () => {
    await rm(join(exportDir, 'chat_template.jinja'));
    const emptyBase = join(root, 'empty-base');
    await mkdir(emptyBase);
    const v = await verifyExport({ venv, exportDir, baseDir: emptyBase, image: image() });
    expect(v.ok).toBe(false);
    expect(v.failure).toMatchObject({ code: 'NO_CHAT_TEMPLATE' });
    expect(v.failure!.next).toContain('chat_template.jinja');
    expect(v.checks.find((c) => c.name === 'chat_template')).toEqual({
      name: 'chat_template',
      ok: false,
      detail: 'No chat template is set for this processor',
    });
    expect(v.generation).toBeNull();
  }, 180_000);

  it('fails on missing weights without loading anything', async () => {
    await rm(join(exportDir, 'model.safetensors'));
    const v = await verifyExport({ venv, exportDir, baseDir: tiny.dir });
    expect(v.failure).toMatchObject({ code: 'EXPORT_FILES_MISSING' });
    expect(v.checks).toHaveLength(1);
    expect(v.checks[0]!.detail).toContain('model.safetensors');
  }, 180_000);
});

/** Runs fn against test/fixtures/hub/fake_hub.py serving `folder` as Qwen/Qwen2-VL-2B-Instruct. */
async function withFakeHub(folder: string, flags: string[], fn: (endpoint: string) => Promise<void>): Promise<void> {
  const hub = execa(venv.python, [join(FIXTURES, 'hub', 'fake_hub.py'), folder, 'Qwen/Qwen2-VL-2B-Instruct', ...flags], { reject: false });
  try {
    const port = await new Promise<string>((res, rej) => {
      createInterface({ input: hub.stdout! }).once('line', res);
      void hub.then((r) => rej(new Error(`fake hub exited: ${r.stderr}`)));
    });
    await fn(`http://127.0.0.1:${port.trim()}`);
  } finally {
    hub.kill();
    await hub;
  }
}
