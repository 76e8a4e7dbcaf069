import { useState } from 'react';
import { Box, Text } from 'ink';
import { formatBytes } from '../../core/format.js';
import { meter } from '../../core/chart.js';
import { mixShares, nudgeWeight } from '../../core/mix.js';
import { checkField, PREPARE_FIELDS } from '../../core/trainform.js';
import { defaultDatasetName } from '../../core/dataset.js';
import { useAppState, useTheme, useUi } from '../context.js';
import { useKeys } from '../hooks/useKeys.js';
import { usePoll } from '../hooks/usePoll.js';
import { useTask } from '../hooks/useTask.js';
import { useTextEdit } from '../hooks/useTextEdit.js';
import { Section } from '../components/Section.js';
import { SelectList } from '../components/SelectList.js';
import { ErrorLines } from '../components/ErrorLines.js';
import { CheckList } from '../components/CheckList.js';
import { Histogram } from '../components/Histogram.js';
import { HalfBlockImage } from '../components/HalfBlockImage.js';
import { FormRow } from '../components/FormRow.js';
import { TaskView } from '../components/TaskView.js';
import type { DatasetSummary } from '../source.js';
import { countText } from '../view.js';
import type { ScreenProps } from './types.js';

const VIEWS = ['datasets', 'preview', 'prepare', 'mix'] as const;
type View = (typeof VIEWS)[number];
const VIEW_TITLES: Record<View, string> = { datasets: 'Datasets', preview: 'Preview', prepare: 'Prepare', mix: 'Mix' };

interface ViewProps extends ScreenProps {
  datasets: DatasetSummary[];
  sel: number;
  setSel: (i: number) => void;
  /** Moves to the next (+1) or previous (-1) view. */
  cycle: (step: 1 | -1) => void;
}

/** Data: dataset entries, a sample preview with the image drawn in the terminal, prepare, and mixing. */
export function DataScreen({ width, height }: ScreenProps) {
  const { source } = useUi();
  const theme = useTheme();
  const datasets = usePoll('listDatasets', () => source.listDatasets(), []);
  const [view, setView] = useState<View>('datasets');
  const [sel, setSel] = useState(0);
  const list = datasets.data ?? [];
  const cur = Math.min(sel, Math.max(0, list.length - 1));
  const cycle = (step: 1 | -1) => setView(VIEWS[(VIEWS.indexOf(view) + step + VIEWS.length) % VIEWS.length]!);
  const props: ViewProps = { width, height: height - 1, datasets: list, sel: cur, setSel, cycle };
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={1} flexShrink={0}>
        {VIEWS.map((v) => <Text key={v} inverse={v === view} bold={v === view} color={v === view ? theme.accent : undefined}>{` ${VIEW_TITLES[v]} `}</Text>)}
        {datasets.error ? <Text color={theme.error} wrap="truncate-end">  could not read datasets</Text> : null}
      </Box>
      {view === 'datasets' ? <DatasetsView {...props} error={datasets.error} loading={datasets.loading} /> : null}
      {view === 'preview' ? <PreviewView {...props} /> : null}
      {view === 'prepare' ? <PrepareView {...props} onPrepared={datasets.refresh} /> : null}
      {view === 'mix' ? <MixView {...props} /> : null}
    </Box>
  );
}

function moveHandlers(p: ViewProps) {
  return {
    up: p.datasets.length > 1 ? () => p.setSel(Math.max(0, p.sel - 1)) : null,
    down: p.datasets.length > 1 ? () => p.setSel(Math.min(p.datasets.length - 1, p.sel + 1)) : null,
    nextView: () => p.cycle(1),
    prevView: () => p.cycle(-1),
  };
}

function DatasetList(p: ViewProps & { width: number }) {
  return (
    <SelectList
      items={p.datasets}
      selected={p.sel}
      height={p.height - 1}
      itemKey={(d) => d.name}
      renderItem={(d) => (
        <Box flexGrow={1}>
          <Box flexGrow={1} flexShrink={1}><Text wrap="truncate-end">{d.name}</Text></Box>
          <Box flexShrink={0}><Text dimColor> {countText(d.rows)}</Text></Box>
        </Box>
      )}
    />
  );
}

function DatasetsView(p: ViewProps & { error: unknown; loading: boolean }) {
  const { source } = useUi();
  const theme = useTheme();
  const check = useTask('check');
  const d = p.datasets[p.sel];
  useKeys('data', {
    ...moveHandlers(p),
    check: d && !check.running ? () => check.start(`checking ${d.name}`, (onProgress, signal) => source.checkDataset(d.name, onProgress, signal), { tag: d.name }) : null,
  });
  const listW = Math.min(32, Math.floor(p.width * 0.38));
  const detailW = p.width - listW - 1;
  const checkShown = check.state && check.state.tag === d?.name ? check.state : undefined;
  return (
    <Box height={p.height}>
      <Section title="Entries" right="dataset_info.json" width={listW}>
        {p.error ? <ErrorLines error={p.error} maxLines={4} /> : null}
        {p.loading ? <Text dimColor>reading…</Text> : p.datasets.length === 0
          ? <Text dimColor>none yet: tab to Prepare</Text>
          : <DatasetList {...p} width={listW} />}
      </Section>
      <Text> </Text>
      {d ? (
        <Section title={d.name} width={detailW}>
          <Text wrap="truncate-end"><Text dimColor>file    </Text>{d.file}</Text>
          <Text wrap="truncate-end"><Text dimColor>rows    </Text>{[
            `${countText(d.rows)} train`,
            d.valRows === null ? null : `${countText(d.valRows)} val`,
            d.images === null ? null : `${countText(d.images)} images`,
            d.bytes === null ? null : formatBytes(d.bytes),
          ].filter(Boolean).join(' · ')}</Text>
          <Text wrap="truncate-end"><Text dimColor>source  </Text>{d.source ?? '–'}{d.createdAt ? <Text dimColor>  {d.createdAt.slice(0, 16).replace('T', ' ')}</Text> : null}</Text>
          <Text bold>Modalities</Text>
          <Histogram counts={d.modalities} width={detailW} maxRows={Math.max(2, Math.min(6, p.height - 10))} />
          <Box flexDirection="column" marginTop={1}>
            {checkShown ? (
              <TaskView task={checkShown} width={detailW} done={(r) => (
                <>
                  <Text bold color={r.ok ? theme.ok : theme.error}>{r.ok ? '✓' : '✗'} check: {r.rows} rows{r.ok ? ', all usable' : ''}</Text>
                  <CheckList checks={r.checks} maxRows={Math.max(1, p.height - 14)} />
                </>
              )} />
            ) : <Text dimColor>press c to check every row before training</Text>}
          </Box>
        </Section>
      ) : null}
    </Box>
  );
}

function PreviewView(p: ViewProps) {
  const { source } = useUi();
  const theme = useTheme();
  const d = p.datasets[p.sel];
  const [at, setAt] = useState<{ name: string; index: number }>({ name: '', index: 0 });
  const index = at.name === d?.name ? at.index : 0;
  const imgCols = Math.max(16, Math.min(48, Math.floor(p.width * 0.42)));
  const imgRows = Math.max(4, p.height - 2);
  const preview = usePoll(
    'previewDataset',
    () => (d ? source.previewDataset(d.name, { offset: index, count: 1, maxSide: imgCols * 2 }) : Promise.resolve(null)),
    [d?.name, index, imgCols],
    'once',
  );
  const total = preview.data?.total ?? d?.rows ?? 0;
  useKeys('data-preview', {
    ...moveHandlers(p),
    prevSample: d && index > 0 ? () => setAt({ name: d.name, index: index - 1 }) : null,
    nextSample: d && index + 1 < total ? () => setAt({ name: d.name, index: index + 1 }) : null,
  });
  if (!d) return <Text dimColor>No datasets to preview yet: tab to Prepare.</Text>;
  const sample = preview.data?.samples[0];
  const textW = p.width - imgCols - 2;
  return (
    <Box flexDirection="column" height={p.height}>
      <Box height={1} flexShrink={0}>
        <Text bold color={theme.accent}>{d.name}</Text>
        <Text> sample {index + 1} of {countText(total)}</Text>
        {sample ? <Text dimColor> · {sample.modality ?? 'modality ?'} · {sample.split}</Text> : null}
      </Box>
      {preview.error ? <ErrorLines error={preview.error} /> : preview.loading && !sample ? <Text dimColor>reading sample…</Text> : sample ? (
        <Box height={p.height - 1}>
          <Box width={imgCols} flexShrink={0} flexDirection="column">
            {sample.image
              ? <HalfBlockImage image={sample.image} maxCols={imgCols} maxRows={imgRows} />
              : <Text dimColor>(no image could be read)</Text>}
          </Box>
          <Box width={2} />
          <Box flexDirection="column" width={textW}>
            <Text bold color={theme.accent}>Question</Text>
            <Text>{sample.question}</Text>
            <Text bold color={theme.accent}>Answer</Text>
            <Text>{sample.answer}</Text>
            {sample.imagePaths.map((path) => <Text key={path} dimColor wrap="truncate-start">{path}</Text>)}
          </Box>
        </Box>
      ) : <Text dimColor>no rows</Text>}
    </Box>
  );
}


function PrepareView(p: ViewProps & { onPrepared: () => void }) {
  const { source } = useUi();
  const theme = useTheme();
  const { dispatch } = useAppState();
  const sources = usePoll('listDataSources', () => source.listDataSources(), [], 'once');
  const prepare = useTask('prepare');
  const [srcIdx, setSrcIdx] = useState(0);
  const [focus, setFocus] = useState(0);
  // No `name` until the user types one: it follows the source (or the path) as `data prepare` names it.
  const [texts, setTexts] = useState<Record<string, string>>({ limit: '', valRatio: '0.05', path: '' });
  const srcList = sources.data ?? [];
  const src = srcList[Math.min(srcIdx, Math.max(0, srcList.length - 1))];
  const keys = ['source', ...(src?.path ? ['path'] : []), ...PREPARE_FIELDS.map((f) => f.key)];
  const defaultName = (t: Record<string, string>) =>
    src?.path ? (t.path?.trim() ? defaultDatasetName(t.path.trim()) : '') : src?.defaultName ?? '';
  const effective = (t: Record<string, string>, k: string) => (k === 'name' ? t.name ?? defaultName(t) : t[k] ?? '');
  const text = (k: string) => effective(texts, k);
  const edit = useTextEdit({
    keys,
    isText: (k) => k !== 'source',
    focus,
    setFocus,
    get: text,
    update: (k, fn) => setTexts((t) => ({ ...t, [k]: fn(effective(t, k)) })),
  });
  const checks = PREPARE_FIELDS.map((f) => ({ f, r: checkField(f, text(f.key)) }));
  const pathError = src?.path && !text('path').trim() ? 'give a folder or a file' : undefined;
  const valid = checks.every((c) => c.r.ok) && !!src?.available && !pathError;
  const focusedKey = keys[Math.min(focus, keys.length - 1)]!;

  const start = () => {
    if (!src) return;
    const limit = checkField(PREPARE_FIELDS[1]!, text('limit'));
    const val = checkField(PREPARE_FIELDS[2]!, text('valRatio'));
    const req = {
      source: src.path ? text('path').trim() : src.id,
      name: text('name'),
      limit: limit.ok && typeof limit.value === 'number' ? limit.value : null,
      valRatio: val.ok && typeof val.value === 'number' ? val.value : 0,
    };
    prepare.start(`preparing ${req.name}`, (onProgress, signal) => source.prepareData(req, onProgress, signal), {
      onDone: (d) => {
        p.onPrepared();
        dispatch({ type: 'notice', notice: { level: 'info', text: `✓ dataset ${d.name} ready: ${d.rows ?? '?'} rows` } });
      },
    });
  };

  useKeys('data-prepare', edit.editing ? edit.handlers : {
    nextView: () => p.cycle(1),
    prevView: () => p.cycle(-1),
    up: () => setFocus((focus - 1 + keys.length) % keys.length),
    down: () => setFocus((focus + 1) % keys.length),
    edit: focusedKey !== 'source' ? () => edit.begin(focusedKey) : null,
    prevChoice: focusedKey === 'source' && srcList.length > 1 ? () => setSrcIdx((srcIdx - 1 + srcList.length) % srcList.length) : null,
    nextChoice: focusedKey === 'source' && srcList.length > 1 ? () => setSrcIdx((srcIdx + 1) % srcList.length) : null,
    prepare: valid && !prepare.running ? start : null,
  }, edit.capture);

  return (
    <Box flexDirection="column" height={p.height}>
      <Section title="Prepare a dataset" right="convert a source into LLaMA-Factory's sharegpt format">
        {sources.error ? <ErrorLines error={sources.error} /> : null}
        <FormRow label="source" value={src ? src.label : sources.loading ? 'reading…' : 'none'} choice focused={focus === 0} editing={false} valueWidth={30}
          error={src && !src.available ? src.detail ?? 'not available here' : undefined} help={src?.description} />
        {src?.path ? (
          <FormRow label="path" value={text('path')} focused={focusedKey === 'path'} editing={edit.editing === 'path'} valueWidth={30}
            error={pathError} help="the folder or file to read (enter to type it)" />
        ) : null}
        {checks.map(({ f, r }) => (
          <FormRow key={f.key} label={f.label} value={text(f.key)} focused={focusedKey === f.key} editing={edit.editing === f.key} valueWidth={30}
            error={r.ok ? undefined : r.message} help={f.help} />
        ))}
      </Section>
      <Box flexDirection="column" marginTop={1}>
        {prepare.state ? (
          <TaskView task={prepare.state} width={p.width} done={(d) => (
            <Text color={theme.ok}>✓ {d.name}: {countText(d.rows)} train rows, {countText(d.valRows)} val rows, {countText(d.images)} images</Text>
          )} />
        ) : <Text dimColor>{valid ? 'press p to prepare' : 'fix the fields above, then press p'}</Text>}
      </Box>
    </Box>
  );
}

function MixView(p: ViewProps) {
  const theme = useTheme();
  const { state, dispatch } = useAppState();
  const [mix, setMix] = useState<Record<string, { on: boolean; weight: number }>>(
    () => Object.fromEntries(state.draft.datasets.map((d) => [d.name, { on: true, weight: d.weight }])),
  );
  const entry = (name: string) => mix[name] ?? { on: false, weight: 1 };
  const d = p.datasets[p.sel];
  const included = p.datasets.filter((x) => entry(x.name).on).map((x) => ({ name: x.name, weight: entry(x.name).weight }));
  const shares = new Map(mixShares(included).map((s) => [s.name, s.share]));
  const set = (name: string, v: { on: boolean; weight: number }) => setMix((m) => ({ ...m, [name]: v }));
  useKeys('data-mix', {
    ...moveHandlers(p),
    toggle: d ? () => set(d.name, { ...entry(d.name), on: !entry(d.name).on }) : null,
    more: d && entry(d.name).on ? () => set(d.name, { on: true, weight: nudgeWeight(entry(d.name).weight, 0.1) }) : null,
    less: d && entry(d.name).on ? () => set(d.name, { on: true, weight: nudgeWeight(entry(d.name).weight, -0.1) }) : null,
    use: included.length > 0 ? () => dispatch({ type: 'useMix', datasets: included }) : null,
  });
  const nameW = Math.min(28, Math.floor(p.width * 0.35));
  const barW = Math.max(6, p.width - nameW - 30);
  return (
    <Box flexDirection="column" height={p.height}>
      <Section title="Mix datasets" right="rows are drawn from each dataset in proportion to its weight">
        {p.datasets.length === 0 ? <Text dimColor>no datasets yet: tab to Prepare</Text> : (
          <SelectList items={p.datasets} selected={p.sel} height={p.height - 4} itemKey={(x) => x.name} renderItem={(x) => {
            const e = entry(x.name);
            const share = shares.get(x.name) ?? 0;
            return (
              <Box>
                <Text>{e.on ? '[x] ' : '[ ] '}</Text>
                <Box width={nameW} flexShrink={0}><Text wrap="truncate-end" dimColor={!e.on}>{x.name}</Text></Box>
                <Text dimColor={!e.on}>{`w ${e.weight.toFixed(1)}`.padStart(7)} </Text>
                <Text color={theme.accent}>{meter(share, barW)}</Text>
                <Text> {e.on ? `${Math.round(share * 100)}%` : ''}</Text>
              </Box>
            );
          }} />
        )}
      </Section>
      <Box marginTop={1}>
        <Text dimColor wrap="truncate-end">
          {included.length === 0 ? 'space includes a dataset' : `${included.length} dataset${included.length > 1 ? 's' : ''} in the mix · u takes it to Train`}
        </Text>
      </Box>
    </Box>
  );
}
