/** How a log line should look in a log tail: errors stand out, warnings less so, progress bars fade. */

export type LogLevel = 'error' | 'warning' | 'progress' | 'info';

const ERROR = [
  /Traceback \(most recent call last\)/,
  /\b[A-Z][A-Za-z]*(?:Error|Exception)\b:/,
  /\bCUDA (?:error|out of memory)\b/i,
  /\bout of memory\b/i,
  /\bChildFailedError\b/,
  /\bNo space left on device\b/,
  /^\s*(?:\[rank\d+\]:\s*)?(?:ERROR|CRITICAL|FATAL)\b/,
  /\[(?:ERROR|CRITICAL)\|/,
  /\bKilled\b/,
  /^✗/,
];
const WARNING = [
  /\[WARNING\|/,
  /^\s*(?:\[rank\d+\]:\s*)?WARNING\b/,
  /\bwarn(?:ing)?:/i,
  /UserWarning/,
  /FutureWarning/,
  /DeprecationWarning/,
];
// tqdm redraws such as ` 12/375 [00:41<20:31, 3.39s/it]` or `Running tokenizer on dataset: 45%|`.
const PROGRESS = [/\d+%\|/, /\d+\/\d+ \[\d+:\d+(?::\d+)?<[^\]]*\]/];

export function classifyLogLine(line: string): LogLevel {
  if (ERROR.some((re) => re.test(line))) return 'error';
  if (WARNING.some((re) => re.test(line))) return 'warning';
  if (PROGRESS.some((re) => re.test(line))) return 'progress';
  return 'info';
}

/**
 * tqdm writes carriage returns to redraw a bar in place; a tail should show only the last state of each
 * physical line.
 */
export function lastRedraw(line: string): string {
  const parts = line.split('\r').filter((p) => p.trim() !== '');
  return parts[parts.length - 1] ?? '';
}
