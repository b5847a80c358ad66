// Address helpers shared by control and datapath. Addresses live as uint32 numbers (host
// order) everywhere in the datapath; strings exist only at the control edge.

// Strict dotted quad: no hostnames, no leading zeros (inet_aton would read them as octal),
// no shorthand like "10.1".

/**
 * Dotted quad → uint32, or -1 when the text is not an IPv4 address: four octets of 1-3 digits,
 * none with a leading zero, each up to 255. Read a character at a time: the regular expression
 * it replaced (/^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/) made a match array and four strings per
 * address (a reload of 10,000 x 4 servers reads each address more than once).
 */
export function parseIp(text: string): number {
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  let v = 0;
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (text.charCodeAt(i) !== 46) return -1; // '.'
      i++;
    }
    const start = i;
    let o = 0;
    while (i < n && i - start < 4) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      o = o * 10 + c;
      i++;
    }
    const len = i - start;
    // 1 to 3 digits, no leading zero (inet_aton would read it as octal), up to 255.
    if (len === 0 || len > 3 || (len > 1 && text.charCodeAt(start) === 48) || o > 255) return -1;
    v = v * 256 + o;
  }
  return i === n ? v : -1;
}

/**
 * Is `ip` (int32 or uint32) a source address the kernel drops as a martian before IPVS sees it
 * (ip_route_input_slow: ipv4_is_multicast, ipv4_is_lbcast, ipv4_is_zeronet, ipv4_is_loopback)?
 * 0.0.0.0/8, loopback 127.0.0.0/8, multicast 224.0.0.0/4 and the limited broadcast
 * 255.255.255.255. Not the rest of class E, 240.0.0.0/4: the kernel routes those sources as
 * any unicast one (ipv4_is_multicast is 224/4 only). A connected network's broadcast address is
 * Link's question (unicastPeer), not this one.
 */
export function martianSource(ip: number): boolean {
  const hi = ip >>> 24;
  return hi === 0 || hi === 127 || (hi & 0xf0) === 0xe0 || (ip | 0) === -1;
}

export function formatIp(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** "a.b.c.d/len" → {ip, len, mask}; throws with the offending text. */
export function parseCidr(text: string): { ip: number; len: number; mask: number } {
  // The prefix is required: it says which real servers are on the link.
  const slash = text.indexOf('/');
  const ip = slash < 0 ? -1 : parseIp(text.slice(0, slash));
  const len = Number(text.slice(slash + 1));
  if (ip < 0 || !/^\d{1,2}$/.test(text.slice(slash + 1)) || len > 32) {
    throw new Error(`invalid address "${text}" (expected a.b.c.d/len)`);
  }
  return { ip, len, mask: prefixMask(len) };
}

export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

const MAC = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i;

/** "aa:bb:cc:dd:ee:ff" → 6 bytes; throws with the offending text. */
export function parseMac(text: string): Uint8Array {
  const m = MAC.exec(text);
  if (m === null) throw new Error(`invalid MAC address "${text}"`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(m[i + 1], 16);
  return out;
}

export function formatMac(b: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[off + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** A locally administered unicast MAC (02:xx:...) from random bytes (or any 6 bytes: a hash's). */
export function randomLocalMac(rand: (n: number) => Uint8Array): Uint8Array {
  const b = rand(6);
  b[0] = (b[0] & 0xfc) | 0x02;
  return b;
}

/** A directly connected network: a director address and its prefix. */
export interface LinkAddr {
  ip: number;
  mask: number;
  /** Moves with the master role (uvsd --addr CIDR,floating): a backup neither answers for it nor uses it. */
  floating?: boolean;
}

/** A director address as --addr, the config file and uvsadm --status write it: "a.b.c.d/len[,floating]". */
export function formatAddr(a: LinkAddr): string {
  let len = 0;
  for (let x = a.mask >>> 0; x !== 0; x = (x << 1) >>> 0) len++;
  return `${formatIp(a.ip)}/${len}${a.floating === true ? ',floating' : ''}`;
}

/** The directly connected network that holds ip, or undefined when ip is off-link. */
export function networkOf(addrs: readonly LinkAddr[], ip: number): LinkAddr | undefined {
  for (let i = 0; i < addrs.length; i++) {
    const a = addrs[i];
    if (((ip ^ a.ip) & a.mask) === 0) return a;
  }
  return undefined;
}

/**
 * Why ip cannot be a VIP or a real server (as IPVS refuses non-unicast addresses), or undefined.
 * `addrs` are uvsd's director addresses: their networks' network and broadcast addresses and the
 * addresses themselves are refused too.
 */
export function unicastProblem(ip: number, addrs: readonly LinkAddr[]): string | undefined {
  const u = ip >>> 0;
  const host = hostProblem(u);
  if (host !== undefined) return host;
  for (const a of addrs) {
    if ((a.ip >>> 0) === u) return `${formatIp(u)} is uvsd's own director address`;
    const edge = networkEdge(u, a.mask);
    if (edge !== undefined && ((u ^ a.ip) & a.mask) === 0) return `${formatIp(u)} is the ${edge} address of ${formatIp(a.ip)}'s network`;
  }
  return undefined;
}

/**
 * Why `a` cannot be a director address (uvsd --addr, daemon.addresses): no unicast host, the
 * network or broadcast address of its own network, or a /0 (every address would be on the link,
 * so every real server "directly connected").
 */
export function linkAddrProblem(a: LinkAddr): string | undefined {
  const u = a.ip >>> 0;
  if (a.mask === 0) return 'a /0 network puts every address on the link';
  const host = hostProblem(u);
  if (host !== undefined) return host;
  const edge = networkEdge(u, a.mask);
  return edge === undefined ? undefined : `${formatIp(u)} is the ${edge} address of ${formatAddr({ ip: u & a.mask, mask: a.mask })}`;
}

/** Why u (uint32) is no unicast host address whatever the networks, or undefined. */
function hostProblem(u: number): string | undefined {
  const first = u >>> 24;
  if (u === 0) return '0.0.0.0 is not a host address';
  if (u === 0xffffffff) return '255.255.255.255 is the broadcast address';
  if (first === 127) return `${formatIp(u)} is a loopback address`;
  if (first >= 224 && first <= 239) return `${formatIp(u)} is a multicast address`;
  if (first >= 240) return `${formatIp(u)} is a reserved (class E) address`;
  return undefined;
}

/** 'network' or 'broadcast' when u has all host bits of `mask` clear or set (not for /31 and /32). */
function networkEdge(u: number, mask: number): 'network' | 'broadcast' | undefined {
  const m = mask >>> 0;
  if (m >= 0xfffffffe) return undefined;
  const hostBits = (u & ~m) >>> 0;
  return hostBits === 0 ? 'network' : hostBits === (~m >>> 0) ? 'broadcast' : undefined;
}
