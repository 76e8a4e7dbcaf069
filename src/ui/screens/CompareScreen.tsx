import { useState } from 'react';
import { Box, Text } from 'ink';
import { VAL_SUFFIX } from '../../core/dataset.js';
import { parseIndexList } from '../../core/indexlist.js';
import { settingOption } from '../../core/options.js';
import { wrapWords } from '../../core/textfit.js';
import { checkField } from '../../core/trainform.js';
import { useTheme, useUi } from '../context.js';
import { useKeys } from '../hooks/useKeys.js';
import { usePoll } from '../hooks/usePoll.js';
import { useTask } from '../hooks/useTask.js';
import { useTextEdit } from '../hooks/useTextEdit.js';
import { Section } from '../components/Section.js';
import { FormRow } from '../components/FormRow.js';
import { ErrorLines } from '../components/ErrorLines.js';
import { TaskView } from '../components/TaskView.js';
import { HalfBlockImage } from '../components/HalfBlockImage.js';
import type { AnswerModel, CompareItem, CompareRequest, CompareSide } from '../source.js';
import type { ScreenProps } from './types.js';

const TOKENS = settingOption('compare', 'tokens');
const KEYS = ['base', 'tuned', 'dataset', 'samples', 'prompt', 'tokens'];
const TEXT_KEYS = ['samples', 'prompt', 'tokens'];

interface Choice {
  label: string;
  model: AnswerModel;
}

function step(i: number, n: number, s: 1 | -1): number {
  return n === 0 ? 0 : (i + s + n) % n;
}

/** Compare / Ask: the base model and the tuned one answer the same images and prompt, side by side. */
export function CompareScreen({ width, height }: ScreenProps) {
  const { source } = useUi();
  const models = usePoll('listModels', () => source.listModels(), [], 'once');
  const exports = usePoll('listExports', () => source.listExports(), [], 'once');
  const runs = usePoll('listRuns', () => source.listRuns(), [], 'once');
  const datasets = usePoll('listDatasets', () => source.listDatasets(), [], 'once');
  const task = useTask('compare');
  const [focus, setFocus] = useState(0);
  const [picks, setPicks] = useState({ base: 0, tuned: 0, dataset: 0 });
  const [texts, setTexts] = useState<Record<string, string>>({ samples: '1-3', prompt: '', tokens: '128' });
  const [page, setPage] = useState(0);

  const bases: Choice[] = (models.data ?? []).filter((m) => m.kind !== 'export').map((m) => ({ label: m.name, model: { kind: 'model', name: m.name } }));
  const tuned: Choice[] = [
    ...(exports.data ?? []).map((x): Choice => ({ label: `export ${x.name}`, model: { kind: 'export', name: x.name } })),
    ...(runs.data ?? []).filter((r) => r.status === 'completed' || r.checkpoints.length > 0)
      .map((r): Choice => ({ label: `run ${r.id}`, model: { kind: 'run', id: r.id, checkpoint: r.status === 'completed' ? null : r.checkpoints[r.checkpoints.length - 1] ?? null } })),
  ];
  const dsNames = (datasets.data ?? []).map((d) => d.name);
  const base = bases[Math.min(picks.base, bases.length - 1)];
  const tune = tuned[Math.min(picks.tuned, tuned.length - 1)];
  const dataset = dsNames[Math.min(picks.dataset, dsNames.length - 1)];
  const samples = parseIndexList(texts.samples ?? '');
  const tokens = checkField(TOKENS, texts.tokens ?? '');
  const req: CompareRequest | null = base && tune && dataset && samples.ok && tokens.ok && typeof tokens.value === 'number'
    ? { base: base.model, tuned: tune.model, dataset, samples: samples.value, prompt: (texts.prompt ?? '').trim(), maxNewTokens: tokens.value }
    : null;

  const edit = useTextEdit({
    keys: KEYS,
    isText: (k) => TEXT_KEYS.includes(k),
    focus,
    setFocus,
    get: (k) => texts[k] ?? '',
    update: (k, fn) => setTexts((t) => ({ ...t, [k]: fn(t[k] ?? '') })),
  });
  const key = KEYS[focus]!;
  const isChoice = !TEXT_KEYS.includes(key);
  const counts: Record<string, number> = { base: bases.length, tuned: tuned.length, dataset: dsNames.length };
  const choose = (s: 1 | -1) => setPicks((p) => ({ ...p, [key]: step(p[key as keyof typeof p], counts[key] ?? 0, s) }));
  const result = task.state?.status === 'done' ? task.state.result : undefined;
  const items = result?.items ?? [];
  const cur = Math.min(page, Math.max(0, items.length - 1));

  useKeys('compare', edit.editing ? edit.handlers : {
    up: () => setFocus(step(focus, KEYS.length, -1)),
    down: () => setFocus(step(focus, KEYS.length, 1)),
    prevChoice: isChoice && (counts[key] ?? 0) > 1 ? () => choose(-1) : null,
    nextChoice: isChoice && (counts[key] ?? 0) > 1 ? () => choose(1) : null,
    edit: !isChoice ? () => edit.begin(key) : null,
    ask: req && !task.running ? () => {
      setPage(0);
      task.start('asking both models', (onProgress, signal) => source.compare(req, onProgress, signal));
    } : null,
    prevResult: cur > 0 ? () => setPage(cur - 1) : null,
    nextResult: cur + 1 < items.length ? () => setPage(cur + 1) : null,
  }, edit.capture);

  const loadError = models.error ?? exports.error ?? runs.error ?? datasets.error;
  const resultH = Math.max(4, height - KEYS.length - 2);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Section title="Compare" right="base and tuned answers side by side">
        {loadError ? <ErrorLines error={loadError} maxLines={3} /> : null}
        <FormRow label="base model" value={base?.label ?? 'none'} choice focused={focus === 0} editing={false} valueWidth={28} help="the model before tuning" />
        <FormRow label="tuned model" value={tune?.label ?? 'none'} choice focused={focus === 1} editing={false} valueWidth={28}
          error={tuned.length === 0 && !runs.loading ? 'nothing tuned yet: finish a run or an export' : undefined} help="an export, or a run's adapter on its base" />
        <FormRow label="images from" value={dataset ?? 'none'} choice focused={focus === 2} editing={false} valueWidth={28} help="held-out rows when the dataset has a val split" />
        <FormRow label="samples" value={texts.samples ?? ''} focused={focus === 3} editing={edit.editing === 'samples'} valueWidth={28} error={samples.ok ? undefined : samples.message} help="sample numbers, e.g. 1-4 or 2,5,9" />
        <FormRow label="prompt" value={texts.prompt ?? ''} focused={focus === 4} editing={edit.editing === 'prompt'} valueWidth={28} help="empty = each sample's own question" />
        <FormRow label={TOKENS.label} value={texts.tokens ?? ''} focused={focus === 5} editing={edit.editing === 'tokens'} valueWidth={28} error={tokens.ok ? undefined : tokens.message} help={TOKENS.help} />
      </Section>
      <Box flexDirection="column" height={resultH}>
        {task.state && task.state.status !== 'done' ? <TaskView task={task.state} width={width} /> : null}
        {result && items[cur] ? <Answer item={items[cur]} base={result.base} tuned={result.tuned} dataset={result.dataset} index={cur} count={items.length} width={width} height={resultH} /> : (
          !task.state ? <Text dimColor>{req ? 'press a to ask both models' : 'pick the models and samples above'}</Text> : null
        )}
      </Box>
    </Box>
  );
}

interface AnswerProps {
  item: CompareItem;
  dataset: string | null;
  base: CompareSide;
  tuned: CompareSide;
  index: number;
  count: number;
  width: number;
  height: number;
}

function Side({ title, side, text, width, height, color }: { title: string; side: CompareSide; text: string; width: number; height: number; color?: string }) {
  return (
    <Box flexDirection="column" width={width} height={height} paddingRight={1} overflow="hidden">
      <Box height={1} flexShrink={0}><Text wrap="truncate-end"><Text bold underline color={color}>{title}</Text><Text dimColor> {side.label}</Text></Text></Box>
      {side.score ? <Box height={1} flexShrink={0}><Text dimColor wrap="truncate-end">{side.score}</Text></Box> : null}
      <Box flexShrink={1} flexDirection="column" overflow="hidden">
        {wrapWords(text.trim() === '' ? '(no answer)' : text.trim(), width - 1).map((line, i) => <Text key={i} wrap="truncate-end">{line}</Text>)}
      </Box>
    </Box>
  );
}

function Answer({ item, base, tuned, dataset, index, count, width, height }: AnswerProps) {
  const theme = useTheme();
  const imgCols = item.image ? Math.min(24, Math.floor(width / 4)) : 0;
  const colW = Math.floor((width - imgCols - 2) / 2);
  const bodyH = Math.max(2, height - 3);
  return (
    <Box flexDirection="column">
      <Box height={1} flexShrink={0}>
        <Box flexShrink={0}>
          <Text bold color={theme.accent}>answer {index + 1}/{count}</Text>
          <Text dimColor> · sample {item.sample + 1}{dataset ? ` of ${dataset}${dataset.endsWith(VAL_SUFFIX) ? ' (held-out)' : ' (training rows)'}` : ''} · </Text>
        </Box>
        <Text wrap="truncate-end">{item.question}</Text>
      </Box>
      <Box height={bodyH} overflow="hidden">
        {item.image ? (
          <Box width={imgCols + 1} flexShrink={0}>
            <HalfBlockImage image={item.image} maxCols={imgCols} maxRows={bodyH} />
          </Box>
        ) : null}
        <Side title="Base" side={base} text={item.base} width={colW} height={bodyH} />
        <Side title="Tuned" side={tuned} text={item.tuned} width={colW} height={bodyH} color={theme.ok} />
      </Box>
      {item.reference ? <Box height={1} flexShrink={0}><Text dimColor wrap="truncate-end">reference: {item.reference}</Text></Box> : null}
    </Box>
  );
}
