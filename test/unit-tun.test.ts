// test-class: shared
// TUN encapsulation in place (headroom in front of the received frame, as uvsd's port lays frames
// out) and by copy into a generated slot (no headroom): the same bytes leave either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eth, FWD_IP, hopped, inetChecksum, ipv4, partialCsum, tcp, tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, GW, RIG_IP_ID_SEED, ROUTER_MAC, RS, VIP, assertFrame, delta, rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { DECAP_FRAGMENT, DECAP_OK, decapFrame } from '../src/modes/decap.js';
import { OuterReassembly, REASM_DONE, REASM_OVERLAPS } from '../src/modes/decap-reasm.js';
import { decapHost, routerFragments } from './helpers/decap.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };

/** TUN to RS[0]; with `gateway` the client is off-link behind GW (learned): answers reach it. */
function tunRig(headroom: number, gateway = false) {
  const r = rig({ headroom, gateway: gateway ? GW : undefined });
  if (gateway) {
    r.dp.resolve(parseIp(GW));
    r.learn(GW, ROUTER_MAC);
  }
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'tun', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  return r;
}

test('TUN wraps in place with headroom and by copy without; both send the same bytes', () => {
  const frames = [0, 1, 2].map((i) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 5000 + i, dport: 80, flags: TCP_FLAGS.SYN, payload: Buffer.alloc(1400, i) }));
  const inPlace = tunRig(32);
  inPlace.feed(...frames);
  const a = inPlace.sink.sent;
  const copied = tunRig(0);
  copied.feed(...frames);
  const b = copied.sink.sent;
  assert.equal(a.length, 3);
  assert.ok(a.every((s) => s.fromRx), 'in place: sent from the receive buffer');
  assert.ok(b.every((s) => !s.fromRx), 'no headroom: sent from generated slots');
  a.forEach((s, i) => assert.deepEqual(s.frame, b[i]!.frame, `frame ${i}`));
  assert.equal(a[0]!.frame.length, frames[0]!.length + 20);
  assert.equal(a[0]!.frame[23], 4, 'outer protocol IPIP');
  assert.deepEqual(a[0]!.frame.subarray(34), hopped(frames[0]!).subarray(14), 'inner packet untouched but for its TTL');
});

test('TUN gives every outer packet its own IP ID (inner fragments uvsd cuts keep their shared one): a router fragmenting them after the director makes no reassembly key of two packets; workers count from apart', () => {
  const r = tunRig(32);
  // Two 1500-byte segments without DF (the same inner IP ID, as a sender without DF may): each
  // is cut into two inner fragments, each wrapped.
  const seg = (i: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 6100, dport: 80, flags: TCP_FLAGS.ACK, seq: 1 + i * 1460, payload: Buffer.alloc(1460, i) }, { df: false });
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 6100, dport: 80, flags: TCP_FLAGS.SYN }));
  const out = r.run(seg(0), seg(1));
  assert.equal(out.length, 4);
  const ids = out.map((f) => f.readUInt16BE(18));
  assert.deepEqual(ids, [1, 2, 3, 4].map((k) => RIG_IP_ID_SEED + k), 'outer IDs: the datapath\'s counter, one each (the SYN had the first)');
  assert.deepEqual(out.map((f) => f.readUInt16BE(34 + 4)), [0, 0, 0, 0], 'inner IDs untouched');
  assert.ok(out.every((f) => folded(f, 14, 20) === 0xffff), 'outer header checksums valid');
  // A 1280-byte link after the director: the server's uvs-decap gets the two long outer packets
  // in two fragments each and reassembles both, neither mistaken for a piece of the other.
  const server = decapHost({ vips: [VIP], locals: [RS[0].ip], mac: RS[0].mac });
  const reasm = new OuterReassembly();
  const got: Buffer[] = [];
  const at = new Int32Array(2);
  for (const f of out.flatMap((x) => routerFragments(x))) {
    let [b, o, n] = [f, 0, f.length];
    if (decapFrame(b, o, n, server, at) === DECAP_FRAGMENT) {
      [b, o, n] = [reasm.buf, reasm.add(f, 0, f.length, 0), reasm.doneLen];
      if (o < 0) continue;
    }
    assert.equal(decapFrame(b, o, n, server, at), DECAP_OK);
    got.push(Buffer.from(b.subarray(at[0], at[0]! + at[1]!)));
  }
  assert.deepEqual([reasm.counts[REASM_DONE], reasm.counts[REASM_OVERLAPS]], [2, 0]);
  assert.deepEqual(got, out.map((f) => f.subarray(34)), 'the inner fragments, whole');
  // The counter wraps at 65535; worker k of n starts k/n of the ID space further on.
  const w = rig({ worker: { index: 1, count: 2 }, ipIdSeed: 0x7fff });
  assert.deepEqual([w.dp.nextIpId(), w.dp.nextIpId(), w.dp.nextIpId()], [0xffff, 0, 1]);
});

test('fragmentation needed is never rate-limited (the kernel never limits PMTU discovery): 60 at once, and while stray ACKs have used up the answer budget; one answer per oversized packet', () => {
  const r = tunRig(32, true);
  r.feed(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 6000, dport: 80, flags: TCP_FLAGS.SYN }));
  r.sink.take();
  // 60 DF segments of 1500 bytes, too big to wrap in a 1500-byte MTU: one batch.
  const big = (i: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 6000, dport: 80, flags: TCP_FLAGS.ACK, seq: 1 + i * 1460, payload: Buffer.alloc(1460, i) });
  const fragNeeded = (f: Buffer) => f[14 + 9] === 1 && f[34] === 3 && f[35] === 4;
  let before = r.counters();
  const out = r.run(...Array.from({ length: 60 }, (_v, i) => big(i)));
  let d = delta(before, r.counters());
  assert.equal(out.length, 60);
  assert.ok(out.every(fragNeeded), 'ICMP type 3 code 4');
  assert.ok(out.every((f) => f.length === 14 + 20 + 8 + 28), 'header + 8 bytes quoted: far smaller than the packet answered');
  assert.deepEqual([d.icmp_frag_needed_sent, d.icmp_frag_needed_ratelimited, d['drop.mtu_exceeded']], [60, undefined, 60]);
  // Someone's stray ACKs to the VIP take the whole budget of resets and ICMP errors (50)...
  const stray = (i: number) => tcpFrame(IN, { src: `198.51.100.${i + 1}`, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, ack: 1 });
  r.advance(1);
  before = r.counters();
  r.run(...Array.from({ length: 60 }, (_v, i) => stray(i)), big(60), big(61));
  d = delta(before, r.counters());
  assert.deepEqual([d.tcp_rst_sent, d.tcp_rst_ratelimited], [50, 10]);
  // ...and the client doing PMTU discovery still hears of its MTU, each time.
  assert.deepEqual([d.icmp_frag_needed_sent, d['drop.mtu_exceeded']], [2, 2]);
});

/** TUN to RS[0] with the given tunnel (ipvsadm --tun-type ...), headroom as uvsd's port lays frames out. */
function tunnelRig(tun: { tunType: 'ipip' | 'gue' | 'gre'; tunPort?: number; tunCsum?: 'nocsum' | 'csum' | 'remcsum' }, headroom = 32) {
  const r = rig({ headroom });
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'tun', weight: 1, ...tun });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  return r;
}

/** The 16-bit ones'-complement sum of a region folded (0xffff: a valid checksum is inside). */
function folded(b: Buffer, off: number, len: number, initial = 0): number {
  let s = initial;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) + (i + 1 < len ? b[off + i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

test('GUE and GRE (ipvsadm --tun-type): the outer headers as IPVS writes them, checksums valid (GUE --tun-remcsum: the UDP checksum too, no option), the inner packet untouched but for its TTL; uvs-decap gives it back', () => {
  const syn = (sport: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN, payload: Buffer.alloc(100, 7) });
  const server = decapHost({ vips: [VIP], locals: [RS[0].ip], mac: RS[0].mac, guePort: 6080 });
  const out = new Int32Array(2);
  const cases = [
    { tun: { tunType: 'gue' as const, tunPort: 6080 }, proto: 17, hlen: 32 },
    { tun: { tunType: 'gue' as const, tunPort: 6080, tunCsum: 'csum' as const }, proto: 17, hlen: 32 },
    // The kernel computes the UDP checksum for remcsum too; its remote checksum option is only
    // for an inner checksum left partial, and uvsd's inner checksum is whole: no option.
    { tun: { tunType: 'gue' as const, tunPort: 6080, tunCsum: 'remcsum' as const }, proto: 17, hlen: 32 },
    { tun: { tunType: 'gre' as const }, proto: 47, hlen: 24 },
    { tun: { tunType: 'gre' as const, tunCsum: 'csum' as const }, proto: 47, hlen: 28 },
  ];
  for (const c of cases) {
    for (const headroom of [32, 0]) {
      const r = tunnelRig(c.tun, headroom);
      const input = syn(7000);
      const [f] = r.run(input);
      const what = `${JSON.stringify(c.tun)} headroom ${headroom}`;
      assert.ok(f, what);
      assert.equal(f.length, input.length + c.hlen, `${what}: ${c.hlen} bytes more`);
      assert.equal(f[23], c.proto, `${what}: outer protocol`);
      assert.equal(folded(f, 14, 20), 0xffff, `${what}: outer IP checksum`);
      assert.deepEqual(f.subarray(14 + c.hlen), hopped(input).subarray(14), `${what}: inner packet`);
      const t = 34;
      if (c.proto === 17) {
        const sport = f.readUInt16BE(t);
        assert.ok(sport >= 32768 && sport <= 60999, `${what}: source port ${sport} from the flow's hash`);
        assert.deepEqual([f.readUInt16BE(t + 2), f.readUInt16BE(t + 4), f.readUInt32BE(t + 8)], [6080, f.length - 34, 0x00040000], `${what}: UDP to the tunnel port, GUE v0 IPIP`);
        if (c.tun.tunCsum === 'csum' || c.tun.tunCsum === 'remcsum') {
          const pseudo = folded(f, 26, 8, 17 + (f.length - 34));
          assert.notEqual(f.readUInt16BE(t + 6), 0, `${what}: a UDP checksum`);
          assert.equal(folded(f, t, f.length - 34, pseudo), 0xffff, `${what}: UDP checksum`);
        } else {
          assert.equal(f.readUInt16BE(t + 6), 0, `${what}: no UDP checksum`);
        }
        assert.equal(r.run(syn(7000))[0]!.readUInt16BE(t), sport, 'one flow, one source port');
      } else {
        assert.deepEqual([f.readUInt16BE(t), f.readUInt16BE(t + 2)], [c.tun.tunCsum === 'csum' ? 0x8000 : 0, 0x0800], `${what}: GRE flags, IPv4`);
        if (c.tun.tunCsum === 'csum') assert.equal(folded(f, t, f.length - 34), 0xffff, `${what}: GRE checksum`);
      }
      assert.equal(decapFrame(f, 0, f.length, server, out), DECAP_OK, `${what}: uvs-decap takes it`);
      assert.deepEqual(f.subarray(out[0], out[0]! + out[1]!), hopped(input).subarray(14), `${what}: uvs-decap's inner packet`);
    }
  }
});

test('GUE: the fragments of one datagram leave on one UDP source port, the first (MF) hashed on addresses only as the later ones, as the kernel\'s flow dissector; whole packets of two flows on two', () => {
  const r = tunnelRig({ tunType: 'gue', tunPort: 6080 });
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 7100, dport: 80, flags: TCP_FLAGS.SYN }));
  const seg = tcp({ src: CLIENT, dst: VIP, sport: 7100, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: Buffer.alloc(200, 5) });
  const frag = (first: boolean) => eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 },
    ipv4({ src: CLIENT, dst: VIP, proto: 6, id: 0x4242, df: false, mf: first, fragOffset: first ? 0 : 13 }, first ? seg.subarray(0, 104) : seg.subarray(104)));
  const out = r.run(frag(true), frag(false));
  assert.equal(out.length, 2);
  assert.deepEqual(out.map((f) => f.readUInt16BE(36)), [6080, 6080]);
  assert.equal(out[0]!.readUInt16BE(34), out[1]!.readUInt16BE(34), 'one source port for both fragments');
  // Whole packets still hash their ports: two flows of one client, two source ports.
  const syn = (sport: number) => r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN }))[0]!.readUInt16BE(34);
  assert.notEqual(syn(7101), syn(7102));
});

test('TUN outer TOS: the inner DSCP and ECN, but CE becomes ECT(0) (the kernel\'s INET_ECN_encapsulate), on whole packets, inner fragments and GSO segments; the inner TOS untouched', () => {
  const cases = [[0x00, 0x00], [0x01, 0x01], [0x02, 0x02], [0x03, 0x02], [0xbb, 0xba], [0xb8, 0xb8]] as const;
  const outerTos = (frames: Buffer[]) => frames.map((f) => f[15]);
  const innerTos = (frames: Buffer[]) => frames.map((f) => f[34 + 1]);
  for (const [tos, want] of cases) {
    const what = `inner TOS 0x${tos.toString(16)}`;
    for (const headroom of [32, 0]) {
      const r = tunnelRig({ tunType: 'ipip' }, headroom);
      const whole = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 7200, dport: 80, flags: TCP_FLAGS.SYN }, { tos }));
      const frags = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 7200, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: Buffer.alloc(1460) }, { tos, df: false }));
      assert.equal(frags.length, 2, `${what}: cut into inner fragments`);
      assert.deepEqual(outerTos([...whole, ...frags]), [want, want, want], `${what}, headroom ${headroom}: outer`);
      assert.deepEqual(innerTos([...whole, ...frags]), [tos, tos, tos], `${what}, headroom ${headroom}: inner`);
    }
    const v = rig({ vnet: true });
    v.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
    v.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'tun', weight: 1, tunType: 'gue', tunPort: 6080 });
    v.learn(RS[0].ip, RS[0].mac);
    v.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 7201, dport: 80, flags: TCP_FLAGS.SYN }));
    const segs = v.run(partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 7201, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: Buffer.alloc(3000) }, { tos }), { size: 1400 }));
    assert.equal(segs.length, 3, `${what}: GSO segments`);
    assert.deepEqual(outerTos(segs), [want, want, want], `${what}, GSO: outer`);
    assert.deepEqual(segs.map((f) => f[14 + 32 + 1]), [tos, tos, tos], `${what}, GSO: inner`);
  }
});

test('GUE and GRE: MTU minus their own bytes: fragmentation needed says 1468 (GUE) and 1472 (GRE with checksum); a packet without DF is cut to fit', () => {
  for (const [tun, mtu] of [[{ tunType: 'gue' as const, tunPort: 6080 }, 1468], [{ tunType: 'gre' as const, tunCsum: 'csum' as const }, 1472]] as const) {
    const r = rig({ headroom: 32, gateway: GW });
    r.dp.resolve(parseIp(GW));
    r.learn(GW, ROUTER_MAC);
    r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
    r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'tun', weight: 1, ...tun });
    r.learn(RS[0].ip, RS[0].mac);
    r.sink.take();
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 8000, dport: 80, flags: TCP_FLAGS.SYN }));
    const fits = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 8000, dport: 80, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(mtu - 40) }));
    assert.equal(fits[0]!.length, 14 + 1500, `${tun.tunType}: ${mtu} bytes fit the 1500-byte MTU wrapped`);
    const [icmp] = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 8000, dport: 80, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(mtu - 39) }));
    assert.deepEqual([icmp![23], icmp![34], icmp![35], icmp!.readUInt16BE(40)], [1, 3, 4, mtu], `${tun.tunType}: fragmentation needed, next-hop MTU ${mtu}`);
    const frags = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 8000, dport: 80, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(1460) }, { df: false }));
    assert.equal(frags.length, 2, `${tun.tunType}: no DF: two inner fragments`);
    assert.ok(frags.every((f) => f.length <= 14 + 1500), `${tun.tunType}: each fits`);
  }
});

/** UDP VIP:53 by DR to RS[0], VIP:54 by TUN to RS[1] (the reviewer's setup), frames laid out in
 *  slots of `stride` bytes as uvsd's port reads them. */
function drTunRig(o: { mtu?: number; stride?: number; vnet?: boolean }) {
  const r = rig({ headroom: 32, ...o });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[0].ip, port: 53, fwd: 'dr', weight: 1 });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 54, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 54 }, addr: RS[1].ip, port: 54, fwd: 'tun', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(RS[1].ip, RS[1].mac);
  r.sink.take();
  return r;
}

/** A UDP frame to VIP:dport of exactly `len` bytes, its last 16 bytes a marker; as the client
 *  sends it, or (`dr`) as uvsd forwards it by DR to RS[0]. */
function udpOfLength(len: number, dport: number, dr = false): Buffer {
  const payload = Buffer.alloc(len - 14 - 20 - 8, 0x55);
  payload.write('TAIL-OF-FRAME-I!', payload.length - 16);
  return udpFrame(dr ? { ethDst: RS[0].mac, ethSrc: DIR_MAC } : IN, { src: CLIENT, dst: VIP, sport: 7000, dport, payload }, dr ? FWD_IP : {});
}

test('a received frame longer than --mtu allows (Ethernet header + mtu) is dropped as frame_too_long; one of exactly that length is forwarded; with --offload on a frame that is no GSO super-segment too', () => {
  for (const mtu of [1500, 2000]) {
    const r = drTunRig({ mtu });
    const before = r.counters();
    const out = r.run(udpOfLength(mtu + 14, 53), udpOfLength(mtu + 15, 53));
    assert.deepEqual(out.map((f) => f.length), [mtu + 14], `--mtu ${mtu}: the frame of mtu + 14 bytes only`);
    assert.equal(delta(before, r.counters())['drop.frame_too_long'], 1);
  }
  const v = drTunRig({ vnet: true });
  const before = v.counters();
  assert.deepEqual(v.run({ frame: udpOfLength(1515, 53), vnet: {} }, { frame: udpOfLength(1514, 53), vnet: {} }).map((f) => f.length), [1514]);
  assert.equal(delta(before, v.counters())['drop.frame_too_long'], 1);
});

test('a long DR frame followed by a TUN frame in one batch: the TUN outer header written in front of the second never lands on the first (within --mtu both leave intact; longer, the first is dropped, not sent with the second\'s headers over its tail)', () => {
  // uvsd's slots: 2048 bytes at --mtu 1500, 2112 at --mtu 2000 (the Ethernet header, a VLAN tag
  // and RX_HEADROOM rounded up to 64). A 2044-byte frame in a 2048-byte slot ran 28 bytes into
  // the next slot's headroom.
  for (const [mtu, stride, len] of [[2000, 2112, 2014], [1500, 2048, 2044], [1500, 2048, 2048]] as const) {
    const r = drTunRig({ mtu, stride });
    const long = udpOfLength(len, 53);
    const next = udpOfLength(200, 54);
    const before = r.counters();
    const out = r.run(long, next);
    const d = delta(before, r.counters());
    const fits = len <= mtu + 14;
    const what = `--mtu ${mtu}, a ${len}-byte frame in a ${stride}-byte slot`;
    assert.deepEqual(out.map((f) => f[23]), fits ? [17, 4] : [4], `${what}: ${fits ? 'both sent' : 'the TUN frame only'}`);
    if (fits) assertFrame(out[0], udpOfLength(len, 53, true), `${what}: the DR frame intact`);
    assert.deepEqual(out.at(-1)!.subarray(34), hopped(next).subarray(14), `${what}: the TUN frame wrapped, its inner packet intact`);
    assert.equal(d['drop.frame_too_long'] ?? 0, fits ? 0 : 1, what);
  }
});

test('TUN inner fragments: the first keeps every IP option, later ones only those marked "copied" (Record Route becomes NOPs, Router Alert stays), as the kernel\'s ip_options_fragment', () => {
  const r = tunRig(32);
  const ra = [148, 4, 0, 0]; // Router Alert: copied flag set
  const rr = [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0]; // Record Route, two empty slots: not copied
  const options = Buffer.from([...ra, ...rr]); // 15 bytes, padded with one END
  const input = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 5100, dport: 80, flags: TCP_FLAGS.SYN, payload: Buffer.alloc(1440, 3) }, { df: false, options });
  const out = r.run(input);
  assert.equal(out.length, 2, 'cut in two');
  const opts = (f: Buffer) => [...f.subarray(34 + 20, 34 + 36)];
  assert.ok(out.every((f) => (f[34]! & 15) === 9 && inetChecksum(f, 34, 36) === 0), 'both inner headers 36 bytes, checksums right');
  assert.deepEqual(opts(out[0]!), [...ra, ...rr, 0], 'first fragment: as sent');
  assert.deepEqual(opts(out[1]!), [...ra, ...Array<number>(11).fill(1), 0], 'later fragment: Record Route as NOPs');
});
