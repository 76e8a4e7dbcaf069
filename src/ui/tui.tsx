/**
 * Opens the TUI on the real terminal: alternate screen, bounded frame rate, keys from stdin.
 * Leaving (q, Ctrl-C, or the process ending) always puts the terminal back as it was.
 */
import { themeFromEnv } from './theme.js';
import { loadForTerminal, onAlternateScreen } from './ink-loader.js';
import type { WorkspaceSource } from './source.js';
import type { ScreenId } from './keys.js';
import type { GpuMonitorOptions } from '../runtime/gpu-monitor.js';

export interface OpenTuiOptions {
  source: WorkspaceSource;
  initialScreen?: ScreenId;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  env?: NodeJS.ProcessEnv;
  /** What the GPU panels watch: the workspace's going runs' processes are marked as the run's (app/gpu.ts). */
  gpuOptions?: GpuMonitorOptions;
}

export async function openTui(opts: OpenTuiOptions): Promise<void> {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  const [{ render }, { App }] = await loadForTerminal(() => Promise.all([import('ink'), import('./App.js')]));
  await onAlternateScreen(stdout, async () => {
    try {
      const app = render(<App source={opts.source} theme={themeFromEnv(opts.env)} initialScreen={opts.initialScreen} gpuOptions={opts.gpuOptions} />, {
        stdout,
        stdin,
        // q and Ctrl-C go through the key map, so tasks are cancelled before Ink lets go of the terminal.
        exitOnCtrlC: false,
        patchConsole: true,
        maxFps: 10,
        incrementalRendering: false,
      });
      await app.waitUntilExit();
    } finally {
      await opts.source.close();
    }
  });
}
