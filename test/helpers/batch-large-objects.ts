// Run as a child by unit-batch.test.ts (node dist/test/helpers/batch-large-objects.js N [clear]): a sliced
// batch (Control.batchInSlices, dryRun) of N services x 4 servers (one operation per item) in a
// process of its own, with what V8's large-object space (objects over 128 KiB: an array of 16,384
// or more elements) holds before it and at the most while it validates, printed as JSON. Not
// under node:test: its runner keeps a record of every promise made while a test runs, and those
// records (a Map doubling to 917 KB) land in that space too.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { rig } from './harness.js';

function largeObjects(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'large_object_space')!.space_used_size;
}

const n = Number(process.argv[2] ?? 10_000);
// `clear`: a table of n services (no servers) and a batch of one -C item (its operations and its
// services, one each a service, n of them).
const clear = process.argv[3] === 'clear';
const r = rig({ addrs: ['10.0.0.1/8'], destMax: 4 * n + 64 });
const services = (m: number) => Array.from({ length: m }, (_, i) => ({ verb: 'addService', args: { proto: 'tcp', addr: `10.1.${i >> 8}.${i & 255}`, port: 80, sched: 'wlc' } }));
if (clear) r.ctl.call('batch', { items: services(n) });
const items = clear ? [{ verb: 'clear', args: {} }] : Array.from({ length: 4 * n }, (_, k) => {
  const i = k >> 2;
  const service = { proto: 'tcp' as const, addr: `10.1.${i >> 8}.${i & 255}`, port: 80 };
  return (k & 3) === 0 ? { verb: 'addService', args: { ...service, sched: 'wlc' } } : { verb: 'addDest', args: { service, addr: `10.8.${(k >> 8) & 255}.${k & 255}`, port: 80, fwd: 'dr' } };
});
// A full collection first: what the space holds then is alive, and stays (a collection during the batch frees none of it).
setFlagsFromString('--expose-gc');
(runInNewContext('gc') as () => void)();
const before = largeObjects();
let most = before;
let pauses = 0;
const p = await r.ctl.batchInSlices(function* () { return { items }; }, true, async () => {
  pauses++;
  most = Math.max(most, largeObjects());
});
most = Math.max(most, largeObjects());
process.stdout.write(JSON.stringify({ items: p.items.length, pauses, before, most, services: r.ctl.list().services.length }) + '\n');
