/**
 * The one key map. Screens bind handlers to the actions named here, the bottom bar and the `?` overlay
 * print from here, so what the screen says and what the keys do cannot drift apart.
 */
import type { Key } from 'ink';

/** A key as written in the map: a single character, or one of the named keys below. */
export type KeyName =
  | 'up'
  | 'down'
  | 'left'
  | 'right'
  | 'enter'
  | 'esc'
  | 'tab'
  | 'shift-tab'
  | 'space'
  | 'backspace'
  | 'pgup'
  | 'pgdn'
  | 'ctrl-c'
  | 'ctrl-u'
  | (string & {});

export interface KeyBinding {
  action: string;
  keys: readonly KeyName[];
  /** One or two words for the bottom bar. */
  label: string;
  /** A sentence for the help overlay. */
  help: string;
  /** How the bar writes the keys, when it differs from the first key (e.g. "↑↓" for a pair). */
  barKeys?: string;
  /** False for keys that the bar leaves to the help overlay (the second of a pair, screen numbers). */
  bar?: boolean;
  /** The first of a pair (↑ for ↓): the bar shows that one while either of the two works. */
  pairOf?: string;
}

export const SCREENS = ['home', 'data', 'train', 'monitor', 'export', 'compare', 'ask', 'gpu'] as const;
export type ScreenId = (typeof SCREENS)[number];

export const SCREEN_TITLES: Record<ScreenId, string> = {
  home: 'Home',
  data: 'Data',
  train: 'Train',
  monitor: 'Run',
  export: 'Export',
  compare: 'Compare',
  ask: 'Ask',
  gpu: 'GPU',
};

export type Scope = ScreenId | 'global' | 'help' | 'edit' | 'confirm' | 'data-mix' | 'data-prepare' | 'data-preview' | 'ask-files';

/** Up/down movement; `vim` adds k/j where those letters are not taken by the screen. */
const move = (what: string, vim = true): KeyBinding[] => [
  { action: 'up', keys: vim ? ['up', 'k'] : ['up'], barKeys: '↑↓', label: what, help: `move up in the ${what} list` },
  { action: 'down', keys: vim ? ['down', 'j'] : ['down'], label: what, help: `move down in the ${what} list`, bar: false, pairOf: 'up' },
];

const dataViews: KeyBinding[] = [
  { action: 'nextView', keys: ['tab'], label: 'view', help: 'next view: datasets → preview → prepare → mix' },
  { action: 'prevView', keys: ['shift-tab'], label: 'prev view', help: 'previous view', bar: false, pairOf: 'nextView' },
];

/** Keys that start a value in a focused number field of a form. */
export const TYPE_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.', '-'] as const;

export const KEYMAP: Record<Scope, readonly KeyBinding[]> = {
  global: [
    ...SCREENS.map(
      (s, i): KeyBinding => ({
        action: `go:${s}`,
        keys: [String(i + 1)],
        label: SCREEN_TITLES[s],
        help: `open the ${SCREEN_TITLES[s]} screen`,
        bar: false,
      }),
    ),
    { action: 'back', keys: ['esc'], label: 'back', help: 'go back to the previous screen (runs keep going)' },
    { action: 'help', keys: ['?'], label: 'help', help: 'show every key of this screen' },
    { action: 'quit', keys: ['q', 'ctrl-c'], label: 'quit', help: 'leave medtune (runs keep going in the background)' },
  ],
  help: [{ action: 'close', keys: ['esc', '?', 'q'], label: 'close', help: 'close this help' }],
  edit: [
    { action: 'done', keys: ['enter'], label: 'done', help: 'keep what you typed' },
    { action: 'cancel', keys: ['esc'], label: 'cancel', help: 'put the old value back' },
    { action: 'next', keys: ['tab', 'down'], label: 'next field', help: 'keep it and edit the next field' },
    {
      action: 'prev',
      keys: ['shift-tab', 'up'],
      label: 'prev field',
      help: 'keep it and edit the previous field',
      bar: false,
      pairOf: 'next',
    },
    { action: 'clear', keys: ['ctrl-u'], label: 'clear', help: 'clear the field' },
  ],
  confirm: [
    { action: 'yes', keys: ['y'], label: 'yes', help: 'do it' },
    { action: 'no', keys: ['n', 'esc'], label: 'no', help: 'cancel' },
  ],
  home: [
    ...move('runs'),
    { action: 'open', keys: ['enter'], label: 'open run', help: 'watch the selected run' },
    { action: 'newRun', keys: ['n'], label: 'new run', help: 'set up a training run' },
    { action: 'demo', keys: ['d'], label: 'demo', help: 'run the demo: sample data, tiny model, a short training run' },
  ],
  data: [
    ...dataViews,
    ...move('datasets'),
    { action: 'check', keys: ['c'], label: 'check', help: 'check every row of the selected dataset (images, <image> tokens, roles)' },
  ],
  'data-preview': [
    ...dataViews,
    { action: 'prevSample', keys: ['left', 'h'], barKeys: '←→', label: 'sample', help: 'previous sample' },
    { action: 'nextSample', keys: ['right', 'l'], label: 'sample', help: 'next sample', bar: false, pairOf: 'prevSample' },
    ...move('datasets'),
  ],
  'data-prepare': [
    ...dataViews,
    ...move('fields'),
    { action: 'edit', keys: ['enter'], label: 'edit', help: 'edit the selected field' },
    { action: 'prevChoice', keys: ['left'], barKeys: '←→', label: 'source', help: 'previous source', bar: true },
    { action: 'nextChoice', keys: ['right'], label: 'source', help: 'next source', bar: false, pairOf: 'prevChoice' },
    { action: 'prepare', keys: ['p'], label: 'prepare', help: 'convert the source into a dataset entry' },
  ],
  'data-mix': [
    ...dataViews,
    ...move('datasets'),
    { action: 'toggle', keys: ['space'], label: 'include', help: 'include or leave out the selected dataset' },
    { action: 'more', keys: ['+', '='], barKeys: '+-', label: 'weight', help: 'raise the weight of the selected dataset' },
    { action: 'less', keys: ['-'], label: 'weight', help: 'lower the weight of the selected dataset', bar: false, pairOf: 'more' },
    { action: 'use', keys: ['u'], label: 'use for training', help: 'take this mix to the Train screen' },
  ],
  train: [
    ...move('fields'),
    ...TYPE_KEYS.map(
      (k, i): KeyBinding => ({
        action: `type:${k}`,
        keys: [k],
        barKeys: '0-9',
        label: 'type',
        help: 'start typing a new value into the selected number field (screen numbers work on the other rows)',
        ...(i > 0 ? { bar: false, pairOf: `type:${TYPE_KEYS[0]}` } : {}),
      }),
    ),
    { action: 'edit', keys: ['enter'], label: 'edit', help: 'edit the selected field (also: just type a number)' },
    { action: 'prevChoice', keys: ['left'], barKeys: '←→', label: 'choose', help: 'previous choice (model, profile, schedule…)' },
    { action: 'nextChoice', keys: ['right'], label: 'choose', help: 'next choice', bar: false, pairOf: 'prevChoice' },
    {
      action: 'preflight',
      keys: ['p'],
      label: 'pre-flight',
      help: 'check the config with LLaMA-Factory, the dataset, VRAM and disk; show YAML and command',
    },
    { action: 'toggleView', keys: ['v'], label: 'form/plan', help: 'switch between the form and the pre-flight plan' },
    { action: 'scrollUp', keys: ['pgup', 'u'], barKeys: 'pgup/dn', label: 'yaml', help: 'scroll the YAML up' },
    { action: 'scrollDown', keys: ['pgdn', 'd'], label: 'yaml', help: 'scroll the YAML down', bar: false, pairOf: 'scrollUp' },
    { action: 'launch', keys: ['L'], label: 'launch', help: 'start the run (after a pre-flight that passed)' },
    { action: 'reset', keys: ['R'], label: 'defaults', help: "put the profile's defaults back", bar: false },
  ],
  monitor: [
    ...move('runs', false),
    { action: 'open', keys: ['enter'], label: 'open', help: 'watch the selected run' },
    { action: 'stop', keys: ['s'], label: 'stop', help: 'stop gracefully: save at the next step, then end' },
    { action: 'kill', keys: ['k'], label: 'kill', help: "kill the run's process tree now (asks first)" },
    { action: 'resume', keys: ['r'], label: 'resume', help: 'resume from the latest checkpoint' },
    { action: 'export', keys: ['x'], label: 'export', help: 'merge and export this run' },
    { action: 'list', keys: ['esc'], label: 'all runs', help: 'back to the list of runs (the run keeps going)' },
  ],
  export: [
    ...move('fields'),
    { action: 'prevChoice', keys: ['left'], barKeys: '←→', label: 'choose', help: 'previous choice (run, checkpoint, device)' },
    { action: 'nextChoice', keys: ['right'], label: 'choose', help: 'next choice', bar: false, pairOf: 'prevChoice' },
    { action: 'edit', keys: ['enter'], label: 'edit', help: 'edit the selected field' },
    { action: 'export', keys: ['e'], label: 'export', help: 'merge the adapter into the base model, write it, verify it' },
  ],
  compare: [
    ...move('fields'),
    { action: 'prevChoice', keys: ['left'], barKeys: '←→', label: 'choose', help: 'previous choice (models, dataset)' },
    { action: 'nextChoice', keys: ['right'], label: 'choose', help: 'next choice', bar: false, pairOf: 'prevChoice' },
    { action: 'edit', keys: ['enter'], label: 'edit', help: 'edit the selected field' },
    { action: 'ask', keys: ['a'], label: 'ask both', help: 'ask the base and the tuned model about the chosen images' },
    { action: 'prevResult', keys: ['['], barKeys: '[]', label: 'answer', help: 'previous answer' },
    { action: 'nextResult', keys: [']'], label: 'answer', help: 'next answer', bar: false, pairOf: 'prevResult' },
  ],
  ask: [
    ...move('fields'),
    { action: 'prevChoice', keys: ['left'], barKeys: '←→', label: 'choose', help: 'previous choice (models, window)' },
    { action: 'nextChoice', keys: ['right'], label: 'choose', help: 'next choice', bar: false, pairOf: 'prevChoice' },
    { action: 'edit', keys: ['enter'], label: 'edit/pick', help: 'edit the selected field, or pick files for "images / scans"' },
    { action: 'ask', keys: ['a'], label: 'ask', help: 'ask the model(s) about the attached images; answers stream side by side' },
    { action: 'clearFiles', keys: ['c'], label: 'clear files', help: 'detach every image and scan' },
    { action: 'stop', keys: ['s'], label: 'stop', help: 'stop the answer being generated' },
  ],
  gpu: [
    ...move('processes', false),
    {
      action: 'terminate',
      keys: ['t', 'T'],
      label: 'term',
      help: "SIGTERM the selected process, if a run's own (asks first)",
    },
    {
      action: 'kill',
      keys: ['k', 'K'],
      label: 'kill',
      help: "SIGKILL the selected process, if a run's own (asks first)",
    },
    { action: 'open', keys: ['enter'], label: 'open run', help: 'watch the run the selected process belongs to' },
  ],
  'ask-files': [
    ...move('files'),
    { action: 'open', keys: ['enter'], label: 'open/attach', help: 'open a folder, or attach or detach a file' },
    {
      action: 'attach',
      keys: ['space'],
      label: 'attach',
      help: 'attach or detach the selected file or folder (a folder is a DICOM series or study)',
    },
    { action: 'parent', keys: ['backspace', 'left'], label: 'up', help: 'go to the parent folder' },
    { action: 'close', keys: ['esc', 'tab'], label: 'done', help: 'close the file picker' },
  ],
};

/** Whether one key press is the named key. */
export function keyIs(name: KeyName, input: string, key: Key): boolean {
  switch (name) {
    case 'up':
      return key.upArrow;
    case 'down':
      return key.downArrow;
    case 'left':
      return key.leftArrow;
    case 'right':
      return key.rightArrow;
    case 'enter':
      return key.return;
    case 'esc':
      return key.escape;
    case 'tab':
      return key.tab && !key.shift;
    case 'shift-tab':
      return key.tab && key.shift;
    case 'pgup':
      return key.pageUp;
    case 'pgdn':
      return key.pageDown;
    case 'space':
      return input === ' ' && !key.ctrl && !key.meta;
    // Terminals send either BS or DEL for the backspace key; Ink reports the second as `delete`.
    case 'backspace':
      return key.backspace || key.delete;
    case 'ctrl-c':
      return key.ctrl && input === 'c';
    case 'ctrl-u':
      return key.ctrl && input === 'u';
    default:
      return input === name && !key.ctrl && !key.meta;
  }
}

/** The first binding in `bindings` that the key press matches and that `enabled` accepts. */
export function findBinding(
  bindings: readonly KeyBinding[],
  input: string,
  key: Key,
  enabled: (action: string) => boolean,
): KeyBinding | undefined {
  return bindings.find((b) => enabled(b.action) && b.keys.some((k) => keyIs(k, input, key)));
}

const SYMBOLS: Record<string, string> = {
  up: '↑',
  down: '↓',
  left: '←',
  right: '→',
  enter: 'enter',
  esc: 'esc',
  tab: 'tab',
  'shift-tab': 'shift-tab',
  space: 'space',
  backspace: 'bksp',
  pgup: 'pgup',
  pgdn: 'pgdn',
  'ctrl-c': 'ctrl-c',
  'ctrl-u': 'ctrl-u',
};

export function keyLabel(name: KeyName): string {
  return SYMBOLS[name] ?? name;
}

/** How the bottom bar writes a binding's keys. */
export function barKeys(b: KeyBinding): string {
  return b.barKeys ?? keyLabel(b.keys[0]!);
}

/** Every key of a binding, for the help overlay: "↑ / k". */
export function allKeys(b: KeyBinding): string {
  return b.keys.map(keyLabel).join(' / ');
}
