import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrainerLogReader, parseTrainerLog } from '../../src/core/trainerlog.js';
import { followFile, readAll, readHeadTail, type FollowEvent, type Follower } from '../../src/runtime/follow.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let dir: string;
let file: string;
const followers: Follower[] = [];

/** A follower driven by explicit polls only (no chokidar, no timer in the way), recording what it sends. */
function follow(opts: Parameters<typeof followFile>[2] = {}) {
  const events: FollowEvent[] = [];
  const f = followFile(file, (e) => events.push(e), { watch: false, pollMs: 3_600_000, ...opts });
  followers.push(f);
  const text = () => events.map((e) => (e.type === 'data' ? e.text : e.type === 'reset' ? `<${e.reason}>` : '')).join('');
  return { f, events, text };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'medtune-follow-'));
  file = join(dir, 'trainer_log.jsonl');
});

afterEach(async () => {
  await Promise.all(followers.splice(0).map((f) => f.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('followFile', () => {
  it('waits for a file that does not exist yet, then reads it as it grows', async () => {
    const { f, text, events } = follow();
    await f.poll();
    expect(events).toEqual([]);
    writeFileSync(file, 'one\n');
    await f.poll();
    appendFileSync(file, 'two\nthr');
    await f.poll();
    appendFileSync(file, 'ee\n');
    await f.poll();
    expect(text()).toBe('one\ntwo\nthree\n');
    expect(f.offset).toBe(14);
  });

  it('lines mode delivers complete lines only, a partial one once finished', async () => {
    writeFileSync(file, 'a\r\nb');
    const { f, events } = follow({ lines: true });
    await f.poll();
    appendFileSync(file, 'c\nd');
    await f.poll();
    appendFileSync(file, '\n');
    await f.poll();
    expect(events).toEqual([
      { type: 'lines', lines: ['a'] },
      { type: 'lines', lines: ['bc'] },
      { type: 'lines', lines: ['d'] },
    ]);
  });

  it('notices truncation and reads the file again from the start', async () => {
    writeFileSync(file, 'x'.repeat(100));
    const { f, text } = follow();
    await f.poll();
    truncateSync(file, 0);
    appendFileSync(file, 'new\n');
    await f.poll();
    expect(text()).toBe(`${'x'.repeat(100)}<truncated>new\n`);
  });

  it('notices a file deleted and written again (overwrite_output_dir)', async () => {
    writeFileSync(file, 'old 1\nold 2\n');
    const { f, text } = follow();
    await f.poll();
    unlinkSync(file);
    await f.poll();
    writeFileSync(file, 'new 1\n');
    await f.poll();
    expect(text()).toBe('old 1\nold 2\n<deleted>new 1\n');
  });

  it('notices a file replaced between two looks (renamed over)', async () => {
    writeFileSync(file, 'first version, long enough\n');
    const { f, text } = follow();
    await f.poll();
    writeFileSync(join(dir, 'tmp'), 'second version, longer than the first one\n');
    renameSync(join(dir, 'tmp'), file);
    await f.poll();
    expect(text()).toBe('first version, long enough\n<replaced>second version, longer than the first one\n');
  });

  it('notices the same file rewritten with other content, even when it grew past the old offset', async () => {
    writeFileSync(file, 'AAAAAAAAAA');
    const { f, text } = follow();
    await f.poll();
    writeFileSync(file, 'B'.repeat(30));
    await f.poll();
    expect(text()).toBe(`AAAAAAAAAA<replaced>${'B'.repeat(30)}`);
  });

  it('never splits a UTF-8 character', async () => {
    const bytes = Buffer.from('███ 48/48 100%\n');
    writeFileSync(file, bytes.subarray(0, 2));
    const { f, text } = follow();
    await f.poll();
    appendFileSync(file, bytes.subarray(2, 4));
    await f.poll();
    appendFileSync(file, bytes.subarray(4));
    await f.poll();
    expect(text()).toBe('███ 48/48 100%\n');
    expect(text()).not.toContain('\uFFFD');
  });

  it('fromEnd skips what the file already holds', async () => {
    writeFileSync(file, 'history\n');
    const { f, text } = follow({ fromEnd: true });
    await f.poll();
    appendFileSync(file, 'live\n');
    await f.poll();
    expect(text()).toBe('live\n');
  });

  it("follows on chokidar's events alone (no poll for an hour)", async () => {
    writeFileSync(file, 'start\n');
    const events: FollowEvent[] = [];
    const f = followFile(file, (e) => events.push(e), { pollMs: 3_600_000 });
    followers.push(f);
    const text = () => events.map((e) => (e.type === 'data' ? e.text : '')).join('');
    await waitFor(() => text() === 'start\n', 'the initial read');
    // chokidar needs a moment after start before it reports changes; keep appending until one is seen.
    let n = 0;
    await waitFor(() => {
      if (!text().includes('more')) appendFileSync(file, `more ${n++}\n`);
      return text().includes('more');
    }, 'a change event');
    expect(text().startsWith('start\nmore 0\n')).toBe(true);
  });

  it('the slow poll alone catches a file created later in a folder created later', async () => {
    const nested = join(dir, 'output', 'trainer_log.jsonl');
    const events: FollowEvent[] = [];
    const f = followFile(nested, (e) => events.push(e), { pollMs: 50, watch: false });
    followers.push(f);
    mkdirSync(join(dir, 'output'));
    writeFileSync(nested, 'hello\n');
    await waitFor(() => events.some((e) => e.type === 'data' && e.text === 'hello\n'), 'the poll to find the file');
  });

  it('sends nothing after close()', async () => {
    writeFileSync(file, 'a\n');
    const { f, events } = follow();
    await f.poll();
    await f.close();
    appendFileSync(file, 'b\n');
    await f.poll();
    expect(events).toEqual([{ type: 'data', text: 'a\n' }]);
  });

  it('feeds a TrainerLogReader the way LLaMA-Factory writes, through a restart with overwrite_output_dir', async () => {
    const resume = readFileSync(join(FIX, 'resume', 'output', 'trainer_log.jsonl'), 'utf8');
    const evalLog = readFileSync(join(FIX, 'eval', 'output', 'trainer_log.jsonl'), 'utf8');
    const reader = new TrainerLogReader();
    const f = followFile(file, (e) => (e.type === 'data' ? reader.feed(e.text) : e.type === 'reset' ? reader.reset() : undefined), {
      watch: false,
      pollMs: 3_600_000,
    });
    followers.push(f);
    // Written in uneven pieces, polled in between: half lines are held back, never lost.
    for (let i = 0; i < resume.length; i += 173) {
      appendFileSync(file, resume.slice(i, i + 173));
      await f.poll();
    }
    expect(reader.result()).toEqual(parseTrainerLog(resume));
    unlinkSync(file);
    await f.poll();
    writeFileSync(file, evalLog);
    await f.poll();
    expect(reader.result()).toEqual(parseTrainerLog(evalLog));
  });
});

describe('readAll and readHeadTail', () => {
  it('readAll: the text, or null when missing', async () => {
    expect(await readAll(file)).toBeNull();
    writeFileSync(file, 'abc');
    expect(await readAll(file)).toBe('abc');
  });

  it('readHeadTail: the whole of a small file, head + tail of a large one', async () => {
    expect(await readHeadTail(file, 4, 4)).toBeNull();
    writeFileSync(file, '0123456');
    expect(await readHeadTail(file, 4, 4)).toEqual({ text: '0123456', size: 7, skipped: 0 });
    writeFileSync(file, '0123456789abcdef');
    expect(await readHeadTail(file, 4, 4)).toEqual({ text: '0123\ncdef', size: 16, skipped: 8 });
  });
});
