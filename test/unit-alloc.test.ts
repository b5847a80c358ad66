// test-class: shared
// No garbage per packet, for real addresses: forward a million frames in-process with addresses
// above 128.0.0.0 (192.168.x, where a uint32 leaves V8's small-integer range and would be boxed)
// and count the scavenges (`--trace-gc`, as the issue measures uvsd) and the bytes allocated per
// frame (new-space use, in a child whose young generation is too large to be collected meanwhile).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { C } from '../src/datapath/counters.js';
import { REC_LEN } from '../src/datapath/syncrec.js';
import { parseMac, parseIp, prefixMask } from '../src/datapath/addr.js';
import { arpFrame, tcpFrame, udpFrame, TCP_FLAGS } from './helpers/frames.js';
import { BIG_YOUNG, CountSink, WARM_ROUNDS, frameBatch, newSpaceUsed, report, runChild, windowEnd, windowStart } from './helpers/alloc.js';

const DIR_MAC = '02:00:00:00:00:01';
const ROUTER_MAC = '02:00:00:00:00:fe';
const VIP = '192.168.8.200';
const RS = ['192.168.8.20', '192.168.8.30'];
const FRAMES = 1_000_000;
const BATCH = 64;


/**
 * Forward FRAMES frames of 64 steady flows (TCP and UDP) and return bytes allocated per frame.
 * mode 'ops': the UDP service is persistent (-p -M 255.255.255.0) with one-packet scheduling
 * (-o), so every UDP datagram is a new flow: template lookup, entry insert and release.
 * mode 'sip': the same with --pe sip and -M 0.0.0.0: each datagram is a SIP message whose Call-ID
 * (32 calls) is found, hashed and compared with its template's text.
 */
type Mode = 'steady' | 'ops' | 'sync' | 'fwm' | 'sip';

function measure(mode: Mode = 'steady'): { perFrame: number; forwarded: number; ops: number; synced: number } {
  const sink = new CountSink();
  let now = 1_000_000.25; // fractional from the start, like performance.now()
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], connMax: 4096 },
    sink, () => now,
  );
  const ctl = new Control(dp, { tap: 't' });
  for (const proto of ['tcp', 'udp'] as const) {
    // 'fwm': the UDP datagrams are marked (a mark above 2^31) and go to the -f service of it.
    const key = mode === 'fwm' && proto === 'udp' ? { proto, addr: '0.0.0.0', port: 0, fwmark: 0x80000001 } : { proto, addr: VIP, port: 80 };
    if (mode === 'fwm' && proto === 'udp') ctl.call('addMark', { fwmark: key.fwmark, proto, addr: VIP, portMin: 80 });
    ctl.addService(mode === 'sip' && proto === 'udp' ? { ...key, sched: 'rr', persist: 300, netmask: '0.0.0.0', oneShot: true, pe: 'sip' }
      : (mode === 'ops' || mode === 'fwm') && proto === 'udp' ? { ...key, sched: 'rr', persist: 300, netmask: '255.255.255.0', oneShot: true }
        : { ...key, sched: 'rr' });
    for (const rs of RS) ctl.addDest({ service: key, addr: rs, port: 80, fwd: 'dr', weight: 1 });
  }
  // 'sync': a master sync daemon's marks are on (docs/ha.md) and drained after every batch; the
  // flows' timeouts are 2 s and the clock moves 1 ms per batch, so entries are re-marked (refresh).
  const drainBuf = new Uint8Array(64 * REC_LEN);
  let synced = 0;
  if (mode === 'sync') {
    dp.apply([{ op: 'syncMarks', on: true }]);
    ctl.call('setTimeouts', { tcp: 2, tcpfin: 0, udp: 2 });
  }
  const step = mode === 'sync' ? 1 : 0.01;
  const { buf, lens, stride, put } = frameBatch(BATCH);
  RS.forEach((rs, i) => put(i, arpFrame({ ethDst: DIR_MAC, ethSrc: `02:00:00:00:01:0${i}` },
    { op: 2, sha: `02:00:00:00:01:0${i}`, spa: rs, tha: DIR_MAC, tpa: '192.168.8.10' })));
  dp.processBatch(buf, stride, lens, RS.length);
  // 64 flows from 192.168.9.0/24 (the clients sit behind a router): SYNs first, then data.
  const l2 = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  const udpPayload = (i: number): Buffer => mode === 'sip'
    ? Buffer.from(`INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.9.${i + 1}\r\nCall-ID: call-${i}@192.168.9.${i + 1}\r\nCSeq: 1 INVITE\r\n\r\n`)
    : Buffer.alloc(18);
  for (let i = 0; i < BATCH; i++) {
    const src = `192.168.9.${i + 1}`;
    put(i, i % 2 === 0
      ? tcpFrame(l2, { src, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.SYN })
      : udpFrame(l2, { src, dst: VIP, sport: 40000 + i, dport: 80, payload: udpPayload(i) }));
  }
  dp.processBatch(buf, stride, lens, BATCH);
  for (let i = 0; i < BATCH; i++) {
    const src = `192.168.9.${i + 1}`;
    put(i, i % 2 === 0
      ? tcpFrame(l2, { src, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(6) })
      : udpFrame(l2, { src, dst: VIP, sport: 40000 + i, dport: 80, payload: udpPayload(i) }));
  }
  // Forwarding rewrites the frames in place (MACs, TTL and IP checksum): the pristine batch goes
  // back before each run (a copy, no allocation).
  const pristine = Buffer.from(buf);
  const again = (): void => {
    buf.set(pristine);
    dp.processBatch(buf, stride, lens, BATCH);
    if (mode === 'sync') for (let n = dp.syncDrain(drainBuf, 0, 64); n > 0; n = dp.syncDrain(drainBuf, 0, 64)) synced += n;
  };
  // Warm up (JIT), then measure.
  for (let k = 0; k < WARM_ROUNDS; k++) {
    now += step;
    again();
  }
  const synced0 = synced;
  windowStart();
  const before = sink.frames;
  const used0 = newSpaceUsed();
  for (let k = 0; k < FRAMES / BATCH; k++) {
    now += step;
    again();
  }
  const used1 = newSpaceUsed();
  windowEnd();
  return { perFrame: (used1 - used0) / FRAMES, forwarded: sink.frames - before, ops: dp.counters.c[C.ops_datagrams], synced: synced - synced0 };
}

if (process.argv[2] === '--child') {
  const m = process.argv[3];
  report(measure(m === 'ops' || m === 'sync' || m === 'fwm' || m === 'sip' ? m : 'steady'));
} else {
  test('forwarding a million frames from 192.168.x: fewer than 2 scavenges with the default young generation', () => {
    const r = runChild<{ perFrame: number; forwarded: number }>(fileURLToPath(import.meta.url), []);
    assert.equal(r.forwarded, FRAMES, 'every frame forwarded');
    assert.ok(r.scavenges < 2, `${r.scavenges} scavenges while forwarding a million frames`);
  });
  test('forwarding a million frames from 192.168.x allocates less than a byte per frame', () => {
    const r = runChild<{ perFrame: number; forwarded: number }>(fileURLToPath(import.meta.url), [], BIG_YOUNG);
    assert.equal(r.forwarded, FRAMES, 'every frame forwarded');
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    // A boxed address costs 12-16 bytes each time one is stored.
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });
  test('persistent one-packet UDP (every datagram a new flow through its template) allocates less than a byte per frame', () => {
    const r = runChild<{ perFrame: number; forwarded: number; ops: number }>(fileURLToPath(import.meta.url), ['ops'], BIG_YOUNG);
    assert.equal(r.forwarded, FRAMES, 'every frame forwarded');
    assert.ok(r.ops >= FRAMES / 2, `${r.ops} one-packet datagrams`);
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });
  test('marked one-packet UDP to a persistent -f service (mark 0x80000001: mark rule, mark service, IPPROTO_IP template per datagram) allocates less than a byte per frame', () => {
    const r = runChild<{ perFrame: number; forwarded: number; ops: number }>(fileURLToPath(import.meta.url), ['fwm'], BIG_YOUNG);
    assert.equal(r.forwarded, FRAMES, 'every frame forwarded');
    assert.ok(r.ops >= FRAMES / 2, `${r.ops} one-packet datagrams through the mark service`);
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });
  test('SIP calls through a --pe sip -o service (32 calls, each datagram\'s Call-ID found, hashed and matched to its template\'s text) allocate less than a byte per frame', () => {
    const r = runChild<{ perFrame: number; forwarded: number; ops: number }>(fileURLToPath(import.meta.url), ['sip'], BIG_YOUNG);
    assert.equal(r.forwarded, FRAMES, 'every frame forwarded');
    assert.ok(r.ops >= FRAMES / 2, `${r.ops} one-packet datagrams`);
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });
  test('with connection sync marks on (master sync daemon) and drained every batch: less than a byte per frame', () => {
    const r = runChild<{ perFrame: number; forwarded: number; synced: number }>(fileURLToPath(import.meta.url), ['sync'], BIG_YOUNG);
    assert.equal(r.forwarded, FRAMES, 'every frame forwarded');
    assert.ok(r.synced >= 64 * 10, `${r.synced} sync records written (the flows were re-marked as their timers ran)`);
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });
}
