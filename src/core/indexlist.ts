/** Sample numbers as people type them ("1-4, 9"; 1-based) → 0-based row indices. */

export type IndexListCheck = { ok: true; value: number[] } | { ok: false; message: string };

export function parseIndexList(text: string, maxCount = 32): IndexListCheck {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return { ok: false, message: 'give sample numbers, e.g. 1-4 or 2,5,9' };
  const out: number[] = [];
  for (const part of parts) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) return { ok: false, message: `"${part}" is not a number or a range` };
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b < a) return { ok: false, message: `"${part}": numbers start at 1 and ranges go up` };
    if (out.length + (b - a + 1) > maxCount) return { ok: false, message: `at most ${maxCount} samples at a time` };
    for (let i = a; i <= b; i++) if (!out.includes(i - 1)) out.push(i - 1);
  }
  return { ok: true, value: out };
}
