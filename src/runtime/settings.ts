import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import { Settings } from '../core/settings.js';
import type { Workspace } from './workspace.js';

export async function readSettings(ws: Workspace): Promise<Settings> {
  let text: string;
  try {
    text = await readFile(ws.config, 'utf8');
  } catch {
    return {};
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    const e = err as Error & { linePos?: Array<{ line: number; col: number }> };
    const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw new MedtuneError({
      doing: `reading ${ws.config}`,
      problem: `it is not valid YAML${at}: ${e.message.split('\n')[0]}`,
      next: 'fix medtune.yaml by hand (medtune never rewrites it), or move it away to use the defaults',
      code: 'BAD_SETTINGS',
    });
  }
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new MedtuneError({
      doing: `reading ${ws.config}`,
      problem: 'it must be a mapping of keys (model, datasets, profile, …)',
      next: 'fix medtune.yaml by hand, or move it away to use the defaults',
      code: 'BAD_SETTINGS',
    });
  }
  const parsed = Settings.safeParse(doc ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const unknown = issue?.code === 'unrecognized_keys' ? ((issue as { keys?: string[] }).keys ?? []) : [];
    throw new MedtuneError({
      doing: `reading ${ws.config}`,
      problem: unknown.length
        ? `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}${issue!.path.length ? ` under ${issue!.path.join('.')}` : ''}`
        : `${issue?.path.join('.') || 'the file'}: ${issue?.message}`,
      next: 'fix medtune.yaml (keys: model, datasets, profile, overrides, report_to, autoResume, notify.command)',
      code: 'BAD_SETTINGS',
    });
  }
  return parsed.data;
}
