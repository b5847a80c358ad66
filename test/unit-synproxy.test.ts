// test-class: shared
// The SYN proxy (uvsadm --synproxy): SYN cookies (valid, expired, wrong tuple, wrong MSS index,
// rotated key), the whole handshake for NAT and FULLNAT with exact frames, sequence translation
// both ways, resets from either side, a spoofed SYN flood that leaves nothing behind, and the
// control side (refusals, -Ln, -S, uvsadm, YAML config).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FWD_IP, icmpFrame, ipv4, l4ChecksumOk, tcp, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, assertFrame, delta, rig, type Rig } from './helpers/harness.js';
import { COOKIE_PERIOD_MS, MSS_TABLE, SynCookies } from '../src/proto/syncookie.js';
import { parseIp } from '../src/datapath/addr.js';
import { S_CLOSE, S_ESTABLISHED, S_SYN_SENT } from '../src/datapath/tcpstate.js';
import { formatList, formatRules } from '../src/control/printers.js';
import { parseArgs } from '../src/control/ipvsadm.js';
import { parseConfig } from '../src/control/config.js';
import fc from 'fast-check';
import { HO_LEN, HO_MSS, HO_SACK, HO_TS, HO_TSECR, HO_TSVAL, HO_WSCALE, tcpHandshakeOptions } from '../src/proto/tcp.js';
import { SYNPROXY_WSCALE } from '../src/modes/synproxy.js';
import { VNET_GSO_TCPV4 } from '../src/datapath/vnet.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const TO_RS = { ethDst: RS[0].mac, ethSrc: DIR_MAC };
const TO_CLIENT = { ethDst: ROUTER_MAC, ethSrc: DIR_MAC };
const SVC = { proto: 'tcp' as const, addr: VIP, port: 80 };
const LIP = '10.0.0.5';
const GW = '10.0.0.254';
const MSS1460 = Buffer.from([2, 4, 0x05, 0xb4]);
const { SYN, ACK, RST, PSH } = TCP_FLAGS;
const u32 = (v: number): number => v >>> 0;

/** Handshake options in Linux's order: MSS, SACK-permitted (else NOP NOP) and timestamps (unless
 *  tsval is undefined), NOP and window scale (unless ws is -1). */
function hsOpts(mss: number, ts: [number, number] | undefined, ws: number, sack: boolean): Buffer {
  const parts: Buffer[] = [Buffer.from([2, 4, mss >> 8, mss & 255])];
  if (ts !== undefined) parts.push(Buffer.from(sack ? [4, 2] : [1, 1]), tsOpt(ts[0], ts[1]).subarray(2));
  else if (sack) parts.push(Buffer.from([1, 1, 4, 2]));
  if (ws >= 0) parts.push(Buffer.from([1, 3, 3, ws]));
  return Buffer.concat(parts);
}
/** NOP, NOP, timestamps. */
function tsOpt(tsval: number, tsecr: number): Buffer {
  const b = Buffer.from([1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
  b.writeUInt32BE(u32(tsval), 4);
  b.writeUInt32BE(u32(tsecr), 8);
  return b;
}
/** NOP, NOP, SACK with blocks of [left, right) edges. */
function sackOpt(...edges: number[]): Buffer {
  const b = Buffer.alloc(4 + edges.length * 4);
  b[0] = 1;
  b[1] = 1;
  b[2] = 5;
  b[3] = 2 + edges.length * 4;
  edges.forEach((v, i) => b.writeUInt32BE(u32(v), 4 + i * 4));
  return b;
}
/** The SYN|ACK's TSval: MSS (4 bytes) and SACK-permitted or NOP NOP (2) come first. */
const synackTsval = (f: Buffer): number => f.readUInt32BE(14 + 20 + 20 + 6 + 2);

/** A deterministic key source: every new key is different and known. */
function counterKeys(): (a: Int32Array) => void {
  let n = 1;
  return (a) => {
    for (let i = 0; i < a.length; i++) a[i] = Math.imul(n++, 0x9e3779b1);
  };
}

// ---- cookies ---------------------------------------------------------------------------------

test('a SYN\'s MSS option is read as RFC 9293 walks options (NOPs skipped, reading stops at the end kind or a malformed option, an MSS of length 4 only): any option bytes', () => {
  // The walk as it was written before it was shared with the FTP helper's SACK edges.
  const reference = (o: Uint8Array): number => {
    const end = o.length;
    let i = 0;
    while (i < end) {
      if (o[i] === 0) break;
      if (o[i] === 1) {
        i++;
        continue;
      }
      if (i + 1 >= end) break;
      const len = o[i + 1]!;
      if (len < 2 || i + len > end) break;
      if (o[i] === 2 && len === 4) return (o[i + 2]! << 8) | o[i + 3]!;
      i += len;
    }
    return 536;
  };
  const seg = (opts: Uint8Array) => {
    const b = Buffer.alloc(20 + opts.length);
    b[12] = (5 + opts.length / 4) << 4;
    b.set(opts, 20);
    return b;
  };
  const ho = new Int32Array(HO_LEN);
  const tcpSynMss = (b: Buffer, l4: number): number => {
    tcpHandshakeOptions(b, l4, ho);
    return ho[HO_MSS]!;
  };
  assert.equal(tcpSynMss(seg(Uint8Array.from([1, 1, 2, 3, 9, 2, 4, 5, 0xb4, 0, 0, 0])), 0), 1460, 'an MSS of length 3 is passed over, the next one taken');
  assert.equal(tcpSynMss(seg(Uint8Array.from([1, 1, 8, 1, 2, 4, 5, 0xb4])), 0), 536, 'a length under 2 stops the reading');
  assert.equal(tcpSynMss(seg(Uint8Array.from([1, 1, 4, 2, 2, 4, 5, 0xb4])), 0), 1460);
  assert.equal(tcpSynMss(seg(Uint8Array.from([2, 4, 5, 0xb4, 2, 4, 2, 0x18])), 0), 1460, 'the first of two');
  fc.assert(fc.property(fc.integer({ min: 0, max: 10 }).chain((w) => fc.uint8Array({ minLength: w * 4, maxLength: w * 4 })), fc.boolean(), (opts, nops) => {
    const o = nops ? opts.map((x) => (x % 5 === 0 ? 1 : x % 7 === 0 ? 2 : x % 11 === 0 ? 4 : x)) : opts;
    return tcpSynMss(seg(o), 0) === reference(o);
  }), { numRuns: 20_000, seed: 9293 });
  // The other handshake options, read in the same walk: a window scale above 14 is 14 (RFC 7323).
  tcpHandshakeOptions(seg(Uint8Array.from([2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 3, 3, 15])), 0, ho);
  assert.deepEqual([...ho], [1460, 14, 1, 1, 0x01020304, 0x05060708]);
  tcpHandshakeOptions(seg(Uint8Array.from([2, 4, 5, 0xb4])), 0, ho);
  assert.deepEqual([ho[HO_WSCALE], ho[HO_SACK], ho[HO_TS]], [-1, 0, 0], 'none of them');
  assert.equal(HO_TSVAL + 1, HO_TSECR);
});

test('cookie: accepted for its tuple and ISN within three periods, with its MSS index; refused otherwise', () => {
  const c = new SynCookies(counterKeys());
  const [cl, vip] = [parseIp('192.0.2.10') | 0, parseIp('10.0.0.100') | 0];
  const t0 = 1_000; // a period
  const k = c.make(cl, 40000, vip, 80, 0x7fff1234, 2, t0);
  assert.equal((k >>> 28) & 3, 2, 'MSS index in bits 29-28');
  assert.equal(c.check(cl, 40000, vip, 80, 0x7fff1234, k, t0), 2, 'valid at once');
  assert.equal(c.check(cl, 40000, vip, 80, 0x7fff1234, k, t0 + 3), 2, 'valid three periods (48-64 s) later');
  assert.equal(c.check(cl, 40000, vip, 80, 0x7fff1234, k, t0 + 4), -1, 'expired after four periods');
  assert.equal(c.check(cl, 40001, vip, 80, 0x7fff1234, k, t0), -1, 'other client port');
  assert.equal(c.check(cl + 1, 40000, vip, 80, 0x7fff1234, k, t0), -1, 'other client address');
  assert.equal(c.check(cl, 40000, vip, 81, 0x7fff1234, k, t0), -1, 'other virtual port');
  assert.equal(c.check(cl, 40000, vip, 80, 0x7fff1235, k, t0), -1, 'other client ISN');
  for (const idx of [0, 1, 3]) {
    assert.equal(c.check(cl, 40000, vip, 80, 0x7fff1234, (k & ~(3 << 28)) | (idx << 28), t0), -1, `MSS index changed to ${idx}`);
  }
  assert.equal(c.check(cl, 40000, vip, 80, 0x7fff1234, (k + 1) | 0, t0), -1, 'hash bit changed');
});

test('cookie: each period gets a new random key; a cookie from a period whose key is gone is refused', () => {
  const c = new SynCookies(counterKeys());
  const t0 = 50;
  const a = c.make(1, 2, 3, 4, 5, 1, t0);
  const b = c.make(1, 2, 3, 4, 5, 1, t0 + 4); // same slot (t & 3), a new key
  assert.notEqual(a & 0x0fffffff, b & 0x0fffffff, 'a new key per period');
  assert.equal(c.check(1, 2, 3, 4, 5, a, t0 + 4), -1, 'old cookie with the slot re-keyed');
  assert.equal(c.check(1, 2, 3, 4, 5, b, t0 + 4), 1);
  // A period no SYN was answered in has no key: nothing made then can validate.
  const fresh = new SynCookies(counterKeys());
  assert.equal(fresh.check(1, 2, 3, 4, 5, a, t0), -1);
});

test('cookie MSS index: largest table entry not above the client MSS and the link', () => {
  assert.deepEqual(MSS_TABLE, [536, 1300, 1440, 1460]);
  assert.equal(SynCookies.mssIndex(1460, 1460), 3);
  assert.equal(SynCookies.mssIndex(1459, 1460), 2);
  assert.equal(SynCookies.mssIndex(9000, 1460), 3);
  assert.equal(SynCookies.mssIndex(1460, 1400), 1, 'capped by the link MTU');
  assert.equal(SynCookies.mssIndex(100, 1460), 0);
});

// ---- the handshake in the datapath ---------------------------------------------------------

function spRig(fwd: 'nat' | 'fullnat', vnet = false): Rig {
  const r = rig({ gateway: GW, vnet }); // the client is off-link: replies go through the router
  r.ctl.addService({ ...SVC, sched: 'rr', synproxy: true });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 8080, fwd, weight: 1 });
  if (fwd === 'fullnat') r.ctl.addLaddr({ service: SVC, addr: LIP, portMin: 5000, portMax: 5000 });
  r.learn(RS[0].ip, RS[0].mac);
  r.dp.resolve(parseIp(GW));
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}

const CISN = 0x90000000; // above 2^31: int32 handling on the way
const SISN = 0x12345678;
const CPORT = 40001;

/** Client SYN without timestamps (MSS only) → SYN|ACK with a cookie and MSS only; returns the cookie (as uint32). */
function synCookie(r: Rig, cport = CPORT): number {
  const out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 80, seq: CISN, flags: SYN, window: 64240, options: MSS1460 }, { id: 777, ttl: 50 }));
  assert.equal(out.length, 1);
  const cookie = out[0]!.readUInt32BE(38);
  assert.equal(r.dp.synproxy.cookies.check(parseIp(CLIENT) | 0, cport, parseIp(VIP) | 0, 80, CISN | 0, cookie | 0, r.dp.cookiePeriod), 3, 'a cookie of ours, MSS 1460');
  assertFrame(out[0], tcpFrame(TO_CLIENT, {
    src: VIP, dst: CLIENT, sport: 80, dport: cport, seq: cookie, ack: u32(CISN + 1), flags: SYN | ACK, window: 1460, options: MSS1460,
  }, { id: 0, ttl: 64 }), 'SYN|ACK');
  return cookie;
}

for (const fwd of ['nat', 'fullnat'] as const) {
  // What the server sees as the client: the client itself (NAT) or LIP:5000 (FULLNAT).
  const peer = fwd === 'nat' ? { addr: CLIENT, port: CPORT } : { addr: LIP, port: 5000 };

  test(`${fwd}: SYN answered with a cookie and no entry; the ACK opens the server side; the server's SYN|ACK completes it; seq/ack translated both ways`, () => {
    const r = spRig(fwd);
    const c0 = r.counters();
    const cookie = synCookie(r);
    assert.equal(r.dp.ct.count, 0, 'no connection entry for a SYN');
    // The client's ACK: a SYN to the server with the client's ISN and the MSS the cookie kept.
    let out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK, window: 502 }, { id: 778, ttl: 50 }));
    assert.equal(out.length, 1);
    assertFrame(out[0], tcpFrame(TO_RS, {
      src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: CISN, ack: 0, flags: SYN, window: 502, options: MSS1460,
    }, { id: 778, ttl: 49 }), 'SYN to the server');
    assert.equal(r.dp.ct.count, 1);
    const e = r.dp.ct.lookup(6, parseIp(CLIENT), CPORT, parseIp(VIP), 80) >>> 1;
    assert.equal(r.dp.ct.state[e], S_SYN_SENT);
    assert.equal(r.dp.synproxy.waiting, 1);
    // The client's request before the server answered: held, nothing goes out.
    const req = Buffer.from('GET / HTTP/1.0\r\n\r\n');
    out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: PSH | ACK, window: 502, payload: req }, { id: 779, ttl: 50 }));
    assert.equal(out.length, 0, 'held until the server answers');
    // The server's SYN|ACK: consumed; the held request (ack moved into the server's space) completes its handshake.
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, window: 28960, options: MSS1460 }));
    assert.equal(out.length, 1);
    assertFrame(out[0], tcpFrame(TO_RS, {
      src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: u32(CISN + 1), ack: SISN + 1, flags: PSH | ACK, window: 502, payload: req,
    }, { id: 779, ttl: 49 }), 'held request to the server');
    assert.equal(r.dp.ct.state[e], S_ESTABLISHED);
    assert.equal(r.dp.dt.active[r.dp.services[0]!.dests[0]!], 1, 'active once established');
    assert.equal(r.dp.synproxy.waiting, 0, 'held slot given back');
    // Server → client: seq into the cookie's space.
    const resp = Buffer.from('HTTP/1.0 200 OK\r\n\r\nhi');
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN + 1, ack: u32(CISN + 1 + req.length), flags: PSH | ACK, window: 1000, payload: resp }));
    assertFrame(out[0], tcpFrame(TO_CLIENT, {
      src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: u32(cookie + 1), ack: u32(CISN + 1 + req.length), flags: PSH | ACK, window: 1000, payload: resp,
    }, FWD_IP), 'response to the client');
    // Client → server: ack into the server's space.
    out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1 + req.length), ack: u32(cookie + 1 + resp.length), flags: ACK, window: 500 }));
    assertFrame(out[0], tcpFrame(TO_RS, {
      src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: u32(CISN + 1 + req.length), ack: SISN + 1 + resp.length, flags: ACK, window: 500,
    }, FWD_IP), 'client ACK to the server');
    // The server resets: the client gets it with its own view of the sequence.
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN + 1 + resp.length, ack: 0, flags: RST }));
    assertFrame(out[0], tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: u32(cookie + 1 + resp.length), ack: 0, flags: RST }, FWD_IP), 'server RST');
    assert.equal(r.dp.ct.state[e], S_CLOSE);
    // The client opens the same tuple again: a cookie again, not the old entry's translation.
    const c1 = r.counters();
    const again = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: CISN + 5000, flags: SYN }));
    assert.equal(again.length, 1);
    assert.equal(again[0]![47], SYN | ACK, 'answered by uvsd');
    assert.equal(r.dp.ct.count, 0, 'the finished entry went');
    assert.equal(r.counters().synproxy_syn_cookies_sent! - c1.synproxy_syn_cookies_sent!, 1);
    assert.equal(r.counters().conns_reused! - c1.conns_reused!, 1, 'a new connection on the tuple (its cookie): conns_reused');
    for (const [k, v] of Object.entries({
      synproxy_syn_cookies_sent: 1, synproxy_ack_valid: 1, synproxy_ack_invalid: 0, synproxy_server_syn: 1, synproxy_established: 1,
    })) assert.equal(c1[k]! - c0[k]!, v, k);
  });

  test(`${fwd}: a client RST is passed on with its ack translated; before the server answered, without its ack`, () => {
    const r = spRig(fwd);
    const cookie = synCookie(r);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK }));
    // RST|ACK while waiting for the server: its ack means nothing to the server, so RST alone.
    let out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: RST | ACK, window: 0 }));
    assertFrame(out[0], tcpFrame(TO_RS, { src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: RST, window: 0 }, FWD_IP), 'early client RST');
    assert.equal(r.dp.ct.count, 0, 'entry gone');
    assert.equal(r.dp.synproxy.waiting, 0, 'held slot given back');
    // Established, then RST|ACK from the client.
    const cookie2 = synCookie(r, CPORT + 1);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT + 1, dport: 80, seq: u32(CISN + 1), ack: u32(cookie2 + 1), flags: ACK }));
    const p2 = fwd === 'nat' ? { addr: CLIENT, port: CPORT + 1 } : peer;
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: p2.addr, sport: 8080, dport: p2.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 }));
    assert.equal(out.length, 1, 'bare ACK completes the server handshake');
    assertFrame(out[0], tcpFrame(TO_RS, { src: p2.addr, dst: RS[0].ip, sport: p2.port, dport: 8080, seq: u32(CISN + 1), ack: SISN + 1, flags: ACK }, FWD_IP), 'held ACK');
    out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT + 1, dport: 80, seq: u32(CISN + 1), ack: u32(cookie2 + 1), flags: RST | ACK, window: 0 }));
    assertFrame(out[0], tcpFrame(TO_RS, { src: p2.addr, dst: RS[0].ip, sport: p2.port, dport: 8080, seq: u32(CISN + 1), ack: SISN + 1, flags: RST | ACK, window: 0 }, FWD_IP), 'client RST');
  });

  test(`${fwd}: the server refuses (RST to our SYN): the client gets a reset in its own sequence space; nothing stays`, () => {
    const r = spRig(fwd);
    const cookie = synCookie(r);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK }));
    const out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: 0, ack: u32(CISN + 1), flags: RST | ACK, window: 0 }));
    assertFrame(out[0], tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: u32(cookie + 1), ack: u32(CISN + 1), flags: RST | ACK, window: 0 }, FWD_IP), 'RST to the client');
    assert.equal(r.dp.ct.count, 0);
    assert.equal(r.dp.synproxy.waiting, 0);
    if (fwd === 'fullnat') assert.equal(r.dp.laddrs.inUse(parseIp(LIP)), 0, 'local port given back');
  });

  /** A client's ACK opens a connection whose server never answers: what reaches the wire over
   *  `ms` (each frame checked: the same SYN again, or the client's reset), as "SYN 1000" / "RST 15000". */
  const unanswered = (r: Rig, ms: number, cport = CPORT, during?: (ms: number) => void): string[] => {
    const cookie = synCookie(r, cport);
    const first = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK }, { id: 778, ttl: 50 }));
    assert.equal(first.length, 1);
    const seen: string[] = [];
    for (let t = 250; t <= ms; t += 250) {
      r.advance(250);
      r.dp.tick();
      for (const f of r.sink.take().filter((x) => x.readUInt16BE(12) === 0x0800)) { // an ARP probe may go too (the neighbour aged)
        if (f[47] === SYN) {
          assert.deepEqual(f, first[0], 'the same SYN');
          seen.push(`SYN ${t}`);
        } else {
          assertFrame(f, tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: cport, seq: u32(cookie + 1), ack: 0, flags: RST, window: 0 }, { id: 0, ttl: 64 }), 'reset');
          seen.push(`RST ${t}`);
        }
      }
      during?.(t);
    }
    return seen;
  };

  test(`${fwd}: a server that never answers gets the SYN again 1, 3 and 7 s after the first; at 15 s the client gets a reset (seq = cookie + 1) and nothing stays`, () => {
    const r = spRig(fwd);
    const c0 = r.counters();
    assert.deepEqual(unanswered(r, 16_000), ['SYN 1000', 'SYN 3000', 'SYN 7000', 'RST 15000']);
    const c1 = r.counters();
    assert.equal(c1.synproxy_server_syn! - c0.synproxy_server_syn!, 4, 'the first and three again');
    assert.equal(c1.synproxy_server_timeout! - c0.synproxy_server_timeout!, 1);
    assert.equal(c1.tcp_rst_sent! - c0.tcp_rst_sent!, 1);
    assert.equal(r.dp.ct.count, 0);
    assert.equal(r.dp.synproxy.waiting, 0);
    if (fwd === 'fullnat') assert.equal(r.dp.laddrs.inUse(parseIp(LIP)), 0, 'local port given back');
    // A server deleted while its connection waits: no SYN to it again; the client is reset at its next timer (1 s).
    const k2 = synCookie(r, CPORT + 1);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT + 1, dport: 80, seq: u32(CISN + 1), ack: u32(k2 + 1), flags: ACK }));
    assert.equal(r.dp.synproxy.waiting, 1);
    r.ctl.deleteDest({ service: SVC, addr: RS[0].ip, port: 8080 });
    r.advance(1_000);
    r.dp.tick();
    assert.deepEqual(r.sink.take().filter((x) => x.readUInt16BE(12) === 0x0800).map((f) => [f[47], f.readUInt16BE(36)]), [[RST, CPORT + 1]], 'reset, no SYN');
    assert.equal(r.dp.synproxy.waiting, 0);
  });

  test(`${fwd}: uvsd --synproxy-syn-retries 1: the SYN again at 1 s, the reset at 3 s; 0: no SYN again, the reset at 1 s; a connection already waiting keeps its schedule`, () => {
    const r = spRig(fwd);
    r.dp.setDefense({ synproxySynRetries: 1 });
    assert.deepEqual(unanswered(r, 4_000), ['SYN 1000', 'RST 3000']);
    r.dp.setDefense({ synproxySynRetries: 0 });
    assert.deepEqual(unanswered(r, 4_000, CPORT + 1), ['RST 1000']);
    assert.equal(r.counters().synproxy_server_timeout, 2);
    // Opened with 3 retries, then 0 (a reload): its SYNs and reset come as they were set to.
    r.dp.setDefense({ synproxySynRetries: 3 });
    const onSet = (t: number): void => {
      if (t === 500) r.dp.setDefense({ synproxySynRetries: 0 });
    };
    assert.deepEqual(unanswered(r, 16_000, CPORT + 2, onSet), ['SYN 1000', 'SYN 3000', 'SYN 7000', 'RST 15000']);
    assert.deepEqual(unanswered(r, 2_000, CPORT + 3), ['RST 1000'], 'the next one: 0');
    // The server's TIME_WAIT answering with its old ACK: the SYN again only as often as the setting says.
    r.dp.setDefense({ synproxySynRetries: 1 });
    const k = synCookie(r, CPORT + 4);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT + 4, dport: 80, seq: u32(CISN + 1), ack: u32(k + 1), flags: ACK }));
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: fwd === 'nat' ? CPORT + 4 : peer.port, seq: 1, ack: 0xa0000123, flags: ACK })).map((f) => f[47]));
    assert.deepEqual(sent, [[RST, SYN], [RST], [RST]]);
  });

  test(`${fwd}: a server that answers a retried SYN completes the connection; no reset follows`, () => {
    const r = spRig(fwd);
    const cookie = synCookie(r);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK }));
    r.advance(1_000);
    r.dp.tick();
    assert.equal(r.sink.take().filter((f) => f[47] === SYN).length, 1, 'retried');
    const out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 }));
    assert.equal(out.length, 1, 'held ACK completes it');
    r.advance(20_000);
    r.dp.tick();
    assert.equal(r.sink.take().filter((f) => f.readUInt16BE(12) === 0x0800).length, 0, 'nothing more');
    assert.equal(r.dp.ct.count, 1);
    assert.equal(r.counters().synproxy_server_timeout, 0);
  });

  test(`${fwd}: the server's TIME_WAIT answers our SYN with an ACK of its old connection: it gets a reset (seq = that ack), then the SYN again; an ACK of our SYN without SYN is dropped`, () => {
    const r = spRig(fwd);
    const cookie = synCookie(r);
    const first = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK }, { id: 778, ttl: 50 }));
    const c0 = r.counters();
    const OLD_NXT = 0xa0000123; // the old connection's next sequence number from the client
    let out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: 0x33330000, ack: OLD_NXT, flags: ACK, window: 500 }));
    assert.equal(out.length, 2, 'a reset, then the SYN');
    assertFrame(out[0], tcpFrame(TO_RS, { src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: OLD_NXT, ack: 0, flags: RST, window: 0 }, { id: 778, ttl: 49 }), 'reset to the server');
    assert.deepEqual(out[1], first[0], 'the SYN again');
    assert.equal(r.counters().synproxy_server_stale_ack! - c0.synproxy_server_stale_ack!, 1);
    assert.equal(r.counters().synproxy_server_syn! - c0.synproxy_server_syn!, 1);
    // An ACK of our own SYN without SYN (RFC 793: discarded in SYN_SENT): no reset.
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: 0x33330000, ack: u32(CISN + 1), flags: ACK }));
    assert.equal(out.length, 0);
    // The server, its TIME_WAIT gone, answers the SYN: the connection completes.
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 }));
    assert.equal(out.length, 1, 'held ACK to the server');
    assert.equal(r.counters().synproxy_established! - c0.synproxy_established!, 1);
    // A server that keeps answering so gets its reset every time, the SYN at most three times.
    const r2 = spRig(fwd);
    const k2 = synCookie(r2);
    r2.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(k2 + 1), flags: ACK }));
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(r2.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: 1, ack: OLD_NXT, flags: ACK })).map((f) => f[47]));
    assert.deepEqual(sent, [[RST, SYN], [RST, SYN], [RST, SYN], [RST], [RST]]);
  });

  test(`${fwd}: an ICMP "fragmentation needed" about a server segment reaches the server quoting the server's own sequence number`, () => {
    const r = spRig(fwd);
    const cookie = synCookie(r);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK }));
    r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 }));
    // A router towards the client quotes the server's 1400-byte segment as uvsd sent it on (seq in
    // the cookie's space): its IP header and 28 bytes of TCP (header, checksum included, and data).
    const data = Buffer.alloc(1360, 0x61);
    const seg = (src: string, sport: number, dst: string, dport: number, seq: number): Buffer =>
      ipv4({ src, dst, proto: 6, ttl: 63, id: 4321 }, tcp({ src, dst, sport, dport, seq, ack: u32(CISN + 1), flags: PSH | ACK, window: 1000, payload: data })).subarray(0, 48);
    const seen = seg(VIP, 80, CLIENT, CPORT, u32(cookie + 1 + 1000));
    const c0 = r.counters();
    const out = r.run(icmpFrame(IN, { src: GW, dst: VIP }, { type: 3, code: 4, seq: 1280, payload: seen }));
    assert.equal(r.counters().icmp_related_forwarded! - c0.icmp_related_forwarded!, 1);
    const sent = seg(RS[0].ip, 8080, peer.addr, peer.port, SISN + 1 + 1000); // what the server sent
    const from = fwd === 'nat' ? GW : LIP;
    assertFrame(out[0], icmpFrame(TO_RS, { src: from, dst: RS[0].ip }, { type: 3, code: 4, seq: 1280, payload: sent }, FWD_IP), 'error to the server');
  });
  test(`${fwd}: a client offering window scale 7, SACK and timestamps gets them (the SYN|ACK's TSval keeps them), the server gets the client's; timestamps, SACK edges and windows are translated both ways over several segments`, () => {
    const r = spRig(fwd);
    const TSC = 0x90000100; // the client's timestamp clock
    const STS = 0x00001000; // the server's: far from ours, so the offset wraps
    let out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: CISN, flags: SYN, window: 64240, options: hsOpts(1460, [TSC, 0], 7, true) }, { id: 777, ttl: 50 }));
    assert.equal(out.length, 1);
    const cookie = out[0]!.readUInt32BE(38);
    const tsv = synackTsval(out[0]!);
    assert.equal(tsv & 63, 7 | 16, 'the TSval\'s low bits: window scale 7, SACK-permitted');
    assertFrame(out[0], tcpFrame(TO_CLIENT, {
      src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: cookie, ack: u32(CISN + 1), flags: SYN | ACK, window: 1460, options: hsOpts(1460, [tsv, TSC], SYNPROXY_WSCALE, true),
    }, { id: 0, ttl: 64 }), 'SYN|ACK');
    assert.equal(r.dp.ct.count, 0, 'nothing kept');
    // The client's ACK echoes our TSval: the SYN to the server carries the client's options, its window unscaled.
    out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK, window: 502, options: tsOpt(TSC + 1, tsv) }, { id: 778, ttl: 50 }));
    assertFrame(out[0], tcpFrame(TO_RS, {
      src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: CISN, ack: 0, flags: SYN, window: 502 << 7, options: hsOpts(1460, [TSC + 1, 0], 7, true),
    }, { id: 778, ttl: 49 }), 'SYN to the server');
    // Sent again by the timer (built from the held segment): the same SYN.
    r.advance(1000);
    r.dp.tick();
    assert.deepEqual(r.sink.take().filter((f) => f.readUInt16BE(12) === 0x0800), [out[0]], 'the SYN again, the same');
    // The server answers with window scale 7 (not the 10 the client was told) and its own clock.
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, window: 65160, options: hsOpts(1460, [STS, TSC + 1], 7, true) }));
    assertFrame(out[0], tcpFrame(TO_RS, {
      src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: u32(CISN + 1), ack: SISN + 1, flags: ACK, window: 502, options: tsOpt(TSC + 1, STS),
    }, { id: 778, ttl: 49 }), 'the held ACK: its TSecr the server\'s TSval');
    assert.equal(r.counters().synproxy_server_no_ts, 0);
    let sseq = SISN + 1;
    const cseq = u32(CISN + 1);
    for (let k = 1; k <= 3; k++) {
      const data = Buffer.alloc(100 * k, 0x41);
      out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: sseq, ack: cseq, flags: PSH | ACK, window: 1000 * k, options: tsOpt(STS + 40 * k, TSC + k), payload: data }));
      // Window 1000k × 2^7 bytes, told in units of 2^10; the TSval continues from our SYN|ACK's.
      assertFrame(out[0], tcpFrame(TO_CLIENT, {
        src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: u32(cookie + sseq - SISN), ack: cseq, flags: PSH | ACK, window: 125 * k, options: tsOpt(tsv + 40 * k, TSC + k), payload: data,
      }, FWD_IP), `server segment ${k}`);
      // What a Linux client checks: TSecr is a TSval it sent, TSval did not go back (PAWS).
      assert.equal(out[0]!.readUInt32BE(14 + 20 + 20 + 8), u32(TSC + k));
      assert.ok(((out[0]!.readUInt32BE(14 + 20 + 20 + 4) - tsv) | 0) > 0);
      // The client acks it and reports a block further on (a hole before it): all in the server's numbering.
      const cack = cookie + sseq - SISN + data.length;
      out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: cseq, ack: u32(cack), flags: ACK, window: 500 + k, options: Buffer.concat([tsOpt(TSC + k + 1, tsv + 40 * k), sackOpt(cack + 1000, cack + 2000, cack + 3000, cack + 4000)]) }));
      const sack = sseq + data.length;
      assertFrame(out[0], tcpFrame(TO_RS, {
        src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: cseq, ack: u32(sack), flags: ACK, window: 500 + k,
        options: Buffer.concat([tsOpt(TSC + k + 1, STS + 40 * k), sackOpt(sack + 1000, sack + 2000, sack + 3000, sack + 4000)]),
      }, FWD_IP), `client ACK ${k}`);
      sseq = u32(sack);
    }
    // A large window of the server: 65535 × 2^7 is 8191 × 2^10.
    out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: sseq, ack: cseq, flags: ACK, window: 65535, options: tsOpt(STS + 200, TSC + 4) }));
    assert.equal(out[0]!.readUInt16BE(14 + 20 + 14), 8191);
  });

  test(`${fwd}: a server that declines window scaling and timestamps: the client's windows are unscaled for it, its own rescaled to what the client was told; its segments pass without timestamps (counted). A server scaling by more than 10: its windows grow, up to 65535`, () => {
    const open = (r: Rig, server: Buffer, cport = CPORT): { cookie: number; tsv: number; held: Buffer } => {
      const synack = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 80, seq: CISN, flags: SYN, options: hsOpts(1460, [0x100, 0], 7, true) }))[0]!;
      const cookie = synack.readUInt32BE(38);
      const tsv = synackTsval(synack);
      r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK, window: 502, options: tsOpt(0x101, tsv) }));
      const p = fwd === 'nat' ? { addr: CLIENT, port: cport } : peer;
      const held = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: p.addr, sport: 8080, dport: p.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, window: 65160, options: server }))[0]!;
      return { cookie, tsv, held };
    };
    const r = spRig(fwd);
    const { cookie, tsv, held } = open(r, MSS1460);
    assertFrame(held, tcpFrame(TO_RS, {
      src: peer.addr, dst: RS[0].ip, sport: peer.port, dport: 8080, seq: u32(CISN + 1), ack: SISN + 1, flags: ACK, window: 502 << 7, options: tsOpt(0x101, tsv),
    }, FWD_IP), 'the held ACK: its window unscaled, its timestamps as they were (the server ignores them)');
    assert.equal(r.counters().synproxy_server_no_ts, 1);
    const fromRs = (window: number) => r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN + 1, ack: u32(CISN + 1), flags: ACK, window }))[0]!;
    assertFrame(fromRs(60000), tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: u32(cookie + 1), ack: u32(CISN + 1), flags: ACK, window: 58 }, FWD_IP), 'server window 60000 in units of 2^10');
    assert.equal(fromRs(500).readUInt16BE(48), 1, 'a small window is not rounded down to a closed one');
    assert.equal(fromRs(0).readUInt16BE(48), 0, 'a closed one stays closed');
    const toRs = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK, window: 600, options: tsOpt(0x102, tsv) }))[0]!;
    assert.equal(toRs.readUInt16BE(48), 65535, 'the client\'s 600 × 2^7, at most 65535 unscaled');
    // Window scale 12: the server's windows × 4 for the client.
    const r2 = spRig(fwd);
    const c2 = open(r2, hsOpts(1460, [0x5000, 0x101], 12, true));
    const w2 = (window: number) => r2.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: peer.addr, sport: 8080, dport: peer.port, seq: SISN + 1, ack: u32(CISN + 1), flags: ACK, window, options: tsOpt(0x5001, 0x101) }))[0]!;
    assertFrame(w2(3000), tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: u32(c2.cookie + 1), ack: u32(CISN + 1), flags: ACK, window: 12000, options: tsOpt(c2.tsv + 1, 0x101) }, FWD_IP), 'window × 4');
    assert.equal(w2(20000).readUInt16BE(48), 65535);
    assert.equal(r2.counters().synproxy_server_no_ts, 0);
  });
}

test('ACKs with a wrong or expired cookie get a reset (seq = their ack), stray segments nothing; none opens anything or reaches a server', () => {
  const r = spRig('nat');
  const cookie = synCookie(r);
  const ack = (a: number, seq = CISN + 1, flags: number = ACK) =>
    tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(seq), ack: u32(a), flags });
  const rst = (a: number) => tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: u32(a), ack: 0, flags: RST, window: 0 }, { id: 0, ttl: 64 });
  const c0 = r.counters();
  assertFrame(r.run(ack(cookie + 2))[0], rst(cookie + 2), 'ack off by one');
  assertFrame(r.run(ack(cookie + 1, CISN + 2))[0], rst(cookie + 1), 'other client ISN');
  assertFrame(r.run(ack(0x12345678))[0], rst(0x12345678), 'random ack');
  assert.equal(r.run(ack(cookie + 1, CISN + 1, PSH)).length, 0, 'no ACK flag');
  assert.equal(r.run(ack(cookie + 1, CISN + 1, SYN | ACK)).length, 0, 'SYN|ACK from a client');
  r.advance(4 * COOKIE_PERIOD_MS);
  // The handshake is long over (a client whose entry expired): told at once, not left retransmitting.
  assertFrame(r.run(ack(cookie + 1))[0], rst(cookie + 1), 'expired');
  const c1 = r.counters();
  assert.equal(c1.synproxy_ack_invalid! - c0.synproxy_ack_invalid!, 4);
  assert.equal(c1.tcp_rst_sent! - c0.tcp_rst_sent!, 4);
  assert.equal(c1['drop.no_conn']! - c0['drop.no_conn']!, 2);
  assert.equal(c1.synproxy_ack_valid! - c0.synproxy_ack_valid!, 0);
  assert.equal(r.dp.ct.count, 0);
});

test('segments with a wrong TCP checksum are never answered, taken or held (tcp_bad_checksum): a SYN gets no cookie, a cookie ACK with data opens nothing, data before the server answered is not held, a server SYN|ACK settles nothing; the intact ones do', () => {
  const r = spRig('nat');
  const bad = (f: Buffer): Buffer => {
    const b = Buffer.from(f);
    b[14 + 20 + 16]! ^= 0x5a;
    return b;
  };
  const drops = (f: Buffer, what: string): void => {
    const before = r.counters();
    assert.deepEqual(r.run(bad(f)), [], `${what}: nothing sent`);
    assert.deepEqual(delta(before, r.counters()), { rx_frames: 1, rx_bytes: f.length, 'drop.tcp_bad_checksum': 1 }, what);
  };
  drops(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: CISN, flags: SYN, options: MSS1460 }), 'SYN');
  const cookie = synCookie(r);
  const seg = (data: string) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: PSH | ACK, payload: Buffer.from(data) });
  drops(seg('GET /'), 'the cookie ACK with data');
  assert.equal(r.dp.ct.count, 0, 'no connection');
  assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK })).length, 1, 'the bare ACK: SYN to the server');
  drops(seg('GET /'), 'data before the server answered');
  assert.equal(r.run(seg('GET /')).length, 0, 'the intact copy is held');
  const synAck = tcpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: CPORT, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 });
  drops(synAck, 'the server\'s SYN|ACK');
  assert.equal(r.dp.ct.state[r.dp.ct.lookup(6, parseIp(CLIENT), CPORT, parseIp(VIP), 80) >>> 1], S_SYN_SENT, 'still waiting');
  const [out] = r.run(synAck);
  assert.equal(out!.subarray(54).toString(), 'GET /', 'the intact held segment goes once the server answered');
  assert.ok(l4ChecksumOk(out!));
});

test('a client without timestamps gets MSS only, as before, whatever else it offers; one with timestamps only gets MSS and timestamps', () => {
  const r = spRig('nat');
  // Windows' SYN: MSS, NOP, window scale 8, NOP, NOP, SACK-permitted.
  const win = Buffer.from([2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2]);
  let out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: CISN, flags: SYN, window: 64240, options: win }));
  const cookie = out[0]!.readUInt32BE(38);
  assertFrame(out[0], tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: CPORT, seq: cookie, ack: u32(CISN + 1), flags: SYN | ACK, window: 1460, options: MSS1460 }, { id: 0, ttl: 64 }), 'SYN|ACK, MSS only');
  out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK, window: 64240 }));
  assertFrame(out[0], tcpFrame(TO_RS, { src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 8080, seq: CISN, ack: 0, flags: SYN, window: 64240, options: MSS1460 }, FWD_IP), 'SYN to the server, MSS only');
  // Timestamps alone: NOP NOP timestamps after the MSS, the TSval's low bits say no window scale, no SACK.
  out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT + 1, dport: 80, seq: CISN, flags: SYN, options: hsOpts(1460, [77, 0], -1, false) }));
  const tsv = synackTsval(out[0]!);
  assert.equal(tsv & 63, 15);
  assertFrame(out[0], tcpFrame(TO_CLIENT, {
    src: VIP, dst: CLIENT, sport: 80, dport: CPORT + 1, seq: out[0]!.readUInt32BE(38), ack: u32(CISN + 1), flags: SYN | ACK, window: 1460, options: hsOpts(1460, [tsv, 77], -1, false),
  }, { id: 0, ttl: 64 }), 'SYN|ACK with timestamps only');
});

test('the options kept in the TSval are no part of the cookie\'s check: any TSecr with a wrong cookie is refused as before; with a valid cookie the connection opens with what the TSecr says', () => {
  const r = spRig('nat');
  const synack = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: CISN, flags: SYN, options: hsOpts(1460, [0x100, 0], 7, true) }))[0]!;
  const cookie = synack.readUInt32BE(38);
  const tsv = synackTsval(synack);
  const ack = (a: number, tsecr: number) => r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(a), flags: ACK, options: tsOpt(0x101, tsecr) }));
  const c0 = r.counters();
  for (let bits = 0; bits < 64; bits++) {
    for (const f of ack(cookie + 2, (tsv & ~63) | bits)) assert.equal(f[47], RST, `wrong cookie, TSecr bits ${bits}: a reset (within its rate limit), nothing else`);
  }
  assert.equal(r.counters().synproxy_ack_invalid! - c0.synproxy_ack_invalid!, 64);
  assert.equal(r.dp.ct.count, 0);
  // A valid cookie whose TSecr claims window scale 3 and no SACK: only its own connection is told so.
  const out = ack(cookie + 1, (tsv & ~63) | 3);
  assertFrame(out[0], tcpFrame(TO_RS, { src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 8080, seq: CISN, ack: 0, flags: SYN, window: 65535, options: hsOpts(1460, [0x101, 0], 3, false) }, FWD_IP), 'SYN to the server');
  assert.equal(r.counters().synproxy_ack_valid! - c0.synproxy_ack_valid!, 1);
});

test('a spoofed SYN flood (5,000 sources) gets 5,000 cookies, leaves no entry and sends nothing to a server', () => {
  const r = spRig('fullnat');
  let sent = 0;
  let toServer = 0;
  for (let k = 0; k < 5000; k += 100) {
    const batch = Array.from({ length: 100 }, (_, i) => {
      const n = k + i;
      return tcpFrame(IN, { src: `172.${16 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`, dst: VIP, sport: 1024 + n, dport: 80, seq: n * 7919, flags: SYN });
    });
    for (const f of r.run(...batch)) {
      sent++;
      if (f.subarray(0, 6).equals(Buffer.from(RS[0].mac.split(':').map((h) => parseInt(h, 16))))) toServer++;
      assert.equal(f[47], SYN | ACK);
      assert.equal(f.readUInt16BE(14 + 20 + 22), 536, 'no MSS option in the SYN: 536');
    }
  }
  assert.equal(sent, 5000);
  assert.equal(toServer, 0);
  assert.equal(r.dp.ct.count, 0);
  assert.equal(r.counters().synproxy_syn_cookies_sent, 5000);
});

test('a client that sends more than one segment before the server answered: the extra one is dropped and counted; the held one again resends the SYN', () => {
  const r = spRig('nat');
  const cookie = synCookie(r);
  const seg = (seq: number, data: string) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(seq), ack: u32(cookie + 1), flags: PSH | ACK, payload: Buffer.from(data) });
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: ACK }));
  assert.equal(r.run(seg(CISN + 1, 'one')).length, 0);
  const c0 = r.counters();
  assert.equal(r.run(seg(CISN + 4, 'two')).length, 0);
  assert.equal(r.counters()['drop.synproxy_not_ready']! - c0['drop.synproxy_not_ready']!, 1);
  // The held segment again: the client timed out, so our SYN (or the answer) was lost: it goes again.
  const again = r.run(seg(CISN + 1, 'one'));
  assert.equal(again.length, 1);
  assertFrame(again[0], tcpFrame(TO_RS, { src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 8080, seq: CISN, ack: 0, flags: SYN, options: MSS1460 }, FWD_IP), 'SYN again');
  assert.equal(r.counters().synproxy_server_syn! - c0.synproxy_server_syn!, 1);
  const out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: CPORT, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 }));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.subarray(54).toString(), 'one', 'the first segment was held');
});

test('waiting connections are bounded by the held-segment slots: beyond, ACKs are refused and counted', () => {
  const r = rig({ connMax: 8 }); // 8 slots, one per server
  r.dp.setDefense({ evictAbove: 1 }); // waiting entries are unconfirmed: early eviction would take them
  r.ctl.addService({ ...SVC, sched: 'rr', synproxy: true });
  for (let i = 0; i < 9; i++) {
    const rs = `10.0.0.${31 + i}`;
    r.ctl.addDest({ service: SVC, addr: rs, port: 80, fwd: 'nat', weight: 1 });
    r.learn(rs, `02:00:00:00:00:${31 + i}`);
  }
  for (let i = 0; i < 9; i++) {
    const c = synCookie(r, 41000 + i);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 41000 + i, dport: 80, seq: u32(CISN + 1), ack: u32(c + 1), flags: ACK }));
  }
  assert.equal(r.dp.synproxy.waiting, 8);
  assert.equal(r.counters()['drop.synproxy_no_room'], 1);
  r.advance(121_000); // SYN_SENT times out: slots come back
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0);
  assert.equal(r.dp.synproxy.waiting, 0);
});

test('a server that never answers holds at most 1/8 of the waiting slots: its other clients are refused, other services still open', () => {
  const r = rig({ connMax: 4096 }); // 1024 slots, 128 per server
  const other = { ...SVC, port: 443 };
  r.ctl.addService({ ...SVC, sched: 'rr', synproxy: true });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'nat', weight: 1 }); // drops every SYN
  r.ctl.addService({ ...other, sched: 'rr', synproxy: true });
  r.ctl.addDest({ service: other, addr: RS[1].ip, port: 443, fwd: 'nat', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(RS[1].ip, RS[1].mac);
  let toDead = 0;
  for (let i = 0; i < 1100; i++) {
    const c = synCookie(r, 20000 + i);
    toDead += r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 20000 + i, dport: 80, seq: u32(CISN + 1), ack: u32(c + 1), flags: ACK })).length;
  }
  assert.equal(toDead, 128, 'SYNs to the dead server');
  assert.equal(r.dp.synproxy.waiting, 128);
  assert.equal(r.counters()['drop.synproxy_server_full'], 1100 - 128);
  assert.equal(r.counters()['drop.synproxy_no_room'], 0);
  // A client of the other service: its SYN reaches its server.
  const open443 = (cport: number): Buffer[] => {
    const synack = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 443, seq: CISN, flags: SYN }));
    return r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 443, seq: u32(CISN + 1), ack: u32(synack[0]!.readUInt32BE(38) + 1), flags: ACK }));
  };
  const out = open443(30000);
  assert.equal(out.length, 1);
  assert.equal(out[0]![47], SYN, 'SYN to the other service\'s server');
  assert.equal(out[0]!.readUInt32BE(30), parseIp(RS[1].ip));
  // Its server answers: its slot comes back; the dead server's entries time out and give theirs back.
  r.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: RS[1].mac }, { src: RS[1].ip, dst: CLIENT, sport: 443, dport: 30000, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 }));
  assert.equal(r.dp.synproxy.waiting, 128);
  r.advance(121_000);
  r.dp.tick();
  assert.equal(r.dp.synproxy.waiting, 0);
  const again = synCookie(r, 29999);
  const syn = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 29999, dport: 80, seq: u32(CISN + 1), ack: u32(again + 1), flags: ACK }))
    .filter((f) => f.readUInt16BE(12) === 0x0800); // an ARP probe may go too (the neighbour aged)
  assert.equal(syn.length, 1, 'the dead server\'s share is free again');
  assert.equal(syn[0]![47], SYN);
});

// ---- control ---------------------------------------------------------------------------------

test('control: --synproxy only for TCP services with NAT/FULLNAT servers (refused per server, one line, nothing changed)', () => {
  const r = rig();
  r.ctl.addService({ ...SVC, sched: 'rr', synproxy: true });
  for (const fwd of ['dr', 'tun'] as const) {
    assert.throws(() => r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd, weight: 1 }),
      new RegExp(`^Error: The SYN proxy needs NAT or FULLNAT real servers \\(the director never sees DR/TUN replies\\): ${fwd} server 10\\.0\\.0\\.11:80 for SYN proxy service TCP 10\\.0\\.0\\.100:80$`));
  }
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'nat', weight: 1 });
  assert.throws(() => r.ctl.editDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr' }), /SYN proxy needs NAT or FULLNAT/);
  assert.throws(() => r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, synproxy: true }), /^Error: The SYN proxy is only for TCP virtual services: UDP 10\.0\.0\.100:53$/);
  assert.throws(() => r.ctl.addService({ ...SVC, port: 81, synproxy: 'yes' as unknown as boolean }), /synproxy/);
  // A service with a DR server cannot be switched to the SYN proxy.
  r.ctl.addService({ ...SVC, port: 82, sched: 'rr' });
  r.ctl.addDest({ service: { ...SVC, port: 82 }, addr: RS[1].ip, port: 82, fwd: 'dr', weight: 1 });
  assert.throws(() => r.ctl.editService({ ...SVC, port: 82, synproxy: true }), /: TCP 10\.0\.0\.100:82 has dr server 10\.0\.0\.12:82$/);
  assert.equal(r.dp.services.find((x) => x?.port === 82)!.synproxy, false, 'nothing changed');
  const list = r.ctl.list();
  assert.deepEqual(list.services.map((s) => [s.port, s.synproxy, s.dests.length]), [[80, true, 1], [82, false, 1]]);
  assert.match(formatList(list, { numeric: true }), /^TCP {2}10\.0\.0\.100:80 rr synproxy$/m);
  assert.match(formatRules(list, { numeric: true }), /^-A -t 10\.0\.0\.100:80 -s rr --synproxy$/m);
  // Switched off and on again with -E.
  r.ctl.editService({ ...SVC, synproxy: false });
  assert.equal(r.dp.services[0]!.synproxy, false);
  r.ctl.editService({ ...SVC, synproxy: true });
  assert.equal(r.dp.services[0]!.synproxy, true);
});

test('uvsadm --synproxy: -A/-E send it, other commands refuse it; the YAML config reads synproxy: true', () => {
  const a = parseArgs(['-A', '-t', '10.0.0.100:80', '-s', 'rr', '--synproxy']);
  assert.equal(a.kind, 'call');
  assert.equal((a as { call: { args: { synproxy: boolean } } }).call.args.synproxy, true);
  const e = parseArgs(['-E', '-t', '10.0.0.100:80']);
  assert.equal((e as { call: { args: { synproxy: boolean } } }).call.args.synproxy, false, '-E without it switches it off, as -E replaces all');
  assert.throws(() => parseArgs(['-a', '-t', '10.0.0.100:80', '-r', '10.0.0.11', '-m', '--synproxy']), /synproxy/);
  const cfg = parseConfig('services:\n  - proto: tcp\n    address: 10.0.0.100\n    port: 80\n    synproxy: true\n    servers:\n      - address: 10.0.0.11\n        method: nat\n', 'x.yaml');
  assert.equal(cfg.services[0]!.spec.synproxy, true);
});

test('an ACK with more data than the link MTU (a GSO super-segment, --offload on): only its headers are held (the client sends the data again)', () => {
  const r = spRig('nat', true);
  const cookie = synCookie(r);
  const big = Buffer.alloc(1560, 0x61); // 1600-byte IP packet: more than a 1500-byte slot
  const frame = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, seq: u32(CISN + 1), ack: u32(cookie + 1), flags: PSH | ACK, window: 502, payload: big }, { id: 5 });
  const syn = r.run({ frame, vnet: { gsoType: VNET_GSO_TCPV4, gsoSize: 1448, hdrLen: 54 } });
  assertFrame(syn[0], tcpFrame(TO_RS, { src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 8080, seq: CISN, ack: 0, flags: SYN, window: 502, options: MSS1460 }, { id: 5, ttl: 63 }), 'SYN');
  const out = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: CPORT, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK, options: MSS1460 }));
  assertFrame(out[0], tcpFrame(TO_RS, { src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 8080, seq: u32(CISN + 1), ack: SISN + 1, flags: PSH | ACK, window: 502 }, { id: 5, ttl: 63 }), 'headers only');
});
