import { afterEach, expect, it } from 'vitest';
import { KEY, renderApp, type Tui } from './harness.js';
import { deferred, FakeSource, makeDataset, twoGpuState } from './fake-source.js';
import type { TrainParams } from '../../src/ui/source.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

function workspace(): FakeSource {
  const src = new FakeSource();
  src.datasets = [makeDataset('medtrinity-sample'), makeDataset('mt-ct')];
  src.models = [
    { name: 'tiny-qwen2-vl', path: '/ws/models/tiny-qwen2-vl', kind: 'tiny', template: 'qwen2_vl', bytes: 12_000_000 },
    { name: 'Qwen2-VL-2B-Instruct', path: '/ws/models/Qwen2-VL-2B-Instruct', kind: 'base', template: 'qwen2_vl', bytes: 4.4e9 },
  ];
  return src;
}

async function openTrain(src: FakeSource, columns = 80, rows = 24): Promise<Tui> {
  const t = renderApp({ source: src, initialScreen: 'train' }, { columns, rows });
  await t.waitFor('press p for a pre-flight');
  return t;
}

it('shows model, profile, datasets and the main parameters with the profile\'s values', async () => {
  tui = await openTrain(workspace());
  const s = tui.screen();
  expect(s).toContain('New training run profile cpu-tiny');
  expect(s).toMatch(/▸ model\s+‹ tiny-qwen2-vl ›\s+\/ws\/models\/tiny-qwen2-vl/);
  expect(s).toMatch(/profile\s+‹ cpu-tiny ›/);
  expect(s).toMatch(/datasets\s+‹ medtrinity-sample ›/);
  expect(s).toMatch(/epochs\s+1\n/);
  expect(s).toMatch(/cutoff length\s+1024/);
  // The tiny model's own values (core/models.ts), as `medtune train --model tiny-qwen2-vl` layers them.
  expect(s).toMatch(/learning rate\s+0\.005/);
  expect(s).toMatch(/LoRA rank\s+64/);
  expect(s).toMatch(/LR schedule\s+‹ cosine ›/);
  expect(s).toContain('↑↓ fields  ←→ choose  p pre-flight');
  await tui.press(KEY.down, KEY.right);
  const next = await tui.waitFor('‹ lora-1gpu ›');
  expect(next).toMatch(/cutoff length\s+2048/);
  expect(next).toMatch(/batch size\s+2/);
  expect(next).toContain('Qwen2-VL-2B LoRA on one 24 GB GPU');
});

it('says it is reading while the profiles load, not "none" and "fix the fields"', async () => {
  const src = workspace();
  const gate = deferred<void>();
  const profiles = src.profiles;
  src.listProfiles = async () => {
    await gate.promise;
    return profiles;
  };
  tui = renderApp({ source: src, initialScreen: 'train' }, { columns: 80, rows: 24 });
  const s = await tui.waitFor('reading models, datasets and profiles…');
  expect(s).toMatch(/profile\s+‹ reading… ›/);
  expect(s).not.toContain('none');
  expect(s).not.toContain('fix the fields');
  gate.resolve();
  await tui.waitFor(/profile\s+‹ cpu-tiny ›/);
  await tui.waitFor('press p for a pre-flight');
});

it('validates as you type: a bad value turns red at once and pre-flight goes away until it is fixed', async () => {
  tui = await openTrain(workspace());
  await tui.press(KEY.down, KEY.down, KEY.down, KEY.enter);
  await tui.waitFor('enter done  esc cancel');
  await tui.press(KEY.ctrlU, '0');
  let s = await tui.waitFor('a number above 0');
  expect(s).toMatch(/learning rate\s+0▏\s+a number above 0 and at most 1/);
  await tui.press('x');
  s = await tui.waitFor('not a number');
  await tui.press(KEY.enter);
  s = await tui.waitFor('fix the fields in red');
  expect(s).not.toContain('p pre-flight');
  await tui.press(KEY.enter, KEY.backspace, KEY.backspace, '5', 'e', '-', '5', KEY.tab);
  s = await tui.waitFor(/epochs\s+1▏/);
  expect(s).toMatch(/learning rate\s+5e-5\s/);
  await tui.press(KEY.esc);
  s = await tui.waitFor('p pre-flight');
  expect(s).not.toContain('must be');
});

it('esc while typing puts the old value back; q is typed, not obeyed', async () => {
  tui = await openTrain(workspace());
  await tui.press(KEY.down, KEY.down, KEY.down, KEY.down, KEY.enter, 'q', '?');
  const s = await tui.waitFor(/epochs\s+1q\?▏/);
  expect(s).toContain('not a number');
  await tui.press(KEY.esc);
  await tui.waitFor(/▸ epochs\s+1\s{3}/);
  expect(tui.exited()).toBe(false);
});

it('runs the pre-flight, shows checks, YAML and command, and launches into the run monitor', async () => {
  const src = workspace();
  const gate = deferred<void>();
  src.gate = gate.promise;
  tui = await openTrain(src);
  expect(tui.screen()).not.toContain('L launch');
  await tui.press('p');
  await tui.waitFor('⟳ pre-flight · checking');
  gate.resolve();
  let s = await tui.waitFor('Pre-flight');
  expect(s).toMatch(/✓ config\s+LLaMA-Factory parsed every key/);
  expect(s).toMatch(/! VRAM\s+no GPU: training runs on the CPU/);
  expect(s).toContain('llamafactory-cli train runs/r1/train.yaml');
  expect(s).toContain('finetuning_type: lora');
  expect(s).toContain('✓ pre-flight passed (4 checks) · L launches · v shows the plan');
  expect(s).toContain('v form/plan  L launch');
  await tui.press('v');
  s = await tui.waitFor('New training run');
  await tui.press('L');
  s = await tui.waitFor('Stats');
  expect(s).toMatch(/r-new preparing · tokenizing 10\/200/);
  const params = src.callsTo('startTrain')[0]!.args[0] as TrainParams;
  expect(params.model).toBe('tiny-qwen2-vl');
  expect(params.profile).toBe('cpu-tiny');
  expect(params.datasets).toEqual([{ name: 'medtrinity-sample', weight: 1 }]);
  expect(params.overrides).toMatchObject({ learning_rate: 5e-3, lora_rank: 64, num_train_epochs: 1, cutoff_len: 1024, lr_scheduler_type: 'cosine', image_max_pixels: 589824 });
  expect(src.callsTo('planTrain')[0]!.args[0]).toEqual(params);
});

it('asks for a new pre-flight when a parameter changes after one passed', async () => {
  tui = await openTrain(workspace());
  await tui.press('p');
  await tui.waitFor('pre-flight passed');
  await tui.press('v', KEY.down, KEY.down, KEY.down, KEY.down, KEY.enter, '0', KEY.enter);
  const s = await tui.waitFor('the parameters changed');
  expect(s).toMatch(/epochs\s+10\s/);
  expect(s).not.toContain('L launch');
});

it('shows a failed pre-flight and does not offer launch', async () => {
  const src = workspace();
  src.plan = { ...src.plan, ok: false, checks: [{ name: 'disk', level: 'fail', detail: 'needs ~3 GiB, 1 GiB free', next: 'free disk' }] };
  tui = await openTrain(src);
  await tui.press('p');
  const s = await tui.waitFor('pre-flight failed');
  expect(s).toContain('✗ pre-flight failed: disk');
  expect(s).toMatch(/✗ disk\s+needs ~3 GiB, 1 GiB free/);
  expect(s).not.toContain('L launch');
});

it('puts the plan beside the form on a wide terminal', async () => {
  tui = await openTrain(workspace(), 160, 40);
  await tui.press('p');
  const s = await tui.waitFor('train.yaml');
  const row = s.split('\n').find((l) => l.includes('▸ model'))!;
  expect(row).toMatch(/✓ config\s+LLaMA-Factory parsed every key/);
  expect(s).not.toContain('v form/plan');
});

it('scrolls a long YAML with page keys', async () => {
  const src = workspace();
  src.plan = { ...src.plan, yaml: Array.from({ length: 60 }, (_, i) => `key_${i}: ${i}`).join('\n') };
  tui = await openTrain(src);
  await tui.press('p');
  let s = await tui.waitFor('key_0: 0');
  expect(s).toMatch(/train\.yaml lines 1-\d+ of 60/);
  expect(s).toContain('pgup/dn yaml');
  await tui.press(KEY.pageDown);
  s = await tui.waitFor((x) => !x.includes('key_0: 0'));
  expect(s).toMatch(/lines \d+-\d+ of 60/);
  await tui.press(KEY.pageUp);
  await tui.waitFor('key_0: 0');
});

it("starts from the same defaults as `medtune train` (medtune.yaml, the GPU's profile), not the first of each list", async () => {
  const src = workspace();
  src.trainDefaultsValue = { model: '/ws/models/Qwen2-VL-2B-Instruct', datasets: ['mt-ct'], profile: 'lora-1gpu' };
  tui = await openTrain(src);
  const s = await tui.waitFor(/profile\s+‹ lora-1gpu ›/);
  expect(s).toMatch(/model\s+‹ Qwen2-VL-2B-Instruc… \/ws\/models\/Qwen2-VL-2B-Instruct/);
  expect(s).toMatch(/datasets\s+‹ mt-ct ›/);
  expect(s).toMatch(/cutoff length\s+2048/);
});

it('on a host with two GPUs offers the GPU choice, shows processes × batch × accumulation, and plans with --gpus', async () => {
  const src = workspace();
  src.plan = { ...src.plan, scale: 'ddp: 2 process(es); effective batch 2 × 1 × 8 = 16' };
  tui = renderApp({ source: src, initialScreen: 'train', gpu: twoGpuState() }, { columns: 100, rows: 30 });
  let s = await tui.waitFor('press p for a pre-flight');
  expect(s).toMatch(/GPUs\s+‹ all 2 ›/);
  await tui.press(KEY.down, KEY.down);
  s = await tui.waitFor(/▸ GPUs\s+‹ all 2 ›\s+effective batch 2 × 2 × 8 = 32 · one process per GPU/);
  await tui.press('p');
  s = await tui.waitFor('pre-flight passed');
  expect(s).toContain('ddp: 2 process(es); effective batch 2 × 1 × 8 = 16');
  expect((src.callsTo('planTrain')[0]!.args[0] as TrainParams).gpus).toBeUndefined();
  await tui.press('v', KEY.right);
  s = await tui.waitFor(/GPUs\s+‹ 0 ›/);
  expect(s).toContain('effective batch 1 × 2 × 8 = 16');
  await tui.press(KEY.right, KEY.right);
  s = await tui.waitFor(/GPUs\s+‹ all 2 ›/);
  await tui.press(KEY.left);
  s = await tui.waitFor(/GPUs\s+‹ 1 ›/);
  await tui.press('p');
  await tui.waitFor('pre-flight passed');
  expect((src.callsTo('planTrain')[1]!.args[0] as TrainParams).gpus).toBe('1');
});

it('on a host with one GPU there is no GPU row', async () => {
  tui = await openTrain(workspace());
  expect(tui.screen()).not.toMatch(/GPUs\s+‹/);
});

it('edits a number field by just typing on it, and the key bar says so', async () => {
  const src = workspace();
  tui = await openTrain(src, 100, 40);
  await tui.press(KEY.down, KEY.down, KEY.down);
  let s = await tui.waitFor(/▸ learning rate/);
  expect(s).toContain('0-9 type');
  await tui.press('2', 'e', '-', '4');
  s = await tui.waitFor(/learning rate\s+2e-4▏/);
  expect(s).toContain('enter done');
  await tui.press(KEY.enter);
  await tui.waitFor('press p for a pre-flight');
  await tui.press('p');
  await tui.waitFor('pre-flight passed');
  expect((src.callsTo('planTrain')[0]!.args[0] as TrainParams).overrides.learning_rate).toBe(2e-4);
});

it('adds keys the form has no row for, checked as --set checks them', async () => {
  const src = workspace();
  tui = await openTrain(src, 110, 40);
  // The last row: model, profile, datasets, the parameter rows, then "more keys".
  await tui.press(KEY.up, KEY.enter, ...'lora_dropout=2');
  let s = await tui.waitFor('lora_dropout must be a number at least 0');
  await tui.press(KEY.enter);
  s = await tui.waitFor('fix the fields in red');
  expect(s).not.toContain('p pre-flight');
  await tui.press(KEY.enter, KEY.ctrlU, ...'lora_dropout=0.05 lora_target=q_proj,v_proj', KEY.enter);
  s = await tui.waitFor('press p for a pre-flight');
  await tui.press('p');
  await tui.waitFor('pre-flight passed');
  expect((src.callsTo('planTrain')[0]!.args[0] as TrainParams).overrides).toMatchObject({ lora_dropout: 0.05, lora_target: 'q_proj,v_proj' });
});

it("takes LoRA rank and learning rate from the model's policy: the tiny model's learn, a real model keeps the profile's", async () => {
  tui = await openTrain(workspace(), 100, 40);
  let s = tui.screen();
  expect(s).toMatch(/LoRA rank\s+64/);
  await tui.press(KEY.right);
  s = await tui.waitFor(/model\s+‹ Qwen2-VL/);
  expect(s).toMatch(/LoRA rank\s+8\s/);
  expect(s).toMatch(/learning rate\s+0\.0001/);
});
