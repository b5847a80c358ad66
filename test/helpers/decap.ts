// uvs-decap's view of its host (src/modes/decap.ts DecapHost) for tests, addresses as text; and
// what a router between the director and the server does to a tunnelled packet without DF.
import { inetChecksum, ip, mac } from './frames.js';
import { setHostMac, type DecapHost } from '../../src/modes/decap.js';

export function decapHost(o: { vips: string[]; locals: string[]; mac: string; guePort?: number }): DecapHost {
  const host: DecapHost = { vips: new Set(o.vips.map((v) => ip(v) | 0)), locals: new Set(o.locals.map((v) => ip(v) | 0)), macHi: 0, macLo: 0, guePort: o.guePort ?? 0 };
  setHostMac(host, mac(o.mac));
  return host;
}

/** The IPv4 packet in an Ethernet frame cut as a router with a 1280-byte MTU cuts it (data in
 *  pieces of 1256 bytes), each fragment in the frame's Ethernet header. */
export function routerFragments(frame: Buffer): Buffer[] {
  const l2 = frame.subarray(0, 14);
  const pkt = frame.subarray(14);
  const ihl = (pkt[0]! & 15) * 4;
  const data = pkt.subarray(ihl, pkt.readUInt16BE(2));
  const frag0 = pkt.readUInt16BE(6);
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += 1256) {
    const piece = data.subarray(off, Math.min(off + 1256, data.length));
    const h = Buffer.from(pkt.subarray(0, ihl));
    h.writeUInt16BE(ihl + piece.length, 2);
    h.writeUInt16BE((off + piece.length < data.length ? 0x2000 : frag0 & 0x2000) | ((frag0 & 0x1fff) + off / 8), 6);
    h.writeUInt16BE(0, 10);
    h.writeUInt16BE(inetChecksum(h), 10);
    out.push(Buffer.concat([l2, h, piece]));
  }
  return out;
}
