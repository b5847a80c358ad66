// test-class: shared
// Golden packet cases (test/golden/*.ts, one file per case or family): for every case, run the
// setup verbs through the control API, feed each step's frame, and compare what comes out byte for
// byte (decoded field by field on mismatch), the drop reason, counter deltas and the number of
// connection entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { decode, fromHex } from './helpers/frames.js';
import { assertFrame, delta, rig } from './helpers/harness.js';
import type { GoldenCase } from './golden/lab.js';
import { parseIp } from '../src/datapath/addr.js';
import { STATE_NAMES } from '../src/datapath/tcpstate.js';
import { setLaddrStart } from '../src/modes/laddr.js';

// The FULLNAT cases name the local ports: allocation from the range's first port (uvsd begins at a random one).
setLaddrStart(0);

const dir = new URL('./golden/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'lab.js').sort();
const cases: GoldenCase[] = [];
for (const f of files) {
  const mod = (await import(new URL(f, dir).href)) as { default: GoldenCase | GoldenCase[] };
  cases.push(...[mod.default].flat());
}

test('golden: every case file contributes cases, and case names are unique', () => {
  assert.ok(files.length >= 8, `case files found: ${files.join(', ')}`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
});

function runCase(c: GoldenCase): void {
  const r = rig({ gateway: c.gateway });
  for (const call of c.setup) r.ctl.call(call.verb, call.args);
  if (c.gateway !== undefined) r.dp.resolve(parseIp(c.gateway));
  for (const n of c.neighbours) r.learn(n.ip, n.mac);
  r.sink.take();
  c.steps.forEach((s, k) => {
    const where = `${c.name} step ${k + 1} (${s.note})`;
    const before = r.counters();
    r.sink.take();
    if (s.control) r.ctl.call(s.control.verb, s.control.args);
    if (s.advanceMs !== undefined) {
      r.advance(s.advanceMs);
      r.dp.tick();
    }
    if (s.input !== undefined) r.feed(fromHex(s.input));
    const out = r.sink.take();
    const d = delta(before, r.counters());
    const want = (s.output ?? []).map(fromHex);
    if (out.length !== want.length) {
      assert.fail(
        `${where}: ${out.length} frame(s) out, expected ${want.length}; counters moved: ${JSON.stringify(d)}\n` +
          out.map((f, i) => `-- out[${i}]\n${decode(f)}`).join('\n') +
          (want.length ? `\n-- expected[0]\n${decode(want[0])}` : ''),
      );
    }
    want.forEach((w, i) => assertFrame(out[i], w, `${where}: out[${i}]`));
    if (s.input !== undefined) {
      assert.equal(d.rx_frames, 1, `${where}: rx_frames`);
      assert.equal(d.rx_bytes, fromHex(s.input).length, `${where}: rx_bytes`);
    }
    const drops = Object.keys(d).filter((n) => n.startsWith('drop.'));
    assert.deepEqual(drops, s.drop ? [`drop.${s.drop}`] : [], `${where}: drop counters moved ${JSON.stringify(d)}`);
    if (s.drop) assert.equal(d[`drop.${s.drop}`], 1, `${where}: drop.${s.drop}`);
    for (const [name, v] of Object.entries(s.counters ?? {})) {
      assert.equal(d[name] ?? 0, v, `${where}: counter ${name} moved by ${d[name] ?? 0}, expected ${v}; all deltas ${JSON.stringify(d)}`);
    }
    if (s.conns !== undefined) assert.equal(r.dp.ct.count, s.conns, `${where}: connection entries`);
    if (s.states !== undefined) {
      const states: string[] = [];
      for (let e = 0; e < r.dp.ct.max; e++) if (r.dp.ct.isAlive(e)) states.push(STATE_NAMES[r.dp.ct.state[e]]);
      assert.deepEqual(states, s.states, `${where}: connection states`);
    }
    if (s.destConns !== undefined) {
      const got = r.ctl.list().services.flatMap((sv) => sv.dests.map((d) => [d.active, d.inactive]));
      assert.deepEqual(got, s.destConns, `${where}: [ActiveConn, InActConn] per destination`);
    }
  });
}

for (const c of cases) {
  test(`golden: ${c.name} — ${c.description}`, () => runCase(c));
}
