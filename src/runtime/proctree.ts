/** Process trees from /proc: which processes a run owns, which are leaves, whether any is still alive. */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  comm: string;
}

/** Parses /proc/<pid>/stat; the command name is in parentheses and may itself contain spaces or ')'. */
export function parseProcStat(text: string): ProcInfo | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  const pgid = Number(rest[2]);
  if (!Number.isFinite(pid) || !Number.isFinite(ppid)) return null;
  return { pid, ppid, pgid, comm: text.slice(open + 1, close) };
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const info = parseProcStat(readFileSync(`/proc/${e}/stat`, 'utf8'));
      if (info) out.push(info);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** The roots and all their descendants, from /proc. */
export function processTreePids(roots: readonly number[]): Set<number> {
  const out = new Set<number>();
  if (!roots.length) return out;
  const procs = listProcesses();
  for (const root of roots) for (const p of descendants(root, procs)) out.add(p.pid);
  return out;
}

/** The root and all its descendants, parents before children. */
export function descendants(root: number, procs: ProcInfo[] = listProcesses()): ProcInfo[] {
  const byParent = new Map<number, ProcInfo[]>();
  for (const p of procs) {
    const list = byParent.get(p.ppid) ?? [];
    list.push(p);
    byParent.set(p.ppid, list);
  }
  const self = procs.find((p) => p.pid === root);
  const out: ProcInfo[] = self ? [self] : [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    for (const c of byParent.get(pid) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** Helper processes a trainer starts with an exec of their own (not forked copies of it). */
const HELPER_CMDLINE = /multiprocessing\.(spawn|forkserver|resource_tracker)|compile_worker/;

/**
 * The trainers of a run: the lowest processes that exec'd a program of their own (the one llamafactory-cli, or
 * each torchrun rank). Their forked children (DataLoader and tokenizer workers) carry the parent's command line
 * and are skipped, and so are multiprocessing and compile helpers: a graceful SIGABRT must reach the process that
 * runs the training loop, not its loader workers (which would die at once and stall the step).
 */
export function trainerProcesses(tree: Array<ProcInfo & { cmdline: string }>): ProcInfo[] {
  const byPid = new Map(tree.map((p) => [p.pid, p]));
  const own = tree.filter((p) => {
    const parent = byPid.get(p.ppid);
    return !HELPER_CMDLINE.test(p.cmdline) && (!parent || parent.cmdline !== p.cmdline);
  });
  const ownPids = new Set(own.map((p) => p.pid));
  const hasOwnChild = new Set<number>();
  for (const p of own) {
    // Walk up to the nearest exec'd ancestor: it is not the lowest.
    for (let q = byPid.get(p.ppid); q; q = byPid.get(q.ppid)) {
      if (ownPids.has(q.pid)) {
        hasOwnChild.add(q.pid);
        break;
      }
    }
  }
  return own.filter((p) => !hasOwnChild.has(p.pid));
}

export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Processes in the tree that have no children: the workers that hold the model. */
export function leaves(tree: ProcInfo[]): ProcInfo[] {
  const parents = new Set(tree.map((p) => p.ppid));
  return tree.filter((p) => !parents.has(p.pid));
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0); it holds no memory, so it counts as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Members of a process group that are still alive. */
export function groupMembers(pgid: number, procs: ProcInfo[] = listProcesses()): ProcInfo[] {
  return procs.filter((p) => p.pgid === pgid);
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * A run's process tree, remembered across looks. torchrun starts every rank in a session of its own, so a signal
 * to the launcher's process group misses the ranks, and once the launcher has died they are no longer its
 * descendants (they are reparented): a stop that looked only at the group or the live tree would leave ranks
 * training with the model in memory. Every process ever seen under the root is kept here.
 */
export class RunTree {
  private readonly known = new Map<number, ProcInfo>();
  /** BFS order of first sight: parents before children. */
  private order: number[] = [];

  /** `group`: the launcher's process group (by default the root's), signalled too. */
  constructor(
    readonly root: number,
    readonly group: number = root,
  ) {
    this.refresh();
  }

  refresh(): ProcInfo[] {
    const tree = descendants(this.root);
    for (const p of tree) {
      if (!this.known.has(p.pid)) this.order.push(p.pid);
      this.known.set(p.pid, p);
    }
    return tree;
  }

  /** Processes of the run still alive, deepest first. */
  alive(): ProcInfo[] {
    this.refresh();
    return [...this.order]
      .reverse()
      .map((pid) => this.known.get(pid)!)
      .filter((p) => isAlive(p.pid));
  }

  /** The workers: processes without children in the live tree (the torchrun ranks, or the one trainer). */
  leaves(): ProcInfo[] {
    return leaves(this.refresh());
  }

  /** The processes that run the training loop (see trainerProcesses): the targets of a graceful stop. */
  trainers(): ProcInfo[] {
    const live = this.refresh().filter((p) => isAlive(p.pid));
    const found = trainerProcesses(live.map((p) => ({ ...p, cmdline: readCmdline(p.pid) })));
    return found.length ? found : leaves(live);
  }

  /** Every live process, leaves first, then each process group of the run (a rank's own helpers). */
  signal(signal: NodeJS.Signals): number {
    const live = this.alive();
    for (const p of live) signalPid(p.pid, signal);
    for (const pgid of new Set([this.group, ...live.map((p) => p.pgid)])) if (pgid > 1) signalGroup(pgid, signal);
    return live.length;
  }

  gone(): boolean {
    return this.alive().length === 0 && groupMembers(this.group).every((p) => !isAlive(p.pid));
  }
}

/** The real uid of a process (the `Uid:` line of /proc/<pid>/status); null when it is gone or not visible here. */
export function processUid(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Uid:'));
    const uid = Number(line?.slice(4).trim().split(/\s+/)[0]);
    return Number.isInteger(uid) ? uid : null;
  } catch {
    return null;
  }
}

/** User names by uid from /etc/passwd (a uid it does not list, e.g. in a container, reads as its number). */
export function userNames(): Map<number, string> {
  const out = new Map<number, string>();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid] = line.split(':');
      if (name && uid && /^\d+$/.test(uid)) out.set(Number(uid), name);
    }
  } catch {
    // no /etc/passwd: numbers only
  }
  return out;
}
