// Golden packet fixtures (test/fixtures/golden.ts): for every case, build the setup through the
// control verbs, feed each step's frame, and compare what comes out byte for byte (decoded field
// by field on mismatch), the drop reason, counter deltas and the number of connection entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CASES } from './fixtures/golden.js';
import { buildCases } from './helpers/golden-gen.js';
import { decode, fromHex } from './helpers/frames.js';
import { assertFrame, delta, rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { STATE_NAMES } from '../src/datapath/tcpstate.js';
import type { GoldenCase } from './helpers/golden-types.js';

test('golden: the fixture file matches its generator (regenerate with golden-gen.js --write)', () => {
  assert.deepEqual(CASES, buildCases());
});

function runCase(c: GoldenCase): void {
  const r = rig({ gateway: c.setup.gateway });
  for (const s of c.setup.services) r.ctl.addService(s);
  for (const d of c.setup.dests) r.ctl.addDest({ ...d, fwd: d.fwd ?? 'dr' });
  const svcId = (k: { proto: string; addr: string; port: number }) =>
    r.dp.services.find((s) => s !== undefined && s.vip === (parseIp(k.addr) | 0) && s.port === k.port && s.proto === (k.proto === 'tcp' ? 6 : 17))!.id;
  for (const l of c.setup.laddrs ?? []) {
    r.dp.apply([{ op: 'addLaddr', svc: svcId(l.service), addr: parseIp(l.addr), portMin: l.portMin, portMax: l.portMax }]);
  }
  if (c.setup.gateway !== undefined) r.dp.resolve(parseIp(c.setup.gateway));
  for (const n of c.setup.neighbours) r.learn(n.ip, n.mac);
  const destSlots = c.setup.dests.map((d) => r.dp.services[svcId(d.service)]!.dests.find((x) => r.dp.dt.addr[x] === (parseIp(d.addr) | 0) && r.dp.dt.port[x] === d.port)!);
  r.sink.take();
  c.steps.forEach((s, k) => {
    const where = `${c.name} step ${k + 1} (${s.note})`;
    const before = r.counters();
    r.sink.take();
    if (s.control) {
      if (s.control.verb === 'editDest') r.ctl.editDest(s.control.args);
      else r.ctl.deleteDest(s.control.args);
    }
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
      const got = destSlots.map((d) => [r.dp.dt.active[d], r.dp.dt.inactive[d]]);
      assert.deepEqual(got, s.destConns, `${where}: [ActiveConn, InActConn] per destination`);
    }
  });
}

for (const c of CASES) {
  test(`golden: ${c.name} — ${c.description}`, () => runCase(c));
}
