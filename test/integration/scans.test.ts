/**
 * Clinical scans through the real helper and the real venv: pydicom's own public test files (bundled in the
 * pydicom wheel, data/test_files; see its README.txt for each file's origin) and nibabel's bundled NIfTI
 * examples. Expected pixels come from an oracle that reads the DICOM values with pydicom and applies the DICOM
 * standard's formulas (PS3.3 C.11.2.1.2) itself, independently of medtune's helper.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MedtuneError } from '../../src/core/errors.js';
import { isRefused, type ConvertedScan } from '../../src/core/scans.js';
import { requireVenv, type Venv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { convertScans, resolveImages } from '../../src/runtime/scans.js';
import { prepareDataset } from '../../src/runtime/datasets.js';

// Reads a PNG and (optionally) a DICOM frame and prints what the test compares, as JSON.
const ORACLE = String.raw`
import json, sys
import numpy as np
from PIL import Image
import pydicom
from pydicom.pixels import pixel_array, apply_color_lut

def png(path):
    im = Image.open(path)
    return np.asarray(im).astype(np.float64), im.mode

def linear(v, c, w):
    return np.clip(((v - (c - 0.5)) / (w - 1) + 0.5), 0, 1) * 255

out = []
for case in json.loads(sys.stdin.read()):
    got, mode = png(case["png"])
    r = {"mode": mode, "shape": list(got.shape), "levels": int(len(np.unique(got)))}
    if "dicom" in case:
        ds = pydicom.dcmread(case["dicom"])
        frame = pixel_array(ds, index=case.get("frame")) if case.get("frame") is not None else ds.pixel_array
        kind = case["kind"]
        if kind in ("window", "range"):
            v = frame.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
            if kind == "window":
                exp = linear(v, case["center"], case["width"])
            else:
                exp = (v - v.min()) / (v.max() - v.min()) * 255
            if ds.PhotometricInterpretation == "MONOCHROME1":
                exp = 255 - exp
        elif kind == "rgb":
            exp = frame.astype(np.float64)
        elif kind == "palette":
            lut = apply_color_lut(frame, ds).astype(np.float64)
            exp = lut / 65535 * 255 if lut.max() > 255 else lut
        r["maxDiff"] = float(np.abs(got - exp).max())
        r["hu"] = [float(v.min()), float(v.max())] if kind in ("window", "range") else None
    if "other" in case:
        other, _ = png(case["other"])
        r["maxDiff"] = float(np.abs(got - other).max()) if other.shape == got.shape else 999.0
    out.append(r)
print(json.dumps(out))
`;

interface OracleCase {
  png: string;
  dicom?: string;
  kind?: 'window' | 'range' | 'rgb' | 'palette';
  center?: number;
  width?: number;
  frame?: number;
  other?: string;
}
interface OracleOut {
  mode: string;
  shape: number[];
  levels: number;
  maxDiff: number;
  hu: [number, number] | null;
}

let venv: Venv;
let ws: Workspace;
let files: string;
let nib: string;

async function oracle(cases: OracleCase[]): Promise<OracleOut[]> {
  const r = await execa(venv.python, ['-c', ORACLE], { input: JSON.stringify(cases) });
  return JSON.parse(r.stdout) as OracleOut[];
}

const f = (name: string) => join(files, name);
const only = (items: Awaited<ReturnType<typeof convertScans>>, i: number): ConvertedScan => {
  const c = items[i]!;
  expect(c.refused, JSON.stringify(c.refused)).toEqual([]);
  expect(c.scans).toHaveLength(1);
  return c.scans[0]!;
};

beforeAll(async () => {
  venv = await requireVenv();
  ws = workspaceAt(mkdtempSync(join(tmpdir(), 'medtune-scans-')));
  const r = await execa(venv.python, [
    '-c',
    'import os, pydicom, nibabel; print(os.path.dirname(pydicom.__file__)); print(os.path.dirname(nibabel.__file__))',
  ]);
  const [pd, nb] = r.stdout.trim().split('\n');
  files = join(pd!, 'data', 'test_files');
  nib = join(nb!, 'tests', 'data');
});
afterAll(async () => {
  if (ws) await rm(ws.root, { recursive: true, force: true });
});

describe('DICOM files as the model sees them', () => {
  let items: Awaited<ReturnType<typeof convertScans>>;
  const inputs = {
    ct: 'CT_small.dcm', // CT, rescale slope/intercept, no window in the file
    ctJ2k: '693_J2KI.dcm', // CT, JPEG 2000, rescale and window 40/100 in the file
    mr: 'MR_small.dcm', // MR, window 600/1600 in the file
    mrJ2k: 'MR_small_jp2klossless.dcm', // the same MR in JPEG 2000 lossless
    mrRle: 'MR_small_RLE.dcm', // and in RLE lossless
    cr: 'dicomdirtests/77654033/CR1/6154', // CR, MONOCHROME1, no file extension
    palette: 'examples_palette.dcm', // US, PALETTE COLOR
    rgb: 'examples_rgb_color.dcm', // US, RGB
    ybr: 'examples_ybr_color.dcm', // US, YBR_FULL_422 in JPEG baseline, 30 frames
    jls: 'JPEGLSNearLossless_16.dcm', // JPEG-LS
  };
  const keys = Object.keys(inputs) as (keyof typeof inputs)[];
  const at = (k: keyof typeof inputs) => only(items, keys.indexOf(k));

  beforeAll(async () => {
    items = await convertScans(
      ws,
      venv,
      keys.map((k) => f(inputs[k])),
    );
  }, 120_000);

  it('CT: rescale to Hounsfield units, then the frame range when the file has no window (16 bits kept, not cut)', async () => {
    const s = at('ct');
    expect(s).toMatchObject({ kind: 'dicom', modality: 'CT', photometric: 'MONOCHROME2', window: { source: 'range' } });
    const [o] = await oracle([{ png: s.images[0]!.file, dicom: f(inputs.ct), kind: 'range' }]);
    expect(o!.mode).toBe('L');
    expect(o!.maxDiff).toBeLessThanOrEqual(1);
    // Hounsfield units: air-ish negatives to bone, far outside 8 bits; the PNG still spans them.
    expect(o!.hu![0]).toBeLessThan(0);
    expect(o!.hu![1]).toBeGreaterThan(255);
    expect(o!.levels).toBeGreaterThan(150);
  });

  it("CT in JPEG 2000: the file's window on Hounsfield units", async () => {
    const s = at('ctJ2k');
    expect(s.window).toMatchObject({ center: 40, width: 100, source: 'file' });
    const [o] = await oracle([{ png: s.images[0]!.file, dicom: f(inputs.ctJ2k), kind: 'window', center: 40, width: 100 }]);
    expect(o!.shape).toEqual([512, 512]);
    expect(o!.maxDiff).toBeLessThanOrEqual(1);
  });

  it('CT with a named preset and with an explicit centre/width', async () => {
    const lung = await convertScans(ws, venv, [f(inputs.ct)], { window: 'lung' });
    const custom = await convertScans(ws, venv, [f(inputs.ct)], { window: '-100/700' });
    const a = only(lung, 0);
    const b = only(custom, 0);
    expect(a.window).toMatchObject({ center: -600, width: 1500, source: 'user' });
    expect(b.window).toMatchObject({ center: -100, width: 700, source: 'user' });
    const [oa, ob] = await oracle([
      { png: a.images[0]!.file, dicom: f(inputs.ct), kind: 'window', center: -600, width: 1500 },
      { png: b.images[0]!.file, dicom: f(inputs.ct), kind: 'window', center: -100, width: 700 },
    ]);
    expect(oa!.maxDiff).toBeLessThanOrEqual(1);
    expect(ob!.maxDiff).toBeLessThanOrEqual(1);
    // The PNG is named by the scan's bytes and the settings: another window never reuses the first one's file.
    expect(a.images[0]!.file).not.toBe(b.images[0]!.file);
  });

  it('MR: the window from the file; lossless JPEG 2000 and RLE give the very same image', async () => {
    const s = at('mr');
    expect(s).toMatchObject({ modality: 'MR', window: { center: 600, width: 1600, source: 'file' } });
    const [o, j, r] = await oracle([
      { png: s.images[0]!.file, dicom: f(inputs.mr), kind: 'window', center: 600, width: 1600 },
      { png: at('mrJ2k').images[0]!.file, other: s.images[0]!.file },
      { png: at('mrRle').images[0]!.file, other: s.images[0]!.file },
    ]);
    expect(o!.maxDiff).toBeLessThanOrEqual(1);
    expect(j!.maxDiff).toBe(0);
    expect(r!.maxDiff).toBe(0);
  });

  it('CR in MONOCHROME1 is shown inverted (low values white)', async () => {
    const s = at('cr');
    expect(s).toMatchObject({ modality: 'CR', photometric: 'MONOCHROME1', window: { center: 1600, width: 2800, source: 'file' } });
    const [o] = await oracle([{ png: s.images[0]!.file, dicom: f(inputs.cr), kind: 'window', center: 1600, width: 2800 }]);
    expect(o!.maxDiff).toBeLessThanOrEqual(1);
  });

  it('ultrasound in palette colour and in RGB comes out as RGB', async () => {
    const p = at('palette');
    const r = at('rgb');
    expect(p).toMatchObject({ modality: 'US', photometric: 'PALETTE COLOR', window: null });
    expect(r).toMatchObject({ modality: 'US', photometric: 'RGB', window: null });
    const [op, or] = await oracle([
      { png: p.images[0]!.file, dicom: f(inputs.palette), kind: 'palette' },
      { png: r.images[0]!.file, dicom: f(inputs.rgb), kind: 'rgb' },
    ]);
    expect(op!.mode).toBe('RGB');
    expect(op!.shape).toEqual([350, 800, 3]);
    expect(op!.maxDiff).toBeLessThanOrEqual(1);
    expect(or!.maxDiff).toBe(0);
  });

  it('multi-frame YBR JPEG: the middle frame by default, evenly spread frames on request, RGB out', async () => {
    const s = at('ybr');
    expect(s.images).toEqual([expect.objectContaining({ slice: 15, slices: 30, width: 320, height: 240 })]);
    const [o] = await oracle([{ png: s.images[0]!.file, dicom: f(inputs.ybr), kind: 'rgb', frame: 15 }]);
    expect(o!.mode).toBe('RGB');
    expect(o!.maxDiff).toBeLessThanOrEqual(1);
    const three = only(await convertScans(ws, venv, [f(inputs.ybr)], { slices: 'even:3' }), 0);
    expect(three.images.map((i) => i.slice)).toEqual([5, 15, 25]);
    const picked = only(await convertScans(ws, venv, [f(inputs.ybr)], { slices: '0,29' }), 0);
    expect(picked.images.map((i) => i.slice)).toEqual([0, 29]);
    const out = await convertScans(ws, venv, [f(inputs.ybr)], { slices: '30' });
    expect(out[0]!.refused[0]!.refused.code).toBe('SLICE_OUT_OF_RANGE');
  });

  it('JPEG-LS decodes', () => {
    expect(at('jls').images[0]).toMatchObject({ width: 10, height: 50 });
  });
});

describe('a VOI LUT from the file', () => {
  it('maps the modality LUT output through the LUT, scaled by its bit depth', async () => {
    // MR_small re-written with a non-linear 12-bit VOI LUT in place of its window.
    const file = join(ws.root, 'voi-lut.dcm');
    await execa(venv.python, [
      '-c',
      String.raw`
import sys, pydicom
from pydicom.dataset import Dataset
from pydicom.data import get_testdata_file
ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
del ds.WindowCenter, ds.WindowWidth
item = Dataset()
item.add_new(0x00283002, "US", [4096, 0, 12])  # LUT Descriptor (US or SS: given explicitly)
item.add_new(0x00283006, "US", [int(4095 * (i / 4095) ** 0.5) for i in range(4096)])  # LUT Data
ds.VOILUTSequence = [item]
ds.save_as(sys.argv[1])
`,
      file,
    ]);
    const s = only(await convertScans(ws, venv, [file]), 0);
    expect(s).toMatchObject({ window: null, voiLut: true });
    const r = await execa(venv.python, [
      '-c',
      String.raw`
import sys, json, numpy as np, pydicom
from PIL import Image
ds = pydicom.dcmread(sys.argv[1])
v = np.clip(ds.pixel_array.astype(np.int64), 0, 4095)
exp = np.array([int(4095 * (i / 4095) ** 0.5) for i in range(4096)])[v] / 4095 * 255
got = np.asarray(Image.open(sys.argv[2])).astype(np.float64)
print(json.dumps(float(np.abs(got - exp).max())))
`,
      file,
      s.images[0]!.file,
    ]);
    expect(Number(r.stdout)).toBeLessThanOrEqual(1);
  }, 60_000);
});

describe('what is not an image is refused with a typed reason', () => {
  it.each([
    ['liver_1frame.dcm', 'SEGMENTATION'],
    ['test-SR.dcm', 'STRUCTURED_REPORT'],
    ['dicomdirtests/DICOMDIR', 'DICOMDIR'],
    ['MR_truncated.dcm', 'TRUNCATED'],
    ['rtdose.dcm', 'NOT_AN_IMAGE'],
    ['README.txt', 'NOT_A_SCAN'],
  ])(
    '%s → %s',
    async (name, code) => {
      const [c] = await convertScans(ws, venv, [f(name)]);
      expect(c!.scans).toEqual([]);
      expect(c!.refused.map((r) => r.refused.code)).toEqual([code]);
    },
    60_000,
  );

  it('a lone refused scan is an error with the refusal code; a folder keeps going past its bad members', async () => {
    const err = await resolveImages(ws, venv, [f('liver_1frame.dcm')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MedtuneError);
    expect((err as MedtuneError).code).toBe('SCAN_SEGMENTATION');

    const folder = join(ws.root, 'mixed');
    mkdirSync(join(folder, 'series'), { recursive: true });
    for (const n of ['2062', '2392', '2693', '3023', '3353'])
      copyFileSync(f(`dicomdirtests/98892001/CT5N/${n}`), join(folder, 'series', n));
    copyFileSync(f('liver_1frame.dcm'), join(folder, 'seg.dcm'));
    copyFileSync(f('MR_truncated.dcm'), join(folder, 'broken.dcm'));
    writeFileSync(join(folder, 'notes.csv'), 'not,a,scan\n');
    const [c] = await convertScans(ws, venv, [folder]);
    expect(c!.scans).toHaveLength(1);
    // Five single-frame files of one series become one volume, sorted along the slice normal: the middle one.
    expect(c!.scans[0]).toMatchObject({ kind: 'dicom-series', modality: 'CT', images: [expect.objectContaining({ slice: 2, slices: 5 })] });
    expect(c!.refused.map((r) => r.refused.code).sort()).toEqual(['SEGMENTATION', 'TRUNCATED']);
    const r = await resolveImages(ws, venv, [folder]);
    expect(r.images).toHaveLength(1);
    expect(r.notes.filter((n) => n.includes('skipped'))).toHaveLength(2);
  }, 120_000);
});

describe('NIfTI volumes', () => {
  it('a 3-D volume gives its middle axial slice; a 4-D one its first volume', async () => {
    const items = await convertScans(ws, venv, [join(nib, 'anatomical.nii'), join(nib, 'example4d.nii.gz')], { slices: 'middle' });
    const a = only(items, 0);
    const b = only(items, 1);
    expect(a.kind).toBe('nifti');
    expect(a.images[0]!.slice).toBe(Math.floor(a.images[0]!.slices / 2));
    expect(b.kind).toBe('nifti');
    const [o] = await oracle([{ png: a.images[0]!.file }]);
    expect(o!.mode).toBe('L');
    expect(o!.levels).toBeGreaterThan(20);
  }, 60_000);
});

describe('NIfTI orientation', () => {
  it('the same anatomy stored in another axis order and direction gives the same axial slices', async () => {
    // One volume written twice: as RAS, and transposed and flipped into A-I-L storage with the affine to match.
    const dir = join(ws.root, 'orient');
    mkdirSync(dir, { recursive: true });
    await execa(venv.python, [
      '-c',
      String.raw`
import sys, os, numpy as np, nibabel as nib
d = sys.argv[1]
ras = np.random.default_rng(7).integers(0, 3000, (20, 24, 16)).astype(np.int16)
nib.save(nib.Nifti1Image(ras, np.eye(4)), os.path.join(d, "ras.nii.gz"))
# Storage axes (A, I, L): file axis 0 = RAS axis 1, file axis 1 = -RAS axis 2, file axis 2 = -RAS axis 0.
ail = np.flip(np.flip(ras.transpose(1, 2, 0), 1), 2).copy()
aff = np.array([[0, 0, -1, 19], [1, 0, 0, 0], [0, -1, 0, 15], [0, 0, 0, 1]], float)
nib.save(nib.Nifti1Image(ail, aff), os.path.join(d, "ail.nii.gz"))
`,
      dir,
    ]);
    const items = await convertScans(ws, venv, [join(dir, 'ras.nii.gz'), join(dir, 'ail.nii.gz')], { slices: 'even:3' });
    const a = only(items, 0);
    const b = only(items, 1);
    expect(a.images.map((i) => [i.slice, i.slices])).toEqual([
      [2, 16],
      [8, 16],
      [13, 16],
    ]);
    expect(b.images.map((i) => [i.slice, i.slices])).toEqual([
      [2, 16],
      [8, 16],
      [13, 16],
    ]);
    const diffs = await oracle(a.images.map((im, i) => ({ png: im.file, other: b.images[i]!.file })));
    expect(diffs.map((d) => d.maxDiff)).toEqual([0, 0, 0]);
  }, 60_000);
});

describe('data prepare from a folder of scans', () => {
  it('builds rows with captions from a CSV, refuses the non-images, and registers the dataset', async () => {
    const src = join(ws.root, 'study');
    for (const [dir, name] of [
      ['ct', 'CT_small.dcm'],
      ['mr', 'MR_small.dcm'],
      ['us', 'examples_rgb_color.dcm'],
      ['cr', 'dicomdirtests/77654033/CR1/6154'],
    ] as const) {
      mkdirSync(join(src, dir), { recursive: true });
      copyFileSync(f(name), join(src, dir, 'image.dcm'));
    }
    copyFileSync(f('liver_1frame.dcm'), join(src, 'seg.dcm'));
    const csv = join(ws.root, 'captions.csv');
    writeFileSync(
      csv,
      'series,caption\nct/image.dcm,"CT of the head, axial."\nmr,MRI of the brain.\nus,Ultrasound of the abdomen <image>.\nnowhere,An unused caption.\n',
    );
    const r = await prepareDataset(ws, venv, { source: src, name: 'clinic', captions: csv });
    expect(r).toMatchObject({ layout: 'scans', kept: 3, train: 3, val: 0, entries: { train: 'clinic', val: null } });
    expect(r.skipped).toEqual({ no_caption: 1, segmentation: 1 });
    expect(r.neutralised).toBe(1);
    expect(r.warnings).toEqual(['1 caption line(s) matched no series in the source']);
    const rows = (await import('node:fs'))
      .readFileSync(join(ws.dataDir, 'clinic', 'train.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { images: string[]; messages: { content: string }[]; modality: string });
    expect(rows.map((x) => x.modality).sort()).toEqual(['CT', 'MRI', 'ultrasound']);
    for (const row of rows) {
      expect(row.images[0]).toMatch(/^clinic\/images\/scan-[0-9a-f]{20}-0\.png$/);
      expect(row.messages[0]!.content.startsWith('<image>')).toBe(true);
    }
    // Without captions: an inference set, every scan a row with an empty answer.
    const inf = await prepareDataset(ws, venv, { source: src, name: 'clinic-infer' });
    expect(inf).toMatchObject({ kept: 4, skipped: { segmentation: 1 } });
    expect(isRefused({ input: 0, member: 0, refused: { code: 'SEGMENTATION', reason: '' } })).toBe(true);
  }, 120_000);
});
