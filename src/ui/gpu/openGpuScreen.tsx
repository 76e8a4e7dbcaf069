/** Opens the GPU screen on the real terminal: alternate screen, a frame rate bounded to the data's. */
import type { GpuScreenProps } from './GpuScreen.js';
import { loadForTerminal } from '../ink-loader.js';

const ENTER_ALT = '\x1b[?1049h\x1b[H';
const LEAVE_ALT = '\x1b[?1049l';

export async function openGpuScreen(props: GpuScreenProps, stdout: NodeJS.WriteStream = process.stdout): Promise<void> {
  const [{ render }, { GpuScreen }] = await loadForTerminal(() => Promise.all([import('ink'), import('./GpuScreen.js')]));
  const alt = !!stdout.isTTY;
  let left = false;
  const leave = () => {
    if (alt && !left) stdout.write(LEAVE_ALT);
    left = true;
  };
  if (alt) stdout.write(ENTER_ALT);
  process.once('exit', leave);
  try {
    // Samples come at most a few times a second; more frames would only redraw the same numbers.
    const app = render(<GpuScreen {...props} />, { stdout, maxFps: 4, incrementalRendering: false });
    await app.waitUntilExit();
  } finally {
    leave();
    process.off('exit', leave);
  }
}
