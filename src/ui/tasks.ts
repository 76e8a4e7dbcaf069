/**
 * Long actions the TUI waits for (prepare, check, pre-flight, export, compare, demo, launch) live here,
 * outside any screen, so leaving a screen neither cancels a task nor loses its progress. Progress events
 * can arrive hundreds of times a second; listeners hear about them at most every `flushMs`.
 */
import type { CompareResult, DatasetCheck, DatasetSummary, ExportResult, LaunchResult, OnProgress, Progress, TrainPlan } from './source.js';

export interface TaskResults {
  prepare: DatasetSummary;
  check: DatasetCheck;
  plan: TrainPlan;
  launch: LaunchResult;
  export: ExportResult;
  compare: CompareResult;
  demo: LaunchResult;
  /** A run control action (stop, kill, resume): the notice it ends with. */
  control: string;
}
export type TaskKind = keyof TaskResults;

export type TaskStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface TaskState<R> {
  label: string;
  status: TaskStatus;
  progress: Progress | null;
  result?: R;
  error?: unknown;
  startedAt: number;
  endedAt?: number;
  /** What the task was started for (e.g. the parameters a pre-flight checked), so a screen can tell if it is stale. */
  tag?: string;
}

export interface StartOptions<R> {
  onDone?: (result: R) => void;
  tag?: string;
}

type Tasks = { [K in TaskKind]?: TaskState<TaskResults[K]> };

export class TaskStore {
  /** What the work has reported so far. */
  private live: Tasks = {};
  /** What listeners were last told; replaced (never mutated) on each flush. */
  private shown: Tasks = {};
  private controllers = new Map<TaskKind, AbortController>();
  private listeners = new Set<() => void>();
  private pending: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly flushMs = 100,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Starts `work` unless a task of that kind is already running (then returns false).
   * Calls `onDone` with the result when it succeeds.
   */
  start<K extends TaskKind>(
    kind: K,
    label: string,
    work: (onProgress: OnProgress, signal: AbortSignal) => Promise<TaskResults[K]>,
    opts: StartOptions<TaskResults[K]> = {},
  ): boolean {
    if (this.live[kind]?.status === 'running') return false;
    const ctl = new AbortController();
    this.controllers.set(kind, ctl);
    const put = (s: TaskState<TaskResults[K]>) => {
      (this.live as Record<K, TaskState<TaskResults[K]>>)[kind] = s;
    };
    put({ label, status: 'running', progress: null, startedAt: this.now(), tag: opts.tag });
    this.flush();
    const onProgress: OnProgress = (p) => {
      const cur = this.live[kind];
      if (cur?.status !== 'running' || ctl.signal.aborted) return;
      put({ ...(cur as TaskState<TaskResults[K]>), progress: p });
      this.schedule();
    };
    work(onProgress, ctl.signal).then(
      (result) => {
        const cur = this.live[kind] as TaskState<TaskResults[K]>;
        put({ ...cur, status: ctl.signal.aborted ? 'cancelled' : 'done', result, endedAt: this.now() });
        this.flush();
        if (!ctl.signal.aborted) opts.onDone?.(result);
      },
      (error: unknown) => {
        const cur = this.live[kind] as TaskState<TaskResults[K]>;
        put({ ...cur, status: ctl.signal.aborted ? 'cancelled' : 'failed', error, endedAt: this.now() });
        this.flush();
      },
    );
    return true;
  }

  cancel(kind: TaskKind): void {
    this.controllers.get(kind)?.abort();
  }

  clear(kind: TaskKind): void {
    if (this.live[kind]?.status === 'running') return;
    delete this.live[kind];
    this.flush();
  }

  get<K extends TaskKind>(kind: K): TaskState<TaskResults[K]> | undefined {
    return this.shown[kind] as TaskState<TaskResults[K]> | undefined;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Stops pending notifications (on exit). */
  dispose(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
    for (const c of this.controllers.values()) c.abort();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => this.flush(), this.flushMs);
  }

  private flush(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
    this.shown = { ...this.live };
    for (const l of this.listeners) l();
  }
}
