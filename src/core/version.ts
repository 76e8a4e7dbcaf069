/** PEP 440-ish version comparison and specifier checks, enough for pip pins and LLaMA-Factory's ranges. */

export function parseVersion(v: string): number[] {
  const main = v.trim().split(/[+]/)[0] ?? '';
  return main.split('.').map((part) => {
    const m = /^(\d+)/.exec(part);
    return m ? Number(m[1]) : 0;
  });
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** True when `version` satisfies every clause of a specifier such as ">=4.55.0,<=5.6.0,!=4.57.0". */
export function satisfies(version: string, specifier: string): boolean {
  const clauses = specifier
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  return clauses.every((clause) => {
    const m = /^(==|!=|>=|<=|>|<|~=)\s*(.+)$/.exec(clause);
    if (!m) return false;
    const op = m[1]!;
    let target = m[2]!;
    if (op === '==' && target.endsWith('.*')) {
      target = target.slice(0, -2);
      const tv = parseVersion(target);
      const vv = parseVersion(version);
      return tv.every((x, i) => vv[i] === x);
    }
    const c = compareVersions(version, target);
    switch (op) {
      case '==':
        return c === 0;
      case '!=':
        return c !== 0;
      case '>=':
        return c >= 0;
      case '<=':
        return c <= 0;
      case '>':
        return c > 0;
      case '<':
        return c < 0;
      case '~=': {
        const tv = parseVersion(target);
        const prefix = tv.slice(0, Math.max(1, tv.length - 1));
        const vv = parseVersion(version);
        return c >= 0 && prefix.every((x, i) => vv[i] === x);
      }
      default:
        return false;
    }
  });
}
