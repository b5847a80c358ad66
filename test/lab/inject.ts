// Fuzz frame injector, run inside a client namespace: writes N random and malformed frames into
// the bridge through an AF_PACKET socket on --if. Reproducible: a seeded PRNG drives
// every choice, so the same --seed sends the same frames.
//
//   node inject.js --if eth0 --count 10000 --seed 1 [--dst-mac 02:00:00:00:00:01]
//                  [--vip 192.168.8.200] [--dir 192.168.8.10] [--pace-ms 2] [--batch 64]
//
// Frames always carry the sending interface's own source MAC: a random source MAC could teach the
// bridge that uvsd (or a real server) lives behind the client port and break forwarding for
// reasons that have nothing to do with uvsd. For the same reason ARP frames never claim the
// address of a lab host (sender IPs come from 192.168.8.150-199 or 10/8).
// Prints one JSON line: {"attempted":n,"written":n,"byKind":{...}}.
import { parseArgs } from 'node:util';
import { native } from '../../src/datapath/port.js';
import { requireLabNamespace } from './guard.js';

// `node --test dist/test/` (Node 20) runs every .js under a test/ directory, this script too:
// do nothing there. Lab code starts it with NODE_TEST_CONTEXT removed from the environment.
if (process.env['NODE_TEST_CONTEXT']) process.exit(0);

requireLabNamespace('inject.js');

const { values } = parseArgs({
  options: {
    if: { type: 'string' },
    count: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    'dst-mac': { type: 'string', default: '02:00:00:00:00:01' },
    vip: { type: 'string', default: '192.168.8.200' },
    dir: { type: 'string', default: '192.168.8.10' },
    src: { type: 'string', default: '192.168.8.100' },
    'pace-ms': { type: 'string', default: '2' },
    batch: { type: 'string', default: '64' },
  },
});

/** mulberry32: tiny, fast, good enough for fuzz choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = prng(Number(values.seed));
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1)); // inclusive
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

function macBytes(s: string): Buffer {
  return Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
}
function ipNum(s: string): number {
  return s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
}

const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const dstMac = macBytes(values['dst-mac']!);
const VIP = ipNum(values.vip!);
const DIR = ipNum(values.dir!);
const SRC = ipNum(values.src!);

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(0, 255);
  return b;
}

function chooseDstMac(): Buffer {
  const r = rnd();
  if (r < 0.8) return dstMac;
  if (r < 0.95) return BROADCAST;
  const m = randomBytes(6);
  m[0] = (m[0]! & 0xfe) | 0x02; // unicast, locally administered: flooded, then ignored by everyone
  return m;
}

function ipChecksum(b: Buffer, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i + 1 < len; i += 2) s += b.readUInt16BE(off + i);
  if (len & 1) s += b[off + len - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function l4Checksum(src: number, dst: number, proto: number, seg: Buffer): number {
  const pseudo = Buffer.alloc(12 + seg.length);
  pseudo.writeUInt32BE(src, 0);
  pseudo.writeUInt32BE(dst, 4);
  pseudo[9] = proto;
  pseudo.writeUInt16BE(seg.length, 10);
  seg.copy(pseudo, 12);
  return ipChecksum(pseudo, 0, pseudo.length);
}

function eth(dst: Buffer, src: Buffer, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  dst.copy(h, 0);
  src.copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

/** Source IPs never belong to a lab host other than the client. */
function srcIp(): number {
  return rnd() < 0.5 ? SRC : ((10 << 24) | int(0, 0xffffff)) >>> 0;
}
function dstIp(): number {
  const r = rnd();
  if (r < 0.6) return VIP;
  if (r < 0.8) return DIR;
  return ((10 << 24) | int(0, 0xffffff)) >>> 0;
}

interface IpOpts {
  ihl?: number;
  options?: Buffer;
  badCsum?: boolean;
  totLen?: number;
  version?: number;
  frag?: number; // flags+offset field
}

function ipv4(src: number, dst: number, proto: number, payload: Buffer, o: IpOpts = {}): Buffer {
  const options = o.options ?? Buffer.alloc(0);
  const hlen = 20 + options.length;
  const h = Buffer.alloc(hlen);
  h[0] = ((o.version ?? 4) << 4) | (o.ihl ?? hlen / 4);
  h[1] = 0;
  h.writeUInt16BE(o.totLen ?? hlen + payload.length, 2);
  h.writeUInt16BE(int(0, 0xffff), 4);
  h.writeUInt16BE(o.frag ?? 0x4000, 6);
  h[8] = 64;
  h[9] = proto;
  h.writeUInt32BE(src, 12);
  h.writeUInt32BE(dst, 16);
  options.copy(h, 20);
  let c = ipChecksum(h, 0, hlen);
  if (o.badCsum) c = (c ^ (1 + int(0, 0xfffe))) & 0xffff;
  h.writeUInt16BE(c, 10);
  return Buffer.concat([h, payload]);
}

const TCP_FLAGS = [0x02, 0x10, 0x18, 0x11, 0x04, 0x12, 0x01, 0x3f, 0x00];
function tcp(src: number, dst: number, dport: number, opts: { flags?: number; doff?: number; data?: Buffer } = {}): Buffer {
  const data = opts.data ?? Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h.writeUInt16BE(int(1024, 65535), 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(int(0, 0xffffffff), 4);
  h.writeUInt32BE(int(0, 0xffffffff), 8);
  h[12] = (opts.doff ?? 5) << 4;
  h[13] = opts.flags ?? pick(TCP_FLAGS);
  h.writeUInt16BE(int(0, 0xffff), 14);
  const seg = Buffer.concat([h, data]);
  seg.writeUInt16BE(l4Checksum(src, dst, 6, seg), 16);
  return seg;
}

function udp(src: number, dst: number, dport: number, opts: { len?: number; data?: Buffer } = {}): Buffer {
  const data = opts.data ?? randomBytes(int(0, 32));
  const seg = Buffer.alloc(8 + data.length);
  seg.writeUInt16BE(int(1024, 65535), 0);
  seg.writeUInt16BE(dport, 2);
  seg.writeUInt16BE(opts.len ?? seg.length, 4);
  data.copy(seg, 8);
  seg.writeUInt16BE(l4Checksum(src, dst, 17, seg) || 0xffff, 6);
  return seg;
}

function arp(op: number, senderIp: number, targetIp: number, mac: Buffer): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(op, 6);
  mac.copy(a, 8);
  a.writeUInt32BE(senderIp, 14);
  a.writeUInt32BE(targetIp, 24);
  return a;
}
function safeArpSender(): number {
  return rnd() < 0.5 ? ((192 << 24) | (168 << 16) | (8 << 8) | int(150, 199)) >>> 0 : ((10 << 24) | int(0, 0xffffff)) >>> 0;
}

function truncate(f: Buffer, minLen: number, maxLen: number): Buffer {
  return f.subarray(0, Math.max(1, Math.min(f.length, int(minLen, maxLen))));
}

type Kind =
  | 'random'
  | 'trunc_eth'
  | 'trunc_arp'
  | 'bad_arp'
  | 'trunc_ipv4'
  | 'bad_ip_csum'
  | 'bad_ip_len'
  | 'bad_ihl_version'
  | 'ip_options'
  | 'trunc_tcp'
  | 'trunc_udp'
  | 'bad_udp_len'
  | 'random_ports'
  | 'fragment'
  | 'icmp'
  | 'other_ethertype';

const KINDS: readonly Kind[] = [
  'random', 'random', 'trunc_eth', 'trunc_arp', 'bad_arp', 'trunc_ipv4', 'bad_ip_csum', 'bad_ip_len',
  'bad_ihl_version', 'ip_options', 'trunc_tcp', 'trunc_udp', 'bad_udp_len', 'random_ports', 'random_ports',
  'fragment', 'icmp', 'other_ethertype',
];

function frame(kind: Kind, srcMac: Buffer): Buffer {
  const dmac = chooseDstMac();
  switch (kind) {
    case 'random': {
      const f = randomBytes(int(14, 1514));
      dmac.copy(f, 0);
      srcMac.copy(f, 6);
      return f;
    }
    case 'trunc_eth': {
      const f = Buffer.concat([dmac, srcMac, randomBytes(2)]);
      return truncate(f, 1, 13);
    }
    case 'trunc_arp':
      return truncate(eth(dmac, srcMac, 0x0806, arp(int(1, 2), safeArpSender(), pick([VIP, DIR]), srcMac)), 14, 41);
    case 'bad_arp': {
      const a = arp(int(0, 5), safeArpSender(), pick([VIP, DIR, safeArpSender()]), srcMac);
      const field = int(0, 3);
      if (field === 0) a.writeUInt16BE(int(2, 0xffff), 0); // htype
      else if (field === 1) a.writeUInt16BE(pick([0x86dd, 0x0806, int(0, 0xffff)]), 2); // ptype
      else if (field === 2) a[4] = pick([0, 4, 8, 255]); // hlen
      else a[5] = pick([0, 6, 16, 255]); // plen
      return eth(dmac, srcMac, 0x0806, a);
    }
    case 'trunc_ipv4': {
      const f = eth(dmac, srcMac, 0x0800, ipv4(srcIp(), dstIp(), pick([6, 17, 1]), randomBytes(int(0, 40))));
      return truncate(f, 14, 33);
    }
    case 'bad_ip_csum': {
      const s = srcIp();
      const d = dstIp();
      return eth(dmac, srcMac, 0x0800, ipv4(s, d, 6, tcp(s, d, 80, { flags: 0x02 }), { badCsum: true }));
    }
    case 'bad_ip_len': {
      const s = srcIp();
      const d = dstIp();
      const seg = udp(s, d, pick([53, 80, int(1, 65535)]));
      const real = 20 + seg.length;
      const totLen = pick([0, int(1, 19), real + int(1, 2000), int(0, 0xffff)]);
      return eth(dmac, srcMac, 0x0800, ipv4(s, d, 17, seg, { totLen }));
    }
    case 'bad_ihl_version': {
      const s = srcIp();
      const d = dstIp();
      const seg = tcp(s, d, 80, { flags: 0x02 });
      return eth(dmac, srcMac, 0x0800, rnd() < 0.5 ? ipv4(s, d, 6, seg, { ihl: int(0, 4) }) : rnd() < 0.5 ? ipv4(s, d, 6, seg, { ihl: 15 }) : ipv4(s, d, 6, seg, { version: pick([0, 5, 6, 15]) }));
    }
    case 'ip_options': {
      // Valid headers with options (NOP padding, record-route-ish garbage); source in 10/8 so
      // nothing answers the client.
      const s = ((10 << 24) | int(0, 0xffffff)) >>> 0;
      const d = pick([VIP, DIR]);
      const words = int(1, 10);
      const options = Buffer.alloc(words * 4, 1); // NOPs
      if (rnd() < 0.5) options[options.length - 1] = 0; // EOL
      if (rnd() < 0.3) randomBytes(options.length).copy(options);
      const isTcp = rnd() < 0.5;
      const l4 = isTcp ? tcp(s, d, pick([80, int(1, 65535)])) : udp(s, d, pick([53, int(1, 65535)]));
      return eth(dmac, srcMac, 0x0800, ipv4(s, d, isTcp ? 6 : 17, l4, { options }));
    }
    case 'trunc_tcp': {
      const s = srcIp();
      const d = pick([VIP, DIR]);
      const seg = rnd() < 0.5 ? tcp(s, d, 80).subarray(0, int(0, 19)) : tcp(s, d, 80, { doff: pick([0, 1, 4, 15]) });
      return eth(dmac, srcMac, 0x0800, ipv4(s, d, 6, seg));
    }
    case 'trunc_udp': {
      const s = srcIp();
      const d = pick([VIP, DIR]);
      return eth(dmac, srcMac, 0x0800, ipv4(s, d, 17, udp(s, d, 53).subarray(0, int(0, 7))));
    }
    case 'bad_udp_len': {
      const s = srcIp();
      const d = pick([VIP, DIR]);
      const data = randomBytes(int(0, 32));
      const len = pick([0, int(1, 7), 8 + data.length + int(1, 1000)]);
      return eth(dmac, srcMac, 0x0800, ipv4(s, d, 17, udp(s, d, 53, { len, data })));
    }
    case 'random_ports': {
      const s = ((10 << 24) | int(0, 0xffffff)) >>> 0;
      const port = int(1, 65535);
      const isTcp = rnd() < 0.5;
      const l4 = isTcp ? tcp(s, VIP, port) : udp(s, VIP, port);
      return eth(dmac, srcMac, 0x0800, ipv4(s, VIP, isTcp ? 6 : 17, l4));
    }
    case 'fragment': {
      const s = ((10 << 24) | int(0, 0xffffff)) >>> 0;
      const l4 = tcp(s, VIP, 80);
      const frag = pick([0x2000, 0x2000 | int(1, 0x1fff), int(1, 0x1fff)]); // MF and/or offset
      return eth(dmac, srcMac, 0x0800, ipv4(s, VIP, 6, l4, { frag }));
    }
    case 'icmp': {
      const s = ((10 << 24) | int(0, 0xffffff)) >>> 0;
      const d = pick([VIP, DIR]);
      const body = randomBytes(int(0, 64));
      if (body.length >= 4) {
        body[0] = pick([0, 3, 5, 8, 11, 13, int(0, 255)]);
        body[1] = int(0, 15);
        body.writeUInt16BE(0, 2);
        if (rnd() < 0.5) body.writeUInt16BE(ipChecksum(body, 0, body.length), 2);
      }
      return eth(dmac, srcMac, 0x0800, ipv4(s, d, 1, body));
    }
    case 'other_ethertype':
      return eth(dmac, srcMac, pick([0x86dd, 0x8100, 0x88cc, 0x8847, int(0, 0xffff)]), randomBytes(int(0, 100)));
  }
}

async function main(): Promise<void> {
  const count = Math.max(0, Math.min(10_000_000, Number(values.count)));
  const batch = Math.max(1, Math.min(1024, Number(values.batch)));
  const paceMs = Math.max(0, Number(values['pace-ms']));
  if (values.if === undefined) {
    process.stderr.write('inject.js: --if <interface inside the lab namespace> is required\n');
    process.exit(2);
  }
  const info = native.openPacket(values.if);
  const srcMac = macBytes(info.mac);
  const buf = Buffer.alloc(batch * 1514);
  const offs = new Uint32Array(batch);
  const lens = new Uint32Array(batch);
  const byKind: Record<string, number> = {};
  let attempted = 0;
  let written = 0;
  try {
    while (attempted < count) {
      const n = Math.min(batch, count - attempted);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const kind = pick(KINDS);
        byKind[kind] = (byKind[kind] ?? 0) + 1;
        const f = frame(kind, srcMac);
        const len = Math.min(f.length, 1514);
        f.copy(buf, off, 0, len);
        offs[i] = off;
        lens[i] = len;
        off += len;
      }
      written += native.writeBatch(info.fd, buf, offs, lens, n);
      attempted += n;
      if (paceMs > 0) await new Promise((r) => setTimeout(r, paceMs));
    }
  } finally {
    native.close(info.fd);
  }
  process.stdout.write(`${JSON.stringify({ attempted, written, byKind })}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`inject: ${String((e as Error).stack ?? e)}\n`);
    process.exit(2);
  },
);
