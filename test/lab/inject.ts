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
import { arp, BROADCAST, eth, inetChecksum, ipStr, ipv4, mac, macStr, tcp, udp, type Ipv4Opts } from '../helpers/frames.js';
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

const dstMac = values['dst-mac']!;
const VIP = values.vip!;
const DIR = values.dir!;
const SRC = values.src!;

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(0, 255);
  return b;
}

function chooseDstMac(): string {
  const r = rnd();
  if (r < 0.8) return dstMac;
  if (r < 0.95) return BROADCAST;
  const m = randomBytes(6);
  m[0] = (m[0]! & 0xfe) | 0x02; // unicast, locally administered: flooded, then ignored by everyone
  return macStr(m);
}

/** An address in 10/8: no lab host has one, so nothing ever answers it. */
function net10(): string {
  return ipStr(((10 << 24) | int(0, 0xffffff)) >>> 0);
}

/** Source IPs never belong to a lab host other than the client. */
function srcIp(): string {
  return rnd() < 0.5 ? SRC : net10();
}
function dstIp(): string {
  const r = rnd();
  if (r < 0.6) return VIP;
  if (r < 0.8) return DIR;
  return net10();
}

// The frames come from the tests' own builders (test/helpers/frames.ts); the fields a builder
// does not offer (a random IP ID, a wrong UDP length) are set on its output.
function ip4(src: string, dst: string, proto: number, payload: Buffer, o: Omit<Ipv4Opts, 'src' | 'dst' | 'proto'> = {}): Buffer {
  return ipv4({ id: int(0, 0xffff), ...o, src, dst, proto }, payload);
}

function ethFrame(dst: string, src: string, type: number, payload: Buffer): Buffer {
  return eth({ dst, src, type }, payload);
}

const TCP_FLAG_CHOICES = [0x02, 0x10, 0x18, 0x11, 0x04, 0x12, 0x01, 0x3f, 0x00];
function tcpSeg(src: string, dst: string, dport: number, o: { flags?: number; doff?: number } = {}): Buffer {
  return tcp({
    src, dst, sport: int(1024, 65535), dport, seq: int(0, 0xffffffff), ack: int(0, 0xffffffff),
    flags: o.flags ?? pick(TCP_FLAG_CHOICES), window: int(0, 0xffff), dataOffset: o.doff,
  });
}

function udpSeg(src: string, dst: string, dport: number, o: { len?: number; data?: Buffer } = {}): Buffer {
  const seg = udp({ src, dst, sport: int(1024, 65535), dport, payload: o.data ?? randomBytes(int(0, 32)) });
  if (o.len !== undefined) seg.writeUInt16BE(o.len, 4);
  return seg;
}

function arpMsg(op: number, senderIp: string, targetIp: string, mac: string): Buffer {
  const a = arp({ op: 1, sha: mac, spa: senderIp, tpa: targetIp });
  a.writeUInt16BE(op, 6); // any opcode, valid or not
  return a;
}
function safeArpSender(): string {
  return rnd() < 0.5 ? `192.168.8.${int(150, 199)}` : net10();
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

function frame(kind: Kind, srcMac: string): Buffer {
  const dmac = chooseDstMac();
  switch (kind) {
    case 'random': {
      const f = randomBytes(int(14, 1514));
      f.set(mac(dmac), 0);
      f.set(mac(srcMac), 6);
      return f;
    }
    case 'trunc_eth':
      return truncate(ethFrame(dmac, srcMac, int(0, 0xffff), Buffer.alloc(0)), 1, 13);
    case 'trunc_arp':
      return truncate(ethFrame(dmac, srcMac, 0x0806, arpMsg(int(1, 2), safeArpSender(), pick([VIP, DIR]), srcMac)), 14, 41);
    case 'bad_arp': {
      const a = arpMsg(int(0, 5), safeArpSender(), pick([VIP, DIR, safeArpSender()]), srcMac);
      const field = int(0, 3);
      if (field === 0) a.writeUInt16BE(int(2, 0xffff), 0); // htype
      else if (field === 1) a.writeUInt16BE(pick([0x86dd, 0x0806, int(0, 0xffff)]), 2); // ptype
      else if (field === 2) a[4] = pick([0, 4, 8, 255]); // hlen
      else a[5] = pick([0, 6, 16, 255]); // plen
      return ethFrame(dmac, srcMac, 0x0806, a);
    }
    case 'trunc_ipv4': {
      const f = ethFrame(dmac, srcMac, 0x0800, ip4(srcIp(), dstIp(), pick([6, 17, 1]), randomBytes(int(0, 40))));
      return truncate(f, 14, 33);
    }
    case 'bad_ip_csum': {
      const s = srcIp();
      const d = dstIp();
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, 6, tcpSeg(s, d, 80, { flags: 0x02 }), { badChecksum: true }));
    }
    case 'bad_ip_len': {
      const s = srcIp();
      const d = dstIp();
      const seg = udpSeg(s, d, pick([53, 80, int(1, 65535)]));
      const real = 20 + seg.length;
      const totalLength = pick([0, int(1, 19), real + int(1, 2000), int(0, 0xffff)]);
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, 17, seg, { totalLength }));
    }
    case 'bad_ihl_version': {
      const s = srcIp();
      const d = dstIp();
      const seg = tcpSeg(s, d, 80, { flags: 0x02 });
      const o = rnd() < 0.5 ? { ihl: int(0, 4) } : rnd() < 0.5 ? { ihl: 15 } : { version: pick([0, 5, 6, 15]) };
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, 6, seg, o));
    }
    case 'ip_options': {
      // Valid headers with options (NOP padding, record-route-ish garbage); source in 10/8 so
      // nothing answers the client.
      const s = net10();
      const d = pick([VIP, DIR]);
      const options = Buffer.alloc(int(1, 10) * 4, 1); // NOPs
      if (rnd() < 0.5) options[options.length - 1] = 0; // EOL
      if (rnd() < 0.3) randomBytes(options.length).copy(options);
      const isTcp = rnd() < 0.5;
      const l4 = isTcp ? tcpSeg(s, d, pick([80, int(1, 65535)])) : udpSeg(s, d, pick([53, int(1, 65535)]));
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, isTcp ? 6 : 17, l4, { options }));
    }
    case 'trunc_tcp': {
      const s = srcIp();
      const d = pick([VIP, DIR]);
      const seg = rnd() < 0.5 ? tcpSeg(s, d, 80).subarray(0, int(0, 19)) : tcpSeg(s, d, 80, { doff: pick([0, 1, 4, 15]) });
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, 6, seg));
    }
    case 'trunc_udp': {
      const s = srcIp();
      const d = pick([VIP, DIR]);
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, 17, udpSeg(s, d, 53).subarray(0, int(0, 7))));
    }
    case 'bad_udp_len': {
      const s = srcIp();
      const d = pick([VIP, DIR]);
      const data = randomBytes(int(0, 32));
      const len = pick([0, int(1, 7), 8 + data.length + int(1, 1000)]);
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, 17, udpSeg(s, d, 53, { len, data })));
    }
    case 'random_ports': {
      const s = net10();
      const port = int(1, 65535);
      const isTcp = rnd() < 0.5;
      const l4 = isTcp ? tcpSeg(s, VIP, port) : udpSeg(s, VIP, port);
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, VIP, isTcp ? 6 : 17, l4));
    }
    case 'fragment': {
      const s = net10();
      const l4 = tcpSeg(s, VIP, 80);
      const r = rnd(); // MF and/or an offset
      const frag = r < 1 / 3 ? { mf: true, df: false } : r < 2 / 3 ? { mf: true, df: false, fragOffset: int(1, 0x1fff) } : { df: false, fragOffset: int(1, 0x1fff) };
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, VIP, 6, l4, frag));
    }
    case 'icmp': {
      const s = net10();
      const d = pick([VIP, DIR]);
      const body = randomBytes(int(0, 64));
      if (body.length >= 4) {
        body[0] = pick([0, 3, 5, 8, 11, 13, int(0, 255)]);
        body[1] = int(0, 15);
        body.writeUInt16BE(0, 2);
        if (rnd() < 0.5) body.writeUInt16BE(inetChecksum(body), 2);
      }
      return ethFrame(dmac, srcMac, 0x0800, ip4(s, d, 1, body));
    }
    case 'other_ethertype':
      return ethFrame(dmac, srcMac, pick([0x86dd, 0x8100, 0x88cc, 0x8847, int(0, 0xffff)]), randomBytes(int(0, 100)));
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
  const srcMac = info.mac;
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
