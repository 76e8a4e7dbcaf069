/** The key map, the key router and the task store: the parts of the TUI that are plain objects. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Key } from 'ink';
import { KEYMAP, keyIs, type Scope } from '../../src/ui/keys.js';
import { KeyRouter, splitKeys } from '../../src/ui/keyrouter.js';
import { barBindings, fitBar } from '../../src/ui/components/KeyBar.js';
import { TaskStore } from '../../src/ui/tasks.js';

const NO: Key = {
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
const k = (over: Partial<Key> = {}): Key => ({ ...NO, ...over });

describe('the key map', () => {
  it.each(Object.keys(KEYMAP) as Scope[])('%s binds each key to one action', (scope) => {
    const keys = KEYMAP[scope].flatMap((b) => b.keys);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each((Object.keys(KEYMAP) as Scope[]).filter((s) => !['global', 'help', 'edit', 'confirm'].includes(s)))(
    '%s leaves the global keys (screen numbers, ?, q) alone',
    (scope) => {
      const global = new Set(KEYMAP.global.filter((b) => b.action !== 'back').flatMap((b) => b.keys));
      // Digits typed on a focused number field of a form are its value; screen numbers work from every other row.
      const own = KEYMAP[scope].filter((b) => !b.action.startsWith('type:'));
      expect(own.flatMap((b) => b.keys).filter((key) => global.has(key))).toEqual([]);
    },
  );

  it.each([
    ['up', '', k({ upArrow: true }), true],
    ['enter', '\r', k({ return: true }), true],
    ['tab', '', k({ tab: true }), true],
    ['tab', '', k({ tab: true, shift: true }), false],
    ['shift-tab', '', k({ tab: true, shift: true }), true],
    ['backspace', '', k({ delete: true }), true],
    ['space', ' ', k(), true],
    ['ctrl-c', 'c', k({ ctrl: true }), true],
    ['c', 'c', k({ ctrl: true }), false],
    ['L', 'L', k({ shift: true }), true],
    ['l', 'L', k({ shift: true }), false],
  ])('keyIs(%s) for %j', (name, input, key, expected) => {
    expect(keyIs(name, input, key)).toBe(expected);
  });

  it('shows a pair in the bar while either half works', () => {
    const labels = (enabled: string[]) =>
      barBindings('compare', enabled, ['help', 'quit'], false).map((b) => `${b.barKeys ?? b.keys[0]} ${b.label}`);
    expect(labels(['nextResult'])).toEqual(['[] answer', '? help', 'q quit']);
    expect(labels(['prevResult', 'nextResult'])).toEqual(['[] answer', '? help', 'q quit']);
    expect(labels([])).toEqual(['? help', 'q quit']);
    expect(barBindings('help', ['close'], ['help', 'quit'], true).map((b) => b.label)).toEqual(['close']);
  });

  it('drops esc back before anything else when the bar is too long', () => {
    const all = barBindings('data-mix', ['nextView', 'up', 'toggle', 'more', 'use'], ['back', 'help', 'quit'], false);
    expect(all.map((b) => b.action)).toContain('back');
    expect(fitBar(all, 200)).toEqual(all);
    expect(fitBar(all, 80).map((b) => b.action)).toEqual(['nextView', 'up', 'toggle', 'more', 'use', 'help', 'quit']);
  });
});

describe('splitKeys', () => {
  it('splits text that arrived in one piece into key presses', () => {
    const keys = splitKeys('Ab\r\t\u007f\u0015', k());
    expect(keys.map(([input]) => input)).toEqual(['A', 'b', '\r', '', '', 'u']);
    expect(keys[0]![1].shift).toBe(true);
    expect(keys[2]![1].return).toBe(true);
    expect(keys[3]![1].tab).toBe(true);
    expect(keys[4]![1].delete).toBe(true);
    expect(keys[5]![1].ctrl).toBe(true);
  });
  it.each([['x'], ['\u001b[A']])('leaves %j alone', (input) => {
    expect(splitKeys(input, k())).toEqual([[input, k()]]);
  });
});

describe('KeyRouter', () => {
  // Without React nothing re-registers a layer, so each key waits out the router's short fallback.
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(cond()).toBe(true);
  };

  it('routes to the newest layer, then to the global keys; modal layers keep global keys out', async () => {
    const r = new KeyRouter();
    const calls: string[] = [];
    r.setGlobal({ quit: () => calls.push('quit'), 'go:data': () => calls.push('go:data') });
    const home = r.add();
    r.set(home, 'home', { demo: () => calls.push('demo'), open: null }, null);
    r.dispatch('d', k());
    r.dispatch('\r', k({ return: true }));
    r.dispatch('2', k());
    await until(() => calls.length === 2);
    expect(calls).toEqual(['demo', 'go:data']);
    const help = r.add();
    r.set(help, 'help', { close: () => calls.push('close') }, null);
    r.dispatch('2', k());
    r.dispatch('q', k());
    await until(() => calls.length === 3);
    await new Promise((res) => setTimeout(res, 50));
    expect(calls).toEqual(['demo', 'go:data', 'close']);
    expect(r.getSnapshot()).toMatchObject({ scope: 'help', modal: true, enabled: ['close'] });
    r.dispatch('c', k({ ctrl: true }));
    await until(() => calls.at(-1) === 'quit');
  });

  it('gives a capturing layer every key that is not an edit action', async () => {
    const r = new KeyRouter();
    const typed: string[] = [];
    let done = 0;
    r.setGlobal({ quit: () => typed.push('QUIT') });
    const id = r.add();
    r.set(id, 'train', { done: () => done++ }, (input) => typed.push(input));
    r.dispatch('q', k());
    r.dispatch('1', k());
    r.dispatch('\r', k({ return: true }));
    await until(() => done === 1);
    expect(typed).toEqual(['q', '1']);
    expect(done).toBe(1);
    expect(r.getSnapshot().scope).toBe('edit');
  });

  it('holds the next key until the layer is registered again (a commit), so it meets fresh handlers', async () => {
    const r = new KeyRouter();
    const seen: number[] = [];
    let focus = 0;
    const id = r.add();
    const register = () =>
      r.set(
        id,
        'train',
        {
          down: () => {
            seen.push(focus);
            focus++;
          },
        },
        null,
      );
    register();
    r.dispatch('', k({ downArrow: true }));
    r.dispatch('', k({ downArrow: true }));
    expect(seen).toEqual([0]);
    register();
    await new Promise((res) => setImmediate(res));
    expect(seen).toEqual([0, 1]);
  });
});

describe('TaskStore', () => {
  afterEach(() => vi.useRealTimers());

  it('tells listeners about progress at most once per flush period, and about the end at once', async () => {
    vi.useFakeTimers();
    const store = new TaskStore(100);
    let notified = 0;
    store.subscribe(() => notified++);
    let finish!: (v: { runId: string }) => void;
    let report!: (n: number) => void;
    expect(
      store.start('demo', 'demo', (onProgress) => {
        report = (n) => onProgress({ phase: 'p', done: n, total: 1000 });
        return new Promise((res) => {
          finish = res;
        });
      }),
    ).toBe(true);
    expect(store.get('demo')?.status).toBe('running');
    const afterStart = notified;
    for (let i = 0; i < 1000; i++) report(i);
    expect(notified).toBe(afterStart);
    expect(store.get('demo')?.progress).toBeNull();
    vi.advanceTimersByTime(100);
    expect(notified).toBe(afterStart + 1);
    expect(store.get('demo')?.progress?.done).toBe(999);
    expect(store.start('demo', 'again', async () => ({ runId: 'x' }))).toBe(false);
    finish({ runId: 'r1' });
    await vi.runAllTimersAsync();
    expect(store.get('demo')).toMatchObject({ status: 'done', result: { runId: 'r1' } });
  });

  it('records failures and cancellations, and starts again afterwards', async () => {
    const store = new TaskStore(1);
    store.start('export', 'x', async () => {
      throw new Error('boom');
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(store.get('export')).toMatchObject({ status: 'failed' });
    expect((store.get('export')!.error as Error).message).toBe('boom');
    store.start(
      'export',
      'y',
      (_p, signal) => new Promise((_res, rej) => signal.addEventListener('abort', () => rej(new Error('aborted')))),
    );
    store.cancel('export');
    await new Promise((r) => setTimeout(r, 5));
    expect(store.get('export')?.status).toBe('cancelled');
    store.clear('export');
    expect(store.get('export')).toBeUndefined();
  });
});
