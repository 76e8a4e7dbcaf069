/**
 * Trackers through LLaMA-Factory with the real llamafactory-cli on the tiny model: `setup --with` adds W&B and
 * MLflow to the venv; one run reports to TensorBoard, W&B (offline, no key) and MLflow (a file store in the run
 * folder), and each tracker's own files are read back with its own reader; `medtune board` serves the run on
 * 127.0.0.1 and `board --stop` ends it. SwanLab is left out: its local mode fails inside swanboard (docs/experiments.md).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import { DATASET, lastJson, makeWorkspace, medtune, strayProcesses, waitUntil, type TestWorkspace } from './harness.js';

/** train/loss of a W&B offline run, read from its .wandb file (LevelDB log records of wandb's protobuf Records). */
const WANDB_READER = `
import sys, struct, json
from wandb.proto import wandb_internal_pb2 as pb
data = open(sys.argv[1], 'rb').read()
pos, BLOCK, buf, recs = 7, 32768, b'', []
while pos + 7 <= len(data):
    left = BLOCK - (pos % BLOCK)
    if left < 7:
        pos += left
        continue
    crc, ln, typ = struct.unpack('<IHB', data[pos:pos + 7])
    pos += 7
    if typ == 0 and ln == 0:
        pos += left - 7
        continue
    chunk = data[pos:pos + ln]
    pos += ln
    if typ == 1: recs.append(chunk)
    elif typ == 2: buf = chunk
    elif typ == 3: buf += chunk
    elif typ == 4:
        recs.append(buf + chunk)
        buf = b''
loss = []
for r in recs:
    rec = pb.Record()
    rec.ParseFromString(r)
    if rec.WhichOneof('record_type') == 'history':
        items = {i.key or '/'.join(i.nested_key): i.value_json for i in rec.history.item}
        if 'train/loss' in items:
            loss.append([json.loads(items['train/global_step']), json.loads(items['train/loss'])])
print(json.dumps(loss))
`;

/** train loss of the run's MLflow file store, read by MLflow's own client. */
const MLFLOW_READER = `
import sys, json
from mlflow.tracking import MlflowClient
c = MlflowClient(sys.argv[1])
exp = c.get_experiment_by_name('medtune')
runs = c.search_runs([exp.experiment_id])
print(json.dumps([[m.step, m.value] for m in c.get_metric_history(runs[0].info.run_id, 'loss')]))
`;

describe('trackers: TensorBoard, W&B offline, MLflow file store, board', () => {
  let t: TestWorkspace;
  beforeAll(async () => {
    t = await makeWorkspace('trackers');
  });
  afterAll(async () => {
    await medtune(t.ws, ['board', '--stop']);
    for (const pid of strayProcesses(t.ws)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await t.cleanup();
  });

  it('writes each tracker into the run folder and reads the same loss back from each', async () => {
    const setup = await medtune(t.ws, ['setup', '--with', 'wandb', '--with', 'mlflow', '--json'], { timeout: 900_000 });
    expect(setup.exitCode, setup.all?.slice(-2000)).toBe(0);
    expect(Object.keys(lastJson<{ extras: Record<string, string> }>(setup.stdout).extras)).toEqual(
      expect.arrayContaining(['wandb', 'mlflow-skinny']),
    );

    const r = await medtune(
      t.ws,
      [
        'train',
        '--dataset',
        DATASET,
        '--eval-dataset',
        'none',
        '--profile',
        'cpu',
        '--model',
        t.modelDir,
        '--set',
        'max_steps=2',
        '--set',
        'logging_steps=1',
        '--set',
        'save_steps=100',
        '--set',
        'report_to=tensorboard,wandb,mlflow',
        '--detach',
        '--json',
      ],
      { timeout: 600_000 },
    );
    expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
    expect(r.stderr).toMatch(/W&B runs offline[\s\S]*wandb sync .*\/wandb\/latest-run/);
    const id = lastJson<{ id: string }>(r.stdout).id;
    const dir = join(t.ws.runsDir, id);
    await waitUntil(async () => ['completed', 'failed'].includes((await readManifest(dir))?.status ?? ''), 600_000, 'the run to end');
    const m = (await readManifest(dir))!;
    expect(m.status, JSON.stringify(m.cause)).toBe('completed');
    expect(m.env).toMatchObject({ WANDB_MODE: 'offline', WANDB_DIR: dir, MLFLOW_TRACKING_URI: `file:${dir}/mlruns` });

    const wandbDir = join(dir, 'wandb', 'latest-run');
    const wandbFile = readdirSync(wandbDir).find((f) => f.endsWith('.wandb'))!;
    const wandbLoss = JSON.parse((await execa(t.venv.python, ['-c', WANDB_READER, join(wandbDir, wandbFile)])).stdout) as number[][];
    const mlflowLoss = JSON.parse(
      (await execa(t.venv.python, ['-c', MLFLOW_READER, `file:${dir}/mlruns`], { env: { MLFLOW_ALLOW_FILE_STORE: 'true' } })).stdout,
    ) as number[][];
    const status = lastJson<{ records: Array<{ step: number; loss: number }> }>(
      (await medtune(t.ws, ['status', id, '--json', '--records'])).stdout,
    );
    const logged = status.records.map((x) => [x.step, x.loss]);
    expect(logged.map(([s]) => s)).toEqual([1, 2]);
    for (const got of [wandbLoss, mlflowLoss]) {
      expect(got.map(([s]) => s)).toEqual([1, 2]);
      got.forEach(([, v], i) => {
        expect(v).toBeCloseTo(logged[i]![1]!, 3);
      });
    }

    // TensorBoard on the workspace, loopback only, lists the run's event files; --stop ends it.
    const board = await medtune(t.ws, ['board', '--port', '6106', '--json']);
    expect(board.exitCode, board.all?.slice(-2000)).toBe(0);
    const b = lastJson<{ url: string; pid: number }>(board.stdout);
    expect(b.url).toBe('http://127.0.0.1:6106/');
    const listed = (await (await fetch(`${b.url}data/runs`)).json()) as string[];
    expect(listed.some((x) => x.startsWith(`${id}/output/runs/`))).toBe(true);
    const stop = await medtune(t.ws, ['board', '--stop', '--json']);
    expect(lastJson<{ stopped: boolean }>(stop.stdout).stopped).toBe(true);
    await expect(fetch(b.url)).rejects.toThrow();
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 1_500_000);
});
