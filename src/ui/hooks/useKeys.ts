import { useLayoutEffect, useRef, useSyncExternalStore } from 'react';
import type { Scope } from '../keys.js';
import type { Handlers, KeySnapshot, TextCapture } from '../keyrouter.js';
import { useUi } from '../context.js';

/**
 * Binds this component's handlers to the actions of `scope` in the key map. With `capture`, the component
 * edits text: keys that are not `edit` actions go to it.
 */
export function useKeys(scope: Scope, handlers: Handlers, capture: TextCapture | null = null): void {
  const { router } = useUi();
  const id = useRef(0);
  useLayoutEffect(() => {
    id.current = router.add();
    return () => router.remove(id.current);
  }, [router]);
  // Handlers close over fresh state every render, so the layer is refreshed after each one.
  useLayoutEffect(() => {
    router.set(id.current, scope, handlers, capture);
  });
}

export function useKeySnapshot(): KeySnapshot {
  const { router } = useUi();
  return useSyncExternalStore(router.subscribe, router.getSnapshot);
}
