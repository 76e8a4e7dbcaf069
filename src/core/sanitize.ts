/**
 * Text from datasets and file names is untrusted: before it reaches a terminal, control characters (an ESC starts
 * a terminal escape sequence that can clear the screen or rewrite what is shown) and Unicode bidirectional
 * controls (RLO and friends make text display in another order than it reads) are made visible as ⟨U+XXXX⟩.
 * Line breaks and tabs stay.
 */
// C0 controls except \t and \n, DEL, C1 controls; bidi embeddings/overrides, isolates and marks.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;

export function displaySafe(text: string): string {
  return text.replace(UNSAFE, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** True when `text` holds characters displaySafe would escape. */
export function hasUnsafeChars(text: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return found;
}
