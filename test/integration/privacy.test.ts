/**
 * No patient-identifying value from a scan reaches a dataset, a log, a prediction file or a run folder.
 * Identifying values are planted in real DICOM files (pydicom's public test files, re-written with pydicom) and in
 * their file and folder names; the whole pipeline runs on them with the real CLI (data prepare, train, eval,
 * compare, ask, serve and ask through it); then every file it wrote (server logs included), every helper log of
 * this test and every CLI output is searched.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheRoot } from '../../src/runtime/paths.js';
import { lastJson, makeWorkspace, medtune, strayProcesses, type TestWorkspace } from './harness.js';

const PLANTED = {
  PatientName: 'Plantedsmith^Johanna',
  PatientID: 'PID-PLANTED-4711',
  PatientBirthDate: '19010203',
  AccessionNumber: 'ACC-PLANTED-0815',
  InstitutionName: 'Planted General Hospital',
  ReferringPhysicianName: 'Plantedref^Doctor',
  OtherPatientIDs: 'OPID-PLANTED-99',
  PatientAddress: '12 Plantedlane',
};
// Searched for case-insensitively; the name's parts are searched on their own too (a viewer may reorder them).
const NEEDLES = [...Object.values(PLANTED), 'Plantedsmith', 'Johanna', 'Plantedref', 'Plantedlane'].map((s) => s.toLowerCase());

const PLANT = String.raw`
import json, os, sys, shutil
import pydicom
from pydicom.data import get_testdata_file
out, planted = sys.argv[1], json.loads(sys.argv[2])
def write(src, dst):
    ds = pydicom.dcmread(get_testdata_file(src) if not os.path.isabs(src) else src)
    for k, v in planted.items():
        setattr(ds, k, v)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    ds.save_as(dst)
base = os.path.dirname(get_testdata_file("CT_small.dcm"))
for i, n in enumerate(["2062", "2392", "2693", "3023", "3353"]):
    write(os.path.join(base, "dicomdirtests/98892001/CT5N", n), os.path.join(out, "Plantedsmith_Johanna_CT", f"IM_Plantedsmith_{i}.dcm"))
write("CT_small.dcm", os.path.join(out, "PID-PLANTED-4711", "ct.dcm"))
write("MR_small.dcm", os.path.join(out, "mr", "Plantedsmith^Johanna.dcm"))
write(os.path.join(base, "dicomdirtests/77654033/CR1/6154"), os.path.join(out, "cr", "ACC-PLANTED-0815"))
write("liver_1frame.dcm", os.path.join(out, "seg", "Plantedsmith_seg.dcm"))
write("test-SR.dcm", os.path.join(out, "sr", "Plantedsmith_report.dcm"))
`;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Where a needle appears: in a file's name or path, or its bytes (as text, case-insensitive). */
function hits(files: string[], root: string): string[] {
  const found: string[] = [];
  for (const f of files) {
    const rel = f.slice(root.length).toLowerCase();
    for (const n of NEEDLES) if (rel.includes(n)) found.push(`${f}: name contains ${n}`);
    if (statSync(f).size > 64 * 1024 * 1024) continue; // model weights: no text in them
    const text = readFileSync(f).toString('latin1').toLowerCase();
    for (const n of NEEDLES) if (text.includes(n)) found.push(`${f}: contains ${n}`);
  }
  return found;
}

describe('privacy: planted identifying values never leave the scans', () => {
  let t: TestWorkspace;
  let study: string;
  const started = Date.now();
  const outputs: string[] = [];
  const run = async (args: string[]) => {
    const r = await medtune(t.ws, args);
    // What the CLI printed (stdout and stderr), not the command line the test typed, which names the files.
    outputs.push(r.all ?? '');
    expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
    return r;
  };

  beforeAll(async () => {
    t = await makeWorkspace('privacy');
    study = mkdtempSync(join(tmpdir(), 'medtune-study-'));
    await execa(t.venv.python, ['-c', PLANT, study, JSON.stringify(PLANTED)]);
    const csv = join(study, '..', `${study.split('/').pop()}-captions.csv`);
    writeFileSync(
      csv,
      'series,caption\nPlantedsmith_Johanna_CT,CT of the chest with contrast.\nPID-PLANTED-4711/ct.dcm,CT of the head.\nmr,MRI of the brain.\ncr/ACC-PLANTED-0815,Radiograph of the hand.\n',
    );

    const prep = await run(['data', 'prepare', '--source', study, '--captions', csv, '--name', 'clinic', '--val-ratio', '0', '--json']);
    expect(lastJson<{ kept: number; skipped: Record<string, number> }>(prep.stdout)).toMatchObject({
      kept: 4,
      skipped: { segmentation: 1, structured_report: 1 },
    });
    const train = await run([
      'train',
      '--model',
      t.modelDir,
      '--dataset',
      'clinic',
      '--profile',
      'cpu',
      '--name',
      'privacy',
      '--set',
      'max_steps=2',
      '--set',
      'save_steps=2',
      '--json',
    ]);
    const runId = lastJson<{ id: string }>(train.stdout).id;
    await run(['eval', runId, '--dataset', 'clinic', '--limit', '4', '--max-new-tokens', '8', '--json']);
    await run([
      'compare',
      '--tuned',
      runId,
      '--images',
      join(study, 'mr'),
      join(study, 'Plantedsmith_Johanna_CT'),
      '--max-new-tokens',
      '4',
      '--json',
    ]);
    await run([
      'ask',
      runId,
      '--image',
      join(study, 'cr', 'ACC-PLANTED-0815'),
      '--image',
      study,
      '--max-new-tokens',
      '4',
      '--json',
      'What is shown?',
    ]);
    // The same question through `medtune serve`: its logs are in servers/ of the workspace, searched below.
    await run(['serve', runId, '--json']);
    const served = await run([
      'ask',
      runId,
      '--image',
      join(study, 'Plantedsmith_Johanna_CT'),
      '--max-new-tokens',
      '4',
      '--json',
      'What is shown?',
    ]);
    expect(lastJson<{ device: string }>(served.stdout).device).toMatch(/^server /);
    await run(['serve', '--stop', '--json']);
  }, 30 * 60_000);

  afterAll(async () => {
    if (t) {
      expect(strayProcesses(t.ws)).toEqual([]);
      await t.cleanup();
    }
    if (study) await rm(study, { recursive: true, force: true });
  });

  it('the planted values are really in the source (the search works)', () => {
    const found = hits(walk(study), study);
    for (const v of [PLANTED.PatientID, PLANTED.AccessionNumber, PLANTED.InstitutionName])
      expect(
        found.some((h) => h.includes(v.toLowerCase())),
        v,
      ).toBe(true);
  });

  it('no dataset, scan image, run folder, prediction, comparison or workspace file holds one', () => {
    const files = walk(t.ws.root);
    expect(files.some((f) => f.endsWith('generated_predictions.jsonl'))).toBe(true);
    expect(files.some((f) => f.includes('/compares/'))).toBe(true);
    expect(files.some((f) => f.includes('/data/clinic/images/'))).toBe(true);
    expect(files.some((f) => f.includes('/servers/') && f.endsWith('stderr.log'))).toBe(true);
    expect(hits(files, t.ws.root)).toEqual([]);
  });

  it('no helper log written during the test holds one, nor anything the CLI printed', () => {
    const logs = walk(join(cacheRoot(), 'logs')).filter((f) => statSync(f).mtimeMs >= started - 1000);
    expect(logs.length).toBeGreaterThan(0);
    expect(hits(logs, '')).toEqual([]);
    const printed = outputs.join('\n').toLowerCase();
    expect(NEEDLES.filter((n) => printed.includes(n))).toEqual([]);
  });
});
