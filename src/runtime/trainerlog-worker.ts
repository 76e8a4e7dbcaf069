/**
 * Entry of a worker thread that summarises one part of a trainer_log.jsonl (bytes [start, end), whole lines) for
 * readTrainerLogSummary's first read of a long log; it posts the aggregator's state (bounded) and the bytes of an
 * unterminated last line (0 for a part cut at a newline).
 */
import { open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { partFeeder } from '../core/trainersummary.js';

export interface PartRequest {
  path: string;
  start: number;
  end: number;
  recent: number;
}

const CHUNK = 1 << 20;
const req = workerData as PartRequest;
const fh = await open(req.path, 'r');
try {
  const feeder = partFeeder({ recent: req.recent });
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, req.end - req.start)));
  let offset = req.start;
  while (offset < req.end) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, req.end - offset), offset);
    if (bytesRead === 0) break;
    // A plain Uint8Array view, like the lines the feeder joins itself: one array type keeps the decoder monomorphic.
    feeder.feed(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead));
    offset += bytesRead;
  }
  parentPort?.postMessage({ state: feeder.agg.state(), pending: feeder.pending, read: offset - req.start });
} finally {
  await fh.close();
}
