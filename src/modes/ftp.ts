// The FTP application helper (uvsd --ftp-ports; the kernel's ip_vs_ftp.c on ip_vs_app.c) for NAT
// and FULLNAT TCP services whose virtual port is one of the FTP ports (21 as `modprobe ip_vs_ftp`).
// A control connection through NAT carries the server's own address inside its text, so:
//
//   client → "PASV" / "EPSV"              seen (anywhere in a client segment): a reply is expected
//   server → "227 ... (RIP,p1,p2)"        at a segment's start: rewritten to (VIP,p1,p2) and an
//   server → "229 ... (|||port|)"         entry made for the client's data connection to VIP:port
//                                         (client port not known yet: cport 0, F_NOCPORT), bound
//                                         to the control connection's real server, LISTEN for
//                                         the LISTEN timeout; the client's SYN fills its port in
//                                         (claim) and it goes on as any connection
//   client → "PORT CIP,p1,p2" / "EPRT"    (NAT only) an entry for the server's data connection
//                                         from RIP:rport-1 to CIP:port, shown as VIP:vport-1
//
// Each data connection holds its control connection (the kernel's ip_vs_control_add: cp->control,
// n_control): its `ctl` names the control connection's entry (F_FTPDATA), counted per slot here,
// and the table keeps a control connection while the count is not 0 (ConnTable.onControlDue:
// its timer starts again), so the QUIT after an hour-long download, on a control connection
// idle longer than its timeout, still reaches its server. The last data connection gone, the
// control connection's timer runs out as any.
//
// Rewriting "RIP" as "VIP" may change the segment's length: the difference is kept per
// connection as ip_vs_app's out_seq (delta, previous delta, the seq of the last resized
// segment) and every later server→client seq, client→server ack and SACK edge is moved by it.
// As the kernel, nothing is reassembled: a reply split over two segments is not rewritten
// (its data connection then fails), and text is looked for only at a segment's start (but
// PASV/EPSV anywhere). Only control connections are slotted here (a few); the rest of the
// datapath pays one flag test per packet.
//
// A 227/229 reply or a PORT/EPRT command is acted on only with a right TCP checksum (the kernel's
// tcp_csum_check before its helper): one with a wrong one is dropped (tcp_bad_checksum) as the
// kernel drops it, never rewritten with a fresh checksum nor made a data connection; its sender
// sends it again. A partial checksum (vnet header) is the kernel's own segment, taken as right.

import { C, D } from '../datapath/counters.js';
import { F_FTP, F_FTPDATA, F_HASHED_OUT, F_INACTIVE, F_NOCPORT, type ConnTable } from '../datapath/conntable.js';
import { ETH_HLEN, IP_TOTLEN, PROTO_TCP, TCP_ACK, TCP_RST, TCP_SYN, ipv4SetChecksum, rd32, wr16 } from '../datapath/frame.js';
import { S_CLOSE, S_ESTABLISHED, S_LISTEN, S_TIME_WAIT } from '../datapath/tcpstate.js';
import {
  FTP_NONE, FTP_PASV, ftpAddrPortLen, ftpExtPortLen, ftpParse227, ftpParse229, ftpParseEprt, ftpParsePort, ftpPassiveAsked,
  ftpWriteAddrPort, ftpWriteExtPort,
} from '../proto/ftp.js';
import { TCPOPT_SACK, TCP_ACKNO, TCP_FLAGS, TCP_SEQ, tcpAddSeq, tcpChecksumOk, tcpDataStart, tcpNextOption, tcpSetChecksum } from '../proto/tcp.js';
import { FORWARDERS } from './index.js';
import { FWD_NAT, type Forwarder, type Output } from './types.js';

/** The kernel's IP_VS_APP_MAX_PORTS: at most this many FTP ports (src/defaults.ts). */
export { FTP_PORTS_MAX } from '../defaults.js';
/** FTP control connections helped at once at most (a new one beyond is not: ftp_no_slot). */
export const FTP_SLOTS_MAX = 65536;

/** outbound(): forward the packet as it is (its seq moved in place if need be). */
export const FTP_AS_IS = -1;
/** outbound(): the packet was dropped (counted); the server sends it again. */
export const FTP_DROPPED = -2;

/** A TCP state of a connection that is over (the kernel's is_new_conn_expected). */
function finished(st: number): boolean {
  return st === S_TIME_WAIT || st === S_CLOSE;
}

/** a is after b in sequence space (RFC 1982). */
function after(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export class FtpHelper {
  /** Port → 1 for the FTP ports (virtual ports of NAT/FULLNAT TCP connections). */
  readonly ports = new Uint8Array(65536);
  /** The same ports as a list. */
  list: readonly number[] = [];
  /** Any port set. */
  on = false;
  /** Data connections made but not yet claimed by the client's SYN (entries with F_NOCPORT). */
  waiting = 0;
  /** After outbound() returned a generated frame: its length. */
  outLen = 0;
  private readonly slots: number;
  private readonly slotOf = new Map<number, number>();
  private free: Int32Array = new Int32Array(0);
  private nfree = 0;
  /** Per slot: the reply the client asked for (FTP_*), and the last one rewritten with its seq
   *  (a retransmission of it is rewritten again). */
  private mode = new Uint8Array(0);
  private rewMode = new Uint8Array(0);
  private rewSeq = new Int32Array(0);
  /** ip_vs_app's out_seq: a resized segment was seen (set), the seq of the last one (init),
   *  the bytes added so far (delta) and before it (prev). */
  private outSet = new Uint8Array(0);
  private outInit = new Int32Array(0);
  private outDelta = new Int32Array(0);
  private outPrev = new Int32Array(0);
  /** The data connections that hold the slot's control connection (n_control). */
  private ndata = new Int32Array(0);
  private readonly parsed = new Int32Array(4);

  constructor(connMax: number) {
    this.slots = Math.min(connMax, FTP_SLOTS_MAX);
  }

  /** The FTP ports (validated by the caller); the slots are made when the first port is set. */
  setPorts(ports: readonly number[]): void {
    this.ports.fill(0);
    for (const p of ports) this.ports[p] = 1;
    this.list = [...ports];
    this.on = ports.length > 0;
    if (this.on && this.free.length === 0) {
      const n = this.slots;
      this.free = new Int32Array(n);
      for (let i = 0; i < n; i++) this.free[i] = n - 1 - i;
      this.nfree = n;
      this.mode = new Uint8Array(n);
      this.rewMode = new Uint8Array(n);
      this.rewSeq = new Int32Array(n);
      this.outSet = new Uint8Array(n);
      this.outInit = new Int32Array(n);
      this.outDelta = new Int32Array(n);
      this.outPrev = new Int32Array(n);
      this.ndata = new Int32Array(n);
    }
  }

  /** Control connections helped now. */
  get controls(): number {
    return this.slotOf.size;
  }

  /** A new NAT/FULLNAT TCP connection e to an FTP port: helped from now on (F_FTP) if a slot is free. */
  attach(o: Output, e: number): void {
    if (this.nfree === 0) {
      o.count(C.ftp_no_slot);
      return;
    }
    const s = this.free[--this.nfree];
    this.mode[s] = FTP_NONE;
    this.rewMode[s] = FTP_NONE;
    this.outSet[s] = 0;
    this.outDelta[s] = 0;
    this.outPrev[s] = 0;
    this.ndata[s] = 0;
    this.slotOf.set(e, s);
    o.ct.flags[e] |= F_FTP;
  }

  /** Entry e (with F_FTP, F_FTPDATA or F_NOCPORT) expires. */
  expire(ct: ConnTable, e: number): void {
    const f = ct.flags[e];
    if ((f & F_NOCPORT) !== 0) this.waiting--;
    if ((f & F_FTPDATA) !== 0) {
      // Its control connection is alive (held while this is) and goes at its own timer.
      const c = this.slotOf.get(ct.ctl[e]);
      if (c !== undefined) this.ndata[c]--;
    }
    if ((f & F_FTP) === 0) return;
    const s = this.slotOf.get(e);
    if (s === undefined) return;
    this.slotOf.delete(e);
    this.free[this.nfree++] = s;
  }

  /** Control connection e has data connections (ConnTable.onControlDue keeps it then). */
  held(e: number): boolean {
    const s = this.slotOf.get(e);
    return s !== undefined && this.ndata[s] > 0;
  }

  /**
   * Synced data connection d (F_FTPDATA, a backup): held by its control connection here, as on
   * the master, when that one (client port cport, an FTP port of d's VIP) is helped here.
   */
  adopt(ct: ConnTable, d: number, cport: number): void {
    if (cport === 0) return;
    for (const p of this.list) {
      const n = ct.lookup(PROTO_TCP, ct.caddr[d], cport, ct.vaddr[d], p);
      const s = n < 0 || (n & 1) !== 0 ? undefined : this.slotOf.get(n >>> 1);
      if (s === undefined) continue;
      ct.ctl[d] = n >>> 1;
      this.ndata[s]++;
      return;
    }
  }

  /**
   * Control connection e's seq shift (connection sync, a master): [init, delta, prev] into out;
   * false when it has none (no resized reply yet, or not helped).
   */
  seqShift(e: number, out: Int32Array): boolean {
    const s = this.slotOf.get(e);
    if (s === undefined || this.outSet[s] === 0) return false;
    out[0] = this.outInit[s];
    out[1] = this.outDelta[s];
    out[2] = this.outPrev[s];
    return true;
  }

  /** Synced control connection e (a backup) takes the master's seq shift; false when e is not helped here. */
  setSeqShift(e: number, init: number, delta: number, prev: number): boolean {
    const s = this.slotOf.get(e);
    if (s === undefined) return false;
    this.outInit[s] = init;
    this.outDelta[s] = delta;
    this.outPrev[s] = prev;
    this.outSet[s] = 1;
    return true;
  }

  /**
   * A client SYN found no entry: is it the data connection a passive reply announced (an entry
   * with client port 0)? Then that entry takes the client's port and its node is returned, else -1.
   */
  claim(ct: ConnTable, caddr: number, cport: number, vaddr: number, vport: number, tcpFlags: number): number {
    if ((tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) return -1;
    const n = ct.lookup(PROTO_TCP, caddr, 0, vaddr, vport);
    if (n < 0 || (n & 1) !== 0) return -1;
    const e = n >>> 1;
    if ((ct.flags[e] & F_NOCPORT) === 0) return -1;
    ct.fillCport(e, cport);
    if ((ct.flags[e] & F_HASHED_OUT) === 0) {
      ct.lport[e] = cport; // NAT: the server answers the client's own port
      ct.hashOut(e);
    }
    ct.flags[e] &= ~F_NOCPORT;
    this.waiting--;
    return n;
  }

  /**
   * A client→server packet of control connection e (before the SYN proxy's translation, if
   * any): its ack and SACK edges back into the server's numbering; PASV/EPSV noted; PORT/EPRT
   * (NAT) make the server's data connection. `ip` is the IP header, `end` the end of the IP
   * packet; `whole`: not a first fragment. false: dropped (counted).
   */
  inbound(o: Output, buf: Buffer, ip: number, l4: number, end: number, e: number, whole: boolean, listenTicks: number): boolean {
    const s = this.slotOf.get(e);
    if (s === undefined) return true;
    const partial = o.csumPartial;
    if (this.outSet[s] !== 0 && (buf[l4 + TCP_FLAGS] & TCP_ACK) !== 0) {
      tcpAddSeq(buf, l4, TCP_ACKNO, -this.ackShift(s, rd32(buf, l4 + TCP_ACKNO)) | 0, partial);
      this.fixSack(buf, l4, s, partial);
    }
    const ct = o.ct;
    if (!whole || ct.state[e] !== S_ESTABLISHED) return true;
    const data = tcpDataStart(buf, l4);
    if (data >= end) return true;
    const asked = ftpPassiveAsked(buf, data, end);
    if (asked !== FTP_NONE) {
      this.mode[s] = asked;
      return true;
    }
    if (ct.fwd[e] !== FWD_NAT) return true; // FULLNAT: the server could not reach the client's address
    const p = this.parsed;
    if (!ftpParsePort(buf, data, end, p) && !ftpParseEprt(buf, data, end, p)) return true;
    if (!tcpChecksumOk(buf, ip, l4, end - l4, o.csumPartial)) {
      o.drop(D.tcp_bad_checksum);
      return false;
    }
    this.mode[s] = FTP_NONE;
    // The server connects from its port rport-1 (20) to the client: shown as VIP:vport-1.
    const vport = (ct.vport[e] - 1) & 0xffff;
    const caddr = p[0];
    const cport = p[1];
    const n = ct.lookup(PROTO_TCP, caddr, cport, ct.vaddr[e], vport);
    if (n >= 0 && (n & 1) === 0 && finished(ct.state[n >>> 1])) {
      // A finished data connection on the same tuple (the client's stack gave its port out
      // again while the entry sits in TIME_WAIT, maybe for another server): it is over, so it
      // goes and this PORT makes its own, as a client SYN on it would (conn_reuse_mode). Kept,
      // a data connection of another server would be announced to no one: that server's SYN
      // from its port 20 found no entry and was dropped (the kernel's director routes it on,
      // not NATed; uvsd is no router).
      ct.expireNow(n >>> 1);
      if (ct.isAlive(n >>> 1)) return true; // it holds others (not a data connection): kept
    } else if (n >= 0) {
      if ((n & 1) === 0) this.listen(ct, n >>> 1, o.nowTick + listenTicks);
      return true;
    }
    const d = ct.insert(PROTO_TCP, caddr, cport, ct.vaddr[e], vport, ct.daddr[e], (ct.dport[e] - 1) & 0xffff, caddr, cport, o.nowTick + listenTicks, true);
    if (d < 0) {
      o.drop(D.conn_table_full);
      return true;
    }
    this.bound(o, e, s, d);
    o.count(C.ftp_active);
    return true;
  }

  /**
   * A server→client packet of control connection e (after the SYN proxy's translation): its seq
   * into the client's numbering; an expected 227/229 reply rewritten into a generated frame
   * (returned: offset in o.genBuf, outLen its length) with its data connection made.
   * FTP_AS_IS: forward the packet itself; FTP_DROPPED: dropped (counted).
   */
  outbound(o: Output, buf: Buffer, off: number, ip: number, l4: number, end: number, e: number, whole: boolean, listenTicks: number): number {
    const s = this.slotOf.get(e);
    if (s === undefined) return FTP_AS_IS;
    const seq = rd32(buf, l4 + TCP_SEQ);
    if (this.outSet[s] !== 0) tcpAddSeq(buf, l4, TCP_SEQ, after(seq, this.outInit[s]) ? this.outDelta[s] : this.outPrev[s], o.csumPartial);
    const ct = o.ct;
    if (!whole || ct.state[e] !== S_ESTABLISHED) return FTP_AS_IS;
    let m = this.mode[s];
    // The rewritten reply sent again (its ack lost): its text rewritten as before, but no data
    // connection made or renewed (the kernel's app_data is IP_VS_FTP_ACTIVE after the first
    // rewrite, so a copy makes none); the client's SYN may have taken the first one already.
    const again = m === FTP_NONE;
    if (again) {
      if (this.rewMode[s] === FTP_NONE || seq !== this.rewSeq[s]) return FTP_AS_IS;
      m = this.rewMode[s];
    }
    const data = tcpDataStart(buf, l4);
    const p = this.parsed;
    if (m === FTP_PASV ? !ftpParse227(buf, data, end, p) : !ftpParse229(buf, data, end, p)) return FTP_AS_IS;
    if (!tcpChecksumOk(buf, ip, l4, end - l4, o.csumPartial)) {
      o.drop(D.tcp_bad_checksum);
      return FTP_DROPPED;
    }
    const port = p[1];
    const from = p[2];
    const to = p[3];
    const vaddr = ct.vaddr[e];
    const textLen = m === FTP_PASV ? ftpAddrPortLen(vaddr, port) : ftpExtPortLen(port);
    const diff = textLen - (to - from);
    const ipLen = end - ip + diff;
    if (ipLen > o.mtu || o.gsoType !== 0) {
      o.count(C.ftp_not_rewritten);
      return FTP_AS_IS;
    }
    const g = o.genSlot();
    if (g < 0) {
      o.drop(D.tx_failed);
      return FTP_DROPPED;
    }
    if (!again && !this.expect(o, e, s, port, listenTicks)) return FTP_DROPPED;
    // The frame again in genBuf with the text replaced: what comes before it, the VIP's text, the rest.
    const gb = o.genBuf;
    o.copyToGen(buf, off, g, from - off);
    let w = g + (from - off);
    w = m === FTP_PASV ? ftpWriteAddrPort(gb, w, vaddr, port) : ftpWriteExtPort(gb, w, buf[from], port);
    o.copyToGen(buf, to, w, end - to);
    const gip = g + (ip - off);
    const gl4 = g + (l4 - off);
    wr16(gb, gip + IP_TOTLEN, ipLen);
    ipv4SetChecksum(gb, gip, l4 - ip);
    tcpSetChecksum(gb, gip, gl4, ipLen - (l4 - ip));
    if (diff !== 0 && (this.outSet[s] === 0 || after(seq, this.outInit[s]))) {
      this.outPrev[s] = this.outDelta[s];
      this.outDelta[s] = (this.outDelta[s] + diff) | 0;
      this.outInit[s] = seq;
      this.outSet[s] = 1;
    }
    if (this.mode[s] !== FTP_NONE) o.count(C.ftp_passive);
    this.mode[s] = FTP_NONE;
    this.rewMode[s] = m;
    this.rewSeq[s] = seq;
    this.outLen = ETH_HLEN + ipLen;
    return g;
  }

  /**
   * The client's data connection to VIP:port after a passive reply on control connection e (in
   * slot s): an entry with client port 0 (found again if a later reply names the same port), bound to e's
   * server. False when the table is full or FULLNAT has no local port (counted).
   */
  private expect(o: Output, e: number, s: number, port: number, listenTicks: number): boolean {
    const ct = o.ct;
    const caddr = ct.caddr[e];
    const n = ct.lookup(PROTO_TCP, caddr, 0, ct.vaddr[e], port);
    if (n >= 0 && (n & 1) === 0 && (ct.flags[n >>> 1] & F_NOCPORT) !== 0) {
      this.listen(ct, n >>> 1, o.nowTick + listenTicks);
      return true;
    }
    const d = ct.insert(PROTO_TCP, caddr, 0, ct.vaddr[e], port, ct.daddr[e], port, caddr, 0, o.nowTick + listenTicks, false);
    if (d < 0) {
      o.drop(D.conn_table_full);
      return false;
    }
    ct.fwd[d] = ct.fwd[e];
    ct.dest[d] = ct.dest[e];
    const fw = FORWARDERS[ct.fwd[e]] as Forwarder;
    // FULLNAT takes its local port now (its reply tuple does not hold the client's port), on
    // the control connection's local address if it can (servers such as vsftpd refuse a data
    // connection from another address than the control connection's); NAT hashes the reply
    // tuple once the client's port is known (claim).
    if (fw.bind !== undefined) {
      const l = this.parsed; // free again: the reply's numbers were read
      if (o.laddrs.takeOn(ct.laddr[e], PROTO_TCP, d, l)) {
        ct.laddr[d] = l[0];
        ct.lport[d] = l[1];
      } else if (!fw.bind(o, d)) {
        ct.discard(d);
        return false;
      }
      ct.hashOut(d);
    }
    this.bound(o, e, s, d);
    ct.flags[d] |= F_NOCPORT;
    this.waiting++;
    return true;
  }

  /** Data connection d of control connection e (slot s): its server, LISTEN, an inactive
   *  connection of it; it holds e (ip_vs_control_add). Not scheduled, so not counted in the
   *  server's Conns (nor the service's, nor conns_created): the kernel's helper makes it with
   *  ip_vs_conn_new alone, and only ip_vs_schedule / ip_vs_sched_persist call ip_vs_conn_stats.
   *  Counted as ftp_data_conns. */
  private bound(o: Output, e: number, s: number, d: number): void {
    const ct = o.ct;
    ct.fwd[d] = ct.fwd[e];
    ct.dest[d] = ct.dest[e];
    ct.dgen[d] = ct.dgen[e];
    ct.state[d] = S_LISTEN;
    ct.flags[d] |= F_INACTIVE | F_FTPDATA;
    ct.ctl[d] = e;
    this.ndata[s]++;
    o.dt.bind(ct.dest[e], false);
    o.count(C.ftp_data_conns);
  }

  /** A data connection announced again: LISTEN and its timer from now. */
  private listen(ct: ConnTable, d: number, expires: number): void {
    if (ct.state[d] !== S_LISTEN) return;
    ct.expires[d] = expires;
    ct.reslot(d);
  }

  /** What to take off a client's ack (or SACK edge) `v`: the delta of the segments it covers. */
  private ackShift(s: number, v: number): number {
    // The last resized segment starts at init + prev in the client's numbering: an ack past
    // that start covers it (the kernel compares with init + delta, which is wrong by the
    // difference for an ack of exactly that start after a shrink).
    return after(v, (this.outInit[s] + this.outPrev[s]) | 0) ? this.outDelta[s] : this.outPrev[s];
  }

  /** SACK blocks (option 5) of a client segment: their edges moved as the ack is. */
  private fixSack(buf: Buffer, l4: number, s: number, partial: boolean): void {
    const end = tcpDataStart(buf, l4);
    for (let i = tcpNextOption(buf, l4 + 20, end); i >= 0; i = tcpNextOption(buf, i + buf[i + 1], end)) {
      if (buf[i] !== TCPOPT_SACK) continue;
      const len = buf[i + 1];
      for (let k = i + 2; k + 4 <= i + len; k += 4) tcpAddSeq(buf, l4, k - l4, -this.ackShift(s, rd32(buf, k)) | 0, partial);
    }
  }
}
