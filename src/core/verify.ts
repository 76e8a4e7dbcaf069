/** The verify.json an export check writes (python/medtune_py/verify_export.py) and what it means for a person. */
import { z } from 'zod';

export const VerifyCheck = z.object({ name: z.string(), ok: z.boolean(), detail: z.string() });
export type VerifyCheck = z.infer<typeof VerifyCheck>;

export const Generation = z.object({
  prompt: z.string(),
  /** The image's path, or "synthetic" for the built-in test scan. */
  image: z.string(),
  text: z.string(),
  tokens: z.number().int(),
  seconds: z.number(),
});
export type Generation = z.infer<typeof Generation>;

export const VerifyReport = z.object({
  ok: z.boolean(),
  checks: z.array(VerifyCheck),
  /** Files copied from the base model into the export before loading it. */
  copied: z.array(z.string()),
  generation: Generation.nullable(),
});
export type VerifyReport = z.infer<typeof VerifyReport>;

/** One line per check, ✓/✗, for the CLI and for error details. */
export function describeChecks(report: Pick<VerifyReport, 'checks'>): string[] {
  return report.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`);
}
