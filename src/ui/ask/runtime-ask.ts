/** The Ask screen's source on a real workspace: runtime model resolution, scans, ask, servers, transcripts. */
import { readdir } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { ResultEvent } from '../../core/protocol.js';
import { scanKindOf } from '../../core/scans.js';
import { transcriptName, type Transcript } from '../../core/transcript.js';
import type { RgbImage } from '../../core/halfblock.js';
import { writeJsonAtomic } from '../../runtime/atomic.js';
import { runHelper } from '../../runtime/pythonhelper.js';
import { ask } from '../../runtime/infer.js';
import { listModels } from '../../runtime/models.js';
import { listRunIds, readManifest } from '../../runtime/manifest.js';
import { resolveImages } from '../../runtime/scans.js';
import { listServers } from '../../runtime/serve.js';
import { requireVenv, type Venv } from '../../runtime/venv.js';
import { workspaceAt } from '../../runtime/workspace.js';
import type { AskSource, AskTarget, FileKind } from './source.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff']);

export function createRuntimeAskSource(root: string): AskSource {
  const ws = workspaceAt(root);
  let venvP: Promise<Venv> | null = null;
  const venv = () => (venvP ??= requireVenv());

  return {
    async listTargets() {
      const servers = (await listServers(ws)).filter((s) => s.status === 'ready');
      const served = (model: string, adapter: string | null) => servers.some((s) => s.model.model === model && s.model.adapter === adapter);
      const out: AskTarget[] = [];
      for (const m of await listModels(ws).catch(() => []))
        out.push({ ref: `model:${m.name}`, label: `model ${m.name}`, served: served(m.dir, null) });
      const exports = await readdir(ws.exportsDir, { withFileTypes: true }).catch(() => []);
      for (const e of exports.filter((d) => d.isDirectory()))
        out.push({ ref: `export:${e.name}`, label: `export ${e.name}`, served: served(join(ws.exportsDir, e.name), null) });
      for (const id of (await listRunIds(ws)).reverse()) {
        const m = await readManifest(join(ws.runsDir, id)).catch(() => undefined);
        if (m?.status === 'completed') out.push({ ref: `run:${id}`, label: `run ${id}`, served: served(m.model, m.outputDir) });
      }
      return out;
    },
    async listDir(dir) {
      const d = resolve(dir ?? ws.root);
      const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
      const out = [];
      for (const e of entries
        .filter((x) => !x.name.startsWith('.'))
        .sort((a, b) => Number(b.isDirectory()) - Number(a.isDirectory()) || a.name.localeCompare(b.name))) {
        const path = join(d, e.name);
        // Extension only here: reading every file's header would make a large folder slow to list.
        const kind: FileKind = e.isDirectory()
          ? 'dir'
          : IMAGE_EXT.has(extname(e.name).toLowerCase())
            ? 'image'
            : scanKindOf(e.name, null)
              ? 'scan'
              : extname(e.name) === ''
                ? 'scan'
                : 'other';
        out.push({ name: e.name, path, kind });
      }
      return { dir: d, parent: dirname(d) === d ? null : dirname(d), entries: out };
    },
    async prepare(files, scan, signal) {
      const r = await resolveImages(ws, venv, files, scan, 'preparing the images');
      const shown = r.images.slice(0, 4);
      const ev = await runHelper('thumbnails', ['--max-side', '64', ...shown], ResultEvent, {
        venv: await venv(),
        doing: 'drawing the previews',
        signal,
      });
      const previews = ((ev.images as { width?: number; height?: number; rgb?: string }[]) ?? [])
        .filter((i) => i.rgb && i.width && i.height)
        .map((i): RgbImage => ({ width: i.width!, height: i.height!, rgb: new Uint8Array(Buffer.from(i.rgb!, 'base64')) }));
      return { images: r.images, notes: r.notes, previews };
    },
    async ask(target, images, question, onToken, signal) {
      const r = await ask(ws, await venv(), { model: target, images, question, onToken, signal, maxNewTokens: 256 });
      return { answer: r.answer, seconds: r.seconds, device: r.device };
    },
    async saveTranscript(t: Transcript) {
      const file = join(ws.root, 'transcripts', transcriptName(t.startedAt));
      await writeJsonAtomic(file, t);
      return file;
    },
  };
}
