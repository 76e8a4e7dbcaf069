/**
 * `medtune serve`: LLaMA-Factory's OpenAI-compatible API (`llamafactory-cli api`) for a model, export or run,
 * as a detached process tree under a small supervisor (serve-main.ts), like a training run. Everything about a
 * server is in servers/<id>/: server.json (status, address, pids), serve.yaml, stdout.log, stderr.log.
 *
 * The API key, when there is one, is handed to the server through its environment and shown to the user once;
 * it is never written to a file. Request logging (API_VERBOSE) is off so that questions and images never reach
 * the logs, and the server reads no local files (ALLOW_LOCAL_FILES=0): images travel as data URLs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import { templateForModelType } from '../core/models.js';
import {
  ChatStreamParser,
  chatMessage,
  clientHost,
  DEFAULT_HOST,
  DEFAULT_PORT,
  imageMime,
  keyPolicy,
  LIVE_SERVER_STATUSES,
  ServerRecord,
} from '../core/serve.js';
import { readJsonIfExists, withLock, writeFileAtomic, writeJsonAtomic } from './atomic.js';
import { helperEnv } from './pythonhelper.js';
import { imagePixels, resolveModel, summary, type ModelSpec, type ModelTarget } from './modelref.js';
import { PACKAGE_ROOT } from './paths.js';
import { isAlive, signalGroup } from './proctree.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export const serversDir = (ws: Workspace) => join(ws.root, 'servers');
const recordFile = (dir: string) => join(dir, 'server.json');

export async function readServer(dir: string): Promise<ServerRecord | undefined> {
  const raw = await readJsonIfExists<unknown>(recordFile(dir)).catch(() => undefined);
  const parsed = ServerRecord.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export async function updateServer(dir: string, fn: (r: ServerRecord) => void): Promise<ServerRecord | undefined> {
  return withLock(recordFile(dir), async () => {
    const r = await readServer(dir);
    if (!r) return undefined;
    fn(r);
    await writeJsonAtomic(recordFile(dir), r);
    return r;
  });
}

/** Every server of the workspace, newest first; a live status whose supervisor is gone reads as `exited`. */
export async function listServers(ws: Workspace): Promise<(ServerRecord & { dir: string })[]> {
  const names = await readdir(serversDir(ws)).catch(() => [] as string[]);
  const out: (ServerRecord & { dir: string })[] = [];
  for (const name of names.sort().reverse()) {
    const dir = join(serversDir(ws), name);
    const r = await readServer(dir);
    if (!r) continue;
    if (LIVE_SERVER_STATUSES.includes(r.status) && !isAlive(r.supervisorPid ?? undefined) && !isAlive(r.pid ?? undefined))
      r.status = 'exited';
    out.push({ ...r, dir });
  }
  return out;
}

export const isLive = (r: ServerRecord) => LIVE_SERVER_STATUSES.includes(r.status);

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ host: host === '0.0.0.0' || host === '::' ? undefined : host, port }, () => srv.close(() => res(true)));
  });
}

async function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen({ host, port: 0 }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

async function templateOf(t: ModelTarget): Promise<string> {
  if (typeof t.train?.template === 'string') return t.train.template;
  try {
    const cfg = JSON.parse(await readFile(join(t.modelDir, 'config.json'), 'utf8')) as { model_type?: string };
    const tpl = templateForModelType(cfg.model_type);
    if (tpl) return tpl;
  } catch {
    // no readable config.json: resolveModel already checked it exists, so this is a broken file
  }
  throw new MedtuneError({
    doing: `serving ${t.label}`,
    problem: 'medtune does not know the LLaMA-Factory chat template of this model',
    next: 'serve a run or an export of a model medtune knows (`medtune model list`)',
    code: 'NO_TEMPLATE',
  });
}

export interface ServeRequest {
  model: string | ModelSpec;
  host?: string;
  port?: number;
  apiKey?: string;
  /** Refuse to generate a key (then only a loopback bind is allowed). */
  noApiKey?: boolean;
  /** How long to wait for the model to load; default 10 minutes. */
  readyTimeoutMs?: number;
  onProgress?: (message: string) => void;
}

export interface ServeResult {
  server: ServerRecord & { dir: string };
  /** The key the server requires, when medtune generated it: shown once, stored nowhere. */
  generatedKey: string | null;
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

/** Starts a detached `llamafactory-cli api` for a model and waits until it answers /v1/models. */
export async function startServer(ws: Workspace, venv: Venv, req: ServeRequest): Promise<ServeResult> {
  const target = await resolveModel(ws, req.model);
  const doing = `serving ${target.label}`;
  const host = req.host ?? DEFAULT_HOST;
  const policy = keyPolicy(host, req.apiKey, !!req.noApiKey);
  if (!policy.ok) throw new MedtuneError({ doing, problem: policy.problem, next: policy.next, code: policy.code });
  const key = policy.key === 'given' ? req.apiKey! : policy.key === 'generate' ? randomBytes(24).toString('base64url') : null;
  let port = req.port ?? DEFAULT_PORT;
  if (!(await portFree(host, port))) {
    if (req.port !== undefined)
      throw new MedtuneError({
        doing,
        problem: `port ${port} on ${host} is in use`,
        next: 'pick another --port, or leave it out to get a free one',
        code: 'PORT_IN_USE',
      });
    port = await freePort(host);
  }
  const template = await templateOf(target);
  const px = imagePixels(target);
  const id = `${stamp()}-${basename(target.ref)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 40)}`;
  const dir = join(serversDir(ws), id);
  await mkdir(dir, { recursive: true });
  const yamlFile = join(dir, 'serve.yaml');
  const config: Record<string, unknown> = {
    model_name_or_path: target.modelDir,
    ...(target.adapterDir ? { adapter_name_or_path: target.adapterDir } : {}),
    template,
    infer_backend: 'huggingface',
    image_max_pixels: px.max,
    image_min_pixels: px.min,
  };
  await writeFileAtomic(yamlFile, toYaml(config, { version: '1.1' }));
  const modelName = basename(target.ref);
  const command = [join(venv.bin, 'llamafactory-cli'), 'api', yamlFile];
  const record: ServerRecord = {
    id,
    status: 'starting',
    host,
    port,
    url: `http://${clientHost(host)}:${port}/v1`,
    keyRequired: key !== null,
    model: summary(target),
    modelName,
    supervisorPid: null,
    pid: null,
    startedAt: new Date().toISOString(),
    readyAt: null,
    endedAt: null,
    exitCode: null,
    signal: null,
    command,
  };
  await writeJsonAtomic(recordFile(dir), record);
  const env: NodeJS.ProcessEnv = {
    ...helperEnv(venv),
    API_HOST: host,
    API_PORT: String(port),
    API_MODEL_NAME: modelName,
    API_VERBOSE: '0',
    ALLOW_LOCAL_FILES: '0',
    HF_HUB_OFFLINE: '1',
  };
  if (key) env.API_KEY = key;
  const entry = join(PACKAGE_ROOT, 'dist', 'runtime', 'serve-main.js');
  const child = spawn(process.execPath, [entry, dir], { detached: true, stdio: 'ignore', env, cwd: dir });
  child.unref();
  await updateServer(dir, (r) => {
    r.supervisorPid = child.pid ?? null;
  });
  req.onProgress?.(`loading ${target.label} on ${host}:${port}`);
  const ready = await waitReady(dir, key, req.readyTimeoutMs ?? 10 * 60_000);
  return { server: { ...ready, dir }, generatedKey: policy.key === 'generate' ? key : null };
}

async function tail(file: string, lines = 12): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines);
}

async function waitReady(dir: string, key: string | null, timeoutMs: number): Promise<ServerRecord> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await readServer(dir);
    if (!r) throw new MedtuneError({ doing: 'starting the model server', problem: `${recordFile(dir)} disappeared`, code: 'SERVER_GONE' });
    if (!isLive(r) || (r.supervisorPid !== null && !isAlive(r.supervisorPid))) {
      throw new MedtuneError({
        doing: `serving ${r.model.label}`,
        problem: `llamafactory-cli api ended before it was ready (${r.exitCode !== null ? `exit code ${r.exitCode}` : (r.signal ?? 'no exit code')})`,
        details: await tail(join(dir, 'stderr.log')),
        next: `see ${join(dir, 'stderr.log')}; \`medtune doctor\` checks the environment`,
        code: 'SERVER_FAILED',
      });
    }
    try {
      const res = await fetch(`${r.url}/models`, {
        headers: key ? { Authorization: `Bearer ${key}` } : {},
        signal: AbortSignal.timeout(2000),
      });
      if (res.ok) {
        return (await updateServer(dir, (x) => {
          x.status = 'ready';
          x.readyAt = new Date().toISOString();
        }))!;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > end) {
      await stopServer(dir);
      throw new MedtuneError({
        doing: `serving ${r.model.label}`,
        problem: `the server did not answer within ${Math.round(timeoutMs / 1000)} s`,
        details: await tail(join(dir, 'stderr.log')),
        next: 'it was stopped; a large model on CPU may need longer',
        code: 'SERVER_TIMEOUT',
      });
    }
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** Stops a server's process group (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopServer(dir: string, graceMs = 10_000): Promise<ServerRecord | undefined> {
  const r = await updateServer(dir, (x) => {
    if (isLive(x)) x.status = 'stopping';
  });
  if (!r) return undefined;
  for (const pid of [r.pid, r.supervisorPid]) if (pid) signalGroup(pid, 'SIGTERM');
  const end = Date.now() + graceMs;
  while (Date.now() < end && (isAlive(r.pid ?? undefined) || isAlive(r.supervisorPid ?? undefined)))
    await new Promise((res) => setTimeout(res, 200));
  for (const pid of [r.pid, r.supervisorPid]) if (pid && isAlive(pid)) signalGroup(pid, 'SIGKILL');
  return updateServer(dir, (x) => {
    x.status = 'stopped';
    x.endedAt ??= new Date().toISOString();
  });
}

/** Stops the named server (an id or id prefix), or every live one of the workspace. */
export async function stopServers(ws: Workspace, id?: string): Promise<ServerRecord[]> {
  const all = await listServers(ws);
  const picked = id ? all.filter((s) => s.id === id || s.id.startsWith(id)) : all.filter(isLive);
  if (id && !picked.length)
    throw new MedtuneError({
      doing: `stopping server ${id}`,
      problem: 'no such server',
      next: 'see `medtune runs` for the servers of this workspace',
      code: 'NO_SERVER',
    });
  const out: ServerRecord[] = [];
  for (const s of picked) {
    const r = isLive(s) ? await stopServer(s.dir) : s;
    if (r) out.push(r);
  }
  return out;
}

/** A live, ready server of this workspace that serves exactly this model (same weights, same adapter). */
export async function findServerFor(ws: Workspace, target: ModelTarget): Promise<ServerRecord | null> {
  const all = await listServers(ws);
  return all.find((s) => s.status === 'ready' && s.model.model === target.modelDir && s.model.adapter === target.adapterDir) ?? null;
}

async function readImage(file: string, doing: string): Promise<{ mime: string; base64: string }> {
  const fh = await open(file, 'r');
  try {
    const data = await fh.readFile();
    const mime = imageMime(data.subarray(0, 8));
    if (!mime)
      throw new MedtuneError({
        doing,
        problem: `${basename(file)} is not a PNG, JPEG, GIF or BMP image (what the server accepts)`,
        next: 'convert it to PNG first',
        code: 'IMAGE_TYPE',
      });
    return { mime, base64: data.toString('base64') };
  } finally {
    await fh.close();
  }
}

export interface ServerAskRequest {
  url: string;
  apiKey?: string;
  /** Images ready for the model (scans already converted). */
  images: string[];
  question: string;
  maxNewTokens?: number;
  onToken?: (text: string) => void;
  signal?: AbortSignal;
}

/** One streamed chat completion with image parts; resolves with the whole answer. */
export async function askServer(req: ServerAskRequest): Promise<{ answer: string; seconds: number; firstTokenSeconds: number | null }> {
  const doing = `asking the server at ${req.url}`;
  const started = Date.now();
  const images = await Promise.all(req.images.map((i) => readImage(i, doing)));
  let res: Response;
  try {
    res = await fetch(`${req.url}/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(req.apiKey ? { Authorization: `Bearer ${req.apiKey}` } : {}) },
      body: JSON.stringify({
        model: 'medtune',
        messages: [chatMessage(images, req.question)],
        stream: true,
        max_tokens: req.maxNewTokens ?? 256,
        temperature: 0,
      }),
      signal: req.signal,
    });
  } catch (err) {
    throw new MedtuneError({
      doing,
      problem: `the server cannot be reached (${(err as Error).message})`,
      next: 'check it with `medtune runs`, or start one with `medtune serve MODEL`',
      code: 'SERVER_UNREACHABLE',
    });
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    throw new MedtuneError({
      doing,
      problem: `the server answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
      next: res.status === 401 ? 'pass its API key with --api-key (or MEDTUNE_API_KEY)' : "see the server's stderr.log in servers/<id>/",
      code: res.status === 401 ? 'SERVER_UNAUTHORIZED' : 'SERVER_ERROR',
    });
  }
  const parser = new ChatStreamParser();
  const decoder = new TextDecoder();
  let answer = '';
  let first: number | null = null;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    for (const piece of parser.feed(decoder.decode(chunk, { stream: true }))) {
      if (first === null) first = (Date.now() - started) / 1000;
      answer += piece;
      req.onToken?.(piece);
    }
  }
  return { answer: answer.trim(), seconds: (Date.now() - started) / 1000, firstTokenSeconds: first };
}

export const serverExists = (dir: string) => existsSync(recordFile(dir));
