// The connection table: struct-of-arrays in typed arrays, a chained hash holding both
// directions of every flow (like DPVS tuplehash[DIR_MAX]), a free list, and a lazy timer
// wheel for expiry. Nothing here allocates after construction.
//
// Direction 0 (IN) is the tuple the client sends: (proto, caddr, cport) → (vaddr, vport).
// Direction 1 (OUT) is what the real server sends back: (proto, daddr, dport) → (laddr, lport),
// where laddr/lport equal caddr/cport unless FULLNAT translated the source.
//
// Persistence templates (IPVS IP_VS_CONN_F_TEMPLATE, ipvsadm -p) live here too, flagged
// F_TEMPLATE, hashed IN only under a key no packet can have: proto | PROTO_TPL, the client address
// masked by the service's -M netmask, client port 0, the VIP and the virtual port (0 for a
// port-zero service), like the kernel's <proto, caddr&mask, 0, vaddr, vport>. daddr/dport name
// the destination. A template keeps its timeout in ticks in `laddr` (only FULLNAT connections use
// laddr): its -p, and 60 s for good once its timer fired while it still had connections (the
// kernel's expire_later sets cp->timeout, which every later connection restarts), and the number of connections it controls (n_control) in `ctl`; a connection created
// through a template keeps that template's entry in `ctl` (-1 otherwise). A template is freed
// only when its timer fires with no connection left (ip_vs_conn_expire: "do I control anybody?"),
// or by an eviction while it is not assured (F_ASSURED) and controls none (evictOne).
// An FTP data connection (F_FTPDATA) keeps its control connection's entry in `ctl` instead (the
// kernel's cp->control); the helper counts them per control connection, and the table asks it
// (onControlDue) before a control connection (F_FTP) goes: it stays while it has any.
// A template of a service with a persistence engine (--pe sip) is keyed by the call too: its
// `seqd` holds the Call-ID's hash (0 for every other template) and its client port that hash's
// low bits (odd, so never a plain template's 0); the Call-ID's text is kept in `peText` (see
// lookupTagged).

import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from './frame.js';
import { S_SCTP, sctpStateBits } from './tcpstate.js';

export const DIR_IN = 0;
export const DIR_OUT = 1;
/** Entry flag bits. */
export const F_ALIVE = 1;
export const F_INACTIVE = 2; // counted in the destination's inactive connections
export const F_NOOUTPUT = 4; // DR/TUN: the director never sees the server's packets
export const F_HASHED_OUT = 8; // the OUT tuple is in the hash (only methods whose replies come back)
export const F_TEMPLATE = 16; // a persistence template, not a connection
export const F_ONEPACKET = 32; // one-packet scheduling (ipvsadm -o): released after its datagram
/** Added to the protocol of a template's key, so no packet's tuple ever finds a template. */
export const PROTO_TPL = 0x80;
/** Added to an invalidated template's protocol (its destination was deleted): never found again. */
export const PROTO_TPL_DEAD = 0x40;
/** The flow proved it is real (eviction spares it; conntrack's ASSURED): TCP at its second packet
 *  (its state decides the rest, EVICTABLE_TCP); UDP through NAT/FULLNAT when a client packet
 *  follows a server's reply (F_REPLIED: a stream, not a request and its answer), UDP through
 *  DR/TUN (which never see replies) at a second client packet. */
export const F_CONFIRMED = 0x80;
/** A SYN proxy connection (src/modes/synproxy.ts): uvsd answered the client's handshake itself;
 *  `seqd` holds the sequence delta (or, until the server answered, the held-segment slot). */
export const F_SYNPROXY = 0x40;
/** UDP through NAT/FULLNAT: a server's reply was seen (the client's next packet confirms). */
export const F_REPLIED = 0x100;
/** A control connection the FTP helper watches (src/modes/ftp.ts; uvsd --ftp-ports). */
export const F_FTP = 0x200;
/** An FTP data connection a passive reply announced: its client port is not known yet (0 in
 *  the IN key; the kernel's IP_VS_CONN_F_NO_CPORT) until the client's SYN fills it in. */
export const F_NOCPORT = 0x400;
/** An FTP data connection the helper made: `ctl` holds its control connection's entry (not a
 *  template), which is not expired while it is there (the kernel's cp->control, n_control). */
export const F_FTPDATA = 0x800;
/** A template one of whose connections reached ESTABLISHED (TCP, SCTP) or was confirmed (UDP:
 *  F_CONFIRMED): a client was served through it (the kernel's IP_VS_CTPL_S_ASSURED, ipvsadm -Lnc
 *  ASSURED). Eviction never takes it; one without it goes when nothing uses it (evictOne). */
export const F_ASSURED = 0x1000;
/** A FULLNAT TCP connection under uvsd --toa whose server answered: `toaAck` holds the server's
 *  ISN + 1 (in the server's numbering), and the client's segments acknowledging just that get
 *  the TOA option (src/proto/toa.ts). */
export const F_TOA = 0x2000;
/** Workers: a synced FULLNAT UDP connection held by the worker of its local port (where replies
 *  reach) while its client's datagrams reach another worker (the master ran another --workers):
 *  counted in Datapath.strays while it lives. */
export const F_STRAY = 0x4000;

/** TCP states (tcpstate.ts numbering) an entry may be evicted in: NONE, TIME_WAIT, CLOSE,
 *  SYN_RECV, SYNACK — half-open or finished, as the kernel's drop_entry picks SYN_RECV/SYNACK. */
const EVICTABLE_TCP = (1 << 0) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 10);
/** SCTP's (bit n: state S_SCTP + n): every state but ESTABLISHED and the three SHUTDOWN ones,
 *  half-open or finished (the kernel's drop_entry picks INIT1 and INIT). */
const EVICTABLE_SCTP = ~sctpStateBits('ESTABLISHED', 'S-SENT', 'S-RECEIVED', 'S-ACK-SENT');

/** TCP states of a finished connection (TIME_WAIT, CLOSE): an eviction takes these of a known
 *  source too, and a FULLNAT connection gives its local port up in them when every port is
 *  taken (half-open ones are handshakes under way). */
const FINISHED_TCP = (1 << 5) | (1 << 6);
/** SCTP's: REJECTED and CLOSED. */
const FINISHED_SCTP = sctpStateBits('REJECTED', 'CLOSED');

/** Whether `state` of a `proto` entry is one of its protocol's states in `tcp`/`sctp` (bit masks above); UDP has none. */
function inStates(proto: number, state: number, tcp: number, sctp: number): boolean {
  if (proto === PROTO_TCP) return ((tcp >>> state) & 1) !== 0;
  return proto === PROTO_SCTP && ((sctp >>> (state - S_SCTP)) & 1) !== 0;
}
/** Known sources (ConnTable.markKnown): direct-mapped slots of one address each, 16 KB. */
const KNOWN_BITS = 12;
/** Int32 slots per hash-chain node (ConnTable.chain). */
const NS = 3;

/** Timer wheel: 1 tick = 250 ms, 4096 slots ≈ 17 minutes; farther expiries are re-slotted. */
export const TICK_MS = 250;
const WHEEL_SLOTS = 4096;
/** An entry kept at its time because others point at it (a template's connections, an FTP
 *  control connection's data connections) starts again with 60 s (ip_vs_conn_expire's
 *  expire_later: cp->timeout = 60*HZ). */
export const EXPIRE_LATER_TICKS = 60_000 / TICK_MS;
/** Entries a sweep with a time budget handles between looks at its clock (ConnTable.sweep). */
export const SWEEP_CHECK = 1024;

/** `act`: the low 4 bits count the client's packets (saturating at 15), the high 12 hold the
 *  tick of its last one modulo 4096 (17 minutes: TCP's longest default timeout, 15 minutes,
 *  never wraps; a longer idle one may look recent, which only spares it). */
const ACT_PKTS = 15;
const ACT_TICK = 0xfff;
/** evictOne's fallback takes a flow that carried at most this many client packets (the kernel's
 *  todrop_entry: in_pkts 1..8) ... */
const WEAK_PKTS = 8;
/** ... and none for this many ticks (2 s): longer than TCP's initial retransmission timeout (1 s,
 *  RFC 6298) and a request's usual answer, so a live client whose next packet is merely late is
 *  not taken; short, so a burst of spoofed flows holds a table 2 s, not their timeout (the
 *  kernel waits 60 s, for a scan of 1/32 of its table a second, not a new flow's room). */
const WEAK_IDLE = 2000 / TICK_MS;

/** An address's slot in ConnTable.known. */
function knownSlot(addr: number): number {
  return Math.imul(addr, 0x9e3779b1) >>> (32 - KNOWN_BITS);
}

function mix(a: number, b: number, c: number, seed: number): number {
  let h = Math.imul(a ^ seed, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0xc2b2ae3d);
  return h ^ (h >>> 16); // int32: never boxed
}

/** Frames of one batch whose bucket heads touchChains() chases (receive batches are 64 frames; the
 *  heads of any beyond this are still loaded, their nodes are not). */
const WARM_MAX = 256;

/** The smallest power of two >= n (the table's bucket count for --conn-max n). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class ConnTable {
  readonly max: number;
  readonly buckets: number;
  private readonly mask: number;
  private readonly seed: number;
  count = 0;

  // tuple fields
  readonly proto: Uint8Array;
  readonly caddr: Int32Array;
  readonly vaddr: Int32Array;
  readonly daddr: Int32Array;
  readonly laddr: Int32Array;
  readonly cport: Uint16Array;
  readonly vport: Uint16Array;
  readonly dport: Uint16Array;
  readonly lport: Uint16Array;
  // state
  readonly state: Uint8Array;
  /** F_* bits (16: the first byte's eight were all taken). */
  readonly flags: Uint16Array;
  readonly fwd: Uint8Array;
  readonly dest: Int32Array;
  /** The destination slot's generation when the entry was bound (see DestTable.gen). */
  readonly dgen: Uint32Array;
  /** Expiry in ticks of TICK_MS. */
  readonly expires: Uint32Array;
  /** Connection: its persistence template's entry (with F_FTPDATA: its FTP control connection's),
   *  or -1. Template: connections it controls. */
  readonly ctl: Int32Array;
  /** SYN proxy: server ISN - cookie ISN once the server answered, the held-segment slot before.
   *  Template: its persistence engine's hash of the call (0: none). */
  readonly seqd: Int32Array;
  /** SYN proxy, once the server answered: its TCP timestamps' offset from the director's
   *  (server TSval - the TSval uvsd's SYN|ACK sent; 0: no timestamps). */
  readonly tsoff: Int32Array;
  /** SYN proxy, once the server answered: the window rescaling (src/modes/synproxy.ts
   *  windowShifts; 0: none). */
  readonly spwin: Uint8Array;
  /** With F_TOA: the server's ISN + 1, the acknowledgment of the client segments that complete
   *  the server's handshake (and of any sent before the server's first data), which get TOA. */
  readonly toaAck: Int32Array;
  /** The client's packets: how many (low 4 bits, up to 15) and the tick of the last (high 12 bits,
   *  modulo 4096); see clientPacket and evictOne. 0 for an entry no client packet reached here
   *  (installed by connection sync, a template). */
  readonly act: Uint16Array;
  /** Templates of a persistence engine: the engine's data (the SIP Call-ID) by entry, for -Lnc and
   *  an exact match; one string per call, made when its template is (never per packet). */
  readonly peText = new Map<number, string>();
  // links
  private readonly head: Int32Array; // bucket → node (entry*2+dir), -1 = empty
  /** Per node (entry*2 + dir), NS (3) int32 side by side, so that one chain step, a link and an
   *  unlink touch the node's one cache line (two for 2 nodes in 16, which straddle lines):
   *  chain[3n] = next node in the bucket (-1 = end), chain[3n+1] = the node's full 32-bit hash
   *  (as int32), compared before any tuple field, chain[3n+2] = the node before it in its bucket
   *  (-1 for the bucket's first). With the node before it at hand, unhashing an entry is two
   *  stores, where walking the bucket from its head (newer entries are in front, so an old entry
   *  is at the end) cost a dependent cache miss per node in front of it: an eviction at a full
   *  table unhashes the oldest entries. In the node's own line (not an array of its own), linking
   *  a new node in front of a bucket's first writes the line the lookup before it has just read. */
  private readonly chain: Int32Array;
  private readonly wnext: Int32Array; // entry → next entry in the wheel slot, or -(slot + 2) for a slot's last (free list: -1 ends)
  private readonly wprev: Int32Array; // entry → previous entry, or -(slot + 2) for a slot's first
  private readonly wheel: Int32Array;
  /** Last (oldest) entry of each wheel slot, -1 = empty: eviction takes the oldest first. */
  private readonly wtail: Int32Array;
  private freeHead: number;
  /** The wheel has been swept up to (excluding) this tick. */
  private sweptTick: number;
  /** Next wheel slot (as an absolute tick) an eviction scan starts from, kept between scans so
   *  empty slots are not rescanned by every attempt; back to the nearest slot after a lap. */
  private evictTick: number;
  /** sweptTick when a whole lap found nothing to evict: no new scan until the wheel moves. */
  private evictDry = -1;
  /** Sources that lately completed a TCP handshake or confirmed a UDP flow, direct-mapped by
   *  address (0 = empty: 0.0.0.0 is never a source). See evictOne. */
  private readonly known = new Int32Array(1 << KNOWN_BITS);
  /** Evictions that passed over a known source's entry and took another. */
  spared = 0;
  /** Evictions that found no entry of little value and took a weak flow (evictOne). */
  evictedWeak = 0;
  /** Entries evictOne freed: the one it chose, and a template that went with it. */
  evicted = 0;
  /** Of those, templates (evict()). */
  evictedTemplates = 0;
  /** Called for every entry just before it is freed (expiry, flush). */
  onExpire: (e: number) => void = () => {};
  /** A SYN proxy entry still waiting for its server (F_SYNPROXY without F_CONFIRMED) whose time
   *  came: its next time (a tick after now) to keep it, or 0 to let it expire (synproxy.ts due()). */
  onWaitDue: (e: number) => number = () => 0;
  /** An FTP control connection (F_FTP) whose time came, or that something would expire now:
   *  while data connections point at it (n_control), its next time to keep it (a tick after
   *  now), else 0 to let it go (ftp.ts held()). */
  onControlDue: (e: number) => number = () => 0;
  /** A template whose time came while it controls connections: kept, its timeout cut to
   *  EXPIRE_LATER_TICKS (the kernel syncs it then). */
  onTemplateHeld: (e: number) => void = () => {};
  /** The clock (ms) a sweep's time budget is measured on: the datapath's (Datapath sets it). */
  sweepClock: () => number = () => performance.now();

  /**
   * `advise` is offered every large array before it is first written (uvsd passes the addon's
   * prepareTable: huge pages, since random lookups over these arrays are TLB-bound, and
   * prefaulting, so no page is first touched on the packet path).
   * `shell`: a table that never holds an entry (uvsd --workers: the main thread's, whose count is
   * the workers' sum): every lookup misses and every insert finds it full, and of its arrays only
   * the bucket heads are written (the rest stay untouched, so not resident).
   */
  constructor(
    max: number, nowTick: number, seed = (Math.random() * 0x100000000) >>> 0,
    advise: (a: ArrayBufferView) => void = () => {}, shell = false,
  ) {
    if (!Number.isInteger(max) || max < 1 || max > 1 << 26) throw new RangeError(`conn-max out of range: ${max}`);
    this.max = max;
    this.buckets = nextPow2(max);
    this.mask = this.buckets - 1;
    this.seed = seed;
    this.proto = new Uint8Array(max);
    this.caddr = new Int32Array(max);
    this.vaddr = new Int32Array(max);
    this.daddr = new Int32Array(max);
    this.laddr = new Int32Array(max);
    this.cport = new Uint16Array(max);
    this.vport = new Uint16Array(max);
    this.dport = new Uint16Array(max);
    this.lport = new Uint16Array(max);
    this.state = new Uint8Array(max);
    this.flags = new Uint16Array(max);
    this.fwd = new Uint8Array(max);
    this.dest = new Int32Array(max);
    this.dgen = new Uint32Array(max);
    this.expires = new Uint32Array(max);
    this.ctl = new Int32Array(max);
    this.seqd = new Int32Array(max);
    this.tsoff = new Int32Array(max);
    this.spwin = new Uint8Array(max);
    this.toaAck = new Int32Array(max);
    this.act = new Uint16Array(max);
    this.head = new Int32Array(this.buckets);
    this.chain = new Int32Array(max * 2 * NS);
    this.wnext = new Int32Array(max);
    this.wprev = new Int32Array(max);
    // tsoff, spwin and toaAck are not advised: only SYN proxy and TOA connections write them, so
    // unadvised they take memory (a page at a time, first touched on the packet path) only where
    // those features are used, 9 bytes per entry less for a table that never uses them.
    for (const a of [
      this.proto, this.caddr, this.vaddr, this.daddr, this.laddr, this.cport, this.vport, this.dport, this.lport,
      this.state, this.flags, this.fwd, this.dest, this.dgen, this.expires, this.ctl, this.seqd, this.act, this.head,
      this.chain, this.wnext, this.wprev,
    ]) if (!shell) advise(a);
    this.head.fill(-1);
    this.wheel = new Int32Array(WHEEL_SLOTS).fill(-1);
    this.wtail = new Int32Array(WHEEL_SLOTS).fill(-1);
    if (shell) {
      this.freeHead = -1;
    } else {
      for (let n = 0; n < max * 2; n++) this.chain[NS * n] = -1;
      for (let i = 0; i < max - 1; i++) this.wnext[i] = i + 1;
      this.wnext[max - 1] = -1;
      this.freeHead = 0;
    }
    this.sweptTick = nowTick;
    this.evictTick = nowTick;
  }

  /** Bytes of memory per entry, hash buckets included (the budget is 128). */
  static bytesPerEntry(max: number): number {
    const perEntry = 1 + 4 * 4 + 2 * 4 + 1 + 2 + 1 + 4 + 4 + 4 + 4 + 4 + 4 + 1 + 4 + 2 + 2 * NS * 4 + 4 + 4;
    return perEntry + (nextPow2(max) * 4) / max;
  }

  /** Full 32-bit hash of a tuple (int32); the bucket is its low bits. Addresses are int32. */
  private hash(proto: number, saddr: number, sport: number, daddr: number, dport: number): number {
    return mix(saddr, daddr, ((sport << 16) | dport) ^ (proto << 8), this.seed);
  }

  /**
   * Warm the caches for a batch's lookups in two passes (pipeline.ts warmBatch): touchHead()
   * loads each tuple's bucket head, touchChains() then the first node of every non-empty bucket.
   * Within a pass the loads are independent, so their cache and TLB misses overlap; chasing the
   * node right after its head (one dependent miss per frame) let only about two frames' misses
   * overlap. Returns junk, to keep the loads from being optimised away.
   */
  touchHead(proto: number, saddr: number, sport: number, daddr: number, dport: number): number {
    const n = this.head[this.hash(proto, saddr, sport, daddr, dport) & this.mask];
    if (this.warmCount < WARM_MAX) this.warmNodes[this.warmCount++] = n;
    return n;
  }

  touchChains(): number {
    let acc = 0;
    const w = this.warmNodes;
    for (let i = 0; i < this.warmCount; i++) {
      const n = w[i];
      if (n >= 0) acc ^= this.chain[NS * n + 1];
    }
    this.warmCount = 0;
    return acc;
  }

  private readonly warmNodes = new Int32Array(WARM_MAX);
  private warmCount = 0;

  /** The hash the last lookup() computed: a new flow's insert() takes it instead of hashing
   *  the same IN tuple again (read it right after the lookup; any other lookup replaces it). */
  lastHash = 0;

  /** Find the node (entry*2 + dir) for a packet's tuple, or -1. */
  lookup(proto: number, saddr: number, sport: number, daddr: number, dport: number): number {
    saddr |= 0; // a no-op for the int32 addresses the datapath passes; uint32 callers still match
    daddr |= 0;
    const h = this.hash(proto, saddr, sport, daddr, dport);
    this.lastHash = h;
    let n = this.head[h & this.mask];
    while (n >= 0) {
      const e = n >>> 1;
      if (this.chain[NS * n + 1] === h && this.proto[e] === proto) {
        if ((n & 1) === DIR_IN) {
          if (this.caddr[e] === saddr && this.cport[e] === sport && this.vaddr[e] === daddr && this.vport[e] === dport) return n;
        } else if (this.daddr[e] === saddr && this.dport[e] === sport && this.laddr[e] === daddr && this.lport[e] === dport) {
          return n;
        }
      }
      n = this.chain[NS * n];
    }
    return -1;
  }

  /**
   * Find a persistence engine's template: the IN node of key (proto, saddr, sport, daddr, dport)
   * whose seqd is `tag`, searching the chain after node `after` (-1: from its start), or -1. Two
   * calls with one hash are told apart by the caller (peText) going on from the node it refused.
   */
  lookupTagged(proto: number, saddr: number, sport: number, daddr: number, dport: number, tag: number, after: number): number {
    saddr |= 0;
    daddr |= 0;
    const h = this.hash(proto, saddr, sport, daddr, dport);
    this.lastHash = h;
    let n = after >= 0 ? this.chain[NS * after] : this.head[h & this.mask];
    while (n >= 0) {
      const e = n >>> 1;
      if ((n & 1) === DIR_IN && this.chain[NS * n + 1] === h && this.proto[e] === proto && this.seqd[e] === tag &&
          this.caddr[e] === saddr && this.cport[e] === sport && this.vaddr[e] === daddr && this.vport[e] === dport) return n;
      n = this.chain[NS * n];
    }
    return -1;
  }

  /**
   * Insert a flow; returns the entry index or -1 when the table is full. The caller fills
   * state/fwd/dest afterwards (they are reset here). `hashOut` also makes the server→client
   * tuple findable; DR and TUN never see that direction, so they skip it (IPVS hashes once too).
   * `inHash`: the IN tuple's hash when the caller has it from lookup() (lastHash), else computed.
   */
  insert(
    proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    daddr: number, dport: number, laddr: number, lport: number, expiresTick: number, hashOut: boolean,
    inHash: number = this.hash(proto, caddr | 0, cport, vaddr | 0, vport),
  ): number {
    const e = this.freeHead;
    if (e < 0) return -1;
    this.freeHead = this.wnext[e];
    this.proto[e] = proto;
    this.caddr[e] = caddr;
    this.cport[e] = cport;
    this.vaddr[e] = vaddr;
    this.vport[e] = vport;
    this.daddr[e] = daddr;
    this.dport[e] = dport;
    this.laddr[e] = laddr;
    this.lport[e] = lport;
    this.state[e] = 0;
    this.flags[e] = hashOut ? F_ALIVE | F_HASHED_OUT : F_ALIVE;
    this.fwd[e] = 0;
    this.dest[e] = -1;
    this.ctl[e] = -1;
    this.act[e] = 0;
    this.link2(e * 2, inHash);
    if (hashOut) this.link2(e * 2 + 1, this.hash(proto, daddr, dport, laddr, lport));
    this.expires[e] = expiresTick;
    this.slot(e, expiresTick);
    this.count++;
    return e;
  }

  /** Hash the OUT tuple of entry e now (FULLNAT: after its forwarder chose laddr/lport). */
  hashOut(e: number): void {
    if ((this.flags[e] & F_HASHED_OUT) !== 0) return;
    this.flags[e] |= F_HASHED_OUT;
    this.link2(e * 2 + 1, this.hash(this.proto[e], this.daddr[e], this.dport[e], this.laddr[e], this.lport[e]));
  }

  /** Entry e (F_NOCPORT) takes its client's port: rehashed under the IN tuple with it. */
  fillCport(e: number, cport: number): void {
    this.unlinkNode(e * 2, this.chain[2 * NS * e + 1] & this.mask);
    this.cport[e] = cport;
    this.link2(e * 2, this.hash(this.proto[e], this.caddr[e], cport, this.vaddr[e], this.vport[e]));
  }

  /**
   * A template whose destination is gone (ip_vs_check_template): rehashed under a key nothing
   * looks up, ports shown as 65535 like the kernel's; it stays until its timer and connections end.
   */
  invalidateTemplate(e: number): void {
    this.unlinkNode(e * 2, this.chain[2 * NS * e + 1] & this.mask);
    this.proto[e] |= PROTO_TPL_DEAD;
    this.vport[e] = 0xffff;
    this.dport[e] = 0xffff;
    this.link2(e * 2, this.hash(this.proto[e], this.caddr[e], this.cport[e], this.vaddr[e], this.vport[e]));
  }

  /** Free an entry just inserted that never carried traffic (its forwarder refused it): no onExpire. */
  discard(e: number): void {
    if ((this.flags[e] & F_ALIVE) === 0) return;
    this.unhash(e);
    this.unlinkWheel(e);
    this.flags[e] = 0;
    this.count--;
    this.free(e);
  }

  private slot(e: number, tick: number): void {
    // Never behind the sweep cursor, never a full lap ahead.
    let t = tick < this.sweptTick ? this.sweptTick : tick;
    if (t - this.sweptTick >= WHEEL_SLOTS) t = this.sweptTick + WHEEL_SLOTS - 1;
    this.link(e, t & (WHEEL_SLOTS - 1));
  }

  private link(e: number, s: number): void {
    const h = this.wheel[s];
    this.wprev[e] = -(s + 2);
    if (h >= 0) {
      this.wnext[e] = h;
      this.wprev[h] = e;
    } else {
      this.wnext[e] = -(s + 2);
      this.wtail[s] = e;
    }
    this.wheel[s] = e;
  }

  private unlinkWheel(e: number): void {
    const p = this.wprev[e];
    const n = this.wnext[e];
    if (p >= 0) this.wnext[p] = n; // n may be the end marker: p is the last now
    else this.wheel[-p - 2] = n >= 0 ? n : -1;
    if (n >= 0) this.wprev[n] = p;
    else this.wtail[-n - 2] = p >= 0 ? p : -1;
  }

  private link2(n: number, h: number): void {
    const b = h & this.mask;
    const first = this.head[b];
    this.chain[NS * n] = first;
    this.chain[NS * n + 1] = h;
    this.chain[NS * n + 2] = -1;
    if (first >= 0) this.chain[NS * first + 2] = n;
    this.head[b] = n;
  }

  private unlinkNode(n: number, bucket: number): void {
    const p = this.chain[NS * n + 2];
    const q = this.chain[NS * n];
    if (p < 0) this.head[bucket] = q;
    else this.chain[NS * p] = q;
    if (q >= 0) this.chain[NS * q + 2] = p;
  }

  /** Remove an entry from the hash now; it is freed when the wheel reaches it. */
  private unhash(e: number): void {
    this.unlinkNode(e * 2, this.chain[2 * NS * e + 1] & this.mask);
    if ((this.flags[e] & F_HASHED_OUT) !== 0) this.unlinkNode(e * 2 + 1, this.chain[NS * (2 * e + 1) + 1] & this.mask);
  }

  /** Move an entry to the wheel slot of its current expiry (after the expiry moved earlier). */
  reslot(e: number): void {
    this.unlinkWheel(e);
    this.slot(e, this.expires[e]);
  }

  /**
   * Whether entries point at e by its index (the kernel's n_control): a template's connections,
   * an FTP control connection's data connections. It must outlive them, so it is not expired.
   */
  controls(e: number): boolean {
    const f = this.flags[e];
    return (f & F_TEMPLATE) !== 0 ? this.ctl[e] > 0 : (f & F_FTP) !== 0 && this.onControlDue(e) !== 0;
  }

  /** A connection's persistence template, or -1 (none; a template; an FTP data connection, whose `ctl` is its control connection). */
  template(e: number): number {
    return (this.flags[e] & (F_TEMPLATE | F_FTPDATA)) !== 0 ? -1 : this.ctl[e];
  }

  /** Whether the wheel is not swept up to `nowTick` (a sweep stopped at its budget). */
  behind(nowTick: number): boolean {
    return this.sweptTick <= nowTick;
  }

  /** Expire an entry right away (deleted destination, flush): hook, unhash, free. Not an entry
   *  others point at (controls()): it goes at its timer once they are gone. */
  expireNow(e: number): void {
    if ((this.flags[e] & F_ALIVE) === 0 || this.controls(e)) return;
    this.onExpire(e);
    this.unhash(e);
    this.unlinkWheel(e);
    this.flags[e] = 0;
    this.count--;
    this.free(e);
  }

  /**
   * Advance the wheel to `nowTick`, expiring entries whose time has come and re-slotting the
   * ones whose expiry moved forward. Handles at most `budget` entries per call, and stops once
   * `ms` have passed on sweepClock (looked at before the first entry and every SWEEP_CHECK
   * entries after it: a mass expiry never holds the loop for long; the kernel expires each
   * connection in softirq, which gives way after 2 ms). Returns how many entries expired;
   * behind() says whether it stopped before `nowTick`.
   */
  sweep(nowTick: number, budget: number, ms = Infinity): number {
    let expired = 0;
    let work = 0;
    let check = ms === Infinity ? -1 : 0;
    let t0 = 0;
    while (this.sweptTick <= nowTick) {
      const s = this.sweptTick & (WHEEL_SLOTS - 1);
      let e = this.wheel[s];
      this.wheel[s] = -1;
      while (e >= 0) {
        if (work === check) {
          // Not before there is an entry: an idle tick reads no clock.
          const t = this.sweepClock();
          if (work === 0) t0 = t;
          else if (t - t0 >= ms) budget = work;
          check += SWEEP_CHECK;
        }
        if (work >= budget) {
          // put the rest back (its last entry is still wtail[s]) and resume here next time
          this.wheel[s] = e;
          this.wprev[e] = -(s + 2);
          return expired;
        }
        work++;
        const nx = this.wnext[e];
        if (this.expires[e] <= this.sweptTick && (this.flags[e] & F_TEMPLATE) !== 0 && this.ctl[e] > 0) {
          // A template with connections is not expired: its timer starts again, with 60 s from
          // now on, also for the connections made through it later (expire_later).
          this.laddr[e] = EXPIRE_LATER_TICKS;
          this.expires[e] = this.sweptTick + EXPIRE_LATER_TICKS;
          this.onTemplateHeld(e);
          this.slotAhead(e);
        } else if (this.expires[e] <= this.sweptTick) {
          const f = this.flags[e];
          const later = (f & (F_SYNPROXY | F_CONFIRMED)) === F_SYNPROXY ? this.onWaitDue(e) : (f & F_FTP) !== 0 ? this.onControlDue(e) : 0;
          if (later !== 0) {
            this.expires[e] = later;
            this.slotAhead(e);
          } else {
            this.onExpire(e);
            this.unhash(e);
            this.flags[e] = 0;
            this.count--;
            this.free(e);
            expired++;
          }
        } else {
          this.slotAhead(e);
        }
        e = nx;
      }
      this.wtail[s] = -1;
      this.sweptTick++;
    }
    return expired;
  }

  /**
   * drop_entry-style early eviction for a nearly full table: walk the timer wheel from the
   * nearest expiries (the oldest entries of a kind) and expire the first entry of little value —
   * TCP half-open or finished (EVICTABLE_TCP) or never confirmed (F_CONFIRMED), UDP never
   * confirmed (a request and its reply are not a stream). Looks at no more than `budget`
   * entries and `slotBudget` wheel slots: never a table walk. Returns the evicted entry (already
   * freed) or -1.
   *
   * A half-open entry (or unconfirmed UDP flow) of a known source (markKnown: a client that
   * lately completed a handshake) is passed over while the scan finds another; only when the
   * scan finds nothing else does the first of them go. So under a spoofed flood that turns the
   * table over faster than a real client's lost ACK is retransmitted, that client's handshake
   * survives; a flood spoofing known sources costs scan work, never the table.
   *
   * A template not assured (no client was served through it) that controls no connection is of
   * little value too (it holds a slot for nothing), and one whose last connection an eviction
   * takes goes with it (evict(): the kernel drops such a template when a connection it controls
   * is dropped). Assured templates never go: persistence holds.
   *
   * When the scan finds no entry of little value, a weak flow goes (before a known source's
   * half-open entry): one its client confirmed alone (weak()), that carried few packets and
   * has been idle a while — the fewest packets of those the scan saw, the first of them. A
   * blind spoofer confirms a DR/TUN flow with two packets (a SYN and an ACK: uvsd never sees the
   * server's answer) and a UDP one with two datagrams; without this, a table of them held every
   * new client out for their whole timeout.
   */
  evictOne(budget: number, slotBudget: number, nowTick: number): number {
    if (this.evictDry === this.sweptTick) return -1; // a whole lap found nothing this tick
    if (this.evictTick < this.sweptTick) this.evictTick = this.sweptTick;
    let work = 0;
    let spare = -1;
    let weak = -1;
    let weakPkts = WEAK_PKTS + 1;
    for (let k = 0; k < slotBudget; k++) {
      // Past the last slot: start over at the nearest (entries may have arrived behind the cursor).
      if (this.evictTick - this.sweptTick >= WHEEL_SLOTS) this.evictTick = this.sweptTick;
      let e = this.wtail[this.evictTick & (WHEEL_SLOTS - 1)]; // from the oldest of the slot
      while (e >= 0) {
        if (work++ >= budget) {
          this.evictTick++; // a slot of valuable entries: go on past it next time
          return this.evictFallback(weak, spare);
        }
        if (this.evictable(e)) {
          if (!this.sparable(e)) {
            if (spare >= 0) this.spared++;
            return this.evict(e);
          }
          if (spare < 0) spare = e;
        } else if (this.weak(e, nowTick)) {
          const n = this.act[e] & ACT_PKTS;
          if (n < weakPkts) {
            weak = e;
            weakPkts = n;
          }
        }
        e = this.wprev[e];
      }
      this.evictTick++;
    }
    if (spare < 0 && weak < 0 && slotBudget >= WHEEL_SLOTS) this.evictDry = this.sweptTick;
    return this.evictFallback(weak, spare);
  }

  /** The scan found no entry of little value: the weak flow it chose, else the known source's entry. */
  private evictFallback(weak: number, spare: number): number {
    if (weak >= 0) {
      this.evictedWeak++;
      if (spare >= 0) this.spared++;
      return this.evict(weak);
    }
    return spare >= 0 ? this.evict(spare) : -1;
  }

  /**
   * Evict entry e (evictOne), counted in `evicted`; its template goes with it when it then controls
   * no connection and is not assured (ip_vs_conn_expire: "Drop CTL or non-assured TPL if not
   * referenced"), counted in `evicted` and `evictedTemplates` (as is a template evicted itself).
   * Returns e.
   */
  private evict(e: number): number {
    const t = this.template(e);
    if ((this.flags[e] & F_TEMPLATE) !== 0) this.evictedTemplates++;
    this.expireNow(e);
    this.evicted++;
    if (t >= 0 && this.ctl[t] === 0 && (this.flags[t] & (F_ALIVE | F_ASSURED)) === F_ALIVE) {
      this.expireNow(t);
      this.evicted++;
      this.evictedTemplates++;
    }
    return e;
  }

  /**
   * A weak flow (evictOne's fallback, the kernel's todrop_entry): a connection (never a template)
   * that its client's packets alone confirmed — UDP, or any flow through DR/TUN, which never see
   * the server's — whose client sent 1 to WEAK_PKTS packets, the last WEAK_IDLE ticks ago or
   * more. An entry no client packet reached here (installed by connection sync: its flow may be
   * served by the other director) never is.
   */
  private weak(e: number, nowTick: number): boolean {
    const f = this.flags[e];
    const a = this.act[e];
    const n = a & ACT_PKTS;
    return n !== 0 && n <= WEAK_PKTS && ((nowTick - (a >>> 4)) & ACT_TICK) >= WEAK_IDLE &&
      (f & (F_ALIVE | F_TEMPLATE)) === F_ALIVE && (this.proto[e] === PROTO_UDP || (f & F_NOOUTPUT) !== 0);
  }

  /** A packet from entry e's client at `nowTick`: counted (up to 15) and its time kept, in `act`. */
  clientPacket(e: number, nowTick: number): void {
    const n = this.act[e] & ACT_PKTS;
    this.act[e] = (nowTick << 4) | (n < ACT_PKTS ? n + 1 : n);
  }

  /** A client that completed a TCP handshake (or whose UDP flow was confirmed): its half-open
   *  entries are spared by eviction while there are others (evictOne). */
  markKnown(addr: number): void {
    this.known[knownSlot(addr)] = addr;
  }

  /** An evictable entry of a known source that is not finished (TCP's TIME_WAIT/CLOSE, SCTP's REJECTED/CLOSED go as any). */
  private sparable(e: number): boolean {
    const a = this.caddr[e];
    return this.known[knownSlot(a)] === a &&
      !inStates(this.proto[e], this.state[e], FINISHED_TCP, FINISHED_SCTP);
  }

  /**
   * An entry of little value, which early eviction may expire: TCP or SCTP half-open or finished
   * (EVICTABLE_TCP, EVICTABLE_SCTP) or any flow never confirmed; a template not assured that
   * controls no connection (uvs's table is bounded, the kernel's is not: such a template holds a
   * slot, and no client was ever served through it). Never an assured template (persistence
   * holds), nor an FTP control connection while it has data connections.
   */
  evictable(e: number): boolean {
    const f = this.flags[e];
    if ((f & F_TEMPLATE) !== 0) return (f & (F_ALIVE | F_ASSURED)) === F_ALIVE && this.ctl[e] === 0;
    return (
      (f & F_ALIVE) !== 0 &&
      ((f & F_CONFIRMED) === 0 || inStates(this.proto[e], this.state[e], EVICTABLE_TCP, EVICTABLE_SCTP)) && !this.controls(e)
    );
  }

  /** Connection e reached ESTABLISHED (TCP, SCTP) or was confirmed (UDP): its template, if any,
   *  is assured (ip_vs_control_assure_ct). Returns the template when that made it so, else -1. */
  assure(e: number): number {
    const t = this.template(e);
    if (t < 0 || (this.flags[t] & F_ASSURED) !== 0) return -1;
    this.flags[t] |= F_ASSURED;
    return t;
  }

  /**
   * A connection whose FULLNAT local port may go to a new connection when every port is taken
   * (laddr.ts reclaim, as conntrack's early_drop): a UDP flow never confirmed (no client packet
   * after a reply), or a finished TCP connection (TIME_WAIT, CLOSE) or SCTP association
   * (REJECTED, CLOSED). Never a template, a live TCP/SCTP connection, or an FTP control
   * connection with data connections.
   */
  reclaimable(e: number): boolean {
    const f = this.flags[e];
    if ((f & F_ALIVE) === 0 || (f & F_TEMPLATE) !== 0 || this.controls(e)) return false;
    const p = this.proto[e];
    return p === PROTO_TCP || p === PROTO_SCTP ? inStates(p, this.state[e], FINISHED_TCP, FINISHED_SCTP) : (f & F_CONFIRMED) === 0;
  }

  private slotAhead(e: number): void {
    // Slot strictly after the tick being swept, so the current slot's walk terminates.
    let t = this.expires[e];
    if (t <= this.sweptTick) t = this.sweptTick + 1;
    if (t - this.sweptTick >= WHEEL_SLOTS) t = this.sweptTick + WHEEL_SLOTS - 1;
    this.link(e, t & (WHEEL_SLOTS - 1));
  }

  private free(e: number): void {
    if (this.peText.size !== 0) this.peText.delete(e);
    this.wnext[e] = this.freeHead;
    this.freeHead = e;
  }

  /** Expire every live entry matching a predicate (control plane only: O(max)). */
  expireWhere(pred: (e: number) => boolean): number {
    let n = 0;
    for (let e = 0; e < this.max; e++) {
      if ((this.flags[e] & F_ALIVE) !== 0 && pred(e)) {
        this.expireNow(e);
        n++;
      }
    }
    return n;
  }

  isAlive(e: number): boolean {
    return (this.flags[e] & F_ALIVE) !== 0;
  }
}
