/**
 * The spine, for real: `medtune demo` drives the real llamafactory-cli (train and export) in the real venv on the
 * tiny Qwen2-VL and the offline sample set, then verifies the merged model loads and answers.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { lastJson, medtune, strayProcesses } from './harness.js';

describe('medtune demo (real llamafactory-cli on CPU)', () => {
  let ws: Workspace;
  let result: { exitCode?: number; stdout: string; all?: string };
  // biome-ignore lint/suspicious/noExplicitAny: the demo's JSON is checked field by field below
  let out: Record<string, any>;

  beforeAll(async () => {
    ws = workspaceAt(await mkdtemp(join(tmpdir(), 'medtune-demo-')));
    result = await medtune(ws, ['demo', '--json'], { timeout: 20 * 60_000 });
    out = lastJson(result.stdout);
  });
  afterAll(async () => {
    await rm(ws.root, { recursive: true, force: true });
  });

  it('exits 0 and reports every phase', () => {
    expect(result.exitCode, result.all?.slice(-3000)).toBe(0);
    expect(out.ok).toBe(true);
    expect(Object.keys(out.times)).toEqual(['venv', 'data', 'model', 'train', 'export', 'verify', 'learn']);
  });

  it('measures what the tuned model learned against the base model', () => {
    const check = out.learningCheck;
    process.stderr.write(
      `[demo learning check] ${check.steps} steps: tuned ${check.tunedAccuracy} vs base ${check.baseAccuracy} (chance ${check.chance}) on ${check.samples} images\n`,
    );
    expect(check.samples).toBeGreaterThan(10);
    expect(check.tunedAccuracy).toBeGreaterThan(check.baseAccuracy);
    expect(result.stdout + (result.all ?? '')).toContain('learning');
  });

  it('trained with a falling loss, recorded in trainer_log.jsonl', () => {
    const log = join(out.run.dir, 'output', 'trainer_log.jsonl');
    const losses = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { loss?: number })
      .filter((r) => r.loss !== undefined)
      .map((r) => r.loss!);
    expect(losses.length).toBeGreaterThan(5);
    const head = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const tail = losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(tail).toBeLessThan(head * 0.7);
  });

  it('left a LoRA adapter and a complete run record', () => {
    const output = join(out.run.dir, 'output');
    expect(existsSync(join(output, 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(output, 'adapter_config.json'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out.run.dir, 'run.json'), 'utf8'));
    expect(manifest.status).toBe('completed');
    expect(manifest.attempts).toHaveLength(1);
    expect(manifest.attempts[0].exitCode).toBe(0);
    expect(readFileSync(join(out.run.dir, 'train.yaml'), 'utf8')).toContain('template: qwen2_vl');
  });

  it('merged a model with safetensors and a chat template, and verify.json passes', () => {
    const files = readdirSync(out.export.dir);
    expect(files).toContain('model.safetensors');
    expect(files.some((f) => f === 'chat_template.jinja' || f === 'chat_template.json')).toBe(true);
    const verify = JSON.parse(readFileSync(join(out.export.dir, 'verify.json'), 'utf8'));
    expect(verify.ok).toBe(true);
    expect(verify.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
    expect(typeof verify.generation.text).toBe('string');
  });

  it('leaves no process behind', () => {
    expect(strayProcesses(ws)).toEqual([]);
  });
});
