import { useState } from 'react';
import { Box, Text } from 'ink';
import { checkField } from '../../core/trainform.js';
import { settingOption } from '../../core/options.js';
import { defaultExportName } from '../../core/run.js';
import { useAppState, useTheme, useUi } from '../context.js';
import { useKeys } from '../hooks/useKeys.js';
import { usePoll } from '../hooks/usePoll.js';
import { useTask } from '../hooks/useTask.js';
import { useTextEdit } from '../hooks/useTextEdit.js';
import { Section } from '../components/Section.js';
import { FormRow } from '../components/FormRow.js';
import { CheckList } from '../components/CheckList.js';
import { ErrorLines } from '../components/ErrorLines.js';
import { TaskView } from '../components/TaskView.js';
import { GGUF_TYPE_FACTS, GGUF_TYPES, type GgufType } from '../../core/gguf.js';
import { formatBytes } from '../../core/format.js';
import type { ExportRequest, GgufChoice } from '../source.js';
import { sortRuns } from '../view.js';
import type { ScreenProps } from './types.js';

const NAME = settingOption('export', 'name');
const SHARD = settingOption('export', 'shard');
const DEVICES = ['cpu', 'auto'] as const;
const GGUF_CHOICES: (GgufType | null)[] = [null, ...GGUF_TYPES];
const KEYS = ['run', 'checkpoint', 'name', 'device', 'shard', 'gguf'];
/** Run ids and export names run to 40 characters; the rest of the line keeps room for a short note. */
const valueWidth = (width: number) => Math.max(22, Math.min(42, width - 46));

function cycleIndex(i: number, n: number, step: 1 | -1): number {
  return n === 0 ? 0 : (i + step + n) % n;
}

/** Export: pick a run and a checkpoint, set options, merge with live progress, then the verification. */
export function ExportScreen({ width, height }: ScreenProps) {
  const { source } = useUi();
  const theme = useTheme();
  const { state, dispatch } = useAppState();
  const runs = usePoll('listRuns', () => source.listRuns(), []);
  const exports = usePoll('listExports', () => source.listExports(), [], 'slow');
  const task = useTask('export');
  const [focus, setFocus] = useState(0);
  const [runId, setRunId] = useState<string | null>(state.exportRunId);
  const [ckpt, setCkpt] = useState<{ run: string; step: number | null } | null>(null);
  const [device, setDevice] = useState<(typeof DEVICES)[number]>('cpu');
  const [texts, setTexts] = useState<Record<string, string>>({ shard: '5' });
  const [gguf, setGguf] = useState<GgufType | null>(null);

  const eligible = sortRuns(runs.data ?? []).filter((r) => r.status === 'completed' || r.checkpoints.length > 0);
  const run = eligible.find((r) => r.id === runId) ?? eligible[0];
  // null = the final adapter; only a completed run has one.
  const choices: (number | null)[] = run ? [...(run.status === 'completed' ? [null] : []), ...[...run.checkpoints].reverse()] : [];
  const checkpoint = ckpt && ckpt.run === run?.id && choices.includes(ckpt.step) ? ckpt.step : choices[0] ?? null;
  const defaultName = run ? defaultExportName(run.id, checkpoint) : '';
  // No `name` until the user types one: it follows the run and checkpoint until then.
  const text = (t: Record<string, string>, k: string) => (k === 'name' ? t.name ?? defaultName : t[k] ?? '');
  const edit = useTextEdit({
    keys: KEYS,
    isText: (k) => k === 'name' || k === 'shard',
    focus,
    setFocus,
    get: (k) => text(texts, k),
    update: (k, fn) => setTexts((t) => ({ ...t, [k]: fn(text(t, k)) })),
  });
  const ggufPlan = usePoll(`planGguf:${run?.id ?? ''}`, () => (run ? source.planGguf(run.id) : Promise.resolve([])), [run?.id], 'once');
  const ggufChoice: GgufChoice | undefined = gguf ? ggufPlan.data?.find((c) => c.type === gguf) : undefined;
  const ggufError = ggufChoice?.refusal && gguf ? `use ${ggufChoice.refusal.instead} (rows ÷${GGUF_TYPE_FACTS[gguf].block})` : undefined;
  const nameCheck = checkField(NAME, text(texts, 'name'));
  const shardCheck = checkField(SHARD, text(texts, 'shard'));
  const req: ExportRequest | null = run && nameCheck.ok && shardCheck.ok && typeof shardCheck.value === 'number' && !ggufError
    ? { runId: run.id, checkpoint, name: text(texts, 'name'), device, shardSizeGB: shardCheck.value, gguf }
    : null;
  const key = KEYS[focus]!;
  const choose = (step: 1 | -1) => {
    if (key === 'run' && eligible.length > 0) setRunId(eligible[cycleIndex(run ? eligible.indexOf(run) : 0, eligible.length, step)]!.id);
    if (key === 'checkpoint' && run && choices.length > 0) setCkpt({ run: run.id, step: choices[cycleIndex(choices.indexOf(checkpoint), choices.length, step)]! });
    if (key === 'device') setDevice(DEVICES[cycleIndex(DEVICES.indexOf(device), DEVICES.length, step)]!);
    if (key === 'gguf') setGguf(GGUF_CHOICES[cycleIndex(GGUF_CHOICES.indexOf(gguf), GGUF_CHOICES.length, step)]!);
  };
  const isChoice = key === 'run' || key === 'checkpoint' || key === 'device' || key === 'gguf';

  useKeys('export', edit.editing ? edit.handlers : {
    up: () => setFocus(cycleIndex(focus, KEYS.length, -1)),
    down: () => setFocus(cycleIndex(focus, KEYS.length, 1)),
    prevChoice: isChoice ? () => choose(-1) : null,
    nextChoice: isChoice ? () => choose(1) : null,
    edit: !isChoice ? () => edit.begin(key) : null,
    export: req && !task.running ? () => {
      task.start(`exporting ${req.name}`, (onProgress, signal) => source.exportRun(req, onProgress, signal), {
        onDone: (r) => {
          exports.refresh();
          dispatch({ type: 'notice', notice: { level: r.ok ? 'info' : 'warn', text: r.ok ? `✓ exported and verified: ${r.dir}` : `! exported to ${r.dir}, but verification found problems` } });
        },
      });
    } : null,
  }, edit.capture);

  const exportList = exports.data ?? [];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Section title="Export" right="merge the LoRA adapter into the base model and verify it">
        {runs.error ? <ErrorLines error={runs.error} maxLines={3} /> : null}
        <FormRow valueWidth={valueWidth(width)} label="run" value={run?.id ?? (runs.loading ? 'reading…' : 'none')} choice focused={focus === 0} editing={false}
          error={!runs.loading && !run ? 'nothing to export yet' : undefined} help={run ? `${run.status}, ${run.checkpoints.length} ckpt${run.checkpoints.length === 1 ? '' : 's'}` : undefined} />
        <FormRow valueWidth={valueWidth(width)} label="checkpoint" value={!run ? '–' : checkpoint === null ? 'final adapter' : `checkpoint-${checkpoint}`} choice focused={focus === 1} editing={false}
          help="the final adapter, or any saved checkpoint" />
        <FormRow valueWidth={valueWidth(width)} label={NAME.label} value={text(texts, 'name')} focused={focus === 2} editing={edit.editing === 'name'} error={nameCheck.ok ? undefined : nameCheck.message} help={NAME.help} />
        <FormRow valueWidth={valueWidth(width)} label="device" value={device} choice focused={focus === 3} editing={false} help={device === 'cpu' ? 'merge in RAM: slower, never runs out of GPU memory' : 'merge on the GPU(s): faster, needs free VRAM'} />
        <FormRow valueWidth={valueWidth(width)} label={SHARD.label} value={text(texts, 'shard')} focused={focus === 4} editing={edit.editing === 'shard'} error={shardCheck.ok ? undefined : shardCheck.message} help={SHARD.help} />
        <FormRow valueWidth={valueWidth(width)} label="gguf (llama.cpp)" value={gguf ?? 'none'} choice focused={focus === 5} editing={false} error={ggufError}
          help={!gguf ? 'also write GGUF files for Ollama / LM Studio / llama.cpp' : ggufChoice ? `${formatBytes(ggufChoice.modelBytes)}+${formatBytes(ggufChoice.mmprojBytes)} mmproj, ${formatBytes(ggufChoice.memoryBytes)} RAM; ${ggufChoice.quality}` : 'reading the model…'} />
      </Section>
      <Box flexDirection="column" marginTop={1} flexShrink={0}>
        {task.state ? (
          <TaskView task={task.state} width={width} done={(r) => (
            <Box flexDirection="column">
              <Text bold color={r.ok ? theme.ok : theme.error} wrap="truncate-middle">{r.ok ? '✓ verified' : '✗ verification failed'}: {r.dir}</Text>
              <CheckList checks={r.checks} maxRows={Math.max(2, height - 14)} />
            </Box>
          )} />
        ) : <Text dimColor>{req ? 'press e to export' : 'pick a run, then press e'}</Text>}
      </Box>
      <Box flexGrow={1} />
      <Section title="Exports" right={String(exportList.length)} height={Math.min(5, exportList.length + 1)}>
        {exportList.map((x) => (
          <Box key={x.name} height={1} flexShrink={0}>
            <Box width={2} flexShrink={0}><Text color={x.ok === false ? theme.error : x.ok ? theme.ok : undefined}>{x.ok === null ? '?' : x.ok ? '✓' : '✗'}</Text></Box>
            <Box flexShrink={0}><Text>{x.name}</Text></Box>
            {x.runId ? <Text dimColor wrap="truncate-end">  from {x.runId}</Text> : null}
          </Box>
        ))}
      </Section>
    </Box>
  );
}
