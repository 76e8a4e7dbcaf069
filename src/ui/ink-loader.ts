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
