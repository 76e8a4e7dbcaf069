import { useMemo } from 'react';
import { Box, Text } from 'ink';
import { cellsToAscii, HALF_BLOCK, imageToCells, toHex, type HalfBlockCell, type RgbImage } from '../../core/halfblock.js';
import { useTheme } from '../context.js';

export interface HalfBlockImageProps {
  image: RgbImage;
  maxCols: number;
  maxRows: number;
}

/** Runs of identical neighbouring cells, so a flat background becomes one text span. */
function runs(row: readonly HalfBlockCell[]): Array<{ fg: string; bg: string; n: number }> {
  const out: Array<{ fg: string; bg: string; n: number }> = [];
  for (const c of row) {
    const fg = toHex(c.top);
    const bg = toHex(c.bottom);
    const last = out[out.length - 1];
    if (last && last.fg === fg && last.bg === bg) last.n++;
    else out.push({ fg, bg, n: 1 });
  }
  return out;
}

/** An image drawn with '▀' cells (two pixels per cell); a brightness ramp under NO_COLOR. */
export function HalfBlockImage({ image, maxCols, maxRows }: HalfBlockImageProps) {
  const theme = useTheme();
  const cells = useMemo(() => imageToCells(image, maxCols, maxRows), [image, maxCols, maxRows]);
  if (theme.noColor) {
    return <Box flexDirection="column">{cellsToAscii(cells).map((l, i) => <Text key={i}>{l}</Text>)}</Box>;
  }
  return (
    <Box flexDirection="column">
      {cells.map((row, y) => (
        <Text key={y}>
          {runs(row).map((r, i) => <Text key={i} color={r.fg} backgroundColor={r.bg}>{HALF_BLOCK.repeat(r.n)}</Text>)}
        </Text>
      ))}
    </Box>
  );
}
