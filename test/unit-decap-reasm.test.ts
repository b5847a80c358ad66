// test-class: shared
// uvs-decap's outer reassembly (src/modes/decap-reasm.ts): a router after the director fragments
// a tunnelled packet without DF; the helper puts the pieces together before it decapsulates, in
// any order, for IPIP, GRE and GUE (whose later fragments carry no port), and gives up on
// overlaps, timeouts and a full table, counting each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eth, inetChecksum, ipv4, udp } from './helpers/frames.js';
import { decapHost, routerFragments } from './helpers/decap.js';
import { DECAP_NOT_TUNNEL, decapFrame, decapStride } from '../src/modes/decap.js';
import { REASM_BAD, REASM_DONE, REASM_EVICTED, REASM_OVERLAPS, REASM_SLOTS, REASM_TIMEOUTS, REASM_TIMEOUT_MS } from '../src/modes/decap-reasm.js';
import { DecapPump } from '../src/modes/decap-pump.js';

const VIP = '192.168.8.200';
const GUE_PORT = 6080;
const L2 = { dst: '02:00:00:00:00:20', src: '02:00:00:00:00:fe', type: 0x0800 };
/** The real server: its MAC and address as the director's packets are sent to them. */
const SERVER = decapHost({ vips: [VIP], locals: ['10.9.0.20'], mac: L2.dst, guePort: GUE_PORT });

/** A client's 3000-byte UDP datagram to the VIP (one inner fragment uvsd cut, as it would be: no DF). */
function innerPacket(seed: number): Buffer {
  return ipv4({ src: '192.168.8.100', dst: VIP, proto: 17, id: seed, df: false }, udp({ src: '192.168.8.100', dst: VIP, sport: 40000 + seed, dport: 53, payload: Buffer.alloc(3000, seed) }));
}

/** The inner packet wrapped as the director sends it (IP ID `id`, no DF). */
function wrap(kind: 'ipip' | 'gre' | 'gue', inner: Buffer, id: number): Buffer {
  const o = { src: '192.168.8.10', dst: '10.9.0.20', id, df: false };
  if (kind === 'ipip') return ipv4({ ...o, proto: 4 }, inner);
  if (kind === 'gre') return ipv4({ ...o, proto: 47 }, Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), inner]));
  const gue = Buffer.concat([Buffer.from([0, 4, 0, 0]), inner]);
  const u = Buffer.alloc(8);
  u.writeUInt16BE(40001, 0);
  u.writeUInt16BE(GUE_PORT, 2);
  u.writeUInt16BE(8 + gue.length, 4);
  return ipv4({ ...o, proto: 17 }, Buffer.concat([u, gue]));
}

/** The IP packet cut as a router with a 1280-byte MTU cuts it: Ethernet frames, data in pieces of 1256. */
const fragments = (pkt: Buffer): Buffer[] => routerFragments(eth(L2, pkt));

/** uvs-decap's receive path (DecapPump) with a TUN that keeps copies of what is written to it. */
class Decap {
  readonly written: Buffer[] = [];
  readonly pump = new DecapPump(SERVER, {
    send: (b, offs, lens, n) => {
      for (let i = 0; i < n; i++) this.written.push(Buffer.from(b.subarray(offs[i], offs[i]! + lens[i]!)));
      return n;
    },
  }, 1);
  get counts(): Float64Array {
    return this.pump.reasm.counts;
  }
}

/** Feed frames through uvs-decap's receive path, a batch of one each (read into a slot of
 *  uvs-decap's size); the inner packets it wrote to the TUN. */
function feed(d: Decap, frames: Buffer[], now = 0): Buffer[] {
  const slot = Buffer.alloc(decapStride(1480));
  const lens = new Uint32Array(1);
  const from = d.written.length;
  for (const f of frames) {
    f.copy(slot);
    lens[0] = f.length;
    d.pump.take(slot, slot.length, lens, 1, now);
  }
  return d.written.slice(from);
}

test('uvs-decap reassembles outer fragments of IPIP, GRE and GUE packets in any order and writes the whole inner packet', () => {
  for (const kind of ['ipip', 'gre', 'gue'] as const) {
    const reasm = new Decap();
    const inner = innerPacket(1);
    const frags = fragments(wrap(kind, inner, 7));
    assert.equal(frags.length, 3, `${kind}: three fragments`);
    assert.deepEqual(feed(reasm, frags), [inner], `${kind}: in order`);
    assert.deepEqual(feed(reasm, [...frags].reverse()), [inner], `${kind}: last first`);
    assert.deepEqual(feed(reasm, [frags[1]!, frags[2]!, frags[0]!]), [inner], `${kind}: first last`);
    assert.equal(reasm.counts[REASM_DONE], 3, kind);
    // Two datagrams interleaved (different IP IDs).
    const other = innerPacket(2);
    const f2 = fragments(wrap(kind, other, 8));
    assert.deepEqual(feed(reasm, [frags[0]!, f2[0]!, f2[1]!, frags[1]!, frags[2]!, f2[2]!]), [inner, other], `${kind}: interleaved`);
  }
  // Without a GUE port, UDP fragments are none of the helper's business.
  const f = fragments(wrap('gue', innerPacket(1), 9))[1]!;
  assert.equal(decapFrame(f, 0, f.length, { ...SERVER, guePort: 0 }, new Int32Array(2)), DECAP_NOT_TUNNEL);
});

/** A fragment of IP packet `pkt` (its header, with offset and MF set) carrying `data` at byte `start` of its data. */
function piece(pkt: Buffer, start: number, data: Buffer, mf: boolean): Buffer {
  const h = Buffer.from(pkt.subarray(0, 20));
  h.writeUInt16BE(20 + data.length, 2);
  h.writeUInt16BE((mf ? 0x2000 : 0) | (start / 8), 6);
  h.writeUInt16BE(0, 10);
  h.writeUInt16BE(inetChecksum(h), 10);
  return eth(L2, Buffer.concat([h, data]));
}

test('uvs-decap reassembly: overlapping fragments drop the datagram; an incomplete one times out; a full table gives up its oldest; malformed fragments are refused', () => {
  const reasm = new Decap();
  const inner = innerPacket(3);
  const frags = fragments(wrap('ipip', inner, 11));
  // Overlap: a second fragment starting 8 bytes inside the first's data.
  const outer = wrap('ipip', inner, 11);
  assert.deepEqual(feed(reasm, [frags[0]!, piece(outer, 1248, outer.subarray(20 + 1248, 20 + 2504), true), frags[2]!]), []);
  assert.equal(reasm.counts[REASM_OVERLAPS], 1);
  // Timeout: the rest comes too late and starts afresh (never completes without its first part).
  const late = fragments(wrap('ipip', inner, 12));
  assert.deepEqual(feed(reasm, [late[0]!, late[1]!], 0), []);
  assert.deepEqual(feed(reasm, [late[2]!], REASM_TIMEOUT_MS + 1), []);
  assert.equal(reasm.counts[REASM_TIMEOUTS], 2, 'this one and the last piece of the overlapping one');
  // Full table: REASM_SLOTS + 1 datagrams started; the oldest is taken over and cannot complete.
  const fresh = new Decap();
  const many = Array.from({ length: REASM_SLOTS + 1 }, (_v, i) => fragments(wrap('gre', innerPacket(10 + i), 100 + i)));
  many.forEach((fs, i) => feed(fresh, [fs[0]!], i));
  assert.equal(fresh.counts[REASM_EVICTED], 1);
  assert.deepEqual(feed(fresh, many[0]!.slice(1), 100), [], 'the oldest was given up');
  assert.deepEqual(feed(fresh, many[REASM_SLOTS]!.slice(1), 100), [innerPacket(10 + REASM_SLOTS)], 'the newest completes');
  // A middle fragment whose data is not a multiple of 8 bytes (its header checksum right: past decapFrame's checks).
  const bad = Buffer.from(frags[0]!);
  bad.writeUInt16BE(bad.readUInt16BE(16) - 1, 16);
  bad.writeUInt16BE(0, 24);
  bad.writeUInt16BE(inetChecksum(bad, 14, 20), 24);
  assert.deepEqual(feed(reasm, [bad.subarray(0, bad.length - 1)]), []);
  assert.equal(reasm.counts[REASM_BAD], 1);
});

test('uvs-decap reassembly: a fragment that arrives twice is dropped alone (as Linux: IPFRAG_DUP), the datagram still completes; only a partial overlap drops it', () => {
  const reasm = new Decap();
  const inner = innerPacket(4);
  const frags = fragments(wrap('ipip', inner, 13));
  assert.deepEqual(feed(reasm, [frags[0]!, frags[1]!, frags[1]!, frags[2]!]), [inner], 'the second fragment twice');
  assert.deepEqual(feed(reasm, [frags[2]!, frags[0]!, frags[2]!, frags[0]!, frags[1]!]), [inner], 'the last and the first twice');
  assert.equal(reasm.counts[REASM_OVERLAPS], 0);
  assert.equal(reasm.counts[REASM_DONE], 2);
});

test('uvs-decap reassembly: a fragment past the datagram\'s end cannot make up the bytes of a hole: the datagram is dropped (reasm_bad), not written with an earlier datagram\'s bytes in the hole', () => {
  const reasm = new Decap();
  // A "secret" datagram (inner payload 0x53, outer ID 9), reassembled normally in the same slot.
  const secret = ipv4({ src: '192.168.8.100', dst: VIP, proto: 17, id: 1, df: false }, udp({ src: '192.168.8.100', dst: VIP, sport: 40000, dport: 53, payload: Buffer.alloc(3000, 0x53) }));
  assert.deepEqual(feed(reasm, fragments(wrap('ipip', secret, 9))), [secret]);
  // Outer ID 10: an inner packet of 2,512 bytes (UDP checksum 0), sent as [0,1256) MF, a piece
  // [2512,3024) MF past its end, and [1768,2512) last: [1256,1768) never came.
  const inner = ipv4({ src: '192.168.8.100', dst: VIP, proto: 17, id: 2, df: false }, udp({ src: '192.168.8.100', dst: VIP, sport: 40001, dport: 53, payload: Buffer.alloc(2484, 0x11) }));
  inner.writeUInt16BE(0, 26);
  assert.equal(inner.length, 2512);
  const outer = wrap('ipip', inner, 10);
  const data = outer.subarray(20);
  const sent = [piece(outer, 0, data.subarray(0, 1256), true), piece(outer, 2512, Buffer.alloc(512, 0x41), true), piece(outer, 1768, data.subarray(1768), false)];
  assert.deepEqual(feed(reasm, sent), [], 'nothing written to the TUN');
  assert.equal(reasm.counts[REASM_BAD], 1);
  // The other way round (the last fragment first, then a piece past its end): dropped too.
  assert.deepEqual(feed(reasm, [sent[2]!, sent[0]!, sent[1]!]), []);
  assert.equal(reasm.counts[REASM_BAD], 2);
  // A last fragment at another end than an earlier last one: dropped.
  assert.deepEqual(feed(reasm, [sent[2]!, piece(outer, 1768, data.subarray(1768, 2504), false)]), []);
  assert.equal(reasm.counts[REASM_BAD], 3);
  // Whole, the same datagram goes through.
  assert.deepEqual(feed(reasm, fragments(outer)), [inner]);
});
