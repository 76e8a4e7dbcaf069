// Fills `estimatedSamplesPerSecond` of the rows of bench/results/gpu-train.json that have none: what medtune's
// estimate (src/core/walltime.ts, built into dist/) says for the row's card, profile, tokens and patches on the
// Qwen2-VL-2B architecture the bench trains. An emulated card's peak is the host card's × its MPS thread share.
//   npm run build && node bench/gpu/estimate.mjs bench/results/gpu-train.json
import { readFileSync, writeFileSync } from 'node:fs';
import { cardPeak, modelFlopsShape, profileRate } from '../../dist/core/walltime.js';

/** Padded tokens per sample of the synthetic 512² scans where a call did not record them (measured: 520-553). */
const SYNTHETIC_TOKENS = 548;
const file = process.argv[2] ?? 'bench/results/gpu-train.json';
const shape = modelFlopsShape(JSON.parse(readFileSync(new URL('../gpu-train/qwen2vl-2b-config.json', import.meta.url), 'utf8')));
const rows = JSON.parse(readFileSync(file, 'utf8'));
for (const r of rows) {
  if (r.estimatedSamplesPerSecond != null || !r.profile) continue;
  const peak = cardPeak(r.gpu);
  if (!peak) continue;
  const tflops = peak.bf16Tflops * (r.mpsThreadPercentage ? r.mpsThreadPercentage / 100 : 1);
  const rate = profileRate(
    r.profile,
    tflops,
    shape,
    r.tokensPerSample ?? SYNTHETIC_TOKENS,
    r.patchesPerSample ?? 1296,
    r.gradientCheckpointing,
  );
  if (rate !== null) r.estimatedSamplesPerSecond = Math.round(rate * 100) / 100;
}
writeFileSync(file, `${JSON.stringify(rows, null, 1)}\n`);
