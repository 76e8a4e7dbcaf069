/** Entry of the detached supervisor process: `node supervisor-main.js <runDir> [--resume-from DIR]`. */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { supervise } from './supervisor.js';
import { readManifest, updateManifest } from './manifest.js';
import { procIdentity } from './reconcile.js';
import { hostMachine, startQueuedRuns } from './queue.js';
import { workspaceAt } from './workspace.js';

const [runDir, flag, resumeFrom] = process.argv.slice(2);
// A closed terminal must not end the run; the supervisor has no terminal anyway (own session), but be explicit.
process.on('SIGHUP', () => undefined);

if (!runDir) {
  process.stderr.write('usage: supervisor-main.js <runDir> [--resume-from DIR]\n');
  process.exit(2);
}

// Announce this supervisor before its first attempt, so a reader can tell a queued run whose supervisor died.
const self = procIdentity(process.pid);
await updateManifest(runDir, (m) => {
  m.supervisor = {
    pid: process.pid,
    ...(self?.bootId ? { bootId: self.bootId } : {}),
    ...(self?.startTicks !== undefined ? { startTicks: self.startTicks } : {}),
  };
}).catch(() => undefined);

/** The run ahead hands over, however it ended: queued runs whose turn has come start now (runtime/queue.ts). */
async function handOver(cwd: string | undefined): Promise<void> {
  if (!cwd) return;
  await startQueuedRuns(workspaceAt(cwd), hostMachine()).catch((err: Error) =>
    appendFileSync(join(runDir!, 'supervisor.log'), `[${new Date().toISOString()}] starting queued runs failed: ${err.message}\n`),
  );
}

supervise(runDir, flag === '--resume-from' ? resumeFrom : undefined).then(
  async (m) => {
    await handOver(m.cwd);
    process.exit(0);
  },
  async (err: Error) => {
    appendFileSync(join(runDir, 'supervisor.log'), `[${new Date().toISOString()}] supervisor crashed: ${err.stack ?? err.message}\n`);
    await updateManifest(runDir, (m) => {
      m.status = 'failed';
      m.cause = {
        code: 'SUPERVISOR_CRASHED',
        summary: `the medtune supervisor crashed: ${err.message}`,
        next: `see ${join(runDir, 'supervisor.log')}; \`medtune resume\` continues from the last checkpoint`,
      };
    }).catch(() => undefined);
    await handOver((await readManifest(runDir).catch(() => undefined))?.cwd);
    process.exit(1);
  },
);
