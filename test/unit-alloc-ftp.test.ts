// test-class: shared
// No garbage per packet while FTP data connections hold their control connections (the helper's
// n_control, src/modes/ftp.ts): 32 sessions through a NAT service on port 21 with --ftp-ports 21,
// each a control connection that went quiet after its PASV and a data connection carrying the
// transfer. The TCP timeout is 10 s, so every control connection's timer runs out inside the
// window and the table's sweep asks the helper to keep it (ConnTable.onControlDue: 60 s more, the
// kernel's expire_later; before 2026-12-05 another 2 s timeout, again and again). Counted
// as in unit-alloc.test.ts: new-space bytes per frame in a child whose young generation is not
// collected meanwhile, addresses above 128.0.0.0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { parseMac, parseIp, prefixMask } from '../src/datapath/addr.js';
import { arpFrame, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { BIG_YOUNG, CountSink, WARM_ROUNDS, frameBatch, measureRounds, report, runChild } from './helpers/alloc.js';

const DIR_MAC = '02:00:00:00:00:01';
const ROUTER_MAC = '02:00:00:00:00:fe';
const VIP = '192.168.8.200';
const RS = ['192.168.8.20', '192.168.8.30'];
const RS_MAC = ['02:00:00:00:01:00', '02:00:00:00:01:01'];
const FRAMES = 1_000_000;
const BATCH = 64;
const SESSIONS = BATCH / 2;
/** Clock per batch (ms) and batches per tick (250 ms): the warm-up spans 6 s and the window ~31 s
 *  after it, under the neighbours' 60 s; each control connection's 10 s timer runs out in it. */
const STEP_MS = 2;
const TICK_EVERY = 125;
const { SYN, ACK, PSH } = TCP_FLAGS;

function measure(): { perFrame: number; forwarded: number; conns: number; held: number } {
  const sink = new CountSink();
  let now = 1_000_000.25;
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], gateway: parseIp('192.168.8.1'), connMax: 4096 },
    sink, () => now,
  );
  const ctl = new Control(dp, { tap: 't' });
  dp.setDefense({ ftpPorts: [21] });
  const service = { proto: 'tcp' as const, addr: VIP, port: 21 };
  ctl.addService({ ...service, sched: 'rr' });
  for (const rs of RS) ctl.addDest({ service, addr: rs, port: 21, fwd: 'nat', weight: 1 });
  ctl.call('setTimeouts', { tcp: 10, tcpfin: 0, udp: 0 });
  dp.resolve(parseIp('192.168.8.1'));
  const { buf, lens, stride, put } = frameBatch(BATCH);
  const run = (frames: Uint8Array[]): void => {
    frames.forEach((f, i) => put(i, f));
    dp.processBatch(buf, stride, lens, frames.length);
  };
  run([...RS, '192.168.8.1'].map((h, i) => arpFrame({ ethDst: DIR_MAC, ethSrc: RS_MAC[i] ?? ROUTER_MAC },
    { op: 2, sha: RS_MAC[i] ?? ROUTER_MAC, spa: h, tha: DIR_MAC, tpa: '192.168.8.10' })));
  const l2 = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  const client = (i: number): string => `192.168.9.${i + 1}`;
  const rsOf = (i: number): number => i % 2; // rr: the sessions' control connections alternate
  const fromRs = (i: number) => ({ ethDst: DIR_MAC, ethSrc: RS_MAC[rsOf(i)]! });
  const each = (f: (i: number) => Uint8Array): Uint8Array[] => Array.from({ length: SESSIONS }, (_, i) => f(i));
  // The sessions: control handshake, PASV, the server's 227 (rewritten), the data connection's handshake.
  run(each((i) => tcpFrame(l2, { src: client(i), dst: VIP, sport: 40000 + i, dport: 21, seq: 100, flags: SYN })));
  run(each((i) => tcpFrame(fromRs(i), { src: RS[rsOf(i)]!, dst: client(i), sport: 21, dport: 40000 + i, seq: 900, ack: 101, flags: SYN | ACK })));
  run(each((i) => tcpFrame(l2, { src: client(i), dst: VIP, sport: 40000 + i, dport: 21, seq: 101, ack: 901, flags: ACK })));
  run(each((i) => tcpFrame(l2, { src: client(i), dst: VIP, sport: 40000 + i, dport: 21, seq: 101, ack: 901, flags: PSH | ACK, payload: Buffer.from('PASV\r\n') })));
  const dport = (i: number): number => 50000 + i;
  run(each((i) => tcpFrame(fromRs(i), { src: RS[rsOf(i)]!, dst: client(i), sport: 21, dport: 40000 + i, seq: 901, ack: 107, flags: PSH | ACK,
    payload: Buffer.from(`227 Entering Passive Mode (${RS[rsOf(i)]!.replaceAll('.', ',')},${dport(i) >> 8},${dport(i) & 255}).\r\n`) })));
  run(each((i) => tcpFrame(l2, { src: client(i), dst: VIP, sport: 41000 + i, dport: dport(i), seq: 1000, flags: SYN })));
  run(each((i) => tcpFrame(fromRs(i), { src: RS[rsOf(i)]!, dst: client(i), sport: dport(i), dport: 41000 + i, seq: 5000, ack: 1001, flags: SYN | ACK })));
  run(each((i) => tcpFrame(l2, { src: client(i), dst: VIP, sport: 41000 + i, dport: dport(i), seq: 1001, ack: 5001, flags: ACK })));
  // The transfer: a server segment and the client's ack per session and batch. Forwarding
  // rewrites the frames in place: the pristine batch goes back before each run.
  const data = Buffer.alloc(1000);
  [
    ...each((i) => tcpFrame(fromRs(i), { src: RS[rsOf(i)]!, dst: client(i), sport: dport(i), dport: 41000 + i, seq: 5001, ack: 1001, flags: PSH | ACK, payload: data })),
    ...each((i) => tcpFrame(l2, { src: client(i), dst: VIP, sport: 41000 + i, dport: dport(i), seq: 1001, ack: 6001, flags: ACK })),
  ].forEach((f, i) => put(i, f));
  const pristine = Buffer.from(buf);
  let batches = 0;
  const step = (): void => {
    now += STEP_MS;
    buf.set(pristine);
    dp.processBatch(buf, stride, lens, BATCH);
    if (++batches % TICK_EVERY === 0) dp.tick();
  };
  const before = sink.frames;
  const used = measureRounds(step, FRAMES / BATCH);
  let held = 0;
  for (let i = 0; i < SESSIONS; i++) if (dp.ftp.held(dp.ct.lookup(6, parseIp(client(i)), 40000 + i, parseIp(VIP), 21) >>> 1)) held++;
  return { perFrame: used / FRAMES, forwarded: sink.frames - before, conns: dp.ct.count, held };
}

if (process.argv[2] === '--child') {
  report(measure());
} else {
  const file = fileURLToPath(import.meta.url);

  test('FTP data connections holding their quiet control connections (timers run out and start again, n_control) allocate less than a byte per frame', () => {
    const r = runChild<{ perFrame: number; forwarded: number; conns: number; held: number }>(file, [], BIG_YOUNG);
    console.log(`ftp n_control: ${r.perFrame.toFixed(3)} bytes/frame, ${r.forwarded} forwarded, ${r.conns} entries, ${r.held} control connections held, ${r.scavenges} scavenges`);
    assert.equal(r.held, SESSIONS, 'every control connection outlived its 10 s timeout, held by its data connection');
    assert.equal(r.conns, 2 * SESSIONS, 'control and data connections, nothing else');
    assert.equal(r.forwarded, WARM_ROUNDS * BATCH + FRAMES, 'every frame forwarded (warm-up and window)');
    assert.ok(r.perFrame < 1, `${r.perFrame} bytes per frame`);
  });
}
