// test-class: shared
// Large batches through the socket entry (Control.callAsync): validated and applied in slices with
// the event loop free in between, still all or nothing, in order with other changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rig, RS, VIP, CLIENT, DIR_MAC, ROUTER_MAC } from './helpers/harness.js';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import type { DpOp } from '../src/datapath/ops.js';
import { execFileSync } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { orderForSlices } from '../src/control/applyorder.js';
import { runSteps } from '../src/control/slices.js';
import { ShardedMap } from '../src/control/shards.js';
import type { GoneService } from '../src/control/verbs.js';
import { Session } from 'node:inspector/promises';

type HeapNode = { callFrame: { functionName: string }; selfSize: number; children: HeapNode[] };

const svc = (i: number) => ({ proto: 'tcp' as const, addr: '10.0.0.100', port: 1000 + i });
function items(n: number, bad = -1) {
  const out: { verb: string; args: Record<string, unknown> }[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ verb: 'addService', args: { ...svc(i), sched: i === bad ? 'nosuch' : 'rr' } });
    out.push({ verb: 'addDest', args: { service: svc(i), addr: '10.0.0.11', port: 1000 + i } });
  }
  return out;
}

test('a 4,000-item batch is applied in slices: other work runs before it finishes, and all of it lands', async () => {
  const r = rig({ destMax: 4096 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    const p = r.ctl.callAsync('batch', { items: items(2000) });
    assert.ok(p instanceof Promise, 'a large batch is asynchronous');
    const res = await p;
    assert.deepEqual(res, { applied: 4000 });
    assert.ok(ticks > 0, 'the event loop ran while the batch was in progress');
    assert.equal(r.ctl.slowest.verb, 'batch', 'its slices are recorded as loop-holding time');
    assert.equal(r.ctl.list().services.length, 2000);
  } finally {
    clearInterval(timer);
  }
});

test('a sliced batch with a bad item near the end changes nothing and names the item', async () => {
  const r = rig({ destMax: 4096 });
  r.ctl.addService({ ...svc(5000), sched: 'rr' });
  await assert.rejects(Promise.resolve(r.ctl.callAsync('batch', { items: items(2000, 1990) })), (e: Error & { index?: number }) => {
    assert.equal(e.index, 3980);
    assert.match(e.message, /nosuch/);
    return true;
  });
  assert.deepEqual(r.ctl.list().services.map((s) => s.port), [6000]);
});

test('a change made by someone else while a sliced batch validates is kept, and the batch still lands', async () => {
  const r = rig({ destMax: 4096 });
  const p = r.ctl.callAsync('batch', { items: items(1500) });
  // A health check (or a reload) changes the table while the batch is between slices.
  await new Promise((res) => setImmediate(res));
  r.ctl.addService({ ...svc(9000), sched: 'wlc' });
  await p;
  const ports = r.ctl.list().services.map((s) => s.port);
  assert.equal(ports.length, 1501);
  assert.ok(ports.includes(10000), 'the other change survived');
  // The datapath agrees with the model: every service answers lookups (one per VIP:port).
  assert.equal(r.dp.services.filter((s) => s !== undefined).length, 1501);
});

test('changes from the socket run one at a time, in arrival order', async () => {
  const r = rig({ destMax: 4096 });
  const a = r.ctl.callAsync('batch', { items: items(1000) });
  const b = r.ctl.callAsync('deleteService', svc(999));
  await Promise.all([a, b]);
  assert.equal(r.ctl.list().services.length, 999, 'the delete ran after the batch that added the service');
});

test('a sliced batch checks its own arguments and every item\'s as a short one: a dryRun not true or false, an unknown argument; nothing changes', async () => {
  const r = rig({ destMax: 4096 });
  for (const dryRun of ['true', 1]) {
    await assert.rejects(Promise.resolve(r.ctl.callAsync('batch', { items: items(1000), dryRun })), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BAD_REQUEST');
      assert.match(e.message, /dryRun must be true or false, got/);
      return true;
    });
  }
  const bad = items(1000);
  bad[1501]!.args.wieght = 0;
  await assert.rejects(Promise.resolve(r.ctl.callAsync('batch', { items: bad })), (e: Error & { code?: string; index?: number }) => {
    assert.deepEqual([e.code, e.index], ['BAD_REQUEST', 1501]);
    assert.match(e.message, /unknown argument "wieght" of addDest/);
    return true;
  });
  await assert.rejects(Promise.resolve(r.ctl.callAsync('batch', { items: items(1000), dryrun: true })), /unknown argument "dryrun" of batch/);
  assert.equal(r.ctl.list().services.length, 0);
});

/** Four established connections from CLIENT to VIP:80 (ports 1001..1004), whose servers RS[0] and
 *  RS[1] are learnt: the segment maker, the ports, which server a forwarded segment went to (its
 *  MAC, or 'none'), and each connection's server. */
function fourConnections(r: ReturnType<typeof rig>) {
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(RS[1].ip, RS[1].mac);
  const seg = (sport: number, flags: number) =>
    tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags });
  const ports = [1001, 1002, 1003, 1004];
  const serverOf = (out: Buffer[]) => (out.length === 1 ? out[0]!.subarray(0, 6).toString('hex') : 'none');
  const before = ports.map((p) => (r.run(seg(p, TCP_FLAGS.SYN)), serverOf(r.run(seg(p, TCP_FLAGS.ACK)))));
  assert.ok(!before.includes('none'));
  /** run(), while an ACK of one of the four connections arrives at every turn of the loop: its
   *  value and the segments fed meanwhile. */
  const during = async <T>(run: () => Promise<T>): Promise<{ value: T; fed: number }> => {
    let fed = 0;
    let stop = false;
    const feed = (): void => {
      if (stop) return;
      r.run(seg(ports[fed++ % 4]!, TCP_FLAGS.ACK));
      setImmediate(feed);
    };
    setImmediate(feed);
    try {
      return { value: await run(), fed };
    } finally {
      stop = true;
    }
  };
  return { seg, ports, serverOf, before, during };
}

test('uvsadm -R of a rules file starting with -C, 1,404 items (sliced): established connections are kept, each to its server', async () => {
  const r = rig({ addrs: ['10.0.0.1/16'], destMax: 2048, connMax: 1024 });
  const vs = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const filler = (i: number) => ({ proto: 'tcp' as const, addr: `10.1.${i >> 8}.${i & 255}`, port: 80 });
  const rules: { verb: string; args: Record<string, unknown> }[] = [];
  for (let i = 0; i < 700; i++) {
    rules.push({ verb: 'addService', args: { ...filler(i), sched: 'wlc' } });
    rules.push({ verb: 'addDest', args: { service: filler(i), addr: `10.0.${8 + (i >> 8)}.${i & 255}`, port: 80, fwd: 'dr' } });
  }
  rules.push({ verb: 'addService', args: { ...vs, sched: 'rr' } });
  for (const rs of [RS[0], RS[1]]) rules.push({ verb: 'addDest', args: { service: vs, addr: rs.ip, port: 80, fwd: 'dr' } });
  r.ctl.call('batch', { items: rules });
  const { seg, ports, serverOf, before, during } = fourConnections(r);
  // Segments of the 4 connections keep arriving while the batch is applied in slices.
  const restore = [{ verb: 'clear', args: {} }, ...rules];
  const { value, fed } = await during(() => Promise.resolve(r.ctl.callAsync('batch', { items: restore })));
  assert.deepEqual(value, { applied: 1404 });
  assert.ok(fed > 0, 'packets arrived while the batch was applied');
  const after = ports.map((p) => serverOf(r.run(seg(p, TCP_FLAGS.ACK))));
  assert.deepEqual(after, before, 'each connection\'s next segment goes to the same server');
  assert.equal(r.dp.ct.count, 4);
  assert.equal(r.counters()['drop.no_conn'] ?? 0, 0);
  assert.equal(r.counters()['drop.ip_not_local'] ?? 0, 0);
  assert.equal(r.ctl.list().services.length, 701);
});

test('a -C item in a sliced batch (-C, then the same rules: uvsadm -R) of a 5,000-service table is validated in slices: no piece holds the loop over a few ms of CPU', async (t) => {
  const r = rig({ addrs: ['10.0.0.1/16'], destMax: 8192 });
  const rules: { verb: string; args: Record<string, unknown> }[] = [];
  for (let i = 0; i < 5000; i++) {
    const service = { proto: 'tcp' as const, addr: `10.1.${i >> 8}.${i & 255}`, port: 80 };
    rules.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
    rules.push({ verb: 'addDest', args: { service, addr: `10.0.${8 + (i >> 8)}.${i & 255}`, port: 80, fwd: 'dr' } });
  }
  r.ctl.call('batch', { items: rules });
  // Its arguments are checked as a short batch's are: refused, nothing changed.
  await assert.rejects(Promise.resolve(r.ctl.callAsync('batch', { items: [{ verb: 'clear', args: { all: true } }, ...rules] })),
    (e: Error & { index?: number }) => e.index === 0 && /unknown argument "all" of clear/.test(e.message));
  assert.equal(r.ctl.list().services.length, 5000);
  // Twice: the first run compiles the code the second measures.
  for (let run = 0; run < 2; run++) {
    r.ctl.resetSlowest();
    assert.deepEqual(await r.ctl.callAsync('batch', { items: [{ verb: 'clear', args: {} }, ...rules] }), { applied: 10001 });
  }
  t.diagnostic(`busiest ${r.ctl.busiest.verb} ${r.ctl.busiest.ms.toFixed(1)} ms of CPU; slowest ${r.ctl.slowest.ms.toFixed(1)} ms`);
  assert.equal(r.ctl.busiest.verb, 'batch');
  // A slice ends after SLICE_MS (2 ms); a scavenge may fall in one (2.1-10.2 ms of CPU measured
  // for the busiest, old and new build alike, on a loaded host): the bound is far from the batch in
  // one piece (140-300 ms of CPU), not at the slice's 2 ms (the benches measure that).
  assert.ok(r.ctl.busiest.ms < 25, `a slice took ${r.ctl.busiest.ms} ms of CPU`);
  assert.equal(r.ctl.list().services.length, 5000);
  assert.equal(r.dp.services.filter((s) => s !== undefined).length, 5000);
});

test('a sliced batch (600 items) that deletes a server and adds it back (-d, then -a of the same server: a revive) keeps its connections, each to its server, whether the re-add is far or next to a slice\'s cut', async () => {
  const r = rig({ addrs: ['10.0.0.1/16'], destMax: 2048, connMax: 1024 });
  const vs = { proto: 'tcp' as const, addr: VIP, port: 80 };
  r.ctl.addService({ ...vs, sched: 'rr' });
  for (const rs of [RS[0], RS[1]]) r.ctl.addDest({ service: vs, addr: rs.ip, port: 80, fwd: 'dr' });
  const { seg, ports, serverOf, before, during } = fourConnections(r);
  assert.equal(new Set(before).size, 2, 'connections on both servers');
  const filler = (i: number) => ({ verb: 'addService', args: { proto: 'tcp', addr: `10.1.${i >> 8}.${i & 255}`, port: 80, sched: 'wlc' } });
  const del = (rs: { ip: string }) => ({ verb: 'deleteDest', args: { service: vs, addr: rs.ip, port: 80 } });
  const add = (rs: { ip: string }) => ({ verb: 'addDest', args: { service: vs, addr: rs.ip, port: 80, fwd: 'dr', weight: 2 } });
  // RS[1]: deleted as the 32nd operation, the last of the first 32-operation chunk, re-added as the
  // 33rd; RS[0]: deleted first, re-added at the end, ~600 operations later.
  const items: { verb: string; args: Record<string, unknown> }[] = [del(RS[0])];
  for (let i = 0; i < 30; i++) items.push(filler(i));
  items.push(del(RS[1]), add(RS[1]));
  for (let i = 30; i < 596; i++) items.push(filler(i));
  items.push(add(RS[0]));
  // Each dp.apply's operations: a server's deletion and its revive must land in the same one.
  const applied: DpOp[][] = [];
  const apply = r.dp.apply.bind(r.dp);
  r.dp.apply = (ops: DpOp[]) => (applied.push([...ops]), apply(ops));
  const { value, fed } = await during(() => Promise.resolve(r.ctl.callAsync('batch', { items })));
  assert.deepEqual(value, { applied: 600 });
  assert.ok(applied.length > 1, 'applied in more than one piece');
  const split = applied.flatMap((ops, k) => ops.filter((o) => o.op === 'delDest' && !ops.some((a) => a.op === 'addDest' && a.dest === o.dest)).map(() => k));
  assert.deepEqual(split, [], 'dp.apply calls with a server\'s deletion but not its revive');
  assert.ok(fed > 0, 'packets arrived while the batch was applied');
  const after = ports.map((p) => serverOf(r.run(seg(p, TCP_FLAGS.ACK))));
  assert.deepEqual(after, before, 'each connection\'s next segment goes to the same server');
  assert.equal(r.dp.ct.count, 4);
  assert.equal(r.counters()['drop.no_conn'] ?? 0, 0);
  assert.deepEqual(r.ctl.list().services.find((s) => s.port === 80 && s.addr === VIP)?.dests.map((d) => d.weight), [2, 2]);
});

test('a sliced batch of 40,000 items holds its operations in parts: no array of all of them (copied whole by push at each growth: steps of 0.75-1.9 ms of CPU at 15,044, 22,583 and 33,892 items of 10,000 x 4), nor one of the free slots in its copy of the model; nothing put in V8\'s large-object space while it validates', () => {
  // In a process of its own (helpers/batch-large-objects.ts: this runner's own records would land in that space too).
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('./helpers/batch-large-objects.js', import.meta.url)), '10000'], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { items: number; pauses: number; before: number; most: number; services: number };
  assert.equal(r.items, 40_000);
  assert.ok(r.pauses > 10_000, `looked at ${r.pauses} times`);
  assert.equal(r.services, 0, 'a dry run changes nothing');
  // Any object of 128 KiB or more made while it validated (and alive then) is in it.
  assert.ok(r.most - r.before < 128 * 1024, `the large-object space grew by ${r.most - r.before} bytes while the batch validated`);
});

test('orderForSlices takes the operations in parts: the same chunks as from one array, with deletions held until their re-add (services and revived servers) across the parts\' ends', () => {
  const n = 3000;
  const ops: DpOp[] = [];
  const gone = new ShardedMap<number, GoneService>();
  const back = new ShardedMap<number, true>();
  for (let id = 0; id < n; id++) {
    ops.push({ op: 'delService', id });
    gone.set(id, { key: `tcp|${id}|80`, vip: (10 << 24) | (1 << 16) | id, rips: [(10 << 24) | (8 << 16) | id], lips: [], slots: [id] });
    if (id % 3 === 0) back.set(id, true);
  }
  // A server of another service deleted, then revived 5,000 operations later.
  ops.push({ op: 'delDest', svc: n, dest: 4 * n, });
  for (let id = 0; id < n; id++) {
    ops.push({ op: 'addService', id, proto: 6, vip: (10 << 24) | (2 << 16) | id, port: 80, sched: 'wlc', schedFlags: 0, persist: 0, netmask: -1, oneShot: false, pe: 0, synproxy: false });
    ops.push({ op: 'addDest', svc: id, dest: n + id, addr: (10 << 24) | (9 << 16) | id, port: 80, fwd: 0, weight: 1, upper: 0, lower: 0, tun: 0 });
    if (id === 2000) ops.push({ op: 'addDest', svc: n, dest: 4 * n, addr: (10 << 24) | (7 << 16), port: 80, fwd: 0, weight: 1, upper: 0, lower: 0, tun: 0, revive: true });
  }
  const whole = runSteps(orderForSlices([ops], gone, back, 32));
  // Some deletions held: not the batch's order.
  assert.notDeepEqual(whole.flat(), ops);
  assert.deepEqual(new Set(whole.flat()), new Set(ops));
  for (const size of [1, 1000, 4096, 4097]) {
    const parts: DpOp[][] = [];
    for (let i = 0; i < ops.length; i += size) parts.push(ops.slice(i, i + size));
    assert.deepEqual(runSteps(orderForSlices(parts, gone, back, 32)), whole, `parts of ${size}`);
  }
  assert.deepEqual(runSteps(orderForSlices([[], ops.slice(0, 10), [], ops.slice(10)], gone, back, 32)), whole, 'empty parts');
});

test('orderForSlices of a batch that deletes nothing (10,000 services, each with its server, added) keeps the batch\'s order cut every chunk operations, with no Map operation (before: ~6 an operation, 12-20 ms of CPU)', () => {
  const ops: DpOp[] = [];
  for (let id = 0; id < 10_000; id++) {
    ops.push({ op: 'addService', id, proto: 6, vip: (10 << 24) | 200, port: 10_000 + id, sched: 'wlc', schedFlags: 0, persist: 0, netmask: -1, oneShot: false, pe: 0, synproxy: false });
    ops.push({ op: 'addDest', svc: id, dest: id, addr: (10 << 24) | (11 + (id & 1)), port: 10_000 + id, fwd: 0, weight: 1, upper: 0, lower: 0, tun: 0 });
    if (id % 1000 === 0) ops.push({ op: 'editService', id, sched: 'rr', schedFlags: 0, persist: 0, netmask: -1, oneShot: false, pe: 0, synproxy: false });
  }
  const parts: DpOp[][] = [];
  for (let i = 0; i < ops.length; i += 4096) parts.push(ops.slice(i, i + 4096));
  // Every Map operation (ShardedMap's and OrderedShardedMap's are Maps' too) while it orders them.
  let mapOps = 0;
  const M = Map.prototype as unknown as Record<'get' | 'set' | 'has' | 'delete', (...a: unknown[]) => unknown>;
  const saved = { get: M.get, set: M.set, has: M.has, delete: M.delete };
  for (const k of ['get', 'set', 'has', 'delete'] as const) {
    const f = saved[k];
    M[k] = function (this: unknown, ...a: unknown[]) {
      mapOps++;
      return f.apply(this, a);
    };
  }
  let chunks: DpOp[][];
  try {
    chunks = runSteps(orderForSlices(parts, new ShardedMap<number, GoneService>(), new ShardedMap<number, true>(), 32));
  } finally {
    Object.assign(M, saved);
  }
  assert.ok(mapOps < 100, `${mapOps} Map operations for ${ops.length} operations`);
  const expected: DpOp[][] = [];
  for (let i = 0; i < ops.length; i += 32) expected.push(ops.slice(i, i + 32));
  assert.equal(chunks.length, expected.length);
  for (let i = 0; i < chunks.length; i++) assert.ok(chunks[i]!.length === expected[i]!.length && chunks[i]!.every((o, k) => o === expected[i]![k]), `chunk ${i}`);
});

test('a -C item in a sliced batch of 20,000 services holds neither one array of them all nor one of their 20,000 deletions (each grew by push, copied whole at each growth): nothing put in V8\'s large-object space while it validates', () => {
  // In a process of its own, as the test above (helpers/batch-large-objects.ts).
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('./helpers/batch-large-objects.js', import.meta.url)), '20000', 'clear'], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { items: number; pauses: number; before: number; most: number; services: number };
  assert.equal(r.items, 1);
  assert.ok(r.pauses > 20_000, `looked at ${r.pauses} times`);
  assert.equal(r.services, 20_000, 'a dry run changes nothing');
  assert.ok(r.most - r.before < 128 * 1024, `the large-object space grew by ${r.most - r.before} bytes while the -C item validated`);
});

test('a sliced batch (a -C item and 4,000 items) awaits pause() only where the slice\'s clock ends the slice (Pause.due): not at every step of its copy of the model, its order and its chunks\' apply, a Promise each; its first chunk of operations begins a slice', async () => {
  const r = rig({ destMax: 8192 });
  r.ctl.call('batch', { items: items(1000) });
  let looks = 0;
  let ends = 0;
  let calls = 0;
  let waits = 0;
  // The clock says "end the slice" at every 50th look.
  const due = (): boolean => ++looks % 50 === 0 && ++ends > 0;
  // What happened in order: a pause() with a wait ('wait') or without ('go on'), a dp.apply.
  const seen: string[] = [];
  const pause = Object.assign(async (until?: Promise<unknown>): Promise<void> => {
    calls++;
    seen.push(until === undefined ? 'go on' : 'wait');
    if (until !== undefined) {
      waits++;
      await until;
    }
  }, { due });
  const apply = r.dp.apply.bind(r.dp);
  r.dp.apply = (ops: DpOp[]) => (seen.push('apply'), apply(ops));
  const p = await r.ctl.batchInSlices(function* () { return { items: [{ verb: 'clear', args: {} }, ...items(2000)] }; }, false, pause);
  assert.equal(p.items.length, 4001);
  assert.equal(r.ctl.list().services.length, 2000);
  assert.ok(looks > 4000, `the clock looked at ${looks} times`);
  // Every pause() but those ending a slice at a known point (with a Promise to wait for) follows a due() that said so.
  assert.ok(calls - waits <= ends, `${calls - waits} pause() calls without a wait, the clock ended ${ends} slices`);
  // The first chunk of operations begins a slice of its own (not one with the order's last step and the commit).
  assert.equal(seen[seen.indexOf('apply') - 1], 'wait', 'what came before the first dp.apply');
});

test('a sliced batch\'s servers and services check their address\'s other roles without garbage (the map\'s name made as a string, an iterator and a list of the roles per look: ~100 bytes an item, 4.1 MB of the 61 MB of a batch of 10,000 x 4)', async () => {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 8192 });
  const rules: { verb: string; args: Record<string, unknown> }[] = [];
  for (let i = 0; i < 2000; i++) {
    const service = { proto: 'tcp' as const, addr: `10.1.${i >> 8}.${i & 255}`, port: 80 };
    rules.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
    for (let k = 0; k < 3; k++) rules.push({ verb: 'addDest', args: { service, addr: `10.${2 + k}.${i >> 8}.${i & 255}`, port: 80, fwd: 'dr' } });
  }
  // Bytes allocated in notInOtherRole's frames (V8's sampling heap profiler every 1 KiB, collected objects included).
  const inRoleCheck = (n: HeapNode): number => (n.callFrame.functionName === 'notInOtherRole' ? n.selfSize : 0) + n.children.reduce((s, c) => s + inRoleCheck(c), 0);
  const s = new Session();
  s.connect();
  let bytes = Infinity;
  try {
    // Twice, the least: the first compiles.
    for (let run = 0; run < 2; run++) {
      r.ctl.clear();
      await s.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      assert.deepEqual(await r.ctl.callAsync('batch', { items: rules }), { applied: 8000 });
      const { profile } = await s.post('HeapProfiler.stopSampling');
      bytes = Math.min(bytes, inRoleCheck(profile.head as HeapNode));
    }
  } finally {
    s.disconnect();
  }
  // 8,000 items looked at their addresses' roles: ~0.8 MB before.
  assert.ok(bytes < 64 * 1024, `${bytes} bytes allocated checking 8,000 items' addresses`);
});

test('orderForSlices holds the deletions of 10,000 services whose servers share 4 addresses (-C, then the same rules) with no Set or Map of them all: nothing put in V8\'s large-object space while it orders them (4 Sets of 10,000 ids rehashed together past 8,192: 4.5-5.8 ms of CPU in one step)', () => {
  const n = 10_000;
  const rips = [1, 2, 3, 4].map((k) => (10 << 24) | (9 << 16) | k);
  const ops: DpOp[] = [];
  const gone = new ShardedMap<number, GoneService>();
  const back = new ShardedMap<number, true>();
  for (let id = 0; id < n; id++) {
    ops.push({ op: 'delService', id });
    gone.set(id, { key: `tcp|${id}|80`, vip: (10 << 24) | (1 << 16) | id, rips, lips: [], slots: [4 * id, 4 * id + 1, 4 * id + 2, 4 * id + 3] });
    back.set(id, true);
  }
  const parts: DpOp[][] = [];
  for (let id = 0; id < n; id++) {
    const part: DpOp[] = [{ op: 'addService', id, proto: 6, vip: (10 << 24) | (1 << 16) | id, port: 80, sched: 'wlc', schedFlags: 0, persist: 0, netmask: -1, oneShot: false, pe: 0, synproxy: false }];
    for (let k = 0; k < 4; k++) part.push({ op: 'addDest', svc: id, dest: 4 * id + k, addr: rips[k]!, port: 80, fwd: 0, weight: 1, upper: 0, lower: 0, tun: 0, revive: true });
    parts.push(part);
  }
  const opParts = [ops.slice(0, 4096), ops.slice(4096, 8192), ops.slice(8192), ...Array.from({ length: 13 }, (_, k) => parts.slice(k * 800, (k + 1) * 800).flat())];
  const large = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'large_object_space')!.space_used_size;
  const before = large();
  let most = before;
  const steps = orderForSlices(opParts, gone, back, 32);
  let r = steps.next();
  for (; r.done !== true; r = steps.next()) most = Math.max(most, large());
  const chunks = r.value;
  // Each deletion just before its service's addition, in the same chunk.
  assert.equal(chunks.flat().length, 6 * n);
  const first = chunks.flat().findIndex((o) => o.op === 'addService');
  assert.equal(first, 1, 'the first service\'s deletion held until its addition');
  assert.ok(most - before < 128 * 1024, `the large-object space grew by ${most - before} bytes while the operations were ordered`);
});

test('a sliced batch of 10,000 services (each its own VIP and NAT server) makes the datapath\'s lookup tables large enough before its operations, each piece in a slice of its own: no slice that applies operations grows a table (the services\' map, the VIPs\' and local addresses\', the servers\' pins, the per-service counts: before, all at the operation that passed 4,096 or 8,192)', async () => {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 10_064 });
  const its: { verb: string; args: Record<string, unknown> }[] = [];
  for (let s = 0; s < 10_000; s++) {
    const service = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    its.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
    its.push({ verb: 'addDest', args: { service, addr: `10.2.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat' } });
  }
  // The tables' typed arrays (those a growth makes: a larger table's, the per-service counts'), in bytes.
  const dp = r.dp as unknown as { svcMap: object; link: { localMap: object; vipMap: object; neigh: { pins: object } }; counters: object };
  const tables = [dp.svcMap, dp.link.localMap, dp.link.vipMap, dp.link.neigh.pins, dp.counters];
  const bytes = (): number => {
    let n = 0;
    for (const t of tables) {
      for (const v of Object.values(t)) {
        if (ArrayBuffer.isView(v)) n += v.byteLength;
        else if (Array.isArray(v)) for (const x of v) if (ArrayBuffer.isView(x)) n += x.byteLength;
      }
    }
    return n;
  };
  // Each slice (Control.held marks its end): the bytes the tables grew by and the batch's operations applied in it.
  const slices: { grew: number; ops: number }[] = [];
  let ops = 0;
  let b0 = bytes();
  const first = b0;
  const apply = r.dp.apply.bind(r.dp);
  r.dp.apply = (list: readonly DpOp[]) => {
    for (const o of list) if (o.op === 'addService' || o.op === 'addDest') ops++;
    apply(list);
  };
  const ctl = r.ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held = ctl.held;
  ctl.held = function (this: unknown, verb: string, ms: number, cpuMs: number) {
    const b = bytes();
    slices.push({ grew: Math.max(0, b - b0), ops });
    b0 = b;
    ops = 0;
    held.call(this, verb, ms, cpuMs);
  };
  try {
    await r.ctl.callAsync('batch', { items: its });
  } finally {
    delete (ctl as { held?: unknown }).held;
  }
  assert.equal(r.ctl.list().services.length, 10_000);
  assert.ok(bytes() - first > 1_000_000, `the tables grew by ${bytes() - first} bytes`);
  const mixed = slices.filter((s) => s.grew > 0 && s.ops > 0);
  assert.deepEqual(mixed, [], `${mixed.length} of ${slices.length} slices applied operations and grew the tables (bytes grown, operations): ${mixed.map((s) => `${s.grew} B with ${s.ops}`).join(', ')}`);
  assert.ok(slices.some((s) => s.grew > 0), 'the tables grew in slices of their own');
});

test('a batch of 10,000 services (one VIP, one DR server each) through the control socket\'s path keeps under 1,150 bytes of V8 heap a service: each scavenge during it copied all of that (no spread\'s second object per service and per operation, no server list made room for 17 by its first push, in the model and the datapath, no two Float64Arrays a service before a server of it is deleted; before: ~1,560)', () => {
  // In a process of its own, with its heap collected before and after (helpers/batch-kept-child.ts).
  const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./helpers/batch-kept-child.js', import.meta.url)), '10000'], { encoding: 'utf8', timeout: 120_000 });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { reply: unknown; kept: number; services: number };
  assert.deepEqual(r.reply, { id: 1, ok: true, result: { applied: 20_000 } });
  assert.equal(r.services, 10_000);
  // Measured: 811-823 bytes a service; 1,554-1,568 before.
  const perService = r.kept / 10_000;
  assert.ok(perService < 1150, `the batch kept ${perService.toFixed(0)} bytes of heap a service (${r.kept} in all)`);
});
