/** Fitting text into terminal cells: labels cut where they stay tellable apart, paragraphs wrapped at words. */
import stringWidth from 'string-width';

/**
 * A label cut to `width` cells in the middle: its start (the kind, the run's date) and its end (what tells two
 * runs of one second apart) both stay, joined by "…".
 */
export function cutMiddle(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  const chars = [...text];
  const keep = width - 1;
  const head = Math.ceil(keep / 2);
  let start = '';
  for (const c of chars) {
    if (stringWidth(start + c) > head) break;
    start += c;
  }
  let end = '';
  for (let i = chars.length - 1; i >= 0; i--) {
    if (stringWidth(chars[i]! + end) > keep - stringWidth(start)) break;
    end = chars[i]! + end;
  }
  return `${start}…${end}`;
}

/**
 * A run id cut to `width`: its timestamp (YYYYMMDD-HHMMSS, what tells two runs of one day apart) stays whole,
 * then as much of its end (a `-2` suffix, the name) as fits. Other ids are cut in the middle.
 */
export function cutRunId(id: string, width: number): string {
  const stamp = /^\d{8}-\d{6}/.exec(id)?.[0];
  if (!stamp || stringWidth(id) <= width || width < stamp.length + 4) return cutMiddle(id, width);
  const tail = [...id.slice(stamp.length)];
  return `${stamp}…${tail.slice(tail.length - (width - stamp.length - 1)).join('')}`;
}

/**
 * Lines of at most `width` cells, broken at spaces (the space is dropped, so no line starts with one); a word
 * longer than a line is broken inside. Newlines in the text are kept.
 */
export function wrapWords(text: string, width: number): string[] {
  const w = Math.max(1, width);
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/ +/).filter((x, i) => x !== '' || i === 0)) {
      let rest = word;
      while (stringWidth(rest) > w) {
        if (line) {
          out.push(line);
          line = '';
        }
        let piece = '';
        for (const c of rest) {
          if (stringWidth(piece + c) > w) break;
          piece += c;
        }
        out.push(piece);
        rest = rest.slice(piece.length);
      }
      if (!line) line = rest;
      else if (stringWidth(`${line} ${rest}`) <= w) line = `${line} ${rest}`;
      else {
        out.push(line);
        line = rest;
      }
    }
    out.push(line);
  }
  return out;
}
