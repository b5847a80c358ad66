// Start-up warm-up of the JIT (docs/architecture.md, "JIT warm-up"). V8 optimises the per-frame
// functions for the kinds of frames they have seen; a kind first seen after that (the first NAT
// reply or ICMP error after minutes of DR traffic, the first malformed frame) throws the optimised
// code away: the function runs unoptimised until it is compiled again. Measured in-process (DR
// UDP until optimised, then one TCP SYN to a NAT service): one 64-frame batch took up to 8 ms
// instead of 9 µs, and the next 400 batches 10–27 ms more in all — at full rate more than the
// TAP's queue holds. So before its port receives anything uvsd runs a scratch Datapath through
// frames of every kind it handles: the functions (class methods, forwarders, schedulers) are
// shared by every Datapath of the thread, so their type feedback then covers all paths when real
// traffic gets them optimised. The scratch datapaths use documentation addresses (RFC 5737) and
// send nothing (their sink discards); the real datapath is not touched.

import { Datapath, type DatapathOptions } from './pipeline.js';
import {
  ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, IP_FRAG, IP_SRC, IPPROTO_SCTP, PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN,
  checksum, fold16, ipv4SetChecksum, sum16, wr16, wr32,
} from './frame.js';
import { CID_ABORT, CID_COOKIE_ACK, CID_COOKIE_ECHO, CID_DATA, CID_INIT, CID_INIT_ACK, sctpSetChecksum } from '../proto/sctp.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, vnetWrite } from './vnet.js';
import { FWD_DR, FWD_FULLNAT, FWD_NAT, FWD_TUN } from '../modes/types.js';
import { schedulerNames } from '../sched/index.js';
import type { DpOp } from './ops.js';
import type { FrameSink } from './tx.js';

const ip4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) | 0;
const MAC = Uint8Array.from([0x02, 0x00, 0x5e, 0x00, 0x53, 0x01]);
const DIR = ip4(192, 0, 2, 1);
const NET2 = ip4(198, 51, 100, 1);
const GW = ip4(192, 0, 2, 254);
const VIP = ip4(192, 0, 2, 100);
const LIP = ip4(192, 0, 2, 50);
const CLIENT_ON = ip4(192, 0, 2, 200);
const CLIENT_OFF = ip4(203, 0, 113, 7);
/** Real servers by method (index = FWD_*): DR and FULLNAT on the director's network, NAT and TUN on the second. */
const SERVER: Record<number, number> = { [FWD_DR]: ip4(192, 0, 2, 20), [FWD_NAT]: ip4(198, 51, 100, 20), [FWD_FULLNAT]: ip4(192, 0, 2, 21), [FWD_TUN]: ip4(198, 51, 100, 30) };
const SERVER2 = ip4(192, 0, 2, 22);
const METHODS = [FWD_DR, FWD_NAT, FWD_FULLNAT, FWD_TUN];
const PORT_BASE = 80; // method i, proto TCP/UDP: VIP:(80 + i)
const PORT_PERSIST = 90;
const PORT_ONESHOT = 91;
const PORT_SYNPROXY = 92;
const PORT_NODEST = 93; // its server at weight 0: ICMP port unreachable (ip_vs_leave)
const PORT_SCHED = 100; // one UDP service per scheduler from here
const HOSTS = [GW, CLIENT_ON, SERVER2, ...METHODS.map((m) => SERVER[m]!)];

function hostMac(ip: number): Uint8Array {
  return Uint8Array.from([0x02, 0x00, 0x5e, 0x10, (ip >>> 8) & 0xff, ip & 0xff]);
}

/** The scratch datapaths, never collected (see warmUp). */
const retained: Datapath[] = [];

/** A frame sink that sends nothing. */
const discard: FrameSink = { send: (_b, _o, _l, n) => n };

export interface WarmUpPort {
  /** Bytes between receive slots and the offset of the first frame (as the real port's). */
  stride: number;
  base: number;
}

/** Frames of a batch being written: buf/lens as processBatch reads them. */
class Batch {
  n = 0;
  constructor(
    readonly buf: Buffer,
    readonly lens: Uint32Array,
    readonly port: WarmUpPort,
    readonly vh: number,
    readonly mtu: number,
  ) {}

  private slot(): number {
    return this.port.base + this.n * this.port.stride;
  }

  private close(off: number, len: number, vnet?: { partialAt?: number; gsoSize?: number }): void {
    if (this.vh > 0) {
      const p = vnet?.partialAt;
      vnetWrite(this.buf, off, p === undefined ? {} : {
        flags: VNET_F_NEEDS_CSUM, csumStart: p, csumOffset: 16,
        ...(vnet?.gsoSize ? { gsoType: VNET_GSO_TCPV4, gsoSize: vnet.gsoSize, hdrLen: p + 20 } : {}),
      });
    }
    this.lens[this.n++] = len + this.vh;
  }

  full(): boolean {
    return this.n >= this.lens.length;
  }

  /** A malformed frame: `bytes` after an Ethernet header of `ethType`, zero-padded to 20; none = 10 bytes in all. */
  raw(bytes: number[], ethType = ETHERTYPE_IPV4): void {
    if (this.full()) return;
    const off = this.slot();
    this.buf.fill(0, off, off + 64);
    this.buf.set(MAC, off);
    this.buf.set(hostMac(CLIENT_ON), off + 6);
    wr16(this.buf, off + 12, ethType);
    for (let i = 0; i < bytes.length; i++) this.buf[off + 14 + i] = bytes[i]!;
    this.close(off, bytes.length === 0 ? 10 : ETH_HLEN + Math.max(20, bytes.length));
  }

  arp(op: number, sender: number, target: number, to = MAC): void {
    if (this.full()) return;
    const off = this.slot();
    const b = this.buf;
    b.set(to, off);
    b.set(hostMac(sender), off + 6);
    wr16(b, off + 12, ETHERTYPE_ARP);
    const a = off + ETH_HLEN;
    wr16(b, a, 1);
    wr16(b, a + 2, ETHERTYPE_IPV4);
    b[a + 4] = 6;
    b[a + 5] = 4;
    wr16(b, a + 6, op);
    b.set(hostMac(sender), a + 8);
    wr32(b, a + 14, sender);
    b.set(op === 2 ? MAC : new Uint8Array(6), a + 18);
    wr32(b, a + 24, target);
    this.close(off, ETH_HLEN + 28);
  }

  /**
   * An IPv4 frame from src to dst carrying `l4len` bytes of protocol `proto`; `fill` writes the L4
   * header at l4 (before the checksums). Returns the frame's offset, -1 when the batch is full.
   */
  ip(
    src: number, dst: number, proto: number, l4len: number, fill: (b: Buffer, l4: number) => void,
    o: { frag?: number; id?: number; from?: number; partial?: boolean; gsoSize?: number; options?: boolean } = {},
  ): number {
    const hlen = o.options ? 24 : 20;
    if (this.full() || this.vh + ETH_HLEN + hlen + l4len > this.port.stride) return -1;
    const off = this.slot();
    const b = this.buf;
    b.set(MAC, off);
    b.set(hostMac(o.from ?? src), off + 6);
    wr16(b, off + 12, ETHERTYPE_IPV4);
    const ip = off + ETH_HLEN;
    const l4 = ip + hlen;
    b.fill(0, ip, l4 + l4len);
    b[ip] = 0x40 | (hlen / 4);
    wr16(b, ip + 2, hlen + l4len);
    wr16(b, ip + 4, o.id ?? 0x5301);
    wr16(b, ip + IP_FRAG, o.frag ?? 0x4000);
    b[ip + 8] = 64;
    b[ip + 9] = proto;
    wr32(b, ip + IP_SRC, src);
    wr32(b, ip + 16, dst);
    if (o.options) b[ip + 20] = 1; // NOP padding: an options header
    ipv4SetChecksum(b, ip, hlen);
    fill(b, l4);
    const first = ((o.frag ?? 0) & 0x1fff) === 0;
    if (first && (proto === PROTO_TCP || proto === PROTO_UDP)) {
      const at = l4 + (proto === PROTO_TCP ? 16 : 6);
      const pseudo = sum16(b, ip + IP_SRC, 8, proto + l4len);
      if (o.partial && this.vh > 0) wr16(b, at, fold16(pseudo)); // partial: the pseudo-header sum only
      else wr16(b, at, checksum(b, l4, l4len, pseudo) || (proto === PROTO_UDP ? 0xffff : 0));
    } else if (proto === PROTO_ICMP) {
      wr16(b, l4 + 2, checksum(b, l4, l4len));
    }
    this.close(off, ETH_HLEN + hlen + l4len, o.partial && this.vh > 0 ? { partialAt: l4 - off, gsoSize: o.gsoSize } : undefined);
    return off;
  }

  tcp(src: number, sport: number, dst: number, dport: number, flags: number, data = 0, o: Parameters<Batch['ip']>[5] = {}): void {
    this.ip(src, dst, PROTO_TCP, 20 + data, (b, l4) => {
      wr16(b, l4, sport);
      wr16(b, l4 + 2, dport);
      wr32(b, l4 + 4, 0x10000 + sport);
      wr32(b, l4 + 8, (flags & TCP_ACK) !== 0 ? 0x20000 + dport : 0);
      b[l4 + 12] = 5 << 4;
      b[l4 + 13] = flags;
      wr16(b, l4 + 14, 65535);
    }, o);
  }

  /** An SCTP packet with one chunk of `chunk` (its CRC32c set), from the client or (sport = the service's port) a server. */
  sctp(src: number, sport: number, dst: number, dport: number, chunk: number, data = 16): void {
    this.ip(src, dst, IPPROTO_SCTP, 16 + data, (b, l4) => {
      wr16(b, l4, sport);
      wr16(b, l4 + 2, dport);
      wr32(b, l4 + 4, 0x5c7b0000 + sport);
      b[l4 + 12] = chunk;
      wr16(b, l4 + 14, 4 + data);
      sctpSetChecksum(b, l4, 16 + data);
    });
  }

  udp(src: number, sport: number, dst: number, dport: number, data = 18, o: Parameters<Batch['ip']>[5] = {}): void {
    this.ip(src, dst, PROTO_UDP, 8 + data, (b, l4) => {
      wr16(b, l4, sport);
      wr16(b, l4 + 2, dport);
      wr16(b, l4 + 4, 8 + data);
    }, o);
  }

  /** ICMP echo request, or an error (type 3) quoting a UDP datagram qsrc:qsport → qdst:qdport. */
  icmp(src: number, dst: number, type: number, q?: { src: number; sport: number; dst: number; dport: number; proto?: number }): void {
    this.ip(src, dst, PROTO_ICMP, q ? 8 + 28 : 16, (b, l4) => {
      b[l4] = type;
      b[l4 + 1] = q ? 3 : 0;
      if (!q) {
        wr32(b, l4 + 4, 0x53000001);
        return;
      }
      const inner = l4 + 8;
      b[inner] = 0x45;
      wr16(b, inner + 2, 28 + 18);
      b[inner + 8] = 64;
      b[inner + 9] = q.proto ?? PROTO_UDP;
      wr32(b, inner + IP_SRC, q.src);
      wr32(b, inner + 16, q.dst);
      ipv4SetChecksum(b, inner, 20);
      wr16(b, inner + 20, q.sport);
      wr16(b, inner + 22, q.dport);
      wr16(b, inner + 24, 26);
    });
  }
}

/**
 * Run two scratch datapaths (with and without a gateway) through `rounds` rounds in all of every
 * kind of frame. `base` are the real datapath's options whose values change which code runs
 * (vnet header, MTU, batch, worker); `port` the real port's slot layout. Returns frames processed
 * and milliseconds taken.
 */
export function warmUp(
  base: Pick<DatapathOptions, 'vnetHdr' | 'mtu' | 'batch' | 'worker'>, port: WarmUpPort, rounds = 24,
): { frames: number; ms: number } {
  const t0 = performance.now();
  let frames = 0;
  // With a gateway and without: off-link destinations take different paths (next hop, no route).
  for (const gateway of [GW, 0]) {
    const dp = scratch(base, gateway);
    frames += warmRounds(dp, base, port, rounds >>> 1);
    // Kept for the life of the process, without its services: when the scratch datapath was
    // collected, V8 now and then dropped feedback the warm-up had gathered (seen in ~1 run of 10:
    // an optimised forward() de-optimised on "insufficient type feedback" at the first NAT reply;
    // 0 in 54 runs with it kept). Costs ~12 MB RSS, mostly typed arrays never touched.
    dp.apply(dp.services.flatMap((svc, id) => (svc === undefined ? [] : [{ op: 'delService' as const, id }])));
    retained.push(dp);
  }
  return { frames, ms: performance.now() - t0 };
}

/** The scratch datapath: every forwarding method and scheduler, with and without persistence. */
function scratch(base: Pick<DatapathOptions, 'vnetHdr' | 'mtu' | 'batch' | 'worker'>, gateway: number): Datapath {
  const dp = new Datapath({
    mac: MAC, addrs: [{ ip: DIR, mask: ip4(255, 255, 255, 0) }, { ip: NET2, mask: ip4(255, 255, 255, 0) }], gateway,
    connMax: 4096, destMax: 256, batch: base.batch, mtu: base.mtu, vnetHdr: base.vnetHdr, worker: base.worker,
  }, discard);
  const ops: DpOp[] = [];
  let id = 0;
  let slot = 0;
  const service = (proto: number, port: number, sched: string, fwd: number, extra: Partial<Extract<DpOp, { op: 'addService' }>> = {}, servers = [SERVER[fwd]!], weight = 1): void => {
    const svc = id++;
    ops.push({ op: 'addService', id: svc, proto, vip: VIP, port, sched, schedFlags: 0, persist: 0, netmask: -1, oneShot: false, pe: 0, synproxy: false, ...extra });
    for (const addr of servers) ops.push({ op: 'addDest', svc, dest: slot++, addr, port, fwd, weight, upper: 0, lower: 0, tun: 0 });
    if (fwd === FWD_FULLNAT) ops.push({ op: 'addLaddr', svc, addr: LIP });
  };
  METHODS.forEach((m, i) => {
    service(PROTO_TCP, PORT_BASE + i, 'rr', m);
    service(PROTO_UDP, PORT_BASE + i, 'wlc', m);
    service(PROTO_SCTP, PORT_BASE + i, 'rr', m);
  });
  service(PROTO_TCP, PORT_PERSIST, 'rr', FWD_DR, { persist: 60, netmask: ip4(255, 255, 255, 0) });
  service(PROTO_UDP, PORT_ONESHOT, 'rr', FWD_DR, { oneShot: true });
  service(PROTO_TCP, PORT_SYNPROXY, 'rr', FWD_NAT, { synproxy: true });
  for (const proto of [PROTO_TCP, PROTO_UDP]) service(proto, PORT_NODEST, 'wlc', FWD_DR, {}, [SERVER[FWD_DR]!], 0);
  schedulerNames().forEach((s, i) => service(PROTO_UDP, PORT_SCHED + i, s, FWD_DR, {}, [SERVER[FWD_DR]!, SERVER2]));
  dp.apply(ops);
  // The prefetch pass runs only on large tables (pipeline.ts warmBatch): one scratch datapath runs
  // it on every batch, so the JIT has seen both before the real table grows past the threshold.
  if (gateway !== 0) dp.warmMinEntries = 0;
  return dp;
}

/** `rounds` rounds of four batches: new flows; ARP, ICMP echo and everything uvsd drops; the
 *  flows' data, replies and ICMP errors; their end. Returns the frames processed. */
function warmRounds(dp: Datapath, base: Pick<DatapathOptions, 'vnetHdr' | 'mtu' | 'batch'>, port: WarmUpPort, rounds: number): number {
  const batch = base.batch ?? 64;
  const mtu = base.mtu ?? 1500;
  const vh = base.vnetHdr ?? 0;
  const nsched = schedulerNames().length;
  const stride = port.stride;
  const buf = Buffer.alloc(port.base + stride * batch);
  const lens = new Uint32Array(batch);
  let frames = 0;
  // Every other batch with its time in a cell, as the port's batches come (Port.rxClock), the
  // rest with the clock call, as timers and handed-off frames: both ways of setClock are seen.
  const cell = new Float64Array(2);
  let calls = 0;
  const run = (fill: (b: Batch) => void): void => {
    const b = new Batch(buf, lens, port, vh, mtu);
    fill(b);
    cell[0] = performance.now();
    dp.processBatch(buf, stride, lens, b.n, port.base, (calls++ & 1) === 0 ? cell : null);
    frames += b.n;
  };
  const mss = Math.min(1448, mtu - 40);
  for (let r = 0; r < rounds; r++) {
    if (r === rounds - 2) {
      // The last rounds as with `uvsadm trace` running and a master sync daemon marking changes.
      dp.trace.on = true;
      dp.apply([{ op: 'syncMarks', on: true }]);
    }
    const sp = 1024 + ((r * 97) % 60000); // new flows every round
    const clients = [CLIENT_ON, CLIENT_OFF];
    // New flows.
    run((b) => {
      for (const c of clients) {
        METHODS.forEach((_, i) => {
          b.tcp(c, sp + i, VIP, PORT_BASE + i, TCP_SYN, 0, { from: c === CLIENT_OFF ? GW : c });
          b.udp(c, sp + i, VIP, PORT_BASE + i, 18, { from: c === CLIENT_OFF ? GW : c });
          if (c === CLIENT_ON) b.sctp(c, sp + i, VIP, PORT_BASE + i, CID_INIT);
        });
      }
      b.tcp(CLIENT_ON, sp, VIP, PORT_PERSIST, TCP_SYN);
      b.udp(CLIENT_ON, sp, VIP, PORT_ONESHOT);
      b.tcp(CLIENT_ON, sp, VIP, PORT_SYNPROXY, TCP_SYN);
      b.tcp(CLIENT_ON, sp + 1, VIP, PORT_SYNPROXY, TCP_ACK); // no valid cookie
      b.tcp(CLIENT_ON, sp, VIP, PORT_NODEST, TCP_SYN);
      b.udp(CLIENT_OFF, sp, VIP, PORT_NODEST, 18, { from: GW });
      for (let i = 0; i < nsched; i++) b.udp(CLIENT_ON, sp + (r & 1), VIP, PORT_SCHED + i);
      // A datagram in two fragments (the first decides, the second follows).
      const id = 0x6000 + r;
      b.ip(CLIENT_ON, VIP, PROTO_UDP, 8 + 24, (x, l4) => { wr16(x, l4, sp + 9); wr16(x, l4 + 2, PORT_BASE); wr16(x, l4 + 4, 8 + 40); }, { frag: 0x2000, id });
      b.ip(CLIENT_ON, VIP, PROTO_UDP, 16, () => {}, { frag: 4, id });
    });
    // ARP, ICMP echo and the frames uvsd drops.
    run((b) => {
      b.icmp(CLIENT_ON, DIR, 8);
      b.icmp(CLIENT_ON, VIP, 8);
      b.arp(1, CLIENT_ON, DIR, new Uint8Array(6).fill(0xff));
      b.arp(1, CLIENT_ON, VIP, new Uint8Array(6).fill(0xff));
      for (const h of HOSTS) b.arp(2, h, DIR);
      b.raw([]); // short
      b.raw([0x60, 0, 0, 0], 0x86dd); // IPv6
      b.raw([0x65, 0, 0, 20]); // bad version
      b.raw([0x44, 0, 0, 20]); // bad header length
      b.raw([0x45, 0, 0x05, 0xdc]); // bad total length
      const bad = b.n;
      b.udp(CLIENT_ON, sp, VIP, PORT_BASE);
      if (b.n > bad) buf[port.base + bad * stride + ETH_HLEN + 10] ^= 0x5a; // bad IP checksum
      b.udp(CLIENT_ON, sp, VIP, 9); // no service
      b.udp(CLIENT_ON, sp, ip4(192, 0, 2, 99), PORT_BASE); // not local
      b.udp(VIP, sp, VIP, PORT_BASE + 1); // our own address as the source
      b.udp(ip4(224, 0, 0, 5), sp, VIP, PORT_BASE + 1); // a martian source (bad_source)
      b.tcp(CLIENT_ON, sp + 5, VIP, PORT_BASE + 1, TCP_ACK); // no connection
      b.ip(CLIENT_ON, VIP, 47, 8, () => {}); // GRE
      b.ip(CLIENT_ON, VIP, PROTO_TCP, 8, () => {}); // truncated
      b.udp(CLIENT_ON, sp + 6, VIP, PORT_BASE, 18, { options: true });
    });
    // The flows go on: client data (vnet: partial checksum, a GSO super-segment), replies, errors.
    run((b) => {
      METHODS.forEach((m, i) => {
        b.tcp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, TCP_ACK, 100, { partial: true });
        b.udp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, 18);
        b.sctp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, CID_COOKIE_ECHO);
        b.sctp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, CID_DATA);
        if (vh > 0) b.tcp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, TCP_ACK, 2 * mss + 100, { partial: true, gsoSize: mss });
        else b.tcp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, TCP_ACK, mtu - 40); // a full-size segment
        b.tcp(CLIENT_OFF, sp + i, VIP, PORT_BASE + i, TCP_ACK, 10, { from: GW });
        const rs = SERVER[m]!;
        if (m === FWD_NAT) {
          for (const c of clients) {
            b.tcp(rs, PORT_BASE + i, c, sp + i, TCP_SYN | TCP_ACK);
            b.udp(rs, PORT_BASE + i, c, sp + i);
          }
          b.sctp(rs, PORT_BASE + i, CLIENT_ON, sp + i, CID_INIT_ACK);
          b.icmp(rs, CLIENT_ON, 3, { src: CLIENT_ON, sport: sp + i, dst: rs, dport: PORT_BASE + i }); // from the server
          b.icmp(CLIENT_ON, VIP, 3, { src: VIP, sport: PORT_BASE + i, dst: CLIENT_ON, dport: sp + i }); // from the client
        }
      });
      for (let e = 0; e < dp.ct.max; e++) {
        // FULLNAT replies go to the local address and port the connection was given.
        if (!dp.ct.isAlive(e) || dp.ct.laddr[e] !== LIP) continue;
        const proto = dp.ct.proto[e];
        if (proto === PROTO_TCP) b.tcp(dp.ct.daddr[e], dp.ct.dport[e], LIP, dp.ct.lport[e], TCP_SYN | TCP_ACK);
        else if (proto === PROTO_SCTP) b.sctp(dp.ct.daddr[e], dp.ct.dport[e], LIP, dp.ct.lport[e], CID_COOKIE_ACK);
        else b.udp(dp.ct.daddr[e], dp.ct.dport[e], LIP, dp.ct.lport[e]);
        if (b.n > batch - 8) break;
      }
    });
    // Closing: FIN both ways, RST; a NAT UDP client speaks again after its reply.
    run((b) => {
      METHODS.forEach((m, i) => {
        b.tcp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, TCP_FIN | TCP_ACK);
        if (m === FWD_NAT) b.tcp(SERVER[m]!, PORT_BASE + i, CLIENT_ON, sp + i, TCP_FIN | TCP_ACK);
        if (m === FWD_NAT) b.udp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, 18); // after the reply: confirms (F_REPLIED)
        b.tcp(CLIENT_OFF, sp + i, VIP, PORT_BASE + i, TCP_RST, 0, { from: GW });
        b.sctp(CLIENT_ON, sp + i, VIP, PORT_BASE + i, CID_ABORT, 4);
      });
      b.tcp(CLIENT_ON, sp, VIP, PORT_PERSIST, TCP_RST);
    });
    dp.tick();
  }
  return frames;
}

