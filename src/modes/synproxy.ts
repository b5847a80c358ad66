// SYN proxy for NAT and FULLNAT services (uvsadm -A ... --synproxy; DPVS's synproxy): uvsd
// answers a client's SYN itself with a SYN cookie (src/proto/syncookie.ts) and keeps nothing, so
// a flood of spoofed SYNs never reaches a real server or the connection table. Only the client's
// ACK with a valid cookie makes a connection entry; then:
//
//   client                      uvsd                              server
//   SYN (cisn) ───────────────► answered in place, no entry
//   ◄──────── SYN|ACK (cookie, window = one segment, options: below)
//   ACK (ack = cookie+1) ─────► entry (SYN_SENT), segment held ──► SYN (cisn, the client's options)
//   [data] ───────────────────► held if nothing but the ACK is     ◄── SYN|ACK (sisn)
//                               held, else dropped (retransmitted)
//                               held segment, ack moved ─────────► completes the server's handshake
//   from then on (ESTABLISHED): delta = sisn - cookie; client→server ack and SACK edges += delta,
//   server→client seq -= delta (the client's own sequence numbers pass unchanged).
//   No SYN|ACK: the SYN goes again 1, 3 and 7 s after the first; at 15 s the client gets a reset
//   (uvsd --synproxy-syn-retries N: N times, 1, 3, ... (2^N - 1) s after it; reset at (2^(N+1) - 1) s).
//
// TCP options: a client SYN without timestamps gets MSS only (nothing else could be kept without
// state). One with timestamps gets MSS, timestamps whose TSval carries the client's window scale
// and SACK-permitted (syncookie.ts cookieTsval; its ACK echoes them), SACK-permitted and window
// scale SYNPROXY_WSCALE if it offered them. The SYN to the server carries the client's own (its
// MSS as the cookie kept it, window scale, SACK-permitted, TSval). Once the server answered,
// each segment is translated (translate()): timestamps by tsoff (server TSval - the TSval of our
// SYN|ACK): server→client TSval -= tsoff, client→server TSecr += tsoff; and the server's windows
// rescaled to SYNPROXY_WSCALE when its scale differs (windowShifts), so any server works whatever
// scale it picks. The SYN|ACK's window of one segment keeps the client from sending more than
// the one segment uvsd holds before the server's own window reaches it.
// Forwarders (NAT/FULLNAT) do all address rewriting: frames are built with the client's tuple
// and handed to the entry's forwarder, as the client's own packets are.

import { randomFillSync } from 'node:crypto';
import { C, D } from '../datapath/counters.js';
import { F_CONFIRMED, F_INACTIVE, F_SYNPROXY, F_TOA, TICK_MS, type ConnTable } from '../datapath/conntable.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_SRC, IP_TOTLEN, IP_TTL, PROTO_TCP, TCP_ACK, TCP_RST, TCP_SYN,
  csumReplace16, csumReplace32, ipv4Own, ipv4SetChecksum, rd16, rd32, wr16, wr32,
} from '../datapath/frame.js';
import { S_ESTABLISHED } from '../datapath/tcpstate.js';
import { MSS_TABLE, SynCookies, TSC_NO_WSCALE, TSC_SACK, TSC_WSCALE, cookieTsval } from '../proto/syncookie.js';
import {
  HO_LEN, HO_MSS, HO_SACK, HO_TS, HO_TSECR, HO_TSVAL, HO_WSCALE, TCP_ACKNO, TCP_CSUM, TCP_DOFF, TCP_FLAGS, TCP_SEQ, TCP_WINDOW, TCPOPT_MSS,
  TCPOPT_SACK, TCPOPT_SACK_PERM, TCPOPT_TS, TCPOPT_WSCALE, tcpAddSeq, tcpChecksumOk, tcpDataStart, tcpHandshakeOptions, tcpHeader, tcpNextOption,
  tcpSetChecksum, tcpSetWindow,
} from '../proto/tcp.js';
import { FORWARDERS } from './index.js';
import { TCPOLEN_TOA } from '../proto/toa.js';
import { FWD_FULLNAT, type Forwarder, type Output } from './types.js';
import { SYNPROXY_SYN_RETRIES } from '../defaults.js';

/** Connections waiting for their server's SYN|ACK at most (each holds one client segment). */
export const SYNPROXY_HELD_MAX = 1024;
/** One real server's connections hold at most 1/SYNPROXY_SERVER_SHARE of the slots (at least one):
 *  a server that never answers holds them until they are given up (due()), and takes no more. */
const SYNPROXY_SERVER_SHARE = 8;
/** A server that has not answered gets the SYN again RETRY_TICKS later, then after twice, four
 *  times as long (with the default 3 retries 1, 3 and 7 s after the first, as Linux's SYN backoff;
 *  DPVS rs_syn_max_retry 3, Alibaba LVS synproxy_syn_retry); one interval twice as long again after
 *  the last (15 s after the first) the client gets a reset. */
const RETRY_TICKS = 1000 / TICK_MS;
/** uvsd --synproxy-syn-retries: its default and most (src/defaults.ts). */
export { SYNPROXY_SYN_RETRIES, SYNPROXY_SYN_RETRIES_MAX } from '../defaults.js';

/** The window scale offered to a client that offers its own (with timestamps): Linux's for
 *  tcp_rmem's 32 MiB. A server's windows are rescaled to it when its own scale differs. */
export const SYNPROXY_WSCALE = 10;

/** Bytes of the TCP header writeHandshake writes for options `tsc` (-1: MSS only). */
function handshakeLen(tsc: number): number {
  return tsc < 0 ? 24 : (tsc & TSC_WSCALE) === TSC_NO_WSCALE ? 36 : 40;
}

/**
 * Write a handshake's TCP header at l4 (checksum left to the caller), returning its length
 * (handshakeLen): the MSS option; unless `tsc` is -1, then (tsc: the timestamp cookie's low bits)
 * SACK-permitted if tsc has TSC_SACK, timestamps (tsval, tsecr) and window scale `wscale` if tsc
 * names one, in Linux's order and alignment.
 */
function writeHandshake(
  buf: Buffer, l4: number, sport: number, dport: number, seq: number, ack: number, flags: number, window: number, mss: number,
  tsc: number, tsval: number, tsecr: number, wscale: number,
): number {
  const len = handshakeLen(tsc);
  tcpHeader(buf, l4, sport, dport, seq, ack, flags, window, len >>> 2);
  buf[l4 + 20] = TCPOPT_MSS;
  buf[l4 + 21] = 4;
  wr16(buf, l4 + 22, mss);
  if (tsc < 0) return len;
  const sack = (tsc & TSC_SACK) !== 0;
  buf[l4 + 24] = sack ? TCPOPT_SACK_PERM : 1; // else NOP, NOP
  buf[l4 + 25] = sack ? 2 : 1;
  buf[l4 + 26] = TCPOPT_TS;
  buf[l4 + 27] = 10;
  wr32(buf, l4 + 28, tsval);
  wr32(buf, l4 + 32, tsecr);
  if (len === 40) {
    buf[l4 + 36] = 1; // NOP
    buf[l4 + 37] = TCPOPT_WSCALE;
    buf[l4 + 38] = 3;
    buf[l4 + 39] = wscale;
  }
  return len;
}

/**
 * A connection's window rescaling (ct.spwin) from the client's window scale `cws` and the
 * server's `sws` (-1: none). Bits 3-0: the server's scale + 1 when its windows must be rescaled
 * to SYNPROXY_WSCALE, the one the client was told (0: they need not); bits 7-4: the client's
 * scale when the server declined scaling, so the client's windows are unscaled for it (0: none).
 */
function windowShifts(cws: number, sws: number): number {
  if (cws < 0) return 0; // nobody scales
  if (sws < 0) return 1 | (cws << 4);
  return sws === SYNPROXY_WSCALE ? 0 : sws + 1;
}

/**
 * A segment of confirmed SYN proxy connection e (`out`: the server's) translated in place into
 * the other side's view: sequence numbers by the delta, timestamps by the offset, SACK edges
 * (the client's, of server data) by the delta, windows by windowShifts. `partial`: the checksum
 * covers the pseudo-header only (vnet NEEDS_CSUM, or computed afterwards): left alone.
 */
function translate(ct: ConnTable, buf: Buffer, l4: number, e: number, out: boolean, partial: boolean): void {
  const delta = ct.seqd[e];
  const tsoff = ct.tsoff[e];
  if (out) {
    if (delta !== 0) tcpAddSeq(buf, l4, TCP_SEQ, -delta | 0, partial);
  } else if (delta !== 0 && (buf[l4 + TCP_FLAGS] & TCP_ACK) !== 0) {
    tcpAddSeq(buf, l4, TCP_ACKNO, delta, partial);
  }
  if ((out ? tsoff : tsoff | delta) !== 0) {
    const end = tcpDataStart(buf, l4);
    for (let i = tcpNextOption(buf, l4 + 20, end); i >= 0; i = tcpNextOption(buf, i + buf[i + 1], end)) {
      const kind = buf[i];
      if (kind === TCPOPT_TS && buf[i + 1] === 10) {
        if (out) tcpAddSeq(buf, l4, i + 2 - l4, -tsoff | 0, partial); // TSval
        else tcpAddSeq(buf, l4, i + 6 - l4, tsoff, partial); // TSecr
      } else if (kind === TCPOPT_SACK && !out) {
        for (let k = i + 2; k + 4 <= i + buf[i + 1]; k += 4) tcpAddSeq(buf, l4, k - l4, delta, partial);
      }
    }
  }
  const w = ct.spwin[e];
  if (w === 0) return;
  const win = rd16(buf, l4 + TCP_WINDOW);
  if (out) {
    if ((w & 15) === 0) return;
    const sws = (w & 15) - 1;
    let v = sws > SYNPROXY_WSCALE ? win << (sws - SYNPROXY_WSCALE) : win >>> (SYNPROXY_WSCALE - sws);
    if (v > 0xffff) v = 0xffff;
    else if (v === 0 && win !== 0) v = 1; // rounded down, but never to a closed window
    tcpSetWindow(buf, l4, v, partial);
  } else if (w >>> 4 !== 0) {
    const v = win << (w >>> 4);
    tcpSetWindow(buf, l4, v > 0xffff ? 0xffff : v, partial);
  }
}

/**
 * A frame uvsd built goes to a forwarder with a complete checksum, whatever the frame being
 * handled carries (a server's SYN|ACK with a partial one, on a veth): the forwarder's address
 * rewrite must take it as complete. Returns the flag to put back after the call.
 */
function fullCsum(o: Output): boolean {
  const partial = o.csumPartial;
  o.csumPartial = false;
  return partial;
}

/**
 * An ICMP error about SYN proxy connection e travelling to the server (it quotes a server→client
 * segment as the client saw it, its seq less delta: SynProxy.packet): the quoted seq goes back to
 * the server's numbering, with the quoted TCP checksum when the quote holds it, or the server's
 * stack ignores the error as out of window (Path MTU discovery hangs). The forwarder then rewrites
 * the quoted addresses and recomputes the ICMP checksum. Errors travelling to the client quote its
 * own segments, whose seq uvsd never changes (their ack, in the server's space, no stack checks).
 */
export function synproxyQuoteToServer(ct: ConnTable, buf: Buffer, inner: number, end: number, e: number): void {
  if ((ct.flags[e] & F_CONFIRMED) === 0) return; // seqd is a held slot: no delta yet
  const il4 = inner + (buf[inner] & 15) * 4; // icmpQuoted checked the quote holds 8 bytes of it
  const old = rd32(buf, il4 + TCP_SEQ);
  const neu = (old + ct.seqd[e]) | 0;
  wr32(buf, il4 + TCP_SEQ, neu);
  if (il4 + TCP_CSUM + 2 <= end) wr16(buf, il4 + TCP_CSUM, csumReplace32(rd16(buf, il4 + TCP_CSUM), old, neu));
}

export class SynProxy {
  readonly cookies: SynCookies;
  /** Held client segments: whole IP packets, slotBytes each. */
  private readonly held: Buffer;
  private readonly heldLen: Int32Array;
  /** Per slot: the SYNs sent again, how many may be (the setting when its connection was
   *  opened: a change leaves it its schedule), and the tick its connection is given up at. */
  private readonly tries: Uint8Array;
  private readonly maxTries: Uint8Array;
  private readonly giveUp: Uint32Array;
  /** uvsd --synproxy-syn-retries, and the ticks from the first SYN to the give-up it makes (setSynRetries). */
  private synRetries = 0;
  private giveUpTicks = 0;
  private readonly freeSlots: Int32Array;
  private nfree: number;
  /** Connections waiting, per destination slot, and how many one may have. */
  private readonly destWaiting: Int32Array;
  private readonly perServer: number;
  private readonly slotBytes: number;
  private readonly maxMss: number;
  /** The MSS index of the cookie checkAck() accepted last (for the SYN to the server). */
  private mssIdx = 0;
  /** The options tcpHandshakeOptions read last (a client's SYN or segment, a server's SYN|ACK). */
  private readonly opts = new Int32Array(HO_LEN);
  /** The TSval clock's random start (so the SYN|ACK tells nothing of uvsd's uptime). */
  private readonly tsBase: number;

  constructor(mtu: number, slots: number, destMax: number, random?: (a: Int32Array) => void) {
    this.cookies = new SynCookies(random);
    this.slotBytes = mtu;
    this.maxMss = mtu - 40;
    this.held = Buffer.alloc(slots * mtu);
    this.heldLen = new Int32Array(slots);
    this.tries = new Uint8Array(slots);
    this.maxTries = new Uint8Array(slots);
    this.giveUp = new Uint32Array(slots);
    this.freeSlots = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.freeSlots[i] = slots - 1 - i;
    this.nfree = slots;
    this.destWaiting = new Int32Array(destMax);
    this.perServer = Math.max(1, Math.floor(slots / SYNPROXY_SERVER_SHARE));
    this.tsBase = randomFillSync(new Int32Array(1))[0];
    this.setSynRetries(SYNPROXY_SYN_RETRIES);
  }

  /** The SYN to a server goes `n` times again (0..SYNPROXY_SYN_RETRIES_MAX, checked by the
   *  caller) for connections opened from now on. */
  setSynRetries(n: number): void {
    this.synRetries = n;
    this.giveUpTicks = RETRY_TICKS * ((1 << (n + 1)) - 1);
  }

  /** Connections waiting for their server now. */
  get waiting(): number {
    return this.freeSlots.length - this.nfree;
  }

  /**
   * A SYN for a SYN proxy service: turned into the SYN|ACK in place (fresh 20-byte IP header, TCP
   * header with the options above) and sent back to the MAC it came from. Nothing is kept.
   * `toa`: a FULLNAT service under uvsd --toa: the MSS told the client is TCPOLEN_TOA lower (as
   * the server's SYN|ACK is without the SYN proxy, toaLowerMss; DPVS's synproxy default `mss
   * 1452`), so its full-sized segment completing the server's handshake has room for the option.
   * The cookie keeps the client's own MSS, for the SYN to the server.
   */
  answerSyn(o: Output, buf: Buffer, off: number, ip: number, l4: number, period: number, toa = false): void {
    const caddr = rd32(buf, ip + IP_SRC);
    const vaddr = rd32(buf, ip + IP_DST);
    const cport = rd16(buf, l4);
    const vport = rd16(buf, l4 + 2);
    const cisn = rd32(buf, l4 + TCP_SEQ);
    const so = this.opts;
    tcpHandshakeOptions(buf, l4, so);
    const idx = SynCookies.mssIndex(so[HO_MSS], this.maxMss);
    const cookie = this.cookies.make(caddr, cport, vaddr, vport, cisn, idx, period);
    // Timestamps: the TSval keeps the client's other options (its ACK echoes it); without, MSS only.
    const tsval = cookieTsval((this.tsBase + o.nowTick * TICK_MS) | 0, so[HO_WSCALE], so[HO_SACK] !== 0);
    const tsc = so[HO_TS] !== 0 ? tsval & (TSC_SACK | TSC_WSCALE) : -1;
    const tlen = handshakeLen(tsc);
    const tsecr = so[HO_TSVAL];
    ipv4Own(buf, ip, 0, 20 + tlen, true, PROTO_TCP, vaddr, caddr);
    const t = ip + 20; // the client's IP options (if any) are not echoed
    const mss = MSS_TABLE[idx] - (toa ? TCPOLEN_TOA : 0);
    writeHandshake(buf, t, vport, cport, cookie, (cisn + 1) | 0, TCP_SYN | TCP_ACK, mss, mss, tsc, tsval, tsecr, SYNPROXY_WSCALE);
    tcpSetChecksum(buf, ip, t, tlen);
    o.reply(buf, off, ETH_HLEN + 20 + tlen);
    o.count(C.synproxy_syn_cookies_sent);
  }

  /** A client ACK of a SYN proxy service without a connection: does it carry a cookie of ours?
   *  Counted by the caller: a valid one once its checksum is right too, an invalid one (with
   *  workers, another may hold its connection) only by the last worker it reaches. */
  checkAck(buf: Buffer, ip: number, l4: number, period: number): boolean {
    const idx = this.cookies.check(
      rd32(buf, ip + IP_SRC), rd16(buf, l4), rd32(buf, ip + IP_DST), rd16(buf, l4 + 2),
      (rd32(buf, l4 + TCP_SEQ) - 1) | 0, (rd32(buf, l4 + TCP_ACKNO) - 1) | 0, period,
    );
    if (idx < 0) return false;
    this.mssIdx = idx;
    return true;
  }

  /** Room to hold one more client segment (checked before a connection is made). */
  hasRoom(): boolean {
    return this.nfree > 0;
  }

  /** Does destination slot `dest` have its share of the slots already (checked once it is scheduled)? */
  serverFull(dest: number): boolean {
    return this.destWaiting[dest] >= this.perServer;
  }

  /** A slot for the held segment of a new connection to `dest` (after hasRoom() and serverFull()). */
  take(dest: number): number {
    this.destWaiting[dest]++;
    return this.freeSlots[--this.nfree];
  }

  /** Connection e no longer waits: its slot is free again (still readable until the next take). */
  private release(ct: ConnTable, e: number): void {
    this.destWaiting[ct.dest[e]]--;
    this.freeSlots[this.nfree++] = ct.seqd[e];
  }

  /**
   * A new connection e from a validated ACK: hold the client's segment (a copy of the IP packet),
   * then turn the frame into the SYN to the server, in place, with the client's tuple and ISN.
   * Returns the frame's new length; the caller forwards it like any client packet. Its timer
   * now runs the SYN's retries (due()), and gives up within the SYN_SENT timeout at the latest.
   */
  openServer(o: Output, buf: Buffer, ip: number, l4: number, e: number): number {
    const ct = o.ct;
    const slot = ct.seqd[e];
    this.hold(buf, ip, slot);
    this.tries[slot] = 0;
    this.maxTries[slot] = this.synRetries;
    this.giveUp[slot] = Math.min(ct.expires[e], o.nowTick + this.giveUpTicks);
    ct.expires[e] = Math.min(ct.expires[e], o.nowTick + RETRY_TICKS);
    ct.reslot(e);
    o.count(C.synproxy_server_syn);
    return ETH_HLEN + this.toServerSyn(buf, ip, l4, MSS_TABLE[this.mssIdx]);
  }

  /**
   * Turn the client segment at ip/l4 (its ACK of our cookie, or data) into the SYN to the server
   * in place: the client's ISN (seq - 1), its window (unscaled, as a SYN's), `mss`, and when it
   * carries timestamps the options our SYN|ACK's TSval kept (its TSecr) with its own TSval.
   * Returns the IP length.
   */
  private toServerSyn(buf: Buffer, ip: number, l4: number, mss: number): number {
    const hlen = l4 - ip;
    const so = this.opts;
    tcpHandshakeOptions(buf, l4, so);
    const tsc = so[HO_TS] !== 0 ? so[HO_TSECR] & (TSC_SACK | TSC_WSCALE) : -1;
    const cws = tsc < 0 || (tsc & TSC_WSCALE) === TSC_NO_WSCALE ? 0 : tsc & TSC_WSCALE;
    const win = rd16(buf, l4 + TCP_WINDOW) << cws;
    const tlen = writeHandshake(
      buf, l4, rd16(buf, l4), rd16(buf, l4 + 2), (rd32(buf, l4 + TCP_SEQ) - 1) | 0, 0, TCP_SYN, win > 0xffff ? 0xffff : win, mss,
      tsc, so[HO_TSVAL], 0, cws,
    );
    wr16(buf, ip + IP_TOTLEN, hlen + tlen);
    ipv4SetChecksum(buf, ip, hlen);
    tcpSetChecksum(buf, ip, l4, tlen);
    return hlen + tlen;
  }

  /**
   * The SYN to the server again (it or the server's answer was lost: the timer says so, or the
   * client retransmits the segment uvsd holds), built from the held segment in a generated frame.
   */
  private resendSyn(o: Output, slot: number, e: number): void {
    const g = this.heldHeaders(o, slot);
    if (g < 0) return;
    const gb = o.genBuf;
    const gip = g + ETH_HLEN;
    const gl4 = gip + (gb[gip] & 15) * 4;
    const cookie = (rd32(gb, gl4 + TCP_ACKNO) - 1) | 0;
    const len = this.toServerSyn(gb, gip, gl4, MSS_TABLE[(cookie >>> 28) & 3]);
    o.count(C.synproxy_server_syn);
    SynProxy.toServer(o, g, len, e);
  }

  /** A reset with `seq` to the server of connection e, from the client's tuple of the held segment. */
  private resetServer(o: Output, slot: number, seq: number, e: number): void {
    const g = this.heldHeaders(o, slot);
    if (g < 0) return;
    const gb = o.genBuf;
    const gip = g + ETH_HLEN;
    const hlen = (gb[gip] & 15) * 4;
    const gl4 = gip + hlen;
    tcpHeader(gb, gl4, rd16(gb, gl4), rd16(gb, gl4 + 2), seq, 0, TCP_RST, 0, 5);
    wr16(gb, gip + IP_TOTLEN, hlen + 20);
    ipv4SetChecksum(gb, gip, hlen);
    tcpSetChecksum(gb, gip, gl4, 20);
    SynProxy.toServer(o, g, hlen + 20, e);
  }

  /** A generated frame holding the held segment's IP and TCP headers, options included (its
   *  client's tuple, its timestamps), or -1 (counted). */
  private heldHeaders(o: Output, slot: number): number {
    const g = o.genSlot();
    if (g < 0) {
      o.drop(D.tx_failed);
      return -1;
    }
    const gb = o.genBuf;
    const base = slot * this.slotBytes;
    const hlen = (this.held[base] & 15) * 4;
    const n = hlen + (this.held[base + hlen + TCP_DOFF] >>> 4) * 4;
    for (let i = 0; i < n; i++) gb[g + ETH_HLEN + i] = this.held[base + i];
    wr16(gb, g + ETH_TYPE, ETHERTYPE_IPV4);
    return g;
  }

  /** The frame uvsd built at genBuf[g] (ipLen bytes of IP) to connection e's server, as the client's packets go. */
  private static toServer(o: Output, g: number, ipLen: number, e: number): void {
    const gip = g + ETH_HLEN;
    const partial = fullCsum(o);
    (FORWARDERS[o.ct.fwd[e]] as Forwarder).inbound(o, o.genBuf, g, ETH_HLEN + ipLen, gip, gip + (o.genBuf[gip] & 15) * 4, e);
    o.csumPartial = partial;
  }

  private hold(buf: Buffer, ip: number, slot: number): void {
    let tot = rd16(buf, ip + IP_TOTLEN);
    const h = this.held;
    const base = slot * this.slotBytes;
    const hlen = (buf[ip] & 15) * 4;
    // Larger than the link MTU (a slot): keep the headers only; the client sends its data again.
    const cut = tot > this.slotBytes;
    if (cut) tot = hlen + (buf[ip + hlen + TCP_DOFF] >>> 4) * 4;
    for (let i = 0; i < tot; i++) h[base + i] = buf[ip + i];
    if (cut) wr16(h, base + IP_TOTLEN, tot);
    // Sent on later (its SYN, then itself): one hop less, as every packet uvsd forwards.
    if (h[base + IP_TTL] > 0) h[base + IP_TTL]--;
    ipv4SetChecksum(h, base, hlen);
    this.heldLen[slot] = tot;
  }

  /** Payload bytes of the TCP segment in the IP packet at ip. */
  private static payload(buf: Uint8Array, ip: number): number {
    const hlen = (buf[ip] & 15) * 4;
    return rd16(buf, ip + IP_TOTLEN) - hlen - (buf[ip + hlen + TCP_DOFF] >>> 4) * 4;
  }

  /**
   * A packet of SYN proxy connection e (`out`: from the server). Once the server has answered,
   * its sequence numbers are translated in place and false is returned (the caller goes on as
   * for any connection). While the server has not answered, the packet is dealt with here and
   * true is returned.
   */
  packet(o: Output, buf: Buffer, off: number, flen: number, ip: number, l4: number, e: number, out: boolean): boolean {
    const ct = o.ct;
    if ((ct.flags[e] & F_CONFIRMED) !== 0) {
      translate(ct, buf, l4, e, out, o.csumPartial);
      return false;
    }
    const flags = buf[l4 + TCP_FLAGS];
    const slot = ct.seqd[e];
    const fw = FORWARDERS[ct.fwd[e]] as Forwarder;
    if (!out) {
      if ((flags & TCP_RST) !== 0) {
        // The client gives up: pass the reset on (its ack is in the cookie's space: dropped).
        if ((flags & TCP_ACK) !== 0) {
          const w = rd16(buf, l4 + TCP_DOFF); // data offset and flags
          wr16(buf, l4 + TCP_DOFF, w & ~TCP_ACK);
          if (!o.csumPartial) wr16(buf, l4 + TCP_CSUM, csumReplace16(rd16(buf, l4 + TCP_CSUM), w, w & ~TCP_ACK));
        }
        if (o.hop(buf, ip, l4)) fw.inbound(o, buf, off, flen, ip, l4, e);
        ct.expireNow(e);
        return true;
      }
      // Data before the server answered: held if only the bare ACK is, else dropped (the client
      // sends it again: its window was one segment, so this is rare). The held segment coming
      // again means the client timed out: our SYN or the server's answer was lost, so the SYN
      // goes again (nothing else would resend it).
      const base = slot * this.slotBytes;
      const data = SynProxy.payload(buf, ip);
      const heldData = SynProxy.payload(this.held, base);
      const tot = rd16(buf, ip + IP_TOTLEN);
      if (data > 0 && heldData === 0 && tot <= this.slotBytes) {
        // Sent on later with a checksum of uvsd's (it may be cut): its own must be right now.
        if (!tcpChecksumOk(buf, ip, l4, tot - (l4 - ip), o.csumPartial)) o.drop(D.tcp_bad_checksum);
        else this.hold(buf, ip, slot);
        return true;
      }
      o.drop(D.synproxy_not_ready);
      if (data > 0 && rd32(buf, l4 + TCP_SEQ) === rd32(this.held, base + (this.held[base] & 15) * 4 + TCP_SEQ)) this.resendSyn(o, slot, e);
      return true;
    }
    const base = slot * this.slotBytes;
    const hl4 = base + (this.held[base] & 15) * 4;
    if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) === (TCP_SYN | TCP_ACK)) {
      // The server's SYN|ACK: from now on translate; the held segment completes its handshake.
      // Its seq and options set the connection's translation for good: a corrupted one is
      // dropped (the server sends it again).
      if (!tcpChecksumOk(buf, ip, l4, rd16(buf, ip + IP_TOTLEN) - (l4 - ip), o.csumPartial)) {
        o.drop(D.tcp_bad_checksum);
        return true;
      }
      const delta = (rd32(buf, l4 + TCP_SEQ) + 1 - rd32(this.held, hl4 + TCP_ACKNO)) | 0; // sisn - cookie
      this.settle(o, buf, l4, hl4, e);
      this.release(ct, e); // read below, before anything can take it again
      ct.seqd[e] = delta;
      ct.flags[e] |= F_CONFIRMED;
      if (o.toa && ct.fwd[e] === FWD_FULLNAT) {
        // TOA (src/proto/toa.ts): the held segment, translated, acknowledges the server's ISN + 1
        // and completes its handshake. The MSS the client was told left room for it (answerSyn).
        ct.toaAck[e] = (rd32(buf, l4 + TCP_SEQ) + 1) | 0;
        ct.flags[e] |= F_TOA;
      }
      ct.state[e] = S_ESTABLISHED;
      if ((ct.flags[e] & F_INACTIVE) !== 0) {
        ct.flags[e] &= ~F_INACTIVE;
        o.dt.activate(ct.dest[e], true);
      }
      o.count(C.synproxy_established);
      const g = o.genSlot();
      if (g < 0) {
        // No room in this batch: the client's next segment, translated, completes it instead.
        o.drop(D.tx_failed);
        return true;
      }
      const gb = o.genBuf;
      const len = this.heldLen[slot];
      wr16(gb, g + ETH_TYPE, ETHERTYPE_IPV4);
      const gip = g + ETH_HLEN;
      const h = this.held;
      for (let i = 0; i < len; i++) gb[gip + i] = h[base + i];
      const gl4 = gip + (gb[gip] & 15) * 4;
      translate(ct, gb, gl4, e, false, true);
      tcpSetChecksum(gb, gip, gl4, len - (gl4 - gip)); // computed anew: hold() may have cut the data
      SynProxy.toServer(o, g, len, e);
      return true;
    }
    if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_ACK && rd32(buf, l4 + TCP_ACKNO) !== rd32(this.held, hl4 + TCP_SEQ)) {
      // An ACK of something else: the server still holds an older connection of this tuple in
      // TIME_WAIT (a FULLNAT local port or a client port used again, with a lower ISN) and
      // answers our SYN with its challenge ACK. As a client's stack in SYN_SENT (RFC 793, 5961):
      // a reset with seq = that ack (Linux's TIME_WAIT then closes, tcp_rfc1337=0), then the
      // SYN again, at most as often as the timer's retries.
      o.count(C.synproxy_server_stale_ack);
      this.resetServer(o, slot, rd32(buf, l4 + TCP_ACKNO), e);
      const n = this.tries[slot];
      if (n < this.maxTries[slot]) {
        this.tries[slot] = n + 1;
        this.resendSyn(o, slot, e);
      }
      return true;
    }
    if ((flags & TCP_RST) !== 0) {
      // The server refuses: the client gets the reset in its own view (seq = cookie + 1).
      tcpAddSeq(buf, l4, TCP_SEQ, (rd32(this.held, hl4 + TCP_ACKNO) - rd32(buf, l4 + TCP_SEQ)) | 0, o.csumPartial);
      if (o.hop(buf, ip, l4)) fw.outbound?.(o, buf, off, flen, ip, l4, e);
      ct.expireNow(e);
      return true;
    }
    o.drop(D.synproxy_not_ready);
    return true;
  }

  /**
   * What the server's SYN|ACK at l4 agreed to, against the client's options (its held segment at
   * hl4 echoes our SYN|ACK's TSval): connection e's timestamp offset and window rescaling.
   */
  private settle(o: Output, buf: Buffer, l4: number, hl4: number, e: number): void {
    const so = this.opts;
    tcpHandshakeOptions(buf, l4, so);
    const sws = so[HO_WSCALE];
    const sts = so[HO_TS];
    const stsval = so[HO_TSVAL];
    tcpHandshakeOptions(this.held, hl4, so);
    let tsoff = 0;
    let spwin = 0;
    if (so[HO_TS] !== 0) {
      const ours = so[HO_TSECR];
      if (sts !== 0) tsoff = (stsval - ours) | 0;
      else o.count(C.synproxy_server_no_ts);
      spwin = windowShifts((ours & TSC_WSCALE) === TSC_NO_WSCALE ? -1 : ours & TSC_WSCALE, sws);
    }
    o.ct.tsoff[e] = tsoff;
    o.ct.spwin[e] = spwin;
  }

  /**
   * The timer of connection e, still waiting for its server (ConnTable.onWaitDue): the SYN goes
   * again (maxTries times); at the end the client, whose connect() succeeded long ago, gets a
   * reset in its own view (seq = cookie + 1: the held segment's ack) instead of retransmitting
   * for minutes. Returns the next tick, or 0 to let the entry expire.
   */
  due(o: Output, e: number): number {
    const ct = o.ct;
    const slot = ct.seqd[e];
    const end = this.giveUp[slot];
    const now = o.nowTick;
    if (now < end && o.dt.gen[ct.dest[e]] === ct.dgen[e]) { // its server was not deleted meanwhile
      const n = this.tries[slot];
      if (n >= this.maxTries[slot]) return end;
      this.tries[slot] = n + 1;
      this.resendSyn(o, slot, e);
      return Math.min(now + (RETRY_TICKS << (n + 1)), end);
    }
    o.count(C.synproxy_server_timeout);
    const base = slot * this.slotBytes;
    o.reset(this.held, base, base + (this.held[base] & 15) * 4, rd32(this.held, base + IP_SRC));
    return 0;
  }

  /** Entry e expires: give back its held segment's slot if it was still waiting for its server. */
  expire(o: Output, e: number): void {
    const f = o.ct.flags[e];
    if ((f & F_SYNPROXY) !== 0 && (f & F_CONFIRMED) === 0) this.release(o.ct, e);
  }
}
