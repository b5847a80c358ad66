// Spoofed flood generator, run inside a client namespace: writes --count frames into the bridge
// through an AF_PACKET socket (the addon's writeBatch), TCP SYNs or UDP datagrams to --vip:--dport
// from random sources in 10.0.0.0/8 (no lab host has one, so the real servers' answers go
// nowhere) and random ports. Paced to about --pps frames per second. Seeded, reproducible.
// --pairs: every source sends twice, a SYN then an ACK with data (--kind syn), or two datagrams:
// what confirms a DR/TUN flow without ever seeing the server (--count counts frames).
//
//   node flood.js --if eth0 --count 200000 [--kind syn|udp] [--pairs] [--pps 60000] [--seed 1]
//                 [--dst-mac 02:00:00:00:00:01] [--vip 192.168.8.200] [--dport 80] [--vlan 100]
// --vlan: every frame carries an 802.1Q tag with that VLAN id (which uvsd, as the kernel, ignores).
// Prints one JSON line: {"attempted":n,"written":n,"ms":n}.
import { parseArgs } from 'node:util';
import { native } from '../../src/datapath/port.js';
import { inetChecksum, onesSum, tcpFrame, TCP_FLAGS, udpFrame } from '../helpers/frames.js';
import { requireLabNamespace } from './guard.js';

if (process.env['NODE_TEST_CONTEXT']) process.exit(0); // see inject.ts

requireLabNamespace('flood.js');

const { values } = parseArgs({
  options: {
    if: { type: 'string' },
    count: { type: 'string', default: '200000' },
    kind: { type: 'string', default: 'syn' },
    pps: { type: 'string', default: '60000' },
    seed: { type: 'string', default: '1' },
    'dst-mac': { type: 'string', default: '02:00:00:00:00:01' },
    vip: { type: 'string', default: '192.168.8.200' },
    dport: { type: 'string', default: '80' },
    pairs: { type: 'boolean', default: false },
    vlan: { type: 'string' },
  },
});

const BATCH = 64;

async function main(): Promise<void> {
  if (values.if === undefined) {
    process.stderr.write('flood.js: --if <interface inside the lab namespace> is required\n');
    process.exit(2);
  }
  const count = Math.max(0, Math.min(10_000_000, Number(values.count)));
  const pps = Math.max(1000, Number(values.pps));
  const udp = values.kind === 'udp';
  const dport = Number(values.dport);
  const info = native.openPacket(values.if);
  const l2 = { ethDst: values['dst-mac']!, ethSrc: info.mac };
  // One template (two with --pairs: a source's first frame and its second, in even and odd
  // slots); per frame only the source address and port change, checksums redone here.
  const pairs = values.pairs === true;
  const first = udp
    ? udpFrame(l2, { src: '10.0.0.1', dst: values.vip!, sport: 1, dport, payload: Buffer.alloc(16, 0x55) })
    : tcpFrame(l2, { src: '10.0.0.1', dst: values.vip!, sport: 1, dport, flags: TCP_FLAGS.SYN, seq: 1 });
  const second = !pairs || udp ? first
    : tcpFrame(l2, { src: '10.0.0.1', dst: values.vip!, sport: 1, dport, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: 2, ack: 1, payload: Buffer.from('GET / HTTP/1.0\r\n\r\n') });
  const tag = (f: Buffer): Buffer => {
    if (values.vlan === undefined) return f;
    const t = Buffer.from([0x81, 0x00, 0, 0]);
    t.writeUInt16BE(Number(values.vlan) & 0xfff, 2);
    return Buffer.concat([f.subarray(0, 12), t, f.subarray(12)]);
  };
  const frames = [tag(first), tag(second)];
  const stride = Math.max(frames[0]!.length, frames[1]!.length);
  const buf = Buffer.alloc(BATCH * stride);
  const offs = new Uint32Array(BATCH);
  const lens = new Uint32Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const tpl = frames[i % 2]!;
    tpl.copy(buf, i * stride);
    offs[i] = i * stride;
    lens[i] = tpl.length;
  }
  let x = Number(values.seed) >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const ip = values.vlan === undefined ? 14 : 18;
  const l4 = ip + 20;
  let attempted = 0;
  let written = 0;
  const t0 = performance.now();
  try {
    while (attempted < count) {
      const n = Math.min(BATCH, count - attempted);
      for (let i = 0; i < n; i++) {
        const o = offs[i];
        const l4len = lens[i] - l4;
        if (pairs && i % 2 === 1) {
          buf.copy(buf, o + ip + 12, offs[i - 1] + ip + 12, offs[i - 1] + ip + 16); // the pair's source
          buf.copy(buf, o + l4, offs[i - 1] + l4, offs[i - 1] + l4 + 2);
        } else {
          buf.writeUInt32BE(((10 << 24) | (next() & 0xffffff)) >>> 0, o + ip + 12);
          buf.writeUInt16BE(1024 + (next() % 64000), o + l4);
        }
        buf.writeUInt16BE(0, o + ip + 10);
        buf.writeUInt16BE(inetChecksum(buf, o + ip, 20), o + ip + 10);
        const csum = udp ? o + l4 + 6 : o + l4 + 16;
        buf.writeUInt16BE(0, csum);
        // pseudo header: src, dst, proto, L4 length
        const pseudo = onesSum(buf, o + ip + 12, 8, (udp ? 17 : 6) + l4len);
        const c = inetChecksum(buf, o + l4, l4len, pseudo);
        buf.writeUInt16BE(udp && c === 0 ? 0xffff : c, csum);
      }
      written += native.writeBatch(info.fd, buf, offs, lens, n);
      attempted += n;
      // Pace: never ahead of pps.
      const ahead = (attempted / pps) * 1000 - (performance.now() - t0);
      if (ahead > 1) await new Promise((r) => setTimeout(r, ahead));
    }
  } finally {
    native.close(info.fd);
  }
  process.stdout.write(`${JSON.stringify({ attempted, written, ms: Math.round(performance.now() - t0) })}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`flood: ${String((e as Error).stack ?? e)}\n`);
    process.exit(2);
  },
);
