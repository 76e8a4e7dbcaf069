/**
 * nvidia-smi-style panels: one card per GPU (numbers plus sparklines of the history) and the processes on
 * the GPUs, with the run's own marked. `compact` gives one line per GPU for embedding in other screens.
 */
import { useContext } from 'react';
import { Box, Text } from 'ink';
import { meter } from '../../core/chart.js';
import {
  decodeClockEventReasons,
  fixedSparkline,
  gib,
  isThrottled,
  type GpuProcessView,
  type GpuReading,
  type GpuSample,
} from '../../core/gpu.js';
import { UiContext } from '../context.js';
import { themeFromEnv, type Theme } from '../theme.js';

export interface GpuPanelProps {
  /** History, oldest first; the last sample is shown as live numbers. */
  samples: readonly GpuSample[];
  processes: readonly GpuProcessView[];
  /** The run's peak reserved memory (trainer_log.jsonl vram_reserved), shown beside the live value. */
  peakReservedGiB?: number | null;
  compact?: boolean;
  /** Columns available (default 80). */
  width?: number;
  /** Lines under the panel: dropped fields, a restarting child, unmatched devices. */
  notes?: readonly string[];
  /** At most this many process rows (default 8). */
  maxProcesses?: number;
  /** Defaults to the app's theme, or NO_COLOR-aware colours outside the app. */
  theme?: Theme;
  /** The GPUs a run was given (CUDA_VISIBLE_DEVICES: indices or UUIDs): marked "run"; null/absent: none marked. */
  runDevices?: readonly string[] | null;
}

/** Whether a GPU is one of the run's (named by its index or its UUID). */
export function isRunGpu(gpu: GpuReading, devices: readonly string[] | null | undefined): boolean {
  return !!devices && devices.some((d) => d === String(gpu.index) || (gpu.uuid !== null && d === gpu.uuid));
}

/** The app's theme when inside it, else one read from the environment (so the panel embeds anywhere). */
export function usePanelTheme(theme?: Theme): Theme {
  const ui = useContext(UiContext);
  return theme ?? ui?.theme ?? themeFromEnv();
}

const num = (v: number | null, digits = 0) => (v === null ? '?' : v.toFixed(digits));

function utilColor(theme: Theme, pct: number | null): string | undefined {
  return pct === null || pct < 10 ? theme.muted : theme.accent;
}

/** Memory: the thresholds that matter for an out-of-memory crash. */
export function memoryColor(theme: Theme, used: number | null, reserved: number | null, total: number | null): string | undefined {
  if (used === null || total === null || total <= 0) return theme.muted;
  const f = (used + (reserved ?? 0)) / total;
  return f >= 0.95 ? theme.error : f >= 0.8 ? theme.warn : theme.ok;
}

function tempColor(theme: Theme, c: number | null): string | undefined {
  return c !== null && c >= 85 ? theme.warn : undefined;
}

function shortName(name: string | null): string {
  return (name ?? 'GPU').replace(/^NVIDIA\s+/, '');
}

/** The words for the clock line: why clocks are held back, or that they are not. */
export function clockReasonText(mask: number | null): string {
  if (mask === null) return 'clock reasons unknown';
  const reasons = decodeClockEventReasons(mask);
  if (reasons.length === 0) return 'full clocks';
  return isThrottled(mask) ? `held back: ${reasons.join(', ')}` : reasons.join(', ');
}

function history(samples: readonly GpuSample[], index: number, pick: (g: GpuReading) => number | null): (number | null)[] {
  return samples.map((s) => {
    const g = s.gpus.find((x) => x.index === index);
    return g ? pick(g) : null;
  });
}

interface RowProps {
  label: string;
  text: string;
  color?: string;
  spark?: string;
  textWidth: number;
  theme: Theme;
}

function Row({ label, text, color, spark, textWidth, theme }: RowProps) {
  return (
    <Box height={1}>
      <Text dimColor>{label.padEnd(8)}</Text>
      <Box width={textWidth} flexShrink={0}>
        <Text color={color} wrap="truncate-end">{text}</Text>
      </Box>
      {spark ? <Text color={theme.noColor ? undefined : color}>{spark}</Text> : null}
    </Box>
  );
}

export function GpuCard({ samples, gpu, peak, width, theme, ofRun }: { samples: readonly GpuSample[]; gpu: GpuReading; peak: number | null; width: number; theme: Theme; ofRun: boolean }) {
  const textWidth = Math.min(56, Math.max(20, width - 8 - 24));
  const sparkWidth = Math.max(0, width - 8 - textWidth - 1);
  const spark = (pick: (g: GpuReading) => number | null, max: number | null) =>
    sparkWidth >= 8 && max !== null && max > 0 ? ` ${fixedSparkline(history(samples, gpu.index, pick), sparkWidth, max)}` : undefined;
  const memText = [
    `${gib(gpu.memoryUsedMiB)} / ${gib(gpu.memoryTotalMiB)} GiB used`,
    gpu.memoryReservedMiB !== null ? `${gib(gpu.memoryReservedMiB)} reserved` : null,
    peak !== null ? `run peak ${peak.toFixed(1)}` : null,
  ].filter(Boolean).join(' · ');
  const powerFrac = gpu.powerW !== null && gpu.powerLimitW ? gpu.powerW / gpu.powerLimitW : 0;
  const powerText = `${num(gpu.powerW)} / ${num(gpu.powerLimitW)} W ${meter(powerFrac, 10)}`;
  const temps = [`${num(gpu.temperatureC)}°C`, gpu.memoryTemperatureC !== null ? `mem ${gpu.memoryTemperatureC}°C` : null, gpu.fanPct !== null ? `fan ${gpu.fanPct}%` : null]
    .filter(Boolean)
    .join('  ');
  const throttled = isThrottled(gpu.clockEventReasons);
  return (
    <Box flexDirection="column" flexShrink={0}>
      <Box height={1}>
        <Text bold color={theme.accent} wrap="truncate-end">GPU {gpu.index}  {gpu.name ?? '?'}{ofRun ? '  ◆ this run' : ''}</Text>
        <Box flexGrow={1} />
        <Text color={tempColor(theme, gpu.temperatureC)}>{gpu.pstate ? `${gpu.pstate}  ` : ''}{temps}</Text>
      </Box>
      <Row
        label="util"
        text={`${num(gpu.utilizationPct).padStart(3)}%${gpu.memoryUtilizationPct !== null ? `  memory bus ${gpu.memoryUtilizationPct}%` : ''}`}
        color={utilColor(theme, gpu.utilizationPct)}
        spark={spark((g) => g.utilizationPct, 100)}
        textWidth={textWidth}
        theme={theme}
      />
      <Row
        label="memory"
        text={memText}
        color={memoryColor(theme, gpu.memoryUsedMiB, gpu.memoryReservedMiB, gpu.memoryTotalMiB)}
        spark={spark((g) => g.memoryUsedMiB, gpu.memoryTotalMiB)}
        textWidth={textWidth}
        theme={theme}
      />
      <Row label="power" text={powerText} spark={spark((g) => g.powerW, gpu.powerLimitW)} textWidth={textWidth} theme={theme} />
      <Row
        label="clocks"
        text={`SM ${num(gpu.smClockMHz)} MHz${gpu.memoryClockMHz !== null ? ` · mem ${gpu.memoryClockMHz} MHz` : ''} · ${clockReasonText(gpu.clockEventReasons)}`}
        color={throttled ? theme.warn : undefined}
        textWidth={width - 8}
        theme={theme}
      />
    </Box>
  );
}

export function CompactLine({ samples, gpu, peak, width, theme, ofRun }: { samples: readonly GpuSample[]; gpu: GpuReading; peak: number | null; width: number; theme: Theme; ofRun: boolean }) {
  const sparkWidth = width >= 100 ? 12 : width >= 80 ? 6 : 0;
  const throttled = isThrottled(gpu.clockEventReasons);
  const reasons = throttled ? decodeClockEventReasons(gpu.clockEventReasons).filter((r) => r !== 'idle').join(', ') : '';
  const util = utilColor(theme, gpu.utilizationPct);
  // One Text with inline parts: flex boxes would shrink and clip the parts unevenly on a narrow terminal.
  return (
    <Box height={1} width={width}>
      <Text wrap="truncate-end">
        <Text bold color={theme.accent}>{ofRun ? '◆' : ''}GPU{gpu.index} </Text>
        {shortName(gpu.name).slice(0, 12).padEnd(12)}
        <Text color={util}> {num(gpu.utilizationPct).padStart(3)}%</Text>
        {sparkWidth ? <Text color={theme.noColor ? undefined : util}> {fixedSparkline(history(samples, gpu.index, (g) => g.utilizationPct), sparkWidth, 100)}</Text> : null}
        <Text color={memoryColor(theme, gpu.memoryUsedMiB, gpu.memoryReservedMiB, gpu.memoryTotalMiB)}>
          {'  '}
          {gib(gpu.memoryUsedMiB)}/{gib(gpu.memoryTotalMiB)} GiB{peak !== null ? ` (peak ${peak.toFixed(1)})` : ''}
        </Text>
        {'  '}
        {num(gpu.powerW)}/{num(gpu.powerLimitW)} W
        <Text color={tempColor(theme, gpu.temperatureC)}>  {num(gpu.temperatureC)}°C</Text>
        {'  '}
        {num(gpu.smClockMHz)} MHz
        {reasons ? <Text color={theme.warn}> {reasons}</Text> : null}
      </Text>
    </Box>
  );
}

const OWNER_TEXT: Record<GpuProcessView['owner'], string> = { run: '● this run', other: '', unknown: 'owner unknown' };

function ProcessTable({ processes, gpus, width, max, theme }: { processes: readonly GpuProcessView[]; gpus: readonly GpuReading[]; width: number; max: number; theme: Theme }) {
  const indexOf = (uuid: string | null) => gpus.find((g) => g.uuid === uuid)?.index;
  const shown = [...processes].sort((a, b) => (b.usedMemoryMiB ?? 0) - (a.usedMemoryMiB ?? 0)).slice(0, max);
  const unknown = processes.some((p) => p.owner === 'unknown');
  return (
    <Box flexDirection="column" flexShrink={0}>
      <Text dimColor>{'PID'.padEnd(9)}{'GPU'.padEnd(5)}{'MEMORY'.padStart(10)}  {'OWNER'.padEnd(15)}NAME</Text>
      {processes.length === 0 ? <Text dimColor>no compute processes</Text> : null}
      {shown.map((p) => (
        <Box key={`${p.pid}:${p.gpuUuid ?? ''}`} height={1} width={width}>
          <Text wrap="truncate-end" bold={p.owner === 'run'} color={p.owner === 'run' ? theme.accent : undefined}>
            {String(p.pid).padEnd(9)}
            {String(indexOf(p.gpuUuid) ?? '?').padEnd(5)}
            {(p.usedMemoryMiB === null ? '?' : `${gib(p.usedMemoryMiB)} GiB`).padStart(10)}
            {'  '}
            {OWNER_TEXT[p.owner].padEnd(15)}
            {p.name ?? '?'}
          </Text>
        </Box>
      ))}
      {processes.length > shown.length ? <Text dimColor>+{processes.length - shown.length} more</Text> : null}
      {unknown ? (
        <Text dimColor wrap="truncate-end">owner unknown: a pid this process cannot see (a container?); the GPU totals above include it</Text>
      ) : null}
    </Box>
  );
}

/** Every GPU of the latest sample, with history, and the processes on them. */
export function GpuPanel({ samples, processes, peakReservedGiB = null, compact = false, width = 80, notes = [], maxProcesses = 8, theme: given, runDevices = null }: GpuPanelProps) {
  const theme = usePanelTheme(given);
  const latest = samples[samples.length - 1];
  if (!latest || latest.gpus.length === 0) {
    return <Text dimColor>{latest ? 'none of the run\'s GPUs is visible to nvidia-smi' : 'waiting for nvidia-smi…'}</Text>;
  }
  const ours = processes.filter((p) => p.owner === 'run').length;
  if (compact) {
    return (
      <Box flexDirection="column" flexShrink={0}>
        {latest.gpus.map((g) => (
          <CompactLine key={g.index} samples={samples} gpu={g} peak={peakReservedGiB} width={width} theme={theme} ofRun={isRunGpu(g, runDevices)} />
        ))}
        {notes.map((n) => (
          <Text key={n} color={theme.warn} wrap="truncate-end">{n}</Text>
        ))}
      </Box>
    );
  }
  return (
    <Box flexDirection="column" flexShrink={0} width={width}>
      {latest.gpus.map((g) => (
        <Box key={g.index} flexDirection="column" marginBottom={1}>
          <GpuCard samples={samples} gpu={g} peak={peakReservedGiB} width={width} theme={theme} ofRun={isRunGpu(g, runDevices)} />
        </Box>
      ))}
      <Text bold>Processes{processes.length ? <Text dimColor> {processes.length}{ours ? `, ${ours} of this run` : ''}</Text> : null}</Text>
      <ProcessTable processes={processes} gpus={latest.gpus} width={width} max={maxProcesses} theme={theme} />
      {notes.map((n) => (
        <Text key={n} color={theme.warn} wrap="truncate-end">{n}</Text>
      ))}
    </Box>
  );
}
