import { useState } from 'react';
import type { Key } from 'ink';
import type { Handlers, TextCapture } from '../keyrouter.js';

export interface TextEditOptions {
  /** Field keys in focus order. */
  keys: readonly string[];
  /** Which of them are typed into (the rest are choices or read-only). */
  isText: (key: string) => boolean;
  focus: number;
  setFocus: (i: number) => void;
  get: (key: string) => string;
  /** Applies an edit; functional so several keys between two renders all land. */
  update: (key: string, edit: (old: string) => string) => void;
}

export interface TextEdit {
  /** The field being typed into, or null. */
  editing: string | null;
  begin: (key: string) => void;
  /** Starts editing `key` with `text` in place of its value (typing on a focused field). */
  typeInto: (key: string, text: string) => void;
  /** For useKeys: the `edit` actions and the text capture, both null when not editing. */
  handlers: Handlers;
  capture: TextCapture | null;
}

// Printable text only: a stray escape sequence from an unmapped key must not land in a field.
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;

/** Typing into form fields: edits apply as you type (so validation shows at once); esc puts the old value back. */
export function useTextEdit(o: TextEditOptions): TextEdit {
  const [editing, setEditing] = useState<{ key: string; original: string } | null>(null);
  const begin = (key: string) => setEditing({ key, original: o.get(key) });
  const typeInto = (key: string, text: string) => {
    setEditing({ key, original: o.get(key) });
    o.update(key, () => text);
  };
  if (!editing) return { editing: null, begin, typeInto, handlers: {}, capture: null };

  const moveTo = (step: 1 | -1) => {
    const n = o.keys.length;
    const next = (o.focus + step + n) % n;
    o.setFocus(next);
    const k = o.keys[next]!;
    setEditing(o.isText(k) ? { key: k, original: o.get(k) } : null);
  };
  const capture = (input: string, key: Key) => {
    if (key.backspace || key.delete) o.update(editing.key, (old) => old.slice(0, -1));
    else if (!key.ctrl && !key.meta && PRINTABLE.test(input)) o.update(editing.key, (old) => old + input);
  };
  return {
    editing: editing.key,
    begin,
    typeInto,
    capture,
    handlers: {
      done: () => setEditing(null),
      cancel: () => {
        o.update(editing.key, () => editing.original);
        setEditing(null);
      },
      next: () => moveTo(1),
      prev: () => moveTo(-1),
      clear: () => o.update(editing.key, () => ''),
    },
  };
}
