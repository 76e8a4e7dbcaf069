/**
 * `ask`: one streamed question about one or more images, to a model server of this workspace that serves the
 * model when one is up, else to the model loaded here (python/medtune_py/infer.py).
 */
import { z } from 'zod';
import { MedtuneError } from '../core/errors.js';
import { cmd } from '../core/nextstep.js';
import type { Sampling } from '../core/serve.js';
import { resolveImages, type ScanOptions } from './scans.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';
import { relayProgress, runHelper, type Progress } from './pythonhelper.js';
import { checkImages, imagePixels, resolveModel, summary, type ModelSpec, type ModelTarget } from './modelref.js';
import { askServer, findServerFor } from './serve.js';

/** What the ask helper (python/medtune_py/infer.py ask) returns. */
const AskHelperResult = z.object({
  answer: z.string(),
  tokens: z.number(),
  prompt_tokens: z.number(),
  seconds: z.number(),
  first_token_seconds: z.number().nullable().optional(),
  /** The answer stopped at max_new_tokens. */
  cut: z.boolean().optional(),
  device: z.string().optional(),
});

export interface AskRequest {
  model: string | ModelSpec | ModelTarget;
  /** None: a question about text alone. */
  images: string[];
  question: string;
  maxNewTokens: number;
  sampling: Sampling;
  /** How scans among the images are turned into what the model sees. */
  scan?: ScanOptions;
  /**
   * `auto` (default): a ready `medtune serve` of this workspace for the same model answers, else the model is
   * loaded; `never`: always load it; or an explicit server (then MODEL only labels the answer).
   */
  server?: 'auto' | 'never' | { url: string; apiKey?: string };
  onToken?: (text: string) => void;
  onProgress?: Progress;
  signal?: AbortSignal;
}

export interface AskResult {
  answer: string;
  tokens: number;
  promptTokens: number;
  seconds: number;
  firstTokenSeconds: number | null;
  /** The answer stopped at maxNewTokens, not at its end (unknown from a server: false). */
  cut: boolean;
  device: string;
  question: string;
  images: string[];
  /** How each scan was converted (or which members of a folder were refused). */
  notes: string[];
  model: ReturnType<typeof summary>;
}

const isTarget = (m: AskRequest['model']): m is ModelTarget => typeof m === 'object' && 'modelDir' in m;

export async function ask(ws: Workspace, venv: Venv, req: AskRequest): Promise<AskResult> {
  const doing = 'asking the model';
  if (!req.question.trim())
    throw new MedtuneError({
      doing,
      problem: 'the question is empty',
      next: ['write the question after the model: ', cmd('ask', 'MODEL', '--image', 'a.png', 'What is shown?')],
      code: 'NO_QUESTION',
    });
  checkImages(req.images, doing);
  const { images, notes } = req.images.length
    ? await resolveImages(ws, venv, req.images, req.scan, doing)
    : { images: [] as string[], notes: [] as string[] };
  const mode = req.server ?? 'auto';
  // An explicit server may serve a model this workspace does not hold: MODEL then only names it.
  const target = typeof mode === 'object' ? null : isTarget(req.model) ? req.model : await resolveModel(ws, req.model);
  if (mode !== 'never') {
    const live =
      target === null
        ? { url: (mode as { url: string }).url.replace(/\/+$/, ''), apiKey: (mode as { apiKey?: string }).apiKey }
        : await findServerFor(ws, target).then((s) => (s && !s.keyRequired ? { url: s.url, apiKey: undefined } : null));
    if (live) {
      req.onProgress?.('generate', 0, req.maxNewTokens, `asking the server at ${live.url}`);
      const r = await askServer({
        url: live.url,
        apiKey: live.apiKey,
        images,
        question: req.question,
        maxNewTokens: req.maxNewTokens,
        sampling: req.sampling,
        onToken: req.onToken,
        signal: req.signal,
      });
      const ref =
        typeof req.model === 'string'
          ? req.model
          : isTarget(req.model)
            ? req.model.ref
            : 'name' in req.model
              ? req.model.name
              : req.model.id;
      const model = target ? summary(target) : { kind: 'server', ref, label: `${ref} at ${live.url}`, model: live.url, adapter: null };
      return {
        answer: r.answer,
        tokens: 0,
        promptTokens: 0,
        seconds: Math.round(r.seconds * 1000) / 1000,
        firstTokenSeconds: r.firstTokenSeconds,
        cut: r.cut,
        device: `server ${live.url}`,
        question: req.question,
        images,
        notes,
        model,
      };
    }
  }
  if (target === null) throw new MedtuneError({ doing, problem: 'no server to ask', code: 'NO_SERVER' });
  const px = imagePixels(target);
  const args = [
    'ask',
    '--model',
    target.modelDir,
    '--question',
    req.question,
    '--max-new-tokens',
    String(req.maxNewTokens),
    '--temperature',
    String(req.sampling.temperature),
    '--top-p',
    String(req.sampling.topP),
    '--image-max-pixels',
    String(px.max),
    '--image-min-pixels',
    String(px.min),
    ...images.flatMap((i) => ['--image', i]),
  ];
  if (target.adapterDir) args.push('--adapter', target.adapterDir);
  const r = await runHelper('infer', args, AskHelperResult, {
    venv,
    doing: `asking ${target.label}`,
    signal: req.signal,
    env: { HF_HUB_OFFLINE: '1' },
    onEvent: (e) => {
      if (e.event === 'token') req.onToken?.(e.text);
      else relayProgress(req.onProgress)(e);
    },
  });
  return {
    answer: r.answer,
    tokens: r.tokens,
    promptTokens: r.prompt_tokens,
    seconds: r.seconds,
    firstTokenSeconds: r.first_token_seconds ?? null,
    cut: r.cut === true,
    device: r.device ?? '',
    question: req.question,
    images,
    notes,
    model: summary(target),
  };
}
