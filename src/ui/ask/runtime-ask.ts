/** The Ask screen's source on a real workspace: the application's Ask use case, nothing of its own. */
import { appAt, ask, askTargets, listImageDir, prepareImages, saveTranscript } from '../../app/index.js';
import type { AskSource } from './source.js';

export function createRuntimeAskSource(root: string): AskSource {
  const app = appAt(root);
  return {
    listTargets: () => askTargets(app),
    listDir: (dir) => listImageDir(app, dir),
    // The conversion is short and writes its PNGs atomically: a change of settings simply outdates it.
    prepare: (files, scan) => prepareImages(app, files, scan),
    async ask(target, q, onToken, signal) {
      const r = await ask(app, { model: target, images: q.images, question: q.question, sampling: q.sampling, onToken, signal });
      return { answer: r.answer, seconds: r.seconds, device: r.device, cut: r.cut };
    },
    saveTranscript: (t) => saveTranscript(app, t),
  };
}
