/** Parsing of python/requirements.txt: pins, install groups, and the hash that names the venv. */
import { createHash } from 'node:crypto';

export interface Requirement {
  name: string;
  /** Specifier as written, e.g. "==5.5.4"; empty when unpinned. */
  spec: string;
  /** Installed with `pip --no-deps` (marked `# medtune: no-deps`). */
  noDeps: boolean;
  /** Not needed by training, export or eval on images (`# medtune: optional`): an offline setup may go without it. */
  optional: boolean;
  line: string;
}

/** Canonical package name (PEP 503). */
export function canonicalName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export function parseRequirements(text: string): Requirement[] {
  const out: Requirement[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const noDeps = /#\s*medtune:[^#]*\bno-deps\b/.test(raw);
    const optional = /#\s*medtune:[^#]*\boptional\b/.test(raw);
    const line = raw.replace(/#.*$/, '').trim();
    if (!line || line.startsWith('-')) continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ name: canonicalName(m[1]!), spec: (m[3] ?? '').replace(/\s+/g, ''), noDeps, optional, line });
  }
  return out;
}

/** The venv is keyed by the pins (comments and blank lines do not count) and the Python minor version. */
export function requirementsHash(text: string, pythonVersion: string): string {
  const reqs = parseRequirements(text).map((r) => `${r.name}${r.spec}${r.noDeps ? '#nodeps' : ''}`);
  const minor = pythonVersion.split('.').slice(0, 2).join('.');
  return createHash('sha256')
    .update(`${minor}\n${reqs.join('\n')}`)
    .digest('hex')
    .slice(0, 12);
}

/** The exact version a `==` pin names, or null. */
export function pinnedVersion(req: Requirement): string | null {
  const m = /^==([^,;]+)$/.exec(req.spec);
  return m ? m[1]! : null;
}
