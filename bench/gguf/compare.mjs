// What quantisation costs: the same held-out questions asked of an export's f16 and q8_0 GGUF files through
// llama.cpp (`medtune ask gguf:NAME/TYPE`, greedy), scored by the modality each answer names against the
// reference caption's, and compared answer by answer.
//
//   node bench/gguf/compare.mjs WORKSPACE EXPORT_NAME [DATASET_VAL_JSONL] [TYPES=f16,q8_0]
//
// Prints one JSON object (per-type modality accuracy, identical answers, seconds per answer); the numbers and the
// machine are recorded in bench/results/gguf.md. Needs `npm run build` (it imports dist/).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const { answerModality, labelModality, scoreModalities } = await import(join(root, 'dist', 'core', 'modality.js'));
const [ws, name, valArg, typesArg] = process.argv.slice(2);
if (!ws || !name) {
  console.error('usage: node bench/gguf/compare.mjs WORKSPACE EXPORT_NAME [VAL_JSONL] [TYPES]');
  process.exit(2);
}
const types = (typesArg ?? 'f16,q8_0').split(',');
const valFile = valArg ?? join(ws, 'data', 'medtrinity-sample', 'val.jsonl');
const rows = readFileSync(valFile, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const dataDir = join(ws, 'data');

// One list per position, so that `f16,f16` measures llama.cpp's run-to-run agreement (the noise floor).
const out = types.map(() => []);
for (const row of rows) {
  const user = row.messages
    .find((m) => m.role === 'user')
    .content.replace('<image>', '')
    .trim();
  const label = row.messages.find((m) => m.role === 'assistant').content;
  for (const [k, t] of types.entries()) {
    const started = Date.now();
    const stdout = execFileSync(
      process.execPath,
      [
        join(root, 'bin', 'medtune.js'),
        '-w',
        ws,
        'ask',
        `gguf:${name}/${t}`,
        '--image',
        join(dataDir, row.images[0]),
        '--max-new-tokens',
        '64',
        '--json',
        user,
      ],
      { encoding: 'utf8' },
    );
    const r = JSON.parse(stdout.slice(stdout.search(/^\{/m)));
    out[k].push({ answer: r.answer, label, seconds: (Date.now() - started) / 1000, llamaSeconds: r.seconds });
  }
}
const report = { workspace: ws, export: name, questions: rows.length, types: {} };
for (const [k, t] of types.entries()) {
  const s = scoreModalities(out[k].map((a) => ({ expected: labelModality(a.label), predicted: answerModality(a.answer) })));
  report.types[`${k + 1}:${t}`] = {
    modalityAccuracy: s.accuracy,
    correct: s.correct,
    scored: s.scored,
    chance: s.chance,
    llamaSecondsPerAnswer: out[k].reduce((a, b) => a + b.llamaSeconds, 0) / out[k].length,
  };
}
if (types.length > 1) {
  const [a, b] = out;
  const words = (x) => x.split(/\s+/).filter(Boolean);
  const common = (x, y) => {
    let n = 0;
    while (n < Math.min(x.length, y.length) && x[n] === y[n]) n++;
    return n;
  };
  report.identicalAnswers = a.filter((x, i) => x.answer === b[i].answer).length;
  report.meanCommonPrefixWords = a.reduce((s, x, i) => s + common(words(x.answer), words(b[i].answer)), 0) / a.length;
  report.differing = a
    .map((x, i) => ({ first: x.answer, second: b[i].answer }))
    .filter((d) => d.first !== d.second)
    .slice(0, 3);
}
console.log(JSON.stringify(report, null, 2));
