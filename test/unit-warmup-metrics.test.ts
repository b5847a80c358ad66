// The start's /metrics warm-up (src/metrics/warmup.ts warmMetrics, through a scratch HealthManager,
// src/health/scratch.ts): the first real scrape after it runs the scrape's code as compiled, V8
// deoptimising none of collectors.ts's functions. Measured in a fresh process
// (test/helpers/metrics-deopt-child.ts: V8's feedback is per process), by the deoptimisations V8
// reports (--trace-deopt-verbose, set after the warm-ups): a count, no timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./helpers/metrics-deopt-child.js', import.meta.url));

/** The deoptimisations located in collectors.ts during one child's first scrape (reason, function, place). */
function deoptsInCollectors(): string[] {
  const out = execFileSync(process.execPath, [CHILD, '500'], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
  assert.match(out, /\{"done":true\}/, 'the child ran to its end');
  // Each deoptimisation: a "[bailout ... <JSFunction NAME" line, then ";;; deoptimize at <FILE:L:C> inlined at <...>".
  const lines = out.split('\n');
  const ours: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('[bailout')) continue;
    const at = lines.slice(i + 1, i + 3).find((l) => l.includes(';;; deoptimize at')) ?? '';
    if (/metrics\/collectors\.js/.test(at)) ours.push(`${/reason: [^)]*/.exec(lines[i]!)?.[0]} in ${/<JSFunction [^ ]*/.exec(lines[i]!)?.[0]} ${at.trim().replace(/file:\/\/\S*\/dist\//g, '')}`);
  }
  return ours;
}

test('after the start\'s warm-ups, the first /metrics of 500 services x 4 servers checked by a HealthManager deoptimises no function of collectors.ts (before: gather and checkedNamesOf deoptimised at the health lists\' walks and compiled again inside the scrape: 3-8 deoptimisations there, a slice of 7-10 ms at 10,000 x 4)', (t) => {
  // V8 compiles on a thread of its own: on a loaded host (a CI run) a child saw one deoptimisation
  // (renderFamily: "wrong feedback cell", code compiled before the warm-up's last scrape). Up to three
  // children, each a fresh process: the warm-up that leaves the scrape's code unfit fails every one
  // (before: 2-5 in each).
  let ours: string[] = [];
  for (let child = 1; child <= 3; child++) {
    ours = deoptsInCollectors();
    if (ours.length === 0) return;
    t.diagnostic(`child ${child}: ${ours.length} deoptimisations in collectors.ts: ${ours.join('; ')}`);
  }
  assert.equal(ours.length, 0, `${ours.length} deoptimisations in collectors.ts during the first scrape, in each of three processes:\n${ours.join('\n')}`);
});
