// The forwarder interface, like IPVS's cp->packet_xmit / DPVS packet_xmit + packet_out_xmit:
// chosen once per connection and stored on the entry as a small integer, so the per-packet path
// never re-decides the method. A forwarder is two-way and owns its lifecycle (bind/unbind).
// L4 rewriting lives in the protocol layer (src/proto/); L3/L2 output (route, neighbour, MAC,
// generated frames) is the datapath's, offered here as `Output`. A method file only composes them.

import type { ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';
import type { LaddrPools } from './laddr.js';

export const FWD_DR = 0;
export const FWD_NAT = 1;
export const FWD_TUN = 2;
export const FWD_FULLNAT = 3;

/**
 * Output.answerSlot: no answer to this source (not one the kernel answers, or no route), uncounted.
 * Not -1, which is genSlot's "no slot left" (counted tx_failed by answerSlot): a caller that counts
 * NO_ANSWER itself (tunRelayError: no_route) would count that one event twice.
 */
export const NO_ANSWER = -3;

/** What the datapath offers a forwarder. */
export interface Output {
  readonly ct: ConnTable;
  readonly dt: DestTable;
  /** The datapath's clock in conntable ticks (TICK_MS), read once per batch and per tick. */
  readonly nowTick: number;
  /** MTU of the link (IP bytes per frame, without the Ethernet header). */
  readonly mtu: number;
  /** Free bytes in front of each received frame of this batch (0: none; then copy to genBuf);
   *  with a vnet header they include the frame's own header (a forwarder may overwrite it). */
  readonly headroom: number;
  /** Bytes of virtio_net_hdr in front of every frame sent and received (0: none; vnet.ts). */
  readonly vnetHdr: number;
  /** The current frame's L4 checksum is partial (vnet NEEDS_CSUM): rewrite it with `partial`.
   *  A frame uvsd builds (complete checksum) is forwarded with it false: see fullCsum(). */
  csumPartial: boolean;
  /** The current frame's GSO type (0: an ordinary frame; else a TCP super-segment of gsoSize). */
  readonly gsoType: number;
  readonly gsoSize: number;
  /** uvsd --toa: FULLNAT TCP connections tell their server the client's address (src/proto/toa.ts). */
  readonly toa: boolean;
  /** FULLNAT local addresses and their port pools, per service. */
  readonly laddrs: LaddrPools;
  /** Service id of a destination slot (for per-service state such as local addresses). */
  readonly destSvc: Int32Array;
  /**
   * Send buf[off, off+len) (a whole Ethernet frame, from the receive buffer or a generated slot)
   * towards IP host `ip` by L3 route: on-link directly, off-link through --gateway. Neighbour
   * lookup, MAC rewrite, tx batch (or the neighbour waiting queue). Unroutable: counted no_route.
   */
  toHost(buf: Buffer, off: number, len: number, ip: number): void;
  /** Send a frame of the receive buffer, answered in place, back to the MAC it came from. */
  reply(buf: Buffer, off: number, len: number): void;
  /** Same as toHost (the DR name: the host must be on-link, checked at configuration time). */
  toNeighbour(buf: Buffer, off: number, len: number, ip: number): void;
  /** The director address to use as the source towards `ip` (the --addr on its network, else the first). */
  srcFor(ip: number): number;
  /**
   * An IP ID for a header uvsd adds (TUN's outer header): the next of this datapath's counter
   * (0..65535), so every outer packet has its own, as the kernel's iptunnel_xmit (__ip_select_ident).
   */
  nextIpId(): number;
  /** Offset of a free generated-frame slot (genBuf, GEN_SLOT_BYTES each) or -1 when none is left. */
  genSlot(): number;
  /**
   * A generated-frame slot for an answer (ICMP error, reset) to `src`, or a negative number:
   * NO_ANSWER (counted nowhere) for a source the kernel never answers or without a route (frames
   * to a broadcast MAC never get this far); another when over the daemon's ICMP rate limit
   * (`limited`, a C.* counter, counts it: -2) or when none is left in this batch (tx_failed
   * counted: -1).
   */
  answerSlot(src: number, limited: number): number;
  /**
   * The same for ICMP "fragmentation needed" (TUN): never rate-limited, as the kernel never limits
   * PMTU discovery (icmpv4_mask_allow); one per oversized DF packet received, never larger than
   * it, so no amplification. Negative as answerSlot's: NO_ANSWER, or no slot left (tx_failed).
   */
  pmtuSlot(src: number): number;
  /** A reset from the VIP answering the client segment at buf[ip]/[l4] to its source `src`
   *  (seq = its ack), through answerSlot (rate limit) and counted (tcp_rst_sent). */
  reset(buf: Buffer, ip: number, l4: number, src: number): void;
  readonly genBuf: Buffer;
  /** Write the frames built in genBuf so far now, freeing every slot (many segments of one frame). */
  genFlush(): void;
  /** Copy bytes of a received frame into genBuf without allocating. */
  copyToGen(src: Buffer, srcOff: number, genOff: number, len: number): void;
  /**
   * The packet at buf[ip..] goes one hop on (TTL one less, as IPVS decrement_ttl); false when its
   * TTL ran out: dropped and counted (ttl_exceeded), its sender told by ICMP unless l4 is -1.
   * The pipeline does it for every packet it hands a forwarder; packets a mode sends on itself
   * (the SYN proxy's held segments) call it.
   */
  hop(buf: Buffer, ip: number, l4: number): boolean;
  /**
   * Count a packet of connection e that the pipeline did not hand its forwarder (an ICMP error
   * relayed for it) in its server's statistics and the totals: towards the server InPkts/InBytes,
   * else OutPkts/OutBytes, `bytes` of IP (the kernel's ip_vs_in_stats / ip_vs_out_stats).
   */
  countPacket(e: number, toServer: boolean, bytes: number): void;
  /** Count a drop by reason (D.* from src/datapath/counters.ts). */
  drop(reason: number): void;
  /** Count an event (C.* from src/datapath/counters.ts). */
  count(counter: number): void;
  /** TUN servers that answered a wrapped packet with protocol or port unreachable (src/datapath/nodecap.ts). */
  readonly noDecap: Int32Array;
}

export interface Forwarder {
  readonly id: number;
  /** The director never sees the server's replies (DR, TUN): TCP uses the INPUT_ONLY table. */
  readonly noOutput: boolean;
  /**
   * A new connection `e` (tuple and destination filled in, not yet hashed for replies). FULLNAT
   * takes its local address and port here (ct.laddr/lport). false = refuse the new flow (the
   * forwarder counted why); the entry is discarded.
   */
  bind?(o: Output, e: number): boolean;
  /**
   * A client→server packet of connection `e`. `off` is the frame, `ip` the IPv4 header offset,
   * `l4` the L4 header offset, or -1 for a non-first fragment (no L4 header in this frame),
   * `len` the frame length trimmed to the IP total length.
   */
  inbound(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void;
  /** A server→client packet of connection `e` (NAT, FULLNAT). */
  outbound?(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void;
  /**
   * An ICMP error whose quoted header belongs to connection `e`. `inner` is the quoted IP header's
   * offset; `toServer` says the error travels client→server (it quotes a server→client packet).
   * false: not sent on (the forwarder counted the drop).
   */
  icmp?(o: Output, buf: Buffer, off: number, len: number, ip: number, inner: number, e: number, toServer: boolean): boolean;
  /** The connection expires (FULLNAT releases its local port). */
  unbind?(o: Output, e: number): void;
}
