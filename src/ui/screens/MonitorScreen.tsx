import { renderStep } from '../../core/nextstep.js';
import { useState } from 'react';
import { Box, Text } from 'ink';
import { sparkline } from '../../core/chart.js';
import type { RunView } from '../../core/run.js';
import { useAppState, useTheme, useUi } from '../context.js';
import { useKeys } from '../hooks/useKeys.js';
import { usePoll } from '../hooks/usePoll.js';
import { useTask } from '../hooks/useTask.js';
import { Section } from '../components/Section.js';
import { SelectList } from '../components/SelectList.js';
import { ErrorLines } from '../components/ErrorLines.js';
import { Meter } from '../components/Meter.js';
import { LossChart } from '../components/LossChart.js';
import { LogTail } from '../components/LogTail.js';
import { GpuStrip, gpuRows } from '../components/GpuStrip.js';
import { useGpuState } from '../gpu-context.js';
import { TaskView } from '../components/TaskView.js';
import { statusColor } from '../theme.js';
import { countText, etaText, isActive, lossText, lrText, percentOf, sortRuns, stepColumnWidth, stepText } from '../view.js';
import { RunRow } from './RunRow.js';
import type { ScreenProps } from './types.js';
import type { StopResult } from '../source.js';

/** The run monitor, or the list of runs to pick one from. */
export function MonitorScreen(props: ScreenProps) {
  const { state } = useAppState();
  return state.runId ? <RunMonitor {...props} runId={state.runId} /> : <RunList {...props} />;
}

function RunList({ width, height }: ScreenProps) {
  const { source } = useUi();
  const { dispatch } = useAppState();
  const runs = usePoll('listRuns', () => source.listRuns(), []);
  const [sel, setSel] = useState(0);
  const list = sortRuns(runs.data ?? []);
  const stepW = stepColumnWidth(list);
  const cur = Math.min(sel, Math.max(0, list.length - 1));
  useKeys('monitor', {
    up: list.length > 1 ? () => setSel(Math.max(0, cur - 1)) : null,
    down: list.length > 1 ? () => setSel(Math.min(list.length - 1, cur + 1)) : null,
    open: list[cur] ? () => dispatch({ type: 'openRun', id: list[cur]!.id }) : null,
  });
  return (
    <Section title="Runs" right={runs.data ? `${list.length} · enter watches one` : undefined} width={width} height={height}>
      {runs.error ? <ErrorLines error={runs.error} /> : null}
      {runs.loading ? <Text dimColor>reading runs…</Text> : list.length === 0
        ? <Text dimColor>No runs yet. Set one up on the Train screen (3), or run the demo from Home (d).</Text>
        : <SelectList items={list} selected={cur} height={height - 1} itemKey={(r) => r.id} renderItem={(r) => <RunRow run={r} width={width - 2} stepWidth={stepW} />} />}
    </Section>
  );
}

const STATS_W = 26;

function Stat({ label, value, extra }: { label: string; value: string; extra?: string }) {
  const theme = useTheme();
  return (
    <Box height={1} flexShrink={0}>
      <Box width={10} flexShrink={0}><Text dimColor>{label}</Text></Box>
      <Text wrap="truncate-end">{value}{extra ? <Text color={theme.accent}> {extra}</Text> : null}</Text>
    </Box>
  );
}

function Stats({ run }: { run: RunView }) {
  const throughput = run.records.map((r) => r.throughput).filter((v): v is number => v !== undefined);
  const tokens = run.totalTokens ?? undefined;
  const elapsed = run.elapsed ?? undefined;
  return (
    <Box flexDirection="column" width={STATS_W} flexShrink={0}>
      <Stat label="loss" value={lossText(run.loss)} />
      <Stat label="eval loss" value={lossText(run.evalLoss)} />
      <Stat label="lr" value={lrText(run.lr)} />
      <Stat label="tok/s" value={run.throughput === null ? '–' : countText(run.throughput)} extra={sparkline(throughput, 8)} />
      <Stat label="tokens" value={countText(tokens)} />
      <Stat label="peak VRAM" value={run.peakVramGiB === null ? '–' : `${run.peakVramGiB.toFixed(1)} GiB`} />
      <Stat label="elapsed" value={elapsed ?? '–'} />
      <Stat label="attempts" value={String(run.attempts)} />
      <Stat label="ckpts" value={run.checkpoints.length ? run.checkpoints.slice(-3).join(', ') : '–'} />
    </Box>
  );
}

/** " · 2 processes on GPU 0,1" for a run spread over more than one process or given chosen GPUs; "" otherwise. */
export function scaleText(v: RunView): string {
  const s = v.scale;
  if (!s || (s.processes <= 1 && !s.devices)) return '';
  const procs = s.processes > 1 ? ` · ${s.processes} processes${s.nodes > 1 ? ` on ${s.nodes} nodes` : ''}` : '';
  const gpus = s.devices ? `${procs ? ' on' : ' ·'} GPU ${s.devices.join(',')}` : '';
  return `${procs}${gpus}`;
}

function RunMonitor({ width, height, runId }: ScreenProps & { runId: string }) {
  const { source } = useUi();
  const theme = useTheme();
  const { dispatch } = useAppState();
  const run = usePoll('readRun', () => source.readRun(runId), [runId]);
  const log = usePoll('readLog', () => source.readLog(runId, 200), [runId]);
  const control = useTask('control');
  const gpu = useGpuState();
  const [confirmKill, setConfirmKill] = useState(false);
  const v = run.data;
  const active = !!v && isActive(v);
  const act = <T,>(label: string, work: () => Promise<T>, done: string | ((r: T) => string)) => {
    control.start(label, async () => {
      const r = await work();
      return typeof done === 'string' ? done : done(r);
    }, {
      onDone: (text) => {
        run.refresh();
        dispatch({ type: 'notice', notice: { level: 'info', text } });
      },
    });
  };
  // What a stop left, in one line: the command that continues the run (core/run.ts continueAdvice).
  const stopped = (r: StopResult) => `✓ ${runId} ${r.status}${r.advice?.next[0] ? ` · continue: ${renderStep(r.advice.next[0].step, null)}` : ''}`;

  useKeys(confirmKill ? 'confirm' : 'monitor', confirmKill ? {
    yes: () => {
      setConfirmKill(false);
      act(`killing ${runId}`, () => source.stopRun(runId, { now: true }), stopped);
    },
    no: () => setConfirmKill(false),
  } : {
    stop: active && v.status !== 'stopping' && !control.running
      ? () => act(`stopping ${runId}`, () => source.stopRun(runId, { now: false }), stopped)
      : null,
    kill: active && !control.running ? () => setConfirmKill(true) : null,
    resume: v && !active && v.status !== 'completed' && !control.running
      ? () => act(`resuming ${runId}`, () => source.resumeRun(runId), `✓ ${runId} resumed${v.checkpoints.length ? ` from checkpoint-${v.checkpoints[v.checkpoints.length - 1]}` : ''}`)
      : null,
    export: v && (v.status === 'completed' || v.checkpoints.length > 0) ? () => dispatch({ type: 'exportRun', id: runId }) : null,
    list: () => dispatch({ type: 'openRun', id: null }),
  });

  if (!v) {
    return (
      <Box flexDirection="column" width={width} height={height}>
        <Text bold>{runId}</Text>
        {run.error ? <ErrorLines error={run.error} /> : <Text dimColor>reading the run…</Text>}
      </Box>
    );
  }
  const pct = percentOf(v);
  const chartW = Math.max(30, width - STATS_W - 2);
  const controlRows = control.state?.status === 'running' ? 1 : control.state?.status === 'failed' ? 2 : 0;
  const causeRows = v.cause ? (v.cause.evidence ? 3 : 2) : 0;
  const extra = (confirmKill ? 1 : 0) + controlRows + causeRows;
  const logLines = Math.max(3, Math.floor(height / 5));
  // Full GPU cards only where they leave the chart and the log their room.
  const gpuCompact = height < 40;
  const gpuH = gpuRows(gpu, gpuCompact, 4) + 1;
  // header + progress + GPU + log title + chart title
  const chartH = Math.max(5, Math.min(24, height - 2 - gpuH - extra - (logLines + 1) - 1));
  const epoch = v.epoch === null ? '' : `epoch ${v.epoch.toFixed(2)}`;
  // The phase says more than the status only before training (loading, tokenizing) or while saving.
  const phase = v.phase && v.phase.name !== v.status ? `${v.phase.name}${v.phase.total ? ` ${v.phase.done}/${v.phase.total}` : ''}` : null;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={1} flexShrink={0}>
        <Box flexShrink={1}><Text bold wrap="truncate-middle">{v.id}</Text></Box>
        <Box flexShrink={0} marginLeft={1}>
          <Text color={statusColor(theme, v.status)} bold inverse={theme.noColor && v.status === 'failed'}>{v.status}</Text>
          {phase ? <Text> · {phase}</Text> : null}
        </Box>
        <Box flexShrink={1} marginLeft={2}><Text dimColor wrap="truncate-end">attempt {v.attempts}{scaleText(v)}{v.updatedAt ? ` · updated ${v.updatedAt.slice(11, 19)}` : ''}</Text></Box>
      </Box>
      <Box height={1} flexShrink={0}>
        <Meter done={pct ?? 0} total={pct === null ? null : 100} width={Math.max(10, width - 52)} color={statusColor(theme, v.status)} />
        <Text wrap="truncate-end">  step {stepText(v)}  {epoch}  ETA {etaText(v)}</Text>
      </Box>
      {confirmKill ? <Text color={theme.error} bold>Kill {runId} now? Unsaved steps since the last checkpoint are lost. y / n</Text> : null}
      {controlRows > 0 ? <TaskView task={control.state} width={width} maxErrorLines={2} /> : null}
      <Box height={chartH + 1}>
        <Section title="Loss" width={chartW}>
          <LossChart curve={v.curve} totalSteps={v.totalSteps} width={chartW} height={chartH} />
        </Section>
        <Text> </Text>
        <Section title="Stats" width={STATS_W}>
          <Stats run={v} />
        </Section>
      </Box>
      <GpuStrip width={width} compact={gpuCompact} peakReservedGiB={v.peakVramGiB} runDevices={v.scale?.devices ?? null} />
      {v.cause ? (
        <Box flexDirection="column" flexShrink={0}>
          <Text color={theme.error} bold wrap="truncate-end">✗ {v.cause.code}: {v.cause.summary}</Text>
          {v.cause.evidence ? <Text dimColor wrap="truncate-end">  {v.cause.evidence}</Text> : null}
          <Text color={theme.warn} wrap="truncate-end">→ {v.cause.next}</Text>
        </Box>
      ) : null}
      <Section title="Log" right="stdout + stderr" flexGrow={1}>
        {log.error ? <ErrorLines error={log.error} maxLines={2} /> : <LogTail lines={log.data?.lines ?? []} compact={width < 120} height={Math.max(1, height - 2 - gpuH - extra - (chartH + 1) - 1)} />}
      </Section>
    </Box>
  );
}
