// uvsd's ARP watch (uvsd --arp-watch). After start, a station answering ARP for a VIP uvsd holds
// is invisible to uvsd: the answer to the router's request is unicast to the router. A DR/TUN
// real server that holds the VIP on lo without arp_ignore/arp_announce (rebooted without its
// sysctls, or added so) takes the VIP's traffic that way (docs/dr-setup.md, "the ARP problem").
// So every address uvsd claims is probed (RFC 5227: sender 0.0.0.0, which no ARP cache learns
// from) once per lap, spread over it and at most ARP_WATCH_RATE a second in all, and a VIP soon
// after a DR or TUN server joins one of its services. An answer is a conflict, counted and
// defended by the datapath (Link.checkConflict); here each station answering for an address is
// logged once, and once more when a later probe goes unanswered.

import { TICK_MS } from '../datapath/conntable.js';
import { formatIp, formatMac } from '../datapath/addr.js';
import { MAX_CLAIMANTS, type Claimant } from '../datapath/link.js';
import type { Datapath } from '../datapath/pipeline.js';
import type { WatchLog } from './faults.js';
import { ARP_WATCH_RATE } from '../defaults.js';

/** Seconds per lap (uvsd --arp-watch) and its most; probes a second at most (src/defaults.ts). */
export { DEFAULT_ARP_WATCH_S, ARP_WATCH_MAX_S, ARP_WATCH_RATE } from '../defaults.js';
const GAP_MS = 1000 / ARP_WATCH_RATE;
/** A station that has not answered a probe within this long no longer answers for the address. */
export const ANSWER_MS = 1000;
/**
 * An address another station answers for is probed again this often (not once a lap), so the
 * conflict's end is seen within a few seconds and the address announced (report()): a split brain
 * healed where this director stayed master without hearing the other's lower priority (keepalived
 * writes MASTER_RX_LOWER_PRI only then), or a real server whose arp_ignore was set again. Until
 * 2026-12-07 the next lap's probe (up to --arp-watch seconds) found it: new connections of hosts
 * that kept the other station's MAC failed meanwhile (20-45 s in an HA lab).
 */
export const CONFLICT_PROBE_MS = 1000;
/** Conflicts from stations beyond the MAX_CLAIMANTS tracked: one warning at most this often. */
const LOST_REPEAT_MS = 10_000;

/** `uvsadm --status` arp_watch, arp_vip / arp_addr and arp_answered_by lines; /status.json arpWatch. */
export interface ArpWatchStatus {
  /** Seconds per lap; 0: off. */
  lapS: number;
  /** Addresses the watch probes now (each address uvsd claims; 0 while off). Until 2026-12-07 the current lap's, 0 during the first lap. */
  addrs: number;
  /** Probes the watch sent. */
  probes: number;
  /** Each address uvsd claims now (the watch probes them; none while it is off): a VIP?, the
   *  watch's last probe of it (wall ms; absent: none yet), its conflicts so far
   *  (uvs_arp_conflicts_total{addr}). Absent from an older uvsd. */
  addresses?: Array<{ addr: string; vip: boolean; probedAt?: number; conflicts: number }>;
  /** Stations answering for an address uvsd holds or probes now (logged once each). */
  answeredBy: Array<{ addr: string; mac: string; server?: string; answers: number }>;
}

export class ArpWatch {
  private probes = 0;
  private lap: number[] = [];
  private cursor = 0;
  /** When the lap began; the start's probe just covered every address, so the first is a lap on. */
  private lapStart: number;
  /** The lap's addresses are probed this far apart (the lap / their number, at least GAP_MS). */
  private spacing = 0;
  /** When the next probe may go (the rate cap). */
  private gateAt = -Infinity;
  /** VIPs to probe before the lap goes on: a DR/TUN server joined one of their services. */
  private readonly soon = new Set<number>();
  /** The claimants (Link.claimants) logged, with the real server their MAC belongs to (0: none known). */
  private readonly said = new Map<Claimant, number>();
  private lostSaid = 0;
  private lostWarnedAt = -Infinity;
  /** The watch's last probe of each address it probes (datapath clock); pruned to the lap's at each lap. */
  private readonly probedAt = new Map<number, number>();

  /** lapMs 0: no probes; the conflicts the datapath sees are logged all the same. `now`: the datapath's clock. */
  constructor(private readonly dp: Datapath, private readonly log: WatchLog, readonly lapMs: number, now: number) {
    this.lapStart = now;
    if (lapMs > 0) dp.onDirectServer = (vip) => this.soon.add(vip);
  }

  /** uvsd's tick: the probes due, then the log lines. `now`: the datapath's clock. */
  check(now: number): void {
    if (this.lapMs > 0) this.probe(now);
    this.report(now);
  }

  private probe(now: number): void {
    // The rate holds across ticks (2 or 3 probes per 250 ms tick); a stalled loop catches up one tick at most.
    if (this.gateAt < now - TICK_MS) this.gateAt = now - TICK_MS;
    while (this.gateAt <= now) {
      const ip = this.next(now);
      if (ip === undefined) {
        this.gateAt = now; // nothing due: no credit saved up for a burst later
        return;
      }
      this.dp.probeClaimed(ip);
      this.probedAt.set(ip, now);
      this.probes++;
      this.gateAt += GAP_MS;
    }
  }

  /** The next address due (the soon ones first, then those in conflict), or undefined. Only addresses uvsd claims now. */
  private next(now: number): number | undefined {
    for (const ip of this.soon) {
      this.soon.delete(ip);
      if (this.dp.link.claims(ip)) return ip;
    }
    for (const c of this.dp.link.claimants) {
      if (!this.probedSince(c.ip, now) && this.dp.link.claims(c.ip)) return c.ip;
    }
    for (;;) {
      if (this.cursor >= this.lap.length) {
        if (now - this.lapStart < this.lapMs) return undefined;
        this.lap = claimedAddrs(this.dp);
        const inLap = new Set(this.lap);
        for (const ip of this.probedAt.keys()) if (!inLap.has(ip)) this.probedAt.delete(ip);
        this.cursor = 0;
        this.lapStart = now;
        this.spacing = Math.max(this.lapMs / Math.max(1, this.lap.length), GAP_MS);
        if (this.lap.length === 0) return undefined;
      }
      if (now < this.lapStart + this.cursor * this.spacing) return undefined;
      const ip = this.lap[this.cursor++]!;
      // Not again within CONFLICT_PROBE_MS of its last probe (one in conflict is probed that often).
      if (this.dp.link.claims(ip) && !this.probedSince(ip, now)) return ip;
    }
  }

  /** Was ip probed less than CONFLICT_PROBE_MS before `now`? */
  private probedSince(ip: number, now: number): boolean {
    return now - (this.probedAt.get(ip) ?? -Infinity) < CONFLICT_PROBE_MS;
  }

  /**
   * One warning per station and address it answers for; an info line once a probe after its last
   * answer went unanswered for ANSWER_MS. A station answering for an address uvsd neither claims
   * nor probes any more (deleted, refused by uvsadm -A, given up to the master) is forgotten silently.
   */
  private report(now: number): void {
    const link = this.dp.link;
    const cl = link.claimants;
    let announced: number[] | undefined;
    for (let i = cl.length - 1; i >= 0; i--) {
      const c = cl[i]!;
      const over = c.probed > c.last && now - c.probed >= ANSWER_MS;
      const gone = !link.claims(c.ip) && !link.beingProbed(c.ip) && !link.unclaimed.has(c.ip);
      if (over || gone) {
        cl.splice(i, 1);
        const server = this.said.get(c);
        this.said.delete(c);
        if (over && server !== undefined) {
          this.log.info(fieldsOf(c, server), `address conflict over: ${who(c, server)} no longer answers ARP for ${formatIp(c.ip)} (${c.answers} answer${c.answers === 1 ? '' : 's'})`);
        }
        // One gratuitous ARP for the address, once per conflict that ends: a host whose entry the
        // station set (a client on the link keeps it REACHABLE with its own traffic and never asks
        // again) points at uvsd again. Not the defence's 10 s limit (RFC 5227 2.4 limits defending
        // against a station still answering; this one no longer does, as any announcement).
        if (over && link.claims(c.ip) && !(announced ??= []).includes(c.ip)) {
          announced.push(c.ip);
          this.dp.announce(c.ip);
        }
      } else if (!this.said.has(c)) {
        const server = this.serverOf(c.mac);
        this.said.set(c, server);
        this.log.warn(fieldsOf(c, server), this.conflictText(c, server));
      }
    }
    const lost = link.claimantsLost - this.lostSaid;
    if (lost > 0 && now - this.lostWarnedAt >= LOST_REPEAT_MS) {
      this.lostSaid = link.claimantsLost;
      this.lostWarnedAt = now;
      this.log.warn({ conflicts: lost }, `address conflict: ${lost} more answer${lost === 1 ? '' : 's'} from stations beyond the ${MAX_CLAIMANTS} named (uvs_arp_conflicts_total{addr} counts them)`);
    }
  }

  private conflictText(c: Claimant, server: number): string {
    const link = this.dp.link;
    const ip = formatIp(c.ip);
    if (!link.claims(c.ip)) return `address conflict: ${who(c, server)} answers ARP for ${ip}, an address uvsd probes before claiming it`;
    if (!link.isVip(c.ip)) return `address conflict: ${who(c, server)} answers ARP for ${ip}, an address uvsd holds; defended by gratuitous ARP`;
    const fix = 'set arp_ignore=1 and arp_announce=2 on it (docs/dr-setup.md)';
    // Only requests from the VIP, no answer: the server's arp_announce (0) makes it ARP from the
    // VIP, which is what the hosts it asks learn; its arp_ignore may be right.
    if (server !== 0 && c.asks === c.answers) {
      return `address conflict: ${who(c, server)} sends ARP requests from VIP ${ip}: the DR ARP problem (arp_announce), ${fix}; defended by gratuitous ARP`;
    }
    return server !== 0
      ? `address conflict: ${who(c, server)} answers ARP for VIP ${ip}: the DR ARP problem, ${fix}; defended by gratuitous ARP`
      : `address conflict: ${who(c, server)} answers ARP for VIP ${ip}, which uvsd holds (another director that is master too, a split brain? or a DR/TUN real server holding the VIP: ${fix}); defended by gratuitous ARP`;
  }

  /** The real server (an address a service's server has) whose resolved MAC is mac, or 0. */
  private serverOf(mac: Uint8Array): number {
    const nb = this.dp.link.neigh;
    for (let n = 0; n < nb.size; n++) {
      const ip = nb.ip[n]!;
      if (nb.sameMac(n, mac, 0) && nb.users(ip) > 0 && ip !== this.dp.link.gateway) return ip;
    }
    return 0;
  }

  /** `now`: the datapath's clock (the probes' times are shown as wall time). */
  status(now: number): ArpWatchStatus {
    const link = this.dp.link;
    const wall = Date.now();
    const watched = this.lapMs === 0 ? [] : claimedAddrs(this.dp).sort((a, b) => (a >>> 0) - (b >>> 0));
    return {
      lapS: this.lapMs / 1000,
      addrs: watched.length,
      probes: this.probes,
      addresses: watched.map((ip) => {
        const t = this.probedAt.get(ip);
        return { addr: formatIp(ip), vip: link.isVip(ip), ...(t === undefined ? {} : { probedAt: Math.round(wall - (now - t)) }), conflicts: link.conflictsByAddr?.get(ip) ?? 0 };
      }),
      answeredBy: [...this.said].map(([c, server]) => ({
        addr: formatIp(c.ip), mac: formatMac(c.mac), ...(server === 0 ? {} : { server: formatIp(server) }), answers: c.answers,
      })),
    };
  }
}

/** Every address uvsd answers ARP for now: director addresses, VIPs, local addresses (Link.claims). */
function claimedAddrs(dp: Datapath): number[] {
  return [...new Set([...dp.addrs.map((a) => a.ip | 0), ...dp.heldAddrs()])].filter((ip) => dp.link.claims(ip));
}

function who(c: Claimant, server: number): string {
  return server === 0 ? formatMac(c.mac) : `real server ${formatIp(server)} (${formatMac(c.mac)})`;
}

function fieldsOf(c: Claimant, server: number): object {
  return { addr: formatIp(c.ip), mac: formatMac(c.mac), ...(server === 0 ? {} : { server: formatIp(server) }), answers: c.answers };
}
