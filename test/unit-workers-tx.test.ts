// test-class: shared
// uvsd --workers N and --datapath-thread: the frames the main thread's shadow datapath builds
// (ARP probes, gratuitous ARP) go out through worker 0's queue (DatapathGroup.sink, worker.ts).
// tx_frames counts only the frames the queue took, as with one datapath (unit-pipeline.test.ts
// "frames the sink refuses are counted tx_failed"); a refused one is tx_failed alone. Real worker
// threads; the queue is a FIFO's write end (never readable: the worker never wakes to read) that
// the test fills so that the next writes fail EAGAIN, as a full or downed TAP refuses them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseIp, parseMac } from '../src/datapath/addr.js';
import { C, D } from '../src/datapath/counters.js';
import { DatapathGroup } from '../src/datapath/group.js';
import { Datapath, RX_HEADROOM } from '../src/datapath/pipeline.js';
import { Port, type TapInfo } from '../src/datapath/port.js';

const MAC = parseMac('02:00:00:00:00:01');

/** Write to fd until the pipe behind it is full (EAGAIN). */
function fill(fd: number): void {
  for (const chunk of [Buffer.alloc(4096), Buffer.alloc(1)]) {
    for (;;) {
      try {
        writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw e;
      }
    }
  }
}

for (const workers of [1, 2]) {
  const mode = workers === 1 ? '--datapath-thread' : `--workers ${workers}`;
  test(`${mode}: a probe of the shadow that worker 0's queue refuses is counted tx_failed, not tx_frames; tx_frames and tx_bytes count the one it took (before: every frame the shadow posted)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-txq-'));
    const readers: number[] = [];
    const queues: TapInfo[] = [];
    for (let i = 0; i < workers; i++) {
      const path = join(dir, `q${i}`);
      execFileSync('mkfifo', [path]);
      readers.push(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)); // a reader first: the write end opens
      const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      queues.push({ fd, name: `q${i}`, ifindex: 0, created: false, mac: '', vnetHdr: 0, offload: 0, offloadError: '', qlen: 0 });
    }
    const group = new DatapathGroup(queues, { io: 'syscalls', stride: 2048, batch: 64, headroom: RX_HEADROOM, budget: 64 },
      { mac: MAC, addrs: [], connMax: 1024 });
    try {
      const fatal: string[] = [];
      group.onFatal = (err) => fatal.push(err.message);
      await group.ready();
      const shadow = new Datapath({ mac: MAC, addrs: [], connMax: 1024, shadow: true }, group.sink);
      group.shadow = shadow;
      /** The shadow's counters once worker 0 has written `n` more frames or refused them (polled). */
      const settle = async (want: (c: Float64Array, d: Float64Array) => boolean): Promise<void> => {
        for (let i = 0; i < 250; i++) {
          group.pull();
          if (want(shadow.counters.c, shadow.counters.d)) return;
          await sleep(20);
        }
      };
      // One probe the queue takes.
      shadow.probe([parseIp('10.0.0.7')]);
      await settle((c) => c[C.tx_frames] >= 1);
      const got = Buffer.alloc(4096);
      const len = readSync(readers[0]!, got);
      assert.equal(len, 60, 'worker 0 wrote the ARP probe (padded to 60 bytes)');
      // Full: the next two are refused.
      fill(queues[0]!.fd);
      shadow.probe([parseIp('10.0.0.8'), parseIp('10.0.0.9')]);
      await settle((_c, d) => d[D.tx_failed] >= 2);
      assert.deepEqual(fatal, []);
      assert.equal(shadow.counters.c[C.arp_probes_sent], 3);
      assert.equal(shadow.counters.d[D.tx_failed], 2, 'the two the queue refused');
      assert.equal(shadow.counters.c[C.tx_frames], 1, 'tx_frames: only the frame the queue took');
      assert.equal(shadow.counters.c[C.tx_bytes], 60, 'tx_bytes: only its bytes');
    } finally {
      await group.close();
      for (const fd of readers) closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('one datapath: frames its port refuses are in neither tx_frames nor tx_bytes (the native write zeroes their lengths), as with --workers (before: tx_bytes counted them)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-txq-'));
  const path = join(dir, 'q');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  const port = Port.fromTap({ fd, name: 'q', ifindex: 0, created: false, mac: '', vnetHdr: 0, offload: 0, offloadError: '', qlen: 0 }, { io: 'syscalls', stride: 2048, batch: 64 });
  try {
    const dp = new Datapath({ mac: MAC, addrs: [], connMax: 1024 }, port);
    dp.probe([parseIp('10.0.0.7')]);
    assert.equal(readSync(reader, Buffer.alloc(4096)), 60, 'the port took the ARP probe (60 bytes)');
    fill(fd);
    dp.probe([parseIp('10.0.0.8'), parseIp('10.0.0.9')]);
    assert.equal(dp.counters.c[C.arp_probes_sent], 3);
    assert.equal(dp.counters.d[D.tx_failed], 2, 'the two the port refused');
    assert.equal(dp.counters.c[C.tx_frames], 1, 'tx_frames: only the frame the port took');
    assert.equal(dp.counters.c[C.tx_bytes], 60, 'tx_bytes: only its bytes');
  } finally {
    port.close();
    closeSync(reader);
    rmSync(dir, { recursive: true, force: true });
  }
});
