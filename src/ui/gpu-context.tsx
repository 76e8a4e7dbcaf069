/**
 * One GPU monitor for the whole TUI (one nvidia-smi child, one history), shared by the Home strip and the
 * run monitor. Tests give a fixed state instead of a live monitor.
 */
import { createContext, useContext, type ReactNode } from 'react';
import type { GpuMonitorOptions, GpuMonitorState } from '../runtime/gpu-monitor.js';
import { useGpuMonitor } from './gpu/useGpuMonitor.js';

const GpuContext = createContext<GpuMonitorState>({ mode: 'starting' });

export function useGpuState(): GpuMonitorState {
  return useContext(GpuContext);
}

export function LiveGpu({ options, children }: { options?: GpuMonitorOptions; children: ReactNode }) {
  const state = useGpuMonitor(options);
  return <GpuContext.Provider value={state}>{children}</GpuContext.Provider>;
}

export function FixedGpu({ state, children }: { state: GpuMonitorState; children: ReactNode }) {
  return <GpuContext.Provider value={state}>{children}</GpuContext.Provider>;
}

/** The live monitor, or `state` when one is given. */
export function GpuProvider({ state, options, children }: { state?: GpuMonitorState; options?: GpuMonitorOptions; children: ReactNode }) {
  return state ? <FixedGpu state={state}>{children}</FixedGpu> : <LiveGpu options={options}>{children}</LiveGpu>;
}
