/**
 * `medtune export`: merge a run's LoRA adapter into its base model with `llamafactory-cli export`, into
 * exports/<name>/ — written to a pending folder and renamed only when the export succeeded, so a failed or
 * interrupted export never leaves something that looks like a model.
 */
import { requireRoom, treeBytes } from './diskwatch.js';
import { existsSync } from 'node:fs';
import { llamafactoryCommand, runLlamafactory } from './llamafactory.js';
import { mkdir, readFile, rename, rm, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import { cmd } from '../core/nextstep.js';
import { defaultExportName } from '../core/run.js';
import { templateOf } from '../core/families.js';
import { parseConfigYaml, parseOverride, toYaml, commandLine, type TrainConfig } from '../core/trainconfig.js';
import { isAdapterDir, tailLines, tailText } from './files.js';
import { TEMPLATES_DIR } from './paths.js';
import { readManifest, resolveRunDir } from './manifest.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export interface ExportRequest {
  run: string;
  /** checkpoint-N to merge instead of the final adapter. */
  checkpoint?: number;
  name?: string;
  overrides?: string[];
}

export interface ExportResult {
  name: string;
  dir: string;
  adapter: string;
  base: string;
  yaml: string;
  log: string;
  seconds: number;
  files: string[];
  /** An existing export taken as it was (a GGUF conversion of an earlier merge). */
  reused?: boolean;
}

/** Phases of an export as its log shows them. */
export function exportPhase(line: string): string | null {
  if (/Loading checkpoint shards|loading weights file|Instantiating/i.test(line)) return 'loading base model';
  if (/Loaded adapter|Merged \d+ adapter|Merging/i.test(line)) return 'merging adapter';
  if (/Convert model dtype/i.test(line)) return 'converting dtype';
  if (/Model weights saved|Saving|save_pretrained|Ollama modelfile/i.test(line)) return 'saving';
  return null;
}

/**
 * `signal` cancels: the exporter gets SIGTERM (then SIGKILL after 5 s) and the pending folder is removed, so a
 * cancelled merge leaves nothing behind.
 */
export async function exportRun(
  ws: Workspace,
  venv: Venv,
  req: ExportRequest,
  onPhase: (phase: string) => void = () => {},
  signal?: AbortSignal,
): Promise<ExportResult> {
  const runDir = await resolveRunDir(ws, req.run);
  const m = await readManifest(runDir);
  if (!m)
    throw new MedtuneError({
      doing: `exporting ${req.run}`,
      problem: 'run.json is missing',
      next: ['check ', cmd('runs')],
      code: 'NO_RUN',
    });
  const adapter = req.checkpoint !== undefined ? join(m.outputDir, `checkpoint-${req.checkpoint}`) : m.outputDir;
  if (!isAdapterDir(adapter)) {
    const ckpts = (await readdir(m.outputDir).catch(() => [] as string[])).filter((e) => /^checkpoint-\d+$/.test(e));
    throw new MedtuneError({
      doing: `exporting run ${m.id}`,
      problem: `${adapter} holds no LoRA adapter (adapter_config.json + adapter_model.safetensors)${m.status !== 'completed' ? `; the run is ${m.status}` : ''}`,
      next: ckpts.length
        ? `export a checkpoint instead: --checkpoint ${ckpts.map((c) => c.slice(11)).join(' or --checkpoint ')}`
        : 'wait for the run to finish, or `medtune resume` it',
      code: 'NO_ADAPTER',
    });
  }
  const name = req.name ?? defaultExportName(m.id, req.checkpoint);
  const dir = join(ws.exportsDir, name);
  if (existsSync(dir)) {
    throw new MedtuneError({
      doing: `exporting run ${m.id}`,
      problem: `${dir} already exists`,
      next: 'pass --name NEW_NAME, or remove the old export first',
      code: 'EXPORT_EXISTS',
    });
  }
  const pending = join(ws.exportsDir, `.pending-${name}`);
  await rm(pending, { recursive: true, force: true });
  await mkdir(pending, { recursive: true });
  // The merged model is about the size of the base model: refuse before writing gigabytes into a full disk.
  await requireRoom(ws.exportsDir, await treeBytes(m.model), {
    doing: `exporting run ${m.id}`,
    next: 'free disk where exports/ lives (or move the workspace), then export again',
  }).catch(async (err: unknown) => {
    await rm(pending, { recursive: true, force: true });
    throw err;
  });
  const templateFile = join(TEMPLATES_DIR, 'export', 'merge_lora.yaml');
  const trainCfg = parseYaml(await readFile(m.trainYaml, 'utf8')) as TrainConfig;
  const config: TrainConfig = {
    ...parseConfigYaml(await readFile(templateFile, 'utf8'), templateFile),
    model_name_or_path: m.model,
    adapter_name_or_path: adapter,
    template: templateOf(trainCfg),
    export_dir: dir,
  };
  for (const o of req.overrides ?? []) {
    const [k, v] = parseOverride(o);
    config[k] = v;
  }
  const yamlFile = join(pending, 'export.yaml');
  const log = join(runDir, `export-${name}.log`);
  const started = Date.now();
  // LLaMA-Factory writes into export_dir itself; point it at the pending folder and rename afterwards.
  await writeFile(yamlFile, toYaml({ ...config, export_dir: pending }, `written by medtune: merge of run ${m.id}`));
  const { command, env } = llamafactoryCommand(venv, 'export', yamlFile);
  const r = await runLlamafactory(venv, {
    verb: 'export',
    yaml: yamlFile,
    cwd: ws.root,
    stdout: log,
    stderr: log,
    signal,
    onPoll: () =>
      void tailText(log, 16 * 1024).then((text) => {
        for (const l of text.split(/[\r\n]+/).reverse()) {
          const p = exportPhase(l);
          if (p) {
            onPhase(p);
            break;
          }
        }
      }),
  });
  if (r.canceled) {
    await rm(pending, { recursive: true, force: true });
    throw new MedtuneError({
      doing: `exporting run ${m.id}`,
      problem: 'cancelled',
      next: `nothing was written to ${dir}; export again when ready`,
      code: 'CANCELLED',
    });
  }
  const code = r.exitCode;
  if (code !== 0) {
    const tail = await tailLines(log, 12);
    await rm(pending, { recursive: true, force: true });
    throw new MedtuneError({
      doing: `exporting run ${m.id}`,
      problem: `llamafactory-cli export exited with code ${code}`,
      details: tail,
      next: `full log: ${log}`,
      code: 'EXPORT_FAILED',
    });
  }
  // Record the YAML with the final export_dir, as a user would rerun it.
  await writeFile(
    yamlFile,
    toYaml(
      config,
      `written by medtune: merge of run ${m.id}\n  ${commandLine(
        command.map((c) => (c === yamlFile ? join(dir, 'export.yaml') : c)),
        env,
      )}`,
    ),
  );
  await rename(pending, dir);
  return {
    name,
    dir,
    adapter,
    base: m.model,
    yaml: join(dir, 'export.yaml'),
    log,
    seconds: Math.round((Date.now() - started) / 1000),
    files: (await readdir(dir)).sort(),
  };
}
