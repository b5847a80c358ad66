// The per-frame pipeline: classify → ARP/ICMP for owned addresses (link.ts) → connection lookup →
// new flow: service lookup, scheduler, conn entry → the forwarder bound to the entry → tx batch
// (tx.ts), written once per receive batch.
// Everything here runs once per received frame and follows DESIGN.md's hot-path rules:
// offsets into the receive buffer, uint32 addresses, typed-array state, counters, no allocation.

import { randomInt } from 'node:crypto';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_ARP, ETHERTYPE_IPV4, IP_CSUM, IP_DST, IP_FRAG, IP_ID, IP_PROTO, IP_SRC, IP_TOTLEN, IP_TTL,
  IPPROTO_SCTP, PROTO_AH, PROTO_ESP, PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, checksum, csumReplace16, ipv4HeaderValid, ipv4OptionsValid, rd16, rd32, wr16,
} from './frame.js';
import { C, Counters, D } from './counters.js';
import { ConnTable, EXPIRE_LATER_TICKS, F_ALIVE, F_ASSURED, F_CONFIRMED, F_FTP, F_FTPDATA, F_HASHED_OUT, F_INACTIVE, F_NOCPORT, F_NOOUTPUT, F_ONEPACKET, F_REPLIED, F_STRAY, F_SYNPROXY, F_TEMPLATE, PROTO_TPL, PROTO_TPL_DEAD, TICK_MS, DIR_IN } from './conntable.js';
import { ICMP_PEER_BUCKETS, SourceLimiter, type LimiterBuckets } from './ratelimit.js';
import { noDecapRing } from './nodecap.js';
import { DEST_MAX, DestTable, type DestLoad } from './dests.js';
import { formatIp, martianSource } from './addr.js';
import { destName, explainAt } from '../sched/common.js';
import { Link, type LinkAddr } from './link.js';
import type { NeighRow } from './neigh.js';
import { U32PairMap } from './lookup.js';
import { MarkRules } from './marks.js';
import {
  DEFAULT_TIMEOUTS_S, DIR_INPUT_ONLY, DIR_OUTPUT, DIR_INPUT, S_CLOSE, S_ESTABLISHED, S_FIN_WAIT, S_LISTEN, S_NONE, S_SYN_RECV, S_SYN_SENT, S_SYNACK, S_TIME_WAIT, S_UDP, S_SCTP, STATE_NAMES, activeState, nextState, tcpEvent,
  SECURE_TIMEOUTS_S, NEXT, NEXT_DOS, establishedState,
} from './tcpstate.js';
import { Tx, type FrameSink } from './tx.js';
import { FORWARDERS, type Forwarder, type Output } from '../modes/index.js';
import { FWD_DR, FWD_FULLNAT, FWD_NAT, FWD_TUN, NO_ANSWER } from '../modes/types.js';
import { dr } from '../modes/dr.js';
import { nat } from '../modes/nat.js';
import { tun, tunRelayError } from '../modes/tun.js';
import { fullnat } from '../modes/fullnat.js';
import { LaddrPools } from '../modes/laddr.js';
import { SYNPROXY_HELD_MAX, SynProxy, synproxyQuoteToServer } from '../modes/synproxy.js';
import { FTP_AS_IS, FTP_DROPPED, FtpHelper } from '../modes/ftp.js';
import { SynCookies } from '../proto/syncookie.js';
import { PE_NONE, PE_SIP, callIdEquals, callIdHash, callIdPort, sipCallId } from '../proto/sip.js';
import { FragTable, flowPrint } from './frags.js';
import { buildTcpReset, tcpChecksumOk, tcpMayOpen, tcpTransition } from '../proto/tcp.js';
import { enterState } from '../proto/state.js';
import { SCTP_MIN, SS_CLOSED, SS_NONE, sctpChecksumOk, sctpEvent, sctpMayOpen, sctpNext, sctpTransition } from '../proto/sctp.js';
import {
  buildIcmpError, icmpQuoted, icmpTunnelQuoted, ICMP_DEST_UNREACH, ICMP_EXC_TTL, ICMP_PORT_UNREACH, ICMP_Q_DADDR, ICMP_Q_DPORT, ICMP_Q_INNER,
  ICMP_Q_SADDR, ICMP_Q_SLOTS, ICMP_Q_SPORT, ICMP_TIME_EXCEEDED,
} from '../proto/icmp.js';
import { SF_ADDR_ORDER, getScheduler, type Flow, type Scheduler, type SchedService } from '../sched/index.js';
import type { DpOp } from './ops.js';
import { BATCH_SLOTS } from './counters.js';
import { TraceRing } from './trace.js';
import {
  ExtHold, REC_CONN, REC_EXPIRE, REC_FTPSEQ, REC_LEN, REC_SYNPROXY, RF_ASSURED, RF_FTPDATA, RF_HAS_TPL, RF_HASHED_OUT, RF_NOOUTPUT, RF_TEMPLATE, SyncMarks, isExtRecord,
  writeConnRecord, writeExtRecord,
} from './syncrec.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_NONE, vnetClear, vnetFlags, vnetGsoSize, vnetGsoType } from './vnet.js';
import { STEER_LADDR, STEER_LOCAL, STEER_MASKED, STEER_SERVER, steerValue, steerWorker } from './steer.js';
import { DEFENSE_DEFAULTS, ICMP_RATELIMIT_MS } from '../defaults.js';

export type { FrameSink } from './tx.js';

/** Datapath.explain(): the destination slot (-1 none), whether a template decided, one line why. */
export interface DpExplanation {
  dest: number;
  template: boolean;
  why: string;
}

/** Free bytes uvsd keeps in front of each received frame (an IPIP header fits). */
export const RX_HEADROOM = 32;
export type { LinkAddr } from './link.js';

/** A virtual service as the datapath sees it. */
export interface SvcRuntime extends SchedService {
  id: number;
  proto: number;
  vip: number;
  port: number;
  scheduler: Scheduler;
  /** vip is int32, like every address in the datapath (see frame.ts rd32). Persistence timeout
   *  in seconds (0 = none), client netmask, one-packet scheduling. */
  persist: number;
  netmask: number;
  oneShot: boolean;
  /** Persistence engine (PE_NONE, PE_SIP: src/proto/sip.ts; ipvsadm --pe). */
  pe: number;
  /** persist in ticks of TICK_MS (a template's timeout). */
  persistTicks: number;
  /** SYN proxy (uvsadm --synproxy): SYNs answered with cookies, servers contacted after the client's ACK. */
  synproxy: boolean;
  /**
   * What the service's deleted real servers had (STAT_* order; DestTable.retireInto at delDest):
   * `retired` never zeroed (the Prometheus uvs_service_*_total counters), `retiredZ` since the
   * last -Z (-Ln --stats, --rate, /status.json). A service's statistics are these plus its
   * current servers', so deleting a server does not lower them (IPVS keeps svc->stats apart).
   */
  retired: Float64Array;
  retiredZ: Float64Array;
}

/**
 * SvcRuntime.retired and .retiredZ of a service none of whose servers was deleted yet: zeros,
 * shared, never written (delDest gives the service arrays of its own first). Two Float64Arrays
 * and their buffers per service were four objects (368 B) each service of a 10,000-service batch
 * kept through every scavenge of its apply (docs/performance.md).
 */
const NO_RETIRED = new Float64Array(5);

type OutboundFn = NonNullable<Forwarder['outbound']>;

/** newConn(): the SYN of a SYN proxy service, to be answered with a cookie (no entry). */
const SYNPROXY_SYN = -2;
/** newConn()/template(): the service has no real server available (counted no_dest); the client
 *  is told with ICMP port unreachable (leave()). */
const NO_DEST = -3;
/** newConn: a TCP segment (not a RST) of no connection to a service's port: answered by a reset. */
const NO_CONN = -4;

/**
 * ICMP errors uvsd sends because no real server was available: at most this many per second, in
 * bursts of at most ICMP_ERR_BURST, over the whole daemon (the kernel's net.ipv4.icmp_msgs_per_sec
 * and icmp_msgs_burst defaults), so spoofed SYNs cannot turn uvsd into an ICMP flood source.
 */
export const ICMP_ERR_RATE = 1000;
export const ICMP_ERR_BURST = 50;
/**
 * ICMP errors to one source: at most one per `--icmp-ratelimit` ms (default 1000: one a second),
 * in bursts of 6, checked before the daemon's bucket (the kernel's per-destination
 * net.ipv4.icmp_ratelimit and XRLIM_BURST_FACTOR 6 of inet_peer_xrlim_allow; 0 turns it off, as
 * the sysctl's 0), so one source flooding a server-less VIP cannot take every other client's
 * answers. Sources hash into ICMP_PEER_BUCKETS buckets (ratelimit.ts; colliding ones share a limit).
 * Kept in src/defaults.ts.
 */
export { ICMP_RATELIMIT_MS };
export const ICMP_PEER_BURST = 6;

/** --icmp-ratelimit 0: a rate and burst no source reaches (the per-packet path stays as it is). */
const ICMP_PEER_OFF = 1e9;

/** --icmp-ratelimit ms as the per-source limiter's rate (tokens a second). */
function icmpPeerRate(ms: number): number {
  return ms > 0 ? 1000 / ms : ICMP_PEER_OFF;
}

/** A template's timeout in ticks (at least one). */
function persistTicksOf(seconds: number): number {
  return Math.max(1, Math.ceil((seconds * 1000) / TICK_MS));
}

/** The FTP control port (the kernel's FTPPORT) and the active data connection's (FTPDATA). */
const FTP_PORT = 21;
/** IKE's port: an ESP/AH packet belongs to the UDP connection CIP:500 → VIP:500 (PORT_ISAKMP). */
const ISAKMP_PORT = 500;
const FTP_DATA_PORT = 20;
/** The first unprivileged port (net.ipv4.ip_unprivileged_port_start's default). */
const UNPRIVILEGED_PORT = 1024;

/**
 * The virtual port of a persistent service's template for a connection to vport
 * (ip_vs_sched_persist): that port when it is the service's, else 0 (a port-zero service); 0 for
 * a -f service, and for an FTP service (port 21: its data connections, to the VIP's port 20 or a
 * passive port, must find the control connection's template).
 */
function templatePort(svc: SvcRuntime, vport: number): number {
  return svc.proto !== PROTO_FWM && vport === svc.port && svc.port !== FTP_PORT ? vport : 0;
}

/** icmpSchedule(): nothing scheduled (the error is dropped icmp_no_conn, as without --schedule-icmp). */
const ICMP_SCHED_NONE = -1;
/** icmpSchedule(): dropped and counted (or handed to another worker) there. */
const ICMP_SCHED_DROPPED = -2;
/** A connection scheduled for an ICMP error lives this long unless a packet of its own comes (ip_vs_conn_new's 3 s). */
const ICMP_SCHED_TICKS = Math.ceil(3000 / TICK_MS);

/** How often Datapath.tick() runs the schedulers' tick hooks (ms). */
const SCHED_TICK_MS = 1000;
/** Most entries one sweep turn (tick() or sweepMore()) handles, and how long it may take (ms):
 *  a mass expiry (a million UDP flows timing out together) costs ~60-140 ns an entry. */
export const SWEEP_BUDGET = 65536;
export const SWEEP_MS = 1;
/**
 * A takeover's gratuitous ARP is sent again this long after it (ms): one lost frame would leave
 * the hosts on the old master's MAC until their ARP entries age out. keepalived sends a second
 * burst after garp_master_delay (5 s); the one at 1 s is for a lost first frame.
 */
export const GARP_AGAIN_MS = [1000, 5000];
/** Entries from which warmBatch's prefetch pass pays (below, the table's lines stay in cache):
 *  4,096 entries are ~0.6 MB of table (~150 B per entry), within an L2 cache. */
const WARM_MIN_ENTRIES = 4096;

/** A firewall-mark (-f) service's protocol number (the kernel's templates of one are IPPROTO_IP);
 *  its `vip` is the mark (int32) and its port 0. */
export const PROTO_FWM = 0;

/**
 * Whether a new connection of svc to port dport keeps that port on a server that has a port of
 * its own, as newConn's rport decides: a port-zero service's connection, an FTP data
 * connection of a persistent port-21 service, and every connection of a persistent -f service
 * (ip_vs_sched_persist maps only dport == svc->port). Only --explain and uvsadm trace ask (to
 * name the server by the port the connection goes to).
 */
export function keepsClientPort(svc: { proto: number; port: number; persist: number }, dport: number): boolean {
  return dport !== svc.port && !(svc.proto === PROTO_FWM && svc.persist === 0);
}

/** Whether a connection record's state is one of its protocol's (sync: a record is checked before it is installed). */
function stateFits(proto: number, state: number): boolean {
  if (proto === PROTO_TCP) return state < S_UDP;
  if (proto === PROTO_UDP) return state === S_UDP;
  return proto === PROTO_SCTP && state >= S_SCTP && state < STATE_NAMES.length;
}

/** A TCP entry whose handshake is under way (reusable: a SYN on it is the client's own sent again). */
function handshaking(proto: number, state: number): boolean {
  return proto === PROTO_TCP && (state === S_SYN_RECV || state === S_SYN_SENT || state === S_SYNACK);
}

/** Entries never synced: one-packet ones, and FTP data connections a passive reply announced
 *  (their client port not known yet; the client's SYN fills it in and marks them). */
const NOT_SYNCED = F_ONEPACKET | F_NOCPORT;

/** Whether an entry of flags f is synced: not NOT_SYNCED, nor a SYN proxy connection whose server
 *  has not answered yet (its seqd is a held-segment slot of this director; the answer marks it). */
function syncable(f: number): boolean {
  return (f & NOT_SYNCED) === 0 && (f & (F_SYNPROXY | F_CONFIRMED)) !== F_SYNPROXY;
}

/** Service lookup key: the port, with UDP and SCTP services apart from TCP ones and mark services apart from all. */
export function svcKey(proto: number, port: number): number {
  return proto === PROTO_UDP ? port | 0x10000 : proto === PROTO_FWM ? 0x20000 : proto === PROTO_SCTP ? port | 0x40000 : port;
}

/** "192.168.8.0/255.255.255.0": a client network as a persistent service's templates key it. */
function netText(svc: SvcRuntime, cnet: number): string {
  return `${formatIp(cnet)}/${formatIp(svc.netmask)}`;
}

export interface DatapathOptions {
  mac: Uint8Array;
  addrs: LinkAddr[];
  gateway?: number;
  connMax: number;
  /** Neighbour (ARP) table size (uvsd --neigh-max; each worker holds one of its own). */
  neighMax?: number;
  /** uvsd --workers: this is the main thread's datapath, which never gets a frame (its table is a shell). */
  shadow?: boolean;
  destMax?: number;
  /** Most frames in one receive batch (the size of the tx batch arrays). */
  batch?: number;
  /** Link MTU (IP bytes per frame); default 1500. */
  mtu?: number;
  /** Memory advice for the connection table's large arrays (see ConnTable). */
  advise?: (a: ArrayBufferView) => void;
  /** Table-exhaustion and spoofing defenses (docs/resilience.md); defaults in DEFENSE_DEFAULTS. */
  defense?: Partial<DefenseOptions>;
  /** Bytes of virtio_net_hdr in front of every frame (the port's vnetHdr: 0 or VNET_HDR_LEN). */
  vnetHdr?: number;
  /** uvsd --bgp-include: VIPs are routed, not ARPed for (Link.routedVips). */
  routedVips?: boolean;
  /**
   * One of several worker threads (uvsd --workers; src/datapath/worker.ts): the counters and the
   * destination statistics live on SharedArrayBuffers (summed by the main thread), and FULLNAT
   * takes only the local ports p with p % count === index, so no two workers hand out the same one.
   * load: the destinations' counts and overload marks all workers share (the -x/-y thresholds);
   * limits: the per-source buckets of --max-conn-rate-per-source, shared likewise; icmpPeers:
   * those of the ICMP errors' per-source limit (sharedBuckets(ICMP_PEER_BUCKETS)); strays: one
   * slot per worker, its synced FULLNAT UDP connections whose clients reach another worker
   * (F_STRAY), read by all (Int32Array(count) on a SharedArrayBuffer; without it, this worker's own).
   */
  worker?: { index: number; count: number; load?: DestLoad; limits?: LimiterBuckets; icmpPeers?: LimiterBuckets; strays?: Int32Array };
  /** Where the outer headers' IP IDs (TUN) start, 0..65535; random by default. Worker k of n
   *  starts k/n of the ID space further on, so the workers' sequences stay apart. */
  ipIdSeed?: number;
}

/**
 * Handing a frame to the worker thread that owns its connection (uvsd --workers): frame at
 * buf[off, off+len) (its vnet header, if any, in front), owner = the worker that holds it, or
 * HAND_NEXT when unknown, HAND_CIRCLE to come back here if none does (handoffHops); reused: this
 * worker expired the segment's finished entry (conn_reuse_mode), so the connection the receiver
 * opens for it is conns_reused there (Datapath.reusedIn). True when the frame was taken (copied);
 * false: the datapath drops it as before.
 */
export type Handoff = (buf: Buffer, off: number, len: number, owner: number, reused: boolean) => boolean;

/** Handoff owner: the next worker, round the workers once (the last refuses: the frame stays there). */
export const HAND_NEXT = -1;
/** Handoff owner: the next worker, round every worker and back to the one the round began at, which
 *  takes the frame then (a sloppy TCP segment: opened only where no worker holds its connection,
 *  and then by the worker its frames reach). */
export const HAND_CIRCLE = -2;

/**
 * Workers: the hops a frame handed from worker index (of count) to owner arrives with, or -1 when it
 * is not handed on (the caller keeps it). hops: the frame's hops here (0 read from the TAP); handedIn:
 * it came from another worker. owner >= 0: that worker (a frame from the TAP sent to its owner goes
 * round from there: hops start again); HAND_NEXT: the next, at most count - 1 hops; HAND_CIRCLE: the
 * next, at most count hops (the round ends where it began). src/datapath/worker.ts follows this.
 */
export function handoffHops(index: number, count: number, owner: number, hops: number, handedIn: boolean): number {
  const to = owner < 0 ? (index + 1) % count : owner;
  if (to === index || hops >= (owner === HAND_CIRCLE ? count : count - 1)) return -1;
  return owner >= 0 && !handedIn ? 0 : hops + 1;
}

/** Defenses against floods and table exhaustion (uvsd options of the same names). */
export interface DefenseOptions {
  /** Table fill (0..1) above which the secure TCP timeouts apply (off again below 80% of it); 1 = never. */
  secureTcpAbove: number;
  /** Table fill (0..1) from which each new connection first evicts one entry of little value; 1 = only when full. */
  evictAbove: number;
  /** New connections per second per client address; 0 = unlimited. */
  maxConnRatePerSource: number;
  /** Accept ARP replies/announcements that change a known neighbour's MAC without a probe of ours. */
  arpAcceptUnsolicited: boolean;
  /**
   * Open DR/TUN connections on mid-stream TCP segments too: 'all' services (the kernel's
   * sloppy_tcp: the scheduler picks as for a SYN), only 'mh' services (many directors behind
   * ECMP: the segment follows the mh table's owner, and mh tables are built in address order so
   * every director agrees; docs/scale-out.md), or 'off'.
   */
  sloppyTcp: SloppyTcp;
  /**
   * The kernel's conn_reuse_mode: a TCP SYN (no ACK) from a client whose tuple still has an entry
   * is a new connection when that entry is finished: any mode but 0 (1 by default) for TIME_WAIT
   * and CLOSE, with bit 2 (2, 3) also FIN_WAIT of DR/TUN entries (which never see the server's
   * packets), as the kernel. The old entry is expired and the SYN scheduled again; 0 = the SYN
   * follows the old entry.
   */
  connReuseMode: number;
  /**
   * The kernel's expire_quiescent_template: a persistence template whose server has weight 0 is
   * expired when the client's next connection finds it, which then goes to a server the scheduler
   * picks (default off, as the kernel's: the client stays on its quiescent server until the
   * template expires).
   */
  expireQuiescentTemplate: boolean;
  /**
   * While master, announce every VIP, LIP and floating address again every this many seconds
   * (keepalived's garp_master_refresh; 0 = never): hosts that learnt another director's MAC (a
   * healed split brain) come back within one period.
   */
  garpRefresh: number;
  /**
   * The FTP helper's ports (the kernel's ip_vs_ftp ports=): NAT/FULLNAT TCP connections to one of
   * these virtual ports get PASV/EPSV replies (and, NAT, PORT/EPRT) handled (src/modes/ftp.ts);
   * empty = off (as without the module).
   */
  ftpPorts: readonly number[];
  /**
   * The SYN proxy's SYN to a server that does not answer goes this many times again, 1, 3, 7 ...
   * s after the first; the client is reset (2^(N+1) - 1) s after it (Alibaba LVS's
   * synproxy_syn_retry; 0 = no resend, a reset after 1 s). A connection already waiting keeps the
   * schedule it started with.
   */
  synproxySynRetries: number;
  /**
   * TOA (Alibaba LVS, DPVS FULLNAT): FULLNAT TCP connections tell their server the client's
   * address and port in a TCP option (kind 254) that the real server's `toa` kernel module reads
   * (src/proto/toa.ts); the servers' SYN|ACK MSS is lowered by 8 to leave it room. Default off.
   */
  toa: boolean;
  /**
   * The ICMP errors' per-source limit: one per this many ms, bursts of ICMP_PEER_BURST (the
   * kernel's net.ipv4.icmp_ratelimit, default 1000); 0 = none (the daemon's bucket only).
   */
  icmpRatelimit: number;
  /**
   * The kernel's schedule_icmp: an ICMP error (unreachable, source quench, time exceeded) quoting
   * a TCP/UDP/SCTP packet of no connection here, a VIP's reply to a client, schedules that
   * connection as its client's new flow would be and is relayed to the server chosen (behind ECMP
   * the error may reach a director that does not hold the connection: docs/scale-out.md). Default off.
   */
  scheduleIcmp: boolean;
}

export type SloppyTcp = 'off' | 'all' | 'mh';
/** The scopes and the defenses' defaults: src/defaults.ts (uvsd's command line reads them without the datapath). */
export { SLOPPY_TCP_MODES, DEFENSE_DEFAULTS } from '../defaults.js';

/** Workers: VIPs with a steering window of their own (Datapath.openSteerWindow); more at once
 *  share one window for every VIP. */
const STEER_WINDOWS = 32;

/** An op that can make a service persistent (Datapath.persistServices > 0, so steerMasks() not empty). */
/** A list with these changes marks' addresses: steerMasks() made again from the whole table. */
function isMarkOp(op: DpOp): boolean {
  return op.op === 'addMark' || op.op === 'delMark';
}

/** The service whose steering links (Datapath.steerLinks) op can change, if any. */
function steerSvcOf(op: DpOp): number | undefined {
  switch (op.op) {
    case 'addService': case 'editService': case 'delService':
      return op.id;
    case 'addDest': case 'editDest': case 'delDest':
      return op.svc;
    default:
      return undefined;
  }
}

function idxAdd(idx: Map<number, Set<number>>, a: number, id: number): void {
  const s = idx.get(a);
  if (s === undefined) idx.set(a, new Set([id]));
  else s.add(id);
}

function idxDel(idx: Map<number, Set<number>>, a: number, id: number): void {
  const s = idx.get(a);
  if (s === undefined) return;
  s.delete(id);
  if (s.size === 0) idx.delete(a);
}

function makesPersistent(op: DpOp): boolean {
  return (op.op === 'addService' || op.op === 'editService') && op.persist > 0;
}

/** Wheel entries one eviction attempt may look at, and slots: a whole lap (4096 words, a few µs
 *  at worst; a lap without a candidate is not repeated until the next tick). */
const EVICT_BUDGET = 64;
const EVICT_SLOTS = 4096;

export class Datapath implements Output {
  readonly ct: ConnTable;
  readonly dt: DestTable;
  readonly counters: Counters;
  /** TUN servers that answered with protocol or port unreachable (Output.noDecap; with --workers on a
   *  SharedArrayBuffer the main thread reads: WorkerShared.noDecap). */
  readonly noDecap: Int32Array;
  /** uvsadm trace: new-connection decisions, recorded only while `trace.on` (src/datapath/trace.ts). */
  readonly trace = new TraceRing();
  readonly link: Link;
  /** Services by id; holes where services were deleted. */
  readonly services: (SvcRuntime | undefined)[] = [];
  /** Timeouts in ticks, by TCP state (last slot UDP). */
  readonly timeoutTicks = new Uint32Array(DEFAULT_TIMEOUTS_S.length);
  /** The same in seconds, as set (ipvsadm --timeout prints them). */
  readonly timeoutS = new Uint32Array(DEFAULT_TIMEOUTS_S.length);
  /** Timeouts in ticks while secure TCP is on: half-open states much shorter. */
  readonly secureTicks = new Uint32Array(DEFAULT_TIMEOUTS_S.length);
  /** The timeouts in force: timeoutTicks, or secureTicks while secureTcp is on. */
  private tt: Uint32Array = this.timeoutTicks;
  /** The TCP state table in force: NEXT, or NEXT_DOS while secureTcp is on (the kernel's
   *  pd->tcp_state_table, which secure_tcp switches to tcp_states_dos). */
  private tcpTable: Uint8Array = NEXT;
  /** Secure TCP state (switched by tick() on the table's fill, with hysteresis). */
  secureTcp = false;
  /** The shadow of uvsd --workers: secureTcp is the workers' (DatapathGroup.pull() sets it: on
   *  while any worker, deciding from its own share of the table, is in it); never switched here. */
  secureByWorkers = false;
  readonly defense: DefenseOptions;
  /** Entry counts where secure TCP switches on / off, and where eviction starts. */
  private secureOnAt = 0;
  private secureOffAt = 0;
  private evictAt = 0;
  readonly limiter: SourceLimiter;
  /** ICMP port unreachable rate limit (leave()): one bucket for every source, like the kernel's
   *  icmp_global_allow; with workers each has its share of the rate. */
  readonly icmpLimit = new SourceLimiter(1);
  /** The ICMP errors' per-source limit in front of icmpLimit (ICMP_PEER_*); with workers one set
   *  of buckets in shared memory, so a source's limit holds over all of them. */
  readonly icmpPeerLimit: SourceLimiter;
  /** When the schedulers' tick hooks last ran (ms). */
  private schedTickAt = -Infinity;
  /** The last takeover's time (link.now), the index in GARP_AGAIN_MS of its next repeat, and
   *  the HA groups taken over (bit i: group i; -1: all) whose addresses the repeats announce. */
  private garpFrom = 0;
  private garpNext = GARP_AGAIN_MS.length;
  private garpGroups = 0;
  /** When the addresses were last announced by the --garp-refresh period (link.now). */
  private garpRefreshed = 0;
  /** Keeps warmBatch's loads observable so they are not optimised away. */
  warmSink = 0;
  /** Packets and bytes forwarded in this batch, client→server and back (small integers): added
   *  to fwd_packets/fwd_bytes/fwd_out_* once per batch, not as a counter update per packet. */
  private fwdN = 0;
  private fwdB = 0;
  private outN = 0;
  private outB = 0;
  readonly mtu: number;
  /** Free bytes in front of every frame of the current batch (RX_HEADROOM or 0). */
  headroom = 0;
  /** Bytes of virtio_net_hdr in front of every frame (0: the port has none; vnet.ts). */
  readonly vnetHdr: number;
  /** The current frame's vnet header: partial L4 checksum, GSO type and segment size. */
  csumPartial = false;
  gsoType = 0;
  gsoSize = 0;
  /** uvsd --toa (defense.toa, kept here for the forwarders: Output.toa). */
  toa = false;
  /** The SYN newConn() just returned SYNPROXY_SYN for is of a service with local addresses while
   *  --toa is on: its cookie SYN|ACK's MSS is lowered for TOA (SynProxy.answerSyn). */
  private synToa = false;
  /** FULLNAT local addresses per service (addLaddr/delLaddr). */
  readonly laddrs = new LaddrPools();
  /** Service id of every destination slot. */
  readonly destSvc: Int32Array;
  /** SYN cookies and connections waiting for their server (src/modes/synproxy.ts). */
  readonly synproxy: SynProxy;
  /** The FTP helper (uvsd --ftp-ports; src/modes/ftp.ts). */
  readonly ftp: FtpHelper;

  private readonly tx: Tx;
  /** (vip, svcKey(proto, port)) → service id; (mark, svcKey(PROTO_FWM, 0)) for -f services. */
  private readonly svcMap = new U32PairMap();
  /** uvsadm --add-mark: the firewall marks uvsd sets on new flows (marks.ts). */
  readonly marks = new MarkRules();
  /** How many services have port 0 (persistent, all ports): only then a second lookup. */
  private zeroPortServices = 0;
  /** How many TCP services have port 21 (the kernel's ftpsvc_counter): only then the FTP data
   *  connection's lookup (findService). */
  private ftpServices = 0;
  private readonly flow: Flow = { proto: 0, saddr: 0, sport: 0, daddr: 0, dport: 0 };
  /** template(): where the datagram's SIP Call-ID is (offset, length). */
  private readonly callId = new Int32Array(2);
  /** Decisions of first fragments, for the later fragments of the same datagrams. */
  private readonly frags = new FragTable();
  /** The tuple of a quoted packet (icmpQuoted writes it here). */
  private readonly icmpQ = new Float64Array(ICMP_Q_SLOTS);
  /** The coarse clock in ticks of TICK_MS, as read at the last batch or timer tick (uvsadm -Lc). */
  nowTick = 0;
  /** The tick the last tick()'s sweep is to reach (sweepMore() goes on to it). */
  private sweepTo = 0;
  private readonly clockNow = new Float64Array(1);
  /** Table size from which processBatch runs warmBatch (WARM_MIN_ENTRIES; the JIT warm-up sets 0). */
  warmMinEntries = WARM_MIN_ENTRIES;
  /** The SYN cookie period of the same clock reading (an integer, so it is never boxed when passed on). */
  cookiePeriod = 0;
  private readonly clock: () => number;
  /** Connection sync marks (docs/ha.md), allocated when a master sync daemon first starts. */
  sync: SyncMarks | null = null;
  /** A backup's extension records waiting for their REC_CONN (installRecord). */
  private readonly extHold = new ExtHold();
  /** An FTP control connection's seq shift, read for its REC_FTPSEQ record (FtpHelper.seqShift). */
  private readonly ftpShift = new Int32Array(3);
  /** Marks are taken: a master sync daemon runs and this director is master. */
  private marking = false;
  private syncOn = false;
  /** Workers (uvsd --workers): where a frame of a connection this datapath does not hold goes;
   *  null with one datapath (the frame is dropped, ip_not_local / no_service). */
  handoff: Handoff | null = null;
  /** Workers: a later fragment the last worker of its handoff round did not find, offered for a
   *  retry (the first fragment, on this worker's own queue, may not have been read yet); true:
   *  taken (copied), false: dropped as before. */
  parkFragment: ((buf: Buffer, off: number, len: number) => boolean) | null = null;
  /** Workers: every ARP frame is also shown here (before it is answered in place), for the other
   *  workers to learn neighbours from (Link.arpShared). */
  onArp: ((buf: Buffer, off: number, len: number) => void) | null = null;
  /** Workers: how many there are (FULLNAT local ports are split between them by port % count). */
  readonly workers: number;
  /** Workers: which one this is. */
  readonly workerIndex: number;
  /** One of uvsd --workers' threads: its per-service counts are arrays the main thread sends (DatapathGroup.apply). */
  private readonly inWorker: boolean;
  /** Workers: the frame being processed was handed over by another worker (not read from the TAP). */
  handedIn = false;
  /** Workers: each worker's live F_STRAY entries (shared; this one writes only its own slot). While
   *  any worker holds one, a new UDP flow goes round the workers before it is opened. */
  readonly strays: Int32Array;
  /**
   * Workers: VIPs whose steering changed (apply: steerMasks() before and after), and the tick each
   * one's window ends: while it runs, a datagram to it that would open a UDP flow goes round every
   * worker first, as while strays live (newConn). A flow found on a worker its client no longer
   * reaches is marked F_STRAY then (strayFound), so it is still found once the window is over.
   */
  private readonly winVip = new Int32Array(STEER_WINDOWS);
  private readonly winEnd = new Float64Array(STEER_WINDOWS);
  /** The same window, for a persistent TCP service's SYNs (newConn), when the VIP had a persistent
   *  service before the change (templates may be on other workers); else 0. */
  private readonly winTpl = new Float64Array(STEER_WINDOWS);
  private winN = 0;
  /** The tick the last window ends (none runs from then on: one compare on a new UDP flow). */
  private winLast = 0;
  /** Every VIP's window (more VIPs changed at once than STEER_WINDOWS) ends at this tick. */
  private winAll = 0;
  /** winAll for persistent TCP services' SYNs (winTpl). */
  private winAllTpl = 0;
  /** A UDP entry made under a longer UDP timeout than today's (--set lowered it) may live until
   *  this tick: a window lasts at least as long. */
  private udpLate = 0;
  /** Workers: the worker that handed the frame being processed over had expired its tuple's
   *  finished entry (conn_reuse_mode): a connection opened for it here is conns_reused, as it is
   *  with one datapath, which finds and expires the entry itself. */
  reusedIn = false;
  /** A new flow is being scheduled for a segment that expired its tuple's finished entry: passed
   *  with a handoff from newConn (the worker that opens the connection counts it, once). */
  private reusing = false;
  /** newConn is opening a connection for an ICMP error (--schedule-icmp, icmpSchedule). */
  private icmpOpen = false;
  /** The IP ID nextIpId() gives next (0..65535). */
  private ipId: number;
  /** Gratuitous ARP for new and taken-over addresses: not from a worker, whose ops the main thread's
   *  datapath applies too and announces once through worker 0's queue. (A worker still defends an
   *  address against a conflict it receives: Link.checkConflict.) */
  private readonly announces: boolean;

  constructor(opts: DatapathOptions, sink: FrameSink, clock: () => number = () => performance.now()) {
    this.clock = clock;
    const shared = opts.worker !== undefined;
    this.inWorker = shared;
    this.counters = new Counters(shared);
    this.noDecap = noDecapRing(shared);
    this.workers = opts.worker?.count ?? 1;
    this.workerIndex = opts.worker?.index ?? 0;
    this.ipId = ((opts.ipIdSeed ?? randomInt(0x10000)) + Math.floor((0x10000 * this.workerIndex) / this.workers)) & 0xffff;
    this.announces = !shared;
    this.icmpLimit.configure(ICMP_ERR_RATE / this.workers, Math.ceil(ICMP_ERR_BURST / this.workers));
    this.icmpPeerLimit = new SourceLimiter(ICMP_PEER_BUCKETS, undefined, opts.worker?.icmpPeers);
    if (opts.worker?.icmpPeers === undefined) this.icmpPeerLimit.configure(icmpPeerRate(ICMP_RATELIMIT_MS), ICMP_PEER_BURST);
    else { this.icmpPeerLimit.rate = icmpPeerRate(ICMP_RATELIMIT_MS); this.icmpPeerLimit.burst = ICMP_PEER_BURST; } // shared buckets start full
    if (opts.worker !== undefined) this.laddrs.share(opts.worker.index, opts.worker.count);
    this.strays = opts.worker?.strays ?? new Int32Array(this.workers);
    this.mtu = opts.mtu ?? 1500;
    this.vnetHdr = opts.vnetHdr ?? 0;
    this.tx = new Tx(sink, this.counters, opts.batch ?? 64, this.mtu);
    this.link = new Link(opts.mac, opts.addrs, opts.gateway ?? 0, this.tx, this.counters, opts.neighMax);
    if (shared) this.link.conflictsByAddr = null;
    this.link.vnetHdr = this.vnetHdr;
    this.link.routedVips = opts.routedVips === true;
    // A draining LIP (dropLaddr) kept its place in the link until its last port is given back.
    this.laddrs.onDrained = (addr) => this.link.delLocal(addr);
    // With --workers the request may reach another worker, which holds none of its ports.
    this.link.sharedAnswer = (ip) => this.laddrs.draining(ip);
    this.setClock();
    this.ct = new ConnTable(opts.connMax, this.nowTick, undefined, opts.advise, opts.shadow === true);
    this.ct.onExpire = (e) => this.onConnExpire(e);
    this.ct.sweepClock = clock;
    this.ct.onWaitDue = (e) => this.synproxy.due(this, e);
    // An FTP control connection with data connections starts its timer again with 60 s
    // (ip_vs_conn_expire's expire_later; its next packet gives it its state's timeout again).
    // Its backup copy's timer too: no packet marks an idle control connection held so.
    this.ct.onControlDue = (e) => {
      if (!this.ftp.held(e)) return 0;
      if (this.marking) (this.sync as SyncMarks).mark(e, this.nowTick);
      return this.nowTick + EXPIRE_LATER_TICKS;
    };
    // A template held so (its timeout now 60 s): synced, as expire_later does.
    this.ct.onTemplateHeld = (e) => {
      if (this.marking) (this.sync as SyncMarks).mark(e, this.nowTick);
    };
    const load = opts.worker?.load;
    this.limiter = new SourceLimiter(undefined, undefined, opts.worker?.limits);
    this.dt = new DestTable(opts.destMax ?? DEST_MAX, shared, load === undefined ? undefined : { load, index: this.workerIndex });
    this.destSvc = new Int32Array(this.dt.max).fill(-1);
    this.synproxy = new SynProxy(this.mtu, Math.min(opts.connMax, SYNPROXY_HELD_MAX), this.dt.max);
    this.ftp = new FtpHelper(opts.connMax);
    this.setTimeouts(DEFAULT_TIMEOUTS_S);
    this.defense = { ...DEFENSE_DEFAULTS };
    this.setDefense(opts.defense ?? {});
  }

  /** Change the defenses (validated by the caller: fractions in 0..1, rate >= 0). */
  setDefense(d: Partial<DefenseOptions>): void {
    const wasMh = this.defense.sloppyTcp === 'mh';
    // A new --garp-refresh period counts from now.
    if (d.garpRefresh !== undefined && d.garpRefresh !== this.defense.garpRefresh) this.garpRefreshed = this.link.now;
    Object.assign(this.defense, d);
    const max = this.ct.max;
    const f = this.defense;
    this.secureOnAt = f.secureTcpAbove >= 1 ? Infinity : Math.max(1, Math.ceil(max * f.secureTcpAbove));
    this.secureOffAt = Math.floor(this.secureOnAt * 0.8);
    this.evictAt = f.evictAbove >= 1 ? max : Math.min(max, Math.max(1, Math.floor(max * f.evictAbove)));
    if (f.maxConnRatePerSource !== this.limiter.rate) this.limiter.configure(f.maxConnRatePerSource);
    this.link.acceptUnsolicited = f.arpAcceptUnsolicited;
    this.toa = f.toa;
    // Its rate only: the buckets (shared with the other workers) keep their tokens.
    if (d.icmpRatelimit !== undefined) {
      this.icmpPeerLimit.rate = icmpPeerRate(d.icmpRatelimit);
      this.icmpPeerLimit.burst = d.icmpRatelimit > 0 ? ICMP_PEER_BURST : ICMP_PEER_OFF;
    }
    if (d.ftpPorts !== undefined) this.ftp.setPorts(f.ftpPorts);
    if (d.synproxySynRetries !== undefined) this.synproxy.setSynRetries(f.synproxySynRetries);
    this.checkSecure();
    if (wasMh !== (f.sloppyTcp === 'mh')) {
      // The hash tables' population order follows the mode: rebuild them.
      for (const svc of this.services) {
        if (svc === undefined) continue;
        svc.schedFlags = this.schedFlagsOf(svc.schedFlags & ~SF_ADDR_ORDER);
        svc.scheduler.update?.(svc, this.dt);
      }
    }
  }

  /** A service's scheduler flags as the scheduler sees them: ipvsadm's -b bits, plus address
   *  order for the hash tables while sloppy TCP follows mh (directors must agree). */
  private schedFlagsOf(flags: number): number {
    return this.defense.sloppyTcp === 'mh' ? flags | SF_ADDR_ORDER : flags;
  }

  /** Switch secure TCP on above secureOnAt entries, off below secureOffAt (hysteresis). */
  private checkSecure(): void {
    if (this.secureByWorkers) return;
    const n = this.ct.count;
    if (!this.secureTcp && n >= this.secureOnAt) {
      this.secureTcp = true;
      this.tt = this.secureTicks;
      this.tcpTable = NEXT_DOS;
      this.counters.c[C.secure_tcp_switches]++;
    } else if (this.secureTcp && n < this.secureOffAt) {
      this.secureTcp = false;
      this.tt = this.timeoutTicks;
      this.tcpTable = NEXT;
      this.counters.c[C.secure_tcp_switches]++;
    }
  }

  get neigh() {
    return this.link.neigh;
  }

  /** The --gateway (0: none). */
  get gateway(): number {
    return this.link.gateway;
  }

  /** The neighbour table's entries (uvsadm --neigh). */
  neighRows(): NeighRow[] {
    return this.neigh.rows(this.clock());
  }

  get mac(): Uint8Array {
    return this.link.mac;
  }

  get addrs(): LinkAddr[] {
    return this.link.addrs;
  }

  /**
   * Read the coarse clock once (per batch or timer tick): the clock function, or cell[0] when the
   * caller has the time (Port.rxClock). Through clockNow, a Float64Array, so that the cell's time
   * is never boxed: a double passed to a function V8 did not inline, or merged with the clock
   * function's result, would be a 16-byte heap number per batch.
   */
  private setClock(cell: Float64Array | null = null): void {
    const c = this.clockNow;
    if (cell === null) c[0] = this.clock();
    else c[0] = cell[0];
    const now = c[0];
    this.link.now = now;
    this.nowTick = Math.floor(now / TICK_MS);
    this.cookiePeriod = SynCookies.period(now);
  }

  setTimeouts(seconds: readonly number[]): void {
    // Entries made under a longer UDP timeout live on with it (a steering window covers them).
    const udpWas = this.timeoutTicks[S_UDP];
    for (let i = 0; i < seconds.length; i++) {
      this.timeoutS[i] = seconds[i];
      this.timeoutTicks[i] = Math.ceil((seconds[i] * 1000) / TICK_MS);
      this.secureTicks[i] = Math.ceil((Math.min(seconds[i], SECURE_TIMEOUTS_S[i]) * 1000) / TICK_MS);
    }
    if (this.timeoutTicks[S_UDP] < udpWas && this.ct.count > 0) this.udpLate = Math.max(this.udpLate, this.nowTick + udpWas);
  }

  // ---- per batch -------------------------------------------------------------------------

  /**
   * Process `count` frames at buf[base + i*stride] with lengths lens[i], then flush
   * transmissions. With base >= RX_HEADROOM and stride >= the largest frame + RX_HEADROOM, every
   * frame has RX_HEADROOM free bytes in front of it (see Port.rxArena): TUN prepends in place.
   * With a vnet header (vnetHdr > 0) frame i's header is the vnetHdr bytes in front of it (inside
   * that headroom) and lens[i] counts the header too, as the port reads them. `clock`: the
   * batch's time in clock[0] (Port.rxClock; without it the datapath's clock is called, which
   * for performance.now() is a boxed double per batch).
   */
  processBatch(buf: Buffer, stride: number, lens: Uint32Array, count: number, base = 0, clock: Float64Array | null = null): void {
    this.setClock(clock);
    this.tx.setRxBuffer(buf);
    this.dt.syncOverload(); // thresholds crossed on other workers
    this.counters.batch[count < BATCH_SLOTS ? count : BATCH_SLOTS - 1]++; // metrics: frames per batch
    const vh = this.vnetHdr;
    // With offload a frame may be a 64 KB TCP super-segment.
    const maxIp = vh > 0 ? 65535 : this.mtu;
    this.headroom = base >= RX_HEADROOM && stride >= maxIp + 18 + RX_HEADROOM ? RX_HEADROOM : 0;
    if (count > 1 && this.ct.count >= this.warmMinEntries) this.warmBatch(buf, stride, lens, count, base);
    // A frame longer than the MTU allows (a link set to a larger MTU than --mtu, a port reading
    // more) is dropped before anything is written in front of any frame: every frame processed
    // then ends at least 4 bytes before the next one's headroom, which TUN writes in place while
    // this one may still wait in the transmit batch (headroom needs stride >= maxIp + 18 + RX_HEADROOM).
    const maxLen = ETH_HLEN + this.mtu;
    // rx counted per batch: two fewer read-modify-writes of the counters per frame.
    let bytes = 0;
    if (vh === 0) {
      for (let i = 0; i < count; i++) {
        const len = lens[i];
        bytes += len;
        if (len > maxLen) this.counters.d[D.frame_too_long]++;
        else this.processFrame(buf, base + i * stride, len);
      }
    } else {
      for (let i = 0; i < count; i++) {
        const off = base + i * stride;
        const len = lens[i] - vh;
        if (!this.readVnet(buf, off, lens[i])) continue;
        bytes += len;
        // A GSO super-segment may hold up to 64 KB of IP; any other frame the MTU.
        if (len > (this.gsoType === VNET_GSO_NONE ? maxLen : ETH_HLEN + 65535)) this.counters.d[D.frame_too_long]++;
        else this.processFrame(buf, off, len);
      }
    }
    const c = this.counters.c;
    c[C.rx_frames] += count;
    c[C.rx_bytes] += bytes;
    c[C.fwd_packets] += this.fwdN;
    c[C.fwd_bytes] += this.fwdB;
    c[C.fwd_out_packets] += this.outN;
    c[C.fwd_out_bytes] += this.outB;
    this.fwdN = this.fwdB = this.outN = this.outB = 0;
    this.tx.flush();
  }

  /** Take the vnet header of the frame at off (vnet.ts); false when the read is too short. */
  private readVnet(buf: Buffer, off: number, len: number): boolean {
    if (len < this.vnetHdr) {
      this.counters.d[D.short_frame]++;
      return false;
    }
    const partial = (vnetFlags(buf, off) & VNET_F_NEEDS_CSUM) !== 0;
    const gso = vnetGsoType(buf, off);
    this.csumPartial = partial;
    this.gsoType = gso;
    if (partial) this.counters.c[C.rx_csum_partial]++;
    if (gso !== VNET_GSO_NONE) {
      this.counters.c[C.rx_gso_frames]++;
      this.gsoSize = vnetGsoSize(buf, off);
    }
    return true;
  }

  /**
   * Touch the hash bucket of every TCP/UDP frame of the batch, then the first node of each
   * non-empty one (ConnTable.touchHead/touchChains), before processing any of them: the loads of
   * a pass are independent, so their cache misses overlap instead of costing one full memory
   * latency per new flow. Only plausibility checks here; processFrame validates. Skipped while
   * the table holds fewer than warmMinEntries: its entries then stay in cache and the pass
   * would only add a second hash per frame (~3 % of a steady frame's CPU end to end).
   */
  private warmBatch(buf: Buffer, stride: number, lens: Uint32Array, count: number, base: number): void {
    let acc = 0;
    for (let i = 0; i < count; i++) {
      const off = base + i * stride;
      if (lens[i] < ETH_HLEN + 24 || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) continue;
      const ip = off + ETH_HLEN;
      const l4 = ip + (buf[ip] & 15) * 4;
      const proto = buf[ip + IP_PROTO];
      if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || l4 + 4 > off + lens[i]) continue;
      acc ^= this.ct.touchHead(proto, rd32(buf, ip + IP_SRC), rd16(buf, l4), rd32(buf, ip + IP_DST), rd16(buf, l4 + 2));
    }
    this.warmSink = acc ^ this.ct.touchChains();
  }

  // ---- classification --------------------------------------------------------------------

  private processFrame(buf: Buffer, off: number, len: number): void {
    const c = this.counters.c;
    if (len < ETH_HLEN) {
      this.counters.d[D.short_frame]++;
      return;
    }
    // Ours, or ARP to the broadcast MAC. A bridge floods unknown unicast and multicast to every
    // port; IPv4 to the broadcast MAC is never scheduled (IPVS takes PACKET_HOST frames only).
    const m = this.link.mac;
    const type = rd16(buf, off + ETH_TYPE);
    if (buf[off] === m[0] && buf[off + 1] === m[1] && buf[off + 2] === m[2] &&
        buf[off + 3] === m[3] && buf[off + 4] === m[4] && buf[off + 5] === m[5]) {
      if (type === ETHERTYPE_IPV4) this.processIpv4(buf, off, len);
      else if (type === ETHERTYPE_ARP) this.arp(buf, off, len);
      else c[C.ignored_ethertype]++;
    } else if (type === ETHERTYPE_ARP && buf[off] === 0xff && buf[off + 1] === 0xff && buf[off + 2] === 0xff &&
        buf[off + 3] === 0xff && buf[off + 4] === 0xff && buf[off + 5] === 0xff) {
      this.arp(buf, off, len);
    } else {
      c[C.ignored_other_mac]++;
    }
  }

  private arp(buf: Buffer, off: number, len: number): void {
    if (this.onArp !== null) this.onArp(buf, off, len);
    this.link.arp(buf, off, len);
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
    if (hlen > 20 && !ipv4OptionsValid(buf, ip, hlen)) {
      d[D.ip_bad_options]++;
      return;
    }
    // A martian source (0/8, 127/8, multicast 224/4, 255.255.255.255; not class E 240/4): the
    // kernel drops it before routing, so before IPVS.
    if (martianSource(rd32(buf, ip + IP_SRC))) {
      d[D.bad_source]++;
      return;
    }
    const dst = rd32(buf, ip + IP_DST);
    if (!this.link.active && !this.link.passes(dst)) {
      // Backup (docs/ha.md): the master forwards; only the fixed director addresses answer here
      // (and, master of some HA group, that group's addresses).
      d[D.backup]++;
      return;
    }
    // Not addressed to us may still be ours: NAT replies go to the client's address. So the
    // connection lookup (both directions) comes before the "not local" drop (processL4).
    const local = this.link.isLocal(dst);
    const flen = ETH_HLEN + tot; // drop any Ethernet padding from here on
    const proto = buf[ip + IP_PROTO];
    const l4 = ip + hlen;
    const l4len = tot - hlen;
    const frag = rd16(buf, ip + IP_FRAG) & 0x3fff;
    if (frag !== 0) {
      // Fragments of TCP/UDP datagrams follow their first fragment's decision (frags.ts).
      if (proto !== PROTO_TCP && proto !== PROTO_UDP) {
        d[local ? D.ip_fragment : D.ip_not_local]++;
        return;
      }
      if ((frag & 0x1fff) !== 0) {
        this.laterFragment(buf, off, flen, ip, proto, dst, tot, local);
        return;
      }
    }
    if (proto === PROTO_TCP) {
      if (l4len < 20 || (buf[l4 + 12] >>> 4) * 4 < 20 || (buf[l4 + 12] >>> 4) * 4 > l4len) {
        d[local ? D.l4_truncated : D.ip_not_local]++;
        return;
      }
      this.processL4(buf, off, flen, ip, l4, PROTO_TCP, dst, tot, local, frag !== 0);
    } else if (proto === PROTO_UDP) {
      if (l4len < 8) {
        d[local ? D.l4_truncated : D.ip_not_local]++;
        return;
      }
      this.processL4(buf, off, flen, ip, l4, PROTO_UDP, dst, tot, local, frag !== 0);
    } else if (proto === IPPROTO_SCTP) {
      // The common header and a chunk header; the kernel reassembles fragments first (its CRC
      // covers the whole packet), uvs drops them (ip_fragment above).
      if (l4len < SCTP_MIN) {
        d[local ? D.l4_truncated : D.ip_not_local]++;
        return;
      }
      if (!sctpChecksumOk(buf, l4, l4len)) {
        d[D.sctp_bad_checksum]++;
        return;
      }
      this.processL4(buf, off, flen, ip, l4, PROTO_SCTP, dst, tot, local, false);
    } else if (proto === PROTO_ICMP) {
      // An error quoting a tracked connection goes to that connection's forwarder.
      if (this.icmpRelated(buf, off, flen, ip, l4, l4len)) return;
      if (!local) d[D.ip_not_local]++;
      else if (l4len >= 8 && buf[l4] !== 8 && icmpQuoted(buf, l4, l4len, this.icmpQ) !== 0) d[D.icmp_no_conn]++;
      else if (this.link.isLocal(rd32(buf, ip + IP_SRC))) d[D.spoofed_local_src]++; // would answer ourselves
      // The broadcast address of one of our networks: a martian to the kernel with rp_filter 1
      // or 2, as for a new flow (processL4), so no echo reply either (to every host on it).
      else if (this.link.connectedBroadcast(rd32(buf, ip + IP_SRC))) d[D.bad_source]++;
      // A corrupted echo request is not answered, as the kernel's icmp_rcv (csum_error): the reply,
      // its checksum updated incrementally, would be as corrupted. A partial checksum (vnet header:
      // the kernel's own packet) is not checked, as skb_csum_unnecessary.
      else if (l4len >= 8 && buf[l4] === 8 && !this.csumPartial && checksum(buf, l4, l4len) !== 0) d[D.icmp_bad_checksum]++;
      else this.link.icmp(buf, off, flen, ip, l4, l4len);
    } else if (proto === PROTO_ESP || proto === PROTO_AH) {
      this.ipsec(buf, off, flen, ip, dst, tot, local);
    } else {
      d[local ? D.ip_proto_unhandled : D.ip_not_local]++;
    }
  }

  /**
   * IPsec ESP or AH (no ports): traffic related to the client's IKE exchange, as the kernel's
   * ip_vs_proto_ah_esp: a packet from CIP to VIP goes where the UDP connection CIP:500 → VIP:500
   * went, and through NAT a server's packet to CIP by that connection's OUT tuple (RIP:500 →
   * CIP:500) leaves from the VIP; L3 only, counted in its statistics, and it renews the
   * connection's timer (ip_vs_conn_put). Nothing is scheduled for it (ah_esp_conn_schedule):
   * without that connection it is ip_proto_unhandled as before. Not through FULLNAT (a server
   * answers the local address, whose IKE port is not 500; the kernel has no FULLNAT): dropped so.
   */
  private ipsec(buf: Buffer, off: number, flen: number, ip: number, dst: number, tot: number, local: boolean): void {
    const ct = this.ct;
    const node = ct.lookup(PROTO_UDP, rd32(buf, ip + IP_SRC), ISAKMP_PORT, dst, ISAKMP_PORT);
    const e = node >>> 1;
    if (node < 0 || ct.fwd[e] === FWD_FULLNAT || !this.boundNow(e)) {
      // Workers: the steering program has no ports to hash; the IKE connection may be another worker's.
      if (node < 0 && this.handoff !== null && this.handoff(buf, off, flen, -1, false)) return;
      this.counters.d[local ? D.ip_proto_unhandled : D.ip_not_local]++;
      return;
    }
    if (!this.link.active && this.othersConn(e)) return;
    if ((node & 1) === DIR_IN) ct.clientPacket(e, this.nowTick);
    const before = ct.expires[e];
    ct.expires[e] = this.nowTick + this.tt[ct.state[e]];
    if (ct.expires[e] < before) ct.reslot(e);
    // Sync: the backup's copy is renewed as by the connection's own packets (the kernel's
    // ip_vs_sync_conn runs for these too), or a takeover would find the tunnel's IKE entry gone.
    if (this.marking && this.nowTick - (this.sync as SyncMarks).lastTick[e] > this.tt[ct.state[e]] >>> 1) (this.sync as SyncMarks).mark(e, this.nowTick);
    this.forward(buf, off, flen, ip, -1, node, tot);
  }

  /**
   * ICMP errors (unreachable, time exceeded, ...) quoting a TCP/UDP packet of a tracked
   * connection. The quoted packet went the other way, so its tuple is looked up reversed: an IN
   * hit means it quotes a server→client packet and the error travels towards the server.
   */
  private icmpRelated(buf: Buffer, off: number, flen: number, ip: number, l4: number, l4len: number): boolean {
    const qs = this.icmpQ;
    const t = icmpTunnelQuoted(buf, l4, l4len, qs);
    if (t !== 0 && this.tunnelError(buf, ip, l4, l4len, t)) return true;
    const q = icmpQuoted(buf, l4, l4len, qs);
    // A tunnelled packet's connection may be another worker's (as below); the last one counts it icmp_unhandled.
    if (q === 0) return t !== 0 && this.handoff !== null && this.handoff(buf, off, flen, -1, false);
    const inner = l4 + 8;
    let node = this.ct.lookup(q, qs[ICMP_Q_DADDR], qs[ICMP_Q_DPORT], qs[ICMP_Q_SADDR], qs[ICMP_Q_SPORT]);
    let fresh = false;
    if (node < 0) {
      // Workers: ICMP is not steered by the connection it quotes (the TAP's program sends it to
      // queue 0), so that connection may be another worker's. A quote from a FULLNAT local
      // address names its port's owner (port % workers); any other goes to the next worker, as a
      // NAT reply does. The last one drops it as before (ip_not_local, icmp_no_conn), or with
      // --schedule-icmp schedules it (never an error about a tunnelled packet, as the kernel).
      if (this.handoff !== null && this.handoff(buf, off, flen, this.laddrs.isLaddr(qs[ICMP_Q_SADDR]) ? qs[ICMP_Q_SPORT] % this.workers : -1, false)) return true;
      if (!this.defense.scheduleIcmp || t !== 0) return false;
      node = this.icmpSchedule(buf, ip, l4, l4len, q);
      if (node < 0) return node === ICMP_SCHED_DROPPED;
      fresh = true;
    }
    const e = node >>> 1;
    const fw = FORWARDERS[this.ct.fwd[e]] as Forwarder;
    if (fw.icmp === undefined || !this.boundNow(e)) return false;
    if (!this.link.active && this.othersConn(e)) return true;
    const toServer = (node & 1) === DIR_IN;
    const fwd = this.ct.fwd[e];
    // As the kernel (ip_vs_in_icmp, handle_response_icmp: "failed checksum"), an error relayed
    // towards a server, or translated (NAT/FULLNAT: its new checksum is summed over the whole
    // message, which would make a corrupted quote valid), must be intact. A partial checksum
    // (vnet header: the kernel's own packet) is not checked, as skb_csum_unnecessary.
    if (!fresh && (toServer || fwd === FWD_NAT || fwd === FWD_FULLNAT) && !this.csumPartial && checksum(buf, l4, l4len) !== 0) {
      this.counters.d[D.icmp_bad_checksum]++;
      return true;
    }
    // In the connection's statistics as the kernel counts them: one towards the server before it
    // goes a hop (ip_vs_in_stats in ip_vs_in_icmp, before ip_vs_icmp_xmit), one towards the client
    // once sent on (ip_vs_out_stats in handle_response_icmp: ip_forward dropped one at TTL 1 first).
    const tot = flen - ETH_HLEN;
    if (toServer) this.countPacket(e, true, tot);
    // Relayed, so a hop as any forwarded packet; no error is ever sent about an error.
    if (!this.decTtl(buf, ip)) {
      this.counters.d[D.ttl_exceeded]++;
      return true;
    }
    if (toServer && (this.ct.flags[e] & F_SYNPROXY) !== 0) synproxyQuoteToServer(this.ct, buf, inner, off + flen, e);
    if (fw.icmp(this, buf, off, flen, ip, inner, e, toServer)) {
      this.counters.c[C.icmp_related_forwarded]++;
      if (!toServer) this.countPacket(e, false, tot);
    }
    // A one-packet service's entry goes with its packet (ip_vs_conn_put of an ONE_PACKET entry).
    if (fresh && (this.ct.flags[e] & F_ONEPACKET) !== 0) this.releaseOnePacket(e);
    return true;
  }

  /**
   * --schedule-icmp (the kernel's schedule_icmp, ip_vs_in_icmp → ip_vs_try_to_schedule): an
   * ICMP error quoting protocol q's packet VIP:vport → client:cport (its tuple in icmpQ) that no
   * connection here knows. Behind ECMP it is about another director's connection (a router's
   * "fragmentation needed" about a DR reply, sent to the VIP): the quote taken the other way round
   * is scheduled as the client's new flow is (newConn: the same service lookup, marks, templates,
   * scheduler, limits and counters; no SYN or INIT needed, as tcp_conn_schedule for ICMP; an mh
   * service's flow goes to the table's owner even at weight 0, as --sloppy-tcp mh adopts: the
   * connection the error is about is there, a draining server's too), the
   * entry left in its first state (NONE) for ICMP_SCHED_TICKS as ip_vs_conn_new leaves it, and the
   * caller relays the error to the server chosen as for a found connection. Returns that entry's
   * node (IN); ICMP_SCHED_NONE when nothing was scheduled (the caller counts icmp_no_conn, as
   * before): not sent to an address of ours, a client address that cannot be one, no service,
   * a SYN proxy service (the server's sequence numbers are another director's) or one with a
   * persistence engine (its key is in the quoted payload, which the kernel does not parse either);
   * ICMP_SCHED_DROPPED when dropped and counted here (bad checksum, backup, no server, full table;
   * FULLNAT in newConn: the server knows the connection by another director's local address).
   */
  private icmpSchedule(buf: Buffer, ip: number, l4: number, l4len: number, q: number): number {
    const qs = this.icmpQ;
    const vip = qs[ICMP_Q_SADDR] | 0;
    const vport = qs[ICMP_Q_SPORT] | 0;
    const cip = qs[ICMP_Q_DADDR] | 0;
    const cport = qs[ICMP_Q_DPORT] | 0;
    if (!this.link.isLocal(rd32(buf, ip + IP_DST)) || this.link.isLocal(cip) || martianSource(cip)) return ICMP_SCHED_NONE;
    const sid = this.findService(q, vip, vport);
    if (sid < 0) return ICMP_SCHED_NONE;
    const svc = this.services[sid] as SvcRuntime;
    if ((svc.synproxy && q === PROTO_TCP) || svc.pe !== PE_NONE) return ICMP_SCHED_NONE;
    const d = this.counters.d;
    // Checked before an entry is made for it (the kernel checks after ip_vs_try_to_schedule).
    if (!this.csumPartial && checksum(buf, l4, l4len) !== 0) {
      d[D.icmp_bad_checksum]++;
      return ICMP_SCHED_DROPPED;
    }
    if (!this.link.active && !this.link.held(vip)) {
      d[D.backup]++;
      return ICMP_SCHED_DROPPED;
    }
    const inner = qs[ICMP_Q_INNER];
    const hash = this.ct.lastHash; // icmpRelated's lookup of this tuple
    // A TCP quote opens as a SYN would (newConn's state is NONE all the same: icmpOpen).
    this.icmpOpen = true;
    const e = this.newConn(q, cip, cport, vip, vport, q === PROTO_TCP ? TCP_SYN : 0, buf, ip, inner + (buf[inner] & 15) * 4, false, hash);
    this.icmpOpen = false;
    if (e < 0) return ICMP_SCHED_DROPPED; // counted there (no_dest, conn_table_full, ...) or handed on
    const ct = this.ct;
    ct.expires[e] = this.nowTick + ICMP_SCHED_TICKS;
    ct.reslot(e);
    this.counters.c[C.icmp_scheduled]++;
    return e * 2 + DIR_IN;
  }

  /**
   * An ICMP error quoting a TUN-wrapped packet (icmpTunnelQuoted: the client's packet inside, of
   * protocol t, its tuple in icmpQ). The client→VIP tuple is looked up as it is (the error is
   * about a request, not a reply); the TUN forwarder relays it to the client (tunRelayError).
   * false: no TUN connection here sent it (the caller goes on as for any ICMP error).
   */
  private tunnelError(buf: Buffer, ip: number, l4: number, l4len: number, t: number): boolean {
    const qs = this.icmpQ;
    const node = this.ct.lookup(t, qs[ICMP_Q_SADDR], qs[ICMP_Q_SPORT], qs[ICMP_Q_DADDR], qs[ICMP_Q_DPORT]);
    const e = node >>> 1;
    if (node < 0 || (node & 1) !== DIR_IN || this.ct.fwd[e] !== FWD_TUN || !this.boundNow(e)) return false;
    if (!this.link.active && this.othersConn(e)) return true;
    return tunRelayError(this, buf, ip, l4, l4len, qs[ICMP_Q_INNER], e);
  }

  // ---- TCP/UDP: connections ----------------------------------------------------------------

  /** A fragment with offset > 0: forwarded like its datagram's first fragment, L3 only. */
  private laterFragment(buf: Buffer, off: number, flen: number, ip: number, proto: number, dst: number, tot: number, local: boolean): void {
    const node = this.frags.find(rd32(buf, ip + IP_SRC), dst, proto, rd16(buf, ip + IP_ID), this.nowTick);
    const e = node >>> 1;
    const ct = this.ct;
    // The entry the first fragment found, not another flow's that took its slot since.
    if (node < 0 || !ct.isAlive(e) || ct.proto[e] !== proto || this.frags.foundFlow !== flowPrint(ct.caddr[e], ct.cport[e], ct.vport[e])) {
      // Workers: the TAP's program steers later fragments (no ports) to queue 0, their first to
      // the connection's worker: on to the next worker, as an ICMP error; the last one keeps it a
      // few ms for its first fragment, which may still wait in its own queue (worker.ts).
      if (this.handoff !== null && (this.handoff(buf, off, flen, -1, false) || (this.parkFragment !== null && this.parkFragment(buf, off, flen)))) return;
      this.counters.d[local ? D.frag_no_first : D.ip_not_local]++;
      return;
    }
    const frag = rd16(buf, ip + IP_FRAG);
    const start = (frag & 0x1fff) * 8;
    this.frags.passed(start, start + tot - (buf[ip] & 15) * 4, (frag & 0x2000) === 0);
    if (!this.link.active && this.othersConn(e)) return;
    this.forward(buf, off, flen, ip, -1, node, tot);
  }

  /**
   * Not master of every HA group (checked first, inline: Link.active): is entry e a connection of
   * a group the other director is master of? Then its frame is dropped and counted drop_backup.
   */
  private othersConn(e: number): boolean {
    if (this.link.held(this.ct.vaddr[e])) return false;
    this.counters.d[D.backup]++;
    return true;
  }

  private processL4(
    buf: Buffer, off: number, flen: number, ip: number, l4: number, proto: number, dst: number, tot: number, local: boolean,
    firstFragment: boolean,
  ): void {
    const ct = this.ct;
    const src = rd32(buf, ip + IP_SRC);
    const sport = rd16(buf, l4);
    const dport = rd16(buf, l4 + 2);
    const tcpFlags = proto === PROTO_TCP ? buf[l4 + 13] : 0;
    let e: number;
    // A finished entry expired for this segment, here or by the worker that handed it over
    // (conns_reused once it opens, on the worker that opens it).
    let reused = this.reusedIn;
    let node = ct.lookup(proto, src, sport, dst, dport);
    const hash = ct.lastHash; // reused by a new flow's insert (newConn)
    // An FTP data connection a passive reply announced (client port still 0) takes this SYN.
    if (node < 0 && this.ftp.waiting > 0 && proto === PROTO_TCP) node = this.ftp.claim(ct, src, sport, dst, dport, tcpFlags);
    const nd = node >= 0 ? ct.dest[node >>> 1] : 0;
    if (node >= 0 && (nd < 0 ? !this.bindLate(node >>> 1) : this.dt.gen[nd] !== ct.dgen[node >>> 1])) {
      // Its destination was deleted (IPVS expire_nodest_conn), or a synced entry's server is
      // still not here: expire it here, not in a walk of the whole table when the server went;
      // a SYN may open a new connection below.
      if (nd < 0) this.counters.c[C.sync_unbound_expired]++;
      ct.expireNow(node >>> 1);
      node = -1;
    }
    if (node >= 0 && (proto === PROTO_TCP ? (tcpFlags & TCP_SYN) !== 0 : proto === PROTO_SCTP && sctpMayOpen(buf, l4)) &&
        (node & 1) === DIR_IN && this.reusable(node >>> 1)) {
      // A new connection (the kernel's is_new_conn: any segment with SYN, an SCTP INIT) on a
      // finished connection's tuple (the client reused its port; an SCTP peer binds a fixed one)
      // or on one whose server has weight 0: scheduled again (ip_vs_in), not sent to the old
      // entry's server, which may be quiesced by now. A SYN proxy one goes through the cookie
      // handshake again. A SYN with RST expires it and opens nothing (newConn), as the kernel's
      // tcp_conn_schedule (!th->rst): counted conns_reused only once a new connection is made.
      ct.expireNow(node >>> 1);
      node = -1;
      reused = true;
    }
    if (node >= 0) {
      e = node >>> 1;
      if (!this.link.active && this.othersConn(e)) return;
      const out = (node & 1) !== DIR_IN;
      const was = ct.state[e];
      // Workers: a client's datagram another worker read (the steering changed since its flow
      // opened here): a stray from now on, so that its next datagrams still find it.
      if (this.handedIn && !out && proto === PROTO_UDP) this.strayFound(e);
      if (!out) ct.clientPacket(e, this.nowTick);
      // FTP control: the client's ack back into the server's numbering before the SYN proxy's
      // translation (the server's seq is moved after it, below), PASV/PORT noted.
      if ((ct.flags[e] & F_FTP) !== 0 && !out && !this.ftp.inbound(this, buf, ip, l4, ip + tot, e, !firstFragment, this.tt[S_LISTEN])) return;
      // SYN proxy: sequence numbers translated, or the server's handshake still going on.
      if ((ct.flags[e] & F_SYNPROXY) !== 0 && this.synproxy.packet(this, buf, off, flen, ip, l4, e, out)) {
        if (ct.isAlive(e) && ct.state[e] !== was) {
          ct.expires[e] = this.nowTick + this.tt[ct.state[e]];
          ct.reslot(e);
          if (establishedState(ct.state[e])) this.assure(e); // the server's handshake completed
          // The server answered: synced from now on, with its translation.
          if (this.marking) (this.sync as SyncMarks).mark(e, this.nowTick);
        }
        return;
      }
      // Confirmed, eviction spares it (F_CONFIRMED): TCP now (its state decides the rest), UDP
      // through NAT/FULLNAT only when the client speaks after a reply (a stream: a spoofed
      // request the server answered is not one), UDP through DR/TUN at its second packet.
      const f = ct.flags[e];
      if (proto === PROTO_UDP && (f & F_NOOUTPUT) === 0) {
        if (out) ct.flags[e] = f | F_REPLIED;
        else if ((f & F_REPLIED) !== 0) ct.flags[e] = f | F_CONFIRMED;
      } else {
        ct.flags[e] = f | F_CONFIRMED;
      }
      if (proto === PROTO_TCP || proto === PROTO_SCTP) {
        const dir = out ? DIR_OUTPUT : (ct.flags[e] & F_NOOUTPUT) !== 0 ? DIR_INPUT_ONLY : DIR_INPUT;
        if (proto === PROTO_TCP) tcpTransition(ct, this.dt, e, tcpFlags, dir, this.tcpTable);
        else sctpTransition(ct, this.dt, e, buf, l4, tot - (l4 - ip), dir);
        // A completed handshake: eviction spares this client's next half-open entries, and its
        // template is assured.
        if (establishedState(ct.state[e]) && !establishedState(was)) this.served(e);
      } else if ((f & F_CONFIRMED) === 0 && (ct.flags[e] & F_CONFIRMED) !== 0) {
        this.served(e);
      }
      const before = ct.expires[e];
      const st = ct.state[e];
      // Secure TCP's 3 s for SYNACK are for a blind half-open entry (DR/TUN: a SYN alone gives
      // SYNACK in tcp_states_dos); through NAT/FULLNAT SYNACK means the server answered and the
      // dos table keeps it there until the server's next segment, however long the client's
      // request takes: its usual timeout then (the kernel's secure_tcp changes no timeout).
      ct.expires[e] = this.nowTick + (st === S_SYNACK && (ct.flags[e] & F_NOOUTPUT) === 0 ? this.timeoutTicks[st] : this.tt[st]);
      // A new state, or the same one under secure TCP's shorter timeouts, may expire before the
      // slot the entry waits in (kernel: mod_timer); a later expiry is re-slotted by the sweep.
      if (ct.state[e] !== was || ct.expires[e] < before) ct.reslot(e);
      // Sync: a state change, or a long-lived entry whose backup copy needs its timer renewed.
      if (this.marking && (ct.state[e] !== was || this.nowTick - (this.sync as SyncMarks).lastTick[e] > this.tt[ct.state[e]] >>> 1)) {
        (this.sync as SyncMarks).mark(e, this.nowTick);
      }
      if ((ct.flags[e] & F_FTP) !== 0 && out && this.ftpOut(buf, off, ip, l4, tot, node, firstFragment)) return;
    } else {
      if (!local) {
        // Workers: a NAT reply whose connection another worker holds (the TAP queue changed).
        if (this.handoff !== null && this.handoff(buf, off, flen, -1, false)) return;
        this.counters.d[D.ip_not_local]++;
        return;
      }
      if (this.link.isLocal(src)) {
        // Our own address (VIP, director address) as the source, from the wire: spoofed.
        this.counters.d[D.spoofed_local_src]++;
        return;
      }
      if (this.link.connectedBroadcast(src)) {
        // The broadcast address of one of our networks (10.0.0.255 beside --addr 10.0.0.1/24): a
        // martian to the kernel with rp_filter 1 or 2 (fib_validate_source finds RTN_BROADCAST),
        // so never a connection. Only here, on a new flow: a loop over the --addr networks.
        this.counters.d[D.bad_source]++;
        return;
      }
      this.reusing = reused; // for a handoff in newConn (another worker opens it)
      e = this.newConn(proto, src, sport, dst, dport, tcpFlags, buf, ip, l4, firstFragment, hash);
      this.reusing = false;
      if (e < 0) {
        if (e === SYNPROXY_SYN) {
          // A SYN proxy's new connection starts with its cookie (the ACK is scheduled).
          if (reused) this.counters.c[C.conns_reused]++;
          this.synproxy.answerSyn(this, buf, off, ip, l4, this.cookiePeriod, this.synToa);
        } else if (e === NO_DEST) this.leave(buf, ip, src, dst);
        else if (e === NO_CONN) this.reset(buf, ip, l4, src);
        return;
      }
      if (reused) this.counters.c[C.conns_reused]++;
      node = e * 2 + DIR_IN;
      if ((ct.flags[e] & F_SYNPROXY) !== 0) {
        // The client's ACK becomes the SYN to the server (its segment is held until the server answers).
        flen = this.synproxy.openServer(this, buf, ip, l4, e);
        tot = flen - ETH_HLEN;
        if (this.vnetHdr > 0) {
          // Built with a whole checksum: it leaves with a zero vnet header and is rewritten as such.
          vnetClear(buf, off);
          this.csumPartial = false;
          this.gsoType = 0;
        }
      }
    }
    if (firstFragment && !this.frags.remember(src, dst, proto, rd16(buf, ip + IP_ID), node, flowPrint(ct.caddr[e], ct.cport[e], ct.vport[e]), tot - (l4 - ip), this.nowTick)) {
      this.counters.d[D.frag_table_full]++;
      if ((ct.flags[e] & F_ONEPACKET) !== 0) this.releaseOnePacket(e);
      return;
    }
    this.forward(buf, off, flen, ip, l4, node, tot);
    if ((ct.flags[e] & F_ONEPACKET) !== 0) this.releaseOnePacket(e);
  }

  /**
   * A server→client packet of FTP control connection node: its seq moved, and an expected
   * passive reply rewritten and forwarded from a generated frame. True when it was dealt with
   * here (sent rewritten, or dropped); false: forward the packet itself.
   */
  private ftpOut(buf: Buffer, off: number, ip: number, l4: number, tot: number, node: number, firstFragment: boolean): boolean {
    const g = this.ftp.outbound(this, buf, off, ip, l4, ip + tot, node >>> 1, !firstFragment, this.tt[S_LISTEN]);
    if (g === FTP_AS_IS) return false;
    if (g === FTP_DROPPED) return true;
    // A rewritten reply may have moved the control connection's seq shift: the backup gets it.
    if (this.marking) (this.sync as SyncMarks).mark(node >>> 1, this.nowTick);
    // Built with a whole checksum: it leaves as such (like the SYN proxy's frames).
    this.csumPartial = false;
    const len = this.ftp.outLen;
    this.forward(this.genBuf, g, len, g + (ip - off), g + (l4 - off), node, len - ETH_HLEN);
    return true;
  }

  /**
   * Whether a SYN (an SCTP INIT) may replace entry e, as ip_vs_in decides: first, whatever
   * conn_reuse_mode (as kernels since 5.16), an entry whose server has weight 0, in any state but
   * a TCP handshake's (the kernel with expire_nodest_conn, which uvs always behaves as), persistent
   * ones too (the template then decides: its server, unless --expire-quiescent-template), but
   * not a handshake under way (SYN_RECV, SYN_SENT, SYNACK: its SYN is the client's own sent
   * again because the server's SYN|ACK was lost or late, and the server sends its SYN|ACK again
   * at the same 1 s: scheduled elsewhere, the client took the first server's SYN|ACK and its ACK
   * went to the second, which reset it; the kernel with expire_nodest_conn=1 does so, with its
   * default 0 the SYN stays on its server), nor an FTP data
   * connection its control connection announced (the kernel would expire it and find no service
   * for it: FTP to a drained server would lose its transfers); then, with any conn_reuse_mode
   * but 0, is_new_conn_expected: TIME_WAIT or CLOSE; FIN_WAIT of an entry that never sees the
   * server's packets (DR, TUN) with bit 2 as well; an SCTP association in CLOSED. A SYN proxy entry that is over always
   * (its cookie handshake must run again).
   * Other entries of a persistence template keep the SYN (as the kernel's controlled
   * connections), which goes to the template's server either way.
   */
  private reusable(e: number): boolean {
    const ct = this.ct;
    const mode = this.defense.connReuseMode;
    const st = ct.state[e];
    // Whatever the mode ("ipvs: Fix reuse connection if RS weight is 0", 5.16; until 2026-12-07 mode 0 skipped it, as older kernels).
    if (this.dt.weight[ct.dest[e]] === 0 && (ct.flags[e] & F_FTPDATA) === 0 && !handshaking(ct.proto[e], st)) return true;
    const over = st === S_TIME_WAIT || st === S_CLOSE;
    if ((ct.flags[e] & F_SYNPROXY) !== 0) return over;
    if (mode === 0 || ct.ctl[e] >= 0) return false;
    if (ct.proto[e] === PROTO_SCTP) return st === SS_CLOSED;
    if (ct.proto[e] !== PROTO_TCP) return false;
    return over || ((mode & 2) !== 0 && st === S_FIN_WAIT && (ct.flags[e] & F_NOOUTPUT) !== 0);
  }

  /**
   * One hop, as the kernel's decrement_ttl() for every packet IPVS sends on (both ways, every
   * method): the TTL goes down by one (the header checksum updated in place); false when it was
   * 1 or 0 and the packet must die instead.
   */
  private decTtl(buf: Buffer, ip: number): boolean {
    const ttl = buf[ip + IP_TTL];
    if (ttl <= 1) return false;
    buf[ip + IP_TTL] = ttl - 1;
    const w = (ttl << 8) | buf[ip + IP_PROTO];
    wr16(buf, ip + IP_CSUM, csumReplace16(rd16(buf, ip + IP_CSUM), w, w - 0x100));
    return true;
  }

  /**
   * One hop for the packet at ip (decTtl). When its TTL ran out here: false, counted
   * (ttl_exceeded), and the sender gets ICMP time exceeded in transit from the address it sent
   * to when that is ours (VIP, local address), else from the director's address on its network
   * (a NAT reply to a client), as the kernel's icmp_send() picks; never for a later fragment
   * (l4 -1). Rate-limited as every ICMP error (icmpLimit).
   */
  hop(buf: Buffer, ip: number, l4: number): boolean {
    if (this.decTtl(buf, ip)) return true;
    this.counters.d[D.ttl_exceeded]++;
    if (l4 < 0) return false;
    const dst = rd32(buf, ip + IP_DST);
    const src = rd32(buf, ip + IP_SRC);
    this.icmpError(buf, ip, src, this.link.isLocal(dst) ? dst : this.srcFor(src),
      ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, C.icmp_time_exceeded_sent, C.icmp_time_exceeded_ratelimited);
    return false;
  }

  /**
   * Output: a packet of connection e that forward() did not count (an ICMP error relayed for it)
   * in its server's statistics, so its service's, and the totals (uvs_fwd_*): `bytes` of IP, as
   * the kernel's ip_vs_in_stats (toServer) or ip_vs_out_stats.
   */
  countPacket(e: number, toServer: boolean, bytes: number): void {
    const dest = this.ct.dest[e];
    const dt = this.dt;
    if (toServer) {
      dt.inPkts[dest]++;
      dt.inBytes[dest] += bytes;
      this.fwdN++;
      this.fwdB += bytes;
    } else {
      dt.outPkts[dest]++;
      dt.outBytes[dest] += bytes;
      this.outN++;
      this.outB += bytes;
    }
  }

  /**
   * Hand a packet of connection node (entry*2 + direction) to its forwarder; l4 -1 = no L4 header.
   * A client's packet is counted before its hop, as the kernel's ip_vs_in_stats runs before the
   * xmit's decrement_ttl (one arriving with TTL 1 is in InPkts); a server's reply after it, as
   * ip_forward drops one at TTL 1 before IPVS sees it.
   */
  private forward(buf: Buffer, off: number, flen: number, ip: number, l4: number, node: number, tot: number): void {
    const ct = this.ct;
    const e = node >>> 1;
    const dt = this.dt;
    const dest = ct.dest[e];
    const fwd = ct.fwd[e];
    // One call site per method rather than FORWARDERS[fwd].inbound(): each stays monomorphic and
    // inlined, however many methods the table (and the JIT warm-up, warmup.ts) has shown it.
    if ((node & 1) !== DIR_IN) {
      // Server→client (NAT, FULLNAT): only methods hashing the OUT tuple get here.
      if (!this.hop(buf, ip, l4)) return;
      dt.outPkts[dest]++;
      dt.outBytes[dest] += tot;
      this.outN++;
      this.outB += tot;
      if (fwd === FWD_NAT) (nat.outbound as OutboundFn)(this, buf, off, flen, ip, l4, e);
      else (fullnat.outbound as OutboundFn)(this, buf, off, flen, ip, l4, e);
      return;
    }
    dt.inPkts[dest]++;
    dt.inBytes[dest] += tot;
    this.fwdN++;
    this.fwdB += tot;
    if (!this.hop(buf, ip, l4)) return;
    if (fwd === FWD_DR) dr.inbound(this, buf, off, flen, ip, l4, e);
    else if (fwd === FWD_NAT) nat.inbound(this, buf, off, flen, ip, l4, e);
    else if (fwd === FWD_FULLNAT) fullnat.inbound(this, buf, off, flen, ip, l4, e);
    else tun.inbound(this, buf, off, flen, ip, l4, e);
  }

  private newConn(
    proto: number, src: number, sport: number, dst: number, dport: number, tcpFlags: number,
    buf: Buffer, ip: number, l4: number, firstFragment: boolean, hash: number,
  ): number {
    const d = this.counters.d;
    const sid = this.findService(proto, dst, dport);
    if (sid < 0) {
      // Workers: a FULLNAT reply to a local port another worker handed out (port % workers).
      if (this.handoff !== null && this.laddrs.isLaddr(dst) && this.handOn(buf, ip, dport % this.workers)) return -1;
      d[D.no_service]++;
      return -1;
    }
    const svc = this.services[sid] as SvcRuntime;
    // Workers: a persistent service's connections live on the worker its clients' network hashes
    // to (the steering program's rule, steerMasks), where the template is; a frame that another
    // worker read (the kernel's automq, or steering changed since) goes there. Not one handed over
    // already: the owner sent it on itself.
    if (svc.persist > 0 && this.handoff !== null && !this.handedIn) {
      const owner = this.clientWorker(src, sport, dst, this.workers);
      if (owner !== this.workerIndex && this.handOn(buf, ip, owner)) return -1;
    }
    let synOpen = false;
    if (svc.synproxy && proto === PROTO_TCP) {
      // SYN proxy: a SYN is answered with a cookie; only an ACK carrying a valid one opens.
      if (firstFragment) {
        d[D.no_conn]++;
        return -1;
      }
      // A SYN answered, an ACK taken and held (sent on later with a checksum of uvsd's): its
      // own checksum must be right (dropped without an answer, as the kernel's TCP drops it).
      // The ACK's is summed once its cookie validated: a flood of wrong cookies pays no sum.
      const tcpLen = rd16(buf, ip + IP_TOTLEN) - (l4 - ip);
      if ((tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) === TCP_SYN) {
        if (tcpChecksumOk(buf, ip, l4, tcpLen, this.csumPartial)) {
          // --toa: a FULLNAT service's SYN|ACK leaves the client room for the option (answerSyn).
          this.synToa = this.toa && (this.laddrs.bySvc[sid]?.length ?? 0) > 0;
          return SYNPROXY_SYN;
        }
        d[D.tcp_bad_checksum]++;
        return -1;
      }
      if ((tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_ACK) {
        d[D.no_conn]++;
        return -1;
      }
      if (!this.synproxy.checkAck(buf, ip, l4, this.cookiePeriod)) {
        // Not a handshake of ours, or one long over (its entry expired): a reset, as the kernel
        // answers an ACK its listener's cookies refuse. Workers: another may hold it (as below).
        if (this.handoff !== null && this.handOn(buf, ip, -1)) return -1;
        this.counters.c[C.synproxy_ack_invalid]++;
        return NO_CONN;
      }
      if (!tcpChecksumOk(buf, ip, l4, tcpLen, this.csumPartial)) {
        d[D.tcp_bad_checksum]++;
        return -1;
      }
      this.counters.c[C.synproxy_ack_valid]++;
      if (!this.synproxy.hasRoom()) {
        d[D.synproxy_no_room]++;
        return -1;
      }
      synOpen = true;
    }
    // Only an INIT opens an SCTP connection (ip_vs_proto_sctp: anything else is dropped).
    if (proto === PROTO_SCTP && !this.icmpOpen && !sctpMayOpen(buf, l4)) {
      if (this.handoff !== null && this.handOn(buf, ip, -1)) return -1;
      d[D.no_conn]++;
      return -1;
    }
    // Only a SYN opens a TCP connection; with sloppy TCP any segment but a RST (DR/TUN, below).
    const sloppy = !synOpen && proto === PROTO_TCP && !tcpMayOpen(tcpFlags);
    const sloppyMode = this.defense.sloppyTcp;
    if (sloppy && (sloppyMode === 'off' || (tcpFlags & 0x04) !== 0 || tcpEvent(tcpFlags) < 0 ||
        (sloppyMode === 'mh' && svc.scheduler.owner === undefined))) {
      // Workers: another worker may hold it (it opened before a change of -p or -M moved its
      // client's hash): on to the next worker; the last one refuses it.
      if (this.handoff !== null && this.handOn(buf, ip, HAND_NEXT)) return -1;
      d[D.no_conn]++;
      return (tcpFlags & TCP_RST) === 0 && !firstFragment ? NO_CONN : -1;
    }
    // Workers: a segment sloppy TCP would open may be of a connection another worker holds (any
    // change of the steering map, e.g. a -p service added on its VIP, moves clients between
    // workers): round every worker first, and back to the one the round began at (the worker its
    // frames reach, or a persistent service's owner), which opens it if none held it. The kernel
    // looks the connection up in its one table before sloppy_tcp schedules anything.
    if (sloppy && this.handoff !== null && this.handOn(buf, ip, HAND_CIRCLE)) return -1;
    // Workers: a synced FULLNAT UDP connection waits on the worker of its local port, which is not
    // its client's when the master ran another --workers (F_STRAY): while any worker holds one, a
    // datagram that would open a UDP flow goes round every worker and back first, as a TCP segment
    // of no connection does (a -o service's datagrams are never synced, and hold no flow). So
    // does one to a VIP whose steering changed lately (a -p or -M change: its live flows stay on
    // the workers that opened them), while that VIP's window runs. On the way round, a persistent
    // service's client whose template is here (made before the change) opens here, on its
    // template's server, as one datapath would; the worker that read it looks further first
    // (its flow may be elsewhere: a synced FULLNAT one waits on its local port's worker).
    if (proto === PROTO_UDP && this.handoff !== null && !svc.oneShot && (this.anyStrays() || this.inSteerWindow(dst)) &&
        !(svc.persist > 0 && this.handedIn && svc.pe !== PE_SIP && this.templateHeld(svc, proto, src, dst, dport)) &&
        this.handOn(buf, ip, HAND_CIRCLE)) return -1;
    // Workers: likewise a SYN to a persistent TCP (or -f) service during its VIP's window (when the
    // VIP had a persistent service before the change: inTemplateWindow), when no template of its client is here (one would be made, perhaps for another server): round
    // every worker first; one holding the client's template (made before the change moved the
    // client) opens it there, on the template's server, as the kernel's one table would; else
    // the worker that read it opens it when the round comes back. (A SYN proxy's ACK is not.)
    if (proto === PROTO_TCP && this.handoff !== null && svc.persist > 0 && !sloppy && !synOpen && !this.icmpOpen &&
        this.inTemplateWindow(dst) && !this.templateHeld(svc, proto, src, dst, dport) &&
        this.handOn(buf, ip, HAND_CIRCLE)) return -1;
    if (this.limiter.rate > 0 && !this.limiter.allow(src, this.link.now)) {
      d[D.src_rate_limited]++;
      return -1;
    }
    const f = this.flow;
    f.proto = proto;
    f.saddr = src;
    f.sport = sport;
    f.daddr = dst;
    f.dport = dport;
    const ct = this.ct;
    let tpl = -1;
    let dest: number;
    // A mid-flow segment of a flow another director scheduled (ECMP moved it here): the hash
    // table's owner, as every director with the same servers would have chosen, even at weight 0.
    // So is an ICMP error's (--schedule-icmp): its connection exists, on the table's owner.
    const adopt = (sloppy || this.icmpOpen) && svc.persist === 0 && svc.scheduler.owner !== undefined;
    if (adopt) {
      dest = (svc.scheduler.owner as NonNullable<Scheduler['owner']>)(svc, this.dt, f);
      if (dest < 0) return this.noDest(svc);
    } else if (svc.persist > 0) {
      tpl = this.template(svc, proto, src, dst, dport, buf, ip, l4);
      // An FTP data connection without a server (counted no_dest): passed on unanswered, as
      // ip_vs_leave passes a port-21 service's packet to another port (no ICMP).
      if (tpl < 0) return tpl === NO_DEST && svc.port === FTP_PORT && dport !== FTP_PORT ? -1 : tpl;
      dest = ct.dest[tpl];
    } else {
      if (this.trace.on) this.trace.decide(svc, this.dt, f, this.link.now); // uvsadm trace (off: one test)
      dest = svc.scheduler.schedule(svc, this.dt, f);
      if (this.trace.on) this.trace.chosen(dest, this.dt);
      if (dest < 0) return this.noDest(svc);
    }
    if (synOpen && this.synproxy.serverFull(dest)) {
      // Its server holds its share of the waiting slots already (it may not answer at all).
      d[D.synproxy_server_full]++;
      return -1;
    }
    const rip = this.dt.addr[dest];
    // Port-zero services (and servers without a port) keep the packet's port; a mark service's
    // server with a port takes every port there (ip_vs_schedule: dest->port ? dest->port : vport),
    // but not under persistence: ip_vs_sched_persist maps only dport == svc->port, never so for a
    // mark service (its svc->port is 0).
    const rport = this.dt.port[dest] !== 0 && (dport === svc.port || (svc.proto === PROTO_FWM && tpl < 0)) ? this.dt.port[dest] : dport;
    // (keepsClientPort below says the same for --explain and uvsadm trace.)
    const fwd = this.dt.fwd[dest];
    const fw = FORWARDERS[fwd] as Forwarder;
    const noOutput = fw.noOutput;
    if (sloppy && !noOutput) {
      // A NAT/FULLNAT server would not know the translated tuple: only DR/TUN are sloppy.
      d[D.no_conn]++;
      return firstFragment ? -1 : NO_CONN;
    }
    // A forwarder with bind (FULLNAT) chooses the reply tuple first; its OUT half is hashed after.
    const late = fw.bind !== undefined;
    if (late && this.icmpOpen) {
      // --schedule-icmp: a FULLNAT server knows the quoted connection by the local address of the
      // director that holds it; one of ours would name a connection it does not have.
      d[D.icmp_no_conn]++;
      return -1;
    }
    // The first state is known now, so the entry is slotted at its real expiry right away: the
    // transition of its first segment from NONE, a sloppy (mid-stream) one's too, as the kernel
    // (an ACK gives ESTABLISHED, a FIN CLOSE). A SYN proxy connection waits in SYN_SENT for its
    // server's SYN|ACK.
    const state = this.icmpOpen ? (proto === PROTO_TCP ? S_NONE : proto === PROTO_SCTP ? SS_NONE : S_UDP) : synOpen ? S_SYN_SENT : proto === PROTO_TCP
      ? nextState(this.tcpTable, noOutput ? DIR_INPUT_ONLY : DIR_INPUT, tcpEvent(tcpFlags), S_NONE)
      : proto === PROTO_SCTP ? sctpNext(noOutput ? DIR_INPUT_ONLY : DIR_INPUT, sctpEvent(buf, l4, SCTP_MIN), SS_NONE) : S_UDP;
    // A persistent connection's room was made by template(), before its template was looked up or
    // made: an eviction now could take that template (it controls no connection yet).
    if (tpl < 0) this.makeRoom();
    const e = ct.insert(proto, src, sport, dst, dport, rip, rport, src, sport, this.nowTick + this.tt[state], !noOutput && !late, hash);
    if (e < 0) {
      d[D.conn_table_full]++;
      return -1;
    }
    ct.fwd[e] = fwd;
    ct.dest[e] = dest;
    ct.dgen[e] = this.dt.gen[dest];
    ct.clientPacket(e, this.nowTick);
    if (late) {
      if (!(fw.bind as NonNullable<Forwarder['bind']>)(this, e)) {
        ct.discard(e);
        return -1;
      }
      if (!noOutput) ct.hashOut(e);
    }
    ct.state[e] = state;
    if (this.ftp.on && proto === PROTO_TCP && !noOutput && this.ftp.ports[dport] !== 0) this.ftp.attach(this, e);
    if (synOpen) {
      ct.flags[e] |= F_SYNPROXY;
      ct.seqd[e] = this.synproxy.take(dest);
    }
    if (tpl >= 0) {
      // ip_vs_control_add: the template counts this connection and outlives it.
      ct.ctl[e] = tpl;
      ct.ctl[tpl]++;
    }
    if (svc.oneShot && proto === PROTO_UDP) {
      // One-packet scheduling: counted as a connection of the server (ip_vs_conn_stats), but the
      // entry goes right after this datagram (processL4 releases it), so it is never active
      // or inactive and conns_created does not grow.
      ct.flags[e] |= F_ONEPACKET;
      this.dt.conns[dest]++;
      this.counters.c[C.ops_datagrams]++;
      return e;
    }
    // New connections start inactive (IPVS sets IP_VS_CONN_F_INACTIVE at bind time).
    ct.flags[e] |= F_INACTIVE | (noOutput ? F_NOOUTPUT : 0);
    this.dt.bind(dest);
    this.counters.c[C.conns_created]++;
    // Workers: opened by a worker its client's datagrams do not reach (its template is here, or
    // it came round before this worker saw the steering change): found by going round.
    if (this.handedIn && proto === PROTO_UDP) this.strayFound(e);
    if (this.marking) (this.sync as SyncMarks).mark(e, this.nowTick);
    if (activeState(state)) {
      // Active from its first state (SYN_RECV, SYN_SENT, SYNACK or ESTABLISHED): counted as
      // enterState would have moved it.
      ct.flags[e] &= ~F_INACTIVE;
      this.dt.activate(dest, true);
    }
    // A sloppy entry that starts ESTABLISHED assures its template, as a handshake completed in
    // processL4 would (served()).
    if (state === S_ESTABLISHED) this.assure(e);
    if (sloppy) {
      this.counters.c[C.conns_sloppy]++;
      if (adopt) this.counters.c[C.conns_adopted_hash]++;
    }
    return e;
  }

  /**
   * The service of a new flow of proto to vaddr:vport, or -1 (ip_vs_service_find): the -f service
   * of its mark first, then the VIP:port one; then for TCP to port 20 or an unprivileged port the
   * VIP's port-21 service (an FTP data connection: the kernel's ftpsvc_counter lookup); then a
   * persistent port-zero service of the VIP (which takes every port without a service of its
   * own). A port-21 service without -p takes no data connection (ip_vs_schedule refuses another
   * port and ip_vs_leave passes the packet on): -1 then, and no port-zero service gets it either,
   * as in the kernel. Never allocates.
   */
  private findService(proto: number, vaddr: number, vport: number): number {
    if (this.marks.count > 0) {
      const mark = this.marks.markOf(proto, vaddr, vport);
      const sid = mark === 0 ? -1 : this.svcMap.get(mark, svcKey(PROTO_FWM, 0));
      if (sid >= 0) return sid;
    }
    const sid = this.svcMap.get(vaddr, svcKey(proto, vport));
    if (sid >= 0) return sid;
    if (this.ftpServices > 0 && proto === PROTO_TCP && (vport === FTP_DATA_PORT || vport >= UNPRIVILEGED_PORT)) {
      const ftp = this.svcMap.get(vaddr, svcKey(PROTO_TCP, FTP_PORT));
      if (ftp >= 0) return (this.services[ftp] as SvcRuntime).persist > 0 ? ftp : -1;
    }
    return this.zeroPortServices === 0 ? -1 : this.svcMap.get(vaddr, svcKey(proto, 0));
  }

  /** The service a new flow of proto to vaddr:vport reaches (findService), for control (uvsadm --explain). */
  serviceFor(proto: number, vaddr: number, vport: number): number {
    return this.findService(proto, vaddr | 0, vport);
  }

  /** A new flow to svc found no real server: counted daemon-wide (no_dest) and for svc (uvs_service_no_dest_total). */
  private noDest(svc: SvcRuntime): number {
    this.counters.d[D.no_dest]++;
    this.counters.svcNoDest[svc.id]++;
    return NO_DEST;
  }

  /** Workers: whether any worker holds an F_STRAY entry now. */
  private anyStrays(): boolean {
    const s = this.strays;
    for (let k = 0; k < s.length; k++) if (s[k] !== 0) return true;
    return false;
  }

  /** Workers: whether a new UDP flow to dst goes round first (a steering window of dst runs). */
  private inSteerWindow(dst: number): boolean {
    return this.inWindow(dst, this.winAll, this.winEnd);
  }

  /** Workers: whether a persistent TCP service's new SYN to dst looks for its client's template
   *  on the other workers first (a window of dst runs and dst had a persistent service before). */
  private inTemplateWindow(dst: number): boolean {
    return this.inWindow(dst, this.winAllTpl, this.winTpl);
  }

  /** Whether dst's window runs by these ends (every VIP's: all; per window slot: ends). */
  private inWindow(dst: number, all: number, ends: Float64Array): boolean {
    const now = this.nowTick;
    if (now >= this.winLast) return false;
    if (now < all) return true;
    for (let k = 0; k < this.winN; k++) if (this.winVip[k] === dst && now < ends[k]) return true;
    return false;
  }

  /** Workers: whether this worker holds a live template of src for svc (a lookup only: template() makes one). */
  private templateHeld(svc: SvcRuntime, proto: number, src: number, dst: number, dport: number): boolean {
    const fwm = svc.proto === PROTO_FWM;
    const node = this.ct.lookup((fwm ? PROTO_FWM : proto) | PROTO_TPL, src & svc.netmask, 0, fwm ? svc.vip : dst, templatePort(svc, dport));
    return node >= 0 && this.boundNow(node >>> 1);
  }

  /**
   * Workers: UDP entry e, here, reached by a datagram its client sent (handed over, or opened for
   * one): if the steering program sends that client to another worker, e is a stray (F_STRAY,
   * counted while it lives), and so is its template: new UDP flows go round meanwhile.
   */
  private strayFound(e: number): void {
    const ct = this.ct;
    if ((ct.flags[e] & (F_STRAY | F_ONEPACKET)) !== 0) return;
    if (this.clientWorker(ct.caddr[e], ct.cport[e], ct.vaddr[e], this.workers) === this.workerIndex) return;
    ct.flags[e] |= F_STRAY;
    this.strays[this.workerIndex]++;
    const tpl = ct.template(e);
    if (tpl >= 0 && (ct.flags[tpl] & F_STRAY) === 0) {
      ct.flags[tpl] |= F_STRAY;
      this.strays[this.workerIndex]++;
    }
  }

  /**
   * Workers: the steering of address vip changed (its mask in steerMasks()): new UDP flows to it
   * go round every worker until tick `end`, when every flow it had has expired or been found
   * (and so marked a stray) by one.
   */
  private openSteerWindow(vip: number, end: number, templates: boolean): void {
    const now = this.nowTick;
    let k = 0;
    while (k < this.winN && this.winVip[k] !== vip) k++;
    if (k === this.winN) {
      k = 0;
      while (k < this.winN && now < this.winEnd[k]) k++;
    }
    if (k < STEER_WINDOWS) {
      if (k === this.winN) this.winN++;
      const same = this.winVip[k] === vip;
      this.winEnd[k] = same && now < this.winEnd[k] ? Math.max(this.winEnd[k], end) : end;
      const tpl = same && now < this.winTpl[k] ? this.winTpl[k] : 0;
      this.winTpl[k] = templates ? Math.max(tpl, end) : tpl;
      this.winVip[k] = vip;
    } else {
      this.winAll = Math.max(this.winAll, end);
      if (templates) this.winAllTpl = Math.max(this.winAllTpl, end);
    }
    this.winLast = Math.max(this.winLast, end);
  }

  /**
   * Workers, after a list of ops: the addresses that were VIPs before it (had) whose mask changed
   * from before, each a window (openSteerWindow) as long as one of its UDP flows may still live:
   * the UDP timeout, or a longer one some entries were made under; for a persistent UDP (or -f)
   * service's address, its templates' too (the persistence timeout, or the UDP timeout and the
   * minute a template outlives its last connection). A persistent TCP service's SYNs use the
   * same window (newConn), not lengthened for its templates.
   */
  private steeringMoved(before: ReadonlyMap<number, number | undefined>): void {
    const after = this.steerMasks().vips;
    const now = this.nowTick;
    const udp = Math.max(now + this.timeoutTicks[S_UDP], this.udpLate);
    for (const [a, was] of before) {
      if (was === after.get(a)) continue;
      let end = udp;
      for (const svc of this.services) {
        if (svc === undefined || svc.persist === 0 || (svc.proto !== PROTO_UDP && svc.proto !== PROTO_FWM)) continue;
        if (svc.proto === PROTO_UDP ? (svc.vip | 0) !== a : !this.marks.rules.some((r) => r.vip === a && r.mark === (svc.vip | 0))) continue;
        end = Math.max(end, now + svc.persistTicks, udp + EXPIRE_LATER_TICKS);
      }
      // Templates of a persistent service made before the change may be on other workers: only
      // then do a persistent TCP service's SYNs look round (a service just made persistent has none).
      this.openSteerWindow(a, end, was !== undefined);
    }
  }

  /** Workers: hand the IP packet at buf[ip] (with its Ethernet header) to `owner` (-1: the next worker). */
  private handOn(buf: Buffer, ip: number, owner: number): boolean {
    return (this.handoff as Handoff)(buf, ip - ETH_HLEN, ETH_HLEN + rd16(buf, ip + IP_TOTLEN), owner, this.reusing);
  }

  /**
   * No real server for a new flow to a virtual service (IPVS ip_vs_leave): tell the client with
   * ICMP port unreachable from the VIP, quoting its packet's IP header and 8 bytes, so its connect()
   * fails at once instead of timing out. Not for a source the kernel never answers
   * (Link.unicastPeer), or a client uvsd has no route to (off-link without --gateway: best
   * effort, not a second drop); later fragments never get here, and a
   * first fragment is answered as the kernel answers fragment 0. Rate-limited per source
   * (icmpPeerLimit) and over the daemon (icmpLimit); the frame itself stays dropped (no_dest).
   */
  private leave(buf: Buffer, ip: number, src: number, vip: number): void {
    this.icmpError(buf, ip, src, vip, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, C.icmp_unreach_sent, C.icmp_unreach_ratelimited);
  }

  /**
   * A TCP segment (not a RST) to a service's port that no connection knows (no_conn: its entry
   * expired or was evicted, uvsd restarted without its state file, a backup took over without
   * sync): the client gets a reset from the VIP, as the kernel's own stack answers when IPVS
   * passes such a segment up, so it learns at once instead of retransmitting for minutes. Sent
   * like an ICMP error (never to a source the kernel never answers, or one without a route)
   * and within the same daemon-wide rate limit (icmpLimit; not the ICMP errors' per-source one:
   * the kernel limits no resets, and one address may front many clients); the segment stays dropped.
   */
  reset(buf: Buffer, ip: number, l4: number, src: number): void {
    const g = this.answerTo(src, C.tcp_rst_ratelimited, false);
    if (g < 0) return;
    const flen = buildTcpReset(this.tx.genBuf, g, buf, ip, l4);
    this.counters.c[C.tcp_rst_sent]++;
    this.link.toNeighbour(this.tx.genBuf, g, flen, src);
  }

  /** Output.answerSlot (modes/types.ts): ICMP errors, within the per-source and daemon limits. */
  answerSlot(src: number, limited: number): number {
    return this.answerTo(src, limited, true);
  }

  /**
   * A slot for an answer to src: the daemon's bucket must have a token, then (ICMP errors,
   * `perSource`) src's own bucket gives one, and only then is the daemon's taken, as the kernel
   * since "icmp: change the order of rate limits" (icmp_global_allow, inet_peer_xrlim_allow,
   * icmp_global_consume): a source over its own limit spends nothing of the others' budget.
   */
  private answerTo(src: number, limited: number, perSource: boolean): number {
    if (!this.link.unicastPeer(src) || !this.link.routable(src)) return NO_ANSWER;
    const now = this.link.now;
    if (!this.icmpLimit.has(0, now) || (perSource && !this.icmpPeerLimit.allow(src, now))) {
      this.counters.c[limited]++;
      return -2;
    }
    this.icmpLimit.allow(0, now);
    return this.answerGen();
  }

  /** Output.pmtuSlot (modes/types.ts): fragmentation needed, never rate-limited (the kernel's
   *  icmpv4_mask_allow: "Don't limit PMTU discovery"). */
  pmtuSlot(src: number): number {
    if (!this.link.unicastPeer(src) || !this.link.routable(src)) return NO_ANSWER;
    return this.answerGen();
  }

  private answerGen(): number {
    const g = this.tx.genSlot();
    if (g < 0) this.counters.d[D.tx_failed]++;
    return g;
  }

  /** ICMP error type/code about the packet at ip to its source src, from `from`; `sent` and
   *  `limited` count it sent or held back by the rate limit. */
  private icmpError(
    buf: Buffer, ip: number, src: number, from: number, type: number, code: number, sent: number, limited: number,
  ): void {
    const g = this.answerSlot(src, limited);
    if (g < 0) return;
    const flen = buildIcmpError(this.tx.genBuf, g, buf, ip, from, type, code, 0);
    this.counters.c[sent]++;
    this.link.toNeighbour(this.tx.genBuf, g, flen, src);
  }

  /** Connection e served its client (a TCP/SCTP handshake completed, a UDP flow confirmed): the
   *  client is known (eviction spares its half-open entries) and e's template assured. */
  private served(e: number): void {
    this.ct.markKnown(this.ct.caddr[e]);
    this.assure(e);
  }

  /** Connection e's template, if any, is assured (ip_vs_control_assure_ct); the backup learns it. */
  private assure(e: number): void {
    const t = this.ct.assure(e);
    if (t >= 0 && this.marking) (this.sync as SyncMarks).mark(t, this.nowTick);
  }

  /** Nearly full: make room for one entry (and `after` more to come: a new template's connection)
   *  by evicting one of little value (ConnTable.evictOne: a bounded scan, never a walk). */
  private makeRoom(after = 0): void {
    const ct = this.ct;
    if (ct.count + after < this.evictAt) return;
    const c = this.counters.c;
    const spared = ct.spared;
    const weak = ct.evictedWeak;
    const evicted = ct.evicted;
    const templates = ct.evictedTemplates;
    ct.evictOne(EVICT_BUDGET, EVICT_SLOTS, this.nowTick);
    c[C.conns_evicted] += ct.evicted - evicted;
    c[C.conns_spared] += ct.spared - spared;
    c[C.conns_evicted_weak] += ct.evictedWeak - weak;
    c[C.templates_evicted] += ct.evictedTemplates - templates;
  }

  /**
   * ip_vs_sched_persist(): the live template of (client & netmask, VIP, virtual port) names the
   * destination while that destination is still in the service (weight 0 and overloaded
   * servers keep their persistent clients, as in the kernel with expire_quiescent_template=0);
   * otherwise the scheduler picks one and a template is created. Using a template restarts its
   * timer (ip_vs_conn_put). Returns the template entry, NO_DEST when no server is available
   * (the client gets ICMP, as from ip_vs_sched_persist's *ignored = 0), or -1 (counted).
   * With the SIP persistence engine the template is the call's too (ip_vs_sip_ct_match): its
   * Call-ID, read from the datagram at buf[l4 + 8..], is part of the key; a datagram without one
   * is dropped (pe_no_callid), as ip_vs_schedule drops it (*ignored = -1).
   */
  private template(svc: SvcRuntime, proto: number, src: number, dst: number, dport: number, buf: Buffer, ip: number, l4: number): number {
    const ct = this.ct;
    const dt = this.dt;
    const cnet = src & svc.netmask;
    // Port-zero (all ports) and FTP (port 21) services key their templates on virtual port 0; a
    // mark service's templates are (IPPROTO_IP, client, mark, 0) as the kernel's, whatever the
    // protocol and VIP.
    const fwm = svc.proto === PROTO_FWM;
    const tproto = (fwm ? PROTO_FWM : proto) | PROTO_TPL;
    const vaddr = fwm ? svc.vip : dst;
    const vport = templatePort(svc, dport);
    let node: number;
    let tag = 0;
    let cport = 0;
    const cid = this.callId;
    if (svc.pe === PE_SIP) {
      if (proto !== PROTO_UDP || !sipCallId(buf, l4 + 8, ip + ((buf[ip + 2] << 8) | buf[ip + 3]), cid)) {
        this.counters.d[D.pe_no_callid]++;
        return -1;
      }
      tag = callIdHash(buf, cid[0], cid[1]);
      cport = callIdPort(tag);
    }
    // Room for the connection, made before the lookup: an eviction after it could take the
    // template found or made (one that is not assured and controls no connection yet).
    this.makeRoom();
    if (svc.pe === PE_SIP) {
      node = ct.lookupTagged(tproto, cnet, cport, vaddr, vport, tag, -1);
      // Another call with the same hash: on along the chain (a synced template has no text).
      for (let text = node >= 0 ? ct.peText.get(node >>> 1) : undefined; text !== undefined && !callIdEquals(buf, cid[0], cid[1], text);) {
        node = ct.lookupTagged(tproto, cnet, cport, vaddr, vport, tag, node);
        text = node >= 0 ? ct.peText.get(node >>> 1) : undefined;
      }
    } else {
      node = ct.lookup(tproto, cnet, 0, vaddr, vport);
    }
    if (node >= 0) {
      const t = node >>> 1;
      // A synced template installed before its server was here is bound if the server has come
      // (if it still has not, it is replaced below, counted as such connections are).
      if (ct.dest[t] < 0 && !this.bindLate(t)) this.counters.c[C.sync_unbound_expired]++;
      const d = ct.dest[t];
      if (this.boundNow(t) && !(dt.weight[d] === 0 && this.defense.expireQuiescentTemplate)) {
        ct.expires[t] = this.nowTick + ct.laddr[t];
        if (this.marking && this.nowTick - (this.sync as SyncMarks).lastTick[t] > ct.laddr[t] >>> 1) (this.sync as SyncMarks).mark(t, this.nowTick);
        if (this.trace.on) this.traceTemplate(svc, cnet, t, true);
        return t;
      }
      if (this.trace.on) this.traceTemplate(svc, cnet, t, false);
      // Its destination was deleted, or is quiescent with --expire-quiescent-template
      // (ip_vs_check_template): never found again, a new one below.
      ct.invalidateTemplate(t);
    } else if (this.trace.on) {
      this.traceTemplate(svc, cnet, -1, false);
    }
    const dest = svc.scheduler.schedule(svc, dt, this.flow);
    if (this.trace.on) this.trace.chosen(dest, dt);
    if (dest < 0) return this.noDest(svc);
    this.makeRoom(1); // and for itself, the connection's is made
    const t = ct.insert(tproto, cnet, cport, vaddr, vport, dt.addr[dest], vport === 0 ? 0 : dt.port[dest], 0, 0,
      this.nowTick + svc.persistTicks, false);
    if (t < 0) {
      this.counters.d[D.conn_table_full]++;
      return -1;
    }
    ct.flags[t] |= F_TEMPLATE;
    ct.seqd[t] = tag;
    if (tag !== 0) ct.peText.set(t, buf.toString('latin1', cid[0], cid[0] + cid[1]));
    ct.fwd[t] = dt.fwd[dest];
    ct.dest[t] = dest;
    ct.dgen[t] = dt.gen[dest];
    ct.laddr[t] = svc.persistTicks;
    ct.ctl[t] = 0;
    dt.bindTemplate(dest);
    this.counters.c[C.templates_created]++;
    if (this.marking) (this.sync as SyncMarks).mark(t, this.nowTick);
    return t;
  }

  /**
   * uvsadm trace of a new connection of a persistent service, with what became of the client's
   * template t (-1: none) as --explain words it: hit, the connection placed by it (recorded
   * here); else the scheduler's decision noted (chosen() commits it). Apart from template() so
   * its closures cost nothing when nobody traces.
   */
  private traceTemplate(svc: SvcRuntime, cnet: number, t: number, hit: boolean): void {
    const f = this.flow;
    const keep = keepsClientPort(svc, f.dport);
    if (hit) {
      this.trace.hit(svc, this.dt, f, this.link.now, this.ct.dest[t], explainAt(f.dport, () => this.templateHit(svc, cnet, t), keep), keep);
      return;
    }
    const persist = explainAt(f.dport, () => (t < 0 ? this.templateNone(svc, cnet, 'made') : this.templateGone(svc, cnet, t, 'made')), keep);
    this.trace.decide(svc, this.dt, f, this.link.now, persist, keep);
  }

  /** A one-packet (-o) entry after its datagram went out: nothing of it stays. */
  private releaseOnePacket(e: number): void {
    const ct = this.ct;
    const tpl = ct.ctl[e];
    if (tpl >= 0) ct.ctl[tpl]--;
    FORWARDERS[ct.fwd[e]]?.unbind?.(this, e);
    ct.discard(e);
  }

  private onConnExpire(e: number): void {
    const dest = this.ct.dest[e];
    // Only what a backup may hold: an entry never synced (a SYN proxy connection given up before
    // its server answered, one whose client port never came) has no copy to expire.
    if (this.marking && syncable(this.ct.flags[e])) (this.sync as SyncMarks).expired(this.ct, e);
    if ((this.ct.flags[e] & F_TEMPLATE) !== 0) {
      if (dest >= 0 && this.dt.owns(dest, this.ct.dgen[e])) this.dt.unbindTemplate(dest);
      if ((this.ct.flags[e] & F_STRAY) !== 0) this.strays[this.workerIndex]--;
      this.counters.c[C.templates_expired]++;
      return;
    }
    const tpl = this.ct.template(e);
    if (tpl >= 0) this.ct.ctl[tpl]--;
    // A connection of a destination deleted and then replaced has nothing left to unbind from.
    if (dest >= 0 && this.dt.owns(dest, this.ct.dgen[e])) this.dt.unbind(dest, (this.ct.flags[e] & F_INACTIVE) === 0);
    if ((this.ct.flags[e] & F_SYNPROXY) !== 0) this.synproxy.expire(this, e);
    if ((this.ct.flags[e] & (F_FTP | F_FTPDATA | F_NOCPORT)) !== 0) this.ftp.expire(this.ct, e);
    if ((this.ct.flags[e] & F_STRAY) !== 0) this.strays[this.workerIndex]--;
    FORWARDERS[this.ct.fwd[e]]?.unbind?.(this, e);
    this.counters.c[C.conns_expired]++;
  }

  // ---- explain (uvsadm --explain; read-only, never on the packet path) ----------------------

  /**
   * Which destination a new connection from src:sport to the service would get now, and why:
   * the persistence template first (as newConn), else the scheduler's explain(). Changes nothing:
   * no template, no connection, no scheduler state.
   */
  explain(svcId: number, src: number, sport: number, daddr?: number, dport?: number): DpExplanation {
    // A port-zero service's servers are named by the port the connection would go to.
    const svc = this.svc(svcId);
    const port = dport ?? svc.port;
    return explainAt(port, () => this.explainNow(svcId, src, sport, daddr, dport), keepsClientPort(svc, port));
  }

  private explainNow(svcId: number, src: number, sport: number, daddr?: number, dport?: number): DpExplanation {
    const svc = this.svc(svcId);
    const ct = this.ct;
    const dt = this.dt;
    // The address and port the client connects to (a mark or all-ports service has none of its own).
    const flow: Flow = { proto: svc.proto, saddr: src | 0, sport, daddr: (daddr ?? svc.vip) | 0, dport: dport ?? svc.port };
    let persistence = 'not persistent';
    if (svc.persist > 0 && svc.pe === PE_SIP) {
      // The template is the call's: which one depends on each datagram's Call-ID.
      persistence = `persistence engine sip: a call with a template keeps its server; a new call (Call-ID) gets a template (${svc.persist} s)`;
    } else if (svc.persist > 0) {
      const cnet = src & svc.netmask;
      const node = ct.lookup(svc.proto | PROTO_TPL, cnet, 0, svc.vip, templatePort(svc, svc.port));
      if (node >= 0) {
        const t = node >>> 1;
        const d = ct.dest[t];
        const quiescent = dt.weight[d] === 0 && this.defense.expireQuiescentTemplate;
        if (this.boundNow(t) && !quiescent) return { dest: d, template: true, why: this.templateHit(svc, cnet, t) };
        persistence = this.templateGone(svc, cnet, t, 'would be made');
      } else {
        persistence = this.templateNone(svc, cnet, 'would be made');
      }
    }
    const x = svc.scheduler.explain?.(svc, dt, flow);
    if (x === undefined) {
      return { dest: -1, template: false, why: `${persistence}; scheduler ${svc.scheduler.name} cannot explain` };
    }
    return { dest: x.dest, template: false, why: svc.persist > 0 ? `${persistence}; ${x.why}` : x.why };
  }

  // What --explain and uvsadm trace say of a client's persistence template (never per packet:
  // only while explaining or tracing). cnet: the client's network (its address & the netmask).

  /** Template t (alive, its server in the service) places the connection. */
  private templateHit(svc: SvcRuntime, cnet: number, t: number): string {
    const ct = this.ct;
    const dt = this.dt;
    const d = ct.dest[t];
    const left = Math.max(0, Math.floor(((ct.expires[t] - this.nowTick) * TICK_MS) / 1000));
    // Weight 0 is often a health check's inhibit_on_failure: say how clients pinned to a dead
    // server get off it (ip_vs's expire_quiescent_template), not only that they stay.
    const state = dt.weight[d] === 0 ? ' (weight 0: still taken by its persistent clients until the template expires; uvsd --expire-quiescent-template reschedules them)'
      : dt.overloaded(d) ? ' (overloaded: still taken by its persistent clients)' : '';
    return `persistence: template ${netText(svc, cnet)} -> ${destName(dt, d)} hit, ${ct.ctl[t]} connection(s), expires in ${left} s${state}`;
  }

  /** Template t is of no use (its server deleted, or quiescent with expire-quiescent-template). */
  private templateGone(svc: SvcRuntime, cnet: number, t: number, made: string): string {
    const d = this.ct.dest[t];
    if (d < 0) {
      return `persistence: template ${netText(svc, cnet)} (synced) points at ${formatIp(this.ct.daddr[t])}:${this.ct.dport[t]}, ` +
        `not a server of the service here, a new one ${made}`;
    }
    return this.boundNow(t)
      ? `persistence: template ${netText(svc, cnet)} points at ${destName(this.dt, d)}, weight 0 (expire-quiescent-template): expired, a new one ${made}`
      : `persistence: template ${netText(svc, cnet)} points at a deleted destination, a new one ${made}`;
  }

  private templateNone(svc: SvcRuntime, cnet: number, made: string): string {
    const of = svc.pe === PE_SIP ? `${netText(svc, cnet)} and this call (Call-ID)` : netText(svc, cnet);
    return `persistence: no template for ${of}, a new one (${svc.persist} s) ${made}`;
  }

  // ---- output and link-layer services (src/datapath/link.ts) ------------------------------

  toNeighbour(buf: Buffer, off: number, len: number, ip: number): void {
    this.link.toNeighbour(buf, off, len, ip);
  }

  toHost(buf: Buffer, off: number, len: number, ip: number): void {
    this.link.toNeighbour(buf, off, len, ip);
  }

  reply(buf: Buffer, off: number, len: number): void {
    this.link.replyToSender(buf, off, len);
  }

  srcFor(ip: number): number {
    return this.link.senderFor(ip);
  }

  nextIpId(): number {
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff;
    return id;
  }

  get genBuf(): Buffer {
    return this.tx.genBuf;
  }

  genSlot(): number {
    return this.tx.genSlot();
  }

  copyToGen(src: Buffer, srcOff: number, genOff: number, len: number): void {
    this.tx.copyToGen(src, srcOff, genOff, len);
  }

  genFlush(): void {
    this.tx.genFlush();
  }

  drop(reason: number): void {
    this.counters.d[reason]++;
  }

  count(counter: number): void {
    this.counters.c[counter]++;
  }

  onLink(ip: number): boolean {
    return this.link.onLink(ip);
  }

  isLocal(ip: number): boolean {
    return this.link.isLocal(ip);
  }

  /** Start resolving a next hop (a destination was added); sends the probe now. */
  resolve(ip: number): void {
    this.setClock();
    this.link.resolve(ip);
    this.tx.flush();
  }

  /** Send an RFC 5227 ARP probe for each address now (see Link.probeAddress). */
  probe(ips: readonly number[]): void {
    this.setClock();
    for (const ip of ips) {
      if (this.tx.genSlot() < 0) this.tx.flush(); // one generated frame per address: written when the batch is full
      this.link.probeAddress(ip);
    }
    this.tx.flush();
  }

  /** Probe an address uvsd holds (its ARP watch, src/control/arpwatch.ts): a station that answers
   *  is a conflict, counted and defended (Link.checkConflict). Sent now. */
  probeClaimed(ip: number): void {
    this.setClock();
    this.link.probeAddress(ip, true);
    this.tx.flush();
  }

  /** An ARP frame another worker received: learn neighbours and probe answers from it, send
   *  nothing (the worker that received it answers). */
  arpShared(buf: Buffer, off: number, len: number): void {
    this.setClock();
    this.link.arpShared(buf, off, len);
    this.tx.flush();
  }

  /** Gratuitous ARP for an address uvsd starts answering for; sent now. */
  announce(ip: number): void {
    if (!this.announces) return;
    this.setClock();
    this.link.announce(ip);
    this.tx.flush();
  }

  // ---- timers (called every TICK_MS by the daemon) ------------------------------------------

  /**
   * Expire connections, drop frames that waited too long, re-probe; flushes what it built. The
   * sweep stops after sweepBudget entries or sweepMs: while sweepBehind, the caller goes on with
   * sweepMore() at its next loop turns (SweepPacer).
   */
  tick(sweepBudget = SWEEP_BUDGET, sweepMs = SWEEP_MS): void {
    this.setClock();
    this.sweepTo = this.nowTick;
    this.ct.sweep(this.sweepTo, sweepBudget, sweepMs);
    if (this.extHold.count > 0) this.counters.c[C.sync_ext_dropped] += this.extHold.expire(this.link.now);
    this.dt.recheckOverload();
    this.checkSecure();
    this.link.tick();
    this.svcMap.settle();
    this.tx.flush();
    const now = this.link.now;
    if (this.garpNext < GARP_AGAIN_MS.length && now - this.garpFrom >= GARP_AGAIN_MS[this.garpNext]!) {
      this.garpNext++;
      if (this.link.anyMaster) this.announceHeld(this.garpGroups);
    }
    const refresh = this.defense.garpRefresh * 1000;
    if (refresh > 0 && this.link.anyMaster && now - this.garpRefreshed >= refresh) {
      this.garpRefreshed = now;
      this.announceHeld(-1);
    }
    // Schedulers' periodic work (lblc/lblcr expire their caches), about once a second.
    if (now - this.schedTickAt >= SCHED_TICK_MS) {
      this.schedTickAt = now;
      for (const svc of this.services) if (svc !== undefined) svc.scheduler.tick?.(svc, this.dt, now);
    }
  }

  /** Whether the last tick()'s sweep stopped at its budget, short of that tick's time. */
  get sweepBehind(): boolean {
    return this.ct.behind(this.sweepTo);
  }

  /**
   * Go on with the last tick()'s sweep for one more budget (SWEEP_BUDGET entries, SWEEP_MS);
   * returns whether it is still behind. Between ticks, so that a mass expiry keeps pace (the
   * kernel's timers: softirq, then ksoftirqd) rather than clearing SWEEP_MS' worth per tick.
   */
  sweepMore(): boolean {
    this.ct.sweep(this.sweepTo, SWEEP_BUDGET, SWEEP_MS);
    this.tx.flush();
    return this.ct.behind(this.sweepTo);
  }

  // ---- control-plane changes (validated by src/control before they get here) --------------

  /**
   * Apply a list of operations (src/datapath/ops.ts) in order. Nothing here walks the
   * connection table: connections of deleted destinations are expired by their next packet or
   * their timer (the destination slot's generation changed), and lookups change one entry at a
   * time.
   */
  apply(ops: readonly DpOp[]): void {
    const sc = this.steerChanged;
    // With no persistent service before the list and none made by it, the masks are empty before
    // and after: nothing to compare (and no walk of every VIP per list: a sliced -C's 1,250).
    const masked = this.workers > 1 && (this.persistServices > 0 || ops.some(makesPersistent));
    // The masks built (steerMasks) and no mark changed: only what the list touches is made anew
    // (steerRecompute). Else they are made again from the whole table, as each list did until
    // 2026-12-05 (10,000 persistent services x 4 NAT servers: 40-80 ms of the loop per list).
    if (this.steerIdx !== undefined && this.steerMaskMap !== undefined && !ops.some(isMarkOp)) return this.applyTouched(ops, masked);
    // Workers: the masks and VIPs before the list, if it may change a mask (steeringMoved).
    let before: Map<number, number> | undefined;
    let had: Set<number> | undefined;
    for (const op of ops) {
      const masks = this.changesMasks(op);
      if (masks) {
        if (masked && before === undefined) {
          before = this.steerMasks().vips;
          had = new Set(this.vips());
        }
        this.steerMaskMap = undefined;
        this.steerIdx = undefined;
      }
      const persistentBefore = this.persistServices > 0;
      if (sc !== undefined) this.noteSteer(op, sc.addrs);
      this.apply1(op);
      // While no service is persistent (before op and after it), the masks are empty both times:
      // op changes only its own addresses' entries; else any of them may have moved.
      if (sc !== undefined && masks && (persistentBefore || this.persistServices > 0)) sc.all = true;
    }
    if (before !== undefined) {
      const after = this.steerMasks().vips;
      const moved = new Map<number, number | undefined>();
      for (const a of new Set([...before.keys(), ...after.keys()])) if (had!.has(a)) moved.set(a, before.get(a));
      this.steeringMoved(moved);
    }
  }

  /**
   * apply() with the masks kept: each op that changesMasks() takes its service out of steerIdx
   * and puts it back after, noting the addresses it had and has; then steerRecompute() makes the
   * masks of what those addresses link, and only those addresses are told to the group
   * (steerChanged) and looked at by steeringMoved.
   */
  private applyTouched(ops: readonly DpOp[], masked: boolean): void {
    const sc = this.steerChanged;
    const idx = this.steerIdx as Map<number, Set<number>>;
    const seeds = new Set<number>();
    // Whether each address was a VIP before the list (steeringMoved), for those the list may make or end one.
    const wasVip = new Map<number, boolean>();
    const seed = (a: number): void => {
      seeds.add(a);
      if (!wasVip.has(a)) wasVip.set(a, this.link.isVip(a));
    };
    for (const op of ops) {
      const id = this.changesMasks(op) ? steerSvcOf(op) : undefined;
      const svc = id === undefined ? undefined : this.services[id];
      if (svc !== undefined) {
        for (const a of this.steerLinks(svc)) {
          seed(a);
          idxDel(idx, a, svc.id);
        }
      }
      if (op.op === 'addService' && op.proto !== PROTO_FWM) seed(op.vip | 0);
      if (op.op === 'addDest') seed(op.addr | 0);
      if (sc !== undefined) this.noteSteer(op, sc.addrs);
      this.apply1(op);
      const now = id === undefined ? undefined : this.services[id];
      if (now !== undefined) {
        for (const a of this.steerLinks(now)) {
          seed(a);
          idxAdd(idx, a, now.id);
        }
      }
    }
    if (seeds.size === 0) return;
    const before = this.steerRecompute(seeds);
    if (sc !== undefined) for (const a of before.keys()) sc.addrs.add(a);
    if (!masked) return;
    const moved = new Map<number, number | undefined>();
    for (const [a, m] of before) if (wasVip.get(a) ?? this.link.isVip(a)) moved.set(a, m);
    this.steeringMoved(moved);
  }

  /**
   * Workers' shadow (DatapathGroup.apply): the addresses whose entry in steerAddrs() the lists
   * applied since the group last looked may have changed, or all (a list may have changed a mask:
   * a persistent service's change). undefined: not kept (a worker, or no group).
   */
  steerChanged: { addrs: Set<number>; all: boolean } | undefined;

  /** The addresses op (not applied yet) can add to or remove from steerAddrs(), masks aside. */
  private noteSteer(op: DpOp, out: Set<number>): void {
    switch (op.op) {
      case 'addService':
        if (op.proto !== PROTO_FWM) out.add(op.vip | 0);
        return;
      case 'editService': case 'delService': {
        const svc = this.services[op.id];
        if (svc === undefined) return;
        if (svc.proto !== PROTO_FWM) out.add(svc.vip | 0);
        if (op.op === 'delService') for (const l of this.laddrs.bySvc[op.id] ?? []) out.add(l.addr | 0);
        return;
      }
      case 'addLaddr': case 'delLaddr':
        out.add(op.addr | 0);
        return;
      case 'addMark': case 'delMark':
        out.add(op.vip | 0);
        return;
      default:
    }
  }

  /** Whether op (not applied yet) can change steerMasks(): services, marks, and only NAT servers. */
  private changesMasks(op: DpOp): boolean {
    switch (op.op) {
      case 'addService': case 'editService': case 'delService': case 'addMark': case 'delMark':
        return true;
      case 'addDest':
        return op.fwd === FWD_NAT;
      case 'editDest':
        return this.dt.fwd[op.dest] !== op.fwd && (this.dt.fwd[op.dest] === FWD_NAT || op.fwd === FWD_NAT);
      case 'delDest':
        return this.dt.fwd[op.dest] === FWD_NAT;
      default:
        return false;
    }
  }

  /**
   * One piece of the room a DpOp reserve asks for (one array made, or a move into a larger table
   * gone on): the services' lookup, the per-service counts (not a worker's: DatapathGroup sends
   * those), the VIPs and local addresses, the real servers' pins. Returns whether it did something.
   */
  private reserve(r: Extract<DpOp, { op: 'reserve' }>): boolean {
    return this.svcMap.reserve(r.services) || (!this.inWorker && this.counters.reserveSvc(r.ids)) ||
      this.link.reserve(r.vips) || this.link.neigh.reserve(r.rips);
  }

  /** Whether the tables hold what reserve op r asks for without growing (Control.batchInSlices applies it until they do). */
  hasRoom(r: Extract<DpOp, { op: 'reserve' }>): boolean {
    return this.svcMap.fits(r.services) && (this.inWorker || r.ids <= this.counters.svcNoDest.length) &&
      this.link.fits(r.vips) && this.link.neigh.fits(r.rips);
  }

  private apply1(op: DpOp): void {
    const dt = this.dt;
    switch (op.op) {
      case 'addService': {
        const scheduler = this.schedulerOf(op.sched);
        const svc: SvcRuntime = {
          id: op.id, proto: op.proto, vip: op.vip | 0, port: op.port, scheduler, dests: [], schedState: undefined,
          schedFlags: this.schedFlagsOf(op.schedFlags), persist: op.persist, netmask: op.netmask | 0, oneShot: op.oneShot, pe: op.pe,
          persistTicks: persistTicksOf(op.persist), synproxy: op.synproxy,
          retired: NO_RETIRED, retiredZ: NO_RETIRED, start: this.workerIndex,
        };
        scheduler.init?.(svc, dt);
        this.services[op.id] = svc;
        this.counters.addService(op.id);
        if (svc.persist > 0) this.persistServices++;
        this.svcMap.set(svc.vip, svcKey(svc.proto, svc.port), svc.id);
        // A mark service has no address of its own: its marks' VIPs are answered for (addMark).
        if (svc.proto === PROTO_FWM) return;
        if (svc.port === 0) this.zeroPortServices++;
        if (svc.proto === PROTO_TCP && svc.port === FTP_PORT) this.ftpServices++;
        // Gratuitous ARP the first time uvsd answers for this address.
        if (this.link.addLocal(svc.vip, true)) this.announce(svc.vip);
        return;
      }
      case 'editService': {
        const svc = this.svc(op.id);
        const scheduler = this.schedulerOf(op.sched);
        const flags = this.schedFlagsOf(op.schedFlags);
        const flagsChanged = svc.schedFlags !== flags;
        svc.schedFlags = flags;
        this.persistServices += (op.persist > 0 ? 1 : 0) - (svc.persist > 0 ? 1 : 0);
        svc.persist = op.persist;
        svc.persistTicks = persistTicksOf(op.persist);
        svc.netmask = op.netmask | 0;
        svc.oneShot = op.oneShot;
        svc.pe = op.pe;
        svc.synproxy = op.synproxy;
        if (scheduler !== svc.scheduler) {
          svc.scheduler.done?.(svc, dt);
          svc.scheduler = scheduler;
          svc.schedState = undefined;
          scheduler.init?.(svc, dt);
          scheduler.update?.(svc, dt);
        } else if (flagsChanged) {
          scheduler.update?.(svc, dt);
        }
        return;
      }
      case 'reserve':
        this.reserve(op);
        return;
      case 'delService': {
        const svc = this.svc(op.id);
        svc.scheduler.done?.(svc, dt);
        for (const d of svc.dests) {
          this.link.neigh.unpin(dt.addr[d]);
          dt.release(d);
        }
        svc.dests = [];
        this.services[op.id] = undefined;
        if (svc.persist > 0) this.persistServices--;
        this.svcMap.delete(svc.vip, svcKey(svc.proto, svc.port));
        if (svc.proto !== PROTO_FWM) {
          if (svc.port === 0) this.zeroPortServices--;
          if (svc.proto === PROTO_TCP && svc.port === FTP_PORT) this.ftpServices--;
          this.link.delLocal(svc.vip, true);
        }
        const lips = (this.laddrs.bySvc[op.id] ?? []).map((l) => l.addr);
        this.laddrs.delService(op.id);
        for (const a of lips) this.dropLaddr(a);
        return;
      }
      case 'addDest': {
        const svc = this.svc(op.svc);
        if (op.revive === true) dt.revive(op.dest, op.fwd, op.weight, op.upper, op.lower, op.tun);
        else dt.set(op.dest, op.addr, op.port, op.fwd, op.weight, op.upper, op.lower, op.tun);
        this.destSvc[op.dest] = op.svc;
        // The first server in a list of one (a push into the empty list made room for 17).
        if (svc.dests.length === 0) svc.dests = [op.dest];
        else svc.dests.push(op.dest);
        svc.scheduler.update?.(svc, dt);
        this.link.neigh.pin(op.addr);
        this.resolve(op.addr);
        if (op.fwd === FWD_DR || op.fwd === FWD_TUN) this.directServer(svc);
        return;
      }
      case 'editDest': {
        const svc = this.svc(op.svc);
        if (dt.fwd[op.dest] !== op.fwd && (op.fwd === FWD_DR || op.fwd === FWD_TUN)) this.directServer(svc);
        // Existing connections keep the forwarder they were created with (IPVS does the same).
        dt.fwd[op.dest] = op.fwd;
        dt.tun[op.dest] = op.tun;
        dt.weight[op.dest] = op.weight;
        dt.setThresholds(op.dest, op.upper, op.lower);
        svc.scheduler.update?.(svc, dt);
        return;
      }
      case 'delDest': {
        const svc = this.svc(op.svc);
        const index = svc.dests.indexOf(op.dest);
        if (index < 0) throw new Error(`apply: destination ${op.dest} is not in service ${op.svc}`);
        svc.scheduler.delDest?.(svc, dt, index);
        svc.dests.splice(index, 1);
        if (svc.retired === NO_RETIRED) {
          svc.retired = new Float64Array(5);
          svc.retiredZ = new Float64Array(5);
        }
        dt.retireInto(op.dest, svc.retired, svc.retiredZ);
        this.link.neigh.unpin(dt.addr[op.dest]);
        dt.release(op.dest);
        svc.scheduler.update?.(svc, dt);
        return;
      }
      case 'setTimeouts': {
        const s = Array.from(this.timeoutS);
        if (op.tcp > 0) s[S_ESTABLISHED] = op.tcp;
        if (op.tcpfin > 0) s[S_FIN_WAIT] = op.tcpfin;
        if (op.udp > 0) s[S_UDP] = op.udp;
        this.setTimeouts(s);
        return;
      }
      case 'addLaddr': {
        this.svc(op.svc);
        // uvsd answers ARP for its LIPs (gratuitous ARP the first time); one still answered for
        // its connections (draining: dropLaddr) is a service's again, counted as it was.
        const draining = this.laddrs.draining(op.addr | 0);
        this.laddrs.add(op.svc, op.addr | 0, op.portMin, op.portMax);
        if (!draining && this.link.addLocal(op.addr | 0)) this.announce(op.addr | 0);
        return;
      }
      case 'delLaddr': {
        this.svc(op.svc);
        this.laddrs.del(op.svc, op.addr | 0);
        this.dropLaddr(op.addr | 0);
        return;
      }
      case 'addMark': {
        this.marks.add(op);
        if (this.link.addLocal(op.vip | 0, true)) this.announce(op.vip | 0);
        return;
      }
      case 'delMark': {
        if (this.marks.delete(op.proto, op.vip, op.portMin, op.portMax)) this.link.delLocal(op.vip | 0, true);
        return;
      }
      case 'setRole': {
        const group = op.group ?? -1;
        if (group >= this.link.groupNames.length) return; // checked by the control verb
        if (this.link.setRole(op.master, group)) {
          this.setMarking();
          if (op.start !== true) this.counters.c[C.role_changes]++;
        }
        // Take over at once: gratuitous ARP for every address that moved with the role, again
        // 1 s and 5 s later. A master told so again announces again (keepalived's notify after a
        // split brain healed: the hosts may still have the other director's MAC).
        if (op.master) {
          this.setClock();
          this.garpFrom = this.link.now;
          this.garpRefreshed = this.link.now;
          this.garpGroups = group < 0 ? -1 : (this.garpNext < GARP_AGAIN_MS.length ? this.garpGroups : 0) | (1 << group);
          this.garpNext = 0;
          this.announceHeld(group < 0 ? -1 : 1 << group);
        }
        return;
      }
      case 'haGroups': {
        // A reload may move addresses into a group this director is master of: announced at once.
        const moving = this.heldAddrs();
        const was = moving.map((ip) => this.link.held(ip));
        this.link.setGroups(op.groups);
        this.setMarking();
        this.garpGroups = -1; // indices may have changed: a running takeover's repeats announce all it holds
        moving.forEach((ip, i) => {
          if (!was[i]) this.announce(ip);
        });
        return;
      }
      case 'announce':
        this.link.announcing = op.on;
        return;
      case 'unclaimed':
        if (op.by === null) this.link.unclaimed.delete(op.addr | 0);
        else this.link.unclaimed.set(op.addr | 0, op.by);
        return;
      case 'unclaimedSet':
        this.link.unclaimed.add(op.set);
        return;
      case 'syncMarks': {
        if (op.on && this.sync === null) this.sync = new SyncMarks(this.ct.max);
        this.syncOn = op.on;
        this.setMarking();
        return;
      }
      case 'syncInstall': {
        this.setClock();
        for (let o = 0; o + REC_LEN <= op.records.length; o += REC_LEN) this.installRecord(op.records, o);
        this.tx.flush();
        return;
      }
      case 'setDefense': {
        // Every field but the op's name (a list of them left ftpPorts out: a reload said it set them and did not).
        const { op: _name, ...defense } = op;
        this.setDefense(defense);
        return;
      }
      case 'neighFlush': {
        if (op.addr === undefined) this.link.neigh.flushAll();
        else this.link.neigh.flush(op.addr);
        return;
      }
      case 'zero': {
        const zero = (svc: SvcRuntime): void => {
          for (const d of svc.dests) dt.zero(d);
          if (svc.retiredZ !== NO_RETIRED) svc.retiredZ.fill(0);
        };
        if (op.svc >= 0) zero(this.svc(op.svc));
        else for (const svc of this.services) if (svc !== undefined) zero(svc);
        return;
      }
    }
  }

  /** uvsd's ARP watch: told of each VIP of a service that gains a DR or TUN real server (added, or
   *  changed to DR/TUN), when a real server holding the VIP without arp_ignore may appear. */
  onDirectServer: ((vip: number) => void) | null = null;

  private directServer(svc: SvcRuntime): void {
    const f = this.onDirectServer;
    if (f === null) return;
    if (svc.proto !== PROTO_FWM) f(svc.vip);
    else for (const r of this.marks.rules) if (r.mark === svc.vip) f(r.vip); // a mark service's VIPs are its marks'
  }

  /** Announce the addresses that move with the role, of the HA groups in `groups` (bit i: group i; -1: all), where held. */
  private announceHeld(groups: number): void {
    if (!this.announces) return;
    for (const ip of this.heldAddrs()) if (((groups >>> this.link.groupOf(ip)) & 1) !== 0) this.link.announce(ip);
    this.tx.flush();
  }

  /** Addresses that move with the master role: floating --addrs, VIPs (marked ones too), FULLNAT local addresses. */
  heldAddrs(): number[] {
    const out = new Set<number>(this.vips());
    for (const a of this.link.addrs) if (a.floating === true) out.add(a.ip | 0);
    for (const l of this.laddrs.addrs()) out.add(l | 0);
    return [...out];
  }

  /**
   * A service no longer has LIP addr (--del-laddr, its service deleted): uvsd stops answering ARP
   * for it, unless it was the last service's and connections still hold its ports: then, as DPVS
   * keeps the address on its interface, until they give the last one back (laddrs.draining, then
   * laddrs.onDrained). Until 2026-12-07 it stopped at once, and a server whose neighbour entry for
   * the LIP went stale could no longer answer those connections (a UDP flow went silent for its
   * timeout).
   */
  private dropLaddr(addr: number): void {
    if (!this.laddrs.draining(addr)) this.link.delLocal(addr);
  }

  /** The VIPs: services' addresses and marked ones (uvsadm --add-mark), each once. */
  vips(): number[] {
    const out = new Set<number>();
    for (const svc of this.services) if (svc !== undefined && svc.proto !== PROTO_FWM) out.add(svc.vip | 0);
    for (const r of this.marks.rules) out.add(r.vip);
    return [...out];
  }

  /**
   * The addresses the TAP's steering program must know (src/datapath/steer.ts), by kind: every
   * --addr and VIP STEER_LOCAL, FULLNAT local addresses STEER_LADDR (they win: a reply to a local
   * port must reach the port's owner).
   */
  steerAddrs(): Map<number, number> {
    const out = new Map<number, number>();
    const masks = this.steerMasks();
    for (const a of this.link.addrs) out.set(a.ip | 0, STEER_LOCAL);
    for (const svc of this.services) if (svc !== undefined && svc.proto !== PROTO_FWM) out.set(svc.vip | 0, STEER_LOCAL);
    for (const r of this.marks.rules) out.set(r.vip, STEER_LOCAL);
    for (const [a, m] of masks.vips) out.set(a, steerValue(STEER_MASKED, m));
    for (const [a, m] of masks.servers) out.set(a, steerValue(STEER_SERVER, m));
    for (const l of this.laddrs.addrs()) out.set(l | 0, STEER_LADDR);
    return out;
  }

  /** What steerAddrs() holds for address a (int32), or undefined: the same precedence, one address. */
  steerAddr(a: number): number | undefined {
    a |= 0;
    if (this.laddrs.configured(a)) return STEER_LADDR;
    const masks = this.steerMasks();
    const server = masks.servers.get(a);
    if (server !== undefined) return steerValue(STEER_SERVER, server);
    const vip = masks.vips.get(a);
    if (vip !== undefined) return steerValue(STEER_MASKED, vip);
    if (this.link.isVip(a)) return STEER_LOCAL;
    for (const l of this.link.addrs) if ((l.ip | 0) === a) return STEER_LOCAL;
    return undefined;
  }

  /** steerMasks(), kept (changed by steerRecompute) until a list that changes a mark. */
  private steerMaskMap: { vips: Map<number, number>; servers: Map<number, number> } | undefined;
  /** Services with persistence (-p): without any, steerMasks() has nothing to find. */
  persistServices = 0;
  /** With steerMaskMap: address -> the ids of the services whose steerLinks() hold it. */
  private steerIdx: Map<number, Set<number>> | undefined;

  /**
   * Workers: which clients the steering program hashes by network rather than endpoint. A VIP (or
   * a marked address) of a persistent service: the AND of its services' netmasks, so that every
   * connection one template covers reaches one worker. The NAT servers of such a VIP get its mask
   * (their replies are hashed by the client's address in that network), and then every VIP those
   * servers serve gets it too (else that VIP's replies would be hashed unlike its requests), and
   * the addresses of one persistent -f service share one mask (its template covers them all),
   * until nothing changes. Masks only widen, so this ends.
   */
  steerMasks(): { vips: Map<number, number>; servers: Map<number, number> } {
    if (this.steerMaskMap !== undefined) return this.steerMaskMap;
    const vips = new Map<number, number>();
    const servers = new Map<number, number>();
    this.steerIdx = undefined;
    if (this.persistServices === 0) return (this.steerMaskMap = { vips, servers });
    const live = this.services.filter((s): s is SvcRuntime => s !== undefined);
    this.fillSteerMasks(live, vips, servers);
    // The index a list's change starts from (steerTouch): address -> the services it links.
    const idx = new Map<number, Set<number>>();
    for (const svc of live) for (const a of this.steerLinks(svc)) idxAdd(idx, a, svc.id);
    this.steerIdx = idx;
    this.steerMaskMap = { vips, servers };
    return this.steerMaskMap;
  }

  /** A -f service's addresses (its mark's rules'), or the service's VIP. */
  private steerAddrsOf(svc: SvcRuntime): number[] {
    return svc.proto === PROTO_FWM ? this.marks.rules.filter((r) => r.mark === (svc.vip | 0)).map((r) => r.vip) : [svc.vip | 0];
  }

  /** The addresses through which svc's mask meets others' (steerMasks): its own and its NAT servers'. */
  private steerLinks(svc: SvcRuntime): number[] {
    const out = this.steerAddrsOf(svc);
    for (const d of svc.dests) if (this.dt.fwd[d] === FWD_NAT) out.push(this.dt.addr[d] | 0);
    return out;
  }

  /** steerMasks()'s rule for the services live (all the services every one of their addresses links), into vips and servers. */
  private fillSteerMasks(live: SvcRuntime[], vips: Map<number, number>, servers: Map<number, number>): void {
    const narrow = (m: Map<number, number>, a: number, mask: number): boolean => {
      const was = m.get(a);
      const now = was === undefined ? mask : was & mask;
      if (was === now) return false;
      m.set(a, now);
      return true;
    };
    let any = false;
    for (const svc of live) if (svc.persist > 0) for (const a of this.steerAddrsOf(svc)) any = narrow(vips, a, svc.netmask | 0) || any;
    for (let changed = any; changed;) {
      changed = false;
      for (const svc of live) {
        const nat = svc.dests.filter((d) => this.dt.fwd[d] === FWD_NAT).map((d) => this.dt.addr[d] | 0);
        // A persistent -f service's template covers all its addresses (ip_vs_sched_persist keys
        // it on the mark): they get one mask whatever its servers' method.
        if (nat.length === 0 && !(svc.proto === PROTO_FWM && svc.persist > 0)) continue;
        const addrs = this.steerAddrsOf(svc);
        let mask: number | undefined;
        for (const a of [...addrs.map((x) => vips.get(x)), ...nat.map((x) => servers.get(x))]) {
          if (a !== undefined) mask = mask === undefined ? a : mask & a;
        }
        if (mask === undefined) continue;
        for (const a of addrs) changed = narrow(vips, a, mask) || changed;
        for (const a of nat) changed = narrow(servers, a, mask) || changed;
      }
    }
  }

  /**
   * steerMasks() again for what a list touched only: the services linked (steerIdx) to the
   * addresses seeds (those the touched services had before and have after), and all they link
   * to in turn, have their masks made anew; no other mask can have moved (a mask spreads only
   * along those links). Returns those addresses, each with its VIP mask before.
   */
  private steerRecompute(seeds: Set<number>): Map<number, number | undefined> {
    const idx = this.steerIdx as Map<number, Set<number>>;
    const { vips, servers } = this.steerMaskMap as { vips: Map<number, number>; servers: Map<number, number> };
    const addrs = new Set(seeds);
    const ids = new Set<number>();
    const live: SvcRuntime[] = [];
    for (const a of addrs) {
      for (const id of idx.get(a) ?? []) {
        if (ids.has(id)) continue;
        ids.add(id);
        const svc = this.services[id] as SvcRuntime;
        live.push(svc);
        for (const b of this.steerLinks(svc)) addrs.add(b);
      }
    }
    const before = new Map<number, number | undefined>();
    for (const a of addrs) {
      before.set(a, vips.get(a));
      vips.delete(a);
      servers.delete(a);
    }
    this.fillSteerMasks(live, vips, servers);
    return before;
  }

  // ---- connection sync (src/sync, docs/ha.md) ----------------------------------------------

  /**
   * Marks are taken while a master sync daemon runs and this director is master (of some HA
   * group). Demoted with the master daemon on: the marks waiting then (the connections of the
   * last sync interval) are sent by its next round once (SyncProducer.produce), then
   * syncLastDone() drops what is left; nothing is marked meanwhile. Marks still held at a
   * promotion, or when the daemon stops, are dropped: sent then, an old expiry would expire the
   * peer's copy of a newer connection of the same tuple.
   */
  syncLast = false;

  private setMarking(): void {
    const on = this.syncOn && this.link.anyMaster;
    if (this.marking && !on && this.syncOn) {
      this.syncLast = true;
    } else if ((this.marking && !on) || (on && this.syncLast) || (!this.syncOn && this.syncLast)) {
      // The daemon stopped; or promoted again before that round: what the demotion left is old
      // (an expiry sent now would expire the peer's copy of a newer connection of its tuple).
      this.syncLastDone();
    }
    this.marking = on;
  }

  /**
   * Which master period the sync records produced now belong to: while master (of some group),
   * the one the next demotion ends; while demoted, the one the last demotion ended (its last
   * send). With --workers each worker's records carry it, and the main thread's daemon sends
   * only those of its own datapath's turn now (SyncDaemon): a worker's records of the last
   * interval come after the main thread's demotion, and those of an earlier turn (still on
   * their way at a later promotion) are old.
   */
  get syncTurn(): number {
    return this.link.anyMasterTurns + (this.link.anyMaster ? 1 : 0);
  }

  /** The demotion's last send is over (or will not be): the marks left are dropped. */
  syncLastDone(): void {
    this.sync?.clear();
    this.syncLast = false;
  }

  /** Write up to `max` records (expiries first, then marked entries) at buf[o]; returns how many
   *  (more than `max` only for one entry whose records alone are more: syncRecordsOf). */
  syncDrain(buf: Uint8Array, o: number, max: number): number {
    const m = this.sync;
    if (m === null) return 0;
    let n = 0;
    while (n < max && m.nextExpired(buf, o + n * REC_LEN)) n++;
    while (n < max) {
      const e = m.peekMarked();
      if (e < 0) break;
      const k = this.ct.isAlive(e) && syncable(this.ct.flags[e]) ? this.syncRecordsOf(e) : 0;
      if (n > 0 && n + k > max) break; // with its REC_SYNPROXY / REC_FTPSEQ, in the next group
      m.nextMarked();
      if (k > 0) n += this.writeSyncEntry(e, buf, o + n * REC_LEN, k);
    }
    return n;
  }

  /** How many records entry e is sent as: its REC_CONN, and REC_SYNPROXY, REC_FTPSEQ if it has
   *  their values (the seq shift, looked up once, left in ftpShift for writeSyncEntry). */
  private syncRecordsOf(e: number): number {
    const f = this.ct.flags[e];
    return 1 + ((f & F_SYNPROXY) !== 0 ? 1 : 0) + ((f & F_FTP) !== 0 && this.ftp.seqShift(e, this.ftpShift) ? 1 : 0);
  }

  /** Write entry e's k records at buf[o], k = syncRecordsOf(e) just before (REC_FTPSEQ, the last, from its ftpShift); returns k. */
  private writeSyncEntry(e: number, buf: Uint8Array, o: number, k: number): number {
    const ct = this.ct;
    const f = ct.flags[e];
    writeConnRecord(ct, e, buf, o, (f & F_HASHED_OUT) !== 0);
    let n = 1;
    if ((f & F_SYNPROXY) !== 0) writeExtRecord(buf, o, o + n++ * REC_LEN, REC_SYNPROXY, ct.seqd[e], ct.tsoff[e], ct.spwin[e]);
    const s = this.ftpShift;
    if (n < k) writeExtRecord(buf, o, o + n * REC_LEN, REC_FTPSEQ, s[0], s[1], s[2]);
    return k;
  }

  /**
   * Full table dump, in two passes so that a backup meets every template before the connections
   * it controls: cursor 0..max-1 writes templates, max..2*max-1 connections. Writes up to `max`
   * records at buf[o] (as syncDrain: more only for one entry), looking at no more than `scan`
   * indices; out[0] = the next cursor (2*ct.max when done), out[1] = records written.
   */
  syncDump(buf: Uint8Array, o: number, max: number, from: number, scan: number, out: Int32Array): void {
    const ct = this.ct;
    let n = 0;
    let k = from;
    const end = Math.min(2 * ct.max, from + scan);
    for (; k < end && n < max; k++) {
      const tpl = k < ct.max;
      const e = tpl ? k : k - ct.max;
      const f = ct.flags[e];
      if ((f & F_ALIVE) === 0 || !syncable(f) || ((f & F_TEMPLATE) !== 0) !== tpl) continue;
      const need = this.syncRecordsOf(e);
      if (n > 0 && n + need > max) break;
      n += this.writeSyncEntry(e, buf, o + n * REC_LEN, need);
    }
    out[0] = k;
    out[1] = n;
  }

  /**
   * Workers: which of `count` workers will see the frames of the connection a sync record at
   * b[o] describes, by the steering program's rule (a FULLNAT connection: its local port; else
   * the client, by network where its VIP is persistent); -1 for an expiry (every worker looks).
   */
  syncOwner(b: Uint8Array, o: number, count: number): number {
    if (b[o] !== REC_CONN && !isExtRecord(b[o])) return -1;
    if ((b[o + 3] & RF_TEMPLATE) === 0 && b[o + 4] === FWD_FULLNAT) return rd16(b, o + 12) % count;
    return this.clientWorker(rd32(b, o + 16), rd16(b, o + 6), this.recordVip(b[o + 1], rd32(b, o + 20)), count);
  }

  /** The VIP of a sync record's connection: its vaddr, but a -f template names its mark (the VIP of the mark's first rule). */
  private recordVip(proto: number, vaddr: number): number {
    if ((proto & ~(PROTO_TPL | PROTO_TPL_DEAD)) !== PROTO_FWM) return vaddr;
    return this.marks.rules.find((r) => r.mark === vaddr)?.vip ?? vaddr;
  }

  /** Workers: which of `count` workers the steering program sends client caddr:cport's frames to vaddr (steerWorker with vaddr's mask). */
  clientWorker(caddr: number, cport: number, vaddr: number, count: number): number {
    return steerWorker(caddr, cport, this.steerMasks().vips.get(vaddr | 0), count);
  }

  /** Install (or update, or expire) one synced connection; refusals are counted (sync_refused), one
   *  whose real server is not in its service here is installed unbound (sync_unbound). */
  private installRecord(b: Uint8Array, o: number): void {
    const ct = this.ct;
    const dt = this.dt;
    const c = this.counters.c;
    const type = b[o];
    const proto = b[o + 1];
    const state = b[o + 2];
    const rf = b[o + 3];
    const cport = rd16(b, o + 6);
    const vport = rd16(b, o + 8);
    const caddr = rd32(b, o + 16);
    const vaddr = rd32(b, o + 20);
    // Active/active (HA groups): a connection of a group this director is master of is its own.
    if (this.link.anyMaster && this.link.held(this.recordVip(proto, vaddr))) return;
    // A persistence engine's template: its call's hash too (the master's text is not sent); a
    // connection made through one: that template's hash.
    const rtag = rd32(b, o + 32);
    const tag = (rf & RF_TEMPLATE) !== 0 ? rtag : 0;
    let node = tag !== 0 ? ct.lookupTagged(proto, caddr, cport, vaddr, vport, tag, -1) : ct.lookup(proto, caddr, cport, vaddr, vport);
    if (type === REC_EXPIRE) {
      if (node >= 0 && (node & 1) === DIR_IN) {
        ct.expireNow(node >>> 1);
        c[C.sync_expired]++;
      }
      return;
    }
    if (isExtRecord(type)) {
      if (node >= 0) {
        if ((node & 1) === DIR_IN && !this.installExt(b, o, type, node >>> 1)) c[C.sync_refused]++;
        return;
      }
      // No entry: its REC_CONN is late (datagrams reordered), or was refused or lost (counted
      // either way): held for it a while.
      c[C.sync_ext_held]++;
      if (this.extHold.hold(b, o, this.link.now)) c[C.sync_ext_dropped]++;
      return;
    }
    const template = (rf & RF_TEMPLATE) !== 0;
    const l4 = proto & ~(PROTO_TPL | PROTO_TPL_DEAD);
    if (type !== REC_CONN || (template ? state > S_UDP : !stateFits(l4, state))) {
      c[C.sync_refused]++;
      return;
    }
    // The service, as newConn finds it; a -f service's template names its mark itself. An FTP
    // data connection's VIP:port (a passive port, VIP:20) has none: its control connection's.
    const daddr = rd32(b, o + 24);
    const ftpData = !template && (rf & RF_FTPDATA) !== 0 && l4 === PROTO_TCP;
    const svc = this.syncService(l4, vaddr, vport) ?? (ftpData ? this.ftpService(vaddr, daddr) : undefined);
    if (svc === undefined) {
      c[C.sync_refused]++;
      return;
    }
    const dport = rd16(b, o + 10);
    // -1: the server is not in the service here (yet): the entry is installed unbound, as the
    // kernel's ip_vs_proc_conn does, and bound when the server has come (bindLate).
    const dest = this.syncDest(svc, daddr, dport);
    const laddr = rd32(b, o + 28);
    // A template's timeout (its laddr): the master's when shorter than -p here, as the kernel's
    // sync carries cp->timeout: 60 s once its timer fired while it had connections (expire_later).
    // An older uvsd sends its -p. The master's too when the service here is not persistent (yet:
    // between the two directors' reloads that make it so): until 2026-12-07 it got a tick here and
    // then expire_later's 60 s, and a takeover after that lost the client's server.
    const tplTicks = template && laddr > 0 && (laddr < svc.persistTicks || svc.persist === 0) ? laddr : svc.persistTicks;
    // 1.5 times its timeout (a connection's state's, a template's -p or the master's shorter
    // one). The master sends an entry again only when it is used more than half a timeout after
    // its last record (SyncMarks.lastTick), so its own entry may outlive that record by up to 1.5
    // timeouts (used until just before the half, then idle); its expiry is sent when it comes.
    // Until 2026-12-07 the backup's copy had one timeout and was gone up to half a timeout before
    // the master's: a takeover then lost the connection, or the client's persistence.
    const ticks = template ? tplTicks : this.tt[state];
    const expires = this.nowTick + ticks + (ticks >>> 1);
    if (node >= 0 && (node & 1) !== DIR_IN) {
      c[C.sync_refused]++; // the tuple is another entry's reply direction: not ours to overwrite
      return;
    }
    const lport = rd16(b, o + 12);
    const fwd = b[o + 4];
    let e = node >>> 1;
    if (node >= 0 && !template && (ct.daddr[e] !== daddr || ct.dport[e] !== dport || ct.fwd[e] !== fwd ||
      (FORWARDERS[fwd]?.bind !== undefined && (ct.laddr[e] !== laddr || ct.lport[e] !== lport)) ||
      (ct.flags[e] & (F_SYNPROXY | F_CONFIRMED)) === F_SYNPROXY)) {
      // The master's connection of this client tuple goes elsewhere (a server, a FULLNAT local
      // port), or this director's own is a SYN proxy connection still waiting for its server
      // (its seqd a held-segment slot, where the master's got its answer): the record wins, as
      // in the kernel (ip_vs_proc_conn expires the entry whose daddr/dport differ). E.g. a
      // demoted director's own entry, which the client left.
      ct.expireNow(e);
      if (ct.isAlive(e)) {
        c[C.sync_refused]++; // an FTP control connection its data connections hold here
        return;
      }
      node = -1;
    }
    if (node >= 0) {
      // A handshake's record (SYN_RECV ...) for a TCP connection installed ESTABLISHED here is
      // older than what was installed: a late datagram (reordered; taken once, docs/ha.md). No
      // entry of the master goes from ESTABLISHED back to a handshake (a SYN on it is a new
      // entry, its old one's expiry sent before it), so it is left as it is; applied, it put the
      // connection back to SYN_RECV with 60 s here, gone long before the master sends it again
      // (at half its timeout, 7.5 min), and a takeover meanwhile reset it.
      if (!template && l4 === PROTO_TCP && ct.state[e] === S_ESTABLISHED && (state === S_NONE || handshaking(l4, state))) return;
      // An update: state (with the active/inactive bookkeeping) and timer.
      if (ct.dest[e] < 0) {
        // Unbound: bound now if its server has come (the kernel's ip_vs_try_bind_dest).
        if (!template) ct.state[e] = state;
        if (dest >= 0) {
          this.bindSynced(e, dest);
          c[C.sync_bound]++;
        }
      } else if (!template) {
        // The counters move only while the entry's destination is the one it was bound to.
        if (this.boundNow(e)) enterState(ct, dt, e, state);
        else ct.state[e] = state;
      }
      // Its control connection came after it (a dump): linked now.
      if (ftpData && ct.ctl[e] < 0) this.ftp.adopt(ct, e, rd16(b, o + 14));
      // A template the master has assured since (never taken back: this director's own stays).
      if (template && (rf & RF_ASSURED) !== 0) ct.flags[e] |= F_ASSURED;
      if (template) ct.laddr[e] = tplTicks;
      ct.expires[e] = expires;
      ct.reslot(e);
      c[C.sync_installed]++;
      this.takeHeld(b, o, e);
      return;
    }
    const fw = FORWARDERS[fwd];
    if (fw === undefined) {
      c[C.sync_refused]++;
      return;
    }
    const hashOut = (rf & RF_HASHED_OUT) !== 0;
    // FULLNAT: the master's local port is reserved here too, so this director never gives it
    // to another connection and gives it back when the entry expires (unbind). An entry of
    // another client holding it here is stale (the master gave the port anew, so its own holder
    // is gone; its expiry may still be on the way): the record wins.
    if (!template && fw.bind !== undefined && !this.laddrs.reserve(laddr, proto, lport)) {
      const holder = this.laddrs.owner(laddr, proto, lport);
      if (holder >= 0) ct.expireNow(holder);
      if (holder < 0 || !this.laddrs.reserve(laddr, proto, lport)) {
        c[C.sync_refused]++;
        return;
      }
    }
    e = ct.insert(proto, caddr, cport, vaddr, vport, daddr, dport, template ? 0 : laddr, lport, expires, hashOut);
    if (e < 0) {
      if (!template && fw.bind !== undefined) this.laddrs.give(laddr, proto, lport);
      this.counters.d[D.conn_table_full]++;
      return;
    }
    if (!template && fw.bind !== undefined) {
      this.laddrs.setOwner(laddr, proto, lport, e);
      // Workers: here for its local port (syncOwner); its client's datagrams reach another worker
      // unless the master ran the same --workers: they find it by going round (newConn).
      if (l4 === PROTO_UDP && this.workers > 1 && this.clientWorker(caddr, cport, vaddr, this.workers) !== this.workerIndex) {
        ct.flags[e] |= F_STRAY;
        this.strays[this.workerIndex]++;
      }
    }
    ct.fwd[e] = fwd;
    ct.state[e] = state;
    ct.flags[e] |= F_CONFIRMED;
    if (template) {
      ct.flags[e] |= F_TEMPLATE | ((rf & RF_ASSURED) !== 0 ? F_ASSURED : 0);
      ct.seqd[e] = tag;
      ct.laddr[e] = tplTicks;
      ct.ctl[e] = 0;
    } else {
      ct.flags[e] |= F_INACTIVE | ((rf & RF_NOOUTPUT) !== 0 ? F_NOOUTPUT : 0);
      // FTP, as the kernel binds its helper to a synced connection: a control connection is
      // helped here too (after a takeover, its next PASV/PORT), a data connection holds it.
      if (ftpData) {
        ct.flags[e] |= F_FTPDATA;
        this.ftp.adopt(ct, e, rd16(b, o + 14));
      } else if (this.ftp.on && l4 === PROTO_TCP && (rf & RF_NOOUTPUT) === 0 && this.ftp.ports[vport] !== 0) {
        this.ftp.attach(this, e);
      }
      // A data connection's ctl is its control connection's (adopt): a template flag on its
      // record (no uvsd sends one) would overwrite it and leave that one held for good.
      if ((rf & RF_HAS_TPL) !== 0 && !ftpData) {
        // Its template: the same key newConn/template() build (a mark service's: IPPROTO_IP, the mark, port 0).
        const fwm = svc.proto === PROTO_FWM;
        const tproto = (fwm ? PROTO_FWM : proto) | PROTO_TPL;
        const tvaddr = fwm ? svc.vip : vaddr;
        const tvport = templatePort(svc, vport);
        const tn = rtag !== 0 ? ct.lookupTagged(tproto, caddr & svc.netmask, callIdPort(rtag), tvaddr, tvport, rtag, -1)
          : ct.lookup(tproto, caddr & svc.netmask, 0, tvaddr, tvport);
        if (tn >= 0) {
          ct.ctl[e] = tn >>> 1;
          ct.ctl[tn >>> 1]++;
        }
      }
    }
    if (dest >= 0) this.bindSynced(e, dest);
    else c[C.sync_unbound]++; // its dest stays -1 (ct.insert)
    c[C.sync_installed]++;
    this.takeHeld(b, o, e);
  }

  /** Synced entry e, of the REC_CONN at b[o], takes the extension records that came before it. */
  private takeHeld(b: Uint8Array, o: number, e: number): void {
    const h = this.extHold;
    for (let k = h.take(b, o, 0); k >= 0; k = h.take(b, o, k + 1)) {
      const p = k * REC_LEN;
      if (!this.installExt(h.recs, p, h.recs[p], e)) this.counters.c[C.sync_refused]++;
    }
  }

  /**
   * A REC_SYNPROXY or REC_FTPSEQ record at b[o] for synced entry e: the master's translation
   * installed, so this director continues it after a takeover exactly as the master would. False
   * when e cannot take it (an entry of its own still waiting for its server; an FTP control
   * connection not helped here: no --ftp-ports for it, or no slot).
   */
  private installExt(b: Uint8Array, o: number, type: number, e: number): boolean {
    const ct = this.ct;
    if (type === REC_FTPSEQ) return this.ftp.setSeqShift(e, rd32(b, o + 24), rd32(b, o + 28), rd32(b, o + 32));
    if ((ct.flags[e] & (F_SYNPROXY | F_CONFIRMED)) === F_SYNPROXY) return false;
    ct.flags[e] |= F_SYNPROXY | F_CONFIRMED;
    ct.seqd[e] = rd32(b, o + 24);
    ct.tsoff[e] = rd32(b, o + 28);
    ct.spwin[e] = rd32(b, o + 32) & 0xff;
    return true;
  }

  /** The service of a sync record (or synced entry) of protocol l4 to vaddr:vport, as newConn
   *  finds it; a -f service's template names its mark itself. */
  private syncService(l4: number, vaddr: number, vport: number): SvcRuntime | undefined {
    let sid = l4 === PROTO_FWM ? this.svcMap.get(vaddr, svcKey(PROTO_FWM, 0)) : this.findService(l4, vaddr, vport);
    if (sid < 0 && vport === 0 && l4 === PROTO_TCP && this.ftpServices > 0) {
      // A template of a persistent FTP service (virtual port 0, templatePort).
      sid = this.svcMap.get(vaddr, svcKey(PROTO_TCP, FTP_PORT));
      if (sid >= 0 && (this.services[sid] as SvcRuntime).persist === 0) sid = -1;
    }
    return sid < 0 ? undefined : this.services[sid];
  }

  /**
   * The service a synced FTP data connection to vaddr (with server daddr) belongs to: a NAT or
   * FULLNAT TCP service of vaddr on one of the FTP ports (--ftp-ports) with daddr among its
   * servers, as its control connection's (a -f service when the mark takes vaddr:port).
   */
  private ftpService(vaddr: number, daddr: number): SvcRuntime | undefined {
    for (const p of this.ftp.list) {
      const svc = this.syncService(PROTO_TCP, vaddr, p);
      if (svc === undefined) continue;
      for (const d of svc.dests) {
        if (this.dt.addr[d] === daddr && (this.dt.fwd[d] === FWD_NAT || this.dt.fwd[d] === FWD_FULLNAT)) return svc;
      }
    }
    return undefined;
  }

  /** The slot of svc's server daddr:dport (a port-zero service's: daddr's, any port), or -1. */
  private syncDest(svc: SvcRuntime, daddr: number, dport: number): number {
    const dt = this.dt;
    let dest = -1;
    for (const d of svc.dests) {
      if (dt.addr[d] !== daddr) continue;
      if (dt.port[d] === dport) return d;
      if (dest < 0) dest = d; // port-zero services keep the packet's port
    }
    return dest;
  }

  /**
   * Synced entry e goes to server slot dest: counted in its active/inactive connections (by its
   * state) or, a template, its persistent ones; not in its Conns (the master scheduled it and
   * counted it there).
   */
  private bindSynced(e: number, dest: number): void {
    const ct = this.ct;
    const dt = this.dt;
    ct.dest[e] = dest;
    ct.dgen[e] = dt.gen[dest];
    if ((ct.flags[e] & F_TEMPLATE) !== 0) {
      dt.bindTemplate(dest);
      return;
    }
    ct.flags[e] |= F_INACTIVE;
    dt.bind(dest, false);
    if (activeState(ct.state[e])) {
      ct.flags[e] &= ~F_INACTIVE;
      dt.activate(dest, true);
    }
  }

  /**
   * A packet (or a new connection's template lookup) found synced entry e unbound (installed
   * before its server was in its service here): bound now if the server has come since (counted
   * sync_bound); false if it still has not, and the caller treats the entry as one whose server
   * was deleted.
   */
  private bindLate(e: number): boolean {
    const ct = this.ct;
    const svc = this.syncService(ct.proto[e] & ~(PROTO_TPL | PROTO_TPL_DEAD), ct.vaddr[e], ct.vport[e]);
    const dest = svc === undefined ? -1 : this.syncDest(svc, ct.daddr[e], ct.dport[e]);
    if (dest < 0) return false;
    this.bindSynced(e, dest);
    this.counters.c[C.sync_bound]++;
    return true;
  }

  /** Whether entry e is bound, to the server it was bound to (not one deleted since). */
  private boundNow(e: number): boolean {
    const d = this.ct.dest[e];
    return d >= 0 && this.dt.gen[d] === this.ct.dgen[e];
  }

  private svc(id: number): SvcRuntime {
    const s = this.services[id];
    if (s === undefined) throw new Error(`apply: no service ${id}`);
    return s;
  }

  private schedulerOf(name: string): Scheduler {
    const s = getScheduler(name);
    if (s === undefined) throw new Error(`apply: no scheduler ${name}`);
    return s;
  }
}
