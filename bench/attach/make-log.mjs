// Writes a synthetic trainer_log.jsonl of N records in LLaMA-Factory 0.9.5's exact line format (RECORD_VRAM on,
// include_num_input_tokens_seen on), a noisy decaying loss with rare spikes, an eval record every 500 steps and
// the end-of-train summary. Usage: node make-log.mjs N OUT [--resume-at K]
import { createWriteStream } from 'node:fs';

const n = Number(process.argv[2]);
const out = process.argv[3];
if (!Number.isInteger(n) || n < 1 || !out) {
  console.error('usage: node make-log.mjs N OUT');
  process.exit(2);
}
const td = (s) => {
  const d = Math.floor(s / 86400);
  const r = s % 86400;
  const hms = `${Math.floor(r / 3600)}:${String(Math.floor((r % 3600) / 60)).padStart(2, '0')}:${String(r % 60).padStart(2, '0')}`;
  return d ? `${d} day${d > 1 ? 's' : ''}, ${hms}` : hms;
};
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const ws = createWriteStream(out);
let buf = '';
const total = n;
const perStep = 1.7;
const tokensPerStep = 4096;
for (let step = 1; step <= n; step++) {
  const base = 0.4 + 2.2 * Math.exp(-step / (n / 8));
  const spike = rand() < 0.0005 ? 3 * rand() : 0;
  const loss = base + 0.08 * (rand() - 0.5) + spike;
  const elapsed = Math.round(step * perStep);
  const remaining = Math.round((total - step) * perStep);
  const lr = 1e-4 * 0.5 * (1 + Math.cos((Math.PI * step) / total));
  const pct = Math.round((step / total) * 10000) / 100;
  const tokens = step * tokensPerStep;
  buf += `{"current_steps": ${step}, "total_steps": ${total}, "loss": ${loss}, "lr": ${lr}, "epoch": ${(3 * step) / total}, "percentage": ${pct}, "elapsed_time": "${td(elapsed)}", "remaining_time": "${td(remaining)}", "throughput": ${(tokensPerStep / perStep).toFixed(2)}, "total_tokens": ${tokens}, "vram_allocated": 61.37, "vram_reserved": 74.5}\n`;
  if (step % 500 === 0) {
    buf += `{"current_steps": ${step}, "total_steps": ${total}, "eval_loss": ${base + 0.05}, "epoch": ${(3 * step) / total}, "percentage": ${pct}, "elapsed_time": "${td(elapsed)}", "remaining_time": "${td(remaining)}", "throughput": ${(tokensPerStep / perStep).toFixed(2)}, "total_tokens": ${tokens}, "vram_allocated": 61.37, "vram_reserved": 74.5}\n`;
  }
  if (buf.length > 1 << 20) {
    if (!ws.write(buf)) await new Promise((r) => ws.once('drain', r));
    buf = '';
  }
}
buf += `{"current_steps": ${n}, "total_steps": ${total}, "epoch": 3.0, "percentage": 100.0, "elapsed_time": "${td(Math.round(n * perStep))}", "remaining_time": "0:00:00", "throughput": ${(tokensPerStep / perStep).toFixed(2)}, "total_tokens": ${n * tokensPerStep}, "vram_allocated": 61.37, "vram_reserved": 74.5}\n`;
ws.end(buf);
