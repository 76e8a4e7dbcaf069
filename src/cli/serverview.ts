/** One line per model server, for `serve` and `runs`. */
import type { ServerRecord } from '../core/serve.js';

export function serverLine(s: ServerRecord): string {
  const live = s.status === 'ready' || s.status === 'starting';
  return `${s.id.padEnd(40)} ${s.status.padEnd(10)} ${live ? s.url : ''}${s.keyRequired ? ' (key)' : ''}  ${s.model.label}`;
}
