import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnoseFailure, lastException, torchrunRootCause } from '../../src/core/diagnose.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');
const read = (p: string) => (existsSync(join(FIX, p)) ? readFileSync(join(FIX, p), 'utf8') : '');

/** Recorded failures: LLaMA-Factory runs on the tiny model (CPU) and PyTorch/torchrun on two H200s. */
const RECORDED: { file: string; code: string; exitCode?: number; summary?: RegExp; evidence: RegExp }[] = [
  {
    file: 'gpu-errors/oom-single',
    code: 'CUDA_OOM',
    summary: /needed 8\.00 GiB more on GPU 0 \(139\.80 GiB in total\)/,
    evidence: /^torch\.OutOfMemoryError: CUDA out of memory\. Tried to allocate 8\.00 GiB/,
  },
  { file: 'gpu-errors/oom-torchrun', code: 'CUDA_OOM', summary: /\(rank 0\)/, evidence: /^torch\.OutOfMemoryError: CUDA out of memory/ },
  {
    file: 'gpu-errors/nccl-timeout',
    code: 'NCCL',
    summary: /\(rank 0\)/,
    evidence: /Watchdog caught collective operation timeout: WorkNCCL\(SeqNum=2, OpType=ALLREDUCE/,
  },
  {
    file: 'gpu-errors/sigkill-torchrun',
    code: 'HOST_OOM',
    summary: /^Worker rank 1 was killed with SIGKILL/,
    evidence: /^rank 1: exitcode -9, Signal 9 \(SIGKILL\) received by PID 960$/,
  },
  {
    file: 'errors/disk-full-adapter',
    code: 'DISK_FULL',
    evidence: /SafetensorError: Error while serializing: I\/O error: No space left on device \(os error 28\)/,
  },
  { file: 'errors/disk-full-tokenizer', code: 'DISK_FULL', evidence: /^Exception: No space left on device \(os error 28\)$/ },
  {
    file: 'errors/disk-full-optimizer',
    code: 'DISK_FULL',
    evidence: /^RuntimeError: \[enforce fail at inline_container\.cc:\d+\] \. unexpected pos \d+ vs \d+$/,
  },
  {
    file: 'errors/version-check',
    code: 'VERSION_CHECK',
    summary: /needs trl>=0\.18\.0,<=0\.24\.0, but trl==0\.25\.0 is installed/,
    evidence: /^ImportError: trl>=0\.18\.0,<=0\.24\.0 is required/,
  },
  {
    file: 'errors/module-missing',
    code: 'MODULE_MISSING',
    summary: /"torchaudio"/,
    evidence: /^ModuleNotFoundError: No module named 'torchaudio'$/,
  },
  { file: 'errors/processor-missing', code: 'PROCESSOR_MISSING', evidence: /^ValueError: Processor was not found/ },
  { file: 'errors/no-valid-samples', code: 'NO_VALID_SAMPLES', evidence: /^RuntimeError: Cannot find valid samples/ },
  {
    file: 'errors/dataset-info-missing',
    code: 'DATASET_INFO_MISSING',
    summary: /empty-data\/dataset_info\.json/,
    evidence: /^ValueError: Cannot open .*dataset_info\.json due to \[Errno 2\]/,
  },
  {
    file: 'errors/dataset-file-missing',
    code: 'DATASET_FILE_MISSING',
    summary: /nope\.json does not exist/,
    evidence: /^ValueError: File .*nope\.json not found\.$/,
  },
  {
    file: 'errors/output-dir-exists',
    code: 'OUTPUT_DIR_EXISTS',
    evidence: /^ValueError: Output directory already exists and is not empty/,
  },
  {
    file: 'errors/unknown-key',
    code: 'CONFIG_INVALID',
    summary: /\['not_a_real_key'\]/,
    evidence: /^ValueError: Some keys are not used by the HfArgumentParser/,
  },
  {
    file: 'undefined-dataset/',
    code: 'DATASET_UNDEFINED',
    summary: /^Dataset "nosuch" is not registered in dataset_info\.json\.$/,
    evidence: /^ValueError: Undefined dataset nosuch in dataset_info\.json\.$/,
  },
  {
    file: 'image-mismatch/',
    code: 'IMAGE_MISMATCH',
    summary: /number of images than <image> placeholders/,
    evidence:
      /^ValueError: The number of images does not match the number of <image> tokens in \[\{'role': 'user', 'content': '<image><image>Compare/,
  },
];

const logs = (file: string) =>
  file.endsWith('/')
    ? { stdoutTail: read(`${file}stdout.log`), stderrTail: read(`${file}stderr.log`) }
    : { stdoutTail: read(`${file}.stdout.log`), stderrTail: read(`${file}.stderr.log`) };

describe('diagnoseFailure on recorded failures', () => {
  it.each(RECORDED)('$file -> $code', ({ file, code, summary, evidence }) => {
    const l = logs(file);
    expect(l.stderrTail).not.toBe('');
    const cause = diagnoseFailure({ exitCode: 1, signal: null, ...l });
    expect(cause?.code).toBe(code);
    if (summary) expect(cause?.summary).toMatch(summary);
    expect(cause?.evidence).toMatch(evidence);
    expect(cause?.next.length).toBeGreaterThan(20);
  });

  it('resume attempt 1 (kill -9 after checkpoint-10, exit 137): host OOM kill', () => {
    const cause = diagnoseFailure({ exitCode: 137, signal: null, stderrTail: read('resume/stderr.log').slice(0, 30_000) });
    expect(cause?.code).toBe('HOST_OOM');
    expect(cause?.next).toMatch(/dmesg/);
  });
});

describe('diagnoseFailure on reference texts', () => {
  it.each([
    {
      name: 'newer torch: AcceleratorError (#9331), under torchrun',
      text: '[rank1]: torch.AcceleratorError: CUDA error: out of memory\n[rank1]: CUDA kernel errors might be asynchronously reported at some other API call',
      code: 'CUDA_OOM',
      summary: /\(rank 1\)/,
    },
    {
      name: 'transformers version pin',
      text: 'ImportError: transformers>=4.55.0,<=5.6.0 is required for a normal functioning of this module, but found transformers==5.7.0.\nTo fix: run `pip install transformers>=4.55.0,<=5.6.0` or set `DISABLE_VERSION_CHECK=1` to skip this check.',
      code: 'VERSION_CHECK',
      summary: /transformers==5\.7\.0/,
    },
    {
      name: 'errno 28 from Python',
      text: "OSError: [Errno 28] No space left on device: '/o/checkpoint-500/trainer_state.json'",
      code: 'DISK_FULL',
    },
    {
      name: 'torch.save on a full disk',
      text: 'RuntimeError: PytorchStreamWriter failed writing file data/12: file write failed',
      code: 'DISK_FULL',
    },
    {
      name: 'pt stage sample shortage',
      text: 'RuntimeError: Cannot find sufficient samples, consider increasing dataset size.',
      code: 'NO_VALID_SAMPLES',
    },
    {
      name: 'image processor',
      text: 'ValueError: Image processor was not found, please check and update your model file.',
      code: 'PROCESSOR_MISSING',
    },
    {
      name: 'unknown flags',
      text: "ValueError: Some specified arguments are not used by the HfArgumentParser: ['--foo', '1']",
      code: 'CONFIG_INVALID',
    },
    { name: 'file types', text: 'ValueError: File types should be identical.', code: 'DATASET_FORMAT' },
    {
      name: 'fp16 on CPU (#2329)',
      text: 'ValueError: FP16 Mixed precision training with AMP or APEX (`--fp16`) and FP16 half precision evaluation (`--fp16_full_eval`) can only be used on CUDA or NPU devices or certain XPU devices (with IPEX).',
      code: 'PRECISION_UNSUPPORTED',
    },
    {
      name: 'NCCL internal error',
      text: '[rank3]: torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:275, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5\n[rank3]: ncclSystemError: System call (e.g. socket, malloc) or external library call failed or device error.',
      code: 'NCCL',
      summary: /\(rank 3\)/,
    },
    {
      name: 'video placeholder mismatch',
      text: 'ValueError: The number of videos does not match the number of <video> tokens in [...]',
      code: 'IMAGE_MISMATCH',
      summary: /videos than <video>/,
    },
  ])('$name -> $code', ({ text, code, summary }) => {
    const cause = diagnoseFailure({
      exitCode: 1,
      signal: null,
      stderrTail: `Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n${text}\n`,
    });
    expect(cause?.code).toBe(code);
    if (summary) expect(cause?.summary).toMatch(summary);
  });

  it('an OOM on one rank outranks the NCCL errors it causes on the others', () => {
    const cause = diagnoseFailure({
      exitCode: 1,
      signal: null,
      stderrTail:
        '[rank1]:[E1127 ProcessGroupNCCL.cpp:689] [Rank 1] Watchdog caught collective operation timeout\n[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n',
    });
    expect(cause?.code).toBe('CUDA_OOM');
  });
});

describe('diagnoseFailure by exit status', () => {
  it.each([
    { end: { exitCode: null, signal: 'SIGKILL' }, code: 'HOST_OOM' },
    { end: { exitCode: 137, signal: null }, code: 'HOST_OOM' },
    { end: { exitCode: null, signal: 'SIGTERM' }, code: 'KILLED', summary: /SIGTERM from outside medtune/ },
    { end: { exitCode: 143, signal: null }, code: 'KILLED' },
    { end: { exitCode: 130, signal: null }, code: 'KILLED', summary: /SIGINT/ },
    { end: { exitCode: 134, signal: null }, code: 'ABORTED' },
    { end: { exitCode: null, signal: 'SIGSEGV' }, code: 'NATIVE_CRASH' },
    { end: { exitCode: 2, signal: null }, code: 'UNKNOWN', summary: /exited with code 2/ },
  ])('$end -> $code', ({ end, code, summary }) => {
    const cause = diagnoseFailure(end);
    expect(cause?.code).toBe(code);
    if (summary) expect(cause?.summary).toMatch(summary);
  });

  it.each([
    { name: 'success', end: { exitCode: 0, signal: null } },
    { name: 'a requested stop by SIGKILL', end: { exitCode: null, signal: 'SIGKILL', stopRequested: true } },
    {
      name: 'a requested stop with an error in the log',
      end: { exitCode: 1, signal: null, stopRequested: true, stderrTail: 'RuntimeError: boom\n' },
    },
  ])('no failure: $name', ({ end }) => {
    expect(diagnoseFailure(end)).toBeUndefined();
  });

  it('an unknown error names the last exception, not the trailing progress bar', () => {
    const cause = diagnoseFailure({
      exitCode: 1,
      signal: null,
      stderrTail:
        'Traceback (most recent call last):\n  File "a.py", line 3, in f\n    g()\nKeyError: \'pixel_values\'\n 50%|█████     | 5/10 [00:05<00:05,  1.02s/it]',
    });
    expect(cause).toMatchObject({ code: 'PYTHON_ERROR', evidence: "KeyError: 'pixel_values'" });
    expect(cause?.summary).toContain("KeyError: 'pixel_values'");
  });

  it('a Python exception is the cause, with advice to fix and start a new run, never to resume', () => {
    const cause = diagnoseFailure({
      exitCode: 1,
      signal: null,
      runId: 'r1',
      resumable: false,
      stderrTail:
        'Traceback (most recent call last):\n  File "peft/tuners/lora/layer.py", line 1, in update_layer\nValueError: `r` should be a positive integer value but the value passed is 0\n',
    })!;
    expect(cause.code).toBe('PYTHON_ERROR');
    expect(cause.summary).toContain('`r` should be a positive integer');
    expect(cause.next).toContain('`medtune train`');
    expect(cause.next).toContain('`medtune logs r1`');
    expect(cause.next).not.toContain('resume');
  });

  it.each([
    { end: { exitCode: null, signal: 'SIGKILL' } },
    { end: { exitCode: null, signal: 'SIGSEGV' } },
    { end: { exitCode: 2, signal: null, stderrTail: 'Segmentation fault' } },
    { end: { exitCode: 1, signal: null, stderrTail: 'torch.OutOfMemoryError: CUDA out of memory.' } },
  ])('advice names `medtune resume` only when a checkpoint can be resumed ($end.signal $end.exitCode)', ({ end }) => {
    const withCkpt = diagnoseFailure({ ...end, runId: 'r1', resumable: true })!;
    expect(withCkpt.next).toContain('`medtune resume r1`');
    const without = diagnoseFailure({ ...end, runId: 'r1', resumable: false })!;
    expect(without.next).not.toMatch(/medtune resume/);
    expect(without.next).toContain('start a new run with `medtune train`');
  });

  it("a torchrun worker's unrecognised error: WORKER_FAILED, with that rank's exception", () => {
    const stderrTail = read('gpu-errors/oom-torchrun.stderr.log').replace(
      /\[rank0\]: torch\.OutOfMemoryError: .*/,
      "[rank0]: KeyError: 'pixel_values'",
    );
    const cause = diagnoseFailure({ exitCode: 1, signal: null, stderrTail });
    expect(cause).toMatchObject({ code: 'WORKER_FAILED', evidence: "KeyError: 'pixel_values'" });
    expect(cause?.summary).toBe('Worker rank 0 exited with code 1 under torchrun.');
  });

  it('without any traceback, the last line is the evidence', () => {
    expect(diagnoseFailure({ exitCode: 1, signal: null, stderrTail: 'Segmentation fault in libfoo\n\n' })?.evidence).toBe(
      'Segmentation fault in libfoo',
    );
  });
});

describe('lastException and torchrunRootCause', () => {
  it('takes the final exception of chained tracebacks', () => {
    expect(lastException(read('errors/disk-full-optimizer.stderr.log'))).toMatch(
      /^RuntimeError: \[enforce fail at inline_container\.cc:672\] \. unexpected pos/,
    );
  });

  it("takes the launcher's CalledProcessError last under torchrun", () => {
    expect(lastException(read('gpu-errors/oom-torchrun.stderr.log'))).toMatch(
      /^subprocess\.CalledProcessError: Command .* returned non-zero exit status 1\.$/,
    );
  });

  it.each([
    [
      'gpu-errors/oom-torchrun.stderr.log',
      { rank: 0, exitCode: 1, traceback: 'To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html' },
    ],
    ['gpu-errors/nccl-timeout.stderr.log', { rank: 0, exitCode: -6, traceback: 'Signal 6 (SIGABRT) received by PID 820' }],
    ['gpu-errors/sigkill-torchrun.stderr.log', { rank: 1, exitCode: -9, traceback: 'Signal 9 (SIGKILL) received by PID 960' }],
  ])('root cause of %s', (file, want) => {
    expect(torchrunRootCause(read(file))).toEqual(want);
  });

  it('no torchrun summary, no root cause', () => {
    expect(torchrunRootCause(read('undefined-dataset/stderr.log'))).toBeUndefined();
  });
});
