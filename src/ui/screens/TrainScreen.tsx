import { useState } from 'react';
import { Box, Text } from 'ink';
import { checkForm, checkMoreKeys, cycleChoice, defaultText, TRAIN_FIELDS, type FieldSpec } from '../../core/trainform.js';
import { modelTrainValues } from '../../core/models.js';
import { TYPE_KEYS } from '../keys.js';
import { mixShares, type DatasetWeight } from '../../core/mix.js';
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
import type { TrainParams, TrainPlan } from '../source.js';
import { splitEnvCommand } from '../view.js';
import type { ScreenProps } from './types.js';
import { useGpuState } from '../gpu-context.js';
import { effectiveBatchText, gpuChoices, processesFor } from '../../core/distributed.js';

const CHOICE_KEYS = ['model', 'profile', 'gpus', 'datasets'] as const;
/** The row for keys the form has no row for, written as `--set` takes them: `key=value key=value`. */
const MORE = 'more';
const FIELD_KEYS = [...TRAIN_FIELDS.map((f) => f.key), MORE];
const SPEC = new Map<string, FieldSpec>(TRAIN_FIELDS.map((f) => [f.key, f]));
/** Wide enough to show the form and the plan side by side. */
const WIDE = 150;
const FORM_W = 96;

function cycle<T>(items: readonly T[], current: T | undefined, step: 1 | -1): T | undefined {
  if (items.length === 0) return undefined;
  const i = current === undefined ? -1 : items.indexOf(current);
  return items[((i < 0 ? 0 : i + step) % items.length + items.length) % items.length];
}

function mixText(ds: readonly DatasetWeight[]): string {
  if (ds.length === 1) return ds[0]!.name;
  return mixShares(ds).map((d) => `${d.name} ${Math.round(d.share * 100)}%`).join(' + ');
}

/** Train: model, datasets, profile and the main parameters, checked as you type; pre-flight; launch. */
export function TrainScreen({ width, height }: ScreenProps) {
  const { source } = useUi();
  const theme = useTheme();
  const { state, dispatch } = useAppState();
  const models = usePoll('listModels', () => source.listModels(), [], 'once');
  const datasets = usePoll('listDatasets', () => source.listDatasets(), [], 'once');
  const profiles = usePoll('listProfiles', () => source.listProfiles(), [], 'once');
  // The same defaults as `medtune train`: medtune.yaml, else the profile that fits this machine's GPUs.
  const defaults = usePoll('trainDefaults', () => source.trainDefaults(), [], 'once').data;
  const plan = useTask('plan');
  const launch = useTask('launch');
  const [focus, setFocus] = useState(0);
  const [showPlan, setShowPlan] = useState(false);
  const [yamlTop, setYamlTop] = useState(0);
  // The GPU row shows only where there is a choice to make (two GPUs or more).
  const gpuState = useGpuState();
  const hostGpus = gpuState.mode === 'gpu' ? (gpuState.samples[gpuState.samples.length - 1]?.gpus.length ?? 0) : 0;
  const choiceKeys = CHOICE_KEYS.filter((k) => k !== 'gpus' || hostGpus > 1);
  const KEYS = [...choiceKeys, ...FIELD_KEYS];
  const gpus = hostGpus > 1 ? state.draft.gpus : undefined;

  const modelNames = (models.data ?? []).map((m) => m.name);
  const defaultModel = defaults ? modelNames.find((n) => n === defaults.model || defaults.model.endsWith(`/${n}`)) : undefined;
  const model = state.draft.model ?? defaultModel ?? modelNames[0] ?? null;
  const profileList = profiles.data ?? [];
  const profile = profileList.find((p) => p.name === (state.draft.profile ?? defaults?.profile)) ?? profileList[0];
  const datasetNames = (datasets.data ?? []).map((d) => d.name);
  const defaultSets = (defaults?.datasets ?? []).filter((d) => datasetNames.includes(d)).map((name) => ({ name, weight: 1 }));
  const dsets = state.draft.datasets.length > 0 ? state.draft.datasets : defaultSets.length ? defaultSets : datasetNames[0] ? [{ name: datasetNames[0], weight: 1 }] : [];

  const text = (key: string): string => {
    const typed = state.draft.texts[key];
    if (typed !== undefined) return typed;
    // The model's own values (the tiny model's rank and rate) over the profile's, as `medtune train` layers them.
    const spec = SPEC.get(key);
    return spec ? defaultText(spec, { ...(profile?.defaults ?? {}), ...(model ? modelTrainValues(model) : {}) }) : '';
  };
  const form = checkForm(Object.fromEntries(TRAIN_FIELDS.map((f) => [f.key, text(f.key)])));
  const more = checkMoreKeys(text(MORE), form.values);
  const formOk = Object.keys(form.errors).length === 0 && more.ok;
  const params: TrainParams | null = model && profile && dsets.length > 0 && formOk
    ? { model, profile: profile.name, datasets: dsets, overrides: { ...form.values, ...more.values }, ...(gpus ? { gpus } : {}) }
    : null;
  const tag = params ? JSON.stringify(params) : null;
  const planState = plan.state;
  const planFresh = !!planState && planState.tag === tag;
  const planDone: TrainPlan | undefined = planFresh && planState.status === 'done' ? planState.result : undefined;

  const focusedKey = KEYS[Math.min(focus, KEYS.length - 1)]!;
  const spec = SPEC.get(focusedKey);
  const edit = useTextEdit({
    keys: KEYS,
    isText: (k) => k === MORE || SPEC.get(k)?.type !== undefined && SPEC.get(k)?.type !== 'enum',
    focus,
    setFocus,
    get: text,
    update: (key, fn) => dispatch({ type: 'draftText', key, update: (old) => fn(old ?? text(key)) }),
  });

  const choose = (step: 1 | -1) => {
    if (focusedKey === 'model') dispatch({ type: 'draft', patch: { model: cycle(modelNames, model ?? undefined, step) ?? null } });
    else if (focusedKey === 'profile') dispatch({ type: 'draft', patch: { profile: cycle(profileList.map((p) => p.name), profile?.name, step) ?? null } });
    else if (focusedKey === 'gpus') {
      const options = gpuChoices(hostGpus);
      const i = options.indexOf(gpus);
      dispatch({ type: 'draft', patch: { gpus: options[(((i < 0 ? 0 : i + step) % options.length) + options.length) % options.length] } });
    } else if (focusedKey === 'datasets') {
      const next = cycle(datasetNames, dsets.length === 1 ? dsets[0]!.name : undefined, step);
      if (next) dispatch({ type: 'draft', patch: { datasets: [{ name: next, weight: 1 }] } });
    } else if (spec?.type === 'enum') dispatch({ type: 'draftText', key: spec.key, update: () => cycleChoice(spec, text(spec.key), step) });
  };
  const isChoice = (choiceKeys as readonly string[]).includes(focusedKey) || spec?.type === 'enum';
  // processes × batch × accumulation, as the plan will launch it (one process per chosen GPU).
  const effective = formOk ? effectiveBatchText(processesFor(gpus, hostGpus), form.values) : null;
  const runPlan = () => {
    if (!params) return;
    plan.start('pre-flight', (onProgress, signal) => source.planTrain(params, onProgress, signal), {
      tag: tag!,
      onDone: () => {
        setShowPlan(true);
        setYamlTop(0);
      },
    });
  };

  const wide = width >= WIDE;
  // While the plan covers the form (narrow terminals), the form's keys would act on fields nobody sees.
  const formKeys = wide || !showPlan || !planDone;
  const planVisible = !!planDone && (wide || showPlan);
  const planW = wide ? width - FORM_W - 1 : width;
  const planH = wide ? height : height - 2;
  const yamlLines = planDone ? planDone.yaml.trimEnd().split('\n') : [];
  const yamlRows = planDone ? yamlRowsFor(planDone, planH) : 0;
  const maxTop = Math.max(0, yamlLines.length - yamlRows);
  const top = Math.min(yamlTop, maxTop);
  // Digits and a sign typed on a focused number field start a new value; other rows leave them to screen numbers.
  const typeable = formKeys && !!spec && spec.type !== 'enum';
  const typing = Object.fromEntries(TYPE_KEYS.map((k) => [`type:${k}`, typeable ? () => edit.typeInto(focusedKey, k) : null]));
  useKeys('train', edit.editing ? edit.handlers : {
    ...typing,
    up: formKeys ? () => setFocus((focus - 1 + KEYS.length) % KEYS.length) : null,
    down: formKeys ? () => setFocus((focus + 1) % KEYS.length) : null,
    edit: formKeys && !isChoice ? () => edit.begin(focusedKey) : null,
    prevChoice: formKeys && isChoice ? () => choose(-1) : null,
    nextChoice: formKeys && isChoice ? () => choose(1) : null,
    preflight: params && !plan.running ? runPlan : null,
    toggleView: !wide && planDone ? () => setShowPlan(!showPlan) : null,
    launch: params && planDone?.ok && !launch.running ? () => {
      launch.start('launching the run', () => source.startTrain(params), { onDone: (r) => dispatch({ type: 'openRun', id: r.runId }) });
    } : null,
    reset: Object.keys(state.draft.texts).length > 0 ? () => dispatch({ type: 'draftReset' }) : null,
    scrollUp: planVisible && top > 0 ? () => setYamlTop(Math.max(0, top - Math.max(1, yamlRows - 1))) : null,
    scrollDown: planVisible && top < maxTop ? () => setYamlTop(Math.min(maxTop, top + Math.max(1, yamlRows - 1))) : null,
  }, edit.capture);

  const formW = wide ? FORM_W : width;
  const loadError = models.error ?? datasets.error ?? profiles.error;
  // Until the first reads answer, "none" and "fix the fields" would be wrong: nothing is known yet.
  const reading = (loading: boolean, value: string | null | undefined) => value ?? (loading ? 'reading…' : 'none');
  const status = (
    <Box flexDirection="column" flexShrink={0}>
      {loadError ? <ErrorLines error={loadError} maxLines={3} /> : null}
      {launch.state ? <TaskView task={launch.state} width={formW} done={(r) => <Text color={theme.ok}>✓ launched {r.runId}</Text>} /> : null}
      {planState && planFresh
        ? <TaskView task={planState} width={formW} done={(r) => (
          <Text color={r.ok ? theme.ok : theme.error} bold>
            {r.ok ? `✓ pre-flight passed (${r.checks.length} checks) · L launches` : `✗ pre-flight failed: ${r.checks.filter((c) => c.level === 'fail').map((c) => c.name).join(', ')}`}
            {wide ? '' : ' · v shows the plan'}
          </Text>
        )} />
        : <Text dimColor>{params ? (planState ? 'the parameters changed: press p for a new pre-flight' : 'press p for a pre-flight (config, dataset, VRAM, disk), then L to launch') : models.loading || datasets.loading || profiles.loading ? 'reading models, datasets and profiles…' : !model ? 'no model yet: build the tiny one with the demo (d on Home) or `medtune model tiny`' : dsets.length === 0 ? 'no dataset yet: prepare one on the Data screen (2)' : 'fix the fields in red'}</Text>}
    </Box>
  );
  const formView = (
    <Box flexDirection="column" width={formW}>
      <Section title="New training run" right={profile ? `profile ${profile.name}` : undefined}>
        <FormRow label="model" value={reading(models.loading, model)} choice focused={focus === 0} editing={false} help={(models.data ?? []).find((m) => m.name === model)?.path} />
        <FormRow label="profile" value={reading(profiles.loading, profile?.name)} choice focused={focus === 1} editing={false} help={profile?.description} />
        {hostGpus > 1 ? (
          <FormRow label="GPUs" value={gpus === undefined ? `all ${hostGpus}` : gpus} choice focused={KEYS[focus] === 'gpus'} editing={false}
            help={`effective batch ${effective ?? '?'} · one process per GPU`} />
        ) : null}
        <FormRow label="datasets" value={reading(datasets.loading, dsets.length ? mixText(dsets) : null)} choice focused={KEYS[focus] === 'datasets'} editing={false} valueWidth={Math.max(22, formW - 22)} />
        {TRAIN_FIELDS.map((f) => (
          <FormRow key={f.key} label={f.label} value={text(f.key)} choice={f.type === 'enum'} focused={KEYS[focus] === f.key} editing={edit.editing === f.key}
            error={form.errors[f.key]} help={f.key === 'gradient_accumulation_steps' && effective ? `${f.help} (now ${effective})` : f.help} />
        ))}
        <FormRow label="more keys" value={text(MORE)} focused={KEYS[focus] === MORE} editing={edit.editing === MORE} valueWidth={36}
          error={more.ok ? undefined : more.message} help="any other LLaMA-Factory key, as --set takes it: key=value key=value (enter to edit)" />
      </Section>
      {status}
    </Box>
  );
  const planView = planDone ? <PlanView plan={planDone} width={planW} height={planH} yaml={yamlLines} top={top} rows={yamlRows} /> : null;
  if (wide) {
    return (
      <Box width={width} height={height}>
        {formView}
        <Text> </Text>
        {planView ?? <Box flexDirection="column"><Text dimColor>the pre-flight plan shows here</Text></Box>}
      </Box>
    );
  }
  return (
    <Box flexDirection="column" width={width} height={height}>
      {showPlan && planView ? planView : formView}
      {showPlan && planView ? status : null}
    </Box>
  );
}

/** Rows a check list takes: one per check, plus one for the advice of each that did not pass. */
function checkRows(plan: TrainPlan): number {
  return plan.checks.reduce((n, c) => n + (c.next && c.level !== 'ok' ? 2 : 1), 0);
}

const COMMAND_ROWS = 3;
/** The scale line (processes × batch × accumulation) above the command. */
const SCALE_ROWS = 1;

/** The checks get up to a third of the plan's rows. */
function checkRowsShown(plan: TrainPlan, height: number): number {
  return Math.max(1, Math.min(checkRows(plan), Math.floor(height / 3)));
}

/** What is left for the YAML once the checks, the command and three headings have their rows. */
function yamlRowsFor(plan: TrainPlan, height: number): number {
  return Math.max(3, height - checkRowsShown(plan, height) - COMMAND_ROWS - (plan.scale ? SCALE_ROWS : 0) - 3);
}

/** Pre-flight checks, the command, and the YAML that will be launched (scrolled to `top`). */
function PlanView({ plan, width, height, yaml, top, rows }: { plan: TrainPlan; width: number; height: number; yaml: readonly string[]; top: number; rows: number }) {
  const shown = yaml.slice(top, top + rows);
  const cmd = splitEnvCommand(plan.command);
  return (
    <Box flexDirection="column" width={width}>
      <Section title="Pre-flight">
        <CheckList checks={plan.checks} maxRows={checkRowsShown(plan, height)} />
      </Section>
      {plan.scale ? <Text wrap="truncate-end">{plan.scale}</Text> : null}
      <Section title="Command">
        <Box height={COMMAND_ROWS} flexDirection="column" overflow="hidden">
          <Box height={1} flexShrink={0}><Text wrap="truncate-middle">{cmd.command.join(' ')}</Text></Box>
          {cmd.env.length ? <Box flexShrink={1} overflow="hidden"><Text dimColor>with {cmd.env.join(' ')}</Text></Box> : null}
        </Box>
      </Section>
      <Section title="train.yaml" right={yaml.length > rows ? `lines ${top + 1}-${top + shown.length} of ${yaml.length}` : undefined}>
        {shown.map((l, i) => <Text key={top + i} wrap="truncate-end">{l}</Text>)}
      </Section>
    </Box>
  );
}
