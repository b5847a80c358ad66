// test-class: shared
// uvsd --workers N, frames that go round the workers (in-process, no threads): N worker
// datapaths whose handoffs are delivered at once, by the rule src/datapath/worker.ts follows
// (handoffHops), each frame read from the TAP by the worker the steering program picks
// (Datapath.clientWorker, the program's rule). What one datapath does with its one table, the
// workers must do between them: a segment of a connection another worker holds reaches that
// connection, never a second entry. (test/unit-workers.test.ts: the single handoffs;
// test/integration-workers.test.ts runs the threads.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { destLoad } from '../src/datapath/dests.js';
import { handoffHops } from '../src/datapath/pipeline.js';
import { TICK_MS } from '../src/datapath/conntable.js';
import { REC_LEN } from '../src/datapath/syncrec.js';
import { SyncProducer } from '../src/sync/producer.js';

const DEST_MAX = 64;
const GW = '10.0.0.254';
/** A forwarded frame's IP destination (NAT: the server). */
const ipOf = (f: Buffer): string => [...f.subarray(30, 34)].join('.');
const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };

interface Ring {
  w: Rig[];
  /** A frame from the TAP, read by the worker steering gives it, and every handoff it makes: what
   *  went out, which worker read it first, how many handoffs. */
  send(frame: Buffer, at?: number): { out: Buffer[]; first: number; hops: number };
  /** Time passes on every worker, tick by tick. */
  advance(ms: number): void;
  /** Every worker's counter summed. */
  total(name: string): number;
}

function ring(n: number, setup: (r: Rig) => void): Ring {
  const load = destLoad(n, DEST_MAX);
  const queue: { to: number; frame: Buffer; hops: number; reused: boolean }[] = [];
  const strays = new Int32Array(new SharedArrayBuffer(4 * n));
  const hops = new Array<number>(n).fill(0);
  const w = Array.from({ length: n }, (_, index) => {
    const r = rig({ destMax: DEST_MAX, gateway: GW, worker: { index, count: n, load, strays } });
    r.dp.resolve(parseIp(GW)); // answers to the off-link client go through the gateway
    r.learn(GW, ROUTER_MAC);
    setup(r);
    r.dp.handoff = (buf, off, len, owner, reused) => {
      const next = handoffHops(index, n, owner, hops[index]!, r.dp.handedIn);
      if (next < 0) return false;
      queue.push({ to: owner < 0 ? (index + 1) % n : owner, frame: Buffer.from(buf.subarray(off, off + len)), hops: next, reused });
      return true;
    };
    r.sink.take();
    return r;
  });
  const runOn = (k: number, frame: Buffer, h: number, handedIn: boolean, reused: boolean): Buffer[] => {
    const r = w[k]!;
    hops[k] = h;
    r.dp.handedIn = handedIn;
    r.dp.reusedIn = reused;
    try {
      return r.run(frame);
    } finally {
      hops[k] = 0;
      r.dp.handedIn = false;
      r.dp.reusedIn = false;
    }
  };
  return {
    w,
    send(frame, at) {
      const first = at ?? w[0]!.dp.clientWorker(frame.readInt32BE(26), frame.readUInt16BE(34), frame.readInt32BE(30), n);
      const out = runOn(first, frame, 0, false, false);
      let handed = 0;
      for (let h = queue.shift(); h !== undefined; h = queue.shift()) {
        handed++;
        out.push(...runOn(h.to, h.frame, h.hops, true, h.reused));
      }
      return { out, first, hops: handed };
    },
    total: (name) => w.reduce((a, r) => a + r.counters()[name]!, 0),
    advance(ms) {
      for (let t = 0; t < ms; t += TICK_MS) {
        for (const r of w) {
          r.advance(TICK_MS);
          r.dp.tick();
          r.sink.take();
        }
      }
    },
  };
}

test('--sloppy-tcp all with 2 and 3 workers: a -p service added on a live VIP moves its clients to other workers; their established connections keep their servers (no second entry, ActiveConn once), a NAT client\'s ACK is not reset; a new mid-flow segment goes round once and opens on the worker its frames reach', () => {
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const nat = { proto: 'tcp' as const, addr: VIP, port: 81 };
  for (const n of [2, 3]) {
    const x = ring(n, (r) => {
      r.dp.setDefense({ sloppyTcp: 'all' });
      r.ctl.addService({ ...service, sched: 'wlc' });
      r.ctl.addService({ ...nat, sched: 'rr' });
      for (const s of RS) {
        r.ctl.addDest({ service, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
        r.ctl.addDest({ service: nat, addr: s.ip, port: 8080, fwd: 'nat', weight: 1 });
        r.learn(s.ip, s.mac);
      }
    });
    const seg = (sport: number, flags: number, dport = 80): Buffer => tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport, flags, payload: flags === TCP_FLAGS.SYN ? undefined : new Uint8Array(5) });
    const server: string[] = [];
    const workers = new Set<number>();
    for (let i = 0; i < 16; i++) {
      const syn = x.send(seg(40000 + i, TCP_FLAGS.SYN));
      assert.equal(syn.hops, 0, `${n}/${i}: a SYN opens where it is read`);
      workers.add(syn.first);
      server.push(syn.out[0]!.subarray(0, 6).toString('hex')); // DR: the server's MAC
      assert.equal(x.send(seg(40000 + i, TCP_FLAGS.ACK)).hops, 0);
    }
    // NAT connections, half-open (the server's SYN|ACK not seen yet).
    const natServer: string[] = [];
    for (let i = 0; i < 8; i++) natServer.push(ipOf(x.send(seg(42000 + i, TCP_FLAGS.SYN, 81)).out[0]!));
    assert.equal(workers.size, n, `${n}: the connections are spread over every worker`);
    // -A -t VIP:443 -p: the VIP's clients are steered by network now, all to one worker.
    persistentHttps(x);
    const now = x.w[0]!.dp.clientWorker(parseIp(CLIENT) | 0, 40000, parseIp(VIP) | 0, n);
    let moved = 0;
    for (let i = 0; i < 16; i++) {
      const r = x.send(seg(40000 + i, TCP_FLAGS.ACK | TCP_FLAGS.PSH));
      assert.equal(r.first, now);
      assert.equal(r.out.length, 1, `${n}/${40000 + i}: forwarded once`);
      if (r.hops > 0) moved++;
      assert.equal(r.out[0]!.subarray(0, 6).toString('hex'), server[i], `${n}/${40000 + i}: its established connection's server`);
    }
    assert.ok(moved > 0, `${n}: some connections were on other workers`);
    // A NAT client's ACK reaches its connection (sloppy TCP never opens NAT: a reset from the VIP).
    for (let i = 0; i < 8; i++) {
      const out = x.send(seg(42000 + i, TCP_FLAGS.ACK, 81)).out;
      assert.deepEqual(out.map(ipOf), [natServer[i]], `${n}/${42000 + i}: NAT, to its server, not reset`);
    }
    assert.equal(x.total('tcp_rst_sent'), 0);
    assert.equal(x.total('conns_sloppy'), 0, `${n}: no connection opened sloppily`);
    assert.equal(x.total('conns_created'), 24, `${n}: conns_created`);
    assert.equal(x.w.reduce((a, r) => a + r.dp.ct.count, 0), 24, `${n}: one entry per connection`);
    assert.equal(x.w.reduce((a, r) => a + r.ctl.list().services[0]!.dests.reduce((b, d) => b + d.active, 0), 0), 16, `${n}: ActiveConn`);
    // A mid-flow segment no worker holds (ECMP moved it here): round every worker and back to the
    // one that read it, which opens it; its next segment stays there.
    const fresh = x.send(seg(41000, TCP_FLAGS.ACK));
    assert.equal(fresh.out.length, 1, `${n}: the new mid-flow segment is forwarded`);
    assert.equal(fresh.hops, n, `${n}: after a round of ${n} handoffs`);
    assert.equal(x.w[fresh.first]!.counters().conns_sloppy, 1, `${n}: opened by the worker its frames reach`);
    assert.equal(x.total('conns_sloppy'), 1);
    assert.equal(x.send(seg(41000, TCP_FLAGS.ACK | TCP_FLAGS.PSH)).hops, 0, `${n}: its next segment is not handed on`);
  }
});

test('sync, FULLNAT UDP, to a backup with 2 and 3 workers from a master of one datapath: at takeover every synced flow goes on from its local port to its server (none scheduled again); a new flow goes round only while such a connection waits on a worker its client does not reach', () => {
  const service = { proto: 'udp' as const, addr: VIP, port: 53 };
  const LIP = '10.0.0.5';
  const setup = (r: Rig): void => {
    r.ctl.addService({ ...service, sched: 'rr' });
    for (const s of RS) {
      r.ctl.addDest({ service, addr: s.ip, port: 53, fwd: 'fullnat', weight: 1 });
      r.learn(s.ip, s.mac);
    }
    r.ctl.addLaddr({ service, addr: LIP, portMin: 5000, portMax: 5999 });
    r.ctl.call('setTimeouts', { tcp: 0, tcpfin: 0, udp: 10 }); // ipvsadm --set 0 0 10: UDP entries go after 10 s
  };
  const master = rig({ destMax: DEST_MAX, gateway: GW });
  master.dp.resolve(parseIp(GW));
  master.learn(GW, ROUTER_MAC);
  setup(master);
  const producer = new SyncProducer(master.dp);
  producer.start();
  const clients = Array.from({ length: 16 }, (_, i) => ({ src: `192.0.2.${10 + i}`, sport: 40000 + i }));
  const sent = clients.map((c) => {
    const f = master.run(udpFrame(IN, { src: c.src, dst: VIP, sport: c.sport, dport: 53, payload: new Uint8Array(8) }))[0]!;
    return { server: ipOf(f), lport: f.readUInt16BE(34) };
  });
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(REC_LEN * 256);
  producer.produce(buf, 0, 50, 100, (k) => chunks.push(buf.slice(0, k * REC_LEN)));
  const records = Buffer.concat(chunks);
  assert.equal(records.length, 16 * REC_LEN);
  for (const n of [2, 3]) {
    const x = ring(n, setup);
    // The backup's daemon gives each record to the worker of its local port (SyncDaemon, syncOwner).
    for (const r of x.w) r.ctl.call('setRole', { role: 'backup' });
    for (let o = 0; o < records.length; o += REC_LEN) {
      const k = x.w[0]!.dp.syncOwner(records, o, n);
      x.w[k]!.dp.apply([{ op: 'syncInstall', records: records.subarray(o, o + REC_LEN) }]);
    }
    for (const r of x.w) r.ctl.call('setRole', { role: 'master' });
    assert.equal(x.total('sync_installed'), 16);
    let round = 0;
    clients.forEach((c, i) => {
      const r = x.send(udpFrame(IN, { src: c.src, dst: VIP, sport: c.sport, dport: 53, payload: new Uint8Array(10) }));
      assert.equal(r.out.length, 1, `${n}/${c.src}: forwarded`);
      assert.deepEqual([ipOf(r.out[0]!), r.out[0]!.readUInt16BE(34)], [sent[i]!.server, sent[i]!.lport], `${n}/${c.src}: the master's server, from the master's local port`);
      if (r.hops > 0) round++;
    });
    assert.ok(round > 0, `${n}: some flows wait on a worker their client does not reach`);
    assert.equal(x.total('conns_created'), 0, `${n}: none scheduled again`);
    assert.equal(x.w.reduce((a, r) => a + r.dp.ct.count, 0), 16, `${n}: no second entry`);
    // A server's reply reaches the worker of its local port (the steering program's rule), which holds it.
    const back = x.send(udpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { src: RS[0].ip, dst: LIP, sport: 53, dport: sent[0]!.lport }), sent[0]!.lport % n);
    assert.deepEqual([back.out.length, back.hops], [1, 0], `${n}: a reply, in place`);
    // A new flow meanwhile: round every worker and back, opened by its client's worker (its local
    // port is that worker's, so its replies come there).
    const fresh = x.send(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 41000, dport: 53, payload: new Uint8Array(8) }));
    assert.equal(fresh.hops, n, `${n}: a new flow goes round while synced flows wait elsewhere`);
    assert.equal(fresh.out[0]!.readUInt16BE(34) % n, fresh.first, `${n}: its local port is its worker's`);
    // Those connections expire (no traffic for the UDP timeout): a new flow opens in place again.
    x.advance(11_000);
    assert.equal(x.w.reduce((a, r) => a + r.dp.ct.count, 0), 0);
    assert.deepEqual(x.w.map((r) => r.dp.strays[r.dp.workerIndex]), new Array(n).fill(0), `${n}: no stray left`);
    assert.equal(x.send(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 41001, dport: 53, payload: new Uint8Array(8) })).hops, 0, `${n}: a new flow, in place`);
  }
});

test('UDP with 2 and 3 workers: a -p service added on a live VIP moves its clients to other workers; their live flows (DR, NAT) keep their entries and servers (0 moved, no second entry, InActConn once); new flows go round only during the window, then open in place', () => {
  const dr = { proto: 'udp' as const, addr: VIP, port: 53 };
  const nat = { proto: 'udp' as const, addr: VIP, port: 54 };
  for (const n of [2, 3]) {
    const x = ring(n, (r) => {
      r.ctl.addService({ ...dr, sched: 'wlc' });
      r.ctl.addService({ ...nat, sched: 'wlc' });
      for (const s of RS) {
        r.ctl.addDest({ service: dr, addr: s.ip, port: 53, fwd: 'dr', weight: 1 });
        r.ctl.addDest({ service: nat, addr: s.ip, port: 5300, fwd: 'nat', weight: 1 });
        r.learn(s.ip, s.mac);
      }
      r.ctl.call('setTimeouts', { tcp: 0, tcpfin: 0, udp: 10 });
    });
    const dgram = (sport: number, dport: number): Buffer => udpFrame(IN, { src: CLIENT, dst: VIP, sport, dport, payload: new Uint8Array(8) });
    // DR: the server's MAC; NAT: its address.
    const server = (f: Buffer, dport: number): string => (dport === 53 ? f.subarray(0, 6).toString('hex') : ipOf(f));
    const flows: { sport: number; dport: number; server: string }[] = [];
    for (let i = 0; i < 16; i++) {
      const dport = i < 8 ? 53 : 54;
      const r = x.send(dgram(40000 + i, dport));
      assert.equal(r.hops, 0, `${n}/${i}: opened where it is read`);
      flows.push({ sport: 40000 + i, dport, server: server(r.out[0]!, dport) });
    }
    assert.equal(new Set(flows.map((f) => x.w[0]!.dp.clientWorker(parseIp(CLIENT) | 0, f.sport, parseIp(VIP) | 0, n))).size, n, `${n}: spread over every worker`);
    // -A -t VIP:443 -p: the VIP's clients are steered by network now, all to one worker.
    persistentHttps(x);
    x.advance(5_000); // within the UDP timeout: every flow lives on
    let moved = 0;
    let round = 0;
    for (const f of flows) {
      const r = x.send(dgram(f.sport, f.dport));
      assert.equal(r.out.length, 1, `${n}/${f.sport}: forwarded once`);
      assert.equal(server(r.out[0]!, f.dport), f.server, `${n}/${f.sport}: its flow's server`);
      if (r.hops > 0) round++;
      // Its next datagram: to the same entry again (found in place, or round again).
      const again = x.send(dgram(f.sport, f.dport));
      assert.equal(server(again.out[0]!, f.dport), f.server);
    }
    moved = x.total('conns_created') - 16;
    assert.ok(round > 0, `${n}: some flows were on other workers`);
    assert.equal(moved, 0, `${n}: flows opened again (conns_created - 16)`);
    assert.equal(x.w.reduce((a, r) => a + r.dp.ct.count, 0), 16, `${n}: one entry per flow`);
    const inact = x.w.reduce((a, r) => a + r.ctl.list().services.slice(0, 2).reduce((b, s) => b + s.dests.reduce((c, d) => c + d.inactive + d.active, 0), 0), 0);
    assert.equal(inact, 16, `${n}: ActiveConn + InActConn`);
    // A new flow meanwhile goes round every worker and back, and opens where its frames arrive.
    const fresh = x.send(dgram(41000, 53));
    assert.equal(fresh.hops, n, `${n}: a new flow goes round during the window`);
    assert.equal(x.send(dgram(41000, 53)).hops, 0, `${n}: its next datagram is in place`);
    // No traffic for the UDP timeout: every flow expires, the window ends; new flows open in place.
    x.advance(11_000);
    assert.equal(x.w.reduce((a, r) => a + r.dp.ct.count, 0), 0, `${n}: all expired`);
    assert.deepEqual(x.w.map((r) => r.dp.strays[r.dp.workerIndex]), new Array(n).fill(0), `${n}: no stray left`);
    assert.equal(x.send(dgram(41001, 53)).hops, 0, `${n}: after the window a new flow opens in place`);
    assert.equal(x.send(dgram(41002, 54)).hops, 0, `${n}: NAT too`);
  }
});

/**
 * n workers with a persistent (-p 300) rr service over RS (DR); twelve clients each open a flow
 * from port 40000 (frame(src, sport)), so each has a template: their servers' MACs.
 */
function persistentClients(n: number, service: { proto: 'tcp' | 'udp'; addr: string; port: number }, frame: (src: string, sport: number) => Buffer) {
  const x = ring(n, (r) => {
    r.ctl.addService({ ...service, sched: 'rr', persist: 300 });
    for (const s of RS) {
      r.ctl.addDest({ service, addr: s.ip, port: service.port, fwd: 'dr', weight: 1 });
      r.learn(s.ip, s.mac);
    }
  });
  const clients = Array.from({ length: 12 }, (_, i) => `192.0.2.${10 + i}`);
  const server = clients.map((c) => x.send(frame(c, 40000)).out[0]!.subarray(0, 6).toString('hex'));
  assert.equal(x.total('templates_created'), 12);
  return { x, clients, server };
}

/** -A -t VIP:443 -p [-M netmask] on every worker: the VIP's clients are steered by network now
 *  (their workers may change) and a steering window opens. */
function persistentHttps(x: Ring, netmask?: string): void {
  const https = { proto: 'tcp' as const, addr: VIP, port: 443 };
  for (const r of x.w) {
    r.ctl.addService({ ...https, sched: 'rr', persist: 300, ...(netmask === undefined ? {} : { netmask }) });
    r.ctl.addDest({ service: https, addr: RS[0].ip, port: 443, fwd: 'dr', weight: 1 });
  }
}

test('UDP -p with 2 and 3 workers: a -p -M service added on the VIP steers its clients by a wider network; a client\'s new flow during the window finds its template on the worker that made it and keeps its server (no second template)', () => {
  const dns = { proto: 'udp' as const, addr: VIP, port: 53 };
  for (const n of [2, 3]) {
    const dgram = (src: string, sport: number): Buffer => udpFrame(IN, { src, dst: VIP, sport, dport: 53, payload: new Uint8Array(8) });
    const { x, clients, server } = persistentClients(n, dns, dgram);
    persistentHttps(x, '255.255.0.0');
    let round = 0;
    clients.forEach((c, i) => {
      const r = x.send(dgram(c, 40001));
      assert.equal(r.out[0]!.subarray(0, 6).toString('hex'), server[i], `${n}/${c}: a new flow, its template's server`);
      if (r.hops > 0) round++;
      assert.equal(x.send(dgram(c, 40000)).out[0]!.subarray(0, 6).toString('hex'), server[i], `${n}/${c}: its old flow too`);
    });
    assert.equal(x.total('templates_created'), 12, `${n}: no second template`);
    assert.equal(x.total('conns_created'), 24, `${n}: conns_created`);
    assert.ok(round > 0, `${n}: some clients' templates are on other workers`);
  }
});

test('TCP -p with 2 and 3 workers: a -p -M service added on the VIP steers its clients by a wider network; a client\'s new SYN during the window goes round, finds its template on the worker that made it and keeps its server (no second template)', () => {
  const web = { proto: 'tcp' as const, addr: VIP, port: 80 };
  for (const n of [2, 3]) {
    const syn = (src: string, sport: number): Buffer => tcpFrame(IN, { src, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN });
    const { x, clients, server } = persistentClients(n, web, syn);
    // A SYN outside any window opens where it is read (a client with a template there).
    assert.equal(x.send(syn(clients[0]!, 39999)).hops, 0, `${n}: no round outside a window`);
    persistentHttps(x, '255.255.0.0');
    let round = 0;
    clients.forEach((c, i) => {
      const r = x.send(syn(c, 40001));
      assert.equal(r.out.length, 1, `${n}/${c}: forwarded once`);
      assert.equal(r.out[0]!.subarray(0, 6).toString('hex'), server[i], `${n}/${c}: a new SYN, its template's server`);
      if (r.hops > 0) round++;
    });
    assert.equal(x.total('templates_created'), 12, `${n}: no second template`);
    assert.equal(x.total('conns_created'), 25, `${n}: conns_created`);
    assert.ok(round > 0, `${n}: some clients' templates are on other workers`);
    // A client with no template yet: round every worker and back, a template where it is read.
    const fresh = x.send(syn('192.0.2.99', 40000));
    assert.equal(fresh.hops, n, `${n}: a new client's SYN goes round during the window`);
    assert.equal(x.send(syn('192.0.2.99', 40001)).hops, 0, `${n}: its next SYN finds its template in place`);
    assert.equal(x.total('templates_created'), 13);
  }
});
