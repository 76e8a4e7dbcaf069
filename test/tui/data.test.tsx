import { afterEach, expect, it } from 'vitest';
import { KEY, renderApp, type Tui } from './harness.js';
import { deferred, FakeSource, makeDataset } from './fake-source.js';

let tui: Tui | undefined;
afterEach(() => tui?.unmount());

function workspace(): FakeSource {
  const src = new FakeSource();
  src.datasets = [makeDataset('medtrinity-sample'), makeDataset('mt-ct', { rows: 5000, modalities: { CT: 5000 } })];
  return src;
}

async function openData(src: FakeSource): Promise<Tui> {
  const t = renderApp({ source: src, initialScreen: 'data' });
  await t.waitFor('Modalities');
  return t;
}

it('lists dataset_info.json entries with their details and the modality histogram', async () => {
  tui = await openData(workspace());
  const s = tui.screen();
  expect(s).toMatch(/▸ medtrinity-sample\s+190/);
  expect(s).toMatch(/mt-ct\s+5\.0k/);
  expect(s).toContain('medtrinity-sample/train.jsonl');
  expect(s).toContain('190 train · 10 val · 200 images · 5.1 MiB');
  expect(s).toMatch(/CT\s+█{10,}░*\s+90\s+45%/);
  expect(s).toMatch(/MR\s+█+░+\s+60\s+30%/);
  expect(s).toMatch(/Ultrasound\s+█*░+\s+10\s+5%/);
  await tui.press(KEY.down);
  const ct = await tui.waitFor(/CT\s+█+\s+5000\s+100%/);
  expect(ct).toContain('mt-ct/train.jsonl');
});

it('checks every row on c and shows what failed', async () => {
  const src = workspace();
  tui = await openData(src);
  await tui.press('c');
  const s = await tui.waitFor('check: 200 rows');
  expect(s).toContain('✗ check: 200 rows');
  expect(s).toMatch(/✓ images exist\s+200 of 200/);
  expect(s).toMatch(/✗ <image> tokens\s+row 17: 2 images but/);
  expect(s).toContain('→ fix row 17 or re-run prepare');
  expect(src.callsTo('checkDataset')[0]!.args).toEqual(['medtrinity-sample']);
});

it('previews samples with the image in half blocks beside question and answer, paging with ← →', async () => {
  const src = workspace();
  tui = await openData(src);
  await tui.press(KEY.tab);
  let s = await tui.waitFor('What does image 1 show?');
  expect(s).toContain('medtrinity-sample sample 1 of 190 · CT · train');
  expect(s).toContain('An axial CT slice of the chest');
  expect(s).toMatch(/▀{16}\s+Question/);
  expect(s).toContain('data/medtrinity-sample/images/0.png');
  await tui.press(KEY.right);
  s = await tui.waitFor('What does image 2 show?');
  expect(s).toContain('sample 2 of 190');
  const req = src.callsTo('previewDataset').at(-1)!.args[1] as { offset: number; count: number; maxSide: number };
  expect(req.offset).toBe(1);
  expect(req.count).toBe(1);
  expect(req.maxSide).toBeGreaterThanOrEqual(32);
  expect(s).toContain('←→ sample');
});

it('prepares a dataset with live progress, validating the name as it is typed', async () => {
  const src = workspace();
  const gate = deferred<void>();
  src.gate = gate.promise;
  tui = await openData(src);
  await tui.press(KEY.tab, KEY.tab);
  let s = await tui.waitFor('‹ demo sample set ›');
  expect(s).toMatch(/dataset name\s+demo/);
  expect(s).toContain('press p to prepare');
  await tui.press(KEY.right);
  s = await tui.waitFor('no local copy found');
  expect(s).toContain('fix the fields above, then press p');
  expect(s).not.toContain(' p prepare');
  await tui.press(KEY.left, KEY.down, KEY.enter, KEY.ctrlU, 'b', 'a', 'd', ' ');
  s = await tui.waitFor('letters, digits');
  expect(s).toMatch(/dataset name\s+bad ▏/);
  await tui.press(KEY.backspace, '2', KEY.enter);
  s = await tui.waitFor(/dataset name\s+bad2\s/);
  expect(s).not.toContain('letters, digits');
  await tui.press('p');
  s = await tui.waitFor('converting');
  expect(s).toMatch(/⟳ preparing bad2 · converting █+░+ 22% 45\/200 shard 1/);
  gate.resolve();
  s = await tui.waitFor('✓ bad2: 190 train rows');
  expect(src.callsTo('prepareData')[0]!.args[0]).toEqual({ source: 'demo', name: 'bad2', limit: null, valRatio: 0.05 });
  expect(s).toContain('✓ dataset bad2 ready: 190 rows');
});

it('mixes datasets with weights and takes the mix to Train', async () => {
  const src = workspace();
  tui = await openData(src);
  await tui.press(KEY.tab, KEY.tab, KEY.tab);
  await tui.waitFor('Mix datasets');
  await tui.press(' ', KEY.down, ' ', '+', '+', '+', '+', '+', '+', '+', '+', '+', '+');
  const s = await tui.waitFor('w 2.0');
  expect(s).toMatch(/\[x\] medtrinity-sample\s+w 1\.0 █+░+ 33%/);
  expect(s).toMatch(/▸ \[x\] mt-ct\s+w 2\.0 █+░+ 67%/);
  expect(s).toContain('2 datasets in the mix');
  await tui.press('u');
  const train = await tui.waitFor('New training run');
  expect(train).toMatch(/datasets\s+‹ medtrinity-sample 33% \+ mt-ct 6/);
});

it('offers every source the CLI takes, each with a valid default name; a path source takes a folder or files', async () => {
  const src = workspace();
  src.sources = [
    ...src.sources.slice(0, 1),
    // As the real list has them (src/core/datasources.ts): a Hub source's name is not its id.
    { id: 'hub:25M_demo', label: 'MedTrinity-25M demo (Hub)', description: '161,630 rows', available: true, defaultName: 'medtrinity-demo' },
    ...src.sources.slice(2),
  ];
  tui = await openData(src);
  await tui.press(KEY.tab, KEY.tab);
  await tui.waitFor('‹ demo sample set ›');
  await tui.press(KEY.right);
  let s = await tui.waitFor('‹ MedTrinity-25M demo (Hub) ›');
  expect(s).toMatch(/dataset name\s+medtrinity-demo\s/);
  expect(s).toContain('press p to prepare');
  await tui.press(KEY.right);
  s = await tui.waitFor('‹ Local files (a path) ›');
  expect(s).toMatch(/path\s+–\s+give a folder or a file/);
  expect(s).toContain('fix the fields above, then press p');
  await tui.press(KEY.down, KEY.enter, ...'/data/scans/chest_ct', KEY.enter);
  s = await tui.waitFor(/dataset name\s+chest_ct\s/);
  expect(s).toContain('press p to prepare');
  await tui.press('p');
  await tui.waitFor('✓ dataset chest_ct ready');
  expect(src.callsTo('prepareData')[0]!.args[0]).toEqual({ source: '/data/scans/chest_ct', name: 'chest_ct', limit: null, valRatio: 0.05 });
});
