/**
 * The Hub source fails fast and says what is missing: offline mode, an unreachable endpoint, and the gated
 * dataset without (or with an unauthorised) HF_TOKEN, the last answered by a local server that speaks the Hub's
 * 401 "GatedRepo" reply.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { prepareDataset } from '../../src/runtime/datasets.js';
import { MedtuneError } from '../../src/core/errors.js';
import { helperEnv } from '../../src/runtime/pythonhelper.js';
import { execa } from 'execa';

const KEYS = [
  'HF_HUB_OFFLINE',
  'HF_ENDPOINT',
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HTTPS_PROXY',
  'https_proxy',
  'ALL_PROXY',
  'all_proxy',
  'MEDTUNE_CACHE',
];
const REPO = 'UCSC-VLAA/MedTrinity-25M';
const SHA = '0123456789abcdef0123456789abcdef01234567';

/**
 * The part of the Hub API that list_repo_files and hf_hub_download use, serving `dir` as the dataset repo's
 * 25M_demo/ folder to requests that carry a token (others get the gated 401).
 */
function hubHandler(dir: string) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]!);
    const json = (code: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (!req.headers.authorization) return json(401, { error: 'restricted' }, { 'X-Error-Code': 'GatedRepo' });
    const files = (await readdir(dir)).filter((f) => f.endsWith('.parquet')).sort();
    if (path.startsWith(`/api/datasets/${REPO}/tree/`)) {
      const entries = await Promise.all(
        files.map(async (f) => ({ type: 'file', path: `25M_demo/${f}`, size: (await stat(join(dir, f))).size, oid: SHA })),
      );
      return json(200, [{ type: 'file', path: 'README.md', size: 1, oid: SHA }, ...entries]);
    }
    const prefix = `/datasets/${REPO}/resolve/`;
    if (path.startsWith(prefix)) {
      const name = path.slice(prefix.length).split('/').slice(1).join('/');
      const file = name.startsWith('25M_demo/') ? name.slice('25M_demo/'.length) : '';
      if (!files.includes(file)) return json(404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
      const data = await readFile(join(dir, file));
      res.writeHead(200, {
        'X-Repo-Commit': SHA,
        ETag: `"${createHash('sha1').update(data).digest('hex')}"`,
        'Content-Length': String(data.length),
      });
      return res.end(req.method === 'HEAD' ? undefined : data);
    }
    return json(404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
  };
}

describe('data prepare --source hub:…', () => {
  let venv: Venv;
  let root: string;
  let ws: Workspace;
  let server: Server;
  let port: number;
  const saved: Record<string, string | undefined> = {};
  const requests: string[] = [];

  beforeAll(async () => {
    venv = await requireVenv();
    root = await mkdtemp(join(tmpdir(), 'medtune-hub-'));
    ws = workspaceAt(root);
    for (const k of KEYS) saved[k] = process.env[k];
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} auth=${req.headers.authorization ? 'yes' : 'no'}`);
      res.writeHead(401, {
        'Content-Type': 'application/json',
        'X-Error-Code': 'GatedRepo',
        'X-Error-Message':
          'Access to dataset UCSC-VLAA/MedTrinity-25M is restricted. You must have access to it and be authenticated to access it. Please log in.',
      });
      res.end(JSON.stringify({ error: 'Access to dataset UCSC-VLAA/MedTrinity-25M is restricted.' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(() => {
    for (const k of KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(root, { recursive: true, force: true });
  });

  async function failure(env: Record<string, string>): Promise<{ err: MedtuneError; seconds: number }> {
    for (const k of KEYS) delete process.env[k];
    Object.assign(process.env, env);
    const t = Date.now();
    const err = await prepareDataset(ws, venv, { source: 'hub:25M_demo', name: 'hub' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MedtuneError);
    return { err: err as MedtuneError, seconds: (Date.now() - t) / 1000 };
  }

  it('refuses at once in offline mode', async () => {
    const { err } = await failure({ HF_HUB_OFFLINE: '1' });
    expect(err.code).toBe('HUB_OFFLINE');
    expect(err.next).toContain('--source');
  });

  it('fails fast when the endpoint cannot be reached', async () => {
    const { err, seconds } = await failure({ HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(err.code).toBe('HUB_UNREACHABLE');
    expect(err.problem).toContain('127.0.0.1:9');
    expect(seconds).toBeLessThan(20);
  });

  it('says HF_TOKEN is missing for the gated dataset', async () => {
    const { err } = await failure({ HF_ENDPOINT: `http://127.0.0.1:${port}` });
    expect(err.code).toBe('HUB_GATED');
    expect(err.problem).toContain('HF_TOKEN is not set');
    expect(err.next).toContain('https://huggingface.co/datasets/UCSC-VLAA/MedTrinity-25M');
    expect(requests.at(-1)).toMatch(/datasets\/UCSC-VLAA\/MedTrinity-25M.* auth=no$/);
  });

  it('says the token has no access when one is set but refused', async () => {
    const { err } = await failure({ HF_ENDPOINT: `http://127.0.0.1:${port}`, HF_TOKEN: 'hf_not_a_real_token' });
    expect(err.code).toBe('HUB_GATED');
    expect(err.problem).toContain('no access');
    expect(requests.at(-1)).toMatch(/auth=yes$/);
  });

  it('downloads 25M_demo when access is granted, then converts it like a local mirror', async () => {
    const mirror = join(root, 'mirror');
    await execa(venv.python, ['-m', 'medtune_py.sample_set', '--out', mirror, '--rows', '24', '--shards', '2', '--size', '64'], {
      env: helperEnv(venv),
      extendEnv: false,
    });
    const hub = createServer((req, res) => void hubHandler(mirror)(req, res));
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    try {
      for (const k of KEYS) delete process.env[k];
      process.env.HF_ENDPOINT = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
      process.env.HF_TOKEN = 'hf_granted';
      process.env.MEDTUNE_CACHE = join(root, 'cache');
      const r = await prepareDataset(ws, venv, { source: 'hub:25M_demo', name: 'from-hub' });
      expect(r).toMatchObject({ kept: 24, layout: 'demo', source: 'hub:25M_demo' });
      const downloaded = await readdir(join(root, 'cache', 'datasets', 'hub', '25M_demo'));
      expect(downloaded.filter((f) => f.endsWith('.parquet')).sort()).toEqual([
        'train-00000-of-00002.parquet',
        'train-00001-of-00002.parquet',
      ]);
    } finally {
      await new Promise((r) => hub.close(r));
    }
  }, 120_000);

  it('rejects an unknown config before any network access', async () => {
    for (const k of KEYS) delete process.env[k];
    const err = await prepareDataset(ws, venv, { source: 'hub:25M_other', name: 'hub' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'BAD_SOURCE' });
  });
});
