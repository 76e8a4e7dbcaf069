import { describe, expect, it } from 'vitest';
import { shouldRetryLaunch, type EarlyFailureFacts } from '../../src/core/run.js';

const early: EarlyFailureFacts = {
  status: 'failed',
  seconds: 0.6,
  logged: false,
  newCheckpoint: false,
  causeCode: 'NATIVE_CRASH',
  wasRetry: false,
};

describe('shouldRetryLaunch: a failure before the first step that left nothing behind is retried once', () => {
  it.each<[string, Partial<EarlyFailureFacts>, boolean]>([
    ['died at import (oneMKL) in 0.6 s', {}, true],
    ['no diagnosed cause', { causeCode: undefined }, true],
    ['already a retry', { wasRetry: true }, false],
    ['ran for minutes', { seconds: 600 }, false],
    ['wrote trainer_log records', { logged: true }, false],
    ['saved a checkpoint', { newCheckpoint: true }, false],
    ['a dataset error fails the same way every time', { causeCode: 'DATASET_UNDEFINED' }, false],
    ['a CUDA OOM is no launch accident', { causeCode: 'CUDA_OOM' }, false],
    ['a Python exception (lora_rank=0 in model construction) fails the same way every time', { causeCode: 'PYTHON_ERROR' }, false],
    ['stopped by the user', { status: 'stopped' }, false],
    ['completed', { status: 'completed' }, false],
    ["a job (the demo's steps) that failed because its run was stopped", { kind: 'job', causeCode: 'UNKNOWN' }, false],
  ])('%s → %s', (_what, facts, want) => {
    expect(shouldRetryLaunch({ ...early, ...facts })).toBe(want);
  });
});
