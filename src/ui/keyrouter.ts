/**
 * Routes every key press of the app to one handler. Screens register the actions they handle now (their
 * layer); the newest layer wins, then the global keys. A layer may capture text (a field being edited):
 * it then gets every key that is not an editing action, and global keys such as `q` are typed, not obeyed.
 *
 * Keys that arrive together (a paste, tmux send-keys, key repeat) are handled one at a time: the next key
 * waits until React has committed what the previous one changed (a new focus, an edit mode) and the screens
 * have registered their fresh handlers, so no key meets stale handlers. A key that changes nothing lets the
 * next one through after COMMIT_WAIT_MS.
 */
import type { Key } from 'ink';
import { findBinding, KEYMAP, keyIs, type Scope } from './keys.js';

export type Handler = () => void;
/** Actions a screen handles at the moment; a missing or falsy entry means "not now" (dimmed in help). */
export type Handlers = Readonly<Record<string, Handler | false | null | undefined>>;
export type TextCapture = (input: string, key: Key) => void;

interface Layer {
  id: number;
  scope: Scope;
  handlers: Handlers;
  capture: TextCapture | null;
}

export interface KeySnapshot {
  /** The scope whose keys the bar shows. */
  scope: Scope;
  enabled: readonly string[];
  globalEnabled: readonly string[];
  /** True while a layer captures text or is modal: global keys are off. */
  modal: boolean;
}

const MODAL: readonly Scope[] = ['help', 'confirm', 'edit'];
const COMMIT_WAIT_MS = 30;

function enabledOf(h: Handlers): string[] {
  return Object.entries(h)
    .filter(([, f]) => typeof f === 'function')
    .map(([a]) => a);
}

const NO_KEY: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

/**
 * Ink hands over text that arrived in one piece (a paste, scripted input) as one event, Enter and Tab
 * included. Routed whole it would match no key, so it becomes one key press per character.
 */
export function splitKeys(input: string, key: Key): Array<[string, Key]> {
  if (input.length <= 1 || key.ctrl || key.meta || input.includes('\u001b')) return [[input, key]];
  return [...input].map((ch): [string, Key] => {
    if (ch === '\r' || ch === '\n') return ['\r', { ...NO_KEY, return: true }];
    if (ch === '\t') return ['', { ...NO_KEY, tab: true }];
    if (ch === '\u007f' || ch === '\b') return ['', { ...NO_KEY, delete: ch === '\u007f', backspace: ch === '\b' }];
    const code = ch.charCodeAt(0);
    // Ctrl+letter arrives as the control codes 1..26, which Ink reports as the letter with ctrl.
    if (code >= 1 && code <= 26) return [String.fromCharCode(code + 96), { ...NO_KEY, ctrl: true }];
    return [ch, { ...NO_KEY, shift: /[A-Z]/.test(ch) }];
  });
}

export class KeyRouter {
  private layers: Layer[] = [];
  private global: Handlers = {};
  private listeners = new Set<() => void>();
  private nextId = 1;
  private snapshot: KeySnapshot = { scope: 'global', enabled: [], globalEnabled: [], modal: false };
  private queue: Array<[string, Key]> = [];
  private draining = false;
  /** The key (by count) whose commit the queue waits for, and the fallback timer. */
  private waitingFor: number | null = null;
  private routed = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  setGlobal(handlers: Handlers): void {
    this.global = handlers;
    this.refresh();
  }

  add(): number {
    const id = this.nextId++;
    this.layers.push({ id, scope: 'global', handlers: {}, capture: null });
    return id;
  }

  set(id: number, scope: Scope, handlers: Handlers, capture: TextCapture | null): void {
    const layer = this.layers.find((l) => l.id === id);
    if (!layer) return;
    layer.scope = capture ? 'edit' : scope;
    layer.handlers = handlers;
    layer.capture = capture;
    this.refresh();
    this.committed();
  }

  remove(id: number): void {
    this.layers = this.layers.filter((l) => l.id !== id);
    this.refresh();
    this.committed();
  }

  dispatch(input: string, key: Key): void {
    this.queue.push(...splitKeys(input, key));
    if (!this.draining) this.drain();
  }

  private drain(): void {
    const next = this.queue.shift();
    if (!next) {
      this.draining = false;
      return;
    }
    this.draining = true;
    const n = ++this.routed;
    this.waitingFor = n;
    try {
      this.route(next[0], next[1]);
    } finally {
      this.timer = setTimeout(() => this.advance(n), COMMIT_WAIT_MS);
    }
  }

  /** A layer was (re)registered, i.e. React committed: the queue may move on once the commit settles. */
  private committed(): void {
    const n = this.waitingFor;
    if (n === null) return;
    this.waitingFor = null;
    setImmediate(() => this.advance(n));
  }

  private advance(n: number): void {
    if (n !== this.routed || !this.draining) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.waitingFor = null;
    // Marks key n as done so the timer and the commit cannot both move the queue on.
    this.routed++;
    this.drain();
  }

  /** Forgets queued keys and timers (on exit). */
  dispose(): void {
    this.queue = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.draining = false;
  }

  private route(input: string, key: Key): void {
    if (keyIs('ctrl-c', input, key)) {
      const quit = this.global.quit;
      if (typeof quit === 'function') quit();
      return;
    }
    const top = this.layers[this.layers.length - 1];
    if (top) {
      const has = (a: string) => typeof top.handlers[a] === 'function';
      const b = findBinding(KEYMAP[top.scope], input, key, has);
      if (b) {
        (top.handlers[b.action] as Handler)();
        return;
      }
      if (top.capture) {
        top.capture(input, key);
        return;
      }
      if (MODAL.includes(top.scope)) return;
    }
    const g = findBinding(KEYMAP.global, input, key, (a) => typeof this.global[a] === 'function');
    if (g) (this.global[g.action] as Handler)();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): KeySnapshot => this.snapshot;

  private refresh(): void {
    const top = this.layers[this.layers.length - 1];
    const next: KeySnapshot = {
      scope: top?.scope ?? 'global',
      enabled: top ? enabledOf(top.handlers) : [],
      globalEnabled: enabledOf(this.global),
      modal: !!top && (MODAL.includes(top.scope) || !!top.capture),
    };
    const same =
      next.scope === this.snapshot.scope &&
      next.modal === this.snapshot.modal &&
      next.enabled.join() === this.snapshot.enabled.join() &&
      next.globalEnabled.join() === this.snapshot.globalEnabled.join();
    if (same) return;
    this.snapshot = next;
    for (const l of this.listeners) l();
  }
}
