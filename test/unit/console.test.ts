import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logMessage } from '../../src/core/milestones.js';
import { parsePythonDict } from '../../src/core/pydict.js';
import { parseClock, parseProgressBar } from '../../src/core/tqdm.js';
import { ConsoleParser, ConsoleTracker, parseConsole, phaseName, type ConsoleEvent } from '../../src/core/trainerconsole.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');
const fixture = (p: string) => readFileSync(join(FIX, p), 'utf8');
const consoleOf = (name: string) => parseConsole(fixture(`${name}/stdout.log`), fixture(`${name}/stderr.log`));

function chunks(text: string, seed = 1): string[] {
  const out: string[] = [];
  for (let i = 0, k = seed; i < text.length; k++) {
    const n = 1 + ((k * 53) % 211);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

const notBars = (events: ConsoleEvent[]) => events.filter((e) => e.kind !== 'bar');

describe('parseProgressBar', () => {
  it.each([
    {
      text: ' 25%|██▌       | 10/40 [00:00<00:00, 45.52it/s]',
      bar: { desc: '', done: 10, total: 40, elapsedSeconds: 0, remainingSeconds: 0, rate: 45.52, unit: 'it' },
    },
    {
      text: ' 20%|██        | 4/20 [00:24<01:02,  3.89s/it]',
      bar: { desc: '', done: 4, total: 20, elapsedSeconds: 24, remainingSeconds: 62, rate: 1 / 3.89, unit: 'it' },
    },
    {
      text: '  3%|▎         | 12/375 [00:41<20:31,  3.39s/it]',
      bar: { done: 12, total: 375, elapsedSeconds: 41, remainingSeconds: 1231 },
    },
    {
      text: ' 45%|████▌     | 4500/10000 [1:02:03<1:15:51,  1.21it/s]',
      bar: { done: 4500, total: 10000, elapsedSeconds: 3723, remainingSeconds: 4551, rate: 1.21 },
    },
    {
      text: '  0%|          | 0/40 [00:00<?, ?it/s]',
      bar: { done: 0, total: 40, remainingSeconds: null, rate: null },
    },
    {
      text: 'Running tokenizer on dataset (num_proc=2):  50%|█████     | 24/48 [00:01<00:01, 20.66 examples/s]',
      bar: { desc: 'Running tokenizer on dataset (num_proc=2)', done: 24, total: 48, rate: 20.66, unit: 'examples' },
    },
    {
      text: 'Converting format of dataset (num_proc=16): 100%|██████████| 25.0k/25.0k [00:03<00:00, 7.10k examples/s]',
      bar: { desc: 'Converting format of dataset (num_proc=16)', done: 25000, total: 25000 },
    },
    {
      text: 'Generating train split: 48 examples [00:00, 2445.24 examples/s]',
      bar: { desc: 'Generating train split', done: 48, total: null, rate: 2445.24, unit: 'examples' },
    },
    {
      text: 'Generating train split: 0 examples [00:00, ? examples/s]',
      bar: { desc: 'Generating train split', done: 0, total: null, rate: null },
    },
    {
      text: 'Loading weights: 100%|██████████| 57/57 [00:00<00:00, 17214.53it/s]',
      bar: { desc: 'Loading weights', done: 57, total: 57 },
    },
    {
      text: 'Loading checkpoint shards: 100%|██████████| 2/2 [00:03<00:00,  1.52s/it]',
      bar: { desc: 'Loading checkpoint shards', done: 2, total: 2, elapsedSeconds: 3 },
    },
  ])('$text', ({ text, bar }) => {
    const got = parseProgressBar(text);
    expect(got?.rest).toBe('');
    expect(got?.bar).toMatchObject(bar);
  });

  it('returns what was printed right after the bar (a log line without a newline before it)', () => {
    const text =
      ' 25%|██▌       | 10/40 [00:00<00:00, 45.52it/s][INFO|trainer.py:3809] 2026-11-27 21:34:13,892 >> Saving model checkpoint to /x/checkpoint-10';
    expect(parseProgressBar(text)?.rest).toBe(
      '[INFO|trainer.py:3809] 2026-11-27 21:34:13,892 >> Saving model checkpoint to /x/checkpoint-10',
    );
  });

  it.each([
    '[INFO|trainer.py:1476] 2026-11-27 21:34:13,668 >>   Total optimization steps = 40',
    "{'loss': '8.642', 'grad_norm': '0.701'}",
    'Setting num_proc from 2 back to 1 for the train split to disable multiprocessing as it only contains one shard.',
    '',
  ])('is not fooled by %j', (text) => {
    expect(parseProgressBar(text)).toBeUndefined();
  });
});

describe('parseClock', () => {
  it.each([
    ['00:41', 41],
    ['20:31', 1231],
    ['1:02:03', 3723],
    ['26:00:00', 93600],
    ['?', null],
  ])('%s', (text, s) => expect(parseClock(text)).toBe(s));
});

describe('parsePythonDict', () => {
  it.each([
    {
      name: 'transformers 5 (floats quoted)',
      text: "{'loss': '6.051', 'grad_norm': '0.352', 'learning_rate': '0.000117', 'epoch': '0.5312', 'num_input_tokens_seen': 128}",
      want: { loss: 6.051, grad_norm: 0.352, learning_rate: 0.000117, epoch: 0.5312, num_input_tokens_seen: 128 },
    },
    {
      name: 'older transformers (plain numbers)',
      text: "{'loss': 1.2345, 'grad_norm': 0.5, 'learning_rate': 9.9e-05, 'epoch': 0.08}",
      want: { loss: 1.2345, grad_norm: 0.5, learning_rate: 9.9e-5, epoch: 0.08 },
    },
    {
      name: "LLaMA Board's compact line",
      text: "{'loss': 8.6168, 'learning_rate': 5.0000e-04, 'epoch': 3.67, 'throughput': 1131.07}",
      want: { loss: 8.6168, learning_rate: 5e-4, epoch: 3.67, throughput: 1131.07 },
    },
    {
      name: 'summary',
      text: "{'train_runtime': '0.9335', 'train_samples_per_second': '85.69', 'train_steps_per_second': '42.85', 'train_loss': '7.077', 'epoch': '1.667', 'num_input_tokens_seen': 5120}",
      want: { train_runtime: 0.9335, train_loss: 7.077, num_input_tokens_seen: 5120 },
    },
    {
      name: 'None, booleans, nan, strings',
      text: `{'a': None, 'b': True, 'c': False, 'd': 'nan', 'e': "it's", 'f': 'text', 'g': -inf}`,
      want: { a: null, b: true, c: false, e: "it's", f: 'text', g: Number.NEGATIVE_INFINITY },
    },
    { name: 'empty', text: '{}', want: {} },
  ])('$name', ({ text, want }) => {
    expect(parsePythonDict(text)).toMatchObject(want);
  });

  it('reads a quoted nan as NaN', () => {
    expect(parsePythonDict("{'loss': 'nan'}")?.loss).toBeNaN();
  });

  it.each(["{'a': {'nested': 1}}", "{'a': [1, 2]}", "{'a' 1}", "{'a': 1", "{'a': 1} trailing", 'not a dict'])('rejects %s', (text) => {
    expect(parsePythonDict(text)).toBeUndefined();
  });
});

describe('logMessage and phaseName', () => {
  it.each([
    [
      '[INFO|2026-11-27 21:36:58] llamafactory.hparams.parser:144 >> Resuming training from /x/checkpoint-10.',
      'Resuming training from /x/checkpoint-10.',
    ],
    ['[INFO|trainer.py:1476] 2026-11-27 21:34:13,668 >>   Total optimization steps = 40', '  Total optimization steps = 40'],
    ["[INFO|2026-11-27 21:38:11] callbacks.py:144 >> {'loss': 8.5356}", "{'loss': 8.5356}"],
    ['[rank0]: torch.OutOfMemoryError: CUDA out of memory.', 'torch.OutOfMemoryError: CUDA out of memory.'],
    ['plain text', 'plain text'],
  ])('%s', (line, msg) => expect(logMessage(line)).toBe(msg));

  it.each([
    ['Running tokenizer on dataset (num_proc=16)', { name: 'tokenizing dataset', detail: 'num_proc=16' }],
    ['Converting format of dataset (num_proc=2)', { name: 'converting dataset', detail: 'num_proc=2' }],
    ['Generating train split', { name: 'reading dataset' }],
    ['Loading weights', { name: 'loading model' }],
    ['Loading checkpoint shards', { name: 'loading model' }],
    ['Writing model shards', { name: 'saving model' }],
    ['Something else', { name: 'Something else' }],
  ])('%s', (desc, want) => expect(phaseName(desc)).toEqual(want));
});

describe('ConsoleParser', () => {
  it.each(['resume', 'eval', 'abort', 'image-mismatch'])('%s: any chunking gives the same lines, milestones and metrics', (name) => {
    for (const stream of ['stdout.log', 'stderr.log']) {
      const text = fixture(`${name}/${stream}`);
      const whole = new ConsoleParser();
      const expected = notBars([...whole.feed(text), ...whole.end()]);
      const chunked = new ConsoleParser();
      const got: ConsoleEvent[] = [];
      for (const c of chunks(text)) got.push(...chunked.feed(c));
      got.push(...chunked.end());
      expect(notBars(got)).toEqual(expected);
    }
  });

  it('reports the latest redraw of a bar at once, and only once', () => {
    const p = new ConsoleParser();
    const first = p.feed('\r 10%|█         | 4/40 [00:00<00:00, 40.69it/s]');
    expect(first).toMatchObject([{ kind: 'bar', bar: { done: 4, total: 40 } }]);
    const next = p.feed('\r 12%|█▎        | 5/40 [00:00<00:00, 42.40it/s]');
    expect(next).toMatchObject([{ kind: 'bar', bar: { done: 5 } }]);
    expect(p.feed('\n')).toEqual([]);
  });

  it('finds a milestone split across chunks, and a bar glued to it', () => {
    const p = new ConsoleParser();
    const events = [
      ...p.feed(' 25%|██▌       | 10/40 [00:00<00:00, 45.52it/s][INFO|trainer.py:3809] 2026-11-27 21:34:13,892 >> Saving model chec'),
      ...p.feed('kpoint to /runs/x/output/checkpoint-10\r\n'),
    ];
    expect(events).toMatchObject([
      { kind: 'bar', bar: { done: 10, total: 40 } },
      { kind: 'milestone', milestone: { type: 'checkpoint-saved', step: 10, path: '/runs/x/output/checkpoint-10' } },
    ]);
  });

  it.each([
    [
      '[INFO|2026-11-27 21:36:58] llamafactory.hparams.parser:144 >> Resuming training from /o/checkpoint-10.',
      { type: 'resuming', checkpoint: '/o/checkpoint-10', step: 10 },
    ],
    [
      '[INFO|2026-11-27 21:34:13] llamafactory.model.loader:144 >> trainable params: 22,528 || all params: 298,624 || trainable%: 7.5439',
      { type: 'trainable-params', trainable: 22528, all: 298624, percent: 7.5439 },
    ],
    [
      '[INFO|2026-11-27 21:34:11] llamafactory.data.loader:144 >> Loading dataset scans.json...',
      { type: 'loading-dataset', name: 'scans.json' },
    ],
    ['training example:', { type: 'preprocessed', split: 'train' }],
    ['eval example:', { type: 'preprocessed', split: 'eval' }],
    ['[INFO|trainer.py:1467] 2026-11-27 21:34:13,668 >> ***** Running training *****', { type: 'training-started' }],
    ['[INFO|trainer.py:1476] 2026-11-27 21:34:13,668 >>   Total optimization steps = 1,200', { type: 'total-steps', steps: 1200 }],
    ['***** Running Evaluation *****', { type: 'evaluating' }],
    ['[INFO|trainer.py:3809] 2026-11-27 21:34:14,620 >> Saving model checkpoint to /o', { type: 'model-saved', path: '/o' }],
    ['Training completed. Do not forget to share your model on huggingface.co/models =)', { type: 'training-completed' }],
    ['Figure saved at: /o/training_loss.png', { type: 'figure-saved', path: '/o/training_loss.png' }],
    [
      '[WARNING|2026-11-27 21:34:11] llamafactory.train.callbacks:149 >> Previous trainer log in this folder will be deleted.',
      { type: 'trainer-log-deleted' },
    ],
    [
      '===== medtune attempt 2 started 2026-11-27T21:36:52.458Z (resuming from /o/checkpoint-10) =====',
      { type: 'attempt-started', attempt: 2, at: '2026-11-27T21:36:52.458Z' },
    ],
  ])('milestone %s', (line, milestone) => {
    const p = new ConsoleParser();
    expect(p.feed(`${line}\n`)).toMatchObject([{ kind: 'milestone', milestone }]);
  });

  it("does not take transformers' own resume line for a checkpoint path", () => {
    const p = new ConsoleParser();
    const [e] = p.feed(
      '[INFO|trainer.py:1480] 2026-11-27 21:36:59,452 >>   Resuming training from checkpoint with epoch 3 and global step 10\n',
    );
    expect(e?.kind).toBe('line');
  });

  it('tells the trainer metric dict from LLaMA Board compact line', () => {
    const p = new ConsoleParser();
    const events = p.feed(
      "{'loss': '8.536', 'grad_norm': '0.2809', 'learning_rate': '0.00055', 'epoch': '4', 'num_input_tokens_seen': 12288}\n" +
        "[INFO|2026-11-27 21:38:10] llamafactory.train.callbacks:144 >> {'loss': 8.5356, 'learning_rate': 5.5000e-04, 'epoch': 4.00, 'throughput': 1123.26}\n",
    );
    expect(events).toMatchObject([
      { kind: 'metrics', source: 'trainer', metrics: { loss: 8.536, epoch: 4, num_input_tokens_seen: 12288 } },
      { kind: 'metrics', source: 'llamaboard', metrics: { loss: 8.5356, learning_rate: 5.5e-4, throughput: 1123.26 } },
    ]);
  });

  it('collects a ***** train metrics ***** block', () => {
    const events = notBars(new ConsoleParser().feed(fixture('abort/stdout.log')));
    const block = events.find((e) => e.kind === 'final-metrics');
    expect(block).toMatchObject({
      kind: 'final-metrics',
      split: 'train',
      metrics: { epoch: '4.0', num_input_tokens_seen: '12416', train_loss: '8.7126' },
    });
  });
});

describe('parseConsole on recorded runs', () => {
  it('resume: two attempts appended, resumed from checkpoint-10, finished', () => {
    const s = consoleOf('resume');
    expect(s).toMatchObject({
      phase: null,
      totalSteps: 30,
      trainingStarts: 2,
      trainingStarted: true,
      trainingCompleted: true,
      preprocessed: true,
      resumedFrom: { step: 10 },
      checkpointsSaved: [10, 20, 30],
      trainableParams: { trainable: 5632, all: 281728 },
      trainBar: { done: 30, total: 30 },
      datasets: ['scans.json'],
    });
    expect(s.figureSaved).toMatch(/training_loss\.png$/);
    expect(s.summaryMetrics).toMatchObject({ train_loss: 5.601, num_input_tokens_seen: 30720 });
    expect(s.finalMetrics.train).toMatchObject({ train_loss: '5.601', train_runtime: '0:00:52.22' });
  });

  it('abort: graceful stop at step 12 still saves and plots', () => {
    const s = consoleOf('abort');
    expect(s).toMatchObject({
      phase: null,
      totalSteps: 200,
      trainBar: { done: 12, total: 200 },
      checkpointsSaved: [10],
      trainingCompleted: true,
    });
    expect(s.modelSaved).toMatch(/abort\/output$/);
  });

  it('eval: evaluation metrics and the final eval bar', () => {
    const s = consoleOf('eval');
    expect(s.lastEvalMetrics).toMatchObject({ eval_loss: 8.426 });
    expect(s.trainBar).toMatchObject({ done: 20, total: 20 });
    expect(s.finalMetrics).toHaveProperty('eval');
  });

  it('image-mismatch: failed while tokenizing, before preprocessing was done', () => {
    const s = consoleOf('image-mismatch');
    expect(s).toMatchObject({
      preprocessed: false,
      trainingStarted: false,
      phase: { name: 'tokenizing dataset', detail: 'num_proc=2', unit: 'examples' },
    });
  });

  it('undefined-dataset: nothing started', () => {
    expect(consoleOf('undefined-dataset')).toMatchObject({ phase: null, trainingStarted: false, datasets: [] });
  });

  it('running_log.txt (LLaMA Board mode) has the logger lines and compact metrics', () => {
    const s = parseConsole('', fixture('abort/output/running_log.txt'));
    expect(s).toMatchObject({
      trainingStarted: true,
      totalSteps: 200,
      checkpointsSaved: [10],
      trainingCompleted: true,
      plotted: true,
      phase: null,
    });
    expect(s.lastTrainMetrics).toMatchObject({ loss: 8.5356 });
  });
});

describe('ConsoleTracker phases', () => {
  it('eval run: dataset phases, model loading, then training interleaved with evaluation', () => {
    const t = new ConsoleTracker();
    const seen: string[] = [];
    for (const c of chunks(fixture('eval/stderr.log'), 3)) {
      t.feed('stderr', c);
      const name = t.state.phase?.name ?? 'none';
      if (seen[seen.length - 1] !== name) seen.push(name);
    }
    expect(seen.slice(0, 4)).toEqual(['none', 'converting dataset', 'tokenizing dataset', 'loading model']);
    expect(seen).toContain('evaluating');
    expect(seen.indexOf('training')).toBeLessThan(seen.indexOf('evaluating'));
    expect(seen.lastIndexOf('training')).toBeGreaterThan(seen.indexOf('evaluating'));
  });

  it('an eval bar never moves the training bar', () => {
    const t = new ConsoleTracker();
    let maxDone = 0;
    for (const c of chunks(fixture('eval/stderr.log'), 5)) {
      t.feed('stderr', c);
      const bar = t.state.trainBar;
      if (bar) {
        expect(bar.total).toBe(20);
        expect(bar.done).toBeGreaterThanOrEqual(maxDone);
        maxDone = bar.done;
      }
    }
    expect(maxDone).toBe(20);
  });

  it("medtune's attempt banner forgets the previous attempt's bar", () => {
    const t = new ConsoleTracker();
    t.feed(
      'stderr',
      '[INFO|trainer.py:1467] 2026-11-27 21:34:13,668 >> ***** Running training *****\n\r 43%|████▎     | 13/30 [00:14<00:18,  1.02s/it]',
    );
    expect(t.state.trainBar?.done).toBe(13);
    t.feed('stderr', '\n===== medtune attempt 2 started 2026-11-27T21:36:52.458Z (resuming from /o/checkpoint-10) =====\n');
    expect(t.state).toMatchObject({ attempt: 2, trainBar: null, trainingStarted: false, phase: { name: 'starting' } });
  });
});
