/** Small pure formatters shared by the CLI and the TUI. */

/** A time as it appears in run, job and eval folder names: 20261204-181530 (UTC). */
export function compactTimestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  if (h >= 24) return `${Math.floor(h / 24)}d ${h % 24}h${mm}m`;
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** A text progress bar such as `[#########.........]`; an unknown total gives a bouncing block. */
export function progressBar(done: number, total: number | null | undefined, width = 24, tick = 0): string {
  const inner = Math.max(4, width - 2);
  if (!total || total <= 0) {
    const pos = tick % (inner * 2 - 6);
    const p = pos < inner - 3 ? pos : inner * 2 - 6 - pos;
    return `[${' '.repeat(p)}###${' '.repeat(Math.max(0, inner - p - 3))}]`;
  }
  const frac = Math.min(1, Math.max(0, done / total));
  const filled = Math.round(frac * inner);
  return `[${'#'.repeat(filled)}${'.'.repeat(inner - filled)}]`;
}

export function percent(done: number, total: number | null | undefined): string {
  if (!total) return '';
  return `${Math.min(100, (done / total) * 100).toFixed(0)}%`;
}
