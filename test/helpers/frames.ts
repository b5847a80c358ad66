// A tiny frame builder and a field-by-field decoder for the datapath tests and golden fixtures.
// Independent of src/: checksums are computed here from scratch (RFC 1071), so a fixture built
// with these helpers is a second opinion on the product, not a copy of it.

export type Bytes = Uint8Array;

// ---- addresses and hex ---------------------------------------------------------------------

export function ip(text: string): number {
  const p = text.split('.').map(Number);
  if (p.length !== 4 || p.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`bad ip ${text}`);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function ipStr(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function mac(text: string): Bytes {
  const p = text.split(':');
  if (p.length !== 6) throw new Error(`bad mac ${text}`);
  return Uint8Array.from(p.map((h) => parseInt(h, 16)));
}

export function macStr(b: Bytes, off = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push((b[off + i] ?? 0).toString(16).padStart(2, '0'));
  return out.join(':');
}

export const BROADCAST = 'ff:ff:ff:ff:ff:ff';

export function toHex(b: Bytes): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(h: string): Buffer {
  const clean = h.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error('bad hex');
  return Buffer.from(clean, 'hex');
}

function concat(...parts: Bytes[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

function put16(b: Bytes, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Bytes, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function get16(b: Bytes, o: number): number {
  return ((b[o] << 8) | b[o + 1]) >>> 0;
}

function get32(b: Bytes, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

// ---- checksums (RFC 1071, written independently of src/datapath/frame.ts) -------------------

export function onesSum(b: Bytes, off = 0, len = b.length - off, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < len; i += 2) s += (b[off + i] << 8) | b[off + i + 1];
  if (len % 2 === 1) s += b[off + len - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

export function inetChecksum(b: Bytes, off = 0, len = b.length - off, initial = 0): number {
  return ~onesSum(b, off, len, initial) & 0xffff;
}

function pseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

// ---- layers --------------------------------------------------------------------------------

export interface EthOpts {
  dst: string;
  src: string;
  type: number;
  /** Pad with zeros to the 60-byte Ethernet minimum (what a NIC or bridge delivers). */
  pad?: boolean;
}

export function eth(o: EthOpts, payload: Bytes): Buffer {
  const h = new Uint8Array(14);
  h.set(mac(o.dst), 0);
  h.set(mac(o.src), 6);
  put16(h, 12, o.type);
  let f = concat(h, payload);
  if (o.pad && f.length < 60) f = concat(f, new Uint8Array(60 - f.length));
  return f;
}

export interface ArpOpts {
  op: 1 | 2;
  sha: string;
  spa: string;
  tha?: string;
  tpa: string;
}

export function arp(o: ArpOpts): Buffer {
  const a = new Uint8Array(28);
  put16(a, 0, 1);
  put16(a, 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  put16(a, 6, o.op);
  a.set(mac(o.sha), 8);
  put32(a, 14, ip(o.spa));
  a.set(mac(o.tha ?? '00:00:00:00:00:00'), 18);
  put32(a, 24, ip(o.tpa));
  return Buffer.from(a);
}

export interface Ipv4Opts {
  src: string;
  dst: string;
  proto: number;
  ttl?: number;
  id?: number;
  tos?: number;
  /** Don't fragment (default true). */
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  /** IP options (padded to a multiple of 4 with zeros). */
  options?: Bytes;
  /** Override the total length field (for malformed frames). */
  totalLength?: number;
  /** Override the IHL field (for malformed frames). */
  ihl?: number;
  version?: number;
  /** Store a wrong header checksum. */
  badChecksum?: boolean;
}

export function ipv4(o: Ipv4Opts, payload: Bytes): Buffer {
  let opts: Bytes = o.options ?? new Uint8Array(0);
  if (opts.length % 4 !== 0) opts = concat(opts, new Uint8Array(4 - (opts.length % 4)));
  const hlen = 20 + opts.length;
  const h = new Uint8Array(hlen);
  h[0] = ((o.version ?? 4) << 4) | (o.ihl ?? hlen / 4);
  h[1] = o.tos ?? 0;
  put16(h, 2, o.totalLength ?? hlen + payload.length);
  put16(h, 4, o.id ?? 0);
  put16(h, 6, ((o.df ?? true) ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOffset ?? 0) & 0x1fff));
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  put32(h, 12, ip(o.src));
  put32(h, 16, ip(o.dst));
  h.set(opts, 20);
  let c = inetChecksum(h);
  if (o.badChecksum) c = c ^ 0x5a5a;
  put16(h, 10, c);
  return concat(h, payload);
}

export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

export interface TcpOpts {
  /** IP addresses, for the pseudo-header. */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: Bytes;
  payload?: Bytes;
  badChecksum?: boolean;
  /** Override the data offset (in 32-bit words) for malformed segments. */
  dataOffset?: number;
}

export function tcp(o: TcpOpts): Buffer {
  let opts: Bytes = o.options ?? new Uint8Array(0);
  if (opts.length % 4 !== 0) opts = concat(opts, new Uint8Array(4 - (opts.length % 4)).fill(1)); // NOP pad
  const hlen = 20 + opts.length;
  const h = new Uint8Array(hlen);
  put16(h, 0, o.sport);
  put16(h, 2, o.dport);
  put32(h, 4, o.seq ?? 0);
  put32(h, 8, o.ack ?? 0);
  h[12] = (o.dataOffset ?? hlen / 4) << 4;
  h[13] = o.flags;
  put16(h, 14, o.window ?? 65535);
  h.set(opts, 20);
  const seg = concat(h, o.payload ?? new Uint8Array(0));
  let c = inetChecksum(seg, 0, seg.length, pseudoSum(ip(o.src), ip(o.dst), 6, seg.length));
  if (o.badChecksum) c ^= 0x5a5a;
  put16(seg, 16, c);
  return seg;
}

/** MSS, SACK-permitted, timestamps, NOP, window scale: a Linux-like SYN option block. */
export function synOptions(mss = 1460): Buffer {
  const b = new Uint8Array(20);
  b[0] = 2; b[1] = 4; put16(b, 2, mss); // MSS
  b[4] = 4; b[5] = 2; // SACK permitted
  b[6] = 8; b[7] = 10; put32(b, 8, 0x01020304); put32(b, 12, 0); // timestamps
  b[16] = 1; // NOP
  b[17] = 3; b[18] = 3; b[19] = 7; // window scale 7
  return Buffer.from(b);
}

export interface UdpOpts {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload?: Bytes;
  /** 'none' stores 0 (no checksum), 'bad' a wrong one. */
  checksum?: 'none' | 'bad';
}

export function udp(o: UdpOpts): Buffer {
  const payload = o.payload ?? new Uint8Array(0);
  const d = new Uint8Array(8 + payload.length);
  put16(d, 0, o.sport);
  put16(d, 2, o.dport);
  put16(d, 4, d.length);
  d.set(payload, 8);
  if (o.checksum !== 'none') {
    let c = inetChecksum(d, 0, d.length, pseudoSum(ip(o.src), ip(o.dst), 17, d.length));
    if (c === 0) c = 0xffff;
    if (o.checksum === 'bad') c ^= 0x5a5a;
    put16(d, 6, c);
  }
  return Buffer.from(d);
}

/** SCTP chunk types the tests send (RFC 9260 section 3.2). */
export const SCTP_CHUNK = {
  DATA: 0, INIT: 1, INIT_ACK: 2, SACK: 3, HEARTBEAT: 4, ABORT: 6, SHUTDOWN: 7, SHUTDOWN_ACK: 8, ERROR: 9,
  COOKIE_ECHO: 10, COOKIE_ACK: 11, SHUTDOWN_COMPLETE: 14,
} as const;

export interface SctpOpts {
  sport: number;
  dport: number;
  vtag?: number;
  /** Chunks in order, each a type and a value (padded to 4 bytes here). */
  chunks: { type: number; flags?: number; value?: Bytes }[];
  /** 'bad': a wrong CRC32c. */
  checksum?: 'bad';
}

/** CRC32c bit by bit (the datapath's is table-driven): the reference the tests hold it to. */
export function crc32cBitwise(b: Bytes, off = 0, len = b.length - off): number {
  let c = 0xffffffff;
  for (let i = off; i < off + len; i++) {
    c ^= b[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (~c) >>> 0;
}

/** The SCTP packet's CRC32c is right (read least significant byte first, RFC 9260 appendix B). */
export function sctpChecksumOk(pkt: Bytes, off = 0, len = pkt.length - off): boolean {
  const copy = Buffer.from(pkt.subarray(off, off + len));
  const stored = copy.readUInt32LE(8);
  copy.writeUInt32LE(0, 8);
  return crc32cBitwise(copy) === stored;
}

export function sctp(o: SctpOpts): Buffer {
  const parts: Buffer[] = [];
  for (const c of o.chunks) {
    const v = c.value ?? new Uint8Array(0);
    const h = Buffer.alloc(4 + v.length + ((4 - (v.length % 4)) % 4));
    h[0] = c.type;
    h[1] = c.flags ?? 0;
    put16(h, 2, 4 + v.length);
    h.set(v, 4);
    parts.push(h);
  }
  const d = Buffer.concat([Buffer.alloc(12), ...parts]);
  put16(d, 0, o.sport);
  put16(d, 2, o.dport);
  put32(d, 4, o.vtag ?? 0x01020304);
  let c = crc32cBitwise(d);
  if (o.checksum === 'bad') c = (c ^ 0x5a5a5a5a) >>> 0;
  d.writeUInt32LE(c, 8);
  return d;
}

export interface IcmpOpts {
  type: number;
  code?: number;
  id?: number;
  seq?: number;
  payload?: Bytes;
}

export function icmp(o: IcmpOpts): Buffer {
  const payload = o.payload ?? new Uint8Array(0);
  const d = new Uint8Array(8 + payload.length);
  d[0] = o.type;
  d[1] = o.code ?? 0;
  put16(d, 4, o.id ?? 0);
  put16(d, 6, o.seq ?? 0);
  d.set(payload, 8);
  put16(d, 2, inetChecksum(d));
  return Buffer.from(d);
}

// ---- whole frames --------------------------------------------------------------------------

export interface L2 {
  ethDst: string;
  ethSrc: string;
  pad?: boolean;
}

/** The IPv4 fields of a default-TTL packet uvsd forwarded: one hop less (IPVS decrement_ttl). */
export const FWD_IP: IpFields = { ttl: 63 };

/** A copy of an Ethernet/IPv4 frame one hop on: TTL one less, the header checksum computed afresh. */
export function hopped(frame: Bytes): Buffer {
  const f = Buffer.from(frame);
  f[14 + 8]--;
  f.writeUInt16BE(0, 14 + 10);
  f.writeUInt16BE(inetChecksum(f, 14, (f[14] & 15) * 4), 14 + 10);
  return f;
}

export function arpFrame(l2: L2, a: ArpOpts): Buffer {
  return eth({ dst: l2.ethDst, src: l2.ethSrc, type: 0x0806, pad: l2.pad }, arp(a));
}

export type IpFields = Omit<Ipv4Opts, 'src' | 'dst' | 'proto'>;

export function tcpFrame(l2: L2, t: TcpOpts, ipo: IpFields = {}): Buffer {
  return eth({ dst: l2.ethDst, src: l2.ethSrc, type: 0x0800, pad: l2.pad }, ipv4({ ...ipo, src: t.src, dst: t.dst, proto: 6 }, tcp(t)));
}

export function udpFrame(l2: L2, u: UdpOpts, ipo: IpFields = {}): Buffer {
  return eth({ dst: l2.ethDst, src: l2.ethSrc, type: 0x0800, pad: l2.pad }, ipv4({ ...ipo, src: u.src, dst: u.dst, proto: 17 }, udp(u)));
}

export function sctpFrame(l2: L2, addrs: { src: string; dst: string }, o: SctpOpts, ipo: IpFields = {}): Buffer {
  return eth({ dst: l2.ethDst, src: l2.ethSrc, type: 0x0800, pad: l2.pad }, ipv4({ ...ipo, ...addrs, proto: 132 }, sctp(o)));
}

export function icmpFrame(l2: L2, addrs: { src: string; dst: string }, i: IcmpOpts, ipo: IpFields = {}): Buffer {
  return eth({ dst: l2.ethDst, src: l2.ethSrc, type: 0x0800, pad: l2.pad }, ipv4({ ...ipo, ...addrs, proto: 1 }, icmp(i)));
}

// ---- decoder -------------------------------------------------------------------------------

const ETHERTYPES: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q' };
const PROTOS: Record<number, string> = { 1: 'ICMP', 4: 'IPIP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

function hex16(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0');
}

function tcpFlagNames(f: number): string {
  const n: string[] = [];
  for (const [k, v] of Object.entries(TCP_FLAGS)) if (f & v) n.push(k);
  if (f & 0xc0) n.push(`0x${(f & 0xc0).toString(16)}`);
  return n.length ? n.join('|') : 'none';
}

/** One "field: value" line per field; never throws, marks where the frame ends early. */
export function decodeLines(f: Bytes): string[] {
  const out: string[] = [`frame.length: ${f.length}`];
  const need = (n: number, what: string): boolean => {
    if (f.length >= n) return true;
    out.push(`(truncated: ${what} needs ${n} bytes)`);
    return false;
  };
  if (!need(14, 'Ethernet header')) return out;
  out.push(`eth.dst: ${macStr(f, 0)}`, `eth.src: ${macStr(f, 6)}`);
  const type = get16(f, 12);
  out.push(`eth.type: ${hex16(type)} ${ETHERTYPES[type] ?? ''}`.trimEnd());
  if (type === 0x0806) {
    const a = 14;
    if (!need(a + 28, 'ARP')) return out;
    out.push(
      `arp.htype: ${get16(f, a)}`, `arp.ptype: ${hex16(get16(f, a + 2))}`, `arp.hlen: ${f[a + 4]}`, `arp.plen: ${f[a + 5]}`,
      `arp.op: ${get16(f, a + 6)} ${get16(f, a + 6) === 1 ? 'request' : get16(f, a + 6) === 2 ? 'reply' : ''}`.trimEnd(),
      `arp.sha: ${macStr(f, a + 8)}`, `arp.spa: ${ipStr(get32(f, a + 14))}`,
      `arp.tha: ${macStr(f, a + 18)}`, `arp.tpa: ${ipStr(get32(f, a + 24))}`,
    );
    if (f.length > a + 28) out.push(`trailer: ${f.length - a - 28} bytes ${toHex(f.subarray(a + 28))}`);
    return out;
  }
  if (type !== 0x0800) {
    out.push(`payload: ${toHex(f.subarray(14))}`);
    return out;
  }
  const i = 14;
  if (!need(i + 20, 'IPv4 header')) {
    out.push(`bytes: ${toHex(f.subarray(14))}`);
    return out;
  }
  const hlen = (f[i] & 15) * 4;
  const tot = get16(f, i + 2);
  const frag = get16(f, i + 6);
  const csumOk = f.length >= i + hlen && hlen >= 20 && onesSum(f, i, hlen) === 0xffff;
  out.push(
    `ip.version: ${f[i] >> 4}`, `ip.ihl: ${hlen}`, `ip.tos: ${f[i + 1]}`, `ip.total_length: ${tot}`,
    `ip.id: ${hex16(get16(f, i + 4))}`,
    `ip.flags: ${frag & 0x4000 ? 'DF' : ''}${frag & 0x2000 ? ' MF' : ''}${frag & 0x8000 ? ' RSV' : ''}`.trimEnd(),
    `ip.frag_offset: ${frag & 0x1fff}`, `ip.ttl: ${f[i + 8]}`,
    `ip.proto: ${f[i + 9]} ${PROTOS[f[i + 9]] ?? ''}`.trimEnd(),
    `ip.checksum: ${hex16(get16(f, i + 10))} ${csumOk ? '(valid)' : '(INVALID)'}`,
    `ip.src: ${ipStr(get32(f, i + 12))}`, `ip.dst: ${ipStr(get32(f, i + 16))}`,
  );
  if (hlen > 20 && f.length >= i + hlen) out.push(`ip.options: ${toHex(f.subarray(i + 20, i + hlen))}`);
  if (hlen < 20 || f.length < i + hlen) return out;
  const l4 = i + hlen;
  const end = Math.min(f.length, i + Math.max(tot, hlen));
  const l4len = end - l4;
  const src = get32(f, i + 12);
  const dst = get32(f, i + 16);
  const proto = f[i + 9];
  if (proto === 6) {
    if (!need(l4 + 20, 'TCP header')) return out;
    const off = (f[l4 + 12] >> 4) * 4;
    const ok = l4len >= 20 && onesSum(f, l4, l4len, pseudoSum(src, dst, 6, l4len)) === 0xffff;
    out.push(
      `tcp.sport: ${get16(f, l4)}`, `tcp.dport: ${get16(f, l4 + 2)}`, `tcp.seq: ${get32(f, l4 + 4)}`,
      `tcp.ack: ${get32(f, l4 + 8)}`, `tcp.data_offset: ${off}`, `tcp.flags: ${tcpFlagNames(f[l4 + 13])}`,
      `tcp.window: ${get16(f, l4 + 14)}`, `tcp.checksum: ${hex16(get16(f, l4 + 16))} ${ok ? '(valid)' : '(INVALID)'}`,
      `tcp.urgent: ${get16(f, l4 + 18)}`,
    );
    if (off > 20 && f.length >= l4 + off) out.push(`tcp.options: ${toHex(f.subarray(l4 + 20, l4 + off))}`);
    if (l4len > off) out.push(`tcp.payload: ${l4len - off} bytes ${toHex(f.subarray(l4 + off, end))}`);
  } else if (proto === 17) {
    if (!need(l4 + 8, 'UDP header')) return out;
    const c = get16(f, l4 + 6);
    const ok = c === 0 || onesSum(f, l4, l4len, pseudoSum(src, dst, 17, l4len)) === 0xffff;
    out.push(
      `udp.sport: ${get16(f, l4)}`, `udp.dport: ${get16(f, l4 + 2)}`, `udp.length: ${get16(f, l4 + 4)}`,
      `udp.checksum: ${hex16(c)} ${c === 0 ? '(none)' : ok ? '(valid)' : '(INVALID)'}`,
      `udp.payload: ${l4len - 8} bytes ${toHex(f.subarray(l4 + 8, end))}`,
    );
  } else if (proto === 1) {
    if (!need(l4 + 8, 'ICMP header')) return out;
    const ok = onesSum(f, l4, l4len) === 0xffff;
    out.push(
      `icmp.type: ${f[l4]}`, `icmp.code: ${f[l4 + 1]}`,
      `icmp.checksum: ${hex16(get16(f, l4 + 2))} ${ok ? '(valid)' : '(INVALID)'}`,
      `icmp.id: ${get16(f, l4 + 4)}`, `icmp.seq: ${get16(f, l4 + 6)}`,
      `icmp.payload: ${l4len - 8} bytes ${toHex(f.subarray(l4 + 8, end))}`,
    );
  } else if (proto === 132) {
    if (!need(l4 + 12, 'SCTP header')) return out;
    const ok = sctpChecksumOk(f, l4, l4len);
    out.push(
      `sctp.sport: ${get16(f, l4)}`, `sctp.dport: ${get16(f, l4 + 2)}`, `sctp.vtag: ${hex16(get16(f, l4 + 4))}${get16(f, l4 + 6).toString(16).padStart(4, '0')}`,
      `sctp.checksum: ${ok ? '(valid)' : '(INVALID)'}`, `sctp.chunks: ${toHex(f.subarray(l4 + 12, end))}`,
    );
  } else {
    out.push(`ip.payload: ${toHex(f.subarray(l4, end))}`);
  }
  if (f.length > end) out.push(`eth.padding: ${f.length - end} bytes ${toHex(f.subarray(end))}`);
  return out;
}

export function decode(f: Bytes): string {
  return decodeLines(f).join('\n');
}

/** Both frames decoded side by side; differing lines are marked with '!'. */
export function frameDiff(actual: Bytes, expected: Bytes): string {
  const a = decodeLines(actual);
  const e = decodeLines(expected);
  const w = Math.max(24, ...a.map((l) => l.length));
  const rows = [`  ${'actual'.padEnd(w)} | expected`];
  for (let k = 0; k < Math.max(a.length, e.length); k++) {
    const l = a[k] ?? '';
    const r = e[k] ?? '';
    rows.push(`${l === r ? ' ' : '!'} ${l.padEnd(w)} | ${r}`);
  }
  rows.push(`  actual hex:   ${toHex(actual)}`, `  expected hex: ${toHex(expected)}`);
  return rows.join('\n');
}

// ---- checksum offload (virtio_net_hdr, uvsd --offload) ---------------------------------------

/** The vnet header fields of a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
export interface PartialCsum {
  flags: number;
  csumStart: number;
  csumOffset: number;
  gsoType?: number;
  gsoSize?: number;
  hdrLen?: number;
}

function l4Of(f: Bytes): { ipOff: number; l4: number; proto: number; l4len: number } {
  const ipOff = 14;
  const ihl = (f[ipOff] & 15) * 4;
  return { ipOff, l4: ipOff + ihl, proto: f[ipOff + 9], l4len: get16(f, ipOff + 2) - ihl };
}

/**
 * A TCP/UDP frame as a Linux sender with checksum offload hands it over: the L4 checksum field
 * holds the folded pseudo-header sum, not inverted (tcp_v4_send_check / udp4_hwcsum), and the
 * header says where the checksum starts and sits. `gso` adds TSO fields (gso_type TCPV4).
 */
export function partialCsum(frame: Bytes, gso?: { size: number }): { frame: Buffer; vnet: PartialCsum } {
  const f = Buffer.from(frame);
  const { ipOff, l4, proto, l4len } = l4Of(f);
  const field = proto === 6 ? 16 : 6;
  put16(f, l4 + field, onesSum(f, 0, 0, pseudoSum(get32(f, ipOff + 12), get32(f, ipOff + 16), proto, l4len)));
  const vnet: PartialCsum = { flags: 1, csumStart: l4, csumOffset: field };
  if (gso) {
    vnet.gsoType = 1;
    vnet.gsoSize = gso.size;
    vnet.hdrLen = l4 + (f[l4 + 12] >> 4) * 4;
  }
  return { frame: f, vnet };
}

/** What the kernel (skb_checksum_help) does with a partial checksum: sum from csum_start to the
 *  end of the packet and store the complement at csum_start + csum_offset. A copy. */
export function completeCsum(frame: Bytes, v: { csumStart: number; csumOffset: number }): Buffer {
  const f = Buffer.from(frame);
  const end = 14 + get16(f, 16);
  put16(f, v.csumStart + v.csumOffset, inetChecksum(f, v.csumStart, end - v.csumStart));
  return f;
}

/** The TCP/UDP checksum is right for the frame's own addresses (UDP 0 = none counts as right). */
export function l4ChecksumOk(frame: Bytes): boolean {
  const { ipOff, l4, proto, l4len } = l4Of(frame);
  if (proto === 17 && get16(frame, l4 + 6) === 0) return true;
  return onesSum(frame, l4, l4len, pseudoSum(get32(frame, ipOff + 12), get32(frame, ipOff + 16), proto, l4len)) === 0xffff;
}
