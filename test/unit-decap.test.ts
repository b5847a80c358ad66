// test-class: shared
// uvs-decap's parser (src/modes/decap.ts): what it takes as its own and what it refuses, by
// reason, as the kernel's ipip/gre/fou receive path would; its receive batch (decap-pump.ts).
// Reassembly: unit-decap-reasm.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eth, inetChecksum, ip, ipv4, mac, tcp, TCP_FLAGS, udp } from './helpers/frames.js';
import { decapHost } from './helpers/decap.js';
import {
  DECAP_BAD, DECAP_BAD_IP_CSUM, DECAP_BAD_TUN_CSUM, DECAP_COUNTERS, DECAP_FRAGMENT, DECAP_GUE_CONTROL, DECAP_NOT_LOCAL, DECAP_NOT_TUNNEL, DECAP_OK, DECAP_OTHER_HOST, DECAP_TRUNCATED,
  decapFrame, decapStride, rpFilterProblem, setHostMac,
} from '../src/modes/decap.js';
import { DecapPump } from '../src/modes/decap-pump.js';
import type { FrameSink } from '../src/datapath/tx.js';

const VIP = '192.168.8.200';
const CLIENT = '198.51.100.7';
const DIRECTOR = '192.168.8.10';
const GUE_PORT = 6080;
/** This server and its neighbour on the same switch, both behind the director. */
const SERVER = { ip: '192.168.8.20', mac: '02:00:00:00:00:20' };
const OTHER = { ip: '192.168.8.21', mac: '02:00:00:00:00:21' };
const DIR_MAC = '02:00:00:00:00:0a';
const host = () => decapHost({ vips: [VIP], locals: [SERVER.ip, '127.0.0.1'], mac: SERVER.mac, guePort: GUE_PORT });

const inner = ipv4({ src: CLIENT, dst: VIP, proto: 6, id: 0x1234 }, tcp({ src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }));

type Kind = 'ipip' | 'gre' | 'gre-csum' | 'gue' | 'gue-csum';
const KINDS: Kind[] = ['ipip', 'gre', 'gre-csum', 'gue', 'gue-csum'];

/** The tunnel's payload after the outer IPv4 header to `dst`, as uvsd writes it (checksums right). */
function tunnelPayload(kind: Kind, dst: string, inner: Buffer): { proto: number; data: Buffer } {
  if (kind === 'ipip') return { proto: 4, data: inner };
  if (kind === 'gre') return { proto: 47, data: Buffer.concat([Buffer.from([0, 0, 0x08, 0]), inner]) };
  if (kind === 'gre-csum') {
    const d = Buffer.concat([Buffer.from([0x80, 0, 0x08, 0, 0, 0, 0, 0]), inner]);
    d.writeUInt16BE(inetChecksum(d), 4);
    return { proto: 47, data: d };
  }
  const gue = Buffer.concat([Buffer.from([0, 4, 0, 0]), inner]); // version 0, no options, IPIP
  return { proto: 17, data: udp({ src: DIRECTOR, dst, sport: 40001, dport: GUE_PORT, payload: gue, checksum: kind === 'gue' ? 'none' : undefined }) };
}

/** A tunnelled frame from the director: Ethernet to `ethDst`, outer IPv4 to `dst`. */
function tunnelled(kind: Kind, o: { ethDst?: string; dst?: string; mf?: boolean; inner?: Buffer } = {}): Buffer {
  const dst = o.dst ?? SERVER.ip;
  const t = tunnelPayload(kind, dst, o.inner ?? inner);
  return eth({ dst: o.ethDst ?? SERVER.mac, src: DIR_MAC, type: 0x0800 },
    ipv4({ src: DIRECTOR, dst, proto: t.proto, id: 7, df: !o.mf, mf: o.mf }, t.data));
}

function decap(f: Buffer, h = host()): { r: number; inner?: Buffer } {
  const out = new Int32Array(2);
  const r = decapFrame(f, 0, f.length, h, out);
  return r === DECAP_OK ? { r, inner: f.subarray(out[0], out[0]! + out[1]!) } : { r };
}

test('uvs-decap takes the director\'s IPIP, GRE and GUE frames to this host\'s MAC and address, also as Ethernet broadcast or multicast (as the kernel)', () => {
  for (const kind of KINDS) {
    for (const ethDst of [SERVER.mac, 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01']) {
      assert.deepEqual(decap(tunnelled(kind, { ethDst })), { r: DECAP_OK, inner }, `${kind} to ${ethDst}`);
    }
  }
});

test('uvs-decap refuses tunnelled frames flooded to it for another station (its MAC) or another host (the outer destination), also fragments, before the reassembly', () => {
  for (const kind of KINDS) {
    // A switch whose MAC entry for the other server aged out floods the director's frame to every port.
    assert.equal(decap(tunnelled(kind, { ethDst: OTHER.mac, dst: OTHER.ip })).r, DECAP_OTHER_HOST, `${kind}: another server's MAC`);
    assert.equal(decap(tunnelled(kind, { ethDst: OTHER.mac, dst: OTHER.ip, mf: true })).r, DECAP_OTHER_HOST, `${kind}: a fragment for another server's MAC`);
    // Our MAC, but an outer destination that is not ours (the kernel would route it, not decapsulate it).
    assert.equal(decap(tunnelled(kind, { dst: OTHER.ip })).r, DECAP_NOT_LOCAL, `${kind}: another server's address`);
    assert.equal(decap(tunnelled(kind, { ethDst: 'ff:ff:ff:ff:ff:ff', dst: OTHER.ip })).r, DECAP_NOT_LOCAL, `${kind}: broadcast frame, another server's address`);
    assert.equal(decap(tunnelled(kind, { dst: OTHER.ip, mf: true })).r, DECAP_NOT_LOCAL, `${kind}: a fragment for another address`);
    assert.equal(decap(tunnelled(kind, { mf: true })).r, DECAP_FRAGMENT, `${kind}: our own fragment goes to the reassembly`);
  }
  // What is not a tunnel stays none of its business wherever it goes (not counted).
  const plain = eth({ dst: OTHER.mac, src: DIR_MAC, type: 0x0800 }, inner);
  assert.equal(decap(plain).r, DECAP_NOT_TUNNEL);
  // The MAC and the addresses are the host's as last read: a changed MAC takes over.
  const h = host();
  setHostMac(h, mac(OTHER.mac));
  assert.equal(decap(tunnelled('ipip'), h).r, DECAP_OTHER_HOST, 'the old MAC after a change');
  h.locals = new Set([...h.locals, ip(OTHER.ip) | 0]);
  assert.equal(decap(tunnelled('ipip', { ethDst: OTHER.mac, dst: OTHER.ip }), h).r, DECAP_OK, 'the new MAC and a new address');
});

test('uvs-decap checks the checksums the kernel checks: the outer IPv4 header\'s, GUE\'s UDP checksum and GRE\'s (when present); a GUE control message is no packet for the stack', () => {
  for (const kind of KINDS) {
    const f = tunnelled(kind);
    f[14 + 10] ^= 0x40; // the outer header checksum
    assert.equal(decap(f).r, DECAP_BAD_IP_CSUM, `${kind}: outer header checksum`);
    const g = tunnelled(kind, { mf: true });
    g[14 + 11] ^= 1;
    assert.equal(decap(g).r, DECAP_BAD_IP_CSUM, `${kind}: a fragment's header checksum (kept out of the reassembly)`);
  }
  // A byte of the inner packet changed on the way: caught only where the tunnel has a checksum.
  const last = (f: Buffer): Buffer => {
    f[f.length - 1]! ^= 0x01;
    return f;
  };
  assert.equal(decap(last(tunnelled('gue-csum'))).r, DECAP_BAD_TUN_CSUM, 'GUE: UDP checksum');
  assert.equal(decap(last(tunnelled('gre-csum'))).r, DECAP_BAD_TUN_CSUM, 'GRE: its checksum');
  const wrongCsum = tunnelled('gue-csum');
  wrongCsum.writeUInt16BE(wrongCsum.readUInt16BE(34 + 6) ^ 0x1000, 34 + 6);
  assert.equal(decap(wrongCsum).r, DECAP_BAD_TUN_CSUM, 'GUE: a wrong UDP checksum field');
  assert.equal(decap(last(tunnelled('gue'))).r, DECAP_OK, 'GUE without a UDP checksum: nothing to check');
  // GUE's C bit: a control message (gue_udp_recv hands it to no protocol).
  const ctl = tunnelled('gue');
  ctl[34 + 8] |= 0x20;
  assert.equal(decap(ctl).r, DECAP_GUE_CONTROL);
});

test('uvs-decap reads whole frames of --mtu inner packets (IPIP, GRE, GUE); a frame cut by the read is counted truncated, not ignored (malformed)', () => {
  const out = new Int32Array(2);
  // Inner packets of the TUN's MTU (1480 by default, 9000 at most) and the 2940 bytes of a 2974-byte IPIP frame.
  for (const mtu of [1480, 9000]) {
    const stride = decapStride(mtu);
    for (const size of [mtu, 2940].filter((n) => n <= mtu)) {
      const big = ipv4({ src: CLIENT, dst: VIP, proto: 17 }, udp({ src: CLIENT, dst: VIP, sport: 40000, dport: 53, payload: Buffer.alloc(size - 28, 1) }));
      for (const kind of KINDS) {
        const f = tunnelled(kind, { inner: big });
        assert.ok(f.length <= stride, `--mtu ${mtu}: a ${f.length}-byte ${kind} frame fits the ${stride}-byte read`);
        assert.equal(decapFrame(f, 0, f.length, host(), out, stride), DECAP_OK, `--mtu ${mtu}, ${kind}, a ${size}-byte inner packet`);
      }
    }
  }
  // The 2974-byte IPIP frame uvs-decap read as 2112 bytes before: cut, and counted as such.
  const f = tunnelled('ipip', { inner: ipv4({ src: CLIENT, dst: VIP, proto: 17 }, udp({ src: CLIENT, dst: VIP, sport: 40000, dport: 53, payload: Buffer.alloc(2940 - 28, 1) })) });
  assert.equal(f.length, 2974);
  assert.equal(decapFrame(f, 0, 2112, host(), out, 2112), DECAP_TRUNCATED);
  assert.equal(DECAP_COUNTERS[-DECAP_TRUNCATED - 1], 'truncated');
  assert.equal(decapFrame(f, 0, 2000, host(), out, 2112), DECAP_BAD, 'shorter than the read: the frame itself is malformed');
});

test('uvs-decap\'s receive batch (DecapPump): the inner packets go to the TUN in one write; a TUN set down takes none (the kernel\'s EIO, 0 written): counted tun_dropped, nothing thrown (before: uvs-decap died on "write fd N: Input/output error" and printed no summary)', () => {
  const STRIDE = decapStride(1480);
  const frames = [tunnelled('ipip'), tunnelled('gre'), tunnelled('ipip', { ethDst: OTHER.mac })];
  const buf = Buffer.alloc(STRIDE * frames.length);
  const lens = new Uint32Array(frames.length);
  frames.forEach((f, i) => {
    f.copy(buf, i * STRIDE);
    lens[i] = f.length;
  });
  let up = true;
  const writes: Buffer[][] = [];
  const tun: FrameSink = {
    send: (b, offs, ls, n) => {
      if (!up) return 0; // what writeBatch says for a TUN set down (port.test.ts)
      writes.push(Array.from({ length: n }, (_, i) => Buffer.from(b.subarray(offs[i], offs[i]! + ls[i]!))));
      return n;
    },
  };
  const pump = new DecapPump(host(), tun, frames.length);
  pump.take(buf, STRIDE, lens, frames.length, 0);
  assert.deepEqual(writes, [[inner, inner]], 'one write of both inner packets; the frame for another station refused');
  up = false;
  pump.take(buf, STRIDE, lens, frames.length, 0);
  const c = pump.counts();
  assert.deepEqual({ decapsulated: c.decapsulated, tun_dropped: c.tun_dropped, other_host: c.other_host }, { decapsulated: 2, tun_dropped: 2, other_host: 2 });
});

test('uvs-decap warns when rp_filter is strict (1) on all or its TUN, which drops every decapsulated packet, naming the sysctl to set; loose (2) or off is fine (before 2026-12-07 it set 0 at start only, and a later all.rp_filter=1 broke the server silently)', () => {
  assert.equal(rpFilterProblem(0, 0, 'uvsdecap0', 'eth0'), undefined);
  assert.equal(rpFilterProblem(2, 0, 'uvsdecap0', 'eth0'), undefined, 'loose: the client is routed somewhere');
  assert.equal(rpFilterProblem(undefined, undefined, 'uvsdecap0', 'eth0'), undefined, 'unreadable: nothing said');
  assert.equal(rpFilterProblem(1, 0, 'uvsdecap0', 'eth0'),
    'uvs-decap: rp_filter is 1 (strict) on all: the kernel drops every decapsulated packet (its source, the client, is routed through eth0, not uvsdecap0); set 0 or 2 (loose): sysctl -w net.ipv4.conf.all.rp_filter=0');
  assert.match(rpFilterProblem(1, 1, 'uvsdecap0', 'eth0')!, /on all and uvsdecap0: .*sysctl -w net\.ipv4\.conf\.all\.rp_filter=0 net\.ipv4\.conf\.uvsdecap0\.rp_filter=0$/);
  assert.match(rpFilterProblem(0, 1, 'uvsdecap0', 'eth0')!, /on uvsdecap0: /);
});
