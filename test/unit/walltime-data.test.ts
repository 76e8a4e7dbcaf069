/** Image sizes from headers, and the data sampler behind the wall-time estimate on a real workspace folder. */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageSizeFromHeader } from '../../src/core/imagesize.js';
import { DEFAULT_PIXEL_LIMITS } from '../../src/core/walltime.js';
import { measureDataShape, planWallTime } from '../../src/runtime/walltime.js';
import { workspaceAt } from '../../src/runtime/workspace.js';

const be16 = (n: number) => [(n >> 8) & 255, n & 255];
const be32 = (n: number) => [(n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
const le16 = (n: number) => [n & 255, (n >> 8) & 255];
const le32 = (n: number) => [...le16(n & 0xffff), ...le16(n >>> 16)];
const png = (w: number, h: number) =>
  Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, ...be32(w), ...be32(h), 8, 2]);
// SOI, an APP0 segment of 16 bytes, then SOF2 (progressive) with height before width.
const jpeg = (w: number, h: number) =>
  Uint8Array.from([
    0xff,
    0xd8,
    0xff,
    0xe0,
    ...be16(16),
    ...new Array(14).fill(0),
    0xff,
    0xc2,
    ...be16(17),
    8,
    ...be16(h),
    ...be16(w),
    3,
    0,
    0,
  ]);

describe('imageSizeFromHeader', () => {
  it.each([
    ['PNG', png(640, 480), 640, 480],
    ['JPEG (after an APP0 segment)', jpeg(512, 384), 512, 384],
    ['GIF', Uint8Array.from([71, 73, 70, 56, 57, 97, ...le16(300), ...le16(200)]), 300, 200],
    ['BMP', Uint8Array.from([66, 77, ...new Array(16).fill(0), ...le32(128), ...le32(-64 >>> 0), 0, 0]), 128, 64],
    [
      'WebP VP8X',
      Uint8Array.from(
        [...'RIFF']
          .map((c) => c.charCodeAt(0))
          .concat(
            [0, 0, 0, 0],
            [...'WEBPVP8X'].map((c) => c.charCodeAt(0)),
            new Array(8).fill(0),
            [...le32(1023)].slice(0, 3),
            [...le32(767)].slice(0, 3),
          ),
      ),
      1024,
      768,
    ],
  ])('%s', (_, bytes, w, h) => {
    expect(imageSizeFromHeader(bytes)).toEqual({ width: w, height: h });
  });

  it('is null for what it cannot read', () => {
    expect(imageSizeFromHeader(Uint8Array.from([1, 2, 3, 4]))).toBeNull();
    expect(imageSizeFromHeader(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 2, 0, 0, 0, 0, 0]))).toBeNull();
  });
});

describe('measureDataShape / planWallTime on a workspace', () => {
  const root = mkdtempSync(join(tmpdir(), 'medtune-walltime-'));
  const ws = workspaceAt(root);
  mkdirSync(join(root, 'data', 'scans', 'images'), { recursive: true });
  writeFileSync(join(root, 'data', 'scans', 'images', 'a.png'), png(512, 512));
  writeFileSync(join(root, 'data', 'scans', 'images', 'b.jpg'), jpeg(1024, 1024));
  const row = (img: string) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: `<image>${'q'.repeat(100)}` },
        { role: 'assistant', content: 'a'.repeat(800) },
      ],
      images: [img],
    });
  writeFileSync(join(root, 'data', 'scans', 'train.jsonl'), `${row('scans/images/a.png')}\n${row('scans/images/b.jpg')}\n`);
  writeFileSync(
    join(root, 'data', 'dataset_info.json'),
    JSON.stringify({
      scans: { file_name: 'scans/train.jsonl', formatting: 'sharegpt', columns: { messages: 'messages', images: 'images' } },
    }),
  );

  it('reads every row’s text and image header: 1,296 patches at 512², (100 + 800) / 4 + 22 + 324 tokens', async () => {
    const shape = await measureDataShape(ws, ['scans'], { ...DEFAULT_PIXEL_LIMITS, imageMaxPixels: 512 * 512 }, 1024);
    expect(shape).toEqual({ tokens: 225 + 22 + 324, patches: 1296, rows: 2 });
  });

  it('estimates a planned run on the GPUs it will use', async () => {
    const modelDir = join(root, 'models', 'm');
    mkdirSync(modelDir, { recursive: true });
    const modelConfig = (await import('../../bench/gpu-train/qwen2vl-2b-config.json', { with: { type: 'json' } })).default;
    const e = await planWallTime({
      ws,
      profile: 'gpu-24g',
      config: {
        image_max_pixels: 262144,
        cutoff_len: 1024,
        num_train_epochs: 3,
        per_device_train_batch_size: 2,
        gradient_accumulation_steps: 8,
      },
      profileValues: { per_device_train_batch_size: 2 },
      modelDir,
      modelConfig,
      datasets: ['scans'],
      samples: 161_630,
      totalSteps: 30_306,
      devices: 1,
      gpuNames: ['NVIDIA GeForce RTX 4080 SUPER'],
    });
    expect(e?.samplesTotal).toBe(161_630 * 3);
    expect(e?.cards[0]).toMatchObject({ card: 'RTX 4080 SUPER', bound: 'compute' });
    expect(
      await planWallTime({
        ws,
        profile: 'cpu',
        config: {},
        profileValues: {},
        modelDir,
        modelConfig,
        datasets: ['scans'],
        samples: 2,
        totalSteps: 1,
        devices: 1,
        gpuNames: [],
      }),
    ).toBeNull();
  });
});
