/**
 * Servers are the machine's: the registry in the user's state folder makes `serve`, `serve --stop` and `runs`
 * see servers started from any folder; a pointer to a server that is no longer alive is removed when read.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerRecord } from '../../src/core/serve.js';
import { listServers, machineServers, registryDir, stopServers } from '../../src/runtime/serve.js';
import { workspaceAt } from '../../src/runtime/workspace.js';

const root = mkdtempSync(join(tmpdir(), 'medtune-registry-'));
const env = { MEDTUNE_STATE_DIR: join(root, 'state') } as NodeJS.ProcessEnv;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A dead pid: one past the kernel's limit is never a process. */
const DEAD = 4_194_305;

function server(ws: string, id: string, pid: number, status: ServerRecord['status'] = 'ready'): string {
  const dir = join(ws, 'servers', id);
  mkdirSync(dir, { recursive: true });
  const record: ServerRecord = {
    id,
    status,
    host: '127.0.0.1',
    port: 8000,
    url: 'http://127.0.0.1:8000/v1',
    keyRequired: false,
    model: { kind: 'export', ref: 'export:x', label: 'export x', model: join(ws, 'exports', 'x'), adapter: null },
    modelName: 'x',
    supervisorPid: pid,
    pid,
    startedAt: new Date().toISOString(),
    readyAt: null,
    endedAt: null,
    exitCode: null,
    signal: null,
    command: ['llamafactory-cli', 'api'],
  };
  writeFileSync(join(dir, 'server.json'), JSON.stringify(record));
  mkdirSync(registryDir(env), { recursive: true });
  writeFileSync(join(registryDir(env), `${id}.json`), JSON.stringify({ dir }));
  return dir;
}

describe('the machine-wide registry of servers', () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  // A live server of workspace a (this test's own pid stands in for it), one of b, and a dead one of b.
  server(a, '20261208-000001-x', process.pid);
  server(b, '20261208-000002-y', process.pid);
  server(b, '20261208-000003-gone', DEAD);

  it('lists the live servers of every folder and drops the pointers of dead ones', async () => {
    const live = await machineServers(env);
    expect(live.map((s) => [s.id, s.workspace])).toEqual([
      ['20261208-000002-y', b],
      ['20261208-000001-x', a],
    ]);
    expect(readdirSync(registryDir(env)).sort()).toEqual(['20261208-000001-x.json', '20261208-000002-y.json']);
  });

  it("a workspace's list: its own servers (ended ones too), then the live ones of other folders", async () => {
    const list = await listServers(workspaceAt(b), env);
    expect(list.map((s) => [s.id, s.status])).toEqual([
      ['20261208-000003-gone', 'exited'],
      ['20261208-000002-y', 'ready'],
      ['20261208-000001-x', 'ready'],
    ]);
  });

  it('serve --stop without an id leaves the servers of other folders running and names them', async () => {
    const dir = server(root, '20261208-000004-here', DEAD, 'stopped');
    const ws = workspaceAt(root);
    const r = await stopServers(ws, { workspace: true }, env);
    expect(r.stopped).toEqual([]);
    expect(r.elsewhere.map((s) => s.id).sort()).toEqual(['20261208-000001-x', '20261208-000002-y']);
    expect(existsSync(dir)).toBe(true);
  });
});
