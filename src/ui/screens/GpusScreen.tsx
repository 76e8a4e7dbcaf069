/**
 * The GPU screen of the TUI (`medtune gpu` shows the same cards full-screen on their own): every GPU with its
 * history, then the processes on the GPUs with their user, command and medtune run. A process of a going run can
 * be sent SIGTERM or SIGKILL after a y/n question; any other process shows the reason it cannot.
 */
import { useState } from 'react';
import { Box, Text } from 'ink';
import { formatError } from '../../core/errors.js';
import { gib, type GpuProcessView, type GpuReading } from '../../core/gpu.js';
import type { GpuMonitorState } from '../../runtime/gpu-monitor.js';
import { useAppState, useTheme, useUi } from '../context.js';
import { useGpuState } from '../gpu-context.js';
import { useKeys } from '../hooks/useKeys.js';
import { usePoll } from '../hooks/usePoll.js';
import { Section } from '../components/Section.js';
import { SelectList } from '../components/SelectList.js';
import { CompactLine, GpuCard } from '../gpu/GpuPanel.js';
import { GpuMonitorPanel, monitorNotes } from '../gpu/GpuMonitorPanel.js';
import type { GpuProcessInfo, ProcessSignal } from '../source.js';
import type { Theme } from '../theme.js';
import type { ScreenProps } from './types.js';

/** One row of the process table: what nvidia-smi says, and what the source read about the pid. */
export interface ProcessRow {
  key: string;
  proc: GpuProcessView;
  gpu: number | null;
  info: GpuProcessInfo | null;
}

/** Why a row cannot be signalled from here; null when it can (a process of a going run of this workspace). */
export function whyNotKillable(row: ProcessRow): string | null {
  if (row.info?.runId) return null;
  if (row.proc.owner === 'unknown' || (row.info && row.info.user === null)) {
    return 'owner unknown: pid not visible here (a container?), so medtune leaves it alone';
  }
  if (!row.info) return 'reading who owns it…';
  return "not of a run in this workspace: medtune kills only its runs' processes";
}

/** Rows sorted as nvidia-smi users read them: by GPU, then the most memory first. */
export function processRows(state: GpuMonitorState, infos: readonly GpuProcessInfo[] | undefined): ProcessRow[] {
  if (state.mode !== 'gpu') return [];
  const gpus = state.samples[state.samples.length - 1]?.gpus ?? [];
  const byPid = new Map((infos ?? []).map((i) => [i.pid, i]));
  return state.processes
    .map((proc) => ({
      key: `${proc.pid}:${proc.gpuUuid ?? ''}`,
      proc,
      gpu: gpus.find((g) => g.uuid === proc.gpuUuid)?.index ?? null,
      info: byPid.get(proc.pid) ?? null,
    }))
    .sort((a, b) => (a.gpu ?? 1e9) - (b.gpu ?? 1e9) || (b.proc.usedMemoryMiB ?? 0) - (a.proc.usedMemoryMiB ?? 0) || a.proc.pid - b.proc.pid);
}

const FIXED_W = 8 + 9 + 4 + 10 + 1;

/**
 * Column widths for a width: the run column as wide as the longest id, up to half of what the fixed columns leave
 * (an id cut at its end keeps its timestamp, which tells runs apart); the command gets the rest.
 */
function columns(width: number, rows: readonly ProcessRow[]) {
  const room = width - 2 - FIXED_W - 1;
  const run = Math.min(Math.max(4, ...rows.map((r) => r.info?.runId?.length ?? 0)), Math.max(12, Math.floor(room / 2)));
  return { run, command: Math.max(8, room - run) };
}

function cell(text: string, w: number): string {
  return text.length > w ? `${text.slice(0, Math.max(0, w - 1))}…` : text.padEnd(w);
}

function Header({ width, rows }: { width: number; rows: readonly ProcessRow[] }) {
  const c = columns(width, rows);
  return (
    <Box height={1} flexShrink={0}>
      <Text dimColor wrap="truncate-end">
        {'  '}
        {'PID'.padEnd(8)}
        {'USER'.padEnd(9)}
        {'GPU'.padEnd(4)}
        {'GPU MEM'.padStart(10)} {'RUN'.padEnd(c.run)} COMMAND
      </Text>
    </Box>
  );
}

function Row({ row, width, rows, theme }: { row: ProcessRow; width: number; rows: readonly ProcessRow[]; theme: Theme }) {
  const c = columns(width, rows);
  const ours = !!row.info?.runId;
  const user = row.info?.user ?? (row.proc.owner === 'unknown' ? '?' : '…');
  const command = row.info?.command ?? row.proc.name ?? '?';
  return (
    <Text wrap="truncate-end" bold={ours} color={ours ? theme.accent : undefined}>
      {cell(String(row.proc.pid), 8)}
      {cell(user, 9)}
      {cell(row.gpu === null ? '?' : String(row.gpu), 4)}
      {(row.proc.usedMemoryMiB === null ? '?' : `${gib(row.proc.usedMemoryMiB)} GiB`).padStart(10)}{' '}
      {cell(row.info?.runId ?? '–', c.run)} {cell(command, c.command)}
    </Text>
  );
}

/** Lines under the table: the selected process's whole command line, and what can be done with it. */
const FOOTER_H = 2;

/** Rows the GPUs take: cards (five lines and a gap each) where they leave room for processes, else a line each. */
export function gpuBlockRows(gpus: number, notes: number, height: number, minProcessRows: number): { compact: boolean; rows: number } {
  const cards = gpus * 6 + notes;
  // The processes heading and column header, the rows, the footer.
  if (cards + 2 + minProcessRows + FOOTER_H <= height) return { compact: false, rows: cards };
  return { compact: true, rows: gpus + notes + 1 };
}

interface Pending {
  pid: number;
  signal: ProcessSignal;
  runId: string;
}

export function GpusScreen({ width, height }: ScreenProps) {
  const { source } = useUi();
  const theme = useTheme();
  const { dispatch } = useAppState();
  const state = useGpuState();
  // The selected row by key, so it stays on its process as rows come and go; by index when that process has gone.
  const [sel, setSel] = useState<{ key: string | null; index: number }>({ key: null, index: 0 });
  const [confirm, setConfirm] = useState<Pending | null>(null);
  const [sending, setSending] = useState(false);
  const pids = state.mode === 'gpu' ? [...new Set(state.processes.map((p) => p.pid))].sort((a, b) => a - b) : [];
  // Read again when the pids change, else at the slow rate: nvidia-smi's process list itself refreshes every 5 s.
  const infos = usePoll('describeProcesses', () => source.describeProcesses(pids), [pids.join(',')], 'slow');
  const rows = processRows(state, infos.data);
  const found = rows.findIndex((r) => r.key === sel.key);
  const cur = found >= 0 ? found : Math.max(0, Math.min(sel.index, rows.length - 1));
  const row = rows[cur];
  const why = row ? whyNotKillable(row) : null;
  const runId = row?.info?.runId ?? null;

  const ask = (signal: ProcessSignal) => (row && runId && !sending ? () => setConfirm({ pid: row.proc.pid, signal, runId }) : null);
  const send = (p: Pending) => {
    setConfirm(null);
    setSending(true);
    source
      .killProcess(p.pid, p.signal)
      .then(
        (r) => dispatch({ type: 'notice', notice: { level: 'info', text: `✓ ${p.signal} sent to pid ${p.pid} of run ${r.runId}` } }),
        (err: unknown) => dispatch({ type: 'notice', notice: { level: 'error', text: formatError(err).split('\n').join(' — ') } }),
      )
      .finally(() => {
        setSending(false);
        infos.refresh();
      });
  };
  const select = (i: number) => setSel({ key: rows[i]?.key ?? null, index: i });
  useKeys(
    confirm ? 'confirm' : 'gpu',
    confirm
      ? { yes: () => send(confirm), no: () => setConfirm(null) }
      : {
          up: rows.length > 1 ? () => select(Math.max(0, cur - 1)) : null,
          down: rows.length > 1 ? () => select(Math.min(rows.length - 1, cur + 1)) : null,
          terminate: ask('SIGTERM'),
          kill: ask('SIGKILL'),
          open: runId ? () => dispatch({ type: 'openRun', id: runId }) : null,
        },
  );

  if (state.mode !== 'gpu') {
    return (
      <Section title={state.mode === 'host' ? 'Host' : 'GPU'} width={width} height={height}>
        <GpuMonitorPanel state={state} width={width} />
        {state.mode === 'host' ? <Text dimColor wrap="truncate-end">No GPU processes to list: the table needs nvidia-smi and an NVIDIA driver.</Text> : null}
      </Section>
    );
  }
  const gpus: readonly GpuReading[] = state.samples[state.samples.length - 1]?.gpus ?? [];
  const notes = monitorNotes(state);
  const block = gpuBlockRows(gpus.length, notes.length, height, 2);
  const listH = Math.max(1, height - block.rows - 2 - FOOTER_H);
  const ours = rows.filter((r) => r.info?.runId).length;
  const busy = gpus.filter((g) => (g.utilizationPct ?? 0) >= 10).length;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box flexDirection="column" flexShrink={0}>
        {gpus.length === 0 ? <Text dimColor>none of the GPUs is visible to nvidia-smi</Text> : null}
        {gpus.map((g) =>
          block.compact ? (
            <CompactLine key={g.index} samples={state.samples} gpu={g} peak={null} width={width} theme={theme} ofRun={false} />
          ) : (
            <Box key={g.index} flexDirection="column" marginBottom={1} flexShrink={0}>
              <GpuCard samples={state.samples} gpu={g} peak={null} width={width} theme={theme} ofRun={false} />
            </Box>
          ),
        )}
        {notes.map((n) => (
          <Text key={n} color={theme.warn} wrap="truncate-end">{n}</Text>
        ))}
        {block.compact ? <Text dimColor wrap="truncate-end">{gpus.length} GPUs, {busy} busy · a taller terminal shows each as a card</Text> : null}
      </Box>
      <Section title="Processes" right={`${rows.length} on the GPUs${ours ? `, ${ours} of medtune runs` : ''}`} width={width} flexShrink={0}>
        <Header width={width} rows={rows} />
        {rows.length === 0 ? (
          <Text dimColor>  no compute processes</Text>
        ) : (
          <SelectList
            items={rows}
            selected={cur}
            height={rows.length > listH ? Math.max(1, listH - 1) : listH}
            itemKey={(r) => r.key}
            renderItem={(r) => <Row row={r} width={width} rows={rows} theme={theme} />}
          />
        )}
      </Section>
      {row ? (
        <Box height={1} flexShrink={0}>
          <Text dimColor wrap="truncate-end">
            pid {row.proc.pid}
            {row.info?.user ? ` · ${row.info.user}` : ''} · {row.info?.command ?? row.proc.name ?? '?'}
          </Text>
        </Box>
      ) : null}
      <Box height={1} flexShrink={0}>
        {confirm ? (
          <Text color={theme.error} bold inverse={theme.noColor} wrap="truncate-end">
            Send {confirm.signal} to pid {confirm.pid} of run {confirm.runId}? y / n
          </Text>
        ) : sending ? (
          <Text dimColor>sending…</Text>
        ) : why ? (
          <Text dimColor wrap="truncate-end">{why}</Text>
        ) : runId ? (
          <Text wrap="truncate-end">run {runId} · t SIGTERM, k SIGKILL (asks first)</Text>
        ) : null}
      </Box>
    </Box>
  );
}
