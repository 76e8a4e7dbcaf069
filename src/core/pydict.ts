/** Python dict literals of scalars, as the HF Trainer prints its metrics (`{'loss': 6.05, …}`). */

export type MetricValue = number | string | boolean | null;

/**
 * Parses a Python dict literal of scalars, as `str(dict)` prints it: single- or double-quoted strings,
 * ints, floats, True/False/None, nan/inf. Quoted numbers (transformers ≥ 5 formats floats as `'6.051'`)
 * become numbers. Returns undefined for anything else.
 */
export function parsePythonDict(text: string): Record<string, MetricValue> | undefined {
  let i = 0;
  const s = text.trim();
  const ws = () => {
    while (i < s.length && /\s/.test(s[i] ?? '')) i++;
  };
  const quoted = (): string | undefined => {
    const q = s[i];
    if (q !== "'" && q !== '"') return undefined;
    let out = '';
    for (i++; i < s.length; i++) {
      const c = s[i];
      if (c === '\\') {
        const next = s[++i];
        out += next === 'n' ? '\n' : next === 't' ? '\t' : (next ?? '');
      } else if (c === q) {
        i++;
        return out;
      } else out += c;
    }
    return undefined;
  };
  const bare = (): MetricValue | undefined => {
    const m = /^[^,}\s]+/.exec(s.slice(i));
    if (!m) return undefined;
    i += m[0].length;
    const word = m[0];
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    const n = numeric(word);
    return n === undefined ? undefined : n;
  };
  ws();
  if (s[i] !== '{') return undefined;
  i++;
  const out: Record<string, MetricValue> = {};
  ws();
  if (s[i] === '}') return i === s.length - 1 ? out : undefined;
  for (;;) {
    ws();
    const key = quoted();
    if (key === undefined) return undefined;
    ws();
    if (s[i] !== ':') return undefined;
    i++;
    ws();
    let value: MetricValue | undefined;
    if (s[i] === "'" || s[i] === '"') {
      const text = quoted();
      if (text === undefined) return undefined;
      value = numeric(text) ?? text;
    } else value = bare();
    if (value === undefined) return undefined;
    out[key] = value;
    ws();
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (s[i] === '}') {
      i++;
      ws();
      return i === s.length ? out : undefined;
    }
    return undefined;
  }
}

function numeric(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'nan') return Number.NaN;
  if (t === 'inf' || t === '+inf') return Number.POSITIVE_INFINITY;
  if (t === '-inf') return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}
