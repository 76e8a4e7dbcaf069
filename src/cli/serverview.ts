/** One line per model server, for `serve` and `runs`. */
import type { ListedServer } from '../app/index.js';

/** `here`: the current workspace; a server started from another folder says which. */
export function serverLine(s: ListedServer, here?: string): string {
  const live = s.status === 'ready' || s.status === 'starting';
  return `${s.id.padEnd(40)} ${s.status.padEnd(10)} ${live ? s.url : ''}${s.keyRequired ? ' (key)' : ''}  ${s.model.label}${here !== undefined && s.workspace !== here ? `  (from ${s.workspace})` : ''}`;
}
