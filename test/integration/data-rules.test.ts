/**
 * The row rules of python/medtune_py/medtrinity.py, table-driven from here and evaluated by the real module in
 * the venv (one Python process for the whole table).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { requireVenv } from '../../src/runtime/venv.js';
import { helperEnv } from '../../src/runtime/pythonhelper.js';

const MODALITY_CASES: [string, string][] = [
  ['The image is a non-contrasted computed tomography (CT) scan of the brain, showing the cerebral structures.', 'CT'],
  ['The image is a CT scan of the abdomen. It was followed by an MRI.', 'CT'],
  ['The image is a T2-weighted magnetic resonance imaging (MRI) scan of the brain.', 'MRI'],
  ['The image is an axial FLAIR sequence of the brain.', 'MRI'],
  ['The image is a chest X-ray showing the lungs.', 'X-ray'],
  ['The image is a frontal radiograph of the chest.', 'X-ray'],
  ['The image is a mammogram of the left breast.', 'X-ray'],
  ['The image is an ultrasound image of the liver.', 'ultrasound'],
  ['The image is an echocardiogram of the heart.', 'ultrasound'],
  ['The image is a histopathology slide stained with H&E.', 'pathology'],
  ['The image is a microscopic view of tissue.', 'pathology'],
  ['The image is an endoscopic view of the stomach.', 'endoscopy'],
  ['The image is a colonoscopy image of the colon.', 'endoscopy'],
  ['The image is a dermoscopy image of a skin lesion.', 'dermoscopy'],
  ['The image is a fundus photograph of the retina.', 'fundus'],
  ['The image is a PET/CT scan of the whole body.', 'PET'],
  ['The image is a photograph of a hand. It shows a CT scanner in the background.', 'other'],
  ['A dataset row without any modality words.', 'other'],
];

const NEUTRALISE_CASES: [string, string, boolean][] = [
  ['plain caption', 'plain caption', false],
  ['a <image> b', 'a [image] b', true],
  ['<IMAGE><video><audio>', '[IMAGE][video][audio]', true],
  ['end <|im_end|><|image_pad|><|vision_start|>', 'end [im_end][image_pad][vision_start]', true],
  ['ctrl\u0000char\r\nline', 'ctrl char\nline', true],
  ['  padded  ', 'padded', false],
  ['a < image > b', 'a < image > b', false],
];

const STEM_IDS = [
  '8031efe0-1b5c-11ef-8929-000066532cad',
  '../../etc/passwd',
  '/abs/x',
  '..',
  '.',
  '',
  'a/b',
  'a_b',
  '病例😀',
  'x'.repeat(5000),
  'C:\\win\\x',
  'nul\u0000byte',
  '-rf',
];

interface RulesOut {
  modality: string[];
  neutralise: [string, boolean][];
  stems: string[];
  splits: string[];
  splitsAgain: string[];
  valShare: number;
  questions: string[];
  parsed: (string[] | string)[];
  images: Record<string, [boolean, string, string, boolean]>;
}

const SCRIPT = String.raw`
import io, json, sys
import numpy as np
from PIL import Image
from medtune_py import medtrinity as m
cases = json.loads(sys.stdin.read())
def enc(im, fmt, **kw):
    b = io.BytesIO(); im.save(b, fmt, **kw); return b.getvalue()
rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
jpg = enc(rgb, "JPEG")
images = {
    "jpeg": jpg, "grey_jpeg": enc(rgb.convert("L"), "JPEG"), "png": enc(rgb, "PNG"), "palette_png": enc(rgb.convert("P"), "PNG"),
    "cmyk": enc(rgb.convert("CMYK"), "JPEG"), "png16": enc(Image.fromarray(np.arange(1600, dtype=np.uint16).reshape(40, 40) * 40), "PNG"),
    "rgba": enc(rgb.convert("RGBA"), "PNG"), "bmp": enc(rgb, "BMP"), "webp": enc(rgb, "WEBP"),
    "truncated": jpg[: len(jpg) // 2], "garbage": b"\x00\x01garbage", "empty": b"",
    "too_big": enc(Image.new("L", (300, 300)), "PNG"),
}
out_images = {}
for k, v in images.items():
    r = m.inspect_image(v, max_pixels=250 * 250)
    out_images[k] = [r.ok, r.reason, r.ext, r.converted]
ids = ["id-%d" % i for i in range(20000)]
parsed = []
for spec in ["ct, MRI", "xray,us,histopathology", "", "nonsense"]:
    try:
        p = m.parse_modalities(spec)
        parsed.append(sorted(p) if p else [])
    except ValueError as e:
        parsed.append("error: " + str(e))
pools = {"en": ["q1", "q2", "q3"], "zh": ["问1", "问2"]}
print(json.dumps({
    "modality": [m.detect_modality(c) for c in cases["modality"]],
    "neutralise": [list(m.neutralise(t)) for t in cases["neutralise"]],
    "stems": [m.safe_stem(i) for i in cases["stems"]],
    "splits": [m.split_of(i, 0.1) for i in ids[:50]],
    "splitsAgain": [m.split_of(i, 0.1) for i in ids[:50]],
    "valShare": sum(m.split_of(i, 0.1) == "val" for i in ids) / len(ids),
    "questions": [m.question_for(i, "mixed", pools) for i in ids[:200]],
    "parsed": parsed,
    "images": out_images,
}, ensure_ascii=False))
`;

describe('MedTrinity row rules (python/medtune_py/medtrinity.py)', () => {
  let out: RulesOut;

  beforeAll(async () => {
    const venv = await requireVenv();
    const input = JSON.stringify({
      modality: MODALITY_CASES.map((c) => c[0]),
      neutralise: NEUTRALISE_CASES.map((c) => c[0]),
      stems: STEM_IDS,
    });
    const r = await execa(venv.python, ['-c', SCRIPT], { input, env: helperEnv(venv), extendEnv: false });
    out = JSON.parse(r.stdout) as RulesOut;
  });

  it.each(MODALITY_CASES.map((c, i) => [i, ...c] as const))('modality #%i: %s → %s', (i, _caption, want) => {
    expect(out.modality[i]).toBe(want);
  });

  it.each(NEUTRALISE_CASES.map((c, i) => [i, ...c] as const))('neutralise #%i %j', (i, _text, want, changed) => {
    expect(out.neutralise[i]).toEqual([want, changed]);
  });

  it('turns any id into a safe, bounded, unique file name', () => {
    expect(new Set(out.stems).size).toBe(STEM_IDS.length);
    for (const stem of out.stems) {
      expect(stem).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{12}$/);
      expect(stem.length).toBeLessThanOrEqual(80 + 13);
      expect(stem).not.toContain('..');
      expect(stem).not.toContain('/');
    }
    expect(out.stems[0]).toBe(`8031efe0-1b5c-11ef-8929-000066532cad-${out.stems[0]!.slice(-12)}`);
  });

  it('splits by a hash of the id: stable, and close to the requested share', () => {
    expect(out.splits).toEqual(out.splitsAgain);
    expect(out.valShare).toBeGreaterThan(0.09);
    expect(out.valShare).toBeLessThan(0.11);
  });

  it('draws questions from both language pools in mixed mode', () => {
    const used = new Set(out.questions);
    expect([...used].sort()).toEqual(['q1', 'q2', 'q3', '问1', '问2']);
  });

  it('parses --modality with aliases and rejects unknown names', () => {
    expect(out.parsed[0]).toEqual(['CT', 'MRI']);
    expect(out.parsed[1]).toEqual(['X-ray', 'pathology', 'ultrasound']);
    expect(out.parsed[2]).toEqual([]);
    expect(out.parsed[3]).toMatch(/^error: unknown modality 'nonsense'/);
  });

  it.each([
    ['jpeg', true, '', '.jpg', false],
    ['grey_jpeg', true, '', '.jpg', false],
    ['png', true, '', '.png', false],
    ['palette_png', true, '', '.png', false],
    ['cmyk', true, '', '.jpg', true],
    ['png16', true, '', '.png', true],
    ['rgba', true, '', '.png', true],
    ['bmp', true, '', '.png', true],
    ['webp', true, '', '.png', true],
    ['truncated', false, 'truncated_image', '', false],
    ['garbage', false, 'corrupt_image', '', false],
    ['empty', false, 'empty_image', '', false],
    ['too_big', false, 'image_too_large', '', false],
  ])('image %s → ok %s %s %s converted %s', (kind, ok, reason, ext, converted) => {
    expect(out.images[kind]).toEqual([ok, reason, ext, converted]);
  });
});
