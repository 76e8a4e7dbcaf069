import type { ReactNode } from 'react';
import { Box, Text } from 'ink';
import type { TaskState } from '../tasks.js';
import { ErrorLines } from './ErrorLines.js';
import { TaskLine } from './FormRow.js';

/** A task's live progress while it runs, its error if it failed, else what `done` renders for the result. */
export function TaskView<R>({ task, width, done, maxErrorLines }: { task: TaskState<R> | undefined; width: number; done?: (result: R) => ReactNode; maxErrorLines?: number }) {
  if (!task) return null;
  if (task.status === 'running') {
    const p = task.progress;
    return <TaskLine label={task.label} phase={p?.phase} done={p?.done ?? 0} total={p?.total ?? null} message={p?.message} width={width} />;
  }
  if (task.status === 'failed') return <ErrorLines error={task.error} maxLines={maxErrorLines} />;
  if (task.status === 'cancelled') return <Box><Text dimColor>{task.label}: cancelled</Text></Box>;
  return done && task.result !== undefined ? done(task.result) : null;
}
