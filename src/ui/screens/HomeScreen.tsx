import { useState } from 'react';
import { Box, Text } from 'ink';
import { formatBytes } from '../../core/format.js';
import { useAppState, useTheme, useUi } from '../context.js';
import { useKeys } from '../hooks/useKeys.js';
import { usePoll } from '../hooks/usePoll.js';
import { useTask } from '../hooks/useTask.js';
import { Section } from '../components/Section.js';
import { SelectList } from '../components/SelectList.js';
import { ErrorLines } from '../components/ErrorLines.js';
import { TaskView } from '../components/TaskView.js';
import { GpuStrip, gpuRows } from '../components/GpuStrip.js';
import { useGpuState } from '../gpu-context.js';
import { countText, sortRuns, stepColumnWidth } from '../view.js';
import { RunRow } from './RunRow.js';
import { RunsComparison } from '../components/RunsComparison.js';
import type { ScreenProps } from './types.js';

/** The workspace at a glance: runs, datasets, models, GPUs, and the demo when there is nothing yet. */
export function HomeScreen({ width, height }: ScreenProps) {
  const { source } = useUi();
  const theme = useTheme();
  const { dispatch } = useAppState();
  const runs = usePoll('listRuns', () => source.listRuns(), []);
  const datasets = usePoll('listDatasets', () => source.listDatasets(), [], 'slow');
  const models = usePoll('listModels', () => source.listModels(), [], 'slow');
  const demo = useTask('demo');
  const gpu = useGpuState();
  const [sel, setSel] = useState(0);
  const [marked, setMarked] = useState<string[]>([]);
  const [comparing, setComparing] = useState(false);
  const compared = usePoll('compareRuns', () => (comparing && marked.length >= 2 ? source.compareRuns(marked) : Promise.resolve(null)), [comparing, marked.join(' ')]);

  const runList = sortRuns(runs.data ?? []);
  const stepW = stepColumnWidth(runList);
  const cur = Math.min(sel, Math.max(0, runList.length - 1));
  const loaded = !runs.loading && !datasets.loading && !models.loading;
  const empty = loaded && runList.length === 0 && (datasets.data ?? []).length === 0 && (models.data ?? []).length === 0;

  useKeys('home', {
    mark: !comparing && runList[cur]
      ? () => {
          const id = runList[cur]!.id;
          setMarked((m) => (m.includes(id) ? m.filter((x) => x !== id) : [...m, id]));
        }
      : null,
    compareRuns: comparing || marked.length >= 2 ? () => setComparing((c) => !c) : null,
    up: runList.length > 1 ? () => setSel(Math.max(0, cur - 1)) : null,
    down: runList.length > 1 ? () => setSel(Math.min(runList.length - 1, cur + 1)) : null,
    open: runList[cur] ? () => dispatch({ type: 'openRun', id: runList[cur]!.id }) : null,
    newRun: () => dispatch({ type: 'go', screen: 'train' }),
    demo: demo.running ? null : () => {
      demo.start('demo', (onProgress, signal) => source.runDemo(onProgress, signal), {
        onDone: (r) => dispatch({ type: 'openRun', id: r.runId }),
      });
    },
  });

  const gpuH = gpuRows(gpu, true, 0) + 1;
  const demoH = demo.state ? 3 : 0;
  const free = height - gpuH - demoH;
  // Runs take what they need (up to two thirds), datasets and models the rest.
  const runsH = empty || comparing ? free : Math.max(4, Math.min(runList.length + 2, Math.floor((free * 2) / 3)));
  const lowerH = empty ? 0 : free - runsH;
  const rowsFor = (n: number) => Math.max(1, lowerH - 1) >= n ? n : Math.max(1, lowerH - 2);
  const half = Math.floor(width / 2);

  return (
    <Box flexDirection="column" width={width} height={height}>
      {demo.state ? (
        <Box flexDirection="column" height={demoH}>
          <TaskView task={demo.state} width={width} done={(r) => <Text color={theme.ok}>✓ demo run {r.runId} launched{r.jobId ? `; job ${r.jobId} then exports and checks it, even after you quit` : ''}</Text>} />
        </Box>
      ) : null}
      {empty ? (
        <Section title="Welcome" height={runsH}>
          <Text>This workspace is empty: no datasets, models or runs yet.</Text>
          <Text> </Text>
          {demo.running ? (
            <Text>The demo is preparing a small sample of medical images with questions and answers, then builds a tiny Qwen2-VL model and starts training it; its run opens here when it starts.</Text>
          ) : (
            <Text>
              <Text>Press </Text><Text bold color={theme.accent} inverse={theme.noColor}>d</Text>
              <Text> to run the demo: it prepares a small sample of medical images with questions and answers, builds a tiny Qwen2-VL model and trains it on this machine, so every screen has something to show.</Text>
            </Text>
          )}
          <Text> </Text>
          <Text dimColor>Or press 2 to prepare a dataset, 3 to set up a training run.</Text>
        </Section>
      ) : comparing ? (
        <Section title="Runs side by side" right={`${marked.length} runs · c for the list`} height={runsH}>
          {compared.error ? <ErrorLines error={compared.error} maxLines={3} /> : null}
          {compared.data ? <RunsComparison comparison={compared.data} width={width} height={runsH - 1} /> : <Text dimColor>reading the runs…</Text>}
        </Section>
      ) : (
        <Section title="Runs" right={runs.data ? `${runList.length}${marked.length ? ` · ${marked.length} marked, c compares` : runList.length > 1 ? ' · space marks runs to compare' : ''}` : undefined} height={runsH}>
          {runs.error ? <ErrorLines error={runs.error} maxLines={3} /> : null}
          {runs.loading ? <Text dimColor>reading runs…</Text> : runList.length === 0 ? <Text dimColor>no runs yet: press n to set one up</Text> : (
            <SelectList items={runList} selected={cur} height={runsH - 1} itemKey={(r) => r.id} renderItem={(r) =>
              marked.length ? (
                <Box height={1}>
                  <Text color={theme.accent}>{marked.includes(r.id) ? '◆ ' : '  '}</Text>
                  <RunRow run={r} width={width - 4} stepWidth={stepW} />
                </Box>
              ) : (
                <RunRow run={r} width={width - 2} stepWidth={stepW} />
              )
            } />
          )}
        </Section>
      )}
      {empty ? null : <Box height={lowerH}>
        <Section title="Datasets" right={datasets.data ? String(datasets.data.length) : undefined} width={half}>
          {datasets.error ? <ErrorLines error={datasets.error} maxLines={2} /> : null}
          {(datasets.data ?? []).slice(0, rowsFor((datasets.data ?? []).length)).map((d) => (
            <Box key={d.name} height={1} flexShrink={0}>
              <Box flexGrow={1}><Text wrap="truncate-end">{d.name}</Text></Box>
              <Text dimColor wrap="truncate-end"> {countText(d.rows).padStart(5)} rows{d.valRows ? ` +${countText(d.valRows)} val` : ''}</Text>
            </Box>
          ))}
          {(datasets.data ?? []).length > rowsFor((datasets.data ?? []).length) ? <Text dimColor>… {(datasets.data ?? []).length} in all (2 for Data)</Text> : null}
        </Section>
        <Text> </Text>
        <Section title="Models" right={models.data ? String(models.data.length) : undefined} flexGrow={1}>
          {models.error ? <ErrorLines error={models.error} maxLines={2} /> : null}
          {(models.data ?? []).slice(0, rowsFor((models.data ?? []).length)).map((m) => (
            <Box key={m.name} height={1} flexShrink={0}>
              <Box flexGrow={1}><Text wrap="truncate-end">{m.name}</Text></Box>
              <Text dimColor wrap="truncate-end"> {m.kind.padEnd(6)} {formatBytes(m.bytes).padStart(9)}</Text>
            </Box>
          ))}
          {(models.data ?? []).length > rowsFor((models.data ?? []).length) ? <Text dimColor>… {(models.data ?? []).length} in all</Text> : null}
        </Section>
      </Box>}
      <GpuStrip width={width} compact />
    </Box>
  );
}
