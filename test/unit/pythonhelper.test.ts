/**
 * runHelper checks a helper's result against the caller's schema. The "Python" here is a shell script that speaks
 * the NDJSON protocol, so the check runs without a venv.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MedtuneError } from '../../src/core/errors.js';
import { runHelper } from '../../src/runtime/pythonhelper.js';
import type { Venv } from '../../src/runtime/venv.js';

let tmp: string;
let venv: Venv;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'medtune-helper-'));
  const python = join(tmp, 'python');
  await writeFile(
    python,
    [
      '#!/bin/sh',
      'echo \'{"event":"progress","phase":"working","done":1,"total":2}\'',
      'echo \'{"event":"result","answer":"CT","tokens":3}\'',
      '',
    ].join('\n'),
  );
  await chmod(python, 0o755);
  venv = {
    dir: tmp,
    python,
    bin: tmp,
    hash: 'test',
    marker: { hash: 'test', python, pythonVersion: '3.12', createdAt: '', seconds: 0, packages: {} },
  };
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('runHelper(name, args, schema)', () => {
  const Answer = z.object({ answer: z.string(), tokens: z.number() });

  it('resolves with the result parsed by the schema, after relaying the events', async () => {
    const events: string[] = [];
    const r = await runHelper('any', [], Answer, {
      venv,
      doing: 'asking',
      stderrFile: join(tmp, 'a.log'),
      onEvent: (e) => events.push(e.event),
    });
    expect(r).toEqual({ answer: 'CT', tokens: 3 });
    expect(events).toEqual(['progress', 'result']);
  });

  it('rejects a result of another shape with HELPER_PROTOCOL, naming the field', async () => {
    const err = await runHelper('any', [], z.object({ answer: z.number() }), {
      venv,
      doing: 'asking',
      stderrFile: join(tmp, 'b.log'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MedtuneError);
    expect(err).toMatchObject({ code: 'HELPER_PROTOCOL', doing: 'asking' });
    expect((err as MedtuneError).problem).toMatch(/helper any returned an unexpected result: answer: /);
  });
});
