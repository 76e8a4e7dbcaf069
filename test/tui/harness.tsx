/**
 * Renders the TUI into a fake terminal of a chosen size (ink-testing-library's is fixed at 100 columns
 * with no rows) and reads back what a person would see: the last frame without colour codes.
 */
import { EventEmitter } from 'node:events';
import type { ReactElement } from 'react';
import { render } from 'ink';
import { App, type AppProps } from '../../src/ui/App.js';
import { COLOR_THEME } from '../../src/ui/theme.js';
import { gpuState } from './fake-source.js';

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007]*\u0007/g;

class FakeStdout extends EventEmitter {
  frames: string[] = [];
  isTTY = false;
  constructor(public columns: number, public rows: number) {
    super();
  }
  write = (frame: string): boolean => {
    this.frames.push(frame);
    return true;
  };
  resize(columns: number, rows: number): void {
    this.columns = columns;
    this.rows = rows;
    this.emit('resize');
  }
}

class FakeStdin extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  write(data: string): void {
    this.data = data;
    this.emit('readable');
    this.emit('data', data);
  }
  read = (): string | null => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

export const KEY = {
  up: '\u001b[A',
  down: '\u001b[B',
  right: '\u001b[C',
  left: '\u001b[D',
  enter: '\r',
  esc: '\u001b',
  tab: '\t',
  shiftTab: '\u001b[Z',
  backspace: '\u007f',
  ctrlC: '\u0003',
  ctrlU: '\u0015',
  pageUp: '\u001b[5~',
  pageDown: '\u001b[6~',
} as const;

export interface Tui {
  /** The last frame as plain text. */
  screen: () => string;
  /** The last frame with colour codes. */
  raw: () => string;
  press: (...keys: string[]) => Promise<void>;
  /** Waits until the screen contains `text` (or the predicate holds); fails with the screen on timeout. */
  waitFor: (what: string | RegExp | ((screen: string) => boolean), timeoutMs?: number) => Promise<string>;
  resize: (columns: number, rows: number) => void;
  unmount: () => void;
  exited: () => boolean;
}

export interface RenderOptions {
  columns?: number;
  rows?: number;
}

export function renderTree(tree: ReactElement, { columns = 80, rows = 24 }: RenderOptions = {}): Tui {
  const stdout = new FakeStdout(columns, rows);
  const stdin = new FakeStdin();
  let done = false;
  const inst = render(tree, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  void inst.waitUntilExit().then(() => {
    done = true;
  });
  const raw = () => stdout.frames[stdout.frames.length - 1] ?? '';
  const screen = () => raw().replace(ANSI, '');
  const tick = () => new Promise<void>((r) => setTimeout(r, 5));
  const waitFor: Tui['waitFor'] = async (what, timeoutMs = 3000) => {
    const test = typeof what === 'function' ? what : (s: string) => (typeof what === 'string' ? s.includes(what) : what.test(s));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (test(screen())) return screen();
      await tick();
    }
    throw new Error(`timed out waiting for ${String(what)}; the screen was:\n${screen()}`);
  };
  return {
    screen,
    raw,
    press: async (...keys) => {
      for (const k of keys) {
        stdin.write(k);
        await tick();
      }
    },
    waitFor,
    resize: (c, r) => stdout.resize(c, r),
    unmount: () => inst.unmount(),
    exited: () => done,
  };
}

/** The whole app on a fake source and a fixed GPU, with fast polling so tests do not wait a second per read. */
export function renderApp(props: Partial<AppProps> & Pick<AppProps, 'source'>, opts?: RenderOptions): Tui {
  return renderTree(<App theme={COLOR_THEME} pollMs={20} flushMs={5} gpu={gpuState()} {...props} />, opts);
}
