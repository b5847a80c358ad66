// test-class: shared
// No garbage per packet in the rewriting forwarders either: NAT and FULLNAT (both directions:
// half of every batch are server replies) and TUN (encapsulation into generated slots), with
// addresses above 128.0.0.0, a million frames each, counted as in unit-alloc.test.ts: the bytes
// of new space used per frame in a child whose young generation is not collected meanwhile. And
// FULLNAT's new flows, where every datagram takes a local port, past the point where the local
// addresses' ports run out and are taken back from older flows, as in the bench's `new` workload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { formatIp, parseMac, parseIp, prefixMask } from '../src/datapath/addr.js';
import { arpFrame, sctpFrame, SCTP_CHUNK, tcpFrame, udpFrame, TCP_FLAGS } from './helpers/frames.js';
import { vnetWrite } from '../src/datapath/vnet.js';
import { setSrc } from '../src/proto/rewrite.js';
import { BIG_YOUNG, CountSink, WARM_ROUNDS, frameBatch, measureRounds, report, runChild } from './helpers/alloc.js';

const DIR_MAC = '02:00:00:00:00:01';
const ROUTER_MAC = '02:00:00:00:00:fe';
const VIP = '192.168.8.200';
const LIP = '192.168.8.50';
const RS = ['192.168.8.20', '192.168.8.30'];
const FRAMES = 1_000_000;
const BATCH = 64;
type Mode = 'nat' | 'fullnat' | 'tun' | 'tun-copy' | 'nat-offload' | 'tun-gso' | 'nat-sctp';
/** Offload modes: every frame with a vnet header saying "partial checksum" (nat-offload) or
 *  "TCP super-segment of 1400-byte segments" (tun-gso: 2,800-byte frames cut in two by uvsd). */
const VNET = 10;


function measure(mode: Mode): { perFrame: number; forwarded: number } {
  const sink = new CountSink();
  let now = 1_000_000.25;
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], gateway: parseIp('192.168.8.1'), connMax: 4096,
      vnetHdr: mode === 'nat-offload' || mode === 'tun-gso' ? VNET : 0 },
    sink, () => now,
  );
  const vnet = mode === 'nat-offload' || mode === 'tun-gso';
  const fwdOf = mode === 'tun-copy' || mode === 'tun-gso' ? 'tun' : mode === 'nat-offload' || mode === 'nat-sctp' ? 'nat' : mode;
  const sctp = mode === 'nat-sctp';
  const ctl = new Control(dp, { tap: 't' });
  for (const proto of sctp ? ['sctp'] as const : ['tcp', 'udp'] as const) {
    const service = { proto, addr: VIP, port: 80 };
    ctl.addService({ ...service, sched: 'rr' });
    for (const rs of RS) ctl.addDest({ service, addr: rs, port: 80, fwd: fwdOf, weight: 1 });
    if (mode === 'fullnat') ctl.addLaddr({ service, addr: LIP });
  }
  dp.resolve(parseIp('192.168.8.1'));
  const stride = mode === 'tun-gso' ? 4096 : 2048;
  // PRE bytes in front of the first frame: room for its vnet header (zero unless set below).
  const PRE = 16;
  const vh = vnet ? VNET : 0;
  const { buf, lens, put } = frameBatch(BATCH, { stride, pre: PRE, vh });
  [...RS, '192.168.8.1'].forEach((h, i) => put(i, arpFrame({ ethDst: DIR_MAC, ethSrc: `02:00:00:00:01:0${i}` },
    { op: 2, sha: `02:00:00:00:01:0${i}`, spa: h, tha: DIR_MAC, tpa: '192.168.8.10' })));
  dp.processBatch(buf, stride, lens, RS.length + 1, PRE);
  const l2 = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  const flows = BATCH / 2;
  for (let i = 0; i < flows; i++) {
    const src = `192.168.9.${i + 1}`;
    put(i, sctp ? sctpFrame(l2, { src, dst: VIP }, { sport: 40000 + i, dport: 80, chunks: [{ type: SCTP_CHUNK.INIT, value: Buffer.alloc(16) }] }) : i % 2 === 0
      ? tcpFrame(l2, { src, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.SYN })
      : udpFrame(l2, { src, dst: VIP, sport: 40000 + i, dport: 80, payload: Buffer.alloc(18) }));
  }
  dp.processBatch(buf, stride, lens, flows, PRE);
  // The batch: client data for every flow, then (NAT, FULLNAT) one reply per flow.
  const ct = dp.ct;
  let n = 0;
  for (let e = 0; e < ct.max && n < flows; e++) {
    if (!ct.isAlive(e)) continue;
    const src = formatIp(ct.caddr[e]);
    const tcp = ct.proto[e] === 6;
    const back = { ethDst: DIR_MAC, ethSrc: '02:00:00:00:01:00' };
    const r = { src: formatIp(ct.daddr[e]), dst: formatIp(ct.laddr[e]), sport: ct.dport[e], dport: ct.lport[e] };
    if (sctp) {
      // An association's DATA both ways (its CRC32c checked, the ports rewritten and the CRC computed again).
      const data = [{ type: SCTP_CHUNK.DATA, value: Buffer.alloc(40) }];
      put(n, sctpFrame(l2, { src, dst: VIP }, { sport: ct.cport[e], dport: 80, chunks: data }));
      put(flows + n++, sctpFrame(back, r, { sport: r.sport, dport: r.dport, chunks: data }));
      continue;
    }
    put(n, tcp
      ? tcpFrame(l2, { src, dst: VIP, sport: ct.cport[e], dport: 80, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(mode === 'tun-gso' ? 2800 : 6) })
      : udpFrame(l2, { src, dst: VIP, sport: ct.cport[e], dport: 80, payload: Buffer.alloc(18) }));
    put(flows + n, tcp ? tcpFrame(back, { ...r, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(6) }) : udpFrame(back, { ...r, payload: Buffer.alloc(18) }));
    n++;
  }
  const count = mode === 'tun' || mode === 'tun-copy' || mode === 'tun-gso' ? flows : BATCH;
  // As uvsd lays frames out: headroom in front (TUN wraps in place); tun-copy has none (copies).
  const base = mode === 'tun-copy' ? 0 : 32;
  const arena = Buffer.alloc(base + buf.length - PRE);
  buf.copy(arena, base, PRE);
  if (vnet) {
    for (let i = 0; i < count; i++) {
      const f = base + i * stride;
      const tcp = arena[f + 23] === 6;
      vnetWrite(arena, f, mode === 'tun-gso' && tcp
        ? { flags: 1, gsoType: 1, gsoSize: 1400, csumStart: 34, csumOffset: 16 }
        : { flags: 1, csumStart: 34, csumOffset: tcp ? 16 : 6 });
    }
  }
  // Forwarders rewrite frames in place: restore the batch from a pristine copy each time.
  const pristine = Buffer.from(arena);
  const again = (): void => {
    now += 0.01;
    pristine.copy(arena);
    dp.processBatch(arena, stride, lens, count, base);
  };
  // Frames one batch sends (tun-gso: more than it receives), to leave the warm-up out of the count.
  const first = sink.frames;
  again();
  const perBatch = sink.frames - first;
  const before = sink.frames;
  const used = measureRounds(again, FRAMES / count);
  return { perFrame: used / FRAMES, forwarded: sink.frames - before - WARM_ROUNDS * perBatch }; // without the warm-up
}

/** Local addresses of the new-flow measure: 2 × 64,512 ports, an eighth of the frames it sends. */
const NEW_LIPS = 2;

/**
 * FULLNAT UDP where every datagram is a new flow (a source address and port not seen before, from
 * 192.168.9.0 up), at 200k datagrams a second of the datapath's clock: the local addresses' 129,024
 * ports run out before the window, in which each new flow takes the port of an older one-datagram
 * flow (fullnat.ts's reclaim, as conntrack's early_drop). The table (262,144 entries: eviction
 * starts at 90 % of it) holds every port.
 */
function measureNewFlows(): { perFrame: number; forwarded: number; entries: number } {
  const sink = new CountSink();
  let now = 1_000_000.25;
  const dp = new Datapath({ mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], gateway: parseIp('192.168.8.1'), connMax: 1 << 18 },
    sink, () => now);
  const ctl = new Control(dp, { tap: 't' });
  const service = { proto: 'udp' as const, addr: VIP, port: 9 };
  ctl.addService({ ...service, sched: 'rr' });
  for (const rs of RS) ctl.addDest({ service, addr: rs, port: 9, fwd: 'fullnat', weight: 1 });
  for (let i = 0; i < NEW_LIPS; i++) ctl.addLaddr({ service, addr: `192.168.8.${48 + i}` });
  dp.resolve(parseIp('192.168.8.1'));
  const stride = 2048;
  const { buf, lens, put } = frameBatch(BATCH, { stride });
  [...RS, '192.168.8.1'].forEach((h, i) => put(i, arpFrame({ ethDst: DIR_MAC, ethSrc: `02:00:00:00:01:0${i}` },
    { op: 2, sha: `02:00:00:00:01:0${i}`, spa: h, tha: DIR_MAC, tpa: '192.168.8.10' })));
  dp.processBatch(buf, stride, lens, RS.length + 1);
  for (let i = 0; i < BATCH; i++) put(i, udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: '192.168.9.1', dst: VIP, sport: 1024, dport: 9, payload: Buffer.alloc(18) }));
  const base = 32;
  const arena = Buffer.alloc(base + BATCH * stride);
  const pristine = Buffer.alloc(arena.length);
  buf.copy(pristine, base);
  const client0 = parseIp('192.168.9.0') | 0;
  let flow = 0;
  const again = (): void => {
    now += BATCH / 200_000;
    pristine.copy(arena);
    for (let i = 0; i < BATCH; i++, flow++) {
      const f = base + i * stride;
      // A new client address every 50,000 flows, a new source port for each (checksums updated).
      setSrc(arena, f + 14, f + 34, 17, (client0 + Math.floor(flow / 50_000)) | 0, 1024 + flow % 50_000);
    }
    dp.processBatch(arena, stride, lens, BATCH, base);
  };
  again();
  const before = sink.frames;
  const used = measureRounds(again, FRAMES / BATCH);
  return { perFrame: used / FRAMES, forwarded: sink.frames - before - WARM_ROUNDS * BATCH, entries: dp.ct.count };
}

if (process.argv[2] === '--child') {
  report(process.argv[3] === 'fullnat-new' ? measureNewFlows() : measure(process.argv[3] as Mode));
} else {
  test('fullnat-new: a million new UDP flows from 192.168.x through 2 local addresses, their ports run out and taken back from older flows, allocate less than a byte per frame and no collection', () => {
    const r = runChild<{ perFrame: number; forwarded: number; entries: number }>(fileURLToPath(import.meta.url), ['fullnat-new']);
    assert.equal(r.forwarded, FRAMES, 'every datagram forwarded');
    assert.equal(r.entries, NEW_LIPS * 64_512, 'the local ports all in use (and taken back since)');
    // The default young generation (not BIG_YOUNG): what uvsd runs with.
    assert.equal(r.scavenges, 0, 'no collection in the window');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });
  for (const mode of ['nat', 'fullnat', 'tun', 'tun-copy', 'nat-offload', 'tun-gso', 'nat-sctp'] as const) {
    const what = mode === 'tun' ? ' (wrapped in place)' : mode === 'tun-copy' ? ' (no headroom: wrapped in generated slots)'
      : mode === 'nat-offload' ? ' with partial checksums (vnet header; half of them replies)'
        : mode === 'tun-gso' ? ' as TCP super-segments and UDP with partial checksums (vnet header; TCP cut into segments)'
          : mode === 'nat-sctp' ? ' as SCTP DATA (every CRC32c checked, computed again after the rewrite; half of them replies)' : ' (half of them replies)';
    test(`${mode}: forwarding a million frames from 192.168.x${what} allocates less than a byte per frame`, () => {
      const r = runChild<{ perFrame: number; forwarded: number }>(fileURLToPath(import.meta.url), [mode], BIG_YOUNG);
      // tun-gso: half the frames are 2,800-byte super-segments, each leaving as 2 wrapped segments.
      assert.equal(r.forwarded, mode === 'tun-gso' ? FRAMES / 2 * 3 : FRAMES, 'every frame forwarded');
      assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
      assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
    });
  }
}
