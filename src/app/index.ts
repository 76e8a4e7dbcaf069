/**
 * The application layer: every use case once, called by both faces (src/cli parses argv and prints; src/ui maps
 * state to screens). Policy — defaults, which dataset is held out, what blocks a launch — lives here and below,
 * never in a face.
 */
export { appAt, createApp, openApp, type App } from './context.js';
export { doctor, setup, setupLlamaCpp, version } from './environment.js';
export { gpuMonitor, gpuSnapshot, gpuWatch, type GpuWatch, type GpuWatchRequest } from './gpu.js';
export { ignoreProgress, prefixed, type OnProgress, type ProgressEvent } from './events.js';
export {
  planError,
  planTrain,
  resolveTrainRequest,
  startTrain,
  trainDefaults,
  type TrainChoices,
  type TrainDefaults,
  type TrainPlanResult,
} from './train.js';
export {
  attachRun,
  createRunReader,
  latestRun,
  listRuns,
  resume,
  runDir,
  runLogTail,
  runOrOutputDir,
  runStatus,
  stop,
  streamRunStatus,
  type LogName,
  type RunReader,
} from './runs.js';
export {
  EXPORT_PHASES,
  exportAndVerify,
  listExports,
  planGguf,
  startExportJob,
  verifyFindings,
  type ExportJobRequest,
  type ExportJobResult,
  type ExportOutcome,
  type ExportRequest,
  type ExportSummary,
} from './exports.js';
export { checkLearning, compare, evaluateTarget, heldOutEntry } from './eval.js';
export {
  ASK_MAX_NEW_TOKENS,
  ask,
  askTargets,
  GREEDY,
  listImageDir,
  prepareImages,
  saveTranscript,
  serverApiKey,
  type AskRequest,
  type AskResult,
  type AskTarget,
  type DirListing,
  type FileKind,
  type PreparedImages,
  type Sampling,
} from './ask.js';
export { check, checkFindings, dataSources, datasets, prepareData, preview, type PrepareRequest } from './data.js';
export {
  DEMO_STEPS,
  DEMO_TRAIN,
  demoNextSteps,
  demoRun,
  jobError,
  readyVenv,
  startDemo,
  type DemoRequest,
  type DemoResult,
} from './demo.js';
export { findJobDir, listJobIds, listJobs, readJobView, stopJob, watchJob, JOB_TERMINAL, type JobState, type JobStep } from './jobs.js';
export { describeProcesses, killRunProcess, runProcessOwners, type KillSignal, type ProcessInfo } from './processes.js';
export { fetchBaseModel, models, profiles, thumbnails, tinyModel, type ProfileView, type Thumbnail } from './models.js';
export { BENCH_MAX_NEW_TOKENS, benchEval, type BenchEvalRequest, type BenchEvalResult } from './bench.js';
export { ASK_EXAMPLE, serve, servers, serverSteps, stopServing, type ListedServer, type ServeRequest, type StopWhich } from './serve.js';
export { queuePlaces, startQueued, type QueuePlace } from './queue.js';
export {
  benchSweep,
  closeBoard,
  compareRunRefs,
  openBoard,
  startSweep,
  sweepResult,
  waitSweep,
  type SweepBench,
  type SweepRequest,
  type SweepResult,
} from './experiments.js';
