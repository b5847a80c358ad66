// The link layer as uvsd's own station on the wire: ARP answers for the addresses it owns
// (director addresses and VIPs), ICMP echo answers, gratuitous ARP, and L2 output: next hop
// (on-link host or --gateway), neighbour resolution with a bounded waiting queue, MAC rewrite.
// Probes to real servers use a director address as the ARP sender, never a VIP: DR servers hold
// the VIP themselves and ignore requests claiming it (DESIGN.md).

import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_ARP, ETHERTYPE_IPV4, IP_DST, IP_SRC, IP_TTL, copyMac, csumReplace16,
  ipv4SetChecksum, macEquals, rd16, rd32, wr16, wr32,
} from './frame.js';
import { martianSource, networkOf, type LinkAddr } from './addr.js';
import { C, D, type Counters } from './counters.js';
import { N_FREE, NeighTable, PROBE_INTERVAL_MS, PROBE_MS } from './neigh.js';
import { U32PairMap } from './lookup.js';
import { Unclaimed } from './unclaimed.js';
import { TxBatch, type Tx } from './tx.js';
import { vnetClear } from './vnet.js';
import { DEFAULT_HA_GROUP } from '../defaults.js';

/** Stations' MACs held at first for probed addresses they answered for (Link.conflictMac: it grows). */
const CONFLICT_SLOTS = 256;
/** A claimed address is defended (gratuitous ARP) at most this often against a conflicting host. */
const DEFEND_INTERVAL_MS = 10_000;
/** Addresses whose last defence is remembered (Link.defendedAt). */
const DEFENDED_MAX = 4096;
/** Stations tracked as answering for uvsd's addresses (Link.claimants). */
export const MAX_CLAIMANTS = 16;
/**
 * A gratuitous ARP from another station for an address that moves with the HA role (a VIP, a
 * FULLNAT local address, a floating --addr), seen while master, is held this long before it
 * counts as a conflict and is defended: in a planned switch the new master's announcement may
 * reach this director before its own `--role backup` does (keepalived runs the two directors'
 * notify scripts at once). Going backup within it makes it a takeover (arp_takeovers_seen), not
 * a conflict; still master after it, a conflict (a split brain still shows). docs/ha.md.
 */
export const TAKEOVER_GRACE_MS = 3000;
/** Addresses held so at once; a gratuitous ARP for one more is counted and defended at once. */
const TAKEOVER_MAX = 16;

/** A station that answered for (or claimed) an address uvsd holds or probes (Link.claimants). */
export interface Claimant {
  readonly ip: number;
  readonly mac: Uint8Array;
  /** Its answers (conflicts) so far. */
  answers: number;
  /** Of them, ARP requests it sent from the address to another (it uses the address as its ARP
   *  sender: a DR server's arp_announce=0), not answers nor announcements. */
  asks: number;
  /** When it last answered, and when the first probe of the address after that was sent (-Infinity: none yet); datapath clock, ms. */
  last: number;
  probed: number;
}

/** The HA group of the addresses no --ha-group lists (uvsadm --role --ha-group default) (src/defaults.ts). */
export { DEFAULT_HA_GROUP };

/** A directly connected network, formatAddr and networkOf: src/datapath/addr.ts (uvsd's command line reads them without the datapath). */
export { formatAddr, networkOf, type LinkAddr } from './addr.js';

/** Count one more user of ip in m; true when it is the first. */
function countUp(m: U32PairMap, ip: number): boolean {
  const n = m.get(ip, 0);
  m.set(ip, 0, n < 0 ? 1 : n + 1);
  return n < 0;
}

/** One user of ip fewer in m; gone with the last. */
function countDown(m: U32PairMap, ip: number): void {
  const n = m.get(ip, 0);
  if (n > 1) m.set(ip, 0, n - 1);
  else if (n === 1) m.delete(ip, 0);
}

export class Link {
  readonly neigh: NeighTable;
  readonly mac: Uint8Array;
  readonly addrs: LinkAddr[];
  /** Next hop for off-link destinations; 0 = none. */
  readonly gateway: number;
  /** The batch's coarse clock (ms), set by the datapath. */
  now = 0;
  /** Bytes of vnet header in front of every frame (0: none); answers in place get a zero one. */
  vnetHdr = 0;
  /** Let any ARP from a tracked neighbour's address change its MAC (uvsd --arp-accept-unsolicited). */
  acceptUnsolicited = false;
  /** Master of every HA group (docs/ha.md): answers for every VIP, LIP and floating address. A
   *  backup answers only for its fixed --addrs and announces nothing else; with HA groups
   *  (uvsd --ha-group) the role is per group and this is true only while every group is master. */
  active = true;
  /** Master of at least one HA group (equal to `active` without groups). */
  anyMaster = true;
  /** How often anyMaster has changed (both ways): the same count in the shadow and every worker,
   *  which apply the same role ops in the same order (Datapath.syncTurn). */
  anyMasterTurns = 0;
  /** HA groups' names: index 0 is "default" (every address of no named group), then uvsd's --ha-group names. */
  groupNames: string[] = [DEFAULT_HA_GROUP];
  /** The role of each group (true: master), by groupNames' index. */
  private readonly groupMaster: boolean[] = [true];
  /** An address of a named group → the group's index (others are the default group's). */
  private groupMap = new U32PairMap();
  /** Addresses uvsd answers for (director addresses and VIPs) → reference count; key b is 0. */
  private readonly localMap = new U32PairMap();
  /** The VIPs among them (services' and marks' addresses), counted the same way. */
  private readonly vipMap = new U32PairMap();
  private readonly tx: Tx;
  private readonly counters: Counters;
  private readonly qtx: TxBatch;
  /** Addresses being probed before uvsd claims them → 0 while unanswered, slot+1 once another
   *  station answered for it (its MAC in conflictMac[slot*6]). */
  private readonly probing = new U32PairMap();
  private conflictMac = new Uint8Array(CONFLICT_SLOTS * 6);
  private conflicts = 0;
  /** When each address was last defended (RFC 5227 2.4: once per DEFEND_INTERVAL_MS, per address:
   *  a station answering for several VIPs gets each defended). Conflicts only, for addresses uvsd
   *  claims: a few entries; forgotten all at once past DEFENDED_MAX. */
  private readonly defendedAt = new Map<number, number>();
  /** In arpShared: learn only (the worker that received the frame answers, counts and defends). */
  private quiet = false;
  /**
   * With --workers: addresses this datapath answers ARP requests for even when another worker
   * received them (arpShared), because only it may hold what keeps them: a FULLNAT LIP no service
   * has any longer whose ports this worker's connections still hold (Datapath.dropLaddr). The
   * receiving worker answers too when it holds some (the same reply twice).
   */
  sharedAnswer: ((ip: number) => boolean) | null = null;
  /** ARP frames from another station carrying uvsd's own MAC (a second uvsd or host given the same
   *  --mac, or a loop on the bridge returning uvsd's broadcasts), shown ones (arpShared) included,
   *  and the sender address of the last (0: a probe's 0.0.0.0). Read by control/faults.ts. */
  ownMacFrames = 0;
  ownMacSender = 0;
  /** Addresses held in their TAKEOVER_GRACE_MS (slots [0, graceN)): the address, when its first
   *  gratuitous ARP came, the frames from that station held since, its MAC, and whether they were
   *  only shown (arpShared: noted, not counted). Fixed size: no allocation per frame. */
  private readonly graceIp = new Int32Array(TAKEOVER_MAX);
  private readonly graceSince = new Float64Array(TAKEOVER_MAX);
  private readonly graceFrames = new Uint32Array(TAKEOVER_MAX);
  private readonly graceMac = Buffer.alloc(TAKEOVER_MAX * 6);
  private readonly graceQuiet = new Uint8Array(TAKEOVER_MAX);
  private graceN = 0;

  /** neighMax: the neighbour table's size (uvsd --neigh-max). */
  constructor(mac: Uint8Array, addrs: LinkAddr[], gateway: number, tx: Tx, counters: Counters, neighMax?: number) {
    this.neigh = new NeighTable(neighMax, counters);
    if (gateway !== 0) this.neigh.pin(gateway);
    this.mac = mac;
    this.addrs = addrs;
    this.gateway = gateway;
    this.tx = tx;
    this.counters = counters;
    this.qtx = new TxBatch(this.neigh.qbuf, this.neigh.qowner.length);
    for (const a of addrs) this.addLocal(a.ip);
  }

  /** Answer for ip too (a VIP, counted once per service using it); true when it is new. `vip`:
   *  a service's or a mark's address (with routedVips, reached by route, not by ARP). */
  addLocal(ip: number, vip = false): boolean {
    if (vip) countUp(this.vipMap, ip);
    return countUp(this.localMap, ip);
  }

  /** The local addresses' count with `vips` VIPs (those not VIPs now, plus vips). */
  private localsWith(vips: number): number {
    return this.localMap.count + Math.max(0, vips - this.vipMap.count);
  }

  /** One piece of room for `vips` VIPs in the address tables (U32PairMap.reserve); whether it did something. */
  reserve(vips: number): boolean {
    return this.vipMap.reserve(vips) || this.localMap.reserve(this.localsWith(vips));
  }

  /** Whether `vips` VIPs fit in the address tables without their growing. */
  fits(vips: number): boolean {
    return this.vipMap.fits(vips) && this.localMap.fits(this.localsWith(vips));
  }

  /** One user of ip fewer; the address is no longer answered for when none is left. */
  delLocal(ip: number, vip = false): void {
    if (vip) countDown(this.vipMap, ip);
    countDown(this.localMap, ip);
    if (!this.isLocal(ip)) this.unclaimed.delete(ip | 0); // added again: probed by the verb (callClaiming)
  }

  /**
   * uvsd --bgp-include: VIPs are reached through the routes BIRD announces (next hop: uvsd's
   * --addr), and several directors hold each of them. uvsd then neither answers ARP for a VIP nor
   * announces or defends it (another director's ARP for it is no conflict), so a withdrawn route
   * takes the traffic away even from a router on the VIP's own subnet.
   */
  routedVips = false;

  /**
   * VIPs of the start's table that another station answered the start's probe for → that
   * station's MAC (DpOp unclaimedSet: all of them in one record; DpOp unclaimed: one): in the
   * table, but uvsd neither answers ARP for them nor announces or defends them until a later
   * probe finds them free (uvsd re-probes them).
   */
  readonly unclaimed = new Unclaimed();

  /** An address uvsd holds but does not ARP for: only a VIP while VIPs are routed, or an unclaimed VIP. */
  private routed(ip: number): boolean {
    return (this.routedVips && this.vipMap.get(ip, 0) >= 0) || (this.unclaimed.size > 0 && this.unclaimed.has(ip | 0));
  }

  /** Does uvsd answer ARP for ip now (and announce and defend it): its own, held in its role, not routed nor unclaimed? */
  claims(ip: number): boolean {
    return this.isLocal(ip) && this.held(ip) && !this.routed(ip);
  }

  /** A VIP (a service's or a mark's address), not a director or local address. */
  isVip(ip: number): boolean {
    return this.vipMap.get(ip, 0) >= 0;
  }

  isLocal(ip: number): boolean {
    return this.localMap.get(ip, 0) >= 0;
  }

  /** A fixed (not floating) director address: answered for in either role. */
  isFixed(ip: number): boolean {
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) if ((a[i].ip | 0) === (ip | 0) && a[i].floating !== true) return true;
    return false;
  }

  /** Does uvsd speak for ip in its current role (master of ip's HA group: any local address; else fixed ones only)? */
  held(ip: number): boolean {
    return this.active || this.isFixed(ip) || (this.anyMaster && this.groupMaster[this.groupOf(ip)] === true);
  }

  /** The HA group (groupNames' index) an address moves with: 0 unless a named group lists it. */
  groupOf(ip: number): number {
    const g = this.groupMap.get(ip, 0);
    return g < 0 ? 0 : g;
  }

  /**
   * May a frame to dst go on while not master of every group? A backup of every group takes
   * frames to its fixed addresses only; a director master of some group also takes the frames
   * to that group's addresses, and any frame to an address not its own (a NAT server's reply to
   * a client: the connection's VIP decides, once it is found).
   */
  passes(dst: number): boolean {
    if (!this.anyMaster) return this.isFixed(dst);
    return !this.isLocal(dst) || this.held(dst);
  }

  /**
   * The HA groups (uvsd --ha-group, at start and on reload): names and their addresses. A group
   * that was there keeps its role; a new one takes the default group's (so do the addresses of a
   * group that is gone).
   */
  setGroups(groups: ReadonlyArray<{ name: string; addrs: readonly number[] }>): void {
    const was = new Map(this.groupNames.map((n, i) => [n, this.groupMaster[i] === true]));
    const dflt = this.groupMaster[0] === true;
    this.groupNames = [DEFAULT_HA_GROUP, ...groups.map((g) => g.name)];
    this.groupMaster.length = 0;
    for (const n of this.groupNames) this.groupMaster.push(was.get(n) ?? dflt);
    this.groupMap = new U32PairMap();
    groups.forEach((g, i) => {
      for (const ip of g.addrs) this.groupMap.set(ip, 0, i + 1);
    });
    this.summarise();
    if (this.graceN > 0) this.settleGrace();
  }

  /** Set the role of one HA group (its index) or, with -1, of all; true when a group's role changed. */
  setRole(master: boolean, group: number): boolean {
    let changed = false;
    for (let i = 0; i < this.groupMaster.length; i++) {
      if ((group < 0 || group === i) && this.groupMaster[i] !== master) {
        this.groupMaster[i] = master;
        changed = true;
      }
    }
    this.summarise();
    if (this.graceN > 0) this.settleGrace();
    return changed;
  }

  /** active and anyMaster from the groups' roles (kept as fields: the packet path reads them). */
  private summarise(): void {
    this.active = this.groupMaster.every((m) => m);
    const any = this.groupMaster.some((m) => m);
    if (any !== this.anyMaster) this.anyMasterTurns++;
    this.anyMaster = any;
  }

  /** Each HA group's role (true: master), by groupNames' index. */
  roles(): readonly boolean[] {
    return this.groupMaster;
  }

  // ---- answers for owned addresses ---------------------------------------------------------

  /**
   * An ARP frame another worker received (uvsd --workers): neighbours this datapath asked for and
   * answers to its probes are learnt from it; nothing is answered, counted or defended here.
   */
  arpShared(buf: Buffer, off: number, len: number): void {
    this.quiet = true;
    try {
      this.arp(buf, off, len);
    } finally {
      this.quiet = false;
    }
  }

  arp(buf: Buffer, off: number, len: number): void {
    const a = off + ETH_HLEN;
    const op = len < ETH_HLEN + 28 ? 0 : rd16(buf, a + 6);
    // Requests and replies only, as the kernel's arp_process ("understand only these message types").
    if ((op !== 1 && op !== 2) || rd16(buf, a) !== 1 || rd16(buf, a + 2) !== ETHERTYPE_IPV4 || buf[a + 4] !== 6 || buf[a + 5] !== 4) {
      this.counters.d[D.arp_malformed]++;
      return;
    }
    const spa = rd32(buf, a + 14);
    const tpa = rd32(buf, a + 24);
    // uvsd's own MAC from the wire: it never reads back what it sends, so another station has it
    // (the same --mac twice) or the bridge loops. Nothing is answered, learnt or taken for a
    // conflict; the bridge now sends uvsd's traffic to whichever of the two spoke last
    // (faults.ts warns).
    if (macEquals(buf, a + 8, this.mac, 0) || macEquals(buf, off + 6, this.mac, 0)) {
      this.ownMacFrames++;
      this.ownMacSender = spa;
      if (!this.quiet) this.counters.d[D.arp_bad_sender]++;
      return;
    }
    // A sender no station may have (the kernel's arp_process drops it as a martian: multicast,
    // broadcast, 0/8, loopback; 0.0.0.0 only in an RFC 5227 probe, a request): not answered,
    // nothing learnt from it.
    if (spa === 0 ? op !== 1 : !this.unicastPeer(spa)) {
      if (!this.quiet) this.counters.d[D.arp_bad_sender]++;
      return;
    }
    if (spa !== 0) this.checkConflict(buf, a + 8, spa, spa === tpa);
    // An address uvsd speaks for as the sender: a conflict (defended above), not a request to
    // answer or a neighbour to learn.
    if (spa !== 0 && this.claims(spa)) {
      if (!this.quiet) this.counters.d[D.arp_bad_sender]++;
      return;
    }
    // Refresh a neighbour we already track (never create entries for arbitrary senders), but
    // change its MAC only in answer to a probe of ours (no cache poisoning, see solicited). Another
    // MAC for it (a VRRP move of a real server's address, a gateway's failover — or a poisoner)
    // is asked about at once: the owner's answer moves the entry within a round trip, not at the
    // next re-probe a minute later.
    let n = this.neigh.find(spa);
    if (n >= 0 && !this.acceptUnsolicited && !this.neigh.sameMac(n, buf, a + 8) && !this.solicited(n, op, tpa)) {
      if (!this.quiet) this.counters.c[C.arp_refused]++;
      // Within PROBE_INTERVAL_MS of our last request (a second move soon after the first, or
      // one just after a re-probe): asked at the next tick that may, not a minute later.
      if (!this.probe(n) && !this.recheck.includes(n)) this.recheck.push(n);
      n = -1;
    }
    if (n >= 0) {
      this.neigh.learn(n, buf, a + 8, this.now);
      this.flushNeighQueue(n);
    }
    if (this.quiet) {
      // Another worker's frame: the reply is built in a generated slot of this datapath's own.
      if (op === 1 && spa !== tpa && this.sharedAnswer !== null && this.sharedAnswer(tpa)) {
        const o = this.tx.genSlot();
        if (o < 0) return;
        const g = this.tx.genBuf;
        buf.copy(g, o, off, a + 28);
        g.fill(0, o + (a + 28 - off), o + 60); // pad to the Ethernet minimum
        this.reply(g, o, o + (a - off), spa, tpa, true);
      }
      return;
    }
    if (op === 1 && spa !== tpa && this.claims(tpa)) {
      this.reply(buf, off, a, spa, tpa);
    } else {
      this.counters.c[n >= 0 ? C.arp_neigh_updates : C.ignored_arp]++;
    }
  }

  /** Answer the ARP request at `a` (its sender spa, for tpa): the request turned into the reply in
   *  place, in the receive buffer or (gen) a generated slot. */
  private reply(buf: Buffer, off: number, a: number, spa: number, tpa: number, gen = false): void {
    wr16(buf, a + 6, 2);
    copyMac(buf, a + 18, buf, a + 8); // tha = sha
    wr32(buf, a + 24, spa); // tpa = spa
    copyMac(buf, a + 8, this.mac, 0); // sha = us
    wr32(buf, a + 14, tpa); // spa = the asked address
    copyMac(buf, off, buf, a + 18); // eth dst = requester
    copyMac(buf, off + 6, this.mac, 0);
    if (gen) this.tx.emitGen(off, 60);
    else {
      if (this.vnetHdr > 0) vnetClear(buf, off);
      this.tx.emit(off, ETH_HLEN + 28);
    }
    this.counters.c[C.arp_replies_sent]++;
  }

  /**
   * May this ARP packet set neighbour n's MAC? Only while a probe of ours is outstanding: the
   * entry is unresolved (a reply, or a request from n for one of our addresses), or a probe was
   * sent after the last confirmation and is at most 3 × PROBE_MS old (a reply only: a request is
   * no answer, and a refused ARP starts such a probe, so a poisoner could follow its own
   * gratuitous ARP with a request). The first answer is taken (it confirms the entry; a later one
   * with another MAC is refused and asked about again). Gratuitous ARP (sender = target) never
   * qualifies. The kernel trusts more: arp_process applies a gratuitous ARP at once and any ARP
   * from a known neighbour once its locktime (1 s) has passed since the last update, and a request
   * for one of its addresses updates the sender's entry (neigh_event_ns); docs/resilience.md.
   */
  private solicited(n: number, op: number, tpa: number): boolean {
    const nb = this.neigh;
    if (tpa === nb.ip[n] || (op === 1 ? !this.isLocal(tpa) : op !== 2)) return false;
    if (!nb.usable(n)) return true;
    return op === 2 && nb.probed[n] > nb.confirmed[n] && this.now - nb.probed[n] <= 3 * PROBE_MS;
  }

  /** ICMP to one of our addresses: echo requests are answered in place, the rest dropped. */
  icmp(buf: Buffer, off: number, flen: number, ip: number, l4: number, l4len: number): void {
    // Any code: the kernel's icmp_echo answers them all and keeps the code in the reply.
    if (l4len < 8 || buf[l4] !== 8) {
      this.counters.d[l4len < 8 ? D.l4_truncated : D.icmp_unhandled]++;
      return;
    }
    const src = rd32(buf, ip + IP_SRC);
    wr32(buf, ip + IP_SRC, rd32(buf, ip + IP_DST));
    wr32(buf, ip + IP_DST, src);
    buf[ip + IP_TTL] = 64;
    ipv4SetChecksum(buf, ip, l4 - ip);
    buf[l4] = 0;
    wr16(buf, l4 + 2, csumReplace16(rd16(buf, l4 + 2), 0x0800, 0x0000));
    this.replyToSender(buf, off, flen);
    this.counters.c[C.icmp_echo_replies]++;
  }

  /** Send a frame of the receive buffer, answered in place, back to the MAC it came from (no route lookup). */
  replyToSender(buf: Buffer, off: number, flen: number): void {
    copyMac(buf, off, buf, off + 6);
    copyMac(buf, off + 6, this.mac, 0);
    if (this.vnetHdr > 0) vnetClear(buf, off);
    this.tx.emit(off, flen);
  }

  /**
   * Another station speaks for `spa` (its MAC at buf[sha]). While the address is probed this is
   * the answer the probe waits for; for an address uvsd already answers for it is a conflict:
   * counted, and defended with a gratuitous ARP at most once per DEFEND_INTERVAL_MS per address;
   * a gratuitous one for an address that moves with the role first waits out TAKEOVER_GRACE_MS.
   */
  private checkConflict(buf: Buffer, sha: number, spa: number, gratuitous: boolean): void {
    const p = this.probing.get(spa, 0);
    if (p === 0) {
      // Room for every address probed that is answered (before 2026-12-06 the 257th and later were
      // never reported: at uvsd's start, VIPs another station held were claimed).
      if (this.conflicts * 6 === this.conflictMac.length) {
        const more = new Uint8Array(this.conflictMac.length * 2);
        more.set(this.conflictMac);
        this.conflictMac = more;
      }
      copyMac(this.conflictMac, this.conflicts * 6, buf, sha);
      this.probing.set(spa, 0, ++this.conflicts);
      this.counted(buf, sha, spa, 1);
    } else if (p > 0) {
      // An answer to a later probe of the window (it has the first station's MAC already): counted
      // and noted all the same, so the station's record (Claimant.last) is as recent as the last
      // probe it answered and the ARP watch does not take the second probe for unanswered.
      this.counted(buf, sha, spa, 1);
    } else if (p < 0 && this.claims(spa)) {
      if (this.graceHeld(buf, sha, spa, gratuitous)) return;
      // A request from the address (sha is at the ARP header + 8, its opcode at + 6): the station
      // uses it as its ARP sender, it did not answer for it.
      const asks = !gratuitous && rd16(buf, sha - 2) === 1 ? 1 : 0;
      // Shown by a worker (arpShared): it counts and defends it; the main thread's notes the address.
      if (this.quiet) {
        this.noted(buf, sha, spa, 1, asks);
        return;
      }
      this.counted(buf, sha, spa, 1, asks);
      this.defend(spa);
    }
  }

  /** A gratuitous ARP at most once per DEFEND_INTERVAL_MS per address (RFC 5227 2.4). */
  private defend(spa: number): void {
    const last = this.defendedAt.get(spa);
    if (last === undefined || this.now - last >= DEFEND_INTERVAL_MS) {
      if (this.defendedAt.size >= DEFENDED_MAX) this.defendedAt.clear();
      this.defendedAt.set(spa, this.now);
      this.announce(spa);
    }
  }

  /**
   * Hold this ARP for TAKEOVER_GRACE_MS (settleGrace decides)? A gratuitous one for an address
   * that moves with the HA role (not a fixed --addr) starts the hold; later frames from that
   * station for that address join it (its repeats, its answers to the ARP watch's probes); another
   * station's are counted at once.
   */
  private graceHeld(buf: Buffer, sha: number, spa: number, gratuitous: boolean): boolean {
    for (let i = 0; i < this.graceN; i++) {
      if (this.graceIp[i] !== (spa | 0)) continue;
      if (!macEquals(buf, sha, this.graceMac, i * 6)) return false;
      this.graceFrames[i]++;
      return true;
    }
    if (!gratuitous || this.graceN === TAKEOVER_MAX || this.isFixed(spa)) return false;
    const i = this.graceN++;
    this.graceIp[i] = spa;
    this.graceSince[i] = this.now;
    this.graceFrames[i] = 1;
    copyMac(this.graceMac, i * 6, buf, sha);
    this.graceQuiet[i] = this.quiet ? 1 : 0;
    return true;
  }

  /**
   * The held addresses (at each tick and change of role): one this director no longer holds (it
   * went backup, or backup of the address's HA group) was taken over, counted
   * arp_takeovers_seen and not defended; one it still claims when the grace is over is a
   * conflict: its held frames counted and the address defended.
   */
  private settleGrace(): void {
    for (let i = this.graceN - 1; i >= 0; i--) {
      const ip = this.graceIp[i];
      const quiet = this.graceQuiet[i] === 1;
      if (!this.held(ip)) {
        if (!quiet) this.counters.c[C.arp_takeovers_seen]++;
      } else if (!this.claims(ip)) {
        // Deleted, or routed meanwhile: nothing to say.
      } else if (this.now - this.graceSince[i] >= TAKEOVER_GRACE_MS) {
        if (quiet) this.noted(this.graceMac, i * 6, ip, this.graceFrames[i]);
        else {
          this.counted(this.graceMac, i * 6, ip, this.graceFrames[i]);
          this.defend(ip);
        }
      } else continue;
      const last = --this.graceN;
      if (i !== last) {
        this.graceIp[i] = this.graceIp[last];
        this.graceSince[i] = this.graceSince[last];
        this.graceFrames[i] = this.graceFrames[last];
        this.graceQuiet[i] = this.graceQuiet[last];
        this.graceMac.copyWithin(i * 6, last * 6, last * 6 + 6);
      }
    }
  }

  /**
   * Conflicts by address (uvs_arp_conflicts_total{addr}): only addresses uvsd holds or probes, so
   * a few series at most. null in a worker (uvsd --workers): the main thread's datapath counts
   * them from the ARP frames every worker shows it (arpShared).
   */
  conflictsByAddr: Map<number, number> | null = new Map();
  /**
   * The stations that answered for (or claimed) an address uvsd holds or probes, one record per
   * address and MAC, at most MAX_CLAIMANTS (more are counted in claimantsLost): uvsd's ARP watch
   * logs each once and drops it when a later probe goes unanswered (src/control/arpwatch.ts).
   * Kept where conflictsByAddr is (the main thread's datapath). A record is made on a conflict,
   * never per packet of traffic.
   */
  readonly claimants: Claimant[] = [];
  claimantsLost = 0;

  /** n conflicting frames from the station at buf[sha] for spa. */
  private counted(buf: Buffer, sha: number, spa: number, n: number, asks = 0): void {
    this.counters.c[C.arp_conflicts] += n;
    this.noted(buf, sha, spa, n, asks);
  }

  /** asks: of the n frames, requests from spa to another address (see Claimant.asks). */
  private noted(buf: Buffer, sha: number, spa: number, n: number, asks = 0): void {
    const m = this.conflictsByAddr;
    if (m === null) return;
    m.set(spa, (m.get(spa) ?? 0) + n);
    const cl = this.claimants;
    for (let i = 0; i < cl.length; i++) {
      const c = cl[i]!;
      if (c.ip === spa && macEquals(buf, sha, c.mac, 0)) {
        c.answers += n;
        c.asks += asks;
        c.last = this.now;
        return;
      }
    }
    if (cl.length < MAX_CLAIMANTS) cl.push({ ip: spa, mac: Uint8Array.from(buf.subarray(sha, sha + 6)), answers: n, asks, last: this.now, probed: -Infinity });
    else this.claimantsLost += n;
  }

  /**
   * RFC 5227 probe (sender address 0.0.0.0) for an address uvsd is about to claim, or with
   * `claimed` for one it holds (the ARP watch): then an answer is a conflict, counted and defended.
   */
  probeAddress(ip: number, claimed = false): void {
    if (!claimed && this.probing.get(ip, 0) < 0) this.probing.set(ip, 0, 0);
    if (!this.buildArp(0, ip, false)) return;
    this.counters.c[C.arp_probes_sent]++;
    // The first probe since a station's last answer: unanswered, it ends that station's record.
    const cl = this.claimants;
    for (let i = 0; i < cl.length; i++) if (cl[i]!.ip === ip && cl[i]!.probed <= cl[i]!.last) cl[i]!.probed = this.now;
  }

  /** Is ip being probed before uvsd claims it? */
  beingProbed(ip: number): boolean {
    return this.probing.get(ip, 0) >= 0;
  }

  /** The MAC ("aa:bb:..") of a station that answered for a probed address, or null. */
  conflictOf(ip: number): Uint8Array | null {
    const p = this.probing.get(ip, 0);
    return p > 0 ? this.conflictMac.slice((p - 1) * 6, p * 6) : null;
  }

  /** Stop probing ip (claimed or refused). */
  endProbe(ip: number): void {
    this.probing.delete(ip, 0);
    if (this.probing.count === 0) this.conflicts = 0;
  }

  /** Gratuitous ARP at all (DpOp announce): not from uvsd's start until its probe claimed the addresses. */
  announcing = true;

  /** Gratuitous ARP for an address uvsd starts answering for. */
  announce(ip: number): void {
    if (!this.announcing || !this.held(ip) || this.routed(ip)) return; // a backup takes no address over (docs/ha.md)
    if (this.buildArp(ip, ip, true)) this.counters.c[C.arp_gratuitous_sent]++;
  }

  // ---- L2 output -----------------------------------------------------------------------------

  /** True when ip is inside one of the director's connected networks. */
  onLink(ip: number): boolean {
    return networkOf(this.addrs, ip) !== undefined;
  }

  /**
   * May uvsd send an ICMP error to ip? Not to 0/8, loopback, multicast or the limited
   * broadcast, nor to the broadcast address of a connected network: the kernel never answers
   * such sources (they are martians to its routing, or broadcasts). An off-link address whose
   * host part would be all ones in some --addr's mask (198.51.100.255 beside a /24) is a unicast
   * host behind the gateway: icmp_send refuses only broadcast routes.
   */
  unicastPeer(ip: number): boolean {
    if (martianSource(ip)) return false;
    // connectedBroadcast's loop, written out: calling it from here allocated ~13 bytes per
    // answer (unit-alloc-icmp.test.ts, V8 20).
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) {
      const m = a[i].mask | 0;
      // The directed broadcast of this network: inside it, host part all ones (not /31, /32).
      if (m !== -1 && m !== -2 && (ip | m) === -1 && ((ip ^ a[i].ip) & m) === 0) return false;
    }
    return true;
  }

  /**
   * Is ip the broadcast address of one of uvsd's connected networks (an --addr's network, host
   * part all ones; not of a /31 or /32)? The kernel's local table holds a broadcast route for it
   * (fib_add_ifaddr; the network address itself no longer, since Linux 5.14 treats it as
   * unicast), so it is no source a host may have: fib_validate_source refuses it with rp_filter
   * 1 or 2, the distributions' default.
   */
  connectedBroadcast(ip: number): boolean {
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) {
      const m = a[i].mask | 0;
      if (m !== -1 && m !== -2 && (ip | m) === -1 && ((ip ^ a[i].ip) & m) === 0) return true;
    }
    return false;
  }

  /**
   * The director address used as the ARP sender towards ip (never a VIP): of the --addr networks
   * that hold ip the longest prefix, as the kernel's route lookup picks its source (with
   * --addr 10.66.0.10/16 --addr 10.66.1.10/24, 10.66.1.10 towards 10.66.1.22; until 2026-12-07
   * the first given). A fixed address first; a floating one only while it is ours (master).
   */
  senderFor(ip: number): number {
    let fixed = 0;
    let fixedLen = -1;
    let fallback = 0;
    let fallbackLen = -1;
    for (let i = 0; i < this.addrs.length; i++) {
      const a = this.addrs[i];
      if (((ip ^ a.ip) & a.mask) !== 0) continue;
      const len = a.mask >>> 0; // a longer prefix is a larger mask
      if (a.floating !== true) {
        if (len > fixedLen) {
          fixed = a.ip;
          fixedLen = len;
        }
      } else if (len > fallbackLen && this.held(a.ip)) {
        fallback = a.ip;
        fallbackLen = len;
      }
    }
    if (fixedLen >= 0) return fixed;
    if (fallback !== 0) return fallback;
    for (let i = 0; i < this.addrs.length; i++) if (this.addrs[i].floating !== true) return this.addrs[i].ip;
    return this.addrs[0]?.ip ?? 0;
  }

  /** Is there a next hop for ip (on-link, or a --gateway)? */
  routable(ip: number): boolean {
    return this.gateway !== 0 || this.onLink(ip);
  }

  /** Send a whole frame to ip: on-link directly, off-link through --gateway. */
  toNeighbour(buf: Buffer, off: number, len: number, ip: number): void {
    let hop = ip;
    if (!this.onLink(ip)) {
      if (this.gateway === 0) {
        this.counters.d[D.no_route]++;
        return;
      }
      hop = this.gateway;
    }
    const nb = this.neigh;
    // find first: obtain, not inlined, would box the clock it is passed on every frame.
    let n = nb.find(hop);
    if (n < 0) n = nb.obtain(hop, this.now);
    if (n < 0) {
      this.counters.d[D.neigh_table_full]++;
      return;
    }
    nb.used[n] = this.now;
    if (nb.usable(n)) {
      copyMac(buf, off, nb.mac, n * 6);
      copyMac(buf, off + 6, this.mac, 0);
      this.tx.emitFrom(buf, off, len);
      if (nb.stale(n, this.now)) this.probe(n);
      return;
    }
    if (nb.enqueue(n, buf, off, len, this.now, this.vnetHdr)) this.counters.c[C.neigh_queued]++;
    else {
      this.counters.d[D.neigh_unresolved]++;
      nb.noteUnresolved(n);
    }
    this.probe(n);
  }

  /** The next hop towards ip: ip on-link, else the --gateway (0: none). */
  nextHop(ip: number): number {
    return this.onLink(ip) ? ip : this.gateway;
  }

  /** Start resolving the next hop to a real server before traffic needs it (it was added). */
  resolve(ip: number): void {
    const hop = this.nextHop(ip);
    if (hop === 0) return;
    const n = this.neigh.obtain(hop, this.now);
    if (n >= 0 && !this.neigh.usable(n)) this.probe(n);
  }

  /**
   * Send an ARP request for neighbour n, at most once per PROBE_INTERVAL_MS. Shown another
   * worker's frame (arpShared) only note it: that worker sends the request, and the answer it
   * receives is shown here too.
   */
  private probe(n: number): boolean {
    const nb = this.neigh;
    if (this.now - nb.probed[n] < PROBE_INTERVAL_MS) return false;
    nb.probing(n, this.now);
    if (this.quiet) return true;
    const target = nb.ip[n];
    if (this.buildArp(this.senderFor(target), target, false)) this.counters.c[C.arp_requests_sent]++;
    return true;
  }

  /** Neighbours shown another MAC while a request could not be sent yet (arp): asked at a later tick. */
  private readonly recheck: number[] = [];

  /**
   * Build a broadcast ARP request in the generated-frame buffer: for `tpa` from `spa`, or with
   * `gratuitous` an announcement of `spa` (sender = target = spa).
   */
  private buildArp(spa: number, tpa: number, gratuitous: boolean): boolean {
    const o = this.tx.genSlot();
    if (o < 0) return false;
    const b = this.tx.genBuf;
    b.fill(0xff, o, o + 6);
    copyMac(b, o + 6, this.mac, 0);
    wr16(b, o + ETH_TYPE, ETHERTYPE_ARP);
    const a = o + ETH_HLEN;
    wr16(b, a, 1);
    wr16(b, a + 2, ETHERTYPE_IPV4);
    b[a + 4] = 6;
    b[a + 5] = 4;
    wr16(b, a + 6, 1);
    copyMac(b, a + 8, this.mac, 0);
    wr32(b, a + 14, spa);
    b.fill(0, a + 18, a + 24);
    wr32(b, a + 24, gratuitous ? spa : tpa);
    b.fill(0, a + 28, o + 60); // pad to the Ethernet minimum
    this.tx.emitGen(o, 60);
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
      const o = nb.qoff(s);
      copyMac(nb.qbuf, o, nb.mac, n * 6);
      copyMac(nb.qbuf, o + 6, this.mac, 0);
      this.qtx.push(o, nb.qlen[s]);
    }
    this.tx.write(this.qtx);
    for (let s = 0; s < nb.qowner.length; s++) if (nb.qowner[s] === n) nb.release(s);
  }

  /** Timer: drop frames that waited too long, re-probe the rest, age learned MACs. */
  tick(): void {
    if (this.graceN > 0) this.settleGrace();
    const nb = this.neigh;
    for (let s = 0; s < nb.qowner.length; s++) {
      const n = nb.qowner[s];
      if (n < 0) continue;
      if (this.now - nb.qtime[s] > 3 * PROBE_MS) {
        nb.release(s);
        this.counters.d[D.neigh_unresolved]++;
        nb.noteUnresolved(n);
      } else {
        this.probe(n);
      }
    }
    for (let i = this.recheck.length - 1; i >= 0; i--) {
      const n = this.recheck[i]!;
      // Gone meanwhile (reclaimed, flushed): nothing to ask about.
      if (nb.state[n] === N_FREE || this.probe(n)) this.recheck.splice(i, 1);
    }
    nb.gc(this.now);
    // Lookups that grew and then stopped changing: both tables looked in on a miss till moved.
    this.localMap.settle();
    this.vipMap.settle();
    this.groupMap.settle();
    this.probing.settle();
    nb.settle();
  }
}
