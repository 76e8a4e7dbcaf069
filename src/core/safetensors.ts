/**
 * Whether a .safetensors file is whole, from its header alone: 8 bytes of header length (little-endian), a JSON
 * header naming every tensor's byte range, then the data. A file cut short (a full disk, a copy interrupted) ends
 * before the last range does. Pure: the caller reads the first bytes and the size.
 */

/** Bytes to read from the start of the file to check it (headers of big models are a few hundred KB). */
export const SAFETENSORS_PROBE_BYTES = 8 * 1024 * 1024;

export function safetensorsProblem(fileSize: number, head: Uint8Array): string | null {
  if (fileSize < 8 || head.length < 8) return 'it is empty or shorter than a safetensors header';
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen <= 0 || 8 + headerLen > fileSize)
    return `its header claims ${headerLen} bytes but the file has ${fileSize}: it is cut short`;
  if (8 + headerLen > head.length) return null; // a header too large to probe: trust the size check above
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(head.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch {
    return 'its header is not valid JSON: the file is damaged';
  }
  let end = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const offsets = (t as { data_offsets?: unknown }).data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2) return `tensor ${name} has no data_offsets: the file is damaged`;
    end = Math.max(end, Number(offsets[1]));
  }
  const need = 8 + headerLen + end;
  if (fileSize < need) return `it holds ${fileSize} bytes but its tensors need ${need}: it is cut short`;
  return null;
}

/** The shard files an index (model.safetensors.index.json) names, each once. */
export function shardsOfIndex(index: unknown): string[] {
  const map = (index as { weight_map?: Record<string, unknown> } | null)?.weight_map;
  if (!map || typeof map !== 'object') return [];
  return [...new Set(Object.values(map).filter((v): v is string => typeof v === 'string'))].sort();
}

/** The tensor names of a safetensors header (`head` holds at least the 8-byte length and the JSON); null if unreadable. */
export function tensorNamesOfHeader(head: Uint8Array): string[] | null {
  if (head.length < 8) return null;
  const headerLen = Number(new DataView(head.buffer, head.byteOffset, head.byteLength).getBigUint64(0, true));
  if (headerLen <= 0 || 8 + headerLen > head.length) return null;
  try {
    const header = JSON.parse(new TextDecoder().decode(head.subarray(8, 8 + headerLen))) as Record<string, unknown>;
    return Object.keys(header).filter((k) => k !== '__metadata__');
  } catch {
    return null;
  }
}
