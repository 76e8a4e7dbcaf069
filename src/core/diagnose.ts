/**
 * Why did a training attempt fail, and what should the user change? Reads the attempt's exit status and the
 * tails of its stdout and stderr, matching the error texts LLaMA-Factory, transformers, PyTorch and torchrun
 * really print (recorded in test/fixtures/llamafactory/).
 */
import type { FailureCause } from './run.js';
import { logMessage } from './milestones.js';

export interface AttemptEnd {
  /** The process's exit code; null when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it (`SIGKILL`), as Node reports it. */
  signal: string | null;
  /** medtune asked it to stop (`medtune stop`): ending by a signal is then expected. */
  stopRequested?: boolean;
  /** The ends of the attempt's stdout and stderr (64 KiB each is plenty). */
  stdoutTail?: string;
  stderrTail?: string;
  /** The run's id, for advice that names a command. */
  runId?: string;
  /** Whether a checkpoint the run can resume from exists: advice names `medtune resume` only then. */
  resumable?: boolean;
}

/** Stands in a rule's advice for the command that continues the run (see continueWith). */
const CONTINUE = '{continue}';

/** The command that continues a run after the cause is fixed: resume from a checkpoint, or a new run when there is none. */
function continueWith(end: AttemptEnd): string {
  const id = end.runId ?? 'RUN';
  return end.resumable === false
    ? `start a new run with \`medtune train\` and the same options (no checkpoint was saved, so there is nothing to resume; \`medtune logs ${id}\` shows the whole log)`
    : `\`medtune resume ${id}\` continues from the latest checkpoint`;
}

function withContinue(cause: FailureCause, end: AttemptEnd): FailureCause {
  return cause.next.includes(CONTINUE) ? { ...cause, next: cause.next.replace(CONTINUE, continueWith(end)) } : cause;
}

const MAX_EVIDENCE = 400;

/** A log line as evidence: without rank, logger and glog prefixes, and not too long. */
function clean(line: string): string {
  const text = logMessage(line)
    .replace(/^\[[EWIF]\d{4} [\d:.]+ [^\]]+\]\s*/, '')
    .trim();
  return text.length > MAX_EVIDENCE ? `${text.slice(0, MAX_EVIDENCE - 1)}…` : text;
}

function rankOf(line: string): number | null {
  const m = /^\[rank(\d+)\]:/.exec(line);
  return m ? Number(m[1]) : null;
}

const onRank = (rank: number | null) => (rank === null ? '' : ` (rank ${rank})`);

interface Rule {
  code: string;
  re: RegExp;
  summary: (m: RegExpExecArray, rank: number | null) => string;
  next: string;
  /** Take the first matching line rather than the last (the first of a cascade is closest to the cause). */
  first?: boolean;
}

const OOM_NEXT =
  'Lower per_device_train_batch_size (raise gradient_accumulation_steps to keep the effective batch), lower ' +
  'image_max_pixels (e.g. 262144 → 131072) or cutoff_len, keep gradient checkpointing on (do not set ' +
  'disable_gradient_checkpointing), set freeze_vision_tower: true, or use QLoRA (quantization_bit: 4) or ' +
  'DeepSpeed ZeRO-3 with offload; then ' +
  CONTINUE +
  '.';

/** Ordered: a rank's own error comes before the collective failures it causes on the other ranks. */
const RULES: Rule[] = [
  {
    code: 'CUDA_OOM',
    re: /(?:OutOfMemoryError: CUDA out of memory\.?(?: Tried to allocate ([\d.]+ [KMGT]?i?B))?(?:\. GPU (\d+) has a total capacity of ([\d.]+ [KMGT]?i?B))?|CUDA error: out of memory|CUBLAS_STATUS_ALLOC_FAILED)/,
    summary: (m, rank) =>
      `The GPU ran out of memory${onRank(rank)}` +
      (m[1] ? `: it needed ${m[1]} more${m[3] ? ` on GPU ${m[2]} (${m[3]} in total)` : ''}.` : '.'),
    next: OOM_NEXT,
  },
  {
    code: 'DISK_FULL',
    re: /No space left on device|\[Errno 28\]|os error 28|unexpected pos \d+ vs \d+|PytorchStreamWriter failed writing file|basic_ios::clear: iostream error/,
    summary: () => 'The disk (or quota) filled up while saving; the checkpoint being written is incomplete.',
    next:
      "Free space on output_dir's filesystem (check with `df -h`), lower save_total_limit or set save_only_model: " +
      'true; then ' +
      CONTINUE +
      '.',
  },
  {
    code: 'VERSION_CHECK',
    re: /(\S+) is required for a normal functioning of this module, but found (\S+?)\.?$/,
    summary: (m) => `LLaMA-Factory's version check failed: it needs ${m[1]}, but ${m[2]} is installed.`,
    next: 'Run `medtune setup` to rebuild the venv with the pinned versions (DISABLE_VERSION_CHECK=1 skips the check, at your own risk).',
  },
  {
    code: 'DATASET_UNDEFINED',
    re: /Undefined dataset (.+?) in (\S+?)\.?$/,
    summary: (m) => `Dataset "${m[1]}" is not registered in ${m[2]}.`,
    next:
      'Check the dataset name (`medtune data list`) and dataset_dir: LLaMA-Factory reads <dataset_dir>/dataset_info.json, ' +
      'and a relative dataset_dir is resolved against the working directory.',
  },
  {
    code: 'DATASET_INFO_MISSING',
    re: /Cannot open (\S*dataset_info\.json) due to/,
    summary: (m) => `LLaMA-Factory cannot open ${m[1]}.`,
    next: 'Point dataset_dir at the folder that holds dataset_info.json (a relative path is resolved against the working directory), or run `medtune data prepare`.',
  },
  {
    code: 'DATASET_FILE_MISSING',
    re: /ValueError: File (.+) not found\.$/,
    summary: (m) => `The dataset file ${m[1]} does not exist.`,
    next: "Fix the entry's file_name in dataset_info.json or restore the file (`medtune data check` lists what a dataset needs).",
  },
  {
    code: 'DATASET_FORMAT',
    re: /Allowed file types: (\S+)\.|File types should be identical\.|The dataset is not applicable in the current training stage\./,
    summary: () => 'LLaMA-Factory cannot read the dataset in this form.',
    next: 'Use one of json, jsonl, csv, parquet, arrow or txt (one type per dataset folder), then `medtune data check`.',
  },
  {
    code: 'IMAGE_MISMATCH',
    re: /The number of (images|videos|audios) does not match the number of (<\w+>) tokens/,
    summary: (m) => `A sample has a different number of ${m[1]} than ${m[2]} placeholders in its text.`,
    next: `Every sample needs exactly one placeholder per image, in order (a literal "<image>" in the text counts too); run \`medtune data check\` to find the rows.`,
  },
  {
    code: 'NO_VALID_SAMPLES',
    re: /Cannot find (?:valid|sufficient) samples/,
    summary: () => 'LLaMA-Factory dropped every sample of the dataset as malformed.',
    next:
      "Roles must alternate user/assistant under the entry's tags (role_tag, user_tag, assistant_tag), with an even " +
      'number of turns; see the "Invalid role tag" or "Invalid message count" warnings above and run `medtune data check`.',
  },
  {
    code: 'PROCESSOR_MISSING',
    re: /(?:Image )?[Pp]rocessor was not found/,
    summary: () => 'The model folder has no usable processor (image preprocessor and chat template).',
    next:
      'Copy processor_config.json / preprocessor_config.json and chat_template.jinja (or chat_template.json) from the ' +
      'base model into the model folder, or fetch the model again (`medtune model fetch`).',
  },
  {
    code: 'OUTPUT_DIR_EXISTS',
    re: /Output directory already exists and is not empty/,
    summary: () => 'output_dir already holds a trained model and no checkpoint to resume from.',
    next: 'Start a new run (a new output_dir), or set overwrite_output_dir: true to replace it.',
  },
  {
    code: 'CONFIG_INVALID',
    re: /Some (?:specified arguments|keys) are not used by the HfArgumentParser: (.+)$/,
    summary: (m) => `The training config has keys this LLaMA-Factory does not know: ${m[1]}.`,
    next: 'Remove or rename those keys; each LLaMA-Factory version accepts its own set (`llamafactory-cli train -h` lists them).',
  },
  {
    code: 'PRECISION_UNSUPPORTED',
    re: /can only be used on CUDA or NPU devices|This device does not support `pure_bf16`|Your setup doesn't support bf16/,
    summary: () => 'The chosen precision (fp16/bf16) is not supported on this device.',
    next: 'Drop fp16/bf16/pure_bf16 on CPU, use fp16 instead of bf16 on pre-Ampere GPUs.',
  },
  {
    code: 'NCCL',
    re: /Watchdog caught collective operation timeout|NCCL error|nccl(?:InternalError|SystemError|UnhandledCudaError|InvalidUsage|RemoteError)|DistBackendError|NCCL communicator was aborted/,
    summary: (_m, rank) => `A NCCL collective between the GPUs failed or timed out${onRank(rank)}.`,
    first: true,
    next:
      'If another rank crashed first, its error is the cause. Otherwise run with NCCL_DEBUG=INFO, raise ddp_timeout ' +
      'when preprocessing or evaluation is long, and check that the GPUs see each other (`nvidia-smi topo -m`).',
  },
  {
    code: 'MODULE_MISSING',
    re: /(?:ModuleNotFoundError: No module named '([^']+)'|ImportError: (.+)$)/,
    summary: (m) => (m[1] ? `Python module "${m[1]}" is missing from the venv.` : `An import failed: ${m[2]}`),
    next: 'Run `medtune doctor`, then `medtune setup` to repair the venv.',
  },
];

/** The exception line of the last Python traceback (`ValueError: …`), rank prefix removed. */
export function lastException(text: string): string | undefined {
  const lines = text.split(/\r?\n|\r/);
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!/Traceback \(most recent call last\):\s*$/.test(lines[i] ?? '')) continue;
    for (let j = i + 1; j < lines.length; j++) {
      const line = (lines[j] ?? '').replace(/^\[rank\d+\]: ?/, '');
      if (line.trim() === '' || /^\s/.test(line)) continue;
      return clean(line);
    }
  }
  return undefined;
}

export interface TorchrunFailure {
  rank: number;
  exitCode: number;
  /** `Signal 9 (SIGKILL) received by PID 960`, or torchrun's pointer to the docs. */
  traceback: string;
}

/** The "Root Cause (first observed failure)" of a torchrun ChildFailedError summary. */
export function torchrunRootCause(text: string): TorchrunFailure | undefined {
  const at = text.lastIndexOf('Root Cause (first observed failure):');
  if (at < 0) return undefined;
  const block = text.slice(at, at + 2000);
  const rank = /^\s*rank\s*:\s*(\d+)/m.exec(block);
  const exit = /^\s*exitcode\s*:\s*(-?\d+)/m.exec(block);
  const tb = /^\s*traceback\s*:\s*(.+)$/m.exec(block);
  if (!rank || !exit) return undefined;
  return { rank: Number(rank[1]), exitCode: Number(exit[1]), traceback: (tb?.[1] ?? '').trim() };
}

function matchRules(lines: readonly string[]): FailureCause | undefined {
  for (const rule of RULES) {
    for (let k = 0; k < lines.length; k++) {
      const line = lines[rule.first ? k : lines.length - 1 - k] ?? '';
      const m = rule.re.exec(logMessage(line));
      if (!m) continue;
      return { code: rule.code, summary: rule.summary(m, rankOf(line)), next: rule.next, evidence: clean(line) };
    }
  }
  return undefined;
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  6: 'SIGABRT',
  7: 'SIGBUS',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM',
};

/** The signal behind an exit status: Node's own report, or a shell's 128+N. */
function signalOf(end: AttemptEnd): string | null {
  if (end.signal) return end.signal;
  if (end.exitCode !== null && end.exitCode > 128 && end.exitCode < 160)
    return SIGNALS[end.exitCode - 128] ?? `signal ${end.exitCode - 128}`;
  return null;
}

const HOST_OOM_NEXT =
  'Check the kernel log (`dmesg -T | grep -i -E "killed process|out of memory"` or `journalctl -k`). Lower ' +
  'preprocessing_num_workers and dataloader_num_workers, image_max_pixels or per_device_train_batch_size, or use a ' +
  'machine with more RAM; then ' +
  CONTINUE +
  '.';

function bySignal(signal: string, who: string): FailureCause {
  switch (signal) {
    case 'SIGKILL':
      return {
        code: 'HOST_OOM',
        summary: `${who} was killed with SIGKILL, which medtune did not send: most likely the kernel's out-of-memory killer (host RAM).`,
        next: HOST_OOM_NEXT,
      };
    case 'SIGSEGV':
    case 'SIGBUS':
      return {
        code: 'NATIVE_CRASH',
        summary: `${who} crashed in native code (${signal}).`,
        next: `Run \`medtune doctor\` to check the venv, torch build and GPU driver; then ${CONTINUE}.`,
      };
    case 'SIGABRT':
      return {
        code: 'ABORTED',
        summary: `${who} aborted (SIGABRT) without saving: LLaMA-Factory stops gracefully on SIGABRT only once training has started and with LLAMABOARD_ENABLED=1.`,
        next: `Look at the end of stderr for the native error; ${CONTINUE}.`,
      };
    default:
      return {
        code: 'KILLED',
        summary: `${who} was stopped by ${signal} from outside medtune (a scheduler, a shutdown or a manual kill).`,
        next: `Once it is safe to run again, ${CONTINUE}.`,
      };
  }
}

/**
 * The cause of an attempt's failure, or undefined when it did not fail (exit 0, or it ended because medtune
 * was asked to stop it).
 */
export function diagnoseFailure(end: AttemptEnd): FailureCause | undefined {
  const cause = diagnose(end);
  return cause && withContinue(cause, end);
}

function diagnose(end: AttemptEnd): FailureCause | undefined {
  if (end.stopRequested) return undefined;
  const signal = signalOf(end);
  if (end.exitCode === 0 && !signal) return undefined;
  const text = `${end.stderrTail ?? ''}\n${end.stdoutTail ?? ''}`;
  const lines = text.split(/\r?\n|\r/);
  const matched = matchRules(lines);
  if (matched) return matched;

  // torchrun reports a worker's death in its summary; a worker's own error would have matched above.
  const root = torchrunRootCause(text);
  if (root) {
    const sig = /Signal \d+ \((SIG\w+)\)/.exec(root.traceback)?.[1];
    const evidence = `rank ${root.rank}: exitcode ${root.exitCode}${root.traceback ? `, ${root.traceback}` : ''}`;
    if (sig) return { ...bySignal(sig, `Worker rank ${root.rank}`), evidence };
    const own = lines.filter((l) => l.startsWith(`[rank${root.rank}]:`)).join('\n');
    return {
      code: 'WORKER_FAILED',
      summary: `Worker rank ${root.rank} exited with code ${root.exitCode} under torchrun.`,
      next: `Read that rank's traceback in stderr (lines starting with [rank${root.rank}]:); once fixed, ${CONTINUE}.`,
      evidence: lastException(own) ?? evidence,
    };
  }

  if (signal) {
    const cause = bySignal(signal, 'The trainer');
    const evidence = lastException(text);
    return evidence ? { ...cause, evidence } : cause;
  }
  // A Python exception ends the run the same way every time (a value LLaMA-Factory or the model refuses when it
  // builds them): it is the cause, and no automatic retry or resume would change it.
  const exception = lastException(end.stderrTail ?? '') ?? lastException(end.stdoutTail ?? '');
  if (exception) {
    return {
      code: 'PYTHON_ERROR',
      summary: `The trainer stopped on a Python error: ${exception}`,
      next: `Fix what the error names (a --set value, the dataset or the model), then start a new run with \`medtune train\`; \`medtune logs ${end.runId ?? 'RUN'}\` shows the whole traceback.`,
      evidence: exception,
    };
  }
  const evidence = lastLine(text);
  return {
    code: 'UNKNOWN',
    summary: `The trainer exited with code ${end.exitCode ?? 'unknown'}${evidence ? `: ${evidence}` : ''}.`,
    next: `Read the end of stderr (\`medtune logs ${end.runId ?? 'RUN'}\`); once fixed, ${CONTINUE}.`,
    ...(evidence ? { evidence } : {}),
  };
}

function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n|\r/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = (lines[i] ?? '').trim();
    if (l !== '' && !/^\s*\d{1,3}%\|/.test(l)) return clean(l);
  }
  return undefined;
}
