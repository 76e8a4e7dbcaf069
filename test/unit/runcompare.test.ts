import { describe, expect, it } from 'vitest';
import { chartRowText } from '../../src/core/chart.js';
import {
  compareChart,
  compareRuns,
  defaultAxis,
  differingParams,
  parseRankBy,
  rankRuns,
  type CompareInput,
} from '../../src/core/runcompare.js';
import type { TrainConfig } from '../../src/core/trainconfig.js';
import { comparisonLines } from '../../src/cli/compareview.js';

const base: TrainConfig = { learning_rate: 1e-4, lora_rank: 8, output_dir: 'runs/a/output', per_device_train_batch_size: 2 };

describe('differingParams', () => {
  const cases: Array<{ name: string; configs: Array<TrainConfig | null>; want: Array<{ key: string; values: unknown[] }> }> = [
    { name: 'identical configs differ in nothing', configs: [base, { ...base }], want: [] },
    {
      name: 'only the learning rate differs (output_dir is run-specific)',
      configs: [base, { ...base, learning_rate: 5e-4, output_dir: 'runs/b/output' }],
      want: [{ key: 'learning_rate', values: [1e-4, 5e-4] }],
    },
    {
      name: 'a key set in one run only',
      configs: [base, { ...base, val_size: 0.1 }],
      want: [{ key: 'val_size', values: [null, 0.1] }],
    },
    {
      name: 'a run without a config is left out of the decision but keeps its column',
      configs: [base, null, { ...base, lora_rank: 16 }],
      want: [{ key: 'lora_rank', values: [8, null, 16] }],
    },
    { name: 'fewer than two configs: nothing to compare', configs: [base, null], want: [] },
    {
      name: 'lists compare by value',
      configs: [
        { ...base, report_to: ['tensorboard'] },
        { ...base, report_to: ['tensorboard'] },
        { ...base, report_to: ['wandb'] },
      ],
      want: [{ key: 'report_to', values: [['tensorboard'], ['tensorboard'], ['wandb']] }],
    },
  ];
  for (const c of cases) it(c.name, () => expect(differingParams(c.configs)).toEqual(c.want));
});

const input = (id: string, over: Partial<CompareInput> = {}): CompareInput => ({
  id,
  dir: `/w/runs/${id}`,
  status: 'completed',
  params: base,
  loss: [
    [1, 2],
    [2, 1.5],
  ],
  evalLoss: [[2, 1.7]],
  samplesPerStep: 2,
  step: 2,
  totalSteps: 2,
  trainLoss: 1.75,
  finalEvalLoss: null,
  wallSeconds: 10,
  samplesPerSecond: 0.4,
  bench: [],
  ...over,
});

describe('rankRuns', () => {
  const runs = compareRuns([
    input('a', { evalLoss: [[2, 1.2]] }),
    input('b', { evalLoss: [] }),
    input('c', { finalEvalLoss: 0.9, bench: [{ bench: 'vqa-rad', questions: 10, closedAccuracy: 0.5, openRecall: 0.2 }] }),
    input('d', { evalLoss: [[2, 1.0]], bench: [{ bench: 'vqa-rad', questions: 10, closedAccuracy: 0.7, openRecall: null }] }),
  ]).runs;
  const cases = [
    { by: parseRankBy('eval-loss'), want: ['c', 'd', 'a', 'b'] },
    { by: parseRankBy('bench:vqa-rad'), want: ['d', 'c', 'a', 'b'] },
    { by: parseRankBy('bench:slake'), want: ['a', 'b', 'c', 'd'] },
  ];
  for (const c of cases) it(`ranks by ${JSON.stringify(c.by)}`, () => expect(rankRuns(runs, c.by).map((r) => r.id)).toEqual(c.want));
  it('refuses an unknown ranking', () => expect(() => parseRankBy('accuracy')).toThrow(/not a ranking/));
});

describe('defaultAxis', () => {
  const cases: Array<{ per: Array<number | null>; want: string }> = [
    { per: [2, 2], want: 'steps' },
    { per: [2, 4], want: 'samples' },
    { per: [2, null], want: 'steps' },
  ];
  for (const c of cases)
    it(`${JSON.stringify(c.per)} → ${c.want}`, () => expect(defaultAxis(c.per.map((samplesPerStep) => ({ samplesPerStep })))).toBe(c.want));
});

describe('compareChart', () => {
  it('marks each run with its own marker, filled for loss and hollow for eval loss', () => {
    const c = compareRuns([
      input('a'),
      input('b', {
        loss: [
          [1, 1],
          [2, 0.5],
        ],
        evalLoss: [],
      }),
    ]);
    const chart = compareChart(c.runs, { width: 10, height: 5, axis: 'steps' });
    const text = chart.rows.map(chartRowText).join('\n');
    expect(text).toContain('●');
    expect(text).toContain('○');
    expect(text).toContain('■');
    expect(text).not.toContain('□');
    // Series 2i and 2i+1 belong to run i.
    const owners = new Set(chart.rows.flat().flatMap((cell) => (cell.series === null ? [] : [Math.floor(cell.series / 2)])));
    expect([...owners].sort()).toEqual([0, 1]);
  });

  it('puts samples on x when asked: the same steps reach further for a bigger batch', () => {
    const c = compareRuns([input('a'), input('b', { samplesPerStep: 4 })]);
    expect(compareChart(c.runs, { width: 10, height: 5, axis: 'samples' }).xRange).toEqual([2, 8]);
    expect(compareChart(c.runs, { width: 10, height: 5, axis: 'steps' }).xRange).toEqual([1, 2]);
  });
});

describe('comparisonLines', () => {
  it('without colour, the legend and the differing parameter still tell the runs apart', () => {
    const c = compareRuns([input('lr-1e-4'), input('lr-5e-4', { params: { ...base, learning_rate: 5e-4 } })]);
    const text = comparisonLines(c, { width: 80, colour: false }).join('\n');
    expect(text).not.toContain('\x1b[');
    expect(text).toContain('● ○  lr-1e-4');
    expect(text).toContain('■ □  lr-5e-4');
    expect(text).toMatch(/learning_rate[\s\S]*0\.0001[\s\S]*0\.0005/);
    expect(text).not.toContain('lora_rank');
  });
  it('with colour, each run gets its own', () => {
    const c = compareRuns([input('a'), input('b')]);
    const text = comparisonLines(c, { width: 80, colour: true }).join('\n');
    expect(text).toContain('\x1b[36m');
    expect(text).toContain('\x1b[35m');
  });
});
