// test-class: shared
// The TAP steering program (native/steer.cc, src/datapath/steer.ts) loaded into the kernel and
// run on frames with BPF_PROG_TEST_RUN, and its map kept in step with a datapath's addresses.
// Loading an eBPF program needs root (CAP_BPF); without it the tests skip and say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/datapath/port.js';
import { STEER_LADDR, STEER_LOCAL, STEER_MASKED, STEER_SERVER, Steering, steerHash, steerValue, steerWorker } from '../src/datapath/steer.js';
import { rig, DIR_IP, VIP, CLIENT } from './helpers/harness.js';
import { arpFrame, icmpFrame, ip, sctpFrame, tcpFrame, udpFrame } from './helpers/frames.js';

const ROOT = process.getuid?.() === 0;
const SKIP = ROOT ? false : 'loading an eBPF program needs root (CAP_BPF)';
const L2 = { ethDst: '02:00:00:00:00:01', ethSrc: '02:00:00:00:00:fe' };
const LIP = '10.0.0.200';
const SERVER = '10.0.0.21';

/** The TAP's program (at L2), or with ring the ring backend's fanout group's (at L3). */
function load(ring = false): Steering {
  const s = new Steering(native, -1, { ring });
  assert.equal(s.mode, 'ebpf', `the kernel loads the program: ${s.describe()}`);
  return s;
}

/** The rule is the same for the TAP (L2) and for the ring backend's fanout group (L3). */
const PROGRAMS = [['the TAP', false], ['the ring fanout', true]] as const;

for (const [which, ring] of PROGRAMS) test(`the program (${which}) picks by the rule: VIP -> hash(client), reply -> hash(client), local address -> port, the rest -> 0`, { skip: SKIP }, () => {
  const s = load(ring);
  try {
    s.sync(new Map([[ip(VIP) | 0, STEER_LOCAL], [ip(DIR_IP) | 0, STEER_LOCAL], [ip(LIP) | 0, STEER_LADDR]]));
    const seen = new Set<number>();
    for (let cport = 40000; cport < 40064; cport++) {
      const h = steerHash(ip(CLIENT) | 0, cport);
      seen.add(h % 2);
      const syn = tcpFrame(L2, { src: CLIENT, dst: VIP, sport: cport, dport: 80, flags: 0x02 });
      assert.equal(s.run(syn), h, `client ${cport} -> VIP: hash of the client`);
      // The NAT reply: server -> client, the same client endpoint as destination.
      const reply = tcpFrame(L2, { src: SERVER, dst: CLIENT, sport: 80, dport: cport, flags: 0x12 });
      assert.equal(s.run(reply), h, `server -> client ${cport}: the same hash`);
      const ureply = udpFrame(L2, { src: SERVER, dst: CLIENT, sport: 53, dport: cport, payload: new Uint8Array(4) });
      assert.equal(s.run(ureply), h, `UDP reply to ${cport}: the same hash`);
      // FULLNAT: server -> LIP:lport picks the port (worker lport % N).
      const fn = tcpFrame(L2, { src: SERVER, dst: LIP, sport: 80, dport: cport + 7, flags: 0x12 });
      assert.equal(s.run(fn), cport + 7, 'reply to a local address: its port');
    }
    assert.deepEqual([...seen].sort(), [0, 1], 'client ports spread over both of 2 queues');
    // To uvsd's own --addr (kind VIP): the source.
    assert.equal(s.run(tcpFrame(L2, { src: SERVER, dst: DIR_IP, sport: 80, dport: 1234, flags: 0x12 })), steerHash(ip(SERVER) | 0, 80));
    // IP options move the ports: read after the real header length.
    const opt = tcpFrame(L2, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: 0x02 }, { options: new Uint8Array([1, 1, 1, 1]) });
    assert.equal(opt[14] & 0xf, 6, 'the frame has a 24-byte IP header');
    assert.equal(s.run(opt), steerHash(ip(CLIENT) | 0, 40001));
    // SCTP: its ports where TCP's are, so by the same rule (an association stays on one worker).
    const init = sctpFrame(L2, { src: CLIENT, dst: VIP }, { sport: 40009, dport: 3868, chunks: [{ type: 1, value: new Uint8Array(16) }] });
    assert.equal(s.run(init), steerHash(ip(CLIENT) | 0, 40009), 'SCTP to the VIP: hash of the client');
    const sreply = sctpFrame(L2, { src: SERVER, dst: CLIENT }, { sport: 3868, dport: 40009, chunks: [{ type: 2 }] });
    assert.equal(s.run(sreply), steerHash(ip(CLIENT) | 0, 40009), 'the SCTP reply: the same hash');
    // Not IPv4 TCP/UDP/SCTP, or no ports: queue 0.
    assert.equal(s.run(arpFrame(L2, { op: 1, sha: L2.ethSrc, spa: CLIENT, tpa: VIP })), 0, 'ARP');
    assert.equal(s.run(icmpFrame(L2, { src: CLIENT, dst: VIP }, { type: 8, code: 0, payload: new Uint8Array(8) })), 0, 'ICMP');
    const frag = tcpFrame(L2, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: 0x10 }, { fragOffset: 100, df: false });
    assert.equal(s.run(frag), 0, 'a fragment with offset > 0');
    const first = tcpFrame(L2, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: 0x10 }, { mf: true, df: false });
    assert.equal(s.run(first), steerHash(ip(CLIENT) | 0, 40001), 'the first fragment carries the ports');
  } finally {
    s.close();
  }
});

test('the map follows the datapath: VIPs and --addrs as local, FULLNAT local addresses as such; a deleted service leaves', { skip: SKIP }, () => {
  const s = load();
  const r = rig({ addrs: [`${DIR_IP}/24`] });
  const entries = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [a, k] of s.entries()) out[`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`] = k;
    return out;
  };
  try {
    s.sync(r.dp.steerAddrs());
    assert.deepEqual(entries(), { [DIR_IP]: STEER_LOCAL }, 'at start: the --addr');
    const service = { proto: 'tcp', addr: VIP, port: 80 };
    r.ctl.call('addService', { ...service, sched: 'rr' });
    r.ctl.call('addDest', { service, addr: SERVER, port: 80, fwd: 'fullnat', weight: 1 });
    r.ctl.call('addLaddr', { service, addr: LIP });
    s.sync(r.dp.steerAddrs());
    assert.deepEqual(entries(), { [DIR_IP]: STEER_LOCAL, [VIP]: STEER_LOCAL, [LIP]: STEER_LADDR });
    // The program reads what the map holds now.
    assert.equal(s.run(tcpFrame(L2, { src: SERVER, dst: LIP, sport: 80, dport: 5001, flags: 0x12 })), 5001);
    r.ctl.call('deleteService', service);
    s.sync(r.dp.steerAddrs());
    assert.deepEqual(entries(), { [DIR_IP]: STEER_LOCAL }, 'the VIP and the local address left with the service');
    assert.equal(s.run(tcpFrame(L2, { src: SERVER, dst: LIP, sport: 80, dport: 5001, flags: 0x12 })), steerHash(ip(LIP) | 0, 5001),
      'no longer local: hashed as a reply');
  } finally {
    s.close();
  }
});

for (const [which, ring] of PROGRAMS) test(`persistence (${which}): a VIP of kind 4 hashes its clients by network (port 0), replies from its NAT servers (kind 3) follow; the map follows -p, -M and the servers`, { skip: SKIP }, () => {
  const s = load(ring);
  const r = rig({ addrs: [`${DIR_IP}/24`] });
  const mask24 = ip('255.255.255.0') | 0;
  const mask16 = ip('255.255.0.0') | 0;
  const VIP2 = '10.0.0.101';
  const SERVER2 = '10.0.0.22';
  const OTHER = '10.0.0.23';
  try {
    const svc = { proto: 'tcp', addr: VIP, port: 80 };
    const svc2 = { proto: 'udp', addr: VIP2, port: 53 };
    r.ctl.call('addService', { ...svc, sched: 'rr', persist: 300, netmask: '255.255.255.0' });
    r.ctl.call('addDest', { service: svc, addr: SERVER, port: 80, fwd: 'nat', weight: 1 });
    r.ctl.call('addDest', { service: svc, addr: OTHER, port: 80, fwd: 'dr', weight: 1 });
    // Not persistent, but SERVER answers for it too: its replies are hashed by network, so its
    // requests must be (and so its other NAT server's replies).
    r.ctl.call('addService', { ...svc2, sched: 'rr' });
    r.ctl.call('addDest', { service: svc2, addr: SERVER, port: 53, fwd: 'nat', weight: 1 });
    r.ctl.call('addDest', { service: svc2, addr: SERVER2, port: 53, fwd: 'nat', weight: 1 });
    s.sync(r.dp.steerAddrs());
    const want = (m: number): Map<number, number> => new Map([
      [ip(DIR_IP) | 0, STEER_LOCAL], [ip(VIP) | 0, steerValue(STEER_MASKED, m)], [ip(VIP2) | 0, steerValue(STEER_MASKED, m)],
      [ip(SERVER) | 0, steerValue(STEER_SERVER, m)], [ip(SERVER2) | 0, steerValue(STEER_SERVER, m)],
    ]);
    assert.deepEqual(s.entries(), want(mask24), 'VIP, VIP2 (shares a NAT server), both NAT servers; not the DR one');
    const net = steerHash(ip(CLIENT) & mask24, 0);
    const ports = new Set<number>();
    for (let cport = 40000; cport < 40032; cport++) {
      assert.equal(s.run(tcpFrame(L2, { src: CLIENT, dst: VIP, sport: cport, dport: 80, flags: 0x02 })), net, `${cport}: by network`);
      assert.equal(s.run(tcpFrame(L2, { src: SERVER, dst: CLIENT, sport: 80, dport: cport, flags: 0x12 })), net, `${cport}: the reply too`);
      assert.equal(s.run(udpFrame(L2, { src: SERVER2, dst: CLIENT, sport: 53, dport: cport, payload: new Uint8Array(4) })), net);
      // A server not in the map (DR, or another host): the client endpoint, as before.
      assert.equal(s.run(tcpFrame(L2, { src: OTHER, dst: CLIENT, sport: 80, dport: cport, flags: 0x12 })), steerHash(ip(CLIENT) | 0, cport));
      ports.add(steerHash(ip(CLIENT) | 0, cport) % 2);
    }
    assert.equal(ports.size, 2, 'by endpoint the same ports would have spread over both workers');
    const neighbour = '192.0.2.77'; // CLIENT's /24
    assert.equal(s.run(tcpFrame(L2, { src: neighbour, dst: VIP, sport: 1, dport: 80, flags: 0x02 })), net, 'the whole /24 on one worker');
    assert.equal(steerWorker(ip(neighbour) | 0, 9, mask24, 2), net % 2, 'steerWorker says the same');
    // A server's address as a destination is not ours: hashed as a reply to it.
    assert.equal(s.run(tcpFrame(L2, { src: CLIENT, dst: SERVER, sport: 5, dport: 80, flags: 0x02 })), steerHash(ip(SERVER) | 0, 80));
    // -M 255.255.0.0 widens the mask everywhere; -p off leaves VIPs by endpoint, servers out.
    r.ctl.call('editService', { ...svc, sched: 'rr', persist: 300, netmask: '255.255.0.0' });
    s.sync(r.dp.steerAddrs());
    assert.deepEqual(s.entries(), want(mask16));
    r.ctl.call('editService', { ...svc, sched: 'rr', persist: 0 });
    s.sync(r.dp.steerAddrs());
    assert.deepEqual(s.entries(), new Map([[ip(DIR_IP) | 0, STEER_LOCAL], [ip(VIP) | 0, STEER_LOCAL], [ip(VIP2) | 0, STEER_LOCAL]]));
    assert.equal(s.run(tcpFrame(L2, { src: SERVER, dst: CLIENT, sport: 80, dport: 40001, flags: 0x12 })), steerHash(ip(CLIENT) | 0, 40001));
  } finally {
    s.close();
  }
});

test('a refused program leaves automq with the reason (a bad TAP fd)', { skip: SKIP }, () => {
  const s = new Steering(native, 0x7ffffff0);
  assert.equal(s.mode, 'automq');
  assert.match(s.describe(), /^automq \(.*TUNSETSTEERINGEBPF.*\)$/);
  s.sync(new Map([[1, STEER_LOCAL]])); // nothing to keep in step: no error
  assert.equal(s.entries().size, 0);
});

test('the ring backend: a program its fanout group refuses is detached, and the flow hash is said with the reason; --steering automq says hash', { skip: SKIP }, () => {
  const s = load(true);
  assert.equal(typeof s.prog, 'number');
  s.detach('PACKET_FANOUT_DATA: Invalid argument');
  assert.equal(s.mode, 'hash');
  assert.equal(s.prog, undefined);
  assert.equal(s.describe(), 'hash (PACKET_FANOUT_DATA: Invalid argument)');
  s.sync(new Map([[1, STEER_LOCAL]]));
  assert.equal(s.entries().size, 0);
  assert.equal(new Steering(native, undefined, { ring: true }).describe(), 'hash (uvsd --steering automq)');
  assert.throws(() => native.steerAttach(3, 16, true), /the L3 program is for a fanout group/);
});
