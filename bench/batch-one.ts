// A one-item batch (a health verdict, `uvsadm -R` of one line) against a large table, in process:
// N TCP services with one NAT server each, added through the verbs, then five calls each of a
// one-item batch (-A, -a) and of the verbs alone, ms. Not a test.
//
//   node dist/bench/batch-one.js [--services 32750]
import { rig } from '../test/helpers/harness.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { services: { type: 'string', default: '32750' } } });
const N = Number(values.services);
const r = rig({ addrs: ['10.0.0.1/8'], destMax: N + 64 });
const t0 = performance.now();
for (let s = 0; s < N; s++) {
  const service = { proto: 'tcp' as const, addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
  r.ctl.addService({ ...service, sched: 'rr' });
  r.ctl.addDest({ service, addr: `10.2.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat', weight: 1 });
}
console.log(`${N} services added in ${(performance.now() - t0).toFixed(0)} ms`);
const time = (name: string, f: (i: number) => unknown): void => {
  const ms: string[] = [];
  for (let i = 0; i < 5; i++) {
    const a = performance.now();
    f(i);
    ms.push((performance.now() - a).toFixed(2));
  }
  console.log(`${name}: ${ms.join(' ')} ms`);
};
time('addService verb', (i) => r.ctl.addService({ proto: 'tcp', addr: '10.9.0.1', port: 2000 + i, sched: 'rr' }));
time('addDest verb', (i) => r.ctl.addDest({ service: { proto: 'tcp', addr: '10.9.0.1', port: 2000 + i }, addr: '10.8.0.1', port: 2000 + i, fwd: 'nat' }));
time('batch [addService]', (i) => r.ctl.call('batch', { items: [{ verb: 'addService', args: { proto: 'tcp', addr: '10.9.0.2', port: 2000 + i, sched: 'rr' } }] }));
time('batch [addDest]', (i) => r.ctl.call('batch', { items: [{ verb: 'addDest', args: { service: { proto: 'tcp', addr: '10.9.0.2', port: 2000 + i }, addr: '10.8.0.2', port: 2000 + i, fwd: 'nat' } }] }));
