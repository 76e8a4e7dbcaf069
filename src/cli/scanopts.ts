/** The scan flags every command that takes images shares (--window, --slices). */
import { InvalidArgumentError, type Command } from 'commander';
import { parseSlices, parseWindow, WINDOW_PRESET_NAMES } from '../core/scans.js';
import type { ScanOptions } from '../runtime/scans.js';

function checked(parse: typeof parseWindow | typeof parseSlices) {
  return (v: string): string => {
    const r = parse(v);
    if (!r.ok) throw new InvalidArgumentError(r.problem);
    return v;
  };
}

export function addScanOptions(cmd: Command): Command {
  return cmd
    .option(
      '--window <w>',
      `for DICOM/NIfTI scans: auto (the file's VOI LUT or window), ${WINDOW_PRESET_NAMES.join('|')}, or CENTER/WIDTH in stored units (HU for CT)`,
      checked(parseWindow),
      'auto',
    )
    .option('--slices <s>', 'for volumes and multi-frame scans: middle, N, N,M,… (0-based) or even:K', checked(parseSlices), 'middle');
}

export const scanOptions = (opts: { window?: string; slices?: string }): ScanOptions => ({ window: opts.window, slices: opts.slices });
