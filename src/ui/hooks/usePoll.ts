import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { useUi } from '../context.js';

export interface Polled<T> {
  data: T | undefined;
  error: unknown;
  /** True until the first answer for the current key arrives (a cached answer counts). */
  loading: boolean;
  /** Reads again now (after an action), without waiting for the next tick. */
  refresh: () => void;
}

type Key = string | number | boolean | null | undefined;

interface Slot<T> {
  key: string;
  data: T | undefined;
  error: unknown;
  done: boolean;
}

/**
 * Reads `load()` now and then again `intervalMs` after each answer (the UI's poll rate by default;
 * `'slow'` five times slower, for what rarely changes; `'once'` reads once per key and mount). Reads never overlap and never block a render; an answer for an
 * old key is dropped. A failed read keeps the last good data and reports the error beside it.
 * The last answer for `name` + key is kept app-wide, so coming back to a screen shows it at once.
 */
export function usePoll<T>(
  name: string,
  load: () => Promise<T>,
  key: readonly Key[] = [],
  intervalMs?: number | 'slow' | 'once',
): Polled<T> {
  const { pollMs, cache } = useUi();
  const every = intervalMs === 'once' ? null : intervalMs === 'slow' ? pollMs * 5 : (intervalMs ?? pollMs);
  const k = [name, ...key.map(String)].join('\u0000');
  const loadRef = useRef(load);
  useLayoutEffect(() => {
    loadRef.current = load;
  });
  const fromCache = (): Slot<T> =>
    cache.has(k)
      ? { key: k, data: cache.get(k) as T, error: undefined, done: true }
      : { key: k, data: undefined, error: undefined, done: false };
  const [slot, setSlot] = useState<Slot<T>>(fromCache);
  const [nudge, setNudge] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: nudge is not read inside; refresh() bumps it to read again now
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const data = await loadRef.current();
        if (!alive) return;
        cache.set(k, data);
        setSlot({ key: k, data, error: undefined, done: true });
      } catch (error) {
        if (!alive) return;
        setSlot((s) => ({ key: k, data: s.key === k ? s.data : undefined, error, done: true }));
      }
      if (alive && every !== null) timer = setTimeout(() => void run(), every);
    };
    void run();
    return () => {
      alive = false;
      if (timer) clearTimeout(timer);
    };
  }, [k, every, nudge, cache]);

  const refresh = useCallback(() => setNudge((n) => n + 1), []);
  const current = slot.key === k ? slot : fromCache();
  return { data: current.data, error: current.error, loading: !current.done, refresh };
}
