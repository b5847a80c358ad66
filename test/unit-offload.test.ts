// test-class: shared
// Checksum offload and GSO with a virtio_net_hdr in front of every frame (uvsd --offload on):
// partial checksums (the field holds only the pseudo-header sum) are moved by the address change
// alone in NAT and FULLNAT, which is checked by completing them as the kernel would and comparing
// with a checksum computed from scratch; complete checksums keep the ordinary update; DR passes
// super-segments and their header untouched; TUN completes partial checksums and cuts GSO frames
// into wrapped segments; frames uvsd answers or builds carry a zero header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hopped, arpFrame, completeCsum, l4ChecksumOk, partialCsum, tcpFrame, TCP_FLAGS, udpFrame, decode,
} from './helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, ROUTER_MAC, RS, VIP, delta, rig, type Rig } from './helpers/harness.js';
import { vnetRead } from '../src/datapath/vnet.js';
import { parseIp } from '../src/datapath/addr.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const GW = '10.0.0.254';
const LIP = '10.0.0.5';
const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };
const ZERO_HDR = Buffer.alloc(10).toString('hex');

function offloadRig(fwd: 'nat' | 'fullnat' | 'dr' | 'tun', tun: { tunType?: 'gue'; tunPort?: number; tunCsum?: 'remcsum' } = {}): Rig {
  const r = rig({ vnet: true, gateway: GW, connMax: 4096 });
  const rport = fwd === 'nat' || fwd === 'fullnat' ? 8080 : 80;
  r.ctl.addService({ ...TCP80, sched: 'rr' });
  r.ctl.addService({ ...UDP53, sched: 'rr' });
  r.ctl.addDest({ service: TCP80, addr: RS[0].ip, port: rport, fwd, weight: 1, ...tun });
  r.ctl.addDest({ service: UDP53, addr: RS[0].ip, port: fwd === 'nat' || fwd === 'fullnat' ? 5353 : 53, fwd, weight: 1 });
  if (fwd === 'fullnat') {
    r.ctl.addLaddr({ service: TCP80, addr: LIP });
    r.ctl.addLaddr({ service: UDP53, addr: LIP });
  }
  r.dp.resolve(parseIp(GW)); // track the gateway (replies to the client go there), then answer for it
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}

const payload = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));

/** Feed one frame and return what went out, with the headers sent in front. */
function send1(r: Rig, f: Parameters<Rig['feed']>[0]) {
  r.sink.sent = [];
  r.feed(f);
  const out = r.sink.sent;
  r.sink.sent = [];
  return out;
}

function addrs(f: Buffer): string {
  const d = decode(f);
  return d.split('\n').filter((l) => /^(ip\.(src|dst)|tcp\.(sport|dport)|udp\.(sport|dport)):/.test(l)).join(' ');
}

for (const fwd of ['nat', 'fullnat'] as const) {
  test(`${fwd}: a partial TCP checksum moves with the addresses only; completed as the kernel would, it is right for the rewritten packet (both directions)`, () => {
    const r = offloadRig(fwd);
    const syn = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN, seq: 1 });
    const synOut = send1(r, syn);
    assert.equal(synOut.length, 1);
    assert.ok(l4ChecksumOk(synOut[0].frame), 'complete checksums: ordinary RFC 1624 update');
    assert.equal(synOut[0].vnet!.toString('hex'), ZERO_HDR, 'a zero header stays zero');
    const serverSide = synOut[0].frame;
    const sip = serverSide.subarray(26, 30);
    const sport = serverSide.readUInt16BE(34);

    const data = partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: 2, ack: 1, payload: payload(999) }));
    assert.ok(!l4ChecksumOk(data.frame), 'the fed frame really carries a partial checksum');
    const before = r.counters();
    const out = send1(r, data);
    assert.equal(out.length, 1);
    assert.equal(delta(before, r.counters()).rx_csum_partial, 1);
    const hdr = vnetRead(Buffer.concat([out[0].vnet!, out[0].frame]), 10);
    assert.deepEqual({ flags: hdr.flags, csumStart: hdr.csumStart, csumOffset: hdr.csumOffset }, data.vnet, 'header passed on as received');
    assert.ok(!l4ChecksumOk(out[0].frame), 'still partial: the kernel completes it');
    const done = completeCsum(out[0].frame, hdr);
    assert.ok(l4ChecksumOk(done), `completed checksum wrong for ${addrs(done)}`);
    assert.equal(addrs(done), addrs(serverSide).replace(/ /g, ' '), 'same tuple as the SYN was given');

    // The reply, partial too: back to VIP:80 (NAT) or VIP:80 → client (FULLNAT).
    const reply = partialCsum(tcpFrame(FROM_RS, {
      src: RS[0].ip, dst: `${sip[0]}.${sip[1]}.${sip[2]}.${sip[3]}`, sport: serverSide.readUInt16BE(36), dport: sport,
      flags: TCP_FLAGS.ACK, seq: 100, ack: 1001, payload: payload(1301),
    }));
    const back = send1(r, reply);
    assert.equal(back.length, 1);
    const bdone = completeCsum(back[0].frame, reply.vnet);
    assert.ok(l4ChecksumOk(bdone), `completed reply checksum wrong:\n${decode(bdone)}\nfed:\n${decode(reply.frame)}`);
    assert.match(addrs(bdone), new RegExp(`ip\\.src: ${VIP.replace(/\./g, '\\.')}.*ip\\.dst: ${CLIENT.replace(/\./g, '\\.')}`));
    assert.match(addrs(bdone), /tcp\.sport: 80 tcp\.dport: 40000/);
  });

  test(`${fwd}: a partial UDP checksum is moved, never treated as "no checksum"; a complete one as before`, () => {
    const r = offloadRig(fwd);
    const p = partialCsum(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 5000, dport: 53, payload: payload(77) }));
    const out = send1(r, p);
    assert.equal(out.length, 1);
    assert.ok(l4ChecksumOk(completeCsum(out[0].frame, p.vnet)));
    const full = send1(r, udpFrame(IN, { src: CLIENT, dst: VIP, sport: 5001, dport: 53, payload: payload(77) }));
    assert.ok(l4ChecksumOk(full[0].frame));
    assert.equal(out[0].frame.readUInt16BE(36), fwd === 'nat' || fwd === 'fullnat' ? 5353 : 53);
  });
}

test('nat: a 20,000-byte TSO super-segment (gso_size 1448) passes uncut, header kept, checksum partial and right once completed', () => {
  const r = offloadRig('nat');
  send1(r, tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: TCP_FLAGS.SYN }));
  const big = partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: payload(20000) }), { size: 1448 });
  const before = r.counters();
  const out = send1(r, big);
  assert.equal(out.length, 1);
  assert.equal(out[0].frame.length, big.frame.length, 'one frame, not cut');
  assert.equal(delta(before, r.counters()).rx_gso_frames, 1);
  const hdr = vnetRead(Buffer.concat([out[0].vnet!, out[0].frame]), 10);
  assert.equal(hdr.gsoType, 1);
  assert.equal(hdr.gsoSize, 1448);
  assert.ok(l4ChecksumOk(completeCsum(out[0].frame, hdr)));
  assert.equal(out[0].frame.readUInt32BE(30), parseIp(RS[0].ip) >>> 0);
});

test('dr: a super-segment goes out byte-identical but for the MACs and one hop (TTL), with its header', () => {
  const r = offloadRig('dr');
  send1(r, tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 80, flags: TCP_FLAGS.SYN }));
  const big = partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: payload(30000) }), { size: 1448 });
  const out = send1(r, big);
  assert.equal(out.length, 1);
  assert.ok(out[0].frame.subarray(12).equals(hopped(big.frame).subarray(12)), 'IP packet untouched but for its TTL');
  assert.equal(out[0].frame.subarray(0, 6).toString('hex'), RS[0].mac.replace(/:/g, ''));
  assert.deepEqual(vnetRead(Buffer.concat([out[0].vnet!, out[0].frame]), 10), { ...big.vnet, gsoType: 1, gsoSize: 1448 });
});

test('tun: a super-segment is cut into gso_size segments, each wrapped with a zero header, complete checksums, in sequence', () => {
  const r = offloadRig('tun');
  send1(r, tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40003, dport: 80, flags: TCP_FLAGS.SYN }));
  const data = payload(10000);
  const mss = 1400;
  const big = partialCsum(tcpFrame(IN, {
    src: CLIENT, dst: VIP, sport: 40003, dport: 80, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH | TCP_FLAGS.FIN, seq: 5000, ack: 7, payload: data,
  }, { id: 100 }), { size: mss });
  const before = r.counters();
  const out = send1(r, big);
  const n = Math.ceil(data.length / mss);
  assert.equal(out.length, n);
  assert.equal(delta(before, r.counters()).gso_segments_built, n);
  const got: Buffer[] = [];
  out.forEach((s, k) => {
    assert.equal(s.vnet!.toString('hex'), ZERO_HDR, `segment ${k}: zero header`);
    assert.equal(s.frame[14 + 9], 4, 'IPIP');
    assert.ok(s.frame.length - 14 <= 1500, `segment ${k} fits the MTU with the outer header`);
    const inner = Buffer.concat([s.frame.subarray(0, 14), s.frame.subarray(34)]);
    assert.ok(l4ChecksumOk(inner), `segment ${k}: TCP checksum`);
    assert.equal(inner.readUInt32BE(38), 5000 + k * mss, `segment ${k}: sequence number`);
    assert.equal(inner.readUInt16BE(18), 100 + k, `segment ${k}: IP ID`);
    const flags = inner[47];
    const last = k === n - 1;
    assert.equal((flags & (TCP_FLAGS.FIN | TCP_FLAGS.PSH)) !== 0, last, `segment ${k}: FIN/PSH only on the last`);
    got.push(inner.subarray(54));
  });
  assert.ok(Buffer.concat(got).equals(data), 'the payload, in order, complete');
});

test('tun: a super-segment whose segments do not fit with the outer header is cut into segments, then each into inner fragments when it has no DF; with DF one "fragmentation needed"', () => {
  const r = offloadRig('tun');
  send1(r, tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40005, dport: 80, flags: TCP_FLAGS.SYN }));
  const data = payload(7000);
  const mss = 1460; // 40 + 1460 + 20 > 1500: no segment fits the MTU once wrapped
  const n = Math.ceil(data.length / mss);
  const big = (df: boolean) => partialCsum(tcpFrame(IN, {
    src: CLIENT, dst: VIP, sport: 40005, dport: 80, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: 9000, ack: 7, payload: data,
  }, { id: 300, df }), { size: mss });
  let before = r.counters();
  const out = send1(r, big(false));
  const d = delta(before, r.counters());
  assert.equal(d.gso_segments_built, n);
  assert.equal(d['drop.mtu_exceeded'], undefined, 'no DF: nothing refused');
  assert.equal(d.icmp_frag_needed_sent, undefined);
  // 4 full segments in two inner fragments each; the last (1,160 bytes of data) fits whole.
  assert.equal(out.length, 2 * (n - 1) + 1);
  assert.equal(d.tun_inner_fragments, 2 * (n - 1));
  const last = out[out.length - 1]!.frame.subarray(34);
  assert.equal(last.readUInt16BE(6) & 0x3fff, 0, 'the last segment: whole, no DF');
  assert.ok(l4ChecksumOk(Buffer.concat([out[0]!.frame.subarray(0, 14), last])), 'the last segment: TCP checksum');
  const got: Buffer[] = [];
  for (let k = 0; k < n - 1; k++) {
    const [a, b] = [out[2 * k]!.frame, out[2 * k + 1]!.frame];
    for (const f of [a, b]) {
      assert.equal(f[14 + 9], 4, 'IPIP');
      assert.ok(f.length - 14 <= 1500, 'fits the MTU with the outer header');
    }
    const ia = a.subarray(34);
    const ib = b.subarray(34);
    assert.equal(ia.readUInt16BE(4), ib.readUInt16BE(4), 'one inner datagram');
    assert.equal(ia.readUInt16BE(6) & 0x3fff, 0x2000, 'first fragment: MF, offset 0, no DF');
    assert.equal(ib.readUInt16BE(6) & 0x3fff, (ia.readUInt16BE(2) - 20) >> 3, 'second: the rest');
    // Reassembled: the segment, with its TCP checksum whole and its sequence number.
    const seg = Buffer.concat([ia.subarray(0, ia.readUInt16BE(2)), ib.subarray(20, ib.readUInt16BE(2))]);
    seg.writeUInt16BE(seg.length, 2);
    seg.writeUInt16BE(0, 6);
    const frame = Buffer.concat([a.subarray(0, 14), seg]);
    assert.ok(l4ChecksumOk(frame), `segment ${k}: TCP checksum of the reassembled segment`);
    assert.equal(seg.readUInt32BE(24), 9000 + k * mss, `segment ${k}: sequence number`);
    got.push(seg.subarray(40));
  }
  got.push(last.subarray(40));
  assert.ok(Buffer.concat(got).equals(data), 'the payload, in order, complete');
  before = r.counters();
  assert.equal(send1(r, big(true)).length, 1, 'with DF: one ICMP back to the client');
  const dd = delta(before, r.counters());
  assert.deepEqual([dd.icmp_frag_needed_sent, dd['drop.mtu_exceeded'], dd.gso_segments_built], [1, 1, undefined]);
});

test('tun: a partial checksum is completed before wrapping (the wrapped packet leaves with a zero header)', () => {
  const r = offloadRig('tun');
  send1(r, tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40004, dport: 80, flags: TCP_FLAGS.SYN }));
  const p = partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40004, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: payload(500) }));
  const out = send1(r, p);
  assert.equal(out.length, 1);
  assert.equal(out[0].vnet!.toString('hex'), ZERO_HDR);
  assert.ok(l4ChecksumOk(Buffer.concat([out[0].frame.subarray(0, 14), out[0].frame.subarray(34)])));
});

test('tun, GUE --tun-remcsum: a partial checksum and a super-segment leave with whole inner checksums and a full UDP checksum, no remote checksum option (the kernel adds it only for a checksum it leaves partial)', () => {
  const r = offloadRig('tun', { tunType: 'gue', tunPort: 6080, tunCsum: 'remcsum' });
  send1(r, tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40005, dport: 80, flags: TCP_FLAGS.SYN }));
  const p = partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40005, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: payload(500) }));
  const big = partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40005, dport: 80, flags: TCP_FLAGS.ACK, seq: 501, payload: payload(3000) }), { size: 1400 });
  const out = [...send1(r, p), ...send1(r, big)];
  assert.equal(out.length, 1 + 3);
  for (const [k, s] of out.entries()) {
    const f = s.frame;
    assert.equal(s.vnet!.toString('hex'), ZERO_HDR, `frame ${k}: zero header`);
    assert.deepEqual([f[14 + 9], f.readUInt16BE(36), f.readUInt32BE(42)], [17, 6080, 0x00040000], `frame ${k}: UDP to 6080, GUE without options`);
    assert.notEqual(f.readUInt16BE(40), 0, `frame ${k}: a UDP checksum`);
    assert.ok(l4ChecksumOk(f), `frame ${k}: the UDP checksum over the whole datagram`);
    assert.ok(l4ChecksumOk(Buffer.concat([f.subarray(0, 14), f.subarray(14 + 32)])), `frame ${k}: the inner TCP checksum, whole`);
  }
});

test('frames uvsd answers in place or builds get a zero header, whatever the request carried', () => {
  const r = offloadRig('dr');
  const req = arpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: GW, tha: '00:00:00:00:00:00', tpa: VIP });
  const out = send1(r, { frame: req, vnet: { flags: 1, gsoType: 1, gsoSize: 1000, csumStart: 34, csumOffset: 16 } });
  assert.equal(out.length, 1);
  assert.equal(out[0].vnet!.toString('hex'), ZERO_HDR, 'ARP reply');
  r.sink.sent = [];
  r.ctl.addDest({ service: TCP80, addr: '10.0.0.77', port: 80, fwd: 'dr', weight: 1 }); // an ARP request of ours
  const gen = r.sink.sent;
  assert.ok(gen.length >= 1 && gen.every((s) => s.vnet!.toString('hex') === ZERO_HDR), 'generated ARP request');
  assert.equal(DIR_IP, '10.0.0.1');
});

test('a frame waiting for ARP keeps its header: the partial checksum is still right when it finally goes', () => {
  const r = rig({ vnet: true, gateway: GW, connMax: 64 });
  r.ctl.addService({ ...TCP80, sched: 'rr' });
  r.ctl.addDest({ service: TCP80, addr: RS[1].ip, port: 8080, fwd: 'nat', weight: 1 });
  r.sink.take();
  const p = partialCsum(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40005, dport: 80, flags: TCP_FLAGS.SYN, payload: payload(10) }));
  assert.equal(send1(r, p).filter((s) => s.frame.readUInt16BE(12) === 0x0800).length, 0, 'queued');
  r.learn(RS[1].ip, RS[1].mac);
  const out = r.sink.sent.filter((s) => s.frame.readUInt16BE(12) === 0x0800);
  assert.equal(out.length, 1);
  const hdr = vnetRead(Buffer.concat([out[0].vnet!, out[0].frame]), 10);
  assert.equal(hdr.flags, 1);
  assert.ok(l4ChecksumOk(completeCsum(out[0].frame, hdr)));
});

for (const fwd of ['nat', 'fullnat'] as const) {
  test(`${fwd} --synproxy: the segments uvsd builds for the server (the SYN again, the held request) leave with complete checksums and a zero header, though the frame that triggered them carried a partial one`, () => {
    const r = rig({ vnet: true, gateway: GW, connMax: 4096 });
    r.ctl.addService({ ...TCP80, sched: 'rr', synproxy: true });
    r.ctl.addDest({ service: TCP80, addr: RS[0].ip, port: 8080, fwd, weight: 1 });
    if (fwd === 'fullnat') r.ctl.addLaddr({ service: TCP80, addr: LIP, portMin: 5000, portMax: 5000 });
    r.dp.resolve(parseIp(GW));
    r.learn(RS[0].ip, RS[0].mac);
    r.learn(GW, ROUTER_MAC);
    r.sink.take();
    const peer = fwd === 'nat' ? { addr: CLIENT, port: 40010 } : { addr: LIP, port: 5000 };
    const synack = send1(r, tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40010, dport: 80, flags: TCP_FLAGS.SYN, seq: 1000 }));
    const cookie = synack[0].frame.readUInt32BE(38);
    const ack = (flags: number, data = 0) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40010, dport: 80, flags, seq: 1001, ack: (cookie + 1) >>> 0, payload: payload(data) });
    assert.equal(send1(r, ack(TCP_FLAGS.ACK)).length, 1, 'the SYN to the server');
    // The client sends its request (partial checksum) before the server answered: held; again: the SYN is sent anew.
    assert.equal(send1(r, partialCsum(ack(TCP_FLAGS.ACK | TCP_FLAGS.PSH, 100))).length, 0, 'held');
    const again = send1(r, partialCsum(ack(TCP_FLAGS.ACK | TCP_FLAGS.PSH, 100)));
    assert.equal(again.length, 1, 'the SYN again');
    assert.equal(again[0].vnet!.toString('hex'), ZERO_HDR);
    assert.ok(l4ChecksumOk(again[0].frame), `SYN again:\n${decode(again[0].frame)}`);
    // The server's SYN|ACK with a partial checksum (a veth's): the held request goes with a complete one.
    const out = send1(r, partialCsum(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, seq: 5000, ack: 1001 })));
    assert.equal(out.length, 1, 'the held request');
    assert.equal(out[0].vnet!.toString('hex'), ZERO_HDR);
    assert.ok(l4ChecksumOk(out[0].frame), `held request to the server:\n${decode(out[0].frame)}`);
  });
}
