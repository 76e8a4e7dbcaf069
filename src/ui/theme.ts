/**
 * Colours with meaning (state, thresholds, chart series) and none at all under NO_COLOR
 * (https://no-color.org): every colour is optional, and emphasis falls back to bold and dim.
 */
import type { RunView } from '../core/run.js';
import type { CheckLevel } from './source.js';

export interface Theme {
  noColor: boolean;
  accent?: string;
  ok?: string;
  warn?: string;
  error?: string;
  info?: string;
  muted?: string;
  /** Chart series: raw loss, smoothed loss, eval loss. */
  series: readonly [string | undefined, string | undefined, string | undefined];
}

export const COLOR_THEME: Theme = {
  noColor: false,
  accent: 'cyan',
  ok: 'green',
  warn: 'yellow',
  error: 'red',
  info: 'blue',
  muted: 'gray',
  series: ['gray', 'cyan', 'magenta'],
};

export const MONO_THEME: Theme = { noColor: true, series: [undefined, undefined, undefined] };

/** NO_COLOR counts when it is set to anything but the empty string. */
export function themeFromEnv(env: NodeJS.ProcessEnv = process.env): Theme {
  return env.NO_COLOR !== undefined && env.NO_COLOR !== '' ? MONO_THEME : COLOR_THEME;
}

export function statusColor(theme: Theme, status: RunView['status']): string | undefined {
  switch (status) {
    case 'training':
    case 'preparing':
    case 'saving':
      return theme.accent;
    case 'completed':
      return theme.ok;
    case 'failed':
      return theme.error;
    case 'stopping':
    case 'stopped':
    case 'queued':
    case 'stalled':
    case 'ended-unknown':
      return theme.warn;
    default:
      return theme.muted;
  }
}

export function levelColor(theme: Theme, level: CheckLevel): string | undefined {
  return level === 'ok' ? theme.ok : level === 'warn' ? theme.warn : theme.error;
}

export const LEVEL_MARK: Record<CheckLevel, string> = { ok: '✓', warn: '!', fail: '✗' };
