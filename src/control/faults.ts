// Faults the datapath only counts (it never logs: DESIGN.md), turned into log lines for an operator
// tailing the log: a full connection table, secure TCP, a full neighbour table (ARP conflicts are
// arpwatch.ts's), frames dropped because a neighbour never answered ARP (a wrong --gateway, a real
// server that is down or not on the link), new connections that found no real server available
// (the kernel's "no destination available"). uvsd calls check() from its 250 ms tick, never from the packet path; each check
// compares what it reads with the previous check.

import { C, D } from '../datapath/counters.js';
import { formatIp, formatMac } from '../datapath/addr.js';
import { l4Name } from '../datapath/frame.js';
import { PROTO_FWM } from '../datapath/pipeline.js';

/** Names a service in a warning (a Datapath's SvcRuntime): proto PROTO_FWM is a -f service, vip its mark. */
export interface NamedService {
  readonly proto: number;
  readonly vip: number;
  readonly port: number;
}

/** Services named at most in one no-destination warning (the others counted). */
const NO_DEST_NAMED = 3;

/** Where the watches write (a pino logger fits). */
export interface WatchLog {
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
}

/**
 * What a check reads: a Datapath. With --workers it is the shadow, read after the tick's pull()
 * summed the workers' counters and connection counts into it (src/datapath/group.ts).
 */
export interface FaultSource {
  /** svcNoDest: no_dest by service id (with --workers the sums pull() made so far). */
  readonly counters: { readonly d: Float64Array; readonly c: Float64Array; readonly svcNoDest?: Float64Array };
  /** The services by id, to name those whose clients found no server. */
  readonly services?: readonly (NamedService | undefined)[];
  readonly link: {
    /** uvsd --gateway (0: none). */
    readonly gateway: number;
    /** The neighbour table: its size, the last address refused an entry and the last whose
     *  frames were dropped unanswered (neigh_unresolved), with whether a real server or the
     *  gateway pinned it (0 in the shadow with --workers: the workers' tables hold them, their
     *  counters are summed). */
    readonly neigh: { readonly size: number; readonly lastRefused: number; readonly lastUnresolved: number; readonly lastUnresolvedPinned: number };
    /** uvsd's station MAC; ARP frames from another station carrying it (shown ones included:
     *  with --workers the shadow sees every worker's) and the sender address of the last. */
    readonly mac: Uint8Array;
    readonly ownMacFrames: number;
    readonly ownMacSender: number;
  };
  readonly ct: { readonly count: number; readonly max: number };
  readonly secureTcp: boolean;
  readonly defense: { readonly secureTcpAbove: number };
}

export interface FaultTiming {
  /** The refused-connection counter is compared this often (ms). */
  sampleMs: number;
  /** While the table stays full, one more warning at most this often (ms). */
  repeatMs: number;
  /** The fault ends once no connection was refused for this long (ms): a few quiet seconds, not
   *  one quiet sample, so retrying clients do not make it flap. */
  quietMs: number;
}

export const FAULT_TIMING: FaultTiming = { sampleMs: 1000, repeatMs: 10_000, quietMs: 3000 };

/** Seconds with at most one decimal, for messages. */
function secs(ms: number): number {
  return Math.round(ms / 100) / 10;
}

/** A counter's value at the last check, what it grew by since it was last told, and when that was. */
class Tally {
  unsaid = 0;
  toldAt = -Infinity;
  constructor(public last: number) {}
}

export class FaultWatch {
  private readonly timing: FaultTiming;
  /** conn_table_full at the last sample (the watch's start the first), and when it was taken. */
  private refused: number;
  private sampledAt: number;
  /** The table-full fault: since when, refused in all, the last refusal, the last warning and
   *  what was refused since that warning. */
  private full = false;
  private fullSince = 0;
  private fullTotal = 0;
  private lastRefusedAt = 0;
  private warnedAt = 0;
  private sinceWarned = 0;
  private secureOn = false;
  /** neigh_refused, ARP frames with uvsd's own MAC, neigh_unresolved: each told at most once per repeatMs. */
  private readonly neighRefused: Tally;
  private readonly ownMac: Tally;
  private readonly unresolved: Tally;
  /** no_dest, and each service's count (svcNoDest) at the last no-destination warning. */
  private readonly noDest: Tally;
  private noDestSeen: Float64Array;

  /**
   * Counts from `now` on: what was counted before is not news, what is counted before the first
   * check is (uvsd forwards before its first tick). The times are performance.now()'s, never
   * the wall clock's: a step of it back would silence the warnings for as long.
   */
  constructor(private readonly src: FaultSource, private readonly log: WatchLog, now = performance.now(), timing: Partial<FaultTiming> = {},
    private readonly fullest?: () => { worker: number; count: number; max: number } | undefined) {
    this.timing = { ...FAULT_TIMING, ...timing };
    this.refused = src.counters.d[D.conn_table_full];
    this.sampledAt = now;
    this.neighRefused = new Tally(src.counters.c[C.neigh_refused]);
    this.ownMac = new Tally(src.link.ownMacFrames);
    this.unresolved = new Tally(src.counters.d[D.neigh_unresolved]);
    this.noDest = new Tally(src.counters.d[D.no_dest]);
    this.noDestSeen = Float64Array.from(src.counters.svcNoDest ?? []);
  }

  /** One look: secure TCP every call, the refused connections every sampleMs. */
  check(now = performance.now()): void {
    this.checkSecure();
    this.checkNeigh(now);
    this.checkOwnMac(now);
    this.checkUnresolved(now);
    this.checkNoDest(now);
    if (this.due(now, this.sampledAt, this.timing.sampleMs)) this.checkFull(now);
  }

  /**
   * Has `ms` passed since `since`? Within a tenth of a sample: the ticks that call check() come a
   * few ms early or late (performance.now() against the loop's timer clock), and a sample due at 1000 ms
   * but looked at 999 ms after the last one would wait a whole tick more, so the quiet time read
   * 3.3 s instead of 3 s.
   */
  private due(now: number, since: number, ms: number): boolean {
    return now - since >= ms - this.timing.sampleMs / 10;
  }

  /**
   * A counter read now (`v`, only growing; a smaller one is a fresh count): what it grew by since
   * it was last told, and " since the last warning" after the first, when a warning is due (at
   * most once per repeatMs, and only for new counts); else undefined.
   */
  private tell(t: Tally, v: number, now: number): { n: number; since: string } | undefined {
    t.unsaid += v >= t.last ? v - t.last : v;
    t.last = v;
    if (t.unsaid === 0 || !this.due(now, t.toldAt, this.timing.repeatMs)) return undefined;
    const told = { n: t.unsaid, since: t.toldAt === -Infinity ? '' : ' since the last warning' };
    t.unsaid = 0;
    t.toldAt = now;
    return told;
  }

  /** Secure TCP switches only in the datapath's tick (and on a change of the defenses): a check
   *  every tick sees each switch. */
  private checkSecure(): void {
    const on = this.src.secureTcp;
    if (on === this.secureOn) return;
    this.secureOn = on;
    const { count, max } = this.src.ct;
    // uvsd --workers: each worker switches on its own share of the table; name the fullest one.
    const w = this.fullest?.();
    const fields = { conns: count, connMax: max, secureTcpAbove: this.src.defense.secureTcpAbove, ...(w === undefined ? {} : { fullestWorker: w }) };
    const inWorker = w === undefined ? '' : `; worker ${w.worker} at ${w.count} of ${w.max}`;
    if (on) this.log.warn(fields, `secure_tcp on: connection table at ${count} of ${max} entries (above ${this.src.defense.secureTcpAbove}${inWorker}): half-open TCP connections time out in seconds`);
    else this.log.info(fields, `secure_tcp off: connection table at ${count} of ${max} entries`);
  }

  /**
   * Addresses refused a neighbour entry (the table full of entries that may not go): a warning
   * at most once per repeatMs with the count since the last one (UvsNeighTableFull).
   */
  private checkNeigh(now: number): void {
    const told = this.tell(this.neighRefused, this.src.counters.c[C.neigh_refused], now);
    if (told === undefined) return;
    const { n, since } = told;
    const { size, lastRefused } = this.src.link.neigh;
    const last = lastRefused === 0 ? '' : `, the last ${formatIp(lastRefused)}`;
    this.log.warn(lastRefused === 0 ? { refused: n, neighMax: size } : { refused: n, neighMax: size, addr: formatIp(lastRefused) },
      `neighbour table full: ${n} address${n === 1 ? '' : 'es'} refused an entry${since}${last} (neigh-max ${size}); their frames are dropped (neigh_table_full)`);
  }

  /**
   * Another station sends with uvsd's own MAC (the same --mac given to two uvsd on one LAN, or a
   * loop on the bridge): the switch moves the MAC to whichever spoke last, and uvsd's clients'
   * frames go there until uvsd sends again. A warning at most once per repeatMs.
   */
  private checkOwnMac(now: number): void {
    const told = this.tell(this.ownMac, this.src.link.ownMacFrames, now);
    if (told === undefined) return;
    const { n, since } = told;
    const mac = formatMac(this.src.link.mac);
    const sender = formatIp(this.src.link.ownMacSender);
    this.log.warn({ frames: n, mac, sender },
      `another station uses uvsd's MAC ${mac}: ${n} ARP frame${n === 1 ? '' : 's'} with it${since}, the last from ${sender}: two uvsd (or hosts) given one --mac, or a loop on the bridge; the switch sends this MAC's traffic to whichever sent last (dropped, arp_bad_sender)`);
  }

  /**
   * Frames dropped because their next hop never answered ARP (neigh_unresolved): a warning at
   * most once per repeatMs with the count since the last one, naming the last such address and
   * what it is. Without it a wrong --gateway or a real server gone from the link showed only as
   * clients' timeouts and one counter among a hundred in uvsadm --status.
   */
  private checkUnresolved(now: number): void {
    const told = this.tell(this.unresolved, this.src.counters.d[D.neigh_unresolved], now);
    if (told === undefined) return;
    const { n, since } = told;
    const frames = `${n} frame${n === 1 ? '' : 's'} dropped${since}`;
    const { lastUnresolved: ip, lastUnresolvedPinned: pinned } = this.src.link.neigh;
    if (ip === 0) {
      this.log.warn({ dropped: n }, `no ARP answer: ${frames} waiting for a next hop's MAC (neigh_unresolved); uvsadm --neigh shows the FAILED entries`);
      return;
    }
    const addr = formatIp(ip);
    const kind = ip === (this.src.link.gateway | 0) ? 'gateway' : pinned !== 0 ? 'server' : 'host';
    const who = kind === 'gateway' ? `the gateway ${addr} (--gateway)` : kind === 'server' ? `real server ${addr}` : `on-link host ${addr}`;
    const hint = kind === 'host' ? '' : `: is it up on uvsd's link with that address, answering ARP from uvsd's --addr? (uvsadm --neigh)`;
    this.log.warn({ dropped: n, addr, neighbour: kind }, `no ARP answer from ${who}: ${frames} waiting for its MAC (neigh_unresolved)${hint}`);
  }

  /**
   * New connections dropped because their service had no real server available (no_dest: every
   * one down, at weight 0 or over its -x threshold): a warning at most once per repeatMs with the
   * count since the last one, naming the services with the most (the kernel logs, rate-limited,
   * "IPVS: wlc: TCP 192.168.8.200:80 - no destination available"). Before, only counters said so.
   */
  private checkNoDest(now: number): void {
    const told = this.tell(this.noDest, this.src.counters.d[D.no_dest], now);
    if (told === undefined) return;
    const { n, since } = told;
    const { named, more } = this.noDestServices();
    const list = named.map((x) => `${x.service} (${x.refused})`).join(', ') + (more > 0 ? ` and ${more} more service${more === 1 ? '' : 's'}` : '');
    this.log.warn(named.length === 0 ? { refused: n } : { refused: n, services: named },
      `no destination available: ${n} new connection${n === 1 ? '' : 's'} refused${since}${list === '' ? '' : ` to ${list}`}: ` +
      'the service has no real server available (none, or each down, at weight 0 or over its -x threshold); answered with ICMP port unreachable (no_dest)');
  }

  /** The services whose no_dest count grew since the last warning, most first (NO_DEST_NAMED of them), and how many more. */
  private noDestServices(): { named: { service: string; refused: number }[]; more: number } {
    const cur = this.src.counters.svcNoDest;
    const services = this.src.services;
    if (cur === undefined || services === undefined) return { named: [], more: 0 };
    if (cur.length !== this.noDestSeen.length) {
      const seen = new Float64Array(cur.length);
      seen.set(this.noDestSeen.subarray(0, Math.min(cur.length, this.noDestSeen.length)));
      this.noDestSeen = seen;
    }
    const seen = this.noDestSeen;
    const grew: { id: number; n: number }[] = [];
    for (let id = 0; id < cur.length; id++) {
      const v = cur[id];
      if (v === seen[id]) continue;
      // A smaller count is a fresh one (the id's service deleted, another added in it).
      const n = v > seen[id] ? v - seen[id] : v;
      seen[id] = v;
      if (n > 0 && services[id] !== undefined) grew.push({ id, n });
    }
    grew.sort((a, b) => b.n - a.n || a.id - b.id);
    const named = grew.slice(0, NO_DEST_NAMED).map(({ id, n }) => ({ service: serviceName(services[id]!), refused: n }));
    return { named, more: grew.length - named.length };
  }

  private checkFull(now: number): void {
    const v = this.src.counters.d[D.conn_table_full];
    // The counters only grow; a smaller value would be a fresh count.
    const n = v >= this.refused ? v - this.refused : v;
    const from = this.sampledAt;
    this.refused = v;
    this.sampledAt = now;
    const connMax = this.src.ct.max;
    if (n > 0) {
      this.lastRefusedAt = now;
      if (!this.full) {
        this.full = true;
        this.fullSince = from;
        this.fullTotal = n;
        this.warnFull(n, now - from, now);
        return;
      }
      this.fullTotal += n;
      this.sinceWarned += n;
      if (this.due(now, this.warnedAt, this.timing.repeatMs)) this.warnFull(this.sinceWarned, now - this.warnedAt, now);
    } else if (this.full && this.due(now, this.lastRefusedAt, this.timing.quietMs)) {
      this.full = false;
      const s = secs(this.lastRefusedAt - this.fullSince);
      const conns = this.src.ct.count;
      const what = `${this.fullTotal} new ${this.fullTotal === 1 ? 'connection' : 'connections'} refused over ${s}s, none in the last ${secs(now - this.lastRefusedAt)}s`;
      // No refusal for a while, but the table may still be full (nobody asked for room since):
      // then the line must not say there is room. uvsd --workers: each worker refuses when its own
      // share is full, so a full worker is a full table to the clients its queue gets.
      const w = conns < connMax ? this.fullest?.() : undefined;
      const worker = w !== undefined && w.count >= w.max ? w : undefined;
      const fields = { refused: this.fullTotal, seconds: s, conns, connMax, ...(worker === undefined ? {} : { fullestWorker: worker }) };
      if (conns < connMax && worker === undefined) this.log.info(fields, `connection table has room again: ${what}`);
      else this.log.info(fields, `connection table refusals stopped: ${what}; still full (${conns} of ${connMax}${worker === undefined ? '' : `; worker ${worker.worker} at ${worker.count} of ${worker.max}`})`);
    }
  }

  private warnFull(n: number, ms: number, now: number): void {
    const connMax = this.src.ct.max;
    const conns = this.src.ct.count;
    // uvsd --workers: a worker refuses when its own share is full, the table as a whole may not
    // be: name the worker (a persistent VIP's clients all reach one worker).
    const w = conns < connMax ? this.fullest?.() : undefined;
    const worker = w !== undefined && w.count >= w.max ? w : undefined;
    this.log.warn({ refused: n, seconds: secs(ms), conns, connMax, ...(worker === undefined ? {} : { fullestWorker: worker }) },
      `connection table full: ${n} new ${n === 1 ? 'connection' : 'connections'} refused in the last ${secs(ms)}s (conn-max ${connMax}` +
      `${worker === undefined ? '' : `; worker ${worker.worker}'s share full, ${worker.count} of ${worker.max}, the table at ${conns}`})`);
    this.warnedAt = now;
    this.sinceWarned = 0;
  }
}

/** "TCP 192.168.8.200:80", "FWM 1": as ipvsadm -L and the kernel's messages name a service. */
function serviceName(svc: NamedService): string {
  return svc.proto === PROTO_FWM ? `FWM ${svc.vip >>> 0}` : `${l4Name(svc.proto).toUpperCase()} ${formatIp(svc.vip)}:${svc.port}`;
}
