import { describe, expect, it } from 'vitest';
import { trainerProcesses, type ProcInfo } from '../../src/runtime/proctree.js';

type P = ProcInfo & { cmdline: string };
const p = (pid: number, ppid: number, cmdline: string): P => ({ pid, ppid, pgid: 1, comm: cmdline.split(' ')[0]!.slice(-15), cmdline });

const CLI = '/venv/bin/python /venv/bin/llamafactory-cli train runs/x/train.yaml';
const TORCHRUN = '/venv/bin/python -m torch.distributed.run --nproc-per-node 2 /venv/lib/llamafactory/launcher.py runs/x/train.yaml';
const RANK = '/venv/bin/python -u /venv/lib/llamafactory/launcher.py runs/x/train.yaml';

describe('trainerProcesses: who gets the graceful SIGABRT', () => {
  it.each<[string, P[], number[]]>([
    ['one trainer and its forked DataLoader workers', [p(10, 1, CLI), p(11, 10, CLI), p(12, 10, CLI)], [10]],
    [
      'one trainer, tokenizer workers forked from it, a resource tracker',
      [p(10, 1, CLI), p(11, 10, CLI), p(13, 10, '/venv/bin/python -c from multiprocessing.resource_tracker import main;main(5)')],
      [10],
    ],
    [
      'torchrun: every rank, none of their loader workers',
      [p(10, 1, CLI), p(20, 10, TORCHRUN), p(30, 20, RANK), p(31, 20, RANK), p(32, 30, RANK), p(33, 30, RANK), p(34, 31, RANK)],
      [30, 31],
    ],
    ['a rank whose launcher already died (reparented to init)', [p(30, 1, RANK), p(32, 30, RANK)], [30]],
    [
      'an inductor compile worker is a helper, not a trainer',
      [p(10, 1, CLI), p(40, 10, '/venv/bin/python -m torch._inductor.compile_worker --pool')],
      [10],
    ],
    ["nothing exec'd below the root: the root", [p(10, 1, CLI)], [10]],
  ])('%s', (_what, tree, want) => {
    expect(
      trainerProcesses(tree)
        .map((x) => x.pid)
        .sort((a, b) => a - b),
    ).toEqual(want);
  });
});
