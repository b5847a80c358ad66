// test-class: shared
// No garbage per batch from the datapath's clock. uvsd's receive callback hands processBatch the
// batch's time in a Float64Array the addon fills (Port.rxClock); calling a clock function instead
// (performance.now()) returns a boxed double, 16 bytes per batch, which at full load was most of
// uvsd's young-generation garbage. Measured after uvsd's JIT warm-up (src/datapath/warmup.ts):
// warm-up runs the clock-function path too, and a merge of the two once boxed the cell's time.
// Batches of one frame, so that bytes per batch are not hidden among bytes per frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { warmUp } from '../src/datapath/warmup.js';
import { parseMac, parseIp, prefixMask } from '../src/datapath/addr.js';
import { arpFrame, udpFrame } from './helpers/frames.js';
import { BIG_YOUNG, CountSink, frameBatch, measureRounds, report, runChild } from './helpers/alloc.js';

const DIR_MAC = '02:00:00:00:00:01';
const VIP = '192.168.8.200';
const RS = '192.168.8.20';
const ROUNDS = 200_000;
const HEADROOM = 32;
const VNET = 10; // uvsd's default: offload on, a virtio_net_hdr in front of every frame

function measure(clockSource: 'cell' | 'function'): { perBatch: number; forwarded: number } {
  const stride = 2048 + HEADROOM;
  warmUp({ vnetHdr: VNET, mtu: 1500, batch: 64 }, { stride, base: HEADROOM });
  const sink = new CountSink();
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], connMax: 4096, vnetHdr: VNET },
    sink, () => performance.now(),
  );
  const ctl = new Control(dp, { tap: 't' });
  ctl.addService({ proto: 'udp', addr: VIP, port: 80, sched: 'rr' });
  ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 80 }, addr: RS, port: 80, fwd: 'dr', weight: 1 });
  const { buf, lens, put } = frameBatch(1, { stride, pre: HEADROOM, vh: VNET });
  put(0, arpFrame({ ethDst: DIR_MAC, ethSrc: '02:00:00:00:01:00' }, { op: 2, sha: '02:00:00:00:01:00', spa: RS, tha: DIR_MAC, tpa: '192.168.8.10' }));
  dp.processBatch(buf, stride, lens, 1, HEADROOM);
  put(0, udpFrame({ ethDst: DIR_MAC, ethSrc: '02:00:00:00:00:fe' }, { src: '192.168.9.1', dst: VIP, sport: 40000, dport: 80, payload: Buffer.alloc(18) }));
  // Forwarding rewrites the frame in place (MACs, TTL and IP checksum): the pristine one goes back before each batch.
  const pristine = Buffer.from(buf.subarray(0, stride));
  const cell = new Float64Array(2);
  cell[0] = performance.now();
  const step = clockSource === 'cell'
    ? (): void => {
      buf.set(pristine);
      cell[0] += 0.01;
      dp.processBatch(buf, stride, lens, 1, HEADROOM, cell);
    }
    : (): void => {
      buf.set(pristine);
      dp.processBatch(buf, stride, lens, 1, HEADROOM);
    };
  const before = sink.frames;
  const used = measureRounds(step, ROUNDS);
  return { perBatch: used / ROUNDS, forwarded: sink.frames - before };
}

if (process.argv[2] === '--child') {
  report(measure(process.argv[3] === 'function' ? 'function' : 'cell'));
} else {
  test('one-frame batches after the JIT warm-up: the clock function (control) costs a heap number per batch, the port\'s clock cell nothing', () => {
    const fn = runChild<{ perBatch: number; forwarded: number }>(fileURLToPath(import.meta.url), ['function'], BIG_YOUNG);
    const cell = runChild<{ perBatch: number; forwarded: number }>(fileURLToPath(import.meta.url), ['cell'], BIG_YOUNG);
    for (const r of [fn, cell]) {
      assert.ok(r.forwarded >= ROUNDS, `${r.forwarded} frames forwarded`);
      assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    }
    // The control shows that the measurement sees a boxed double (12-16 bytes).
    assert.ok(fn.perBatch >= 8, `clock function: ${fn.perBatch.toFixed(2)} bytes per batch`);
    assert.ok(cell.perBatch < 1, `clock cell: ${cell.perBatch.toFixed(2)} bytes per batch`);
  });
}
