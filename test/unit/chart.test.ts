import { describe, expect, it } from 'vitest';
import {
  chartRowRuns,
  chartRowText,
  defaultSmoothing,
  emaSmooth,
  formatTick,
  lineChart,
  meter,
  sparkline,
  type ChartSeries,
} from '../../src/core/chart.js';

const line = (points: Array<[number, number]>): ChartSeries => ({ name: 's', kind: 'line', points });

describe('lineChart', () => {
  it('draws a rising diagonal corner to corner in braille', () => {
    const c = lineChart(
      [
        line([
          [0, 0],
          [1, 1],
        ]),
      ],
      { width: 2, height: 1 },
    );
    // 4×4 dots (x, y): (0,3) (1,2) in the left cell = dots 7 and 6; (2,1) (3,0) in the right cell = dots 2 and 4.
    expect(chartRowText(c.rows[0]!)).toBe('⡠⠊');
    expect(chartRowText(c.rows[0]!)).toBe(String.fromCharCode(0x2800 + 0x40 + 0x20) + String.fromCharCode(0x2800 + 0x02 + 0x08));
    expect(c.rows[0]!.map((cell) => cell.series)).toEqual([0, 0]);
  });

  it.each([
    [
      'flat series gets a middle row',
      [
        [0, 5],
        [10, 5],
      ] as Array<[number, number]>,
      3,
      [4.5, 5.5],
    ],
    [
      'zero-flat series pads by one',
      [
        [0, 0],
        [10, 0],
      ] as Array<[number, number]>,
      3,
      [-1, 1],
    ],
    [
      'range from data',
      [
        [0, 1],
        [10, 3],
      ] as Array<[number, number]>,
      3,
      [1, 3],
    ],
  ])('%s', (_name, pts, h, yRange) => {
    const c = lineChart([line(pts)], { width: 10, height: h });
    expect(c.yRange).toEqual(yRange);
    expect(c.rows).toHaveLength(h);
    expect(c.rows.every((r) => r.length === 10)).toBe(true);
  });

  it('connects steep drops with no gap (every column between two points has a dot)', () => {
    const c = lineChart(
      [
        line([
          [0, 10],
          [1, 0],
        ]),
      ],
      { width: 1, height: 4 },
    );
    expect(c.rows.every((r) => r[0]!.ch !== ' ')).toBe(true);
  });

  it('puts markers of a points series over lines, owned by that series', () => {
    const c = lineChart(
      [
        line([
          [0, 0],
          [10, 10],
        ]),
        { name: 'eval', kind: 'points', marker: 'x', points: [[10, 10]] },
      ],
      { width: 5, height: 2 },
    );
    expect(c.rows[0]![4]).toEqual({ ch: 'x', series: 1 });
  });

  it('clips points outside fixed ranges and skips non-finite ones', () => {
    const c = lineChart(
      [
        line([
          [0, 0],
          [1, Number.NaN],
          [100, 100],
        ]),
      ],
      { width: 4, height: 2, xRange: [0, 1], yRange: [0, 1] },
    );
    expect(c.rows.flat().filter((cell) => cell.ch !== ' ').length).toBeGreaterThan(0);
    expect(c.xRange).toEqual([0, 1]);
  });

  it('gives an empty grid for no data', () => {
    const c = lineChart([line([])], { width: 3, height: 2 });
    expect(c.rows.map(chartRowText)).toEqual(['   ', '   ']);
  });

  it('later series own shared cells', () => {
    const c = lineChart(
      [
        line([
          [0, 0],
          [1, 0],
        ]),
        line([
          [0, 0],
          [1, 0],
        ]),
      ],
      { width: 2, height: 1, yRange: [0, 1] },
    );
    expect(c.rows[0]!.every((cell) => cell.series === 1)).toBe(true);
  });
});

describe('chartRowRuns', () => {
  it('groups neighbours of one series', () => {
    expect(
      chartRowRuns([
        { ch: 'a', series: 0 },
        { ch: 'b', series: 0 },
        { ch: ' ', series: null },
        { ch: 'x', series: 2 },
      ]),
    ).toEqual([
      { text: 'ab', series: 0 },
      { text: ' ', series: null },
      { text: 'x', series: 2 },
    ]);
  });
});

describe('emaSmooth', () => {
  it.each([
    [[1, 1, 1], 0.5, [1, 1, 1]],
    [[0, 2], 0.5, [0, 1]],
    [[0, 4, 4], 0.75, [0, 1, 1.75]],
    [[3, 9], 0, [3, 9]],
  ])('%j with weight %d', (values, weight, expected) => {
    expect(emaSmooth(values, weight)).toEqual(expected);
  });
  it('smooths longer curves more', () => {
    expect(defaultSmoothing(200)).toBeGreaterThan(defaultSmoothing(10));
    expect(defaultSmoothing(0)).toBe(0);
  });
});

describe('sparkline', () => {
  it.each([
    [[1, 2, 3, 4, 5, 6, 7, 8], 8, '▁▂▃▄▅▆▇█'],
    [[5, 5, 5], 3, '▄▄▄'],
    [[1, 2, 3, 4], 2, '▁█'],
    [[], 4, ''],
  ])('%j in %d cells', (values, width, expected) => {
    expect(sparkline(values, width)).toBe(expected);
  });
});

describe('formatTick / meter', () => {
  it.each([
    [0.123456, '0.123'],
    [2.5, '2.5'],
    [123.4, '123'],
    [0.0001, '1.0e-4'],
    [250000, '2.5e+5'],
    [0, '0'],
  ])('formatTick(%d) = %s', (v, s) => expect(formatTick(v)).toBe(s));

  it.each([
    [0, 4, '░░░░'],
    [0.5, 4, '██░░'],
    [1, 4, '████'],
    [2, 3, '███'],
    [Number.NaN, 2, '░░'],
  ])('meter(%d, %d)', (f, w, s) => expect(meter(f, w)).toBe(s));
});
