/**
 * Clinical scans as the model sees them: named CT windows, slice choices, how a path is recognised as a scan,
 * and the typed reasons a scan is refused. The pixel work is python/medtune_py/scans.py; this is its vocabulary.
 */
import { z } from 'zod';

export interface WindowSetting {
  center: number;
  width: number;
}

/** Named CT windows in Hounsfield units (centre/width), as radiology viewers ship them. */
export const WINDOW_PRESETS = {
  lung: { center: -600, width: 1500 },
  mediastinum: { center: 50, width: 350 },
  bone: { center: 400, width: 1800 },
  brain: { center: 40, width: 80 },
  abdomen: { center: 40, width: 400 },
} as const satisfies Record<string, WindowSetting>;

export type WindowPreset = keyof typeof WINDOW_PRESETS;
export const WINDOW_PRESET_NAMES = Object.keys(WINDOW_PRESETS) as WindowPreset[];

/** `auto` (the file's VOI LUT or window, else the frame's range), a preset, or an explicit window. */
export type WindowChoice =
  | { kind: 'auto' }
  | { kind: 'preset'; name: WindowPreset; center: number; width: number }
  | { kind: 'explicit'; center: number; width: number };

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

export function parseWindow(text: string | undefined): Parsed<WindowChoice> {
  const t = (text ?? 'auto').trim().toLowerCase();
  if (t === '' || t === 'auto' || t === 'file') return { ok: true, value: { kind: 'auto' } };
  if (t in WINDOW_PRESETS) {
    const p = WINDOW_PRESETS[t as WindowPreset];
    return { ok: true, value: { kind: 'preset', name: t as WindowPreset, center: p.center, width: p.width } };
  }
  const m = /^(-?\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(t);
  if (!m)
    return {
      ok: false,
      problem: `"${text}" is not a window: use auto, ${WINDOW_PRESET_NAMES.join(', ')} or CENTER/WIDTH such as -600/1500`,
    };
  const center = Number(m[1]);
  const width = Number(m[2]);
  if (!(width > 0)) return { ok: false, problem: `the window width must be above 0 (got ${m[2]})` };
  return { ok: true, value: { kind: 'explicit', center, width } };
}

/** The helper's --window argument for a choice. */
export function windowArg(w: WindowChoice): string {
  return w.kind === 'auto' ? 'auto' : `${w.center}/${w.width}`;
}

export const MAX_SLICES = 16;

/** Which slices of a volume (or frames of a multi-frame file) the model sees. */
export type SliceChoice = { kind: 'middle' } | { kind: 'indices'; indices: number[] } | { kind: 'even'; count: number };

export function parseSlices(text: string | undefined): Parsed<SliceChoice> {
  const t = (text ?? 'middle').trim().toLowerCase();
  if (t === '' || t === 'middle') return { ok: true, value: { kind: 'middle' } };
  const even = /^even:(\d+)$/.exec(t);
  if (even) {
    const count = Number(even[1]);
    if (count < 1 || count > MAX_SLICES) return { ok: false, problem: `even:K takes 1 to ${MAX_SLICES} slices (got ${count})` };
    return { ok: true, value: { kind: 'even', count } };
  }
  if (/^\d+(,\d+)*$/.test(t)) {
    const indices = t.split(',').map(Number);
    if (indices.length > MAX_SLICES) return { ok: false, problem: `at most ${MAX_SLICES} slices (got ${indices.length})` };
    return { ok: true, value: { kind: 'indices', indices } };
  }
  return {
    ok: false,
    problem: `"${text}" is not a slice choice: use middle, an index such as 12 (0-based), a list such as 3,7,11, or even:K`,
  };
}

export function slicesArg(s: SliceChoice): string {
  return s.kind === 'middle' ? 'middle' : s.kind === 'even' ? `even:${s.count}` : s.indices.join(',');
}

export type ScanKind = 'dicom' | 'nifti';

/** What a file is by its name and first bytes: a scan, or null (an ordinary image, or something else). */
export function scanKindOf(name: string, head: Uint8Array | null): ScanKind | null {
  const lower = name.toLowerCase();
  if (lower.endsWith('.nii') || lower.endsWith('.nii.gz')) return 'nifti';
  if (lower.endsWith('.dcm') || lower.endsWith('.dicom') || lower.endsWith('.ima') || lower === 'dicomdir') return 'dicom';
  // A DICOM Part 10 file: a 128-byte preamble, then "DICM". Scanners often write files without an extension.
  if (head && head.length >= 132 && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d) return 'dicom';
  return null;
}

/** Why a scan (or a member of a folder) gave no image. */
export const ScanRefusalCode = z.enum([
  'NOT_A_SCAN',
  'UNREADABLE',
  'TRUNCATED',
  'DICOMDIR',
  'SEGMENTATION',
  'STRUCTURED_REPORT',
  'NOT_AN_IMAGE',
  'NO_PIXEL_DATA',
  'UNSUPPORTED_COMPRESSION',
  'DECODE_FAILED',
  'SLICE_OUT_OF_RANGE',
  'NO_SCANS',
  'MISSING',
]);
export type ScanRefusalCode = z.infer<typeof ScanRefusalCode>;

export const ScanImage = z.object({ file: z.string(), width: z.number(), height: z.number(), slice: z.number(), slices: z.number() });
export type ScanImage = z.infer<typeof ScanImage>;

export const ScanItem = z.union([
  z.object({
    input: z.number(),
    member: z.number(),
    kind: z.enum(['dicom', 'dicom-series', 'nifti']),
    modality: z.string(),
    photometric: z.string(),
    bits: z.number(),
    window: z.object({ center: z.number(), width: z.number(), source: z.string(), function: z.string() }).nullable(),
    voiLut: z.boolean(),
    images: z.array(ScanImage),
  }),
  z.object({ input: z.number(), member: z.number(), refused: z.object({ code: ScanRefusalCode, reason: z.string() }) }),
]);
export type ScanItem = z.infer<typeof ScanItem>;
export const ScanResult = z.object({ items: z.array(ScanItem) });

export type ConvertedScan = Extract<ScanItem, { images: unknown }>;
export type RefusedScan = Extract<ScanItem, { refused: unknown }>;
export const isRefused = (i: ScanItem): i is RefusedScan => 'refused' in i;

/** One line for people about a converted scan: "CT, slice 12 of 40, window 40/400 (file)". */
export function describeScan(s: ConvertedScan): string {
  const where =
    s.images.length === 1
      ? s.images[0]!.slices > 1
        ? `slice ${s.images[0]!.slice + 1} of ${s.images[0]!.slices}`
        : 'one image'
      : `slices ${s.images.map((i) => i.slice + 1).join(', ')} of ${s.images[0]?.slices ?? 0}`;
  const w = s.window
    ? `window ${+s.window.center.toFixed(1)}/${+s.window.width.toFixed(1)} (${s.window.source})`
    : s.voiLut
      ? "the file's VOI LUT"
      : s.photometric.startsWith('MONO')
        ? ''
        : s.photometric.toLowerCase();
  return [s.modality || s.kind, where, w].filter(Boolean).join(', ');
}
