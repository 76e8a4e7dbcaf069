/** Opens the GPU screen on the real terminal: alternate screen, a frame rate bounded to the data's. */
import type { GpuScreenProps } from './GpuScreen.js';
import { loadForTerminal, onAlternateScreen } from '../ink-loader.js';

export async function openGpuScreen(props: GpuScreenProps, stdout: NodeJS.WriteStream = process.stdout): Promise<void> {
  const [{ render }, { GpuScreen }] = await loadForTerminal(() => Promise.all([import('ink'), import('./GpuScreen.js')]));
  await onAlternateScreen(stdout, async () => {
    // Samples come at most a few times a second; more frames would only redraw the same numbers.
    const app = render(<GpuScreen {...props} />, { stdout, maxFps: 4, incrementalRendering: false });
    await app.waitUntilExit();
  });
}
