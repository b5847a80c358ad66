// The per-frame pipeline: classify → ARP/ICMP for owned addresses → connection lookup →
// new flow: service lookup, scheduler, conn entry → the forwarder bound to the entry → tx batch.
// Everything here runs once per received frame and follows DESIGN.md's hot-path rules:
// offsets into the receive buffer, uint32 addresses, typed-array state, counters, no allocation.

import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_ARP, ETHERTYPE_IPV4, IP_DST, IP_FRAG, IP_PROTO, IP_SRC,
  IP_TOTLEN, IP_TTL, PROTO_ICMP, PROTO_TCP, PROTO_UDP, copyMac, csumReplace16, ipv4HeaderValid,
  ipv4SetChecksum, rd16, rd32, wr16, wr32,
} from './frame.js';
import { C, Counters, D } from './counters.js';
import { ConnTable, F_INACTIVE, F_NOOUTPUT, TICK_MS, DIR_IN } from './conntable.js';
import { DestTable } from './dests.js';
import { NeighTable, PROBE_INTERVAL_MS, PROBE_MS } from './neigh.js';
import { U32PairMap } from './lookup.js';
import {
  DEFAULT_TIMEOUTS_S, DIR_INPUT_ONLY, DIR_OUTPUT, DIR_INPUT, S_ESTABLISHED, S_NONE, S_UDP, nextState, tcpEvent,
} from './tcpstate.js';
import { FORWARDERS, type Output } from '../modes/index.js';
import type { Flow, Scheduler, SchedService } from '../sched/index.js';

/** Where frames go out: the TAP port in uvsd, a capture array in tests. */
export interface FrameSink {
  send(buf: Buffer, offs: Uint32Array, lens: Uint32Array, count: number): number;
}

/** A directly connected network: a director address and its prefix. */
export interface LinkAddr {
  ip: number;
  mask: number;
}

/** A virtual service as the datapath sees it. */
export interface SvcRuntime extends SchedService {
  id: number;
  proto: number;
  vip: number;
  port: number;
  scheduler: Scheduler;
}

export interface DatapathOptions {
  mac: Uint8Array;
  addrs: LinkAddr[];
  gateway?: number;
  connMax: number;
  destMax?: number;
  /** Most frames in one receive batch (the size of the tx batch arrays). */
  batch?: number;
  /** Memory advice for the connection table's large arrays (see ConnTable). */
  advise?: (a: ArrayBufferView) => void;
}

const TX_BATCH_EXTRA = 64; // room for generated frames (ARP, probes) within one batch

/** A transmit batch over one buffer: offsets and lengths, flushed once per receive batch. */
class TxBatch {
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  count = 0;
  buf: Buffer;
  constructor(buf: Buffer, size: number) {
    this.buf = buf;
    this.offs = new Uint32Array(size);
    this.lens = new Uint32Array(size);
  }
  push(off: number, len: number): boolean {
    if (this.count >= this.offs.length) return false;
    this.offs[this.count] = off;
    this.lens[this.count] = len;
    this.count++;
    return true;
  }
}

export class Datapath implements Output {
  readonly ct: ConnTable;
  readonly dt: DestTable;
  readonly neigh = new NeighTable();
  readonly counters = new Counters();
  readonly mac: Uint8Array;
  readonly addrs: LinkAddr[];
  readonly gateway: number;
  /** Services by id; holes where services were deleted. */
  readonly services: (SvcRuntime | undefined)[] = [];
  /** Timeouts in ticks, by TCP state (last slot UDP). */
  readonly timeoutTicks = new Uint32Array(DEFAULT_TIMEOUTS_S.length);

  private sink: FrameSink;
  private svcMap = new U32PairMap([]);
  /** Local addresses (director addresses and VIPs) → 1; key b is 0. */
  private localMap = new U32PairMap([]);
  private readonly flow: Flow = { saddr: 0, sport: 0, daddr: 0, dport: 0 };
  private readonly tx: TxBatch;
  private readonly gen: TxBatch;
  private readonly genBuf: Buffer;
  private genOff = 0;
  private readonly qtx: TxBatch;
  private now = 0;
  /** Keeps warmBatch's loads observable so they are not optimised away. */
  warmSink = 0;
  private nowTick = 0;
  private readonly clock: () => number;

  constructor(opts: DatapathOptions, sink: FrameSink, clock: () => number = () => performance.now()) {
    this.mac = opts.mac;
    this.addrs = opts.addrs;
    this.gateway = opts.gateway ?? 0;
    this.sink = sink;
    this.clock = clock;
    this.now = clock();
    this.nowTick = Math.floor(this.now / TICK_MS);
    this.ct = new ConnTable(opts.connMax, this.nowTick, undefined, opts.advise);
    this.ct.onExpire = (e) => this.onConnExpire(e);
    this.dt = new DestTable(opts.destMax ?? 4096);
    const batch = opts.batch ?? 64;
    this.tx = new TxBatch(Buffer.alloc(0), batch + TX_BATCH_EXTRA);
    this.genBuf = Buffer.alloc(TX_BATCH_EXTRA * 64);
    this.gen = new TxBatch(this.genBuf, TX_BATCH_EXTRA);
    this.qtx = new TxBatch(this.neigh.qbuf, this.neigh.qowner.length);
    this.setTimeouts(DEFAULT_TIMEOUTS_S);
    this.rebuildLocal();
  }

  setTimeouts(seconds: readonly number[]): void {
    for (let i = 0; i < seconds.length; i++) this.timeoutTicks[i] = Math.ceil((seconds[i] * 1000) / TICK_MS);
  }

  // ---- per batch -------------------------------------------------------------------------

  /** Process `count` frames at buf[i*stride] with lengths lens[i], then flush transmissions. */
  processBatch(buf: Buffer, stride: number, lens: Uint32Array, count: number): void {
    this.now = this.clock();
    this.nowTick = Math.floor(this.now / TICK_MS);
    this.tx.buf = buf;
    if (count > 1) this.warmBatch(buf, stride, lens, count);
    for (let i = 0; i < count; i++) this.processFrame(buf, i * stride, lens[i]);
    this.flush();
  }

  /**
   * Touch the hash bucket of every TCP/UDP frame of the batch before processing any of them:
   * the loads are independent, so their cache misses overlap instead of costing one full
   * memory latency per new flow. Only plausibility checks here; processFrame validates.
   */
  private warmBatch(buf: Buffer, stride: number, lens: Uint32Array, count: number): void {
    let acc = 0;
    for (let i = 0; i < count; i++) {
      const off = i * stride;
      if (lens[i] < ETH_HLEN + 24 || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) continue;
      const ip = off + ETH_HLEN;
      const l4 = ip + (buf[ip] & 15) * 4;
      const proto = buf[ip + IP_PROTO];
      if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || l4 + 4 > off + lens[i]) continue;
      acc ^= this.ct.touch(proto, rd32(buf, ip + IP_SRC), rd16(buf, l4), rd32(buf, ip + IP_DST), rd16(buf, l4 + 2));
    }
    this.warmSink = acc;
  }

  /** Queue a frame of the receive buffer for transmission at the end of the batch. */
  private emit(off: number, len: number): void {
    if (!this.tx.push(off, len)) this.counters.d[D.tx_failed]++;
  }

  private flush(): void {
    this.flushBatch(this.tx);
    this.flushBatch(this.gen);
    this.genOff = 0;
  }

  private flushBatch(b: TxBatch): void {
    if (b.count === 0) return;
    const sent = this.sink.send(b.buf, b.offs, b.lens, b.count);
    const c = this.counters.c;
    c[C.tx_frames] += sent;
    for (let i = 0; i < b.count; i++) c[C.tx_bytes] += b.lens[i];
    if (sent < b.count) this.counters.d[D.tx_failed] += b.count - sent;
    b.count = 0;
  }

  // ---- classification --------------------------------------------------------------------

  private processFrame(buf: Buffer, off: number, len: number): void {
    const c = this.counters.c;
    c[C.rx_frames]++;
    c[C.rx_bytes] += len;
    if (len < ETH_HLEN) {
      this.counters.d[D.short_frame]++;
      return;
    }
    // Ours or broadcast; a bridge floods unknown unicast and multicast to every port.
    const m = this.mac;
    if (
      !(buf[off] === m[0] && buf[off + 1] === m[1] && buf[off + 2] === m[2] &&
        buf[off + 3] === m[3] && buf[off + 4] === m[4] && buf[off + 5] === m[5]) &&
      !(buf[off] === 0xff && buf[off + 1] === 0xff && buf[off + 2] === 0xff &&
        buf[off + 3] === 0xff && buf[off + 4] === 0xff && buf[off + 5] === 0xff)
    ) {
      c[C.ignored_other_mac]++;
      return;
    }
    const type = rd16(buf, off + ETH_TYPE);
    if (type === ETHERTYPE_IPV4) this.processIpv4(buf, off, len);
    else if (type === ETHERTYPE_ARP) this.processArp(buf, off, len);
    else c[C.ignored_ethertype]++;
  }

  // ---- ARP ---------------------------------------------------------------------------------

  private processArp(buf: Buffer, off: number, len: number): void {
    const a = off + ETH_HLEN;
    if (len < ETH_HLEN + 28 || rd16(buf, a) !== 1 || rd16(buf, a + 2) !== ETHERTYPE_IPV4 || buf[a + 4] !== 6 || buf[a + 5] !== 4) {
      this.counters.d[D.arp_malformed]++;
      return;
    }
    const op = rd16(buf, a + 6);
    const spa = rd32(buf, a + 14);
    const tpa = rd32(buf, a + 24);
    // Refresh a neighbour we already track (never create entries for arbitrary senders).
    const n = this.neigh.find(spa);
    if (n >= 0) {
      this.neigh.learn(n, buf, a + 8, this.now);
      this.flushNeighQueue(n);
    }
    if (op === 1 && spa !== tpa && this.localMap.get(tpa, 0) >= 0) {
      // Turn the request into the reply in place.
      wr16(buf, a + 6, 2);
      copyMac(buf, a + 18, buf, a + 8); // tha = sha
      wr32(buf, a + 24, spa); // tpa = spa
      copyMac(buf, a + 8, this.mac, 0); // sha = us
      wr32(buf, a + 14, tpa); // spa = the asked address
      copyMac(buf, off, buf, a + 18); // eth dst = requester
      copyMac(buf, off + 6, this.mac, 0);
      this.emit(off, ETH_HLEN + 28);
      this.counters.c[C.arp_replies_sent]++;
    } else {
      this.counters.c[n >= 0 ? C.arp_neigh_updates : C.ignored_arp]++;
    }
  }

  // ---- IPv4 --------------------------------------------------------------------------------

  private processIpv4(buf: Buffer, off: number, len: number): void {
    const d = this.counters.d;
    const ip = off + ETH_HLEN;
    if (len < ETH_HLEN + 20) {
      d[D.short_frame]++;
      return;
    }
    const vihl = buf[ip];
    if (vihl >>> 4 !== 4) {
      d[D.ip_bad_version]++;
      return;
    }
    const hlen = (vihl & 15) * 4;
    if (hlen < 20 || ETH_HLEN + hlen > len) {
      d[D.ip_bad_header_length]++;
      return;
    }
    const tot = rd16(buf, ip + IP_TOTLEN);
    if (tot < hlen || ETH_HLEN + tot > len) {
      d[D.ip_bad_total_length]++;
      return;
    }
    if (!ipv4HeaderValid(buf, ip, hlen)) {
      d[D.ip_bad_checksum]++;
      return;
    }
    const dst = rd32(buf, ip + IP_DST);
    if (this.localMap.get(dst, 0) < 0) {
      d[D.ip_not_local]++;
      return;
    }
    if ((rd16(buf, ip + IP_FRAG) & 0x3fff) !== 0) {
      d[D.ip_fragment]++;
      return;
    }
    const flen = ETH_HLEN + tot; // drop any Ethernet padding from here on
    const proto = buf[ip + IP_PROTO];
    const l4 = ip + hlen;
    const l4len = tot - hlen;
    if (proto === PROTO_TCP) {
      if (l4len < 20 || (buf[l4 + 12] >>> 4) * 4 < 20 || (buf[l4 + 12] >>> 4) * 4 > l4len) {
        d[D.l4_truncated]++;
        return;
      }
      this.processL4(buf, off, flen, ip, l4, PROTO_TCP, dst, tot);
    } else if (proto === PROTO_UDP) {
      if (l4len < 8) {
        d[D.l4_truncated]++;
        return;
      }
      this.processL4(buf, off, flen, ip, l4, PROTO_UDP, dst, tot);
    } else if (proto === PROTO_ICMP) {
      this.processIcmp(buf, off, flen, ip, l4, l4len);
    } else {
      d[D.ip_proto_unhandled]++;
    }
  }

  private processIcmp(buf: Buffer, off: number, flen: number, ip: number, l4: number, l4len: number): void {
    if (l4len < 8 || buf[l4] !== 8 || buf[l4 + 1] !== 0) {
      this.counters.d[l4len < 8 ? D.l4_truncated : D.icmp_unhandled]++;
      return;
    }
    // Echo request to one of our addresses: answer in place.
    const src = rd32(buf, ip + IP_SRC);
    wr32(buf, ip + IP_SRC, rd32(buf, ip + IP_DST));
    wr32(buf, ip + IP_DST, src);
    buf[ip + IP_TTL] = 64;
    ipv4SetChecksum(buf, ip, l4 - ip);
    buf[l4] = 0;
    wr16(buf, l4 + 2, csumReplace16(rd16(buf, l4 + 2), 0x0800, 0x0000));
    copyMac(buf, off, buf, off + 6);
    copyMac(buf, off + 6, this.mac, 0);
    this.emit(off, flen);
    this.counters.c[C.icmp_echo_replies]++;
  }

  // ---- TCP/UDP: connections ----------------------------------------------------------------

  private processL4(
    buf: Buffer, off: number, flen: number, ip: number, l4: number, proto: number, dst: number, tot: number,
  ): void {
    const ct = this.ct;
    const src = rd32(buf, ip + IP_SRC);
    const sport = rd16(buf, l4);
    const dport = rd16(buf, l4 + 2);
    const tcpFlags = proto === PROTO_TCP ? buf[l4 + 13] : 0;
    let e: number;
    const node = ct.lookup(proto, src, sport, dst, dport);
    if (node >= 0) {
      e = node >>> 1;
      if ((node & 1) !== DIR_IN) {
        // Server→client halves belong to NAT/FULLNAT (not built yet).
        this.counters.d[D.no_conn]++;
        return;
      }
      const was = ct.state[e];
      if (proto === PROTO_TCP) this.tcpTransition(e, tcpFlags, (ct.flags[e] & F_NOOUTPUT) !== 0 ? DIR_INPUT_ONLY : DIR_INPUT);
      ct.expires[e] = this.nowTick + this.timeoutTicks[ct.state[e]];
      // A new state may have a shorter timeout than the slot the entry waits in (kernel: mod_timer).
      if (ct.state[e] !== was) ct.reslot(e);
    } else {
      e = this.newConn(proto, src, sport, dst, dport, tcpFlags);
      if (e < 0) return;
    }
    const dt = this.dt;
    const dest = ct.dest[e];
    dt.inPkts[dest]++;
    dt.inBytes[dest] += tot;
    this.counters.c[C.fwd_packets]++;
    this.counters.c[C.fwd_bytes] += tot;
    (FORWARDERS[ct.fwd[e]] as NonNullable<(typeof FORWARDERS)[number]>).inbound(this, buf, off, flen, ip, e);
  }

  private newConn(proto: number, src: number, sport: number, dst: number, dport: number, tcpFlags: number): number {
    const d = this.counters.d;
    const sid = this.svcMap.get(dst, proto === PROTO_UDP ? dport | 0x10000 : dport);
    if (sid < 0) {
      d[D.no_service]++;
      return -1;
    }
    // Like IPVS, only a SYN (without RST) opens a TCP connection.
    if (proto === PROTO_TCP && ((tcpFlags & 0x02) === 0 || (tcpFlags & 0x04) !== 0)) {
      d[D.no_conn]++;
      return -1;
    }
    const svc = this.services[sid] as SvcRuntime;
    const f = this.flow;
    f.saddr = src;
    f.sport = sport;
    f.daddr = dst;
    f.dport = dport;
    const dest = svc.scheduler.schedule(svc, this.dt, f);
    if (dest < 0) {
      d[D.no_dest]++;
      return -1;
    }
    const ct = this.ct;
    const rip = this.dt.addr[dest];
    const rport = this.dt.port[dest];
    const fwd = this.dt.fwd[dest];
    const noOutput = (FORWARDERS[fwd] as NonNullable<(typeof FORWARDERS)[number]>).noOutput;
    // The first state is known now (a SYN from NONE never reaches ESTABLISHED, so the new
    // entry stays inactive), so the entry is slotted at its real expiry right away.
    const state = proto === PROTO_TCP
      ? nextState(noOutput ? DIR_INPUT_ONLY : DIR_INPUT, tcpEvent(tcpFlags), S_NONE)
      : S_UDP;
    const e = ct.insert(proto, src, sport, dst, dport, rip, rport, src, sport, this.nowTick + this.timeoutTicks[state], !noOutput);
    if (e < 0) {
      d[D.conn_table_full]++;
      return -1;
    }
    ct.fwd[e] = fwd;
    ct.dest[e] = dest;
    ct.svc[e] = sid;
    // New connections start inactive (IPVS sets IP_VS_CONN_F_INACTIVE at bind time).
    ct.flags[e] |= F_INACTIVE | (noOutput ? F_NOOUTPUT : 0);
    this.dt.inactive[dest]++;
    this.dt.conns[dest]++;
    this.counters.c[C.conns_created]++;
    ct.state[e] = state;
    return e;
  }

  /** Apply the TCP state table and move the destination's active/inactive counters. */
  private tcpTransition(e: number, flags: number, dirOffset: number): void {
    const ev = tcpEvent(flags);
    if (ev < 0) return;
    const ct = this.ct;
    if (dirOffset === DIR_OUTPUT) ct.flags[e] &= ~F_NOOUTPUT;
    const old = ct.state[e];
    const neu = nextState(dirOffset, ev, old);
    if (neu === old) return;
    ct.state[e] = neu;
    const dest = ct.dest[e];
    const inactive = (ct.flags[e] & F_INACTIVE) !== 0;
    if (!inactive && neu !== S_ESTABLISHED) {
      this.dt.active[dest]--;
      this.dt.inactive[dest]++;
      ct.flags[e] |= F_INACTIVE;
    } else if (inactive && neu === S_ESTABLISHED) {
      this.dt.active[dest]++;
      this.dt.inactive[dest]--;
      ct.flags[e] &= ~F_INACTIVE;
    }
  }

  private onConnExpire(e: number): void {
    const dest = this.ct.dest[e];
    if (dest >= 0) {
      if ((this.ct.flags[e] & F_INACTIVE) !== 0) this.dt.inactive[dest]--;
      else this.dt.active[dest]--;
    }
    this.counters.c[C.conns_expired]++;
  }

  // ---- L2 output -----------------------------------------------------------------------------

  /** True when ip is inside one of the director's connected networks. */
  onLink(ip: number): boolean {
    for (let i = 0; i < this.addrs.length; i++) {
      const a = this.addrs[i];
      if (((ip ^ a.ip) & a.mask) === 0) return true;
    }
    return false;
  }

  /** The director address used as the ARP sender towards ip (never a VIP). */
  private senderFor(ip: number): number {
    for (let i = 0; i < this.addrs.length; i++) {
      const a = this.addrs[i];
      if (((ip ^ a.ip) & a.mask) === 0) return a.ip;
    }
    return this.addrs.length > 0 ? this.addrs[0].ip : 0;
  }

  toNeighbour(buf: Buffer, off: number, len: number, ip: number): void {
    // Off-link hosts are reached through --gateway (TUN and FULLNAT servers on routed networks).
    let hop = ip;
    if (!this.onLink(ip)) {
      if (this.gateway === 0) {
        this.counters.d[D.no_route]++;
        return;
      }
      hop = this.gateway;
    }
    let n = this.neigh.find(hop);
    if (n < 0) n = this.neigh.obtain(hop);
    if (n < 0) {
      this.counters.d[D.neigh_unresolved]++;
      return;
    }
    const nb = this.neigh;
    if (nb.usable(n)) {
      copyMac(buf, off, nb.mac, n * 6);
      copyMac(buf, off + 6, this.mac, 0);
      this.emit(off, len);
      if (nb.stale(n, this.now)) this.probe(n);
      return;
    }
    if (nb.enqueue(n, buf, off, len, this.now)) this.counters.c[C.neigh_queued]++;
    else this.counters.d[D.neigh_unresolved]++;
    this.probe(n);
  }

  /** Start resolving a next hop before traffic needs it (a destination was added). */
  resolve(ip: number): void {
    const n = this.neigh.obtain(ip);
    if (n < 0 || this.neigh.usable(n)) return;
    this.now = this.clock();
    this.probe(n);
    this.flush();
  }

  /** Send an ARP request for neighbour n, at most once per PROBE_INTERVAL_MS. */
  private probe(n: number): void {
    const nb = this.neigh;
    if (this.now - nb.probed[n] < PROBE_INTERVAL_MS) return;
    nb.probed[n] = this.now;
    const target = nb.ip[n];
    if (this.buildArp(1, this.senderFor(target), target, false)) this.counters.c[C.arp_requests_sent]++;
  }

  /**
   * Append an ARP frame to the generated batch: a request for `tpa` from `spa`, or with
   * `gratuitous` an announcement of `spa` (sender = target = spa, broadcast).
   */
  private buildArp(op: number, spa: number, tpa: number, gratuitous: boolean): boolean {
    if (this.gen.count >= TX_BATCH_EXTRA) return false;
    const b = this.genBuf;
    const o = this.genOff;
    b.fill(0xff, o, o + 6);
    copyMac(b, o + 6, this.mac, 0);
    wr16(b, o + ETH_TYPE, ETHERTYPE_ARP);
    const a = o + ETH_HLEN;
    wr16(b, a, 1);
    wr16(b, a + 2, ETHERTYPE_IPV4);
    b[a + 4] = 6;
    b[a + 5] = 4;
    wr16(b, a + 6, op);
    copyMac(b, a + 8, this.mac, 0);
    wr32(b, a + 14, spa);
    b.fill(0, a + 18, a + 24);
    wr32(b, a + 24, gratuitous ? spa : tpa);
    b.fill(0, a + 28, o + 60); // pad to the Ethernet minimum
    this.gen.push(o, 60);
    this.genOff += 64;
    return true;
  }

  /**
   * A neighbour just resolved: send its waiting frames now, ahead of the rest of the batch, and
   * only then free their slots (a later frame of this batch may reuse them).
   */
  private flushNeighQueue(n: number): void {
    const nb = this.neigh;
    if (nb.queued[n] === 0) return;
    for (let s = 0; s < nb.qowner.length; s++) {
      if (nb.qowner[s] !== n) continue;
      const o = s * nb.qstride;
      copyMac(nb.qbuf, o, nb.mac, n * 6);
      copyMac(nb.qbuf, o + 6, this.mac, 0);
      this.qtx.push(o, nb.qlen[s]);
    }
    this.flushBatch(this.qtx);
    for (let s = 0; s < nb.qowner.length; s++) if (nb.qowner[s] === n) nb.release(s);
  }

  // ---- timers (called every TICK_MS by the daemon) ------------------------------------------

  /** Expire connections, drop frames that waited too long, re-probe; flushes what it built. */
  tick(sweepBudget = 65536): void {
    this.now = this.clock();
    this.nowTick = Math.floor(this.now / TICK_MS);
    this.ct.sweep(this.nowTick, sweepBudget);
    const nb = this.neigh;
    for (let s = 0; s < nb.qowner.length; s++) {
      const n = nb.qowner[s];
      if (n < 0) continue;
      if (this.now - nb.qtime[s] > 3 * PROBE_MS) {
        nb.release(s);
        this.counters.d[D.neigh_unresolved]++;
      } else {
        this.probe(n);
      }
    }
    for (let n = 0; n < nb.size; n++) nb.expire(n, this.now);
    this.flush();
  }

  /** Gratuitous ARP for an address uvsd starts answering for. */
  announce(ip: number): void {
    this.now = this.clock();
    if (this.buildArp(1, ip, ip, true)) this.counters.c[C.arp_gratuitous_sent]++;
    this.flush();
  }

  // ---- control-plane mutations (validated by src/control before they get here) --------------

  /** Rebuild the service and local-address lookups after a change. */
  rebuildLookups(): void {
    const svcs: [number, number, number][] = [];
    for (const s of this.services) {
      if (s !== undefined) svcs.push([s.vip, s.proto === PROTO_UDP ? s.port | 0x10000 : s.port, s.id]);
    }
    this.svcMap = new U32PairMap(svcs);
    this.rebuildLocal();
  }

  private rebuildLocal(): void {
    const seen = new Set<number>();
    for (const a of this.addrs) seen.add(a.ip);
    for (const s of this.services) if (s !== undefined) seen.add(s.vip);
    this.localMap = new U32PairMap([...seen].map((ip) => [ip, 0, 1] as const));
  }

  isLocal(ip: number): boolean {
    return this.localMap.get(ip, 0) >= 0;
  }

  /** Expire every connection of a destination (deleted server or service). */
  expireDest(dest: number): number {
    return this.ct.expireWhere((e) => this.ct.dest[e] === dest);
  }
}
