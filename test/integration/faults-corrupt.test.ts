/**
 * Faults: workspace files cut short or edited by hand. Each case runs the real CLI (bin/medtune.js) and checks
 * the exit code, that stderr names the file and the fix without a stack trace, and that the user's file is
 * byte-for-byte what it was.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resumableCheckpoint } from '../../src/runtime/checkpoints.js';
import { DATASET, makeWorkspace, medtune, strayProcesses, type TestWorkspace } from './harness.js';

const FIXTURE_OUTPUT = join(import.meta.dirname, '..', 'fixtures', 'llamafactory', 'resume', 'output');

interface Outcome {
  exitCode: number | undefined;
  stderr: string;
}

/** A failure as the user sees it: non-zero, the "✗ While …" block, a "→ next" line, no JS stack frames. */
function expectCleanFailure(r: Outcome, ...mentions: (string | RegExp)[]): void {
  expect(r.exitCode, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(/✗ While /);
  expect(r.stderr).toMatch(/→ /);
  expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(r.stderr).not.toMatch(/Unexpected error/);
  for (const m of mentions) expect(r.stderr).toMatch(m);
}

describe('faults: corrupt or hand-edited workspace files', () => {
  let t: TestWorkspace;
  let runId: string;
  let runDir: string;
  beforeAll(async () => {
    t = await makeWorkspace('faults-corrupt');
    // A failed run with two checkpoints (recorded from a real llamafactory-cli run, weights and state only).
    runId = '20261204-120000-tiny-qwen2-vl-corrupt';
    runDir = join(t.ws.runsDir, runId);
    mkdirSync(runDir, { recursive: true });
    cpSync(FIXTURE_OUTPUT, join(runDir, 'output'), { recursive: true });
    rmSync(join(runDir, 'output', 'train_results.json'));
    rmSync(join(runDir, 'output', 'all_results.json'));
    writeFileSync(join(runDir, 'train.yaml'), 'stage: sft\nsave_steps: 10\n');
    const now = new Date().toISOString();
    writeFileSync(
      join(runDir, 'run.json'),
      JSON.stringify(
        {
          id: runId,
          createdAt: now,
          updatedAt: now,
          status: 'failed',
          model: t.modelDir,
          datasets: [DATASET],
          profile: 'cpu',
          outputDir: join(runDir, 'output'),
          trainYaml: join(runDir, 'train.yaml'),
          command: ['true'],
          env: {},
          cwd: t.ws.root,
          attempts: [{ n: 1, startedAt: now, endedAt: now, exitCode: 137, signal: 'SIGKILL' }],
          autoResume: 0,
        },
        null,
        2,
      ),
    );
  });
  afterEach(() => {
    expect(strayProcesses(t.ws)).toEqual([]);
  });
  afterAll(async () => {
    await t.cleanup();
  });

  const cli = async (args: string[]): Promise<Outcome> => {
    const r = await medtune(t.ws, args, { timeout: 300_000 });
    return { exitCode: r.exitCode, stderr: r.stderr };
  };

  it('a truncated run.json: status, runs, resume and stop name the file and the fix, and never rewrite it', async () => {
    const file = join(runDir, 'run.json');
    const whole = readFileSync(file);
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    writeFileSync(file, cut);
    try {
      for (const args of [['status', runId], ['runs'], ['resume', runId], ['stop', runId], ['export', runId]]) {
        expectCleanFailure(await cli(args), file, /not valid JSON/, /restore it|move the folder/);
        expect(readFileSync(file).equals(cut)).toBe(true);
      }
      const json = await medtune(t.ws, ['status', runId, '--json']);
      expect(json.exitCode).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ error: true, code: 'BAD_MANIFEST' });
    } finally {
      writeFileSync(file, whole);
    }
  }, 300_000);

  it('medtune.yaml with a YAML error or an unknown key: the line or the key, and the file untouched', async () => {
    const cases = [
      { text: 'model: tiny-qwen2-vl\ndatasets: [sample\nprofile: cpu\n', expect: [/not valid YAML at line \d+/] },
      { text: 'model: tiny-qwen2-vl\nprofle: cpu\n', expect: [/unknown key "profle"/] },
      { text: '- just\n- a list\n', expect: [/must be a mapping/] },
    ];
    for (const c of cases) {
      writeFileSync(t.ws.config, c.text);
      expectCleanFailure(await cli(['train', '--dataset', DATASET, '--model', t.modelDir, '--dry-run']), t.ws.config, ...c.expect);
      expect(readFileSync(t.ws.config, 'utf8')).toBe(c.text);
    }
    rmSync(t.ws.config);
  }, 300_000);

  it('dataset_info.json with a syntax error: data prepare and train refuse and leave it as it is', async () => {
    const file = t.ws.datasetInfo;
    const good = readFileSync(file, 'utf8');
    const broken = good.replace(/}\s*$/, '').replace('"sample":', '"sample"');
    writeFileSync(file, broken);
    try {
      expectCleanFailure(
        await cli(['data', 'prepare', '--source', 'sample', '--name', 'second']),
        file,
        /not a valid dataset_info.json/,
        /fix the file by hand/,
      );
      expect(readFileSync(file, 'utf8')).toBe(broken);
      expectCleanFailure(await cli(['train', '--dataset', DATASET, '--model', t.modelDir, '--dry-run']), file);
      expect(readFileSync(file, 'utf8')).toBe(broken);
    } finally {
      writeFileSync(file, good);
    }
  }, 300_000);

  it('a dataset_info.json entry pointing at a missing file: train names the entry, the file and the fix', async () => {
    const file = t.ws.datasetInfo;
    const good = readFileSync(file, 'utf8');
    const info = JSON.parse(good) as Record<string, { file_name: string }>;
    info.ghost = { ...info[DATASET]!, file_name: 'ghost/train.jsonl' };
    const edited = JSON.stringify(info, null, 2);
    writeFileSync(file, edited);
    try {
      const r = await cli(['train', '--dataset', 'ghost', '--model', t.modelDir, '--dry-run']);
      expectCleanFailure(r, /dataset "ghost"/, join(t.ws.dataDir, 'ghost', 'train.jsonl'), /file_name/);
      expect(readFileSync(file, 'utf8')).toBe(edited);
    } finally {
      writeFileSync(file, good);
    }
  }, 300_000);

  it('checkpoints without optimizer state: resume says why for each and starts nothing', async () => {
    const r = await cli(['resume', runId]);
    expectCleanFailure(
      r,
      /no checkpoint .* can be resumed/,
      /checkpoint-30: optimizer.pt is missing/,
      /checkpoint-20: optimizer.pt is missing/,
      /medtune train --from /,
    );
    const m = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { status: string; attempts: unknown[] };
    expect(m.status).toBe('failed');
    expect(m.attempts).toHaveLength(1);
  }, 300_000);

  it('resume skips a checkpoint whose optimizer.pt was cut short (torch.save on a full disk) for the earlier whole one', async () => {
    const out = join(runDir, 'output');
    // Real torch.save files, from the venv's torch.
    const py = join(t.venv.bin, 'python');
    await execa(py, [
      '-c',
      [
        'import sys, torch',
        'for d in sys.argv[1:]:',
        '    torch.save({"state": {0: {"exp_avg": torch.zeros(4096)}}, "param_groups": []}, d + "/optimizer.pt")',
        '    torch.save({"last_epoch": 20}, d + "/scheduler.pt")',
      ].join('\n'),
      join(out, 'checkpoint-20'),
      join(out, 'checkpoint-30'),
    ]);
    const opt30 = join(out, 'checkpoint-30', 'optimizer.pt');
    truncateSync(opt30, Math.floor(statSync(opt30).size / 2));
    const choice = await resumableCheckpoint(out);
    expect(choice.path).toBe(join(out, 'checkpoint-20'));
    expect(choice.skipped).toEqual([
      { step: 30, path: join(out, 'checkpoint-30'), reason: expect.stringMatching(/optimizer.pt is cut short/) as unknown as string },
    ]);
    // save_only_model runs never have optimizer state: their newest checkpoint is the one.
    expect((await resumableCheckpoint(out, { saveOnlyModel: true })).path).toBe(join(out, 'checkpoint-30'));
  }, 300_000);

  it('an export missing its safetensors (cut short, or a shard gone): ask refuses before loading, naming the file', async () => {
    // Images lie in per-unit folders below images/.
    const images = join(t.ws.dataDir, DATASET, 'images');
    const image = join(images, (readdirSync(images, { recursive: true }) as string[]).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort()[0]!);
    const dir = join(t.ws.exportsDir, 'broken');
    cpSync(t.modelDir, dir, { recursive: true });
    const weights = join(dir, 'model.safetensors');
    truncateSync(weights, Math.floor(statSync(weights).size / 2));
    const before = readFileSync(weights);
    expectCleanFailure(
      await cli(['ask', 'export:broken', '--image', image, 'what is this?']),
      weights.split('/').pop()!,
      /cut short/,
      /export the run again/,
    );
    expect(readFileSync(weights).equals(before)).toBe(true);

    // A sharded export whose index names a shard that is not there.
    rmSync(weights);
    cpSync(join(t.modelDir, 'model.safetensors'), join(dir, 'model-00001-of-00002.safetensors'));
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
    );
    expectCleanFailure(
      await cli(['ask', 'export:broken', '--image', image, 'what is this?']),
      /model-00002-of-00002.safetensors: it is missing/,
      /1 of 2 weights files/,
    );
  }, 300_000);
});
