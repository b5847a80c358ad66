// test-class: lab
// The native port addon against real kernel interfaces. The TAP part runs in a throwaway network
// namespace: this file re-runs itself there (UVS_PORT_CHILD=1) via `ip netns exec`, because a TAP
// is created in the namespace of the process that opens it. The child reports observations as one
// JSON line; the assertions live here in the parent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { openSync, closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { native, Port, tapQueueDrops, txDropped } from '../src/datapath/port.js';

const SELF = fileURLToPath(import.meta.url);
const PREFIX = 'uvsport-';
const UVSD_MAC = '02:00:00:00:00:01'; // the station behind the TAP (not the TAP interface's MAC)
const PEER_MAC = '02:00:00:00:00:02'; // the station on veth1
const ETHERTYPE = 0x88b5; // IEEE local experimental: nothing else on the wire uses it

// ---------- frame helpers (test code: allocation is fine here) ----------

function frame(dst: string, src: string, len: number, tag: number): Buffer {
  const b = Buffer.alloc(len);
  Buffer.from(dst.replace(/:/g, ''), 'hex').copy(b, 0);
  Buffer.from(src.replace(/:/g, ''), 'hex').copy(b, 6);
  b.writeUInt16BE(ETHERTYPE, 12);
  b.writeUInt32BE(tag, 14);
  for (let i = 18; i < len; i++) b[i] = (i * 31 + tag) & 0xff;
  return b;
}

function isOurs(f: Buffer): boolean {
  return f.length >= 18 && f.readUInt16BE(12) === ETHERTYPE;
}

/** Packs frames into one buffer with gaps, as a tx batch: offsets are deliberately not contiguous. */
function pack(frames: Buffer[]): { buf: Buffer; offs: Uint32Array; lens: Uint32Array } {
  const offs = new Uint32Array(frames.length);
  const lens = new Uint32Array(frames.length);
  let o = 0;
  frames.forEach((f, i) => { offs[i] = o; lens[i] = f.length; o += f.length + 13; });
  const buf = Buffer.alloc(o);
  frames.forEach((f, i) => f.copy(buf, offs[i]));
  return { buf, offs, lens };
}

/** Polls readBatch until n matching frames arrived or ms passed. */
async function collect(fd: number, n: number, ms: number, want: (f: Buffer) => boolean): Promise<Buffer[]> {
  const stride = 2048, max = 16;
  const buf = Buffer.alloc(stride * max);
  const lens = new Uint32Array(max);
  const got: Buffer[] = [];
  const deadline = Date.now() + ms;
  while (got.length < n && Date.now() < deadline) {
    const c = native.readBatch(fd, buf, stride, lens, max);
    for (let i = 0; i < c; i++) {
      const f = Buffer.from(buf.subarray(i * stride, i * stride + lens[i]));
      if (want(f)) got.push(f);
    }
    if (c === 0) await sleep(5);
  }
  return got;
}

/** Frames the bridge's port veth0 has taken in (each one is forwarded to the TAP's queue in the
 *  same softirq, so once the count has grown by n, n frames sent on veth1 are queued there). */
function bridgeRx(): number {
  return Number(readFileSync('/sys/class/net/veth0/statistics/rx_packets', 'utf8'));
}

/** Waits until n more frames than `from` crossed the bridge (a loaded machine may take a while). */
async function queued(from: number, n: number): Promise<void> {
  await until(() => bridgeRx() >= from + n, 3000);
  await sleep(10);
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

// ---------- child: runs inside the namespace ----------

/** writeBatch, rxStart (batches, byte for byte, an exception in onBatch) and one readBatch of
 *  more frames than an io_uring submission holds, on `tap` as currently set up (io mode). */
async function exercise(tap: Port, peer: Port, base: number): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { io: tap.io };
  // TAP -> bridge -> veth0 -> veth1: several frames in one writeBatch, read with readBatch.
  {
    const frames = [60, 150, 1000].map((len, i) => frame(PEER_MAC, UVSD_MAC, len, base + 0x7000 + i));
    const p = pack(frames);
    out.txWritten = native.writeBatch(tap.fd, p.buf, p.offs, p.lens, frames.length);
    const got = await collect(peer.fd, frames.length, 2000, (x) => isOurs(x) && x.readUInt32BE(14) >>> 12 === (base + 0x7000) >>> 12);
    out.txExpected = frames.map((f) => f.toString('hex'));
    out.txReceived = got.map((f) => f.toString('hex'));
  }

  // veth1 -> bridge -> TAP -> rxStart: many frames queued before polling starts, so batches fill.
  {
    const N = 150;
    const frames: Buffer[] = [];
    for (let i = 0; i < N; i++) frames.push(frame(UVSD_MAC, PEER_MAC, 60 + ((i * 37) % 1300), base + 0x10000 + i));
    const p = pack(frames);
    const rx0 = bridgeRx();
    out.rxWritten = peer.send(p.buf, p.offs, p.lens, N);
    await queued(rx0, N); // let the kernel move them through the bridge into the TAP queue

    const got: Buffer[] = [];
    const batches: number[] = [];
    let throwNext = false;
    let lastBatchMaxOk = true;
    tap.start((count) => {
      batches.push(count);
      if (count > tap.batch) lastBatchMaxOk = false;
      for (let i = 0; i < count; i++) {
        const o = i * tap.stride;
        const f = Buffer.from(tap.rxBuf.subarray(o, o + tap.rxLens[i]));
        if (isOurs(f)) got.push(f);
      }
      if (throwNext) {
        throwNext = false;
        throw new Error('boom from onBatch');
      }
    });
    await until(() => got.length >= N, 3000);
    out.rxBatches = batches;
    out.rxBatchWithinMax = lastBatchMaxOk;
    out.rxCount = got.length;
    let bad = -1;
    for (let i = 0; i < N; i++) if (!got[i] || !got[i].equals(frames[i])) { bad = i; break; }
    out.rxFirstMismatch = bad === -1 ? null : {
      index: bad,
      expected: frames[bad].toString('hex').slice(0, 64) + ` len ${frames[bad].length}`,
      actual: got[bad] ? got[bad].toString('hex').slice(0, 64) + ` len ${got[bad].length}` : 'missing',
    };

    // An exception from onBatch surfaces as uncaughtException, and receiving goes on afterwards.
    const uncaught: string[] = [];
    const onUncaught = (e: Error) => { uncaught.push(e.message); };
    process.on('uncaughtException', onUncaught);
    throwNext = true;
    const one = pack([frame(UVSD_MAC, PEER_MAC, 64, 0xdead)]);
    peer.send(one.buf, one.offs, one.lens, 1);
    await until(() => uncaught.length > 0, 2000);
    const before = got.length;
    const two = pack([frame(UVSD_MAC, PEER_MAC, 64, 0xbeef)]);
    peer.send(two.buf, two.offs, two.lens, 1);
    await until(() => got.length > before, 2000);
    process.off('uncaughtException', onUncaught);
    out.uncaught = uncaught;
    out.receivedAfterThrow = got.length > before && got[got.length - 1].readUInt32BE(14) === 0xbeef;
    tap.stop();
    tap.stop(); // idempotent
  }

  // One readBatch of 300 frames: more than one io_uring submission (256), still in order.
  {
    const N = 300;
    const frames: Buffer[] = [];
    for (let i = 0; i < N; i++) frames.push(frame(UVSD_MAC, PEER_MAC, 60 + (i % 40), base + 0x20000 + i));
    const p = pack(frames);
    const rx0 = bridgeRx();
    out.bigWritten = peer.send(p.buf, p.offs, p.lens, N);
    await queued(rx0, N);
    // Room for a few frames besides ours: a stray one the bridge floods meanwhile (IPv6
    // neighbour discovery of a port coming up) once took a slot and left our 300th queued.
    const cap = N + 16;
    const stride = 2048;
    const buf = Buffer.alloc(stride * cap);
    const lens = new Uint32Array(cap);
    const n = native.readBatch(tap.fd, buf, stride, lens, cap);
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const f = buf.subarray(i * stride, i * stride + lens[i]);
      if (ok < N && f.equals(frames[ok])) ok++;
    }
    out.bigRead = n;
    out.bigInOrder = ok;
  }

  // The TAP set down takes no frame (the kernel's tun_get_user says EIO): writeBatch drops it and
  // says 0, no error (uvsd goes on: a link fault, not a port failure); up again, it takes them.
  {
    const p = pack([frame(PEER_MAC, UVSD_MAC, 60, base + 0x30000)]);
    execFileSync('ip', ['link', 'set', 'uvstap0', 'down']);
    const downLens = Uint32Array.from(p.lens);
    out.downWritten = tryWrite(tap.fd, p, downLens);
    out.downLens = [...downLens]; // the refused frame's length zeroed: tx_bytes leaves it out
    execFileSync('ip', ['link', 'set', 'uvstap0', 'up']);
    out.upAgainWritten = tryWrite(tap.fd, p);
    await until(() => readFileSync('/sys/class/net/uvstap0/brport/state', 'utf8').trim() === '3', 3000);
  }
  return out;
}

/** writeBatch's count, or its error as `CODE message` (with a copy of lens: a refused frame's is zeroed). */
function tryWrite(fd: number, p: { buf: Buffer; offs: Uint32Array; lens: Uint32Array }, lens = Uint32Array.from(p.lens)): number | string {
  try {
    return native.writeBatch(fd, p.buf, p.offs, lens, p.offs.length);
  } catch (e) {
    return `${(e as NodeJS.ErrnoException).code} ${(e as Error).message}`;
  }
}


async function child(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};

  // openTap: create, MTU, up, bridge.
  const tap = Port.tap('uvstap0', { mtu: 1400, bridge: 'br0', io: 'syscalls' });
  out.tap = { name: tap.name, created: tap.created, ifindex: tap.ifindex, mac: tap.mac };
  out.tapInfo = native.ifaceInfo('uvstap0');
  const link = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'uvstap0'], { encoding: 'utf8' }))[0];
  out.tapLink = { flags: link.flags, master: link.master, mtu: link.mtu, ifindex: link.ifindex };
  // Frames only pass a bridge port in forwarding state (3); with STP off that should be at once.
  out.forwarding = await until(() => readFileSync('/sys/class/net/uvstap0/brport/state', 'utf8').trim() === '3', 3000);

  const peer = Port.packet('veth1');
  // A packet socket takes a large receive buffer (uvs-decap lost a tenth of a fast stream with the
  // default), and counts what it lost to a full one.
  const ss = execFileSync('ss', ['-0', '-m', '-p'], { encoding: 'utf8' }).split('\n').find((l) => l.includes(`pid=${process.pid},fd=${peer.fd})`));
  const rcvbuf = Number(/skmem:\(r\d+,rb(\d+)/.exec(ss ?? '')?.[1] ?? 0); // the kernel doubles what was set
  out.peer = { ifindex: peer.ifindex, mac: peer.mac, drops: peer.drops(), rcvbuf };

  // Does the bridge hand the TAP a frame for uvsd's MAC before uvsd ever transmitted (flooding)?
  {
    const f = frame(UVSD_MAC, PEER_MAC, 100, 0xf100d);
    const p = pack([f]);
    out.floodSent = peer.send(p.buf, p.offs, p.lens, 1);
    const got = await collect(tap.fd, 1, 1000, (x) => isOurs(x) && x.readUInt32BE(14) === 0xf100d);
    out.floodedBeforeTx = got.length === 1 && got[0].equals(f);
  }

  out.modes = {} as Record<string, unknown>;
  (out.modes as Record<string, unknown>).syscalls = await exercise(tap, peer, 0);
  tap.setIo('auto');
  if (tap.io === 'io_uring') (out.modes as Record<string, unknown>).io_uring = await exercise(tap, peer, 0x100000);
  else out.uringRefused = tap.ioFallback;

  // A raw handle: stop() twice and after GC pressure must not crash.
  {
    const h = native.rxStart(peer.fd, peer.rxBuf, peer.stride, peer.rxLens, peer.batch, () => {});
    h.stop();
    h.stop();
  }

  // close() removes an interface we created...
  tap.close();
  peer.close();
  out.tapGoneAfterClose = await until(() => native.ifaceInfo('uvstap0') === null, 2000);

  // ...but not one that existed before (uvstap1 was made persistent by the parent).
  const old = Port.tap('uvstap1', {});
  out.existing = { created: old.created, up: (Number(readFileSync('/sys/class/net/uvstap1/flags', 'utf8')) & 1) === 1 };
  old.close();
  await sleep(50);
  out.existingAfterClose = native.ifaceInfo('uvstap1') !== null;

  // Errors carry the operation, names and errno text; a half-opened device is removed again.
  try {
    native.openTap('uvstap2', { bridge: 'nobr0' });
    out.badBridgeError = null;
  } catch (e) {
    out.badBridgeError = { message: (e as Error).message, code: (e as NodeJS.ErrnoException).code };
  }
  out.badBridgeCleanedUp = await until(() => native.ifaceInfo('uvstap2') === null, 2000);

  // TUN: no Ethernet address.
  const tun = native.openTap('uvstun0', { tun: true, mtu: 1300 });
  out.tun = { mac: tun.mac, created: tun.created, mtu: native.ifaceInfo('uvstun0')?.mtu };
  // A TUN set down drops what is written as a TAP does (uvs-decap's device); deleted, the write
  // fails: EBADFD, what uvsd stops on.
  {
    const pkt = Buffer.alloc(20);
    pkt[0] = 0x45;
    pkt.writeUInt16BE(20, 2);
    const p = { buf: pkt, offs: Uint32Array.of(0), lens: Uint32Array.of(20) };
    execFileSync('ip', ['link', 'set', 'uvstun0', 'down']);
    out.tunDownWritten = tryWrite(tun.fd, p);
    execFileSync('ip', ['link', 'del', 'uvstun0']);
    out.tunDeletedWritten = tryWrite(tun.fd, p);
  }
  native.close(tun.fd);

  return out;
}

// ---------- parent ----------

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function removeLeftovers(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0];
    if (name.startsWith(PREFIX)) {
      try { ip('netns', 'del', name); } catch { /* already gone */ }
    }
  }
}

function whyNotRunnable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root: creates network namespaces and TAP devices';
  try { ip('-V'); } catch { return 'needs iproute2 (ip)'; }
  return null;
}

if (process.env.UVS_PORT_CHILD === '1') {
  child().then(
    (out) => { process.stdout.write(JSON.stringify(out) + '\n'); },
    (e) => { process.stderr.write(`child failed: ${(e as Error).stack}\n`); process.exitCode = 1; },
  );
} else {
  test('txDropped reads an interface\'s TX drop column of /proc/net/dev (not a longer name\'s); tapQueueDrops counts from its first reading', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-netdev-'));
    try {
      const file = join(dir, 'dev');
      const table = (uvs0: number) => [
        'Inter-|   Receive                                                |  Transmit',
        ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
        '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
        `  uvs0:     500       7    0    3    0     0          0         0      900      12    0 ${uvs0}    0     0       0          0`,
        ' uvs01:       0       0    0    0    0     0          0         0        0       0    0   99    0     0       0          0',
        '',
      ].join('\n');
      writeFileSync(file, table(41));
      assert.equal(txDropped('uvs0', file), 41);
      assert.equal(txDropped('uvs01', file), 99);
      assert.equal(txDropped('uvs', file), null);
      assert.equal(txDropped('uvs0', join(dir, 'missing')), null);
      const drops = tapQueueDrops('uvs0', (i) => txDropped(i, file));
      assert.deepEqual(drops(), { queue_full: 0 });
      writeFileSync(file, table(1041));
      assert.deepEqual(drops(), { queue_full: 1000 });
      rmSync(file);
      assert.equal(drops(), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('argument checks and plain fds (no root needed)', () => {
    const lo = native.ifaceInfo('lo');
    assert.ok(lo && lo.ifindex > 0 && lo.mtu > 0);
    assert.equal(native.ifaceInfo('uvs-no-such0'), null);

    const buf = Buffer.alloc(4096);
    assert.throws(() => native.readBatch(-1, buf, 2048, new Uint32Array(4), 3), RangeError);
    assert.throws(() => native.readBatch(-1, buf, 2048, new Uint32Array(1), 2), RangeError);
    assert.throws(() => native.readBatch(-1, buf, 2048, new Uint32Array(4), 2), /Bad file descriptor/);

    const fd = openSync('/dev/null', 'r+');
    try {
      assert.equal(native.readBatch(fd, buf, 2048, new Uint32Array(2), 2), 0);
      // The third frame runs past the end of buf and is skipped, not read out of bounds; a frame
      // not written has its length zeroed (tx_bytes sums the lengths afterwards).
      const lens = Uint32Array.of(4, 5, 4);
      const n = native.writeBatch(fd, Buffer.alloc(10), Uint32Array.of(0, 5, 8), lens, 3);
      assert.equal(n, 2);
      assert.deepEqual([...lens], [4, 5, 0]);
      assert.throws(() => native.writeBatch(fd, buf, new Uint32Array(1), new Uint32Array(1), 2), RangeError);
    } finally {
      closeSync(fd);
    }
    assert.throws(() => native.close(-1), (e: NodeJS.ErrnoException) => e.code === 'EBADF' && /^close fd -1: /.test(e.message));
  });

  test('io_uring is refused, with the reason, on an fd whose reads fail; auto falls back', (t) => {
    // /dev/net/tun opened but never attached to a device: every read fails (EBADFD), so the
    // start-up probe must refuse the ring rather than let batches fail later.
    let fd: number;
    try {
      fd = openSync('/dev/net/tun', 'r+');
    } catch (e) {
      t.skip(`cannot open /dev/net/tun: ${(e as Error).message}`);
      return;
    }
    try {
      const r = native.uringAttach(fd);
      assert.equal(r.ok, false);
      assert.match(r.error ?? '', /^io_uring fd \d+: /);
      const p = new Port(fd, 'unattached');
      p.setIo('auto');
      assert.equal(p.io, 'syscalls');
      assert.equal(p.ioFallback, r.error);
      assert.throws(() => p.setIo('io_uring'), /^Error: io_uring unavailable: io_uring fd \d+: /);
    } finally {
      closeSync(fd);
    }
  });

  test('TAP and AF_PACKET ports in a network namespace', async (t) => {
    const why = whyNotRunnable();
    if (why) {
      console.log(`skipping: ${why}`);
      t.skip(why);
      return;
    }
    removeLeftovers();
    const ns = `${PREFIX}${process.pid}`;
    try {
      ip('netns', 'add', ns);
      // No IPv6 so the kernel sends no router solicitations or MLD reports onto the bridge.
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1',
        'net.ipv6.conf.default.disable_ipv6=1']);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
      ip('-n', ns, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
      ip('-n', ns, 'link', 'set', 'veth0', 'master', 'br0');
      for (const dev of ['br0', 'veth0', 'veth1']) ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'tuntap', 'add', 'dev', 'uvstap1', 'mode', 'tap');

      const env: NodeJS.ProcessEnv = { ...process.env, UVS_PORT_CHILD: '1' };
      delete env.NODE_TEST_CONTEXT; // the child is a plain script, not a test-runner subprocess
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, SELF], { env, encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, `child exited ${r.status} ${r.signal ?? ''}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
      const o = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
      if (r.stderr) console.log(r.stderr);

      await t.test('openTap creates an up interface with MTU, bridged', () => {
        const tap = o.tap as { name: string; created: boolean; ifindex: number; mac: string };
        assert.equal(tap.name, 'uvstap0');
        assert.equal(tap.created, true);
        assert.ok(tap.ifindex > 0);
        assert.match(tap.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        assert.deepEqual(o.tapInfo, { ifindex: tap.ifindex, mac: tap.mac, mtu: 1400, ipv4: '' }, 'no IPv4 address on the TAP (uvsd\'s are its own)');
        assert.ok(o.tapLink.flags.includes('UP'), `flags ${o.tapLink.flags}`);
        assert.equal(o.tapLink.master, 'br0');
        assert.equal(o.tapLink.mtu, 1400);
        assert.equal(o.forwarding, true, 'bridge port reached forwarding state');
        assert.match(o.peer.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        assert.deepEqual(o.peer.drops, { socket_full: 0 }, 'a packet socket counts its receive-buffer drops');
        assert.ok(o.peer.rcvbuf >= 8 << 20, `packet socket receive buffer ${o.peer.rcvbuf} (want 8 MB or more)`);
      });

      // The kernel may refuse io_uring (io_uring_disabled, seccomp, a kernel that parks
      // RWF_NOWAIT reads): uvsd then falls back to one system call per frame, and so does this.
      const modes = o.modes as Record<string, Record<string, any>>;
      for (const mode of ['syscalls', 'io_uring']) {
        const m = modes[mode];
        await t.test(`${mode}: writeBatch on the TAP reaches an AF_PACKET socket behind the bridge`, (tt) => {
          if (!m) {
            tt.skip(`io_uring refused by this kernel: ${o.uringRefused}`);
            return;
          }
          assert.equal(m.io, mode);
          assert.equal(m.txWritten, 3);
          assert.deepEqual(m.txReceived, m.txExpected);
        });

        await t.test(`${mode}: rxStart delivers frames injected with openPacket, in batches, byte for byte`, (tt) => {
          if (!m) {
            tt.skip(`io_uring refused by this kernel: ${o.uringRefused}`);
            return;
          }
          assert.equal(o.floodSent, 1);
          assert.equal(m.rxWritten, 150);
          assert.equal(m.rxFirstMismatch, null);
          assert.ok(m.rxCount >= 150, `received ${m.rxCount}`);
          assert.ok(Math.max(...m.rxBatches) > 1, `batch sizes ${m.rxBatches}`);
          assert.equal(m.rxBatchWithinMax, true);
          tt.diagnostic(`rx batch sizes: ${m.rxBatches.join(',')}`);
        });

        await t.test(`${mode}: an exception in onBatch is uncaught, not fatal to the port`, (tt) => {
          if (!m) {
            tt.skip(`io_uring refused by this kernel: ${o.uringRefused}`);
            return;
          }
          assert.deepEqual(m.uncaught, ['boom from onBatch']);
          assert.equal(m.receivedAfterThrow, true);
        });

        await t.test(`${mode}: writeBatch on the TAP set down drops the frame and says 0 (before: threw EIO, and uvsd stopped), up again it writes`, (tt) => {
          if (!m) {
            tt.skip(`io_uring refused by this kernel: ${o.uringRefused}`);
            return;
          }
          assert.equal(m.downWritten, 0);
          assert.deepEqual(m.downLens, [0], 'the refused frame\'s length zeroed (tx_bytes sums the lengths)');
          assert.equal(m.upAgainWritten, 1);
        });

        await t.test(`${mode}: one readBatch of 300 queued frames returns them all, in order`, (tt) => {
          if (!m) {
            tt.skip(`io_uring refused by this kernel: ${o.uringRefused}`);
            return;
          }
          assert.equal(m.bigWritten, 300);
          assert.equal(m.bigInOrder, 300, `read ${m.bigRead}`);
          tt.diagnostic(`one readBatch returned ${m.bigRead} frames, ours all 300 in order`);
        });
      }

      await t.test('close removes a created interface and keeps an existing one', () => {
        assert.equal(o.tapGoneAfterClose, true);
        assert.deepEqual(o.existing, { created: false, up: true });
        assert.equal(o.existingAfterClose, true);
      });

      await t.test('errors name the operation and errno; a failed open leaves nothing', () => {
        assert.equal(o.badBridgeError?.message, 'SIOCBRADDIF nobr0 uvstap2: No such device');
        assert.equal(o.badBridgeError?.code, 'ENODEV');
        assert.equal(o.badBridgeCleanedUp, true);
        assert.deepEqual(o.tun, { mac: '', created: true, mtu: 1300 });
      });

      await t.test('a TUN set down drops what is written (0, no error); deleted, the write fails EBADFD', () => {
        assert.equal(o.tunDownWritten, 0);
        assert.match(String(o.tunDeletedWritten), /^EBADFD write fd \d+: File descriptor in bad state$/);
      });

      t.diagnostic(`bridge flooded a frame for uvsd's MAC to the TAP before uvsd transmitted: ${o.floodedBeforeTx}`);
    } finally {
      try { ip('netns', 'del', ns); } catch { /* not created */ }
    }
  });

  test('a write the kernel fails throws marked portFailure (uvsd then stops in order, "frame I/O on ... failed", as for a failed read): a timer\'s frame (the ARP watch\'s probe) may meet a deleted TAP before the next read does', () => {
    const fd = openSync('/dev/null', 'r'); // writes fail: EBADF, as a deleted TAP's fail EBADFD
    const p = new Port(fd, 'null');
    try {
      assert.throws(() => p.send(Buffer.alloc(128), new Uint32Array([0]), new Uint32Array([60]), 1),
        (e: Error & { portFailure?: boolean }) => e.portFailure === true && /^write fd \d+: Bad file descriptor$/.test(e.message));
    } finally {
      p.close();
    }
  });
}
