import { useContext, useEffect, useMemo, useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { parseSlices, WINDOW_PRESET_NAMES } from '../../core/scans.js';
import { GREEDY, samplingProblem, type Sampling } from '../../core/serve.js';
import { cutMiddle, wrapWords } from '../../core/textfit.js';
import { newTranscript, withTurn, type Transcript, type TranscriptAnswer } from '../../core/transcript.js';
import { useTheme, useUi } from '../context.js';
import { useKeys } from '../hooks/useKeys.js';
import { useTextEdit } from '../hooks/useTextEdit.js';
import { Section } from '../components/Section.js';
import { FormRow } from '../components/FormRow.js';
import { ErrorLines } from '../components/ErrorLines.js';
import { HalfBlockImage } from '../components/HalfBlockImage.js';
import { SelectList } from '../components/SelectList.js';
import type { ScreenProps } from '../screens/types.js';
import { AskSourceContext, type AskSource, type AskTarget, type DirListing, type PreparedImages } from './source.js';
import { createRuntimeAskSource } from './runtime-ask.js';

const KEYS = ['a', 'b', 'files', 'window', 'slices', 'question', 'temperature', 'topP'];
const TEXT_KEYS = ['slices', 'question', 'temperature', 'topP'];
const NO_IMAGES: PreparedImages = { images: [], notes: [], previews: [] };

/** The sampling fields as numbers, or what is wrong with them. */
function readSampling(texts: Record<string, string>): { ok: true; sampling: Sampling } | { ok: false; key: keyof Sampling; problem: string } {
  const num = (k: string, d: number) => (texts[k]?.trim() ? Number(texts[k]) : d);
  const sampling = { temperature: num('temperature', GREEDY.temperature), topP: num('topP', GREEDY.topP) };
  const bad = samplingProblem(sampling);
  return bad ? { ok: false, ...bad } : { ok: true, sampling };
}
const WINDOWS = ['auto', ...WINDOW_PRESET_NAMES];

interface Pane {
  label: string;
  text: string;
  status: 'waiting' | 'answering' | 'done' | 'failed';
  note: string;
}

const sources = new Map<string, AskSource>();

/** The context's source (tests), else one runtime source per workspace. */
function useAskSource(): AskSource {
  const given = useContext(AskSourceContext);
  const { source } = useUi();
  const root = source.info().root;
  return useMemo(() => {
    if (given) return given;
    let s = sources.get(root);
    if (!s) {
      s = createRuntimeAskSource(root);
      sources.set(root, s);
    }
    return s;
  }, [given, root]);
}

const cycle = (i: number, n: number, s: 1 | -1) => (n === 0 ? 0 : (i + s + n) % n);

/** Ask: one or two models about attached images or scans, answers streamed side by side, kept as a transcript. */
export function AskScreen({ width, height }: ScreenProps) {
  const theme = useTheme();
  const src = useAskSource();
  const [targets, setTargets] = useState<AskTarget[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [pick, setPick] = useState({ a: 0, b: 0, window: 0 });
  const [texts, setTexts] = useState<Record<string, string>>({
    slices: 'middle',
    question: '',
    temperature: String(GREEDY.temperature),
    topP: String(GREEDY.topP),
  });
  const [focus, setFocus] = useState(0);
  const [files, setFiles] = useState<string[]>([]);
  const [picker, setPicker] = useState<{ listing: DirListing | null; selected: number } | null>(null);
  const [prepared, setPrepared] = useState<PreparedImages | null>(null);
  const [prepError, setPrepError] = useState<unknown>(null);
  const [preparing, setPreparing] = useState(false);
  const [panes, setPanes] = useState<Pane[]>([]);
  const [busy, setBusy] = useState(false);
  const [transcript, setTranscript] = useState<Transcript>(() => newTranscript(new Date().toISOString()));
  const [saved, setSaved] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    src.listTargets().then(setTargets, setLoadError);
    return () => abort.current?.abort();
  }, [src]);

  const all = targets ?? [];
  const a = all[Math.min(pick.a, all.length - 1)];
  // Model B is optional: index 0 is "none".
  const bChoices: (AskTarget | null)[] = [null, ...all];
  const b = bChoices[Math.min(pick.b, bChoices.length - 1)] ?? null;
  const windowName = WINDOWS[pick.window]!;
  const slices = parseSlices(texts.slices);
  const sampling = readSampling(texts);
  const question = (texts.question ?? '').trim();

  // Attachments and scan settings → what the models receive (scans converted), with previews.
  useEffect(() => {
    if (!files.length || !slices.ok) {
      setPrepared(null);
      setPreparing(false);
      setPrepError(null);
      return;
    }
    const ctl = new AbortController();
    setPreparing(true);
    setPrepError(null);
    src.prepare(files, { window: windowName, slices: texts.slices ?? 'middle' }, ctl.signal).then(
      (p) => {
        if (ctl.signal.aborted) return;
        setPrepared(p);
        setPreparing(false);
      },
      (err) => {
        if (ctl.signal.aborted) return;
        setPrepared(null);
        setPrepError(err);
        setPreparing(false);
      },
    );
    return () => ctl.abort();
  }, [src, files, windowName, texts.slices, slices.ok]);

  const openDir = (dir: string | null) => src.listDir(dir).then((listing) => setPicker({ listing, selected: 0 }), setLoadError);

  // No attachment: a question about text alone.
  const ready = files.length ? prepared : NO_IMAGES;
  const runAsk = async () => {
    if (!a || !ready || !sampling.ok) return;
    const chosen = [a, ...(b ? [b] : [])];
    const ctl = new AbortController();
    abort.current = ctl;
    setBusy(true);
    setSaved(null);
    setPanes(chosen.map((t) => ({ label: t.label, text: '', status: 'waiting', note: t.served ? 'served' : 'loading the model' })));
    const q = { images: ready.images, question, sampling: sampling.sampling };
    const answers: TranscriptAnswer[] = [];
    // One model after the other: two models loading at once would only compete for the same memory and cores.
    for (const [i, t] of chosen.entries()) {
      const set = (fn: (p: Pane) => Pane) => setPanes((ps) => ps.map((p, j) => (j === i ? fn(p) : p)));
      set((p) => ({ ...p, status: 'answering' }));
      try {
        const r = await src.ask(t.ref, q, (piece) => set((p) => ({ ...p, text: p.text + piece })), ctl.signal);
        const note = `${r.seconds.toFixed(1)} s on ${r.device}${r.cut ? ', cut at the token limit' : ''}`;
        set((p) => ({ ...p, text: `${r.answer || p.text}${r.cut ? '…' : ''}`, status: 'done', note }));
        answers.push({ model: t.label, answer: r.answer, seconds: r.seconds, device: r.device });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        set((p) => ({ ...p, status: 'failed', note: message }));
        answers.push({ model: t.label, answer: '', seconds: 0, device: '', error: message });
      }
      if (ctl.signal.aborted) break;
    }
    const next = withTurn(transcript, { at: new Date().toISOString(), question, images: ready.images, notes: ready.notes, answers });
    setTranscript(next);
    src.saveTranscript(next).then(setSaved, setLoadError);
    setBusy(false);
  };

  const edit = useTextEdit({
    keys: KEYS,
    isText: (k) => TEXT_KEYS.includes(k),
    focus,
    setFocus,
    get: (k) => texts[k] ?? '',
    update: (k, fn) => setTexts((t) => ({ ...t, [k]: fn(t[k] ?? '') })),
  });
  const key = KEYS[focus]!;
  const counts: Record<string, number> = { a: all.length, b: bChoices.length, window: WINDOWS.length };
  const choose = (s: 1 | -1) => setPick((p) => ({ ...p, [key]: cycle(p[key as keyof typeof p], counts[key] ?? 0, s) }));
  const canAsk = !!a && !!ready && sampling.ok && question !== '' && !busy && !preparing;

  const entries = picker?.listing?.entries ?? [];
  const sel = entries[Math.min(picker?.selected ?? 0, Math.max(0, entries.length - 1))];
  const toggle = (path: string) => setFiles((f) => (f.includes(path) ? f.filter((x) => x !== path) : [...f, path]));
  // One key layer: the picker's keys while it is open, the form's otherwise.
  useKeys(picker ? 'ask-files' : 'ask', picker ? {
    up: () => setPicker((p) => p && { ...p, selected: cycle(p.selected, entries.length, -1) }),
    down: () => setPicker((p) => p && { ...p, selected: cycle(p.selected, entries.length, 1) }),
    open: sel ? () => (sel.kind === 'dir' ? void openDir(sel.path) : toggle(sel.path)) : null,
    attach: sel && sel.kind !== 'other' ? () => toggle(sel.path) : null,
    parent: picker.listing?.parent ? () => void openDir(picker.listing!.parent) : null,
    close: () => setPicker(null),
  } : edit.editing ? edit.handlers : {
    up: () => setFocus(cycle(focus, KEYS.length, -1)),
    down: () => setFocus(cycle(focus, KEYS.length, 1)),
    prevChoice: (counts[key] ?? 0) > 1 ? () => choose(-1) : null,
    nextChoice: (counts[key] ?? 0) > 1 ? () => choose(1) : null,
    edit: key === 'files' ? () => void openDir(files.length ? files[files.length - 1]!.replace(/\/[^/]*$/, '') : null) : TEXT_KEYS.includes(key) ? () => edit.begin(key) : null,
    ask: canAsk ? () => void runAsk() : null,
    clearFiles: files.length && !busy ? () => setFiles([]) : null,
    stop: busy ? () => abort.current?.abort() : null,
  }, picker ? null : edit.capture);

  // The model rows widen with the screen; a label that still does not fit is cut in its middle (‹ › take 4).
  const modelW = Math.max(30, Math.min(60, width - 44));
  const formH = KEYS.length + 1;
  const lowerH = Math.max(4, height - formH - 1);
  const fileLabel = files.length ? `${files.length} file${files.length > 1 ? 's' : ''}: ${files.map((f) => f.split('/').pop()).join(', ')}` : 'none (enter: pick)';
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Section title="Ask" right={b ? 'two models, the same question, side by side' : 'a model about images or scans'}>
        <FormRow label="model" value={a ? cutMiddle(a.label, modelW - 4) : targets ? 'no model yet' : 'loading…'} choice focused={focus === 0} editing={false} valueWidth={modelW} help={a?.served ? 'a running `medtune serve` answers' : 'loaded for each question'} />
        <FormRow label="second model" value={b ? cutMiddle(b.label, modelW - 4) : 'none'} choice focused={focus === 1} editing={false} valueWidth={modelW} help="e.g. the base beside the tuned model" />
        <FormRow label="images / scans" value={fileLabel} focused={focus === 2} editing={false} valueWidth={30} help="DICOM files or folders, NIfTI, PNG, JPEG; none: ask about text alone" />
        <FormRow label="window" value={windowName} choice focused={focus === 3} editing={false} valueWidth={30} help="CT window for scans (auto: the file's own)" />
        <FormRow label="slices" value={texts.slices ?? ''} focused={focus === 4} editing={edit.editing === 'slices'} valueWidth={30} error={slices.ok ? undefined : slices.problem} help="middle, N, N,M or even:K" />
        <FormRow label="question" value={texts.question ?? ''} focused={focus === 5} editing={edit.editing === 'question'} valueWidth={Math.max(30, width - 24)} />
        <FormRow label="temperature" value={texts.temperature ?? ''} focused={focus === 6} editing={edit.editing === 'temperature'} valueWidth={30} error={!sampling.ok && sampling.key === 'temperature' ? sampling.problem : undefined} help="0: greedy, the same answer every time; up to 2: sampled" />
        <FormRow label="top-p" value={texts.topP ?? ''} focused={focus === 7} editing={edit.editing === 'topP'} valueWidth={30} error={!sampling.ok && sampling.key === 'topP' ? sampling.problem : undefined} help="with a temperature above 0: sample from the likeliest tokens adding up to p" />
      </Section>
      {loadError ? <ErrorLines error={loadError} maxLines={3} /> : null}
      <Box height={lowerH} flexDirection="column" overflow="hidden">
        {picker ? (
          <Section title="Files" right={picker.listing?.dir ?? ''}>
            <SelectList items={entries} selected={picker.selected} height={Math.max(2, lowerH - 1)} itemKey={(e) => e.path}
              renderItem={(e, on) => (
                <Text color={on ? theme.accent : undefined} wrap="truncate-end">
                  {files.includes(e.path) ? '✓ ' : '  '}{e.kind === 'dir' ? `${e.name}/` : e.name}<Text dimColor>{e.kind === 'scan' ? '  scan' : e.kind === 'other' ? '  –' : ''}</Text>
                </Text>
              )} />
          </Section>
        ) : (
          <Box flexDirection="column">
            <Box height={Math.min(10, Math.max(3, Math.floor(lowerH / 2)))} overflow="hidden">
              {prepared?.previews.length ? (
                <Box flexShrink={0} width={Math.min(24, Math.floor(width / 4)) + 1}>
                  <HalfBlockImage image={prepared.previews[0]!} maxCols={Math.min(24, Math.floor(width / 4))} maxRows={Math.min(10, Math.max(3, Math.floor(lowerH / 2)))} />
                </Box>
              ) : null}
              <Box flexDirection="column" flexShrink={1}>
                {preparing ? <Text dimColor>converting…</Text> : null}
                {prepError ? <ErrorLines error={prepError} maxLines={3} /> : null}
                {prepared ? <Text dimColor wrap="truncate-end">the model receives {prepared.images.length} image{prepared.images.length === 1 ? '' : 's'}</Text> : null}
                {(prepared?.notes ?? []).map((n, i) => <Text key={i} dimColor wrap="truncate-end">{n}</Text>)}
                {saved ? <Text dimColor wrap="truncate-end">transcript: {saved}</Text> : null}
              </Box>
            </Box>
            <Box flexGrow={1} overflow="hidden">
              {panes.length ? panes.map((p, i) => (
                <Box key={i} flexDirection="column" width={Math.floor(width / panes.length)} paddingRight={1} overflow="hidden">
                  <Text wrap="truncate-end"><Text bold underline color={i === 0 ? theme.accent : theme.ok}>{p.label}</Text><Text dimColor> {p.status === 'answering' ? '…' : p.note}</Text></Text>
                  {wrapWords(p.status === 'failed' ? p.note : p.text.trim() || (p.status === 'waiting' ? 'waiting' : p.status === 'done' ? '(no answer)' : ''), Math.floor(width / panes.length) - 1).map((line, j) => (
                    <Text key={j} color={p.status === 'failed' ? theme.error : undefined} wrap="truncate-end">{line}</Text>
                  ))}
                </Box>
              )) : <Text dimColor>{canAsk ? 'press a to ask' : 'pick a model, attach images or scans, write a question'}</Text>}
            </Box>
          </Box>
        )}
      </Box>
    </Box>
  );
}
