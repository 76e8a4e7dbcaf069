/** An in-memory WorkspaceSource: screens render from given data, and actions are recorded. */
import { compareRuns, type Comparison } from '../../src/core/runcompare.js';
import { continueAdvice, type RunView, type TrainerRecord } from '../../src/core/run.js';
import { MedtuneError } from '../../src/core/errors.js';
import { estimateGguf, GGUF_TYPES, ggufShapesOf } from '../../src/core/gguf.js';
import { summarizeRecords } from '../../src/core/trainersummary.js';
import type { GpuReading } from '../../src/core/gpu.js';
import type { GpuMonitorState } from '../../src/runtime/gpu-monitor.js';
import type {
  TrainDefaults,
  CompareRequest,
  CompareResult,
  DataSource,
  DatasetCheck,
  DatasetPreview,
  DatasetSummary,
  ExportRequest,
  ExportResult,
  ExportSummary,
  GpuProcessInfo,
  GgufChoice,
  LaunchResult,
  LogTail,
  ModelSummary,
  ProcessSignal,
  OnProgress,
  PrepareRequest,
  PreviewRequest,
  ProfileSummary,
  StopOptions,
  StopResult,
  TrainParams,
  TrainPlan,
  WorkspaceInfo,
  WorkspaceSource,
} from '../../src/ui/source.js';

export function records(n: number, total = n, opts: { evalEvery?: number } = {}): TrainerRecord[] {
  return Array.from({ length: n }, (_, i): TrainerRecord => {
    const step = (i + 1) * 5;
    return {
      step,
      totalSteps: total * 5,
      loss: 2.5 * Math.exp(-i / 8) + 0.3 + 0.05 * Math.sin(i),
      lr: 1e-4 * (1 - i / total),
      epoch: step / 50,
      percent: (step / (total * 5)) * 100,
      throughput: 800 + 10 * i,
      totalTokens: 3300 * (i + 1),
      attempt: 0,
      ...(opts.evalEvery && (i + 1) % opts.evalEvery === 0 ? { evalLoss: 2.4 * Math.exp(-i / 8) + 0.45 } : {}),
    };
  });
}

export function makeRun(id: string, over: Partial<RunView> = {}): RunView {
  const recs = over.records ?? records(24, 40, { evalEvery: 6 });
  const last = recs[recs.length - 1];
  const log = summarizeRecords(recs);
  return {
    id,
    dir: `/ws/runs/${id}`,
    status: 'training',
    phase: null,
    step: last?.step ?? 0,
    totalSteps: last?.totalSteps ?? 200,
    percent: last?.percent ?? 0,
    epoch: last?.epoch ?? null,
    loss: last?.loss ?? null,
    evalLoss: 0.61,
    lr: last?.lr ?? null,
    throughput: last?.throughput ?? null,
    etaSeconds: 754,
    peakVramGiB: 3.2,
    attempts: 1,
    writers: 1,
    recordCount: log.recordCount,
    records: recs,
    curve: { loss: log.loss, evalLoss: log.evalLoss },
    elapsed: null,
    totalTokens: last?.totalTokens ?? null,
    results: { train: false, eval: false, predict: false },
    checkpoints: [100],
    cause: null,
    updatedAt: '2026-06-12T12:00:05Z',
    ...over,
  };
}

export function makeDataset(name: string, over: Partial<DatasetSummary> = {}): DatasetSummary {
  return {
    name,
    file: `${name}/train.jsonl`,
    rows: 190,
    valRows: 10,
    images: 200,
    modalities: { CT: 90, MR: 60, 'X-ray': 40, Ultrasound: 10 },
    source: 'demo',
    createdAt: '2026-06-12T11:00:00Z',
    bytes: 5_400_000,
    ...over,
  };
}

/** A 16×16 gradient: red grows to the right, blue grows downwards. */
export function gradientImage(w = 16, h = 16) {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      rgb[i] = Math.round((x / (w - 1)) * 255);
      rgb[i + 1] = 64;
      rgb[i + 2] = Math.round((y / (h - 1)) * 255);
    }
  }
  return { width: w, height: h, rgb };
}

export interface Call {
  method: string;
  args: unknown[];
}

/** A promise whose settling the test controls, for watching progress mid-task. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class FakeSource implements WorkspaceSource {
  runs: RunView[] = [];
  datasets: DatasetSummary[] = [];
  models: ModelSummary[] = [];
  exports: ExportSummary[] = [];
  profiles: ProfileSummary[] = [
    {
      name: 'cpu-tiny',
      description: 'the tiny model on the CPU: minutes, for trying things',
      defaults: { num_train_epochs: 1, cutoff_len: 1024 },
    },
    { name: 'lora-1gpu', description: 'Qwen2-VL-2B LoRA on one 24 GB GPU', defaults: { cutoff_len: 2048, per_device_train_batch_size: 2 } },
  ];
  sources: DataSource[] = [
    {
      id: 'demo',
      label: 'demo sample set',
      description: '200 synthetic scans with questions and answers',
      available: true,
      defaultName: 'demo',
    },
    {
      id: 'medtrinity',
      label: 'MedTrinity-25M (local copy)',
      description: 'parquet shards in the HF cache',
      available: false,
      detail: 'no local copy found in ~/.cache/huggingface',
      defaultName: 'medtrinity-demo',
    },
    {
      id: 'local',
      label: 'Local files (a path)',
      description: 'a folder, parquet files or DICOM/NIfTI scans',
      available: true,
      defaultName: '',
      path: true,
    },
  ];
  logs = new Map<string, string[]>();
  calls: Call[] = [];
  /** Set to make the next long action wait for the test (prepare, export, compare, demo, plan). */
  gate: Promise<void> | null = null;
  plan: TrainPlan = {
    ok: true,
    yaml: 'model_name_or_path: models/qwen2-vl-tiny\nstage: sft\nfinetuning_type: lora\ndataset: demo\ntemplate: qwen2_vl\noutput_dir: runs/r1/output\n',
    command: ['llamafactory-cli', 'train', 'runs/r1/train.yaml'],
    checks: [
      { name: 'config', level: 'ok', detail: 'LLaMA-Factory parsed every key' },
      { name: 'dataset', level: 'ok', detail: '200 rows, 200 images, all usable' },
      { name: 'VRAM', level: 'warn', detail: 'no GPU: training runs on the CPU', next: 'fine for the tiny model' },
      { name: 'disk', level: 'ok', detail: '40 GiB free, run needs ~1 GiB' },
    ],
  };

  private record(method: string, ...args: unknown[]) {
    this.calls.push({ method, args });
  }

  callsTo(method: string): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  private async waitGate(onProgress: OnProgress, phase: string) {
    onProgress({ phase, done: 0, total: 100 });
    if (this.gate) await this.gate;
  }

  info(): WorkspaceInfo {
    return { root: '/ws/demo', name: 'demo' };
  }
  async listRuns() {
    return this.runs;
  }
  async readRun(id: string) {
    const r = this.runs.find((x) => x.id === id);
    if (!r) throw new MedtuneError({ doing: `reading run ${id}`, problem: 'no such run', code: 'RUN_MISSING' });
    return r;
  }
  async compareRuns(ids: string[]): Promise<Comparison> {
    const runs = ids.map((id) => this.runs.find((r) => r.id === id)!);
    return compareRuns(
      runs.map((r, i) => ({
        id: r.id,
        dir: r.dir,
        status: r.status,
        params: { learning_rate: i === 0 ? 1e-4 : 5e-4, lora_rank: 8 },
        loss: r.records.filter((x) => x.loss !== undefined).map((x) => [x.step, x.loss!] as const),
        evalLoss: r.records.filter((x) => x.evalLoss !== undefined).map((x) => [x.step, x.evalLoss!] as const),
        samplesPerStep: 16,
        step: r.step,
        totalSteps: r.totalSteps,
        trainLoss: null,
        finalEvalLoss: null,
        wallSeconds: null,
        samplesPerSecond: null,
        bench: [],
      })),
    );
  }
  async readLog(id: string, lines: number): Promise<LogTail> {
    return { lines: (this.logs.get(id) ?? []).slice(-lines) };
  }
  async startTrain(params: TrainParams): Promise<LaunchResult> {
    this.record('startTrain', params);
    this.runs = [
      ...this.runs,
      makeRun('r-new', { status: 'preparing', records: [], step: 0, phase: { name: 'tokenizing', done: 10, total: 200 } }),
    ];
    return { runId: 'r-new' };
  }
  async stopRun(id: string, opts: StopOptions): Promise<StopResult> {
    this.record('stopRun', id, opts);
    // Stopped before its first checkpoint, with the adapter LLaMA-Factory saves at a graceful stop.
    return { status: 'stopped', advice: continueAdvice(id, { checkpoint: null, adapter: `/ws/demo/runs/${id}/output` }) };
  }
  async resumeRun(id: string): Promise<LaunchResult> {
    this.record('resumeRun', id);
    return { runId: id };
  }
  async planTrain(params: TrainParams, onProgress: OnProgress) {
    this.record('planTrain', params);
    await this.waitGate(onProgress, 'checking');
    return this.plan;
  }
  /** Like the real source without medtune.yaml on a machine without a GPU. */
  trainDefaultsValue: TrainDefaults = { model: 'tiny-qwen2-vl', datasets: [], profile: 'cpu' };
  async trainDefaults(): Promise<TrainDefaults> {
    return this.trainDefaultsValue;
  }
  async listProfiles() {
    return this.profiles;
  }
  async listDatasets() {
    return this.datasets;
  }
  async listDataSources() {
    return this.sources;
  }
  async prepareData(req: PrepareRequest, onProgress: OnProgress): Promise<DatasetSummary> {
    this.record('prepareData', req);
    onProgress({ phase: 'converting', done: 45, total: 200, message: 'shard 1/1' });
    if (this.gate) await this.gate;
    const d = makeDataset(req.name);
    this.datasets = [...this.datasets, d];
    return d;
  }
  async previewDataset(name: string, req: PreviewRequest): Promise<DatasetPreview> {
    this.record('previewDataset', name, req);
    const d = this.datasets.find((x) => x.name === name);
    return {
      name,
      total: d?.rows ?? 0,
      samples: [
        {
          index: req.offset,
          split: 'train',
          question: `What does image ${req.offset + 1} show?`,
          answer: 'An axial CT slice of the chest with a small nodule in the right upper lobe.',
          imagePaths: [`data/${name}/images/${req.offset}.png`],
          image: gradientImage(),
          modality: 'CT',
        },
      ],
    };
  }
  async checkDataset(name: string, onProgress: OnProgress): Promise<DatasetCheck> {
    this.record('checkDataset', name);
    onProgress({ phase: 'checking rows', done: 100, total: 200 });
    return {
      name,
      ok: false,
      rows: 200,
      checks: [
        { name: 'images exist', level: 'ok', detail: '200 of 200' },
        { name: '<image> tokens', level: 'fail', detail: 'row 17: 2 images but 1 <image> token', next: 'fix row 17 or re-run prepare' },
      ],
    };
  }
  async listModels() {
    return this.models;
  }
  async listExports() {
    return this.exports;
  }
  /** The tiny model's shapes: q4_k_m does not fit them. */
  async planGguf(runId: string): Promise<GgufChoice[]> {
    this.record('planGguf', runId);
    const shapes = ggufShapesOf({
      tie_word_embeddings: true,
      text_config: {
        hidden_size: 64,
        intermediate_size: 256,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        vocab_size: 1012,
      },
      vision_config: { depth: 3, embed_dim: 32 },
    })!;
    return GGUF_TYPES.map((t) => {
      const e = estimateGguf(shapes, t);
      return { ...e, refusal: e.check.ok ? null : { problem: e.check.problem, instead: e.check.instead } };
    });
  }
  async exportRun(req: ExportRequest, onProgress: OnProgress): Promise<ExportResult> {
    this.record('exportRun', req);
    onProgress({ phase: 'merging', done: 3, total: 8, message: 'layer 3/8' });
    if (this.gate) await this.gate;
    return {
      name: req.name,
      dir: `/ws/demo/exports/${req.name}`,
      ok: true,
      checks: [
        { name: 'files', level: 'ok', detail: 'config, safetensors, tokenizer, preprocessor_config.json, chat_template' },
        { name: 'loads', level: 'ok', detail: 'Qwen2VLForConditionalGeneration + processor' },
        { name: 'answers', level: 'ok', detail: '"The image shows a chest CT."' },
      ],
    };
  }
  async compare(req: CompareRequest, onProgress: OnProgress): Promise<CompareResult> {
    this.record('compare', req);
    await this.waitGate(onProgress, 'loading models');
    return {
      base: { label: 'model tiny-qwen2-vl', score: 'modality 0/2' },
      tuned: { label: 'run r-done', score: 'modality 2/2 · ROUGE-L 0.41' },
      items: req.samples.map((s) => ({
        sample: s,
        question: `What does image ${s + 1} show?`,
        reference: 'A chest CT with a nodule.',
        base: 'This is a picture of a medical scan.',
        tuned: 'Axial chest CT; 8 mm nodule in the right upper lobe.',
        image: gradientImage(),
      })),
      dataset: req.dataset ? `${req.dataset}_val` : null,
    };
  }
  /** What the real source would read from /proc, by pid; a pid not here is not visible (user and command null). */
  processes = new Map<number, Omit<GpuProcessInfo, 'pid'>>();
  async describeProcesses(pids: readonly number[]): Promise<GpuProcessInfo[]> {
    return pids.map((pid) => ({ pid, ...(this.processes.get(pid) ?? { user: null, command: null, runId: null }) }));
  }
  async killProcess(pid: number, signal: ProcessSignal): Promise<{ runId: string }> {
    this.record('killProcess', pid, signal);
    const runId = this.processes.get(pid)?.runId;
    if (!runId) {
      throw new MedtuneError({
        doing: `sending ${signal} to process ${pid}`,
        problem: 'it is not a process of a going medtune run of this workspace',
        code: 'NOT_RUN_PROCESS',
      });
    }
    return { runId };
  }
  async close() {
    this.record('close');
  }
  async runDemo(onProgress: OnProgress): Promise<LaunchResult> {
    this.record('runDemo');
    onProgress({ phase: 'preparing demo data', done: 50, total: 200 });
    if (this.gate) await this.gate;
    this.runs = [makeRun('demo-1', { status: 'training' })];
    return { runId: 'demo-1' };
  }
}

/** One H100 at 87% utilisation, with a run's process on it. */
export function gpuState(): GpuMonitorState {
  const reading = (i: number, util: number): GpuReading => ({
    index: 0,
    uuid: 'GPU-aaaa',
    name: 'NVIDIA H100 80GB HBM3',
    timestamp: null,
    utilizationPct: util,
    memoryUtilizationPct: 40,
    memoryUsedMiB: 30_000 + i * 100,
    memoryReservedMiB: 500,
    memoryTotalMiB: 81_559,
    temperatureC: 61,
    memoryTemperatureC: 70,
    powerW: 450,
    powerLimitW: 700,
    smClockMHz: 1980,
    memoryClockMHz: 2619,
    pstate: 'P0',
    fanPct: null,
    clockEventReasons: 0,
  });
  return {
    mode: 'gpu',
    samples: Array.from({ length: 10 }, (_, i) => ({ receivedAt: 1_000 * i, gpus: [reading(i, 80 + (i % 8))] })),
    processes: [{ pid: 4242, gpuUuid: 'GPU-aaaa', name: 'python', usedMemoryMiB: 29_000, owner: 'run' }],
    droppedFields: [],
    ignoredDevices: [],
    warning: null,
  };
}

export function hostState(): GpuMonitorState {
  return {
    mode: 'host',
    reason: 'nvidia-smi not found on PATH',
    samples: [{ receivedAt: 0, cpuPct: 35, cpuCount: 2, memUsedMiB: 6_000, memTotalMiB: 24_000, load1: 0.8 }],
  };
}

/** Two H100s (indices 0 and 1), each with one rank of a run on it. */
export function twoGpuState(): GpuMonitorState {
  const one = gpuState();
  if (one.mode !== 'gpu') throw new Error('gpuState() is a GPU state');
  const second = (g: GpuReading): GpuReading => ({ ...g, index: 1, uuid: 'GPU-bbbb', utilizationPct: 91 });
  return {
    ...one,
    samples: one.samples.map((s) => ({ ...s, gpus: [...s.gpus, second(s.gpus[0]!)] })),
    processes: [...one.processes, { pid: 4243, gpuUuid: 'GPU-bbbb', name: 'python', usedMemoryMiB: 29_000, owner: 'run' }],
  };
}
