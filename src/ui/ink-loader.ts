/**
 * Ink decides once, when it is first imported, whether it runs in a CI (CI or CONTINUOUS_INTEGRATION set to
 * anything but "0"/"false"), and there it draws nothing until the app exits. medtune opens its screens only on
 * a real terminal, where a CI variable inherited from a shell, a CI job driving tmux or a test harness must
 * not leave the screen blank. So the modules that bring Ink in are loaded with those variables hidden; they
 * are put back as soon as the load ends, for everything the TUI starts later.
 */
const CI_VARS = ['CI', 'CONTINUOUS_INTEGRATION'] as const;

export async function loadForTerminal<T>(load: () => Promise<T>): Promise<T> {
  const saved = CI_VARS.map((k) => [k, process.env[k]] as const);
  for (const [k] of saved) delete process.env[k];
  try {
    return await load();
  } finally {
    for (const [k, v] of saved) if (v !== undefined) process.env[k] = v;
  }
}

const ENTER_ALT = '\x1b[?1049h\x1b[H';
const LEAVE_ALT = '\x1b[?1049l';

/**
 * Runs `fn` on the terminal's alternate screen (when stdout is a terminal) and always puts the normal screen back:
 * on return, on a throw, and if the process exits meanwhile.
 */
export async function onAlternateScreen<T>(stdout: NodeJS.WriteStream, fn: () => Promise<T>): Promise<T> {
  const alt = !!stdout.isTTY;
  let left = false;
  const leave = () => {
    if (alt && !left) stdout.write(LEAVE_ALT);
    left = true;
  };
  if (alt) stdout.write(ENTER_ALT);
  process.once('exit', leave);
  try {
    return await fn();
  } finally {
    leave();
    process.off('exit', leave);
  }
}
