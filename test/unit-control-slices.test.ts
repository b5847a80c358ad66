// test-class: shared
// Control verbs at a large table hold the event loop in short pieces (issue 7: no verb more than
// 2 ms): -L -t renders its one service alone, a slice ends before it would pass SLICE_MS (an
// injected clock), a sliced answer is written after a turn of the loop, and -C's model maps
// grow and shrink a shard at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIR_MAC, rig, type Rig } from './helpers/harness.js';
import { arpFrame } from './helpers/frames.js';
import { UvsError } from '../src/control/errors.js';
import { Model, serviceKeyOf } from '../src/control/model.js';
import { GOING_ON, SLICE_MS, StreamedList, StreamedText, WRITE_CHUNK, plainSlicer, stringifySliced, yieldLoop, type Pause } from '../src/control/slices.js';
import { controlDispatch } from '../src/control/dispatch.js';
import { ConfigManager } from '../src/control/config.js';
import { PROBE_STEP, probeConflicts } from '../src/control/claim.js';
import { native } from '../src/datapath/port.js';
import { mostPerTurn } from './helpers/turns.js';
import { SHARDS, shardOf } from '../src/control/shards.js';
import { BATCH_LOG_BYTES, LIST_PART, runBatchItem } from '../src/control/verbs.js';
import type { ListResult, ServiceInfo, ServiceKey } from '../src/control/protocol.js';
import { formatIp, parseIp } from '../src/datapath/addr.js';
import { allocated } from './helpers/alloc.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reloadLogger } from '../src/cli/reload-log.js';

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

/** Slices of `pause` over steps of stepMs each on the injected clock (ms each, from one yield to the next). */
async function slicesOf(clock: { now: number }, pause: Pause, steps: number, stepMs: number): Promise<number[]> {
  const out: number[] = [];
  let start = clock.now;
  for (let i = 0; i < steps; i++) {
    clock.now += stepMs;
    let yielded = false;
    const im = setImmediate(() => (yielded = true));
    await pause();
    clearImmediate(im);
    if (yielded) {
      out.push(clock.now - start);
      start = clock.now;
    }
  }
  return out;
}

test('a slice ends before its next step would take it past SLICE_MS (an injected clock): Control.slicer and plainSlicer', async (t) => {
  const clock = { now: 1000 };
  t.mock.method(performance, 'now', () => clock.now);
  const r = rig();
  const s = r.ctl.slicer('list');
  const slices = await slicesOf(clock, s.pause, 60, 0.3);
  s.done();
  // Before: each slice ran until it had taken SLICE_MS, so a step more (2.1 ms).
  assert.ok(slices.every((ms) => ms <= SLICE_MS + 1e-9), `slices ${slices.map((ms) => ms.toFixed(1)).join(' ')}`);
  assert.ok(slices.length >= 9, `${slices.length} slices`);
  assert.ok(r.ctl.slowest.ms <= SLICE_MS + 1e-9, `slowest_verb_ms ${r.ctl.slowest.ms}`);
  const plain = await slicesOf(clock, plainSlicer('json').pause, 60, 0.3);
  assert.ok(plain.length >= 9 && plain.every((ms) => ms <= SLICE_MS + 1e-9), `plainSlicer slices ${plain.join(' ')}`);
});

/** A reply's text as the control socket writes it (stringifySliced). */
async function written(reply: unknown): Promise<string> {
  const chunks: string[] = [];
  await stringifySliced(reply, (s) => chunks.push(s));
  return chunks.join('');
}

test('-L -n of a large table is made while it is written, a part at a time: at its first write a few of its services are made, and no write is longer than WRITE_CHUNK (before: all 600 made before the first byte, written 64 KiB at a time)', async (t) => {
  const r = table(600, 1);
  // One rate read per ServiceInfo made (verbs.ts serviceInfo).
  const made = t.mock.method(r.ctl.svcRates, 'read');
  const reply = await r.ctl.callAsync('list', {});
  let atFirst = -1;
  const chunks: string[] = [];
  await stringifySliced(reply, (s) => {
    if (atFirst < 0) atFirst = made.mock.callCount();
    chunks.push(s);
  });
  assert.deepEqual(JSON.parse(chunks.join('')), r.ctl.list(), 'the same list as made in one piece');
  assert.equal(made.mock.callCount(), 600 + 600, 'each service made once for the reply (and once for the one-piece list)');
  // A write of WRITE_CHUNK characters holds ~20 services of one server (~700 characters each), made a part at a time.
  assert.ok(atFirst <= WRITE_CHUNK / 500 + LIST_PART, `${atFirst} of 600 services made before the first write`);
  const longest = Math.max(...chunks.map((c) => c.length));
  assert.ok(longest < WRITE_CHUNK + 2000 && WRITE_CHUNK <= 16 * 1024, `a write of ${longest} characters`);
});

test('a sliced list\'s slices, its writing\'s too, are the verb\'s (slowest_verb_ms): every write but the last (what follows the list) is in a slice recorded as list\'s (before: the list made in recorded slices, then written in slices recorded by none)', async () => {
  const r = table(600, 1);
  let turns = 0;
  let on = true;
  const spin = (): void => {
    turns++;
    if (on) setImmediate(spin);
  };
  setImmediate(spin);
  const slices = new Set<number>();
  const ctl = r.ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held = ctl.held.bind(r.ctl);
  ctl.held = (verb, ms, cpuMs) => {
    if (verb === 'list') slices.add(turns);
    held(verb, ms, cpuMs);
  };
  // The turn of each write: a slice's writes come before its end (pause, held) in the same turn.
  const writes: number[] = [];
  try {
    await stringifySliced(await r.ctl.callAsync('list', {}), () => writes.push(turns));
  } finally {
    on = false;
  }
  assert.ok(new Set(writes).size >= 2, `writes in turns ${[...new Set(writes)].join(' ')}`);
  const unrecorded = writes.slice(0, -1).filter((w) => !slices.has(w));
  assert.deepEqual(unrecorded, [], `writes in turns with no list slice recorded (list slices in turns ${[...slices].join(' ')})`);
  assert.ok(writes.at(-1)! > Math.max(...slices), 'what follows the list is written after its last slice, in a turn of its own');
});

test('-C of 2,000 services x 4 in slices: the same end state as in one piece; the model\'s per-server maps grow and shrink a shard at a time', async () => {
  const a = table(2000);
  const b = table(2000);
  const m = a.ctl.model;
  // The largest single Map (what one V8 rehash copies in one piece) is a shard's: at most a few times 1/SHARDS of the entries.
  const bound = (n: number): number => Math.ceil((4 * n) / SHARDS);
  assert.ok(m.rips.largestShard <= bound(8000), `rips: ${m.rips.largestShard} of 8,000 in one Map`);
  assert.ok(m.vips.largestShard <= bound(2000), `vips: ${m.vips.largestShard} of 2,000 in one Map`);
  await a.ctl.callAsync('clear', {});
  b.ctl.call('clear', {});
  assert.ok(m.slots.trashLargestShard <= bound(8000), `the dest trash: ${m.slots.trashLargestShard} of 8,000 in one Map`);
  assert.ok(m.idTrash.largestShard <= bound(2000) && m.idKey.largestShard <= bound(2000), 'ids of deleted services');
  const state = (r: Rig) => ({
    list: r.ctl.list(), trash: [...r.ctl.model.slots.trashSlots()], free: r.ctl.model.slots.freeCount,
    ids: [...r.ctl.model.idTrash].sort(), rips: r.ctl.model.rips.size, vips: r.ctl.model.vips.size, dp: r.dp.services.filter((s) => s !== undefined).length,
  });
  const sa = state(a);
  assert.equal(sa.trash.length, 8000);
  assert.deepEqual(sa, state(b));
});

test('-C in a batch\'s copy of the model (shared with the model, ForkMap): the copy\'s own changes are sharded too, so neither the copy nor its commit grows one Map with the table', () => {
  const r = table(500, 1);
  const bound = (n: number): number => Math.ceil((4 * n) / SHARDS);
  const copy = r.ctl.model.clone();
  runBatchItem({ control: r.ctl, model: copy, ops: [] }, [{ verb: 'clear', args: {} }], 0);
  assert.equal(copy.idTrash.size, 500);
  // The copy holds the 500 freed ids as its own changes over the model's (empty) maps.
  assert.ok(copy.idTrash.largestShard <= bound(500) && copy.idKey.largestShard <= bound(500), `ids: ${copy.idTrash.largestShard}, ${copy.idKey.largestShard} of 500 in one Map`);
  r.ctl.commit(copy, []);
  assert.equal(r.ctl.model.idTrash.size, 500);
  assert.ok(r.ctl.model.idTrash.largestShard <= bound(500), `committed: ${r.ctl.model.idTrash.largestShard} of 500 in one Map`);
  assert.equal(r.ctl.model.services.size, 0);
});

test('-A past 8,192 services and -C of them: the services are in shards with their order linked through them, so no Map of every service is copied whole; the listing order is still the order added (a service deleted and added again: at the end)', async () => {
  const n = 8193;
  const r = table(n, 0);
  const m = r.ctl.model;
  const bound = Math.ceil((4 * n) / SHARDS);
  // Before: one Map of 8,193 services, which V8 copied whole (2-3 ms) as the 8,193rd was added.
  assert.ok(m.services.largestShard <= bound, `services: ${m.services.largestShard} of ${n} in one Map`);
  // The model's order, which the list shows (the whole list rendered took ~1 s here under load: at the end, of one).
  const addrs = (): string[] => [...m.services.values()].map((s) => formatIp(s.vip));
  const added = Array.from({ length: n }, (_, s) => `10.1.${s >> 8}.${s & 255}`);
  assert.deepEqual(addrs(), added);
  const mid: ServiceKey = { proto: 'tcp', addr: '10.1.16.0', port: 80 };
  r.ctl.deleteService(mid);
  r.ctl.editService({ ...mid, addr: '10.1.0.7', sched: 'rr' }); // in its place
  r.ctl.addService({ ...mid, sched: 'wlc' });
  assert.deepEqual(addrs(), [...added.filter((a) => a !== mid.addr), mid.addr]);
  // -C service by service (callAsync: in slices) while the services shrink a shard at a time.
  await r.ctl.callAsync('clear', {});
  assert.equal(m.services.size, 0);
  assert.deepEqual(r.ctl.list().services, []);
  r.ctl.addService({ ...mid, sched: 'wlc' });
  assert.deepEqual(r.ctl.list().services.map((s) => s.addr), [mid.addr]);
});

test('a small director\'s table (100 services x 4) is listed, cleared, zeroed and batch-loaded in slices too: the one-piece paths (up to 500 services or items) held the loop 4-25 ms of CPU at 500', async (t) => {
  const r = table(100);
  const items: unknown[] = [];
  for (let s = 0; s < 20; s++) {
    const service: ServiceKey = { proto: 'udp', addr: `10.9.0.${s}`, port: 53 };
    items.push({ verb: 'addService', args: { ...service, sched: 'rr' } }); // (the table's slots are full: no servers)
  }
  // Pieces of each verb (Control.held: one per slice; the one-piece path records one), on a clock
  // that moves 0.25 ms at every look: a slice of the sliced paths ends after a few steps.
  const clock = { now: 1000 };
  t.mock.method(performance, 'now', () => (clock.now += 0.25));
  const pieces = new Map<string, number>();
  const ctl = r.ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held = ctl.held.bind(r.ctl);
  ctl.held = (verb, ms, cpuMs) => {
    pieces.set(verb, (pieces.get(verb) ?? 0) + 1);
    held(verb, ms, cpuMs);
  };
  const list = JSON.parse(await written(await r.ctl.callAsync('list', {}))) as ListResult;
  assert.equal(list.services.length, 100);
  await r.ctl.callAsync('batch', { items });
  await r.ctl.callAsync('zero', {});
  await r.ctl.callAsync('clear', {});
  t.mock.restoreAll();
  // Before: 'list: 1 piece', 'batch: 1 piece', 'zero: 1 piece', 'clear: 1 piece'.
  for (const verb of ['list', 'batch', 'zero', 'clear']) assert.ok((pieces.get(verb) ?? 0) > 1, `${verb}: ${pieces.get(verb) ?? 0} piece`);
  assert.equal(r.ctl.list().services.length, 0);
  assert.equal(r.dp.services.filter((s) => s !== undefined).length, 0);
});

test('-C, and a batch\'s -C item, look at the slice\'s clock after every service: a slice ends within SLICE_MS when each service is slow (an injected clock: 0.4 ms a service), where 8 services at a time went past it (2.3-5.3 ms at 10,000 x 4)', async (t) => {
  const r = table(150);
  const clock = { now: 1000 };
  t.mock.method(performance, 'now', () => clock.now);
  // Each server put into the trash costs 0.1 ms on the injected clock (a service of 4: 0.4 ms).
  const trashSlot = Model.prototype.trashSlot;
  t.mock.method(Model.prototype, 'trashSlot', function (this: Model, ...a: Parameters<Model['trashSlot']>) {
    clock.now += 0.1;
    return trashSlot.apply(this, a);
  });
  const slices = new Map<string, number[]>();
  const ctl = r.ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held = ctl.held.bind(r.ctl);
  ctl.held = (verb, ms, cpuMs) => {
    slices.set(verb, [...(slices.get(verb) ?? []), ms]);
    held(verb, ms, cpuMs);
  };
  await r.ctl.callAsync('clear', {});
  assert.equal(r.ctl.model.services.size, 0);
  // The same table again, then a batch (uvsadm -R) of -C and 20 services added back.
  t.mock.restoreAll();
  const b = table(150);
  const bctl = b.ctl as unknown as typeof ctl;
  const bheld = bctl.held.bind(b.ctl);
  bctl.held = (verb, ms, cpuMs) => {
    slices.set(`batch ${verb}`, [...(slices.get(`batch ${verb}`) ?? []), ms]);
    bheld(verb, ms, cpuMs);
  };
  t.mock.method(performance, 'now', () => clock.now);
  t.mock.method(Model.prototype, 'trashSlot', function (this: Model, ...a: Parameters<Model['trashSlot']>) {
    clock.now += 0.1;
    return trashSlot.apply(this, a);
  });
  const items: unknown[] = [{ verb: 'clear', args: {} }];
  for (let s = 0; s < 20; s++) items.push({ verb: 'addService', args: { proto: 'tcp', addr: `10.1.0.${s}`, port: 80, sched: 'wlc' } });
  await b.ctl.callAsync('batch', { items });
  t.mock.restoreAll();
  assert.equal(b.ctl.model.services.size, 20);
  for (const what of ['clear', 'batch batch']) {
    const ms = slices.get(what) ?? [];
    // Before: every slice of -C 3.2 ms (8 services), of the batch's -C item too.
    assert.ok(ms.length >= 20 && ms.every((x) => x <= SLICE_MS + 1e-9), `${what}: ${ms.length} slices, the longest ${Math.max(...ms).toFixed(1)} ms`);
  }
});

/** Calls of Map.prototype's get, set, has and delete while fn() runs (every Map: the model's shards, the datapath's). */
async function mapOps(fn: () => Promise<unknown> | unknown): Promise<number> {
  const p = Map.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const names = ['get', 'set', 'has', 'delete'];
  const was = names.map((n) => p[n]!);
  let n = 0;
  names.forEach((name, i) => {
    const f = was[i]!;
    p[name] = function (this: unknown, ...a: unknown[]) {
      n++;
      return f.apply(this, a);
    };
  });
  try {
    await fn();
  } finally {
    names.forEach((name, i) => (p[name] = was[i]!));
  }
  return n;
}

test('-C, and a batch\'s -C item, at 1,000 x 4 do fewer Map operations and make less garbage per service: keys of char codes (not decimal text built per server), one lookup per delete (31 and 27 Map operations, 3.3-3.6 KB per service before)', async () => {
  const n = 1000;
  // The code compiled first.
  await table(200).ctl.callAsync('clear', {});
  const a = table(n);
  const ops = (await mapOps(() => a.ctl.callAsync('clear', {}))) / n;
  const b = table(n);
  const bytes = (await allocated(async () => b.ctl.callAsync('clear', {}))) / n;
  const c = table(n);
  const copy = c.ctl.model.clone();
  const batchOps = (await mapOps(async () => runBatchItem({ control: c.ctl, model: copy, ops: [] }, [{ verb: 'clear', args: {} }], 0))) / n;
  assert.equal(a.ctl.model.services.size + b.ctl.model.services.size + copy.services.size, 0);
  assert.equal(a.ctl.model.slots.trashSize, 4 * n);
  // 25 and 21 now (Map.prototype's get/set/has/delete, the datapath's included); the bytes 1.9-2.4 KB (V8's sampling heap profiler).
  assert.ok(ops <= 26, `-C: ${ops} Map operations per service`);
  assert.ok(batchOps <= 23, `a batch's -C item: ${batchOps} Map operations per service`);
  assert.ok(bytes < 2900, `-C: ${Math.round(bytes)} bytes allocated per service`);
});

test('-C at 1,000 x 4 shrinks none of the model\'s Maps (every key is going: a deleted key stays, GONE, and a shard whose last key goes is dropped whole), and the shards of keys that count up differ in size: V8 copied each of the 64 shards of a map smaller (or larger) at about the same service, 0.3-1 ms within a few services at 10,000 x 4 (before: 6 keys deleted from a Map per service, and 64 shards of 4,000 addresses reaching 32 keys within 94 services)', async () => {
  const r = table(1000);
  const m = r.ctl.model;
  // Keys deleted from any Map while -C runs (each delete may shrink its Map, which V8 does by copying it).
  let deleted = 0;
  const del = Map.prototype.delete;
  Map.prototype.delete = function (this: Map<unknown, unknown>, k: unknown): boolean {
    const gone = del.call(this, k);
    if (gone) deleted++;
    return gone;
  };
  // Between two slices, half way: the counts are those of the services left; a removed service's
  // address reads as gone (a GONE key is absent), as after -C.
  let midway: { services: number; vips: number; rips: number; first: boolean } | undefined;
  const probe = (): void => {
    if (m.services.size < 500) {
      midway = { services: m.services.size, vips: m.vips.size, rips: m.rips.size, first: m.rips.has(0x0a020000) || m.services.get(serviceKeyOf('tcp', 0x0a010000, 80)) !== undefined };
    } else setImmediate(probe);
  };
  setImmediate(probe);
  try {
    await r.ctl.callAsync('clear', {});
  } finally {
    Map.prototype.delete = del;
  }
  assert.equal(m.services.size + m.vips.size + m.rips.size, 0);
  assert.equal(m.slots.trashSize, 4000);
  assert.ok(midway !== undefined && midway.services > 0 && midway.vips === midway.services && midway.rips === 4 * midway.services && !midway.first, `midway: ${JSON.stringify(midway)}`);
  assert.equal(deleted, 0, `${deleted} keys deleted from Maps during -C (before: ~6,000)`);
  assert.equal(m.rips.largestShard + m.vips.largestShard + m.services.largestShard, 0, 'emptied shards dropped whole');
  r.ctl.addService({ proto: 'tcp', addr: '10.2.0.1', port: 80, sched: 'rr' }); // a real server's address before the -C
  // The 64 shards of the 4,000 real servers' addresses (10.2-5.x.y, as table() adds them): the
  // services at which each reaches 32 keys (where V8 grows its Map) spread over hundreds of services.
  const count = new Array<number>(SHARDS).fill(0);
  const at: number[] = [];
  for (let s = 0; s < 1000; s++) {
    for (let i = 0; i < 4; i++) if (++count[shardOf((((10 << 24) | ((2 + i) << 16) | ((s >> 8) << 8) | (s & 255)) >>> 0))]! === 32) at.push(s);
  }
  assert.equal(at.length, SHARDS);
  assert.ok(Math.max(...at) - Math.min(...at) > 250, `the 64 shards reach 32 keys within ${Math.max(...at) - Math.min(...at)} services`);
});

test("uvsd's dispatch of a 20,000-item batch (VIP probe, audit line) walks its items in slices before the batch's own: no piece reads more than 1,000 items' verbs (before: 60,000 in the turn that called the batch)", async () => {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 10_016 });
  // Each read of an item's verb counted (the probe's newAddresses, the audit's counts and the batch's own validation read it;
  // before, the first two read all 20,000 items, 60,000 times, in the piece that ends at the batch's first pause).
  let walked = 0;
  const items: unknown[] = [];
  for (let s = 0; s < 10_000; s++) {
    const service = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    items.push({ get verb() { return (walked++, 'addService'); }, args: { ...service, sched: 'wlc' } });
    items.push({ get verb() { return (walked++, 'addDest'); }, args: { service, addr: `10.2.${s >> 8}.${s & 255}`, port: 80, fwd: 'dr', weight: 1 } });
  }
  // Every slicer's pause ends its slice (the clock always due): a piece is what runs between two of them.
  let mark = 0;
  let longest = 0;
  let pauses = 0;
  const piece = (): void => {
    longest = Math.max(longest, walked - mark);
    mark = walked;
  };
  const slicer = r.ctl.slicer.bind(r.ctl);
  r.ctl.slicer = (verb) => {
    const s = slicer(verb);
    const pause = (until?: Promise<unknown>): Promise<void> => (pauses++, piece(), s.pause(until ?? yieldLoop()));
    return { pause: Object.assign(pause, { due: () => true }), done: s.done };
  };
  const logged: [object, string][] = [];
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 2, log: { info: (f, m) => logged.push([f, m]) } });
  const out = await dispatch('batch', { items });
  piece();
  assert.deepEqual(out, { applied: 20_000 });
  assert.equal(r.ctl.model.services.size, 10_000);
  assert.ok(pauses > 20, `${pauses} pauses`);
  assert.ok(longest <= 1000, `${longest} reads of items' verbs in one piece`);
  assert.equal(logged.length, 1);
  const [rec, msg] = logged[0]! as [{ changes: Array<{ verb: string; args: unknown }>; changesNotLogged: number }, string];
  const { changes, changesNotLogged, ...counts } = rec;
  assert.deepEqual([counts, msg], [{ verb: 'batch', items: 20_000, verbs: { addService: 10_000, addDest: 10_000 } }, 'table changed: batch']);
  // Its first items, as many as BATCH_LOG_BYTES of JSON hold, and how many more.
  assert.ok(changes.length > 50 && changes.length + changesNotLogged === 20_000, `${changes.length} logged, ${changesNotLogged} not`);
  assert.ok(JSON.stringify(changes).length <= BATCH_LOG_BYTES);
  assert.deepEqual(changes, (items.slice(0, changes.length) as Array<{ verb: string; args: unknown }>).map((it) => ({ verb: it.verb, args: it.args })));
});

test('uvsd\'s audit line of a batch (uvsadm -R) has its items in order, {verb, args} each as single requests\' lines (it had the counts alone: which server -e set to weight 0 was not said)', async () => {
  const r = rig({ addrs: ['10.0.0.1/8'] });
  const logged: [object, string][] = [];
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 0, log: { info: (f, m) => logged.push([f, m]) } });
  const service = { proto: 'tcp', addr: '10.1.0.1', port: 80 };
  await dispatch('addService', { ...service, sched: 'wlc' });
  await dispatch('addDest', { service, addr: '10.2.0.1', port: 80, fwd: 'dr', weight: 1 });
  logged.length = 0;
  const items = [
    { verb: 'editDest', args: { service, addr: '10.2.0.1', port: 80, fwd: 'dr', weight: 0 } },
    { verb: 'addDest', args: { service, addr: '10.2.0.2', port: 80, fwd: 'dr', weight: 5 } },
  ];
  await dispatch('batch', { items });
  assert.deepEqual(logged, [[{ verb: 'batch', items: 2, verbs: { editDest: 1, addDest: 1 }, changes: items }, 'table changed: batch']]);
});

test("uvsd's dispatch of a batch walked in slices refuses a VIP another station answers for as a single -A does (ADDRESS_IN_USE, before any change), and logs no audit line", async () => {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 2_016 });
  const other = '02:00:00:00:00:99';
  const taken = '10.1.3.7';
  // The station answers every probe for its address.
  const probe = r.dp.probe.bind(r.dp);
  r.dp.probe = (ips) => {
    probe(ips);
    if (ips.includes(parseIp(taken))) r.feed(arpFrame({ ethDst: DIR_MAC, ethSrc: other }, { op: 2, sha: other, spa: taken, tha: DIR_MAC, tpa: '0.0.0.0' }));
  };
  const logged: unknown[] = [];
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 2, log: { info: (f) => logged.push(f) } });
  const items: unknown[] = [];
  for (let s = 0; s < 1000; s++) {
    const service = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } }, { verb: 'addDest', args: { service, addr: `10.2.${s >> 8}.${s & 255}`, port: 80, fwd: 'dr', weight: 1 } });
  }
  const one = await Promise.resolve(dispatch('addService', { proto: 'tcp', addr: taken, port: 80, sched: 'wlc' })).catch((e: unknown) => e);
  const batch = await Promise.resolve(dispatch('batch', { items })).catch((e: unknown) => e);
  assert.ok(one instanceof UvsError && one.code === 'ADDRESS_IN_USE', String(one));
  assert.ok(batch instanceof UvsError && batch.code === 'ADDRESS_IN_USE', String(batch));
  assert.equal(batch.message, one.message);
  assert.match(batch.message, /10\.1\.3\.7 answered from 02:00:00:00:00:99/);
  assert.equal(r.ctl.model.services.size, 0);
  assert.deepEqual(logged, []);
});

test("uvsd's dispatch records a VIP probe's pieces as the verb's (a batch's, -A's: slowest_verb_ms, busiest_verb_cpu_ms): every piece of a 2,000-VIP batch's probe runs inside a slice of a `batch` slicer, a -A's inside an `addService` one, and a probe piece of 20 ms of CPU is the batch's record (before: the probe ran after the walks' slicer ended, seen by no slicer)", async () => {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 2_016 });
  // The slices open now, by slicer name: a slicer's slice is open from its start (and each restart after a pause that ended it) to that pause or its done().
  const open = new Map<number, string>();
  let ids = 0;
  const slicer = r.ctl.slicer.bind(r.ctl);
  r.ctl.slicer = (verb) => {
    const s = slicer(verb);
    const id = ids++;
    open.set(id, verb);
    const pause = (until?: Promise<unknown>): Promise<void> => {
      const p = s.pause(until);
      if (p === GOING_ON) return p;
      open.delete(id);
      return p.then(() => void open.set(id, verb));
    };
    return { pause: Object.assign(pause, { due: s.pause.due }), done: () => (open.delete(id), s.done()) };
  };
  // Each probe piece (dp.probe) and answer look (conflictOf) notes the slicers open then; the
  // sixth probe piece holds the loop 20 ms of CPU.
  const inside = new Map<string, number>();
  let pieces = 0;
  const note = (): void => {
    const names = [...new Set(open.values())].join('+') || 'none';
    inside.set(names, (inside.get(names) ?? 0) + 1);
  };
  const probe = r.dp.probe.bind(r.dp);
  r.dp.probe = (ips) => {
    note();
    if (++pieces === 6) {
      const c0 = native.threadCpuMs();
      while (native.threadCpuMs() - c0 < 20);
    }
    probe(ips);
  };
  const conflictOf = r.dp.link.conflictOf.bind(r.dp.link);
  let looks = 0;
  r.dp.link.conflictOf = (ip) => (looks++ % PROBE_STEP === 0 && note(), conflictOf(ip));
  const items = Array.from({ length: 2_000 }, (_, s) => ({ verb: 'addService', args: { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80, sched: 'wlc' } }));
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 2, log: { info: () => {} } });
  r.ctl.resetSlowest();
  assert.deepEqual(await dispatch('batch', { items }), { applied: 2_000 });
  const rounds = Math.ceil(2_000 / PROBE_STEP);
  assert.deepEqual(Object.fromEntries(inside), { batch: 3 * rounds }, 'slicers open at each probe piece and answer look');
  assert.equal(r.ctl.busiest.verb, 'batch');
  assert.ok(r.ctl.busiest.ms >= 20, `busiest_verb_cpu_ms ${r.ctl.busiest.ms}`);
  assert.equal(r.ctl.slowest.verb, 'batch');
  assert.ok(r.ctl.slowest.ms >= 20, `slowest_verb_ms ${r.ctl.slowest.ms}`);
  inside.clear();
  looks = 0;
  await dispatch('addService', { proto: 'tcp', addr: '10.9.0.1', port: 80, sched: 'wlc' });
  assert.deepEqual(Object.fromEntries(inside), { addService: 3 }, 'slicers open at a -A\'s probe pieces and answer look');
  assert.deepEqual([...open.values()], [], 'every slicer done');
});

test("a probe of 10,000 new VIPs (a batch's, a reload's, -R's, uvsd's start's) sends its probes and looks at their answers PROBE_STEP addresses a turn of the loop: no piece probes or looks at more than 1,000 addresses; an address's probes half a window apart; the answers found, every probe ended; the probes written to the port a batch at a time (before: 10,000 probed in one piece, twice, and looked at in one; a write per probe)", async () => {
  const r = rig({ addrs: ['10.0.0.1/8'] });
  const ips = Array.from({ length: 10_000 }, (_, s) => parseIp(`10.1.${s >> 8}.${s & 255}`));
  const other = '02:00:00:00:00:99';
  const taken = [ips[5_000]!, ips[9_999]!];
  // Addresses probed (dp.probe) and looked at (conflictOf), counted between two turns of the loop
  // (mostPerTurn); a station answers every probe of the two taken addresses.
  let n = 0;
  const sentAt = new Map<number, number>();
  let closest = Infinity;
  const probe = r.dp.probe.bind(r.dp);
  r.dp.probe = (some) => {
    n += some.length;
    probe(some);
    const now = performance.now();
    for (const ip of some) {
      const t = sentAt.get(ip);
      if (t !== undefined) closest = Math.min(closest, now - t);
      sentAt.set(ip, now);
      if (taken.includes(ip)) r.feed(arpFrame({ ethDst: DIR_MAC, ethSrc: other }, { op: 2, sha: other, spa: formatIp(ip), tha: DIR_MAC, tpa: '0.0.0.0' }));
    }
    r.sink.take();
  };
  const conflictOf = r.dp.link.conflictOf.bind(r.dp.link);
  r.dp.link.conflictOf = (ip) => (n++, conflictOf(ip));
  // Writes to the port (a TAP: a system call, or an io_uring submission, each).
  let writes = 0;
  const send = r.sink.send.bind(r.sink);
  r.sink.send = (...a) => (writes++, send(...a));
  const waitMs = 60;
  let { value, most: longest } = await mostPerTurn(() => n, () => probeConflicts(r.dp, ips, waitMs));
  assert.deepEqual(value, taken.map((ip) => ({ ip, mac: other })));
  assert.equal(r.counters().arp_probes_sent, 20_000);
  assert.ok(writes <= 1000, `${writes} writes of 20,000 probes`);
  assert.ok(longest <= 1000, `${longest} addresses probed or looked at in one piece`);
  // The half window is waited from the end of a round (a wide margin: timers count from the loop turn's start).
  assert.ok(closest >= waitMs / 4, `two probes of an address ${closest.toFixed(1)} ms apart`);
  assert.ok(ips.every((ip) => !r.dp.link.beingProbed(ip)), 'every probe ended');
  // uvsd's start: the port read only after the window (its warm-ups): the second round waits for it, in pieces too.
  let portRead = (): void => {};
  const reading = new Promise<void>((res) => (portRead = res));
  const late = setTimeout(() => portRead(), 2 * waitMs);
  try {
    ({ value, most: longest } = await mostPerTurn(() => n, () => probeConflicts(r.dp, ips, waitMs, reading)));
  } finally {
    clearTimeout(late);
  }
  assert.deepEqual(value, taken.map((ip) => ({ ip, mac: other })));
  assert.equal(r.counters().arp_probes_sent, 40_000);
  assert.ok(longest <= 1000, `${longest} addresses probed or looked at in one piece (uvsd's start)`);
  assert.ok(ips.every((ip) => !r.dp.link.beingProbed(ip)), 'every probe ended');
});

test("uvsd's dispatch runs changes in arrival order, a new VIP's probe included: -A of a new VIP (probed first), then at once -a to it and -D of it from other clients: all three succeed in that order and the service is gone (before 2026-12-07 the two overtook the probe: refused, and the service stayed)", async () => {
  const r = rig({ addrs: ['10.0.0.1/8'] });
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 50, log: { info: () => {} } });
  const svc = { proto: 'tcp', addr: '10.1.9.9', port: 80 };
  const settled = await Promise.allSettled([
    Promise.resolve(dispatch('addService', { ...svc, sched: 'rr' })),
    Promise.resolve(dispatch('addDest', { service: svc, addr: '10.2.0.1', port: 80, fwd: 'dr', weight: 1 })),
    Promise.resolve(dispatch('deleteService', svc)),
  ]);
  assert.deepEqual(settled.map((s) => s.status === 'rejected' ? String(s.reason) : 'ok'), ['ok', 'ok', 'ok']);
  assert.equal(r.ctl.model.services.size, 0);
  // A read is not queued behind a change's probe.
  const adding = Promise.resolve(dispatch('addService', { ...svc, sched: 'rr' }));
  const list = dispatch('list', {}) as ListResult;
  assert.equal(list.services.length, 0, 'answered before the -A probing');
  await adding;
});

test("uvsd's dispatch while uvsd stops (SIGTERM): a change is refused (STOPPING, nothing changed: the state file holds every change acknowledged), a read is answered", async () => {
  const r = rig({ addrs: ['10.0.0.1/8'] });
  let stopping = false;
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 0, log: { info: () => {} }, stopping: () => stopping });
  await dispatch('addService', { proto: 'tcp', addr: '10.1.9.9', port: 80, sched: 'rr' });
  stopping = true;
  assert.throws(() => dispatch('addService', { proto: 'tcp', addr: '10.1.9.9', port: 81, sched: 'rr' }), (e: UvsError) => e.code === 'STOPPING' && e.message === 'uvsd is stopping: nothing changed');
  assert.throws(() => dispatch('batch', { items: [] }), (e: UvsError) => e.code === 'STOPPING');
  assert.equal((dispatch('list', {}) as ListResult).services.length, 1);
});

test('a small batch with a -C (uvsadm -R of "-C" and two lines) on a table of 100 services goes service by service in slices, as -C alone does (before 2026-12-07 in one piece: 30-40 ms of the loop at 3,000-10,000 services)', async (t) => {
  const r = table(100);
  const clock = { now: 1000 };
  t.mock.method(performance, 'now', () => (clock.now += 0.25));
  let pieces = 0;
  const ctl = r.ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held = ctl.held.bind(r.ctl);
  ctl.held = (verb, ms, cpuMs) => {
    if (verb === 'batch') pieces++;
    held(verb, ms, cpuMs);
  };
  const svc = { proto: 'udp', addr: '10.9.0.1', port: 53 };
  await r.ctl.callAsync('batch', { items: [{ verb: 'clear', args: {} }, { verb: 'addService', args: { ...svc, sched: 'rr' } }, { verb: 'addDest', args: { service: svc, addr: '10.2.0.1', port: 53, fwd: 'dr', weight: 1 } }] });
  t.mock.restoreAll();
  assert.ok(pieces > 1, `batch: ${pieces} piece`);
  assert.deepEqual(r.ctl.list().services.map((s) => `${s.addr} ${s.dests.length}`), ['10.9.0.1 1']);
});

test('a listing (-Ln, -S) made in slices while a sliced batch (-R) changes every service shows one table, the one it began with, not the first services of one and the rest of the next (before 2026-12-07: each service looked up in the model of the moment); --dump-config likewise', async () => {
  const r = table(2000, 1);
  r.ctl.config = new ConfigManager(r.ctl, undefined, {});
  const items = [];
  for (let s = 0; s < 2000; s++) {
    const service = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    items.push({ verb: 'editDest', args: { service, addr: `10.2.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat', weight: 9 } });
  }
  // The list's first part made, then the batch whole, then the rest of the list: as when the
  // batch's last slice (its commit) comes between two slices of the listing.
  const reply = (await r.ctl.callAsync('list', {})) as { services: unknown };
  assert.ok(reply.services instanceof StreamedList, 'a list made in parts');
  const parts = (reply.services as StreamedList).parts[Symbol.asyncIterator]();
  const dump = (await r.ctl.callAsync('dumpConfig', {})) as { yaml: unknown };
  assert.ok(dump.yaml instanceof StreamedText, 'a dump made in parts');
  const dumpParts = (dump.yaml as StreamedText).parts[Symbol.asyncIterator]();
  const weights: number[] = [];
  let text = '';
  const first = await parts.next();
  for (const s of first.value as ServiceInfo[]) weights.push(s.dests[0]!.weight);
  for (let i = 0; i < 3; i++) text += Buffer.from((await dumpParts.next()).value as Uint8Array).toString();
  await r.ctl.callAsync('batch', { items });
  for (let p = await parts.next(); !p.done; p = await parts.next()) for (const s of p.value as ServiceInfo[]) weights.push(s.dests[0]!.weight);
  for (let p = await dumpParts.next(); !p.done; p = await dumpParts.next()) text += Buffer.from(p.value).toString();
  assert.equal(weights.length, 2000);
  assert.deepEqual([...new Set(weights)], [1], 'the table the listing began with');
  const dumped = new Set([...text.matchAll(/weight: (\d+)/g)].map((m) => m[1]));
  assert.deepEqual([...dumped], ['1'], 'the table the dump began with');
  assert.equal(r.ctl.list().services[1999]!.dests[0]!.weight, 9, 'the batch applied');
});

test('uvsadm --reload through uvsd\'s dispatch: its log line (ConfigManager onReload) names the sender as a change\'s audit line does; a reload refused too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-reload-peer-'));
  try {
    const file = join(dir, 'u.yaml');
    writeFileSync(file, 'services:\n  - { proto: tcp, address: 10.1.0.1, port: 80, scheduler: rr }\n');
    const r = rig({ addrs: ['10.0.0.1/8'] });
    const told: Array<[string, unknown]> = [];
    r.ctl.config = new ConfigManager(r.ctl, file, {}, { onReload: (via, o) => told.push([via, 'peer' in o ? o.peer : undefined]) });
    const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 0, log: { info: () => {} } });
    const peer = { pid: process.pid, uid: 0, gid: 0 };
    await dispatch('reload', {}, peer);
    await dispatch('reload', { dryRun: true }, peer);
    writeFileSync(file, 'services: [\n');
    await assert.rejects(Promise.resolve(dispatch('reload', {}, peer)));
    writeFileSync(file, 'services: []\n');
    await dispatch('reload', {}); // no peer (not from the socket): none said
    assert.deepEqual(told, [['uvsadm --reload', peer], ['uvsadm --reload', peer], ['uvsadm --reload', undefined]], 'a dry run is not told');
    // The line: pid, uid and the command line (reload-log.ts).
    const lines: object[] = [];
    await reloadLogger({ info: (f) => lines.push(f) }, async () => {})('uvsadm --reload', { changes: [], ignored: [] }, peer);
    const p = (lines[0] as { peer: { pid: number; uid: number; cmd: string } }).peer;
    assert.deepEqual([p.pid, p.uid, p.cmd.startsWith(process.execPath)], [process.pid, 0, true]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('uvsadm -R --dry-run of a batch long enough to be walked and applied in slices (600 items) changes nothing and logs no audit line; the same batch without it applies all', async () => {
  const r = rig({ addrs: ['10.0.0.1/8'] });
  const logged: object[] = [];
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 0, log: { info: (f) => logged.push(f) } });
  const items = Array.from({ length: 600 }, (_, i) => ({ verb: 'addService', args: { proto: 'tcp', addr: '10.1.0.1', port: 1000 + i, sched: 'rr' } }));
  assert.deepEqual(await dispatch('batch', { items, dryRun: true }), { applied: 0 });
  assert.equal(r.ctl.list().services.length, 0);
  assert.deepEqual(logged, []);
  assert.deepEqual(await dispatch('batch', { items }), { applied: 600 });
  assert.equal(r.ctl.list().services.length, 600);
  assert.equal(logged.length, 1);
});
