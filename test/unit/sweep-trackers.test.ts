import { describe, expect, it } from 'vitest';
import { expandGrid, parseGrid } from '../../src/core/sweep.js';
import { planTrackers, reportedTrackers } from '../../src/core/trackers.js';

describe('parseGrid and expandGrid', () => {
  it('expands every combination, the first axis slowest, each named by what varies', () => {
    const points = expandGrid(parseGrid(['learning_rate=1e-4,5e-4', 'lora_rank=8,16', 'num_train_epochs=1']));
    expect(points.map((p) => p.overrides)).toEqual([
      ['learning_rate=1e-4', 'lora_rank=8', 'num_train_epochs=1'],
      ['learning_rate=1e-4', 'lora_rank=16', 'num_train_epochs=1'],
      ['learning_rate=5e-4', 'lora_rank=8', 'num_train_epochs=1'],
      ['learning_rate=5e-4', 'lora_rank=16', 'num_train_epochs=1'],
    ]);
    expect(points.map((p) => p.name)).toEqual([
      'learning_rate-1e-4_lora_rank-8',
      'learning_rate-1e-4_lora_rank-16',
      'learning_rate-5e-4_lora_rank-8',
      'learning_rate-5e-4_lora_rank-16',
    ]);
  });
  it('keeps names id-safe', () => {
    expect(expandGrid(parseGrid(['lora_target=all,q_proj/v_proj'])).map((p) => p.name)).toEqual([
      'lora_target-all',
      'lora_target-q_proj-v_proj',
    ]);
  });
  const bad: Array<[string[], RegExp]> = [
    [[], /no --grid/],
    [['learning_rate'], /key=/],
    [['=1,2'], /key=/],
    [['learning_rate=1e-4,'], /empty value/],
    [['lora_rank=8,8'], /repeats/],
    [['lora_rank=8', 'lora_rank=16'], /twice/],
  ];
  for (const [texts, re] of bad) it(`refuses ${JSON.stringify(texts)}`, () => expect(() => parseGrid(texts)).toThrow(re));
});

describe('planTrackers', () => {
  const facts = {
    runDir: '/w/runs/r1',
    env: {},
    installed: ['tensorboard', 'wandb', 'mlflow_skinny', 'swanlab', 'swanboard'],
    venvBin: '/v/bin',
  };
  it('reads report_to as a list, a comma string or none', () => {
    expect(reportedTrackers('none')).toEqual([]);
    expect(reportedTrackers(undefined)).toEqual([]);
    expect(reportedTrackers('tensorboard, wandb')).toEqual(['tensorboard', 'wandb']);
    expect(reportedTrackers(['mlflow', 'mlflow'])).toEqual(['mlflow']);
  });
  it('TensorBoard needs nothing but its package', () => {
    expect(planTrackers('tensorboard', facts)).toEqual({ config: { report_to: 'tensorboard' }, env: {}, findings: [] });
  });
  it('W&B goes offline into the run folder without a key, and names wandb sync', () => {
    const p = planTrackers('wandb', facts);
    expect(p.env).toEqual({ WANDB_DIR: '/w/runs/r1', WANDB_PROJECT: 'medtune', WANDB_MODE: 'offline' });
    expect(p.findings.map((f) => [f.code, f.severity])).toEqual([['TRACKER_OFFLINE', 'warn']]);
    expect(p.findings[0]!.next).toContain('/v/bin/wandb sync /w/runs/r1/wandb/latest-run');
  });
  it('W&B with a key in the environment syncs online (and the key is not copied)', () => {
    const p = planTrackers('wandb', { ...facts, env: { WANDB_API_KEY: 'secret' } });
    expect(p.env.WANDB_MODE).toBeUndefined();
    expect(JSON.stringify(p)).not.toContain('secret');
    expect(p.findings).toEqual([]);
  });
  it('MLflow gets a file store in the run folder; SwanLab local mode through LLaMA-Factory', () => {
    const p = planTrackers(['mlflow', 'swanlab'], facts);
    expect(p.env).toMatchObject({ MLFLOW_TRACKING_URI: 'file:/w/runs/r1/mlruns', MLFLOW_ALLOW_FILE_STORE: 'true', SWANLAB_MODE: 'local' });
    expect(p.config).toMatchObject({
      report_to: ['mlflow', 'swanlab'],
      use_swanlab: true,
      swanlab_mode: 'local',
      swanlab_logdir: '/w/runs/r1/swanlog',
    });
  });
  it('a tracker not installed fails before launch and names the setup that adds it', () => {
    const p = planTrackers('tensorboard,wandb,mlflow', { ...facts, installed: ['tensorboard'] });
    const missing = p.findings.find((f) => f.code === 'TRACKER_MISSING')!;
    expect(missing.severity).toBe('fail');
    expect(missing.message).toContain('wandb, mlflow');
    expect(missing.next).toContain('medtune setup --with wandb --with mlflow');
  });
  it('an unknown tracker, or all, is refused', () => {
    expect(planTrackers('comet_ml', facts).findings.map((f) => f.code)).toEqual(['TRACKER_UNKNOWN']);
    expect(planTrackers('all', facts).findings.map((f) => f.code)).toEqual(['TRACKER_UNKNOWN']);
  });
});
