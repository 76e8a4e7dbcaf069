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
  const parsed = Settings.safeParse(parse(text) ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MedtuneError({
      doing: `reading ${ws.config}`,
      problem: `${issue?.path.join('.') || 'the file'}: ${issue?.message}`,
      next: 'fix medtune.yaml (keys: model, datasets, profile, overrides, autoResume, notify.command)',
      code: 'BAD_SETTINGS',
    });
  }
  return parsed.data;
}
