/**
 * `medtune board`: TensorBoard on the workspace's runs (every run's output/runs/ event files), bound to 127.0.0.1
 * only, detached like a run, its pid and address in runs/.board/board.json. `--stop` ends it.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { readJsonIfExists, withLock, writeJsonAtomic } from './atomic.js';
import { tailText } from './files.js';
import { isAlive, signalGroup } from './proctree.js';
import { procIdentity } from './reconcile.js';
import { portFree } from './serve.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export const BOARD_HOST = '127.0.0.1';
export const BOARD_PORT = 6006;

export interface BoardRecord {
  pid: number;
  startTicks?: number;
  url: string;
  port: number;
  logdir: string;
  log: string;
  startedAt: string;
}

const boardDir = (ws: Workspace) => join(ws.runsDir, '.board');
const recordFile = (ws: Workspace) => join(boardDir(ws), 'board.json');

/** The board of this workspace while its process lives (a record left by a dead one reads as none). */
export async function readBoard(ws: Workspace): Promise<BoardRecord | null> {
  const r = await readJsonIfExists<BoardRecord>(recordFile(ws)).catch(() => undefined);
  if (!r || !isAlive(r.pid)) return null;
  const now = procIdentity(r.pid);
  if (r.startTicks !== undefined && now?.startTicks !== undefined && now.startTicks !== r.startTicks) return null;
  return r;
}

async function listening(port: number): Promise<boolean> {
  return fetch(`http://${BOARD_HOST}:${port}/`).then(
    (res) => res.ok,
    () => false,
  );
}

/** Starts TensorBoard (or returns the one already running); resolves once it answers. */
export async function startBoard(
  ws: Workspace,
  venv: Venv,
  opts: { port?: number } = {},
): Promise<{ board: BoardRecord; started: boolean }> {
  const doing = 'starting TensorBoard on the workspace';
  const exe = join(venv.bin, 'tensorboard');
  if (!existsSync(exe)) {
    throw new MedtuneError({
      doing,
      problem: `${exe} is missing`,
      next: 'rebuild the venv with `medtune setup --force`',
      code: 'MODULE_MISSING',
    });
  }
  await mkdir(boardDir(ws), { recursive: true });
  return withLock(recordFile(ws), async () => {
    const running = await readBoard(ws);
    if (running) return { board: running, started: false };
    let port = opts.port ?? BOARD_PORT;
    if (!(await portFree(BOARD_HOST, port))) {
      if (opts.port !== undefined)
        throw new MedtuneError({
          doing,
          problem: `port ${port} on ${BOARD_HOST} is taken`,
          next: 'pick another with --port N',
          code: 'PORT_TAKEN',
        });
      while (!(await portFree(BOARD_HOST, port)) && port < BOARD_PORT + 100) port++;
    }
    const log = join(boardDir(ws), 'board.log');
    const fd = openSync(log, 'a');
    const child = spawn(exe, ['--logdir', ws.runsDir, '--host', BOARD_HOST, '--port', String(port)], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, VIRTUAL_ENV: venv.dir, PATH: `${venv.bin}:${process.env.PATH ?? ''}` },
    });
    closeSync(fd);
    child.unref();
    const pid = child.pid ?? 0;
    const end = Date.now() + 90_000;
    while (!(await listening(port))) {
      if (!isAlive(pid) || Date.now() > end) {
        if (isAlive(pid)) signalGroup(pid, 'SIGTERM');
        throw new MedtuneError({
          doing,
          problem: isAlive(pid) ? 'TensorBoard did not answer within 90 s' : 'TensorBoard exited',
          details: (await tailText(log, 4096)).trim().split('\n').slice(-6),
          next: `read ${log}`,
          code: 'BOARD_FAILED',
        });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const board: BoardRecord = {
      pid,
      ...(procIdentity(pid)?.startTicks !== undefined ? { startTicks: procIdentity(pid)!.startTicks } : {}),
      url: `http://${BOARD_HOST}:${port}/`,
      port,
      logdir: ws.runsDir,
      log,
      startedAt: new Date().toISOString(),
    };
    await writeJsonAtomic(recordFile(ws), board);
    return { board, started: true };
  });
}

/** Ends the workspace's TensorBoard; false when none was running. */
export async function stopBoard(ws: Workspace): Promise<boolean> {
  const board = await readBoard(ws);
  if (board) {
    signalGroup(board.pid, 'SIGTERM');
    const end = Date.now() + 10_000;
    while (isAlive(board.pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    if (isAlive(board.pid)) signalGroup(board.pid, 'SIGKILL');
  }
  await rm(recordFile(ws), { force: true });
  return board !== null;
}
