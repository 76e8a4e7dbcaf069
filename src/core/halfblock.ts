/**
 * Decoded pixels → terminal cells. Each cell is an upper half block '▀' whose foreground is the top
 * pixel and whose background is the bottom pixel, so a cell shows two square-ish pixels.
 * Without colour (NO_COLOR) the same cells become a luminance ramp of ASCII characters.
 */
import { MedtuneError } from './errors.js';

/** Decoded pixels, row-major, 3 bytes (R, G, B) per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export type Rgb = readonly [number, number, number];

export interface HalfBlockCell {
  top: Rgb;
  bottom: Rgb;
}

export const HALF_BLOCK = '▀';

function checkImage(img: RgbImage): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width <= 0 || img.height <= 0) {
    throw new MedtuneError({
      doing: 'drawing an image preview',
      problem: `the image size ${img.width}×${img.height} is not a positive whole size`,
      code: 'IMAGE_SIZE',
    });
  }
  if (img.rgb.length !== img.width * img.height * 3) {
    throw new MedtuneError({
      doing: 'drawing an image preview',
      problem: `expected ${img.width * img.height * 3} bytes of RGB for ${img.width}×${img.height}, got ${img.rgb.length}`,
      code: 'IMAGE_SIZE',
    });
  }
}

/**
 * The largest cell grid that fits maxCols×maxRows and keeps the image's aspect ratio
 * (one cell = 1 pixel wide, 2 pixels tall). Never upscales past one cell per pixel column.
 */
export function fitCells(width: number, height: number, maxCols: number, maxRows: number): { cols: number; rows: number } {
  const cols0 = Math.max(1, Math.min(Math.floor(maxCols), width));
  const scale = Math.min(cols0 / width, (Math.max(1, Math.floor(maxRows)) * 2) / height);
  const cols = Math.max(1, Math.round(width * scale));
  const rows = Math.max(1, Math.ceil((height * scale) / 2));
  return { cols: Math.min(cols, Math.floor(maxCols)), rows: Math.min(rows, Math.floor(maxRows)) };
}

/** Average colour of the source area that maps onto target pixel (tx, ty) of a tw×th grid (box filter). */
function sampleArea(img: RgbImage, tx: number, ty: number, tw: number, th: number): Rgb {
  const x0 = Math.floor((tx * img.width) / tw);
  const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * img.width) / tw));
  const y0 = Math.floor((ty * img.height) / th);
  const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * img.height) / th));
  let r = 0;
  let g = 0;
  let b = 0;
  let n = 0;
  for (let y = y0; y < Math.min(y1, img.height); y++) {
    for (let x = x0; x < Math.min(x1, img.width); x++) {
      const i = (y * img.width + x) * 3;
      r += img.rgb[i]!;
      g += img.rgb[i + 1]!;
      b += img.rgb[i + 2]!;
      n++;
    }
  }
  return [Math.round(r / n), Math.round(g / n), Math.round(b / n)];
}

/** Scales the image into at most maxCols×maxRows half-block cells. */
export function imageToCells(img: RgbImage, maxCols: number, maxRows: number): HalfBlockCell[][] {
  checkImage(img);
  const { cols, rows } = fitCells(img.width, img.height, maxCols, maxRows);
  const pixelRows = rows * 2;
  const cells: HalfBlockCell[][] = [];
  for (let r = 0; r < rows; r++) {
    const line: HalfBlockCell[] = [];
    for (let c = 0; c < cols; c++) {
      line.push({ top: sampleArea(img, c, r * 2, cols, pixelRows), bottom: sampleArea(img, c, r * 2 + 1, cols, pixelRows) });
    }
    cells.push(line);
  }
  return cells;
}

export function toHex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Rec. 601 luma, 0..255. */
export function luminance([r, g, b]: Rgb): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

const RAMP = ' .:-=+*#%@';

/** The cells as text for terminals without colour: each cell's two pixels averaged onto a brightness ramp. */
export function cellsToAscii(cells: readonly (readonly HalfBlockCell[])[]): string[] {
  return cells.map((row) =>
    row
      .map((cell) => {
        const l = (luminance(cell.top) + luminance(cell.bottom)) / 2;
        return RAMP[Math.min(RAMP.length - 1, Math.floor((l / 256) * RAMP.length))];
      })
      .join(''),
  );
}
