// The L4 address/port rewrite shared by NAT and FULLNAT (both directions) and by the ICMP
// translation: IPv4 address + TCP/UDP port, with RFC 1624 incremental checksums. The TCP/UDP
// pseudo-header holds the addresses, so an address change moves the L4 checksum too; that also
// works for the first fragment of a fragmented datagram, whose L4 checksum covers all of it.
// Non-first fragments carry no L4 header: pass l4 = -1 and only the IP header changes.
// SCTP's checksum covers no addresses: only its port changes here, and the forwarder computes
// its CRC32c again once both rewrites are done (sctpRewritten).
// With `partial` (the frame's vnet header says VIRTIO_NET_HDR_F_NEEDS_CSUM, src/datapath/vnet.ts)
// the L4 field holds only the pseudo-header sum, not inverted: it moves with the address alone
// (as the kernel's inet_proto_csum_replace4 with pseudohdr on a CHECKSUM_PARTIAL skb), the port
// is summed later by whoever completes the checksum.

import { IP_CSUM, IP_DST, IP_SRC, IP_TOTLEN, PROTO_SCTP, PROTO_TCP, PROTO_UDP, csumReplace16, csumReplace32, rd16, rd32, wr16, wr32 } from '../datapath/frame.js';
import { TCP_CSUM } from './tcp.js';
import { UDP_CSUM } from './udp.js';
import { sctpSetChecksum } from './sctp.js';

/** Rewrite one address (IP_SRC or IP_DST at `field`) and its port (l4 + 0 or 2). */
function rewrite(
  buf: Buffer, ip: number, l4: number, proto: number, field: number, portOff: number, addr: number, port: number, partial: boolean,
): void {
  const old = rd32(buf, ip + field);
  if (old !== addr) {
    wr16(buf, ip + IP_CSUM, csumReplace32(rd16(buf, ip + IP_CSUM), old, addr));
    wr32(buf, ip + field, addr);
  }
  if (l4 < 0) return;
  const oldPort = rd16(buf, l4 + portOff);
  if (partial && proto !== PROTO_SCTP) {
    const at = l4 + (proto === PROTO_TCP ? TCP_CSUM : UDP_CSUM);
    // S' = S - old + new on the non-inverted sum: the inverted update applied to ~S, inverted back.
    if (old !== addr) wr16(buf, at, ~csumReplace32(~rd16(buf, at) & 0xffff, old, addr) & 0xffff);
  } else if (proto === PROTO_TCP) {
    let c = csumReplace32(rd16(buf, l4 + TCP_CSUM), old, addr);
    c = csumReplace16(c, oldPort, port);
    wr16(buf, l4 + TCP_CSUM, c);
  } else if (proto === PROTO_UDP) {
    const c0 = rd16(buf, l4 + UDP_CSUM);
    if (c0 !== 0) {
      let c = csumReplace32(c0, old, addr);
      c = csumReplace16(c, oldPort, port);
      wr16(buf, l4 + UDP_CSUM, c === 0 ? 0xffff : c);
    }
  }
  wr16(buf, l4 + portOff, port);
}

/** Destination NAT: dst address → addr, dst port → port. */
export function setDst(buf: Buffer, ip: number, l4: number, proto: number, addr: number, port: number, partial = false): void {
  rewrite(buf, ip, l4, proto, IP_DST, 2, addr, port, partial);
}

/** Source NAT: src address → addr, src port → port. */
export function setSrc(buf: Buffer, ip: number, l4: number, proto: number, addr: number, port: number, partial = false): void {
  rewrite(buf, ip, l4, proto, IP_SRC, 0, addr, port, partial);
}

/** After NAT/FULLNAT rewrote an SCTP packet's ports: its CRC32c again (the whole packet, RFC 9260 B). */
export function sctpRewritten(buf: Buffer, ip: number, l4: number, proto: number): void {
  if (proto === PROTO_SCTP) sctpSetChecksum(buf, l4, rd16(buf, ip + IP_TOTLEN) - (l4 - ip));
}
