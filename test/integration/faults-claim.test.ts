/** Two launches that planned the same run id: the second folder moves to the next free id, paths and all. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { claimRunDir, rebasePlan } from '../../src/runtime/runclaim.js';
import type { RunPlan } from '../../src/core/runplan.js';

describe('run id claim', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('moves a plan whose id is taken to <id>-2, rewriting every path under runs/<id>', async () => {
    const root = await mkdtemp(join(tmpdir(), 'medtune-claim-'));
    dirs.push(root);
    const runs = join(root, 'runs');
    const id = '20261204-120000-tiny';
    mkdirSync(join(runs, id), { recursive: true });
    writeFileSync(join(runs, id, 'run.json'), '{"first":true}');
    const out = join(runs, id, 'output');
    const plan = {
      id,
      yaml: `# run ${id}\noutput_dir: ${out}\n`,
      command: ['cli', 'train', join(runs, id, 'train.yaml')],
      env: { LLAMABOARD_WORKDIR: out },
      commandLine: `cli train ${join(runs, id, 'train.yaml')}`,
      outputDir: out,
      config: { output_dir: out },
    } as unknown as RunPlan;
    const pending = join(runs, `.pending-${id}-1`);
    mkdirSync(pending);
    const write = async (p: RunPlan) => writeFileSync(join(pending, 'train.yaml'), p.yaml);
    await write(plan);
    const claimed = await claimRunDir(runs, pending, plan, write);
    expect(claimed.id).toBe(`${id}-2`);
    expect(readFileSync(join(runs, `${id}-2`, 'train.yaml'), 'utf8')).toBe(
      `# run ${id}-2\noutput_dir: ${join(runs, `${id}-2`, 'output')}\n`,
    );
    expect(claimed.env.LLAMABOARD_WORKDIR).toBe(join(runs, `${id}-2`, 'output'));
    expect(claimed.config.output_dir).toBe(join(runs, `${id}-2`, 'output'));
    expect(readFileSync(join(runs, id, 'run.json'), 'utf8')).toBe('{"first":true}');
    expect(existsSync(pending)).toBe(false);
    expect(rebasePlan(plan, 'x').command[2]).toBe(join(runs, 'x', 'train.yaml'));
  });
});
