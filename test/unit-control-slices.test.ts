// test-class: shared
// Control verbs at a large table hold the event loop in short pieces (issue 7: no verb more than
// 2 ms): -L -t renders its one service alone, a slice ends before it would pass SLICE_MS (an
// injected clock), a sliced answer is written after a turn of the loop, and -C's model maps
// grow and shrink a shard at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rig, type Rig } from './helpers/harness.js';
import type { ListResult, ServiceKey } from '../src/control/protocol.js';

/** n TCP services of `servers` NAT servers each. */
function table(n: number, servers = 4): Rig {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: n * servers + 8 });
  for (let s = 0; s < n; s++) {
    const service: ServiceKey = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    r.ctl.addService({ ...service, sched: 'wlc' });
    for (let i = 0; i < servers; i++) r.ctl.addDest({ service, addr: `10.${2 + i}.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat', weight: 1 });
  }
  return r;
}

test('list with a service (uvsadm -L -t): that service alone, as the whole list shows it, the others not rendered; none when it does not exist', () => {
  const r = table(1000);
  const service: ServiceKey = { proto: 'tcp', addr: '10.1.3.100', port: 80 };
  const whole = r.ctl.list();
  let rendered = 0;
  const read = r.ctl.svcRates.read.bind(r.ctl.svcRates);
  r.ctl.svcRates.read = (id) => (rendered++, read(id)); // once per service rendered (serviceInfo)
  const one = r.ctl.callAsync('list', { service });
  assert.ok(!(one instanceof Promise), 'answered at once, not in slices');
  assert.equal(rendered, 1, 'one service rendered, not 1,000');
  assert.deepEqual(one, { ...whole, services: whole.services.filter((s) => s.addr === '10.1.3.100') });
  assert.equal((one as ListResult).services[0]!.dests.length, 4);
  assert.deepEqual((r.ctl.call('list', { service: { ...service, port: 81 } }) as ListResult).services, []);
  assert.throws(() => r.ctl.call('list', { service: { ...service, addr: '10.1.3.256' } }), /virtual address "10\.1\.3\.256"/);
});
