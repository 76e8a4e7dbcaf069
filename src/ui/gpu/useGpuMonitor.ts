/** A live GpuMonitor for the life of a component. */
import { useEffect, useRef, useState } from 'react';
import { gpuMonitor } from '../../app/gpu.js';
import type { GpuMonitorOptions, GpuMonitorState } from '../../runtime/gpu-monitor.js';

/**
 * Starts a monitor on mount and stops it (and its nvidia-smi child) on unmount. Options are read once; give
 * the component a new `key` to watch with other options (pass `ownPids` as a function to follow a process
 * tree that grows). The state changes once per sample, so re-renders follow the sample rate.
 */
export function useGpuMonitor(options: GpuMonitorOptions = {}): GpuMonitorState {
  const initial = useRef(options);
  const [state, setState] = useState<GpuMonitorState>({ mode: 'starting' });
  useEffect(() => {
    const monitor = gpuMonitor(initial.current);
    const off = monitor.subscribe(setState);
    void monitor.start();
    return () => {
      off();
      void monitor.stop();
    };
  }, []);
  return state;
}
