/** What medtune tells a person about a run that ended early, what `latest` means per verb, and an export's name. */
import { describe, expect, it } from 'vitest';
import { continueLines, defaultExportName, latestStatuses } from '../../src/core/run.js';

describe('continueLines: only commands that work from what the run left', () => {
  it.each([
    [
      'stopped before the first checkpoint, adapter saved at the stop',
      { checkpoint: null, adapter: '/w/runs/r1/output' },
      [
        'adapter saved: /w/runs/r1/output',
        'no checkpoint to resume from',
        'continue with:  medtune train --from r1',
        'or:  medtune export r1',
      ],
      ['medtune resume'],
    ],
    [
      'a checkpoint and an adapter',
      { checkpoint: '/w/runs/r1/output/checkpoint-500', adapter: '/w/runs/r1/output' },
      ['resumable checkpoint: /w/runs/r1/output/checkpoint-500', 'continue with:  medtune resume r1', 'or:  medtune train --from r1'],
      [],
    ],
    [
      'killed before anything was saved',
      { checkpoint: null, adapter: null },
      ['no adapter was saved', 'continue with:  medtune train   (a new run)'],
      ['medtune resume', '--from', 'medtune export'],
    ],
  ])('%s', (_what, leaves, has, hasNot) => {
    const text = continueLines('r1', leaves).join('\n');
    for (const h of has) expect(text).toContain(h);
    for (const h of hasNot) expect(text).not.toContain(h);
  });
});

it.each([
  ['eval', ['completed']],
  ['export', ['completed']],
  ['ask', ['completed']],
  ['compare', ['completed']],
  ['status', null],
  ['attach', null],
  ['stop', null],
  ['resume', null],
])('latest for %s takes %j', (verb, statuses) => expect(latestStatuses(verb)).toEqual(statuses));

it.each([
  ['r1', null, 'r1'],
  ['r1', undefined, 'r1'],
  ['r1', 200, 'r1-ckpt200'],
])('defaultExportName(%s, %s) = %s', (id, ckpt, name) => expect(defaultExportName(id, ckpt)).toBe(name));
