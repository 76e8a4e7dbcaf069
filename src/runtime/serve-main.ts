/**
 * Entry of the detached server supervisor: `node serve-main.js <serverDir>`. It starts the command in
 * server.json (its own process group, output to files), records the pid, and records how it ended.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { readServer, updateServer } from './serve.js';
import { signalGroup } from './proctree.js';

const dir = process.argv[2];
process.on('SIGHUP', () => undefined);

async function main(serverDir: string): Promise<void> {
  const r = await readServer(serverDir);
  if (!r) throw new Error(`no server.json in ${serverDir}`);
  const out = openSync(join(serverDir, 'stdout.log'), 'a');
  const err = openSync(join(serverDir, 'stderr.log'), 'a');
  const child = spawn(r.command[0]!, r.command.slice(1), { cwd: serverDir, env: process.env, stdio: ['ignore', out, err], detached: true });
  closeSync(out);
  closeSync(err);
  // Listen before the first await: a server that fails at once must not exit unheard.
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((res) => {
    child.once('exit', (c, s) => res([c, s]));
    child.once('error', () => res([127, null]));
  });
  const forward = (sig: NodeJS.Signals) => () => {
    if (child.pid) signalGroup(child.pid, sig);
  };
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', forward('SIGINT'));
  await updateServer(serverDir, (x) => {
    x.pid = child.pid ?? null;
  });
  const [code, signal] = await exited;
  await updateServer(serverDir, (x) => {
    x.exitCode = code;
    x.signal = signal;
    x.endedAt = new Date().toISOString();
    x.status = x.status === 'stopping' ? 'stopped' : code === 0 ? 'exited' : 'failed';
  });
}

if (!dir) {
  process.stderr.write('usage: serve-main.js <serverDir>\n');
  process.exit(2);
}
main(dir).then(
  () => process.exit(0),
  () => process.exit(1),
);
