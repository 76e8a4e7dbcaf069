/**
 * `medtune serve` with the real `llamafactory-cli api` and the tiny Qwen2-VL on CPU: it answers an OpenAI-style
 * chat completion with an image part, listens on 127.0.0.1 only, refuses a non-local bind without a key, and
 * `ask` goes through it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerRecord } from '../../src/core/serve.js';
import { buildTinyModel } from '../../src/runtime/models.js';
import { serversDir } from '../../src/runtime/serve.js';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { lastJson, medtune, strayProcesses, waitUntil } from './harness.js';

let ws: Workspace;
let venv: Venv;
let ct: string;

/** The local addresses listening on a TCP port, from /proc/net/tcp and tcp6 (state 0A = LISTEN). */
function listeners(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      const [addr, p] = local!.split(':');
      if (state === '0A' && parseInt(p!, 16) === port) {
        out.push(
          addr!.length === 8
            ? addr!
                .match(/../g)!
                .reverse()
                .map((h) => parseInt(h, 16))
                .join('.')
            : addr!,
        );
      }
    }
  }
  return out;
}

const otherAddress = () =>
  Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

beforeAll(async () => {
  ws = workspaceAt(await mkdtemp(join(tmpdir(), 'medtune-serve-')));
  venv = await requireVenv();
  await buildTinyModel(ws, venv);
  const r = await execa(venv.python, ['-c', "from pydicom.data import get_testdata_file; print(get_testdata_file('CT_small.dcm'))"]);
  ct = r.stdout.trim();
});
afterAll(async () => {
  if (!ws) return;
  await medtune(ws, ['serve', '--stop']);
  expect(strayProcesses(ws)).toEqual([]);
  await rm(ws.root, { recursive: true, force: true });
});

describe('medtune serve', () => {
  let server: ServerRecord & { dir: string };

  beforeAll(async () => {
    const r = await medtune(ws, ['serve', 'tiny-qwen2-vl', '--json'], { timeout: 10 * 60_000 });
    expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
    server = lastJson<{ server: ServerRecord & { dir: string } }>(r.stdout).server;
  }, 11 * 60_000);

  it('is ready on 127.0.0.1 only, under a detached supervisor, with request logging off', async () => {
    expect(server).toMatchObject({ status: 'ready', host: '127.0.0.1', keyRequired: false, modelName: 'tiny-qwen2-vl' });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/v1`);
    expect(listeners(server.port)).toEqual(['127.0.0.1']);
    const other = otherAddress();
    if (other) {
      const err = await fetch(`http://${other}:${server.port}/v1/models`, { signal: AbortSignal.timeout(5000) }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, `the server answered on ${other}`).not.toBeNull();
    }
    const list = await medtune(ws, ['runs']);
    expect(list.stdout).toContain(server.id);
    expect(list.stdout).toContain('ready');
  });

  it('answers a chat completion with an image part (streamed and not)', async () => {
    const png = await medtune(ws, [
      'ask',
      'tiny-qwen2-vl',
      '--no-server',
      '--max-new-tokens',
      '2',
      '--image',
      ct,
      '--json',
      'What is shown?',
    ]);
    expect(png.exitCode, png.all?.slice(-2000)).toBe(0);
    const image = lastJson<{ images: string[] }>(png.stdout).images[0]!;
    const b64 = readFileSync(image).toString('base64');
    const body = (withImage: boolean, stream: boolean) =>
      JSON.stringify({
        model: 'tiny-qwen2-vl',
        stream,
        max_tokens: 8,
        messages: [
          {
            role: 'user',
            content: [
              ...(withImage ? [{ type: 'image_url', image_url: { url: `data:image/png;base64,${b64}` } }] : []),
              { type: 'text', text: 'What is shown?' },
            ],
          },
        ],
      });
    const post = (b: string) =>
      fetch(`${server.url}/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: b });
    const withImg = (await (await post(body(true, false))).json()) as {
      choices: { message: { role: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    const without = (await (await post(body(false, false))).json()) as typeof withImg;
    expect(withImg.choices[0]!.message.role).toBe('assistant');
    expect(withImg.usage.completion_tokens).toBeGreaterThan(0);
    // The image reached the model: its tokens are part of the prompt.
    expect(withImg.usage.prompt_tokens).toBeGreaterThan(without.usage.prompt_tokens);
    const streamed = await (await post(body(true, true))).text();
    expect(streamed).toMatch(/^data: \{.*"delta"/m);
  });

  it('ask uses the running server for the same model, with a DICOM scan converted on the way', async () => {
    const r = await medtune(ws, [
      'ask',
      'tiny-qwen2-vl',
      '--image',
      ct,
      '--window',
      'abdomen',
      '--max-new-tokens',
      '4',
      '--json',
      'Which organ?',
    ]);
    expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
    const out = lastJson<{ device: string; notes: string[]; images: string[] }>(r.stdout);
    expect(out.device).toBe(`server ${server.url}`);
    expect(out.notes).toEqual(['input 1: CT, one image, window 40/400 (user)']);
    expect(out.images[0]).toMatch(/scans\/scan-[0-9a-f]{20}-0\.png$/);
  });

  it('refuses a non-local bind without a key, and starts nothing', async () => {
    const before = readdirSync(serversDir(ws)).length;
    const r = await medtune(ws, ['serve', 'tiny-qwen2-vl', '--host', '0.0.0.0', '--no-api-key', '--json']);
    expect(r.exitCode).not.toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: true, code: 'NONLOCAL_WITHOUT_KEY' });
    expect(readdirSync(serversDir(ws)).length).toBe(before);
  });

  it(
    'a non-local bind gets a generated key, shown once, stored nowhere, and required',
    async () => {
      const r = await medtune(ws, ['serve', 'tiny-qwen2-vl', '--host', '0.0.0.0', '--json'], { timeout: 10 * 60_000 });
      expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
      const { server: s, apiKey } = lastJson<{ server: ServerRecord & { dir: string }; apiKey: string }>(r.stdout);
      try {
        expect(apiKey).toMatch(/^[A-Za-z0-9_-]{32}$/);
        expect(s).toMatchObject({ host: '0.0.0.0', keyRequired: true, url: `http://127.0.0.1:${s.port}/v1` });
        for (const f of readdirSync(s.dir)) expect(readFileSync(join(s.dir, f), 'utf8').includes(apiKey), f).toBe(false);
        expect((await fetch(`${s.url}/models`)).status).toBe(401);
        expect((await fetch(`${s.url}/models`, { headers: { Authorization: `Bearer ${apiKey}` } })).status).toBe(200);
      } finally {
        const stop = await medtune(ws, ['serve', '--stop', s.id, '--json']);
        expect(stop.exitCode, stop.all).toBe(0);
      }
    },
    11 * 60_000,
  );

  it('serve --stop ends the process tree and records it', async () => {
    const r = await medtune(ws, ['serve', '--stop', '--json']);
    expect(r.exitCode, r.all).toBe(0);
    expect(lastJson<{ stopped: ServerRecord[] }>(r.stdout).stopped.map((s) => s.status)).toEqual(['stopped']);
    await waitUntil(() => strayProcesses(ws).length === 0, 20_000, 'the server processes to end');
    expect(listeners(server.port)).toEqual([]);
  });
});
