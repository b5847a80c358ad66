// test-class: shared
// Frame views and checksum arithmetic (src/datapath/frame.ts): RFC 1071 full sums, IPv4 header
// validation, and the RFC 1624 incremental updates checked against full recomputation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checksum, copyMac, csumReplace16, csumReplace32, fold16, ipv4HeaderValid, ipv4SetChecksum, macEquals, rd16, rd32,
  sum16, wr16, wr32,
} from '../src/datapath/frame.js';
import { fromHex, inetChecksum, ipv4, tcp, tcpFrame, synOptions } from './helpers/frames.js';

// The classic worked example: 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7
const KNOWN = fromHex('450000730000400040110000c0a80001c0a800c7');

test('checksum: known IPv4 header example gives 0xb861', () => {
  assert.equal(checksum(KNOWN, 0, 20), 0xb861);
  const h = Buffer.from(KNOWN);
  ipv4SetChecksum(h, 0, 20);
  assert.equal(rd16(h, 10), 0xb861);
  assert.ok(ipv4HeaderValid(h, 0, 20));
});

test('checksum: odd lengths pad the last byte with zero (RFC 1071)', () => {
  const b = Uint8Array.from([0x12, 0x34, 0x56]);
  assert.equal(sum16(b, 0, 3, 0), 0x1234 + 0x5600);
  assert.equal(checksum(b, 0, 3), inetChecksum(b));
  assert.equal(fold16(0x2fffd), 0xffff); // 0xfffd + 2
  assert.equal(fold16(0x1ffff), 0x0001); // 0xffff + 1 = 0x10000 -> 0x0001
  assert.equal(fold16(0), 0);
});

test('checksum: agrees with the independent test implementation on random data and offsets', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(8), fc.nat(0xffff), (data, pre, init) => {
      const buf = new Uint8Array(pre + data.length);
      buf.set(data, pre);
      assert.equal(checksum(buf, pre, data.length, init), inetChecksum(buf, pre, data.length, init));
    }),
  );
});

test('ipv4HeaderValid: a built header is valid; any single corrupted byte makes it invalid', () => {
  const pkt = ipv4({ src: '192.0.2.10', dst: '10.0.0.100', proto: 6, id: 0x1234, ttl: 63 }, new Uint8Array(0));
  assert.ok(ipv4HeaderValid(pkt, 0, 20));
  for (let i = 0; i < 20; i++) {
    const bad = Buffer.from(pkt);
    bad[i] ^= 0x01;
    assert.equal(ipv4HeaderValid(bad, 0, 20), false, `flipped bit in byte ${i} not detected`);
  }
  const withBad = ipv4({ src: '192.0.2.10', dst: '10.0.0.100', proto: 6, badChecksum: true }, new Uint8Array(0));
  assert.equal(ipv4HeaderValid(withBad, 0, 20), false);
  ipv4SetChecksum(withBad, 0, 20);
  assert.ok(ipv4HeaderValid(withBad, 0, 20));
});

test('ipv4HeaderValid: works at an offset and with options (IHL > 5)', () => {
  const pkt = ipv4({ src: '1.2.3.4', dst: '5.6.7.8', proto: 17, options: Uint8Array.from([0x94, 0x04, 0, 0]) }, new Uint8Array(4));
  const framed = Buffer.concat([Buffer.alloc(14, 0xee), pkt]);
  assert.ok(ipv4HeaderValid(framed, 14, 24));
  assert.equal(ipv4HeaderValid(framed, 14, 20), false, 'the options are part of the checksum');
});

/** A random IPv4 header (version 4, IHL 5) with a correct checksum. */
const ipHeader = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => {
  const h = Buffer.from(b);
  h[0] = 0x45;
  ipv4SetChecksum(h, 0, 20);
  return h;
});

test('RFC 1624: csumReplace16 equals full recomputation for random 16-bit rewrites', () => {
  fc.assert(
    fc.property(ipHeader, fc.integer({ min: 1, max: 9 }).filter((w) => w !== 5), fc.nat(0xffff), (h, word, neu) => {
      const o = word * 2;
      const old = rd16(h, o);
      const inc = csumReplace16(rd16(h, 10), old, neu);
      wr16(h, o, neu);
      ipv4SetChecksum(h, 0, 20);
      assert.equal(inc, rd16(h, 10), `word ${word}: ${old.toString(16)} -> ${neu.toString(16)}`);
    }),
    { numRuns: 2000 },
  );
});

test('RFC 1624: csumReplace32 equals full recomputation for random address rewrites', () => {
  fc.assert(
    fc.property(ipHeader, fc.constantFrom(12, 16), fc.nat({ max: 0xffffffff }), (h, o, neu) => {
      const old = rd32(h, o);
      const inc = csumReplace32(rd16(h, 10), old, neu >>> 0);
      wr32(h, o, neu >>> 0);
      ipv4SetChecksum(h, 0, 20);
      assert.equal(inc, rd16(h, 10));
    }),
    { numRuns: 2000 },
  );
});

test('RFC 1624: rewriting an address updates the TCP checksum (pseudo-header) like a recomputation', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat(0xffff), fc.nat(0xffff),
      fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 0xffffffff }), fc.nat(0xffff),
      (src, dst, sport, dport, payload, newDst, newPort) => {
        const ipS = (v: number) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
        const seg = tcp({ src: ipS(src), dst: ipS(dst), sport, dport, flags: 0x18, payload });
        let c = rd16(seg, 16);
        c = csumReplace32(c, dst >>> 0, newDst >>> 0);
        c = csumReplace16(c, dport, newPort);
        const want = tcp({ src: ipS(src), dst: ipS(newDst), sport, dport: newPort, flags: 0x18, payload });
        assert.equal(c, rd16(want, 16));
      },
    ),
    { numRuns: 1000 },
  );
});

test('rd/wr 16/32 round-trip; rd32 reads int32 (addresses stay small integers), wr32 takes either form', () => {
  const b = new Uint8Array(8);
  wr32(b, 1, 0xdeadbeef);
  assert.equal(rd32(b, 1), 0xdeadbeef | 0);
  assert.equal(rd32(b, 1) >>> 0, 0xdeadbeef);
  wr16(b, 5, 0xfffe);
  assert.equal(rd16(b, 5), 0xfffe);
  wr32(b, 0, -1);
  assert.equal(rd32(b, 0), -1);
  wr32(b, 0, 0xc0a808c8);
  assert.equal(rd32(b, 0), 0xc0a808c8 | 0);
});

test('copyMac / macEquals', () => {
  const f = tcpFrame({ ethDst: '02:00:00:00:00:01', ethSrc: '02:aa:bb:cc:dd:ee' }, { src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, flags: 2, options: synOptions() });
  const m = new Uint8Array(6);
  copyMac(m, 0, f, 6);
  assert.ok(macEquals(m, 0, f, 6));
  assert.equal(macEquals(m, 0, f, 0), false);
  assert.deepEqual([...m], [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
});
