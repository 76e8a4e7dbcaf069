/**
 * `medtune serve`: LLaMA-Factory's OpenAI-compatible API (`llamafactory-cli api`) for a model, export or run,
 * as a detached process tree under a small supervisor (serve-main.ts), like a training run. Everything about a
 * server is in servers/<id>/: server.json (status, address, pids), serve.yaml, stdout.log, stderr.log.
 *
 * Servers hold ports, so they are machine-wide: each one started also leaves a pointer to its folder in the
 * user's state folder (servers/<id>.json under `stateRoot`), and `listServers` shows the live ones of every
 * workspace; a pointer whose server is no longer alive is removed when it is next read.
 *
 * The API key, when there is one, is handed to the server through its environment and shown to the user once;
 * it is never written to a file. Request logging (API_VERBOSE) is off so that questions and images never reach
 * the logs, and the server reads no local files (ALLOW_LOCAL_FILES=0): images travel as data URLs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import { cmd } from '../core/nextstep.js';
import { templateForModelType } from '../core/models.js';
import {
  ChatStreamParser,
  chatMessage,
  clientHost,
  DEFAULT_HOST,
  DEFAULT_PORT,
  GREEDY,
  imageMime,
  keyPolicy,
  LIVE_SERVER_STATUSES,
  samplingProblem,
  ServerRecord,
  type Sampling,
} from '../core/serve.js';
import { readJsonIfExists, withLock, writeFileAtomic, writeJsonAtomic } from './atomic.js';
import { helperEnv } from './pythonhelper.js';
import { imagePixels, resolveModel, summary, type ModelSpec, type ModelTarget } from './modelref.js';
import { PACKAGE_ROOT, stateRoot } from './paths.js';
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

/** A server as listed: its record, its folder, and the workspace it was started from. */
export type ListedServer = ServerRecord & { dir: string; workspace: string };

/** The machine's registry of servers: one pointer file per server started from any folder. */
export const registryDir = (env: NodeJS.ProcessEnv = process.env) => join(stateRoot(env), 'servers');

async function readListed(dir: string): Promise<ListedServer | undefined> {
  const r = await readServer(dir);
  if (!r) return undefined;
  if (LIVE_SERVER_STATUSES.includes(r.status) && !isAlive(r.supervisorPid ?? undefined) && !isAlive(r.pid ?? undefined))
    r.status = 'exited';
  return { ...r, dir, workspace: dirname(dirname(dir)) };
}

/** The live servers of the whole machine, from the registry; pointers to servers that are gone are removed. */
export async function machineServers(env: NodeJS.ProcessEnv = process.env): Promise<ListedServer[]> {
  const reg = registryDir(env);
  const names = await readdir(reg).catch(() => [] as string[]);
  const out: ListedServer[] = [];
  for (const name of names
    .filter((n) => n.endsWith('.json'))
    .sort()
    .reverse()) {
    const file = join(reg, name);
    const ptr = await readJsonIfExists<{ dir?: unknown }>(file).catch(() => undefined);
    const r = typeof ptr?.dir === 'string' ? await readListed(ptr.dir) : undefined;
    if (r && isLive(r)) out.push(r);
    else await rm(file, { force: true });
  }
  return out;
}

/**
 * Every server of the workspace (newest first, ended ones too), then the live ones started from other folders;
 * a live status whose supervisor is gone reads as `exited`.
 */
export async function listServers(ws: Workspace, env: NodeJS.ProcessEnv = process.env): Promise<ListedServer[]> {
  const names = await readdir(serversDir(ws)).catch(() => [] as string[]);
  const out: ListedServer[] = [];
  for (const name of names.sort().reverse()) {
    const r = await readListed(join(serversDir(ws), name));
    if (r) out.push(r);
  }
  const own = new Set(out.map((s) => s.dir));
  return [...out, ...(await machineServers(env)).filter((s) => !own.has(s.dir))];
}

export const isLive = (r: ServerRecord) => LIVE_SERVER_STATUSES.includes(r.status);

export async function portFree(host: string, port: number): Promise<boolean> {
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
  /** The default decoding of requests that name none; default greedy. */
  sampling?: Partial<Sampling>;
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
  const sampling: Sampling = { ...GREEDY, ...req.sampling };
  const bad = samplingProblem(sampling);
  if (bad)
    throw new MedtuneError({ doing, problem: bad.problem, next: 'pass --temperature 0…2 and --top-p in (0, 1]', code: 'BAD_SAMPLING' });
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
    // LLaMA-Factory's own default samples (temperature 0.95): a request without a temperature then gets garbled
    // text from a small model. Temperature 0 turns sampling off unless the request asks for it.
    temperature: sampling.temperature,
    top_p: sampling.topP,
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
    sampling,
  };
  await writeJsonAtomic(recordFile(dir), record);
  await writeJsonAtomic(join(registryDir(), `${id}.json`), { dir });
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

/**
 * Which servers `serve --stop` stops: `all` (every live one of the machine), an id or id prefix (of any
 * workspace), or none (the live ones of this workspace).
 */
export type StopWhich = { all: true } | { id: string } | { workspace: true };

/** Stops the servers `which` names; returns them with the live servers of other folders that were left running. */
export async function stopServers(
  ws: Workspace,
  which: StopWhich,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stopped: ListedServer[]; elsewhere: ListedServer[] }> {
  const all = await listServers(ws, env);
  const picked =
    'id' in which
      ? all.filter((s) => s.id === which.id || s.id.startsWith(which.id))
      : 'all' in which
        ? all.filter(isLive)
        : all.filter((s) => isLive(s) && s.workspace === ws.root);
  if ('id' in which && !picked.length)
    throw new MedtuneError({
      doing: `stopping server ${which.id}`,
      problem: 'no server of this machine has that id',
      next: ['see ', cmd('serve'), ' for the servers of this workspace and the live ones of the machine'],
      code: 'NO_SERVER',
    });
  const stopped: ListedServer[] = [];
  for (const s of picked) {
    const r = isLive(s) ? await stopServer(s.dir) : s;
    if (r) stopped.push({ ...r, dir: s.dir, workspace: s.workspace });
  }
  const done = new Set(picked.map((s) => s.dir));
  return { stopped, elsewhere: all.filter((s) => isLive(s) && !done.has(s.dir)) };
}

/** A live, ready server of this machine that serves exactly this model (same weights, same adapter). */
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
  maxNewTokens: number;
  sampling: Sampling;
  onToken?: (text: string) => void;
  signal?: AbortSignal;
}

/** One streamed chat completion with image parts; resolves with the whole answer. */
export async function askServer(
  req: ServerAskRequest,
): Promise<{ answer: string; seconds: number; firstTokenSeconds: number | null; cut: boolean }> {
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
        max_tokens: req.maxNewTokens,
        temperature: req.sampling.temperature,
        ...(req.sampling.temperature > 0 ? { top_p: req.sampling.topP } : {}),
      }),
      signal: req.signal,
    });
  } catch (err) {
    throw new MedtuneError({
      doing,
      problem: `the server cannot be reached (${(err as Error).message})`,
      next: ['check it with ', cmd('serve'), ', or start one with ', cmd('serve', 'MODEL')],
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
  return { answer: answer.trim(), seconds: (Date.now() - started) / 1000, firstTokenSeconds: first, cut: parser.finishReason === 'length' };
}

export const serverExists = (dir: string) => existsSync(recordFile(dir));
