// Run as a child by unit-batch.test.ts (node --expose-gc dist/test/helpers/batch-kept-child.js N): a
// batch of N TCP services on one VIP, each with one DR server (integration-reshape.test.ts's
// "10,000 services through the batch verb ..."), sent as the control socket's request line goes
// (handleLine: the sliced JSON parse, the sliced validation and apply), in a process of its own.
// Prints as JSON the V8 heap that the batch left alive (used after a full collection, after minus
// before) and the services listed. What a batch keeps is what each scavenge during it copied
// (and then promoted): docs/performance.md.
import { rig, VIP } from './harness.js';
import { handleLine } from '../../src/control/server.js';

const n = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc!;
const r = rig({ destMax: n + 64 });
const items: { verb: string; args: Record<string, unknown> }[] = [];
for (let i = 0; i < n; i++) {
  const service = { proto: 'tcp', addr: VIP, port: 10_000 + i };
  items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
  items.push({ verb: 'addDest', args: { service, addr: `10.0.0.${11 + (i & 1)}`, port: 10_000 + i } });
}
const line = JSON.stringify({ id: 1, verb: 'batch', args: { items } });
items.length = 0;
const used = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const before = used();
const reply = await handleLine(line, (verb, args) => r.ctl.callAsync(verb, args), (err) => {
  throw err;
});
const kept = used() - before;
process.stdout.write(JSON.stringify({ reply, kept, services: r.ctl.list().services.length }) + '\n');
