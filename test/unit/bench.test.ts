import { describe, expect, it } from 'vitest';
import {
  BENCHMARKS,
  BENCH_IDS,
  benchEvalDataset,
  benchmark,
  bootstrapMean,
  detectYesNo,
  diffBench,
  formatBenchReport,
  isClosedAnswer,
  normalizeAnswer,
  parseBenchSource,
  scoreBench,
  scoreItem,
  tokenRecall,
  wilson,
} from '../../src/core/bench.js';
import { defaultDatasetName } from '../../src/core/dataset.js';

describe('normalizeAnswer', () => {
  it.each([
    ['Yes', 'yes'],
    ['No.', 'no'],
    ['  The Heart  ', 'heart'],
    ['an MRI', 'mri'],
    ['right upper-lobe', 'right upper lobe'],
    ['Left, then right!', 'left then right'],
    ['3.5 cm', '3.5 cm'],
    ['1,000 cells', '1000 cells'],
    ['two kidneys', '2 kidneys'],
    ['none', '0'],
    ['(CT) scan / axial', 'ct scan axial'],
    ['"in the canals of hering"', 'in canals of hering'],
    ['', ''],
    ['...', ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeAnswer(input)).toBe(expected);
  });
});

describe('closed questions', () => {
  it.each([
    ['yes', true],
    ['No', true],
    ['no.', true],
    [' YES ', true],
    ['not', false],
    ['yes, left', false],
    ['normal', false],
    ['2', false],
    ['', false],
  ])('reference %j closed: %s', (ref, closed) => {
    expect(isClosedAnswer(ref)).toBe(closed);
  });

  it.each([
    ['Yes', 'yes'],
    ['No, there is no effusion.', 'no'],
    ['The answer is yes.', 'yes'],
    ['There is a nodule', null],
    ['It is normal', null],
    ['not present', null],
    ['yes and no', 'yes'],
    ['', null],
  ])('prediction %j says %s', (pred, said) => {
    expect(detectYesNo(pred)).toBe(said);
  });
});

describe('tokenRecall', () => {
  it.each([
    ['the heart', 'heart', 1],
    ['The heart is enlarged', 'heart', 1],
    ['lung', 'right upper lobe', 0],
    ['upper lobe of the lung', 'right upper lobe', 2 / 3],
    ['canals of hering', 'in the canals of hering', 3 / 4],
    ['', 'ct', 0],
    ['CT', 'ct', 1],
    // clipped counts: one "left" in the answer recalls only one of the reference's two
    ['left', 'left and left', 1 / 3],
    ['two', '2', 1],
  ])('recall(%j, ref %j) = %d', (pred, ref, expected) => {
    expect(tokenRecall(pred, ref)).toBeCloseTo(expected, 10);
  });

  it('has nothing to recall from an empty reference', () => {
    expect(tokenRecall('anything', '')).toBeNull();
    expect(tokenRecall('anything', 'the')).toBeNull();
  });
});

describe('confidence intervals', () => {
  it('Wilson interval matches the textbook figures', () => {
    // 8 of 10: [0.4902, 0.9433] (z = 1.96)
    const [lo, hi] = wilson(8, 10)!;
    expect(lo).toBeCloseTo(0.4902, 3);
    expect(hi).toBeCloseTo(0.9433, 3);
    // 0 of 2: lower bound 0, upper 0.6576
    expect(wilson(0, 2)![0]).toBe(0);
    expect(wilson(0, 2)![1]).toBeCloseTo(0.6576, 3);
    expect(wilson(5, 5)![1]).toBe(1);
    expect(wilson(0, 0)).toBeNull();
  });

  it('bootstrap interval of a mean is deterministic, brackets the mean and narrows with more data', () => {
    const xs = [0, 0.5, 1, 1, 0.25, 0.75, 0, 1];
    const a = bootstrapMean(xs)!;
    expect(bootstrapMean(xs)).toEqual(a);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(a[0]).toBeLessThan(mean);
    expect(a[1]).toBeGreaterThan(mean);
    const many = bootstrapMean(Array.from({ length: 400 }, (_, i) => xs[i % xs.length]!))!;
    expect(many[1] - many[0]).toBeLessThan(a[1] - a[0]);
    expect(bootstrapMean([0.4])).toEqual([0.4, 0.4]);
    expect(bootstrapMean([])).toBeNull();
  });
});

describe('scoreBench', () => {
  const inputs = [
    { question: 'Is there a pneumothorax?', reference: 'no', prediction: 'No.' }, // closed, right
    { question: 'Is this an MRI?', reference: 'Yes', prediction: 'No, it is a CT.' }, // closed, wrong
    { question: 'Are the kidneys visible?', reference: 'yes', prediction: 'The kidneys are visible.' }, // closed, said nothing
    { question: 'What organ is enlarged?', reference: 'the heart', prediction: 'heart' }, // open, 1
    { question: 'Where is the lesion?', reference: 'right upper lobe', prediction: 'upper lobe' }, // open, 2/3
    { question: 'What modality?', reference: 'CT', prediction: 'MRI' }, // open, 0
  ];

  it('scores closed questions by accuracy and open ones by token recall, separately', () => {
    const { items, scores } = scoreBench(inputs);
    expect(items.map((i) => i.kind)).toEqual(['closed', 'closed', 'closed', 'open', 'open', 'open']);
    expect(items.map((i) => i.score)).toEqual([1, 0, 0, 1, 2 / 3, 0]);
    expect(scores.questions).toBe(6);
    expect(scores.closed).toMatchObject({ n: 3, correct: 1, unanswered: 1 });
    expect(scores.closed.accuracy).toBeCloseTo(1 / 3, 10);
    expect(scores.closed.ci95).toEqual(wilson(1, 3));
    expect(scores.open.n).toBe(3);
    expect(scores.open.recall).toBeCloseTo(5 / 9, 10);
    expect(scores.open.ci95![0]).toBeLessThanOrEqual(5 / 9);
    expect(scores.open.ci95![1]).toBeGreaterThanOrEqual(5 / 9);
  });

  it('reports no score (not zero) for a kind of question the split does not have', () => {
    const { scores } = scoreBench([inputs[0]!]);
    expect(scores.open).toEqual({ n: 0, recall: null, ci95: null });
    expect(scoreBench([]).scores.closed.accuracy).toBeNull();
  });

  it('diffs base and tuned per question', () => {
    const base = scoreBench(inputs).items;
    const tuned = scoreBench(
      inputs.map((i, k) => (k === 1 ? { ...i, prediction: 'yes' } : k === 0 ? { ...i, prediction: 'yes' } : i)),
    ).items;
    const d = diffBench(base, tuned);
    if ('problem' in d) throw new Error(d.problem);
    expect(d).toMatchObject({ questions: 6, improved: 1, worsened: 1, unchanged: 4 });
    expect(d.items[1]).toMatchObject({
      index: 1,
      kind: 'closed',
      base: 'No, it is a CT.',
      tuned: 'yes',
      baseScore: 0,
      tunedScore: 1,
      delta: 1,
    });
    expect(d.items[0]!.delta).toBe(-1);
  });

  it('refuses to diff runs over different questions', () => {
    const a = scoreBench(inputs).items;
    expect(diffBench(a, a.slice(1))).toHaveProperty('problem');
    const b = scoreBench(inputs.map((i, k) => (k === 2 ? { ...i, question: 'Another?' } : i))).items;
    expect((diffBench(a, b) as { problem: string }).problem).toMatch(/question 3 differs/);
  });

  it('a single item scores the same alone and in a batch', () => {
    expect(scoreItem(inputs[4]!, 4)).toEqual(scoreBench(inputs).items[4]);
  });
});

describe('registry', () => {
  it('knows the three benchmarks with their Hub ids, eval split and columns', () => {
    expect(BENCH_IDS).toEqual(['vqa-rad', 'slake', 'path-vqa']);
    expect(BENCHMARKS['vqa-rad']).toMatchObject({
      repo: 'flaviagiammarino/vqa-rad',
      evalSplit: 'test',
      evalRows: 451,
      splits: ['train', 'test'],
    });
    expect(BENCHMARKS.slake.repo).toBe('mdwiratathya/SLAKE-vqa-english');
    expect(BENCHMARKS['path-vqa'].repo).toBe('flaviagiammarino/path-vqa');
    for (const b of Object.values(BENCHMARKS)) expect(b.columns).toEqual({ image: 'image', question: 'question', answer: 'answer' });
    expect(benchmark('VQA-RAD')?.id).toBe('vqa-rad');
    expect(benchmark('pmc-vqa')).toBeNull();
    expect(benchEvalDataset('slake')).toBe('bench-slake-test');
  });

  it("marks which published numbers share medtune's scoring", () => {
    const rad = BENCHMARKS['vqa-rad'].anchors;
    expect(rad.find((a) => a.model === 'LLaVA-Tri')).toMatchObject({ score: 81.6, comparable: true });
    expect(rad.find((a) => a.model === 'LLaVA-Med-7B')).toMatchObject({ score: 51.4, comparable: false });
    expect(BENCHMARKS.slake.anchors.find((a) => a.model === 'LLaVA-Tri')!.score).toBe(87.8);
    expect(BENCHMARKS['path-vqa'].anchors.every((a) => !a.comparable)).toBe(true);
  });

  it('parses bench sources for data prepare', () => {
    expect(parseBenchSource('bench:vqa-rad')).toEqual({ id: 'vqa-rad', dir: null });
    expect(parseBenchSource('bench:SLAKE:/data/slake')).toEqual({ id: 'slake', dir: '/data/slake' });
    expect(parseBenchSource('hub:25M_demo')).toBeNull();
    expect(parseBenchSource('./bench')).toBeNull();
    expect(defaultDatasetName('bench:path-vqa:/x/y')).toBe('bench-path-vqa');
  });

  it('renders the report with counts, intervals and the anchors', () => {
    const { scores } = scoreBench([
      { question: 'q', reference: 'yes', prediction: 'yes' },
      { question: 'q2', reference: 'heart', prediction: 'heart' },
    ]);
    const lines = formatBenchReport({
      bench: { label: 'VQA-RAD', split: 'test' },
      targetLabel: 'run x',
      dir: '/d',
      scores,
      anchors: BENCHMARKS['vqa-rad'].anchors,
    });
    expect(lines[0]).toBe('VQA-RAD test split: 2 questions (1 closed, 1 open); 95% intervals in brackets');
    expect(lines.join('\n')).toMatch(/closed \(yes\/no\) accuracy 100\.0 \[20\.7–100\.0\]\s+1\/1/);
    expect(lines.join('\n')).toContain('same scoring  LLaVA-Tri 81.6');
    expect(lines.at(-1)).toBe('  saved: /d/bench.json');
  });
});
