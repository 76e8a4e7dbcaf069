import { describe, expect, it } from 'vitest';
import { cellsToAscii, fitCells, imageToCells, luminance, toHex, type RgbImage } from '../../src/core/halfblock.js';
import { MedtuneError } from '../../src/core/errors.js';

function image(width: number, height: number, px: (x: number, y: number) => [number, number, number]): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set(px(x, y), (y * width + x) * 3);
  return { width, height, rgb };
}

describe('fitCells', () => {
  it.each([
    // w, h, maxCols, maxRows → cols, rows (a cell is 1 pixel wide and 2 tall)
    [512, 512, 32, 16, 32, 16],
    [100, 50, 40, 10, 40, 10],
    [50, 200, 40, 10, 5, 10],
    [4, 4, 40, 10, 4, 2],
    [1, 1, 10, 10, 1, 1],
    [640, 480, 20, 100, 20, 8],
  ])('%d×%d into %d×%d', (w, h, mc, mr, cols, rows) => {
    expect(fitCells(w, h, mc, mr)).toEqual({ cols, rows });
  });
});

describe('imageToCells', () => {
  it('puts the top pixel in the foreground and the bottom pixel in the background', () => {
    const img = image(2, 2, (x, y) => (y === 0 ? [255, 0, 0] : [0, 0, x * 255]));
    const cells = imageToCells(img, 10, 10);
    expect(cells).toHaveLength(1);
    expect(cells[0]).toEqual([
      { top: [255, 0, 0], bottom: [0, 0, 0] },
      { top: [255, 0, 0], bottom: [0, 0, 255] },
    ]);
  });

  it('averages the source area of each target pixel when it scales down', () => {
    // 4×4 checkerboard of black and white → 2×2 target pixels, each the average grey.
    const img = image(4, 4, (x, y) => ((x + y) % 2 ? [255, 255, 255] : [0, 0, 0]));
    const cells = imageToCells(img, 2, 1);
    expect(cells).toEqual([
      [
        { top: [128, 128, 128], bottom: [128, 128, 128] },
        { top: [128, 128, 128], bottom: [128, 128, 128] },
      ],
    ]);
  });

  it('keeps left-to-right and top-to-bottom order', () => {
    const img = image(4, 8, (x, y) => [x * 60, y * 30, 0]);
    const cells = imageToCells(img, 4, 4);
    expect(cells).toHaveLength(4);
    expect(cells[0]![3]!.top[0]).toBeGreaterThan(cells[0]![0]!.top[0]);
    expect(cells[3]![0]!.bottom[1]).toBeGreaterThan(cells[0]![0]!.top[1]);
  });

  it.each([
    [{ width: 2, height: 2, rgb: new Uint8Array(11) }, /expected 12 bytes/],
    [{ width: 0, height: 2, rgb: new Uint8Array(0) }, /not a positive whole size/],
  ])('rejects a malformed image (%#)', (img, msg) => {
    expect(() => imageToCells(img, 4, 4)).toThrow(MedtuneError);
    expect(() => imageToCells(img, 4, 4)).toThrow(msg);
  });
});

describe('colour helpers', () => {
  it.each([
    [[0, 0, 0], '#000000'],
    [[255, 128, 1], '#ff8001'],
  ] as const)('toHex(%j)', (rgb, hex) => expect(toHex(rgb)).toBe(hex));

  it('ranks luminance green > red > blue', () => {
    expect(luminance([0, 255, 0])).toBeGreaterThan(luminance([255, 0, 0]));
    expect(luminance([255, 0, 0])).toBeGreaterThan(luminance([0, 0, 255]));
  });

  it('maps brightness onto the ASCII ramp for NO_COLOR', () => {
    const black = { top: [0, 0, 0], bottom: [0, 0, 0] } as const;
    const white = { top: [255, 255, 255], bottom: [255, 255, 255] } as const;
    const mid = { top: [255, 255, 255], bottom: [0, 0, 0] } as const;
    expect(cellsToAscii([[black, mid, white]])).toEqual([' =@']);
  });
});
