// Prometheus metrics (docs/metrics.md): prom-client metrics whose collect() callbacks read the
// datapath's typed arrays at scrape time. Nothing on the packet path touches prom-client.
//
// Counters named *_total never go down: per-destination and per-service statistics are read
// through DestTable.total() (what -Z zeroed is kept aside); a service's also add what its deleted
// destinations had (SvcRuntime.retired), and the node_ipvs_* totals what every deleted
// destination had (DestTable.retired).

import type { LaddrUsage } from '../modes/laddr.js';
import type { StateFileStatus } from '../control/statefile.js';
import type { ArpWatchStatus } from '../control/arpwatch.js';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { COUNTER_NAMES, D, DROP_NAMES, type CounterName } from '../datapath/counters.js';
import { DEST_F_USED, STAT_CONNS, STAT_IN_BYTES, STAT_IN_PKTS, STAT_OUT_BYTES, STAT_OUT_PKTS, serviceStat } from '../datapath/dests.js';
import { PROTO_FWM, svcKey, type Datapath, type SvcRuntime } from '../datapath/pipeline.js';
import type { WorkerStatus } from '../datapath/group.js';
import { ENTRY_STATE_LABELS, StateCensus } from '../datapath/census.js';
import { checkerWalk, destOverloaded, entryWalk, fwmarkOf, healthRows, quorumWalk, quorumsOf, serviceIdOf, serviceKeyOf, serviceLabels, type BucketCounts, type Health, type HealthCursor, type HealthView, type RowWalk } from './view.js';
import { formatIp, parseIp } from '../datapath/addr.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP, l4Name } from '../datapath/frame.js';
import { U32PairMap } from '../datapath/lookup.js';
import { type BgpStatus, type ControlSocketStatus, type LogOutputStatus, type CheckerStat, type HealthEntry, type HealthQueue, type HealthQuorum, type LinkStatus, type ServiceKey } from '../control/protocol.js';
import { plainSlicer, yieldLoop, type Pause, type Slicer } from '../control/slices.js';
import { ByteOut, Column, LabelStore, LabelWriter, room } from './bytes.js';
import { FWD_NAMES } from '../modes/index.js';

export interface MetricsOptions {
  /** false: leave out the per-destination series (node_ipvs_backend_*, uvs_dest_*) for very large
   *  tables, all but the health of the servers a checker watches (their uvs_dest_up, uvs_health_check_*). */
  perDest?: boolean;
  /** Process metrics (prom-client's defaults: CPU, memory, event loop lag, GC). Default true. */
  process?: boolean;
  /** Health checks (uvsd --keepalived-conf); without them every server counts as up. */
  health?: HealthView;
  /** Connection sync counters (src/sync, docs/ha.md). */
  sync?: { sent: number; received: number; lost: number; authFailed: number; otherSyncid: number; fromMaster: number; replayed: number; old: number };
  /** Called before every read of the datapath's counters (uvsd --workers: sum the workers'). */
  pull?: () => void;
  /** With --workers: sum what the status page rates' tick t reads (DatapathGroup.pullShare, the counters too at tick 0). */
  pullShare?: (t: number) => void;
  /** With --workers: a scrape's pull (DatapathGroup.pullSliced): the counters at once, the table in pieces
   *  with the loop let run between them (yieldLoop), not pull() in one piece. */
  pullSliced?: (pause: () => Promise<void>) => Promise<void>;
  /** Connection entries by state when the datapath's own table is not the one in use (uvsd --workers). */
  states?: () => ArrayLike<number>;
  /** The link under uvsd (its TAP or ring interface: up, in its --bridge), as `uvsadm --status` shows it. */
  link?: () => LinkStatus;
  /** uvsd --bgp-include: BIRD's state and the VIPs in the include, and whether the director drains. */
  bgp?: () => { status: BgpStatus; draining: boolean };
  /** Frames lost before the datapath read them (`uvsadm --status` port_drop_*): the TAP's queue
   *  (queue_full) or the ring backend's (ring_full, too_long); null when unknown. */
  portDrops?: () => Record<string, number> | null;
  /** uvsd --workers: each worker's own numbers (`uvsadm --status` worker lines), for uvs_worker_*. */
  workers?: () => WorkerStatus[];
  /** FULLNAT local ports in use per LIP when the datapath's own pools are not the ones in use
   *  (uvsd --workers: the workers' sums, refreshed by uvsd every few seconds). */
  laddrs?: () => readonly LaddrUsage[];
  /** Neighbour entries in use and unresolved when the datapath's own table is not the one in use
   *  (uvsd --workers: the sums of the workers' tables). */
  neigh?: () => { entries: number; unresolved: number };
  /** uvsd --state-file: its writer's state and what happened to it at start. */
  stateFile?: () => StateFileStatus;
  /** uvsd's log output: lines dropped because writing them failed (`uvsadm --status` log_lines_dropped). */
  logOutput?: () => LogOutputStatus | undefined;
  /** uvsd's control socket: times bound again after its file was removed; undefined until it listens. */
  controlSocket?: () => ControlSocketStatus | undefined;
  /** uvsd's ARP watch (--arp-watch), as `uvsadm --status` shows it; undefined until it starts. */
  arpWatch?: () => ArpWatchStatus | undefined;
  /** false: leave out the per-checker series (uvs_health_check_*: 5 per checker); uvs_dest_up stays. Default true. */
  perChecker?: boolean;
  /** Where a scrape (`metrics`) and /status.json (`status.json`) record their slices (uvsd: Control.slicer, so
   *  the longest is `uvsadm --status` slowest_verb_ms). Default: slices of SLICE_MS recorded nowhere. */
  slicer?: Slicer;
}

/** Upper bounds of the uvs_batch_frames histogram buckets (frames per receive batch). */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** HELP text of the datapath counters, exported as uvs_<name>_total (a new counter without one gets a generic text). */
const COUNTER_HELP: Record<CounterName, string> = {
  rx_frames: 'Frames received from the TAP.',
  rx_wakes: 'Event-loop wake-ups that delivered frames (rx_frames per wake-up: up to 8 x --rx-budget when nothing else waits).',
  synproxy_syn_cookies_sent: 'SYN proxy: SYNs answered with a SYN cookie (no entry, no server contacted).',
  synproxy_ack_valid: 'SYN proxy: client ACKs whose cookie was valid (a connection entry was made).',
  synproxy_ack_invalid: 'SYN proxy: ACKs without a connection whose cookie did not validate (dropped; answered by a reset, tcp_rst_sent).',
  synproxy_server_syn: 'SYN proxy: SYNs sent to real servers after a valid cookie.',
  synproxy_established: 'SYN proxy: server handshakes completed (sequence translation from then on).',
  synproxy_server_timeout: 'SYN proxy: connections given up on: the server never answered the SYN (sent 4 times in 15 s); the client got a reset.',
  synproxy_server_stale_ack: 'SYN proxy: server ACKs of an older connection (its TIME_WAIT) answering our SYN: reset (seq = their ack) and the SYN again.',
  synproxy_server_no_ts: 'SYN proxy: servers that answered without the timestamps the client was offered (its segments reach the client without them).',
  ftp_passive: 'FTP helper: passive replies rewritten (227: the VIP\'s address; 229: the port alone, (|||port|)), the client\'s data connection expected.',
  ftp_active: 'FTP helper: PORT/EPRT commands (NAT) whose data connection from the server was made.',
  ftp_not_rewritten: 'FTP helper: expected passive replies forwarded as they were (the rewritten segment would exceed the MTU, or a GSO frame).',
  ftp_no_slot: 'FTP helper: control connections not helped because every helper slot was taken.',
  ftp_data_conns: 'FTP helper: data connection entries made (passive and active); not scheduled, so counted neither in conns_created nor in a server\'s connections.',
  toa_added: 'TOA (uvsd --toa): FULLNAT client segments given the client\'s address and port as TCP option 254 for the real server\'s toa module.',
  toa_skipped_mtu: 'TOA: client segments left without it because 8 more bytes would pass the MTU (or a fragment).',
  toa_skipped_room: 'TOA: client segments left without it because their TCP header had less than 8 bytes of option space left.',
  toa_skipped_offload: 'TOA: client segments left without it because they were TSO super-segments (--offload).',
  tun_no_decap: 'TUN: ICMP protocol or port unreachable from a real server itself about a packet wrapped for it: the server does not decapsulate its tunnel type (no ipip module, tunl0 down, nothing on the GUE port); uvsd\'s log names it (docs/tun-setup.md#checks). Also drops icmp_unhandled.',
  rx_bytes: 'Bytes received from the TAP (Ethernet frames).',
  tx_frames: 'Frames written to the TAP (or --port interface) that it took; one it refused is a tx_failed drop alone.',
  tx_bytes: 'Bytes written to the TAP (Ethernet frames), of the frames it took only (as tx_frames).',
  arp_replies_sent: 'ARP replies sent for owned addresses and VIPs.',
  arp_requests_sent: 'ARP requests sent to resolve next hops (real servers, gateway).',
  arp_gratuitous_sent: 'Gratuitous ARP announcements sent (at start and for new VIPs).',
  arp_neigh_updates: 'Neighbour entries learned or refreshed from ARP.',
  arp_probes_sent: 'ARP probes sent (RFC 5227) before claiming an address (uvsd --arp-probe-ms) and by the ARP watch over the claimed ones (uvsd --arp-watch).',
  arp_takeovers_seen: 'Addresses that move with the HA role (VIPs, FULLNAT local addresses, floating --addrs) another station announced by gratuitous ARP while this director was master, which then went backup within 3 s: a planned switch whose new master announced first; not counted as conflicts, not defended (docs/ha.md).',
  arp_conflicts: 'Another station answered for, or claimed, an address uvsd owns or probes (a gratuitous ARP for an address that moves with the HA role counted once this director is still master 3 s later: see arp_takeovers_seen).',
  icmp_echo_replies: 'ICMP echo replies sent for owned addresses and VIPs.',
  conns_created: 'Connection entries created (new flows scheduled to a real server).',
  conns_expired: 'Connection entries expired or removed.',
  fwd_packets: 'Packets of connections from clients towards real servers (InPkts: relayed ICMP errors and packets that died here at TTL 1 included, as the kernel counts).',
  fwd_bytes: 'Bytes (IP packets) of connections from clients towards real servers (InBytes).',
  neigh_queued: 'Frames queued while their next hop was being resolved.',
  neigh_reclaimed: 'Neighbour (ARP) entries freed by the garbage collection: failed (probes unanswered 3 s), unused 60 s, or taken on a full table for a new one; never a real server\'s or the gateway\'s.',
  neigh_refused: 'Addresses refused a neighbour entry: the table full of entries that may not go (uvsd --neigh-max); their frames are dropped (neigh_table_full).',
  ignored_other_mac: 'Frames for another station (flooded by the bridge), ignored; not a drop.',
  ignored_ethertype: 'Frames of an ethertype uvsd does not handle (e.g. IPv6), ignored.',
  ignored_arp: 'ARP frames not addressed to uvsd, ignored.',
  fwd_out_packets: 'Packets of connections forwarded towards clients (OutPkts: NAT and FULLNAT replies, ICMP errors relayed to clients, TUN\'s too).',
  fwd_out_bytes: 'Bytes (IP packets) of connections forwarded towards clients (OutBytes).',
  icmp_related_forwarded: 'ICMP errors about a connection forwarded (translated for NAT/FULLNAT).',
  pull_timeouts: 'uvsd --workers / --datapath-thread: reads of the workers\' statistics that left a part of them (servers\' and services\' statistics, the retired sums) as the last read had, a worker having applied a list of changes for longer than 100 ms. The counters and connection entries are read in full every time.',
  icmp_scheduled: 'uvsd --schedule-icmp: ICMP errors about a connection no entry held (another director\'s, behind ECMP) that scheduled it as its client\'s new flow, then went on to the server chosen.',
  icmp_frag_needed_sent: 'ICMP fragmentation-needed sent for TUN packets too big for MTU - 20.',
  icmp_unreach_sent: 'ICMP port unreachable sent to clients of a service with no real server available (drops no_dest).',
  icmp_unreach_ratelimited: 'ICMP port unreachable not sent because of the ICMP error rate limits (per source 1/s, burst 6; over the daemon 1000/s, burst 50).',
  icmp_time_exceeded_sent: 'ICMP time exceeded sent to the sender of a packet that arrived with TTL 1 or 0 (drops ttl_exceeded).',
  icmp_time_exceeded_ratelimited: 'ICMP time exceeded not sent because of the ICMP error rate limits (per source 1/s, burst 6; over the daemon 1000/s, burst 50).',
  tcp_rst_sent: 'TCP resets sent to clients for segments of no connection to a service port (drops no_conn), as the kernel\'s stack answers them.',
  tcp_rst_ratelimited: 'TCP resets not sent because of the daemon-wide rate limit shared with the ICMP errors (1000/s, burst 50; no per-source limit).',
  icmp_frag_needed_ratelimited: 'Always 0 since 2026-12-05: ICMP fragmentation-needed (TUN) is never rate-limited, as the kernel never limits PMTU discovery (kept for dashboards).',
  icmp_tunnel_relayed: 'TUN: ICMP errors from a router past the director about a wrapped packet (fragmentation needed with the MTU less the tunnel\'s bytes, time exceeded, unreachable) relayed to the client from the VIP, about its own packet.',
  icmp_tunnel_ratelimited: 'TUN: router ICMP errors about a wrapped packet not relayed because of the ICMP error rate limits (per source 1/s, burst 6; over the daemon 1000/s, burst 50).',
  tun_inner_fragments: 'TUN packets sent as fragments inside the tunnel (no DF, too big for MTU - 20).',
  templates_created: 'Persistence templates created (ipvsadm -p).',
  templates_expired: 'Persistence templates expired (timeout passed with no connection left, or evicted: templates_evicted).',
  templates_evicted: 'Of conns_evicted and templates_expired: persistence templates not assured (no connection of theirs reached ESTABLISHED or was confirmed) that controlled no connection, taken by an eviction alone or with their last connection.',
  ops_datagrams: 'Datagrams scheduled one by one without a connection entry (ipvsadm -o).',
  role_changes: 'High availability role changes (uvsadm --role, docs/ha.md).',
  sync_installed: 'Connection entries installed or updated from the master\'s sync messages.',
  sync_expired: 'Connection entries expired because the master\'s sync messages said so.',
  sync_refused: 'Synced connection records refused: no such service or local address here, or the local port taken.',
  sync_unbound: 'Synced connection entries installed without their real server (not in its service here yet): kept, in no server\'s counts, bound when it comes.',
  sync_bound: 'Synced entries installed without their real server and bound to it since (a later sync record, packet or template lookup found it added).',
  sync_ext_held: 'Synced SYN proxy or FTP seq-shift records that came before their connection\'s record (reordered datagrams, or that record refused or lost): held for it up to 2 s.',
  sync_ext_dropped: 'Synced SYN proxy or FTP seq-shift records held for their connection\'s record that never came within 2 s (refused or lost), or pushed out by 64 newer ones.',
  sync_unbound_expired: 'Synced entries without their real server expired because a packet (a template: its client\'s next connection) came while it still was not in the service here (as a deleted server\'s connection).',
  conns_spared: 'Evictions that passed over the half-open entry of a known client (one that lately completed a handshake) and took another entry.',
  conns_evicted_weak: 'Of conns_evicted: flows confirmed by their client alone (UDP; DR/TUN) with at most 8 client packets, none for 2 s, taken when an eviction found no half-open, finished or unconfirmed entry.',
  conns_reused: 'Segments with SYN (SCTP INITs) that found their tuple\'s finished entry (TIME_WAIT, CLOSE), or one whose server has weight 0, expired it and were scheduled again as a new connection (a --synproxy service: answered with a new cookie); a SYN with RST expires the entry but opens nothing and is not counted (uvsd --conn-reuse-mode).',
  conns_adopted_hash: 'Mid-flow TCP segments of unknown flows placed by the mh table (uvsd --sloppy-tcp mh: a flow another director scheduled).',
  conns_evicted: 'Connection entries (persistence templates too: templates_evicted) expired early to make room: above --evict-above, or a FULLNAT local port reused (docs/resilience.md).',
  secure_tcp_switches: 'Times secure TCP (short half-open timeouts above --secure-tcp-above) was switched on or off.',
  arp_refused: 'ARP packets that would have changed a tracked neighbour\'s MAC without our probe outstanding (gratuitous or unsolicited), refused.',
  conns_sloppy: 'Connections opened on a mid-stream TCP segment (uvsd --sloppy-tcp), in the state its flags give from NONE (an ACK: ESTABLISHED).',
  rx_gso_frames: 'TCP super-segments (GSO, up to 64 KB) received from the TAP (uvsd --offload), or merged by GRO/TSO from the ring backend\'s interface.',
  rx_csum_partial: 'Frames received with a partial checksum for uvsd to complete or pass on (uvsd --offload; the ring backend completes them).',
  gso_segments_built: 'TUN: segments uvsd cut a super-segment into before wrapping each (uvsd --offload).',
  handoff_out: 'uvsd --workers: frames handed to the worker holding their connection (a reply that reached another worker).',
  handoff_in: 'uvsd --workers: frames another worker handed over because this one holds their connection.',
};

type Sample = [labels: Record<string, string | number>, value: number];
type Read = () => number | Sample[];

function gauge(reg: Registry, name: string, help: string, labelNames: string[], read: Read): void {
  new Gauge({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      const r = read();
      if (typeof r === 'number') this.set(r);
      else for (const [l, v] of r) this.set(l, v);
    },
  });
}

function counter(reg: Registry, name: string, help: string, labelNames: string[], read: Read): void {
  new Counter({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      const r = read();
      if (typeof r === 'number') this.inc(r);
      else for (const [l, v] of r) this.inc(l, v);
    },
  });
}

/**
 * Series of a family: n rows, each with its label text (a LabelStore's, UTF-8) followed by suffix,
 * and its value; a row whose has() is false is left out (a server or service deleted while the
 * scrape let the datapath run).
 */
interface Rows {
  n: number;
  /** The row's label text: its id in the scrape's LabelStore. */
  label(i: number): number;
  suffix?: Uint8Array;
  value(i: number): number;
  has?(i: number): boolean;
  /** Values are microseconds, written as seconds (ByteOut.sample's micros). */
  micros?: boolean;
}

/** The first n of items as rows (a Scrape's lists are kept from scrape to scrape: their lengths are not their counts). */
function rows<T>(items: ArrayLike<T>, n: number, label: (x: T, i: number) => number, value: (x: T, i: number) => number, o: { has?: (x: T, i: number) => boolean; suffix?: string; micros?: boolean } = {}): Rows {
  const has = o.has;
  return {
    n, label: (i) => label(items[i]!, i), value: (i) => value(items[i]!, i),
    has: has && ((i) => has(items[i]!, i)), suffix: o.suffix === undefined ? undefined : Buffer.from(o.suffix), micros: o.micros,
  };
}


/**
 * A gauge or counter family with many series (one per real server, checker or service), rendered
 * to exposition text here instead of through prom-client: its Gauge.set hashes and validates the
 * labels of every sample and its formatter builds each line from Object.entries, ~2-3 µs per
 * sample (4096 real servers, 62,000 samples: 200 ms per scrape through Gauge.set, 28 ms here).
 * Written as bytes (ByteOut.sampleOf: each label's UTF-8 kept in a LabelStore from scrape to scrape, no string per line),
 * in slices, pause() asked every 256 rows once due (renderFamily, asker).
 */
interface Family<S = Scrape> {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  rows(sc: S): Rows[];
  /** Rows made as they are walked (the health checks' quorums), after rows(): each call of the
   *  cursor writes the next one's label text and value into the caller's row (false past the last). */
  samples?(): HealthCursor<LabelledValue>;
}

/** A row as Family.samples() writes it: its label text (its id in the scrape's LabelStore) and value. */
type LabelledValue = { lbl: number; value: number };

/**
 * What a scrape's families render (createMetrics gather()), built once per scrape: the label texts
 * kept from scrape to scrape (ids in the LabelStore, by service id, slot or place: createMetrics) and the numbers in typed arrays,
 * no object per server or checker. Until 2026-12-05 a row object per server and per checker (and
 * the checkers' CheckerStat objects) lived through the scrape: at 10,000 services x 4 servers,
 * 120,000 objects promoted out of the young generation at every scrape. Its lists are kept for the
 * next scrape (createMetrics spareScrapes): the first n* of each are this scrape's (grown anew at
 * every scrape, their copies were half of what was left of a scrape's garbage, 2026-12-06).
 */
interface Scrape {
  nServices: number;
  nDests: number;
  nWatched: number;
  nChecks: number;
  /** The slots gathered (with health checks and the per-server series): 1 for a server in the table. */
  inTable: Uint8Array;
  services: Column<SvcRuntime>;
  /** With the per-server series: the table's real servers (their slots) and each slot's generation then, and each one's health as the checks see it (HEALTH_*, by place). */
  dests: Int32Array;
  destGen: Float64Array;
  destHealth: Uint8Array;
  /** The servers a checker watches: all of them, or with the per-server series those not in the table; each's health (1 up). */
  watched: Int32Array;
  watchedUp: Uint8Array;
  /** Every checker of a checked server (with the per-checker series): its label text, and CHECK_STATS numbers by place. */
  checks: Int32Array;
  checkStats: Float64Array;
  /** The walks of the checked servers and of their checkers, kept with their rows (view.ts RowWalk). */
  entries: RowWalk<HealthEntry>;
  checkers: RowWalk<CheckerStat>;
}

/** Scrape.destHealth's values. */
const HEALTH_UP = 0;
const HEALTH_DOWN = 1;
const HEALTH_UNCHECKED = 2;
const HEALTH_CODE: Record<Health, number> = { up: HEALTH_UP, down: HEALTH_DOWN, unchecked: HEALTH_UNCHECKED };

/** Scrape.checkStats: a checker's numbers, CHECK_STATS per checker. */
const CHECK_UP = 0;
const CHECK_PASSED = 1;
const CHECK_FAILED = 2;
const CHECK_NOT_RUN = 3;
/** The last attempt's duration in whole microseconds (CheckerStat.lastMs rounded): a small integer, written as
 *  seconds by putMicros (metrics/bytes.ts) with no number boxed and no string made. Until 2026-12-06 the ms
 *  themselves, divided by 1000 and written by String(): a box and a ~20-character string per checker at every
 *  scrape, 2.2 of the 3.9 MB a scrape of 10,000 services x 4 checked servers allocated (docs/metrics.md). */
const CHECK_LAST_US = 4;
const CHECK_STATS = 5;

/** A checked server (HealthEntry) or a checker of one (CheckerStat): what their labels name. */
type CheckedServer = { service: ServiceKey; addr: string; port: number };

/**
 * The label texts of the checked servers (type '') or of their checkers, by their place in the health
 * checks' lists, and what each was made of (to see whether the one at a place is another): columns,
 * no object per server or checker (docs/performance.md, 2026-12-06 11:00).
 */
class CheckedCols {
  n = 0;
  proto = new Column<string>();
  vaddr = new Column<string>();
  addr = new Column<string>();
  type = new Column<string>();
  vport = new Float64Array(0);
  fwmark = new Float64Array(0);
  port = new Float64Array(0);
  index = new Float64Array(0);
  /** The label text's id in the LabelStore. */
  lbl = new Int32Array(0);
  /** A checked server's slot in the table as last found (-1: none) and the slot's name then (createMetrics
   *  destGen): whether it is in the table (createMetrics slotOf). Until 2026-12-06 its key (serviceId and
   *  server) looked up in a Map of every slot's, whose rehash at 32,768 took ~6-9 ms in one step. */
  slot = new Int32Array(0);
  slotName = new Float64Array(0);

  /** Whether every typed column has room for n places (grows(n) is empty: no array made to say so). */
  fits(n: number): boolean {
    return this.vport.length >= n && this.fwmark.length >= n && this.port.length >= n && this.index.length >= n && this.slotName.length >= n &&
      this.lbl.length >= n && this.slot.length >= n;
  }

  /** What gives the typed columns room for n places: a growth (a function) for each column short of it, added to `out`. */
  grows(n: number, out: (() => void)[] = []): (() => void)[] {
    for (const k of CHECKED_F64) if (this[k].length < n) out.push(() => (this[k] = room(this[k], n - 1)));
    for (const k of CHECKED_I32) if (this[k].length < n) out.push(() => (this[k] = room(this[k], n - 1)));
    return out;
  }
}

const CHECKED_F64 = ['vport', 'fwmark', 'port', 'index', 'slotName'] as const;
const CHECKED_I32 = ['lbl', 'slot'] as const;

/** The datapath's protocol numbers by the health checks' names. */
const L4_NUM: Record<string, number> = { tcp: PROTO_TCP, udp: PROTO_UDP, sctp: PROTO_SCTP };

/**
 * The one writer of the scrapes' label texts (each written and added to the store before the next
 * is begun), their labels as exposition text (k1="v1",k2="v2", each value escaped) written as bytes:
 * no string, object or number's text made per label. Until 2026-12-06 each was a string built from
 * an object of its labels (`{ ...serviceLabels(k), server }`, its values' strings, a template per
 * label, the store's copy of the whole): ~300 of the 345 MB the first /metrics of 10,000 services x 4
 * checked servers allocated, 24-26 scavenges of 131-306 ms in all (docs/performance.md).
 */
const w = new LabelWriter();

/** A service's labels (serviceLabels(serviceKeyOf(s))): proto="tcp",service="10.1.0.0:80", or proto="fwm",service="fwmark:7". */
function putService(w: LabelWriter, s: SvcRuntime): LabelWriter {
  const m = fwmarkOf(s);
  if (m !== 0) return w.raw('proto="fwm",service="fwmark:').num(m).raw('"');
  return w.raw('proto="').raw(l4Name(s.proto)).raw('",service="').ip(s.vip).raw(':').num(s.port).raw('"');
}

/** The labels of the health checks' service key k (serviceLabels(k)), as putService. */
function putServiceKey(w: LabelWriter, k: ServiceKey): LabelWriter {
  if (k.fwmark) return w.raw('proto="fwm",service="fwmark:').num(k.fwmark).raw('"');
  return w.raw('proto="').value(k.proto).raw('",service="').value(k.addr).raw(':').num(k.port).raw('"');
}

/** node_exporter's proto label (upper case) by the datapath's protocol name. */
const L4_UPPER = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;

/**
 * Growths of arrays (`grows`), each in a piece of its own with a turn of the loop before it and
 * after the last: never in a step of rows, where a copy of 0.2-1.6 MB held the loop 1-7 ms
 * beside the names made (the first /metrics of 10,000 x 4, docs/performance.md).
 */
async function apart(pause: Pause, grows: (() => unknown)[]): Promise<void> {
  for (const g of grows) {
    await pause(yieldLoop());
    g();
  }
  if (grows.length > 0) await pause(yieldLoop());
}

/** The store's next chunk made apart (LabelStore.makeNext): a loop that makes label texts, at its pause points, when due (nextDue). */
function nextChunk(store: LabelStore, pause: Pause): Promise<void> {
  return apart(pause, [() => store.makeNext()]);
}

/**
 * A scrape's loops' pause point: the store's next chunk made apart when due (nextChunk), else
 * pause() when due() says so; undefined: neither, go on. One function for every loop: the next
 * chunk is due once in ~1,500 label texts, so a loop's own branch for it had not run in the /metrics
 * warm-up's scrapes and V8 deoptimised the first real one there (docs/performance.md, 2026-12-06 16:45).
 */
function pausePoint(store: LabelStore, pause: Pause, due: () => boolean): Promise<void> | undefined {
  if (store.nextDue) return nextChunk(store, pause);
  return due() ? pause() : undefined;
}

/**
 * How often (ms) a scrape's long loops ask pause() whether their slice is over (asker): asked every
 * 32-64 rows, each an await (the loop's frame suspended and copied, ~400 bytes), it was 7 of the
 * 33 MB a scrape of 10,000 services x 4 checked servers allocated (2026-12-06). The slices still
 * end as pause() says (SliceClock), their steps this long.
 */
const ASK_MS = 0.2;

/** Slots of the table a piece of the node_ipvs_*_total sums walks (sumTotals): a tenth of 40,000 slots' 7-8 ms of cold code. */
const SUM_STEP = 4096;

/** Whether to await pause() now: true at most once every ASK_MS (a scrape's loops ask it every 64-256 rows; a Slicer's own ask() instead where it has one). */
export function asker(): () => boolean {
  let next = 0;
  return () => {
    const now = performance.now();
    if (now < next) return false;
    next = now + ASK_MS;
    return true;
  };
}

/**
 * A family's text (HELP, TYPE, a line per row), pause() asked every 256 rows once due() says so: a
 * row takes ~0.25 µs, so ~64 µs of rows between two asks, well under ASK_MS. Asked every 64 rows until
 * 2026-12-06, asker's performance.now() (a number boxed at each call) was 0.26 of the 1.66 MB a scrape
 * of 10,000 services x 4 checked servers allocated.
 */
async function renderFamily<S>(f: Family<S>, sc: S, store: LabelStore, out: ByteOut, pause: Pause, due: () => boolean): Promise<void> {
  out.text(`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`);
  const pre = Buffer.from(`${f.name}{`);
  for (const r of f.rows(sc)) {
    for (let i = 0; i < r.n; i++) {
      if (r.has === undefined || r.has(i)) out.sampleOf(pre, store, r.label(i), r.suffix, r.value(i), r.micros);
      if ((i & 255) === 255) {
        const pp = pausePoint(store, pause, due);
        if (pp !== undefined) await pp;
      }
    }
  }
  if (f.samples === undefined) return;
  const fill = f.samples();
  const x: LabelledValue = { lbl: 0, value: 0 };
  for (let i = 1; fill(x); i++) {
    out.sampleOf(pre, store, x.lbl, undefined, x.value);
    if ((i & 63) === 0) {
      const pp = pausePoint(store, pause, due);
      if (pp !== undefined) await pp;
    }
  }
}

/** A histogram from bucket counts kept elsewhere (prom-client's Histogram only observes one value at a time); none: no samples. */
function histogram(reg: Registry, name: string, help: string, read: () => BucketCounts | undefined): void {
  const metric = {
    name, help, type: 'histogram', aggregator: 'sum',
    get: async () => {
      const h = read();
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      if (h !== undefined) {
        let cum = 0;
        h.bounds.forEach((le, i) => {
          cum += h.counts[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { le }, value: cum });
        });
        cum += h.counts[h.bounds.length]!;
        values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: cum });
        values.push({ metricName: `${name}_sum`, labels: {}, value: h.sum });
        values.push({ metricName: `${name}_count`, labels: {}, value: cum });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  reg.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}

/** A histogram of integer values from counts per value: c[n] observations of n, the last slot holding everything larger. */
function histogramFromCounts(reg: Registry, name: string, help: string, bounds: number[], counts: () => Float64Array): void {
  histogram(reg, name, help, () => {
    const c = counts();
    const buckets = new Float64Array(bounds.length + 1);
    let sum = 0;
    let i = 0;
    for (let n = 0; n < c.length; n++) {
      while (i < bounds.length && n > bounds[i]!) i++;
      buckets[i] += c[n];
      sum += n * c[n];
    }
    return { bounds, counts: buckets, sum };
  });
}

/**
 * A family placed among prom-client's metrics (its place in the text; Registry.metrics() renders
 * it too) whose text a scrape renders itself with renderFamily: a per-service gauge through
 * Gauge.set held the loop 8-35 ms per scrape of 3,000 services.
 */
function registryFamily(reg: Registry, own: Map<string, Family<undefined>>, name: string, help: string, read: () => Iterable<Sample>,
  rendered: () => HealthCursor<LabelledValue>): void {
  const metric = {
    name, help, type: 'gauge', aggregator: 'sum',
    get: async () => ({ name, help, type: 'gauge', aggregator: 'sum', values: [...read()].map(([labels, value]) => ({ labels, value })) }),
  };
  reg.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  // Its rows made as walked, a few between pauses (10,000 quorums with their labels made at once:
  // 2-4 ms a family), each label text kept from scrape to scrape (rendered()).
  own.set(name, { name, type: 'gauge', help, rows: () => [], samples: rendered });
}

export interface Metrics {
  /** prom-client's registry: everything but the per-service, per-server and per-checker families. */
  registry: Registry;
  census: StateCensus;
  /**
   * The whole exposition for /metrics as UTF-8 (registry text, then the families), rendered in
   * slices (MetricsOptions.slicer) and handed to `block` a block (~256 KB) at a time as it is made;
   * written into the buffers take() gives where it gives one (the metrics server's, sent before).
   */
  stream(block: (b: Buffer) => void, take?: () => Buffer | undefined): Promise<void>;
  /** stream()'s blocks joined (in one piece: tests, benchmarks; the metrics server sends the blocks). */
  body(): Promise<Buffer>;
  /** body() as a string (decoded in one piece: tests). */
  text(): Promise<string>;
}

export function createMetrics(dp: Datapath, opts: MetricsOptions = {}): Metrics {
  const reg = new Registry();
  const own = new Map<string, Family<undefined>>();
  const fams: Family[] = [];
  const perDest = opts.perDest ?? true;
  const perChecker = opts.perChecker ?? true;
  const slicer = opts.slicer ?? plainSlicer;
  const dt = dp.dt;
  const census = new StateCensus(dp.ct);
  const family = (type: Family['type'], name: string, help: string, rowsOf: (sc: Scrape) => Rows[]): void => {
    fams.push({ name, type, help, rows: rowsOf });
  };
  // What the families render, with the label texts, gathered once per scrape in slices. The scrape
  // lets the datapath run between its slices: a service or real server deleted meanwhile (its
  // slot's generation changed) is left out of what is rendered after that.
  const liveSvc = (s: SvcRuntime) => dp.services[s.id] === s;
  const liveDest = (d: number, i: number, sc: Scrape) => dt.gen[d] === sc.destGen[i];
  // The label texts of the services and servers, kept from scrape to scrape (making them was a
  // third of a scrape's CPU): a service's for its life, a server's while its slot keeps its
  // generation (and, for uvs_dest_info, its forwarding method). Their bytes in one store, each
  // name's id in typed arrays by service id or slot (a Buffer and an object per server until
  // 2026-12-06: 41 MB of JS heap the first scrape of 10,000 x 4 made and its scavenges promoted).
  const store = new LabelStore();
  // Texts no longer named: dropped (their ids and bytes taken again) once no scrape renders.
  const dropLater: number[] = [];
  let rendering = 0;
  const drop = (id: number): void => {
    if (id >= 0) dropLater.push(id);
  };
  // By service id: the service named, its serviceId, its label text (id), uvs_service_info's (-1: not yet) for the scheduler named.
  // Made large enough before a scrape names them (gather): room() here only for a service added meanwhile.
  const svcOf = new Column<SvcRuntime>();
  const svcId = new Column<string>();
  let svcLbl = new Int32Array(0);
  let svcInfo = new Int32Array(0);
  const svcSched = new Column<string>();
  /** The services named, by the numbers the datapath finds them by (address or mark, svcKey): a checked server's (slotOf). */
  const svcAt = new U32PairMap();
  const svcNamesOf = (s: SvcRuntime): void => {
    const j = s.id;
    const was = svcOf.get(j);
    if (was === s) return;
    if (was !== undefined) {
      drop(svcLbl[j]!);
      drop(svcInfo[j]!);
      if (svcAt.get(was.vip, svcKey(was.proto, was.port)) === j) svcAt.delete(was.vip, svcKey(was.proto, was.port));
    }
    svcLbl = room(svcLbl, j);
    svcInfo = room(svcInfo, j);
    svcOf.set(j, s);
    svcId.set(j, serviceIdOf(s));
    svcLbl[j] = store.addFrom(putService(w.start(), s));
    svcInfo[j] = -1;
    svcAt.set(s.vip, svcKey(s.proto, s.port), j);
  };
  // By slot: the generation + 1 named (0: none) and forwarding method, its key (serviceId and server,
  // as HealthView.stateOfKey takes it), its label texts: lbl, node_exporter's (backend,
  // node_ipvs_backend_*), lbl with the forwarding method (info, uvs_dest_info). As many as the table
  // has slots, made once (their pages taken as they are written): grown as slots were named, by
  // doubling, each growth was a copy of 64-512 KB in a scrape's step of rows (docs/performance.md).
  const destGen = new Float64Array(dt.max);
  const destFwd = new Int32Array(dt.max);
  const destLbl = new Int32Array(dt.max);
  const destBackend = new Int32Array(dt.max);
  const destInfo = new Int32Array(dt.max);
  const destKey = new Column<string>();
  const destNamesOf = (s: SvcRuntime, d: number): void => {
    if (destGen[d] === dt.gen[d]! + 1 && destFwd[d] === dt.fwd[d]) return;
    if (destGen[d] !== 0) {
      drop(destLbl[d]!);
      drop(destBackend[d]!);
      drop(destInfo[d]!);
    }
    const rip = dt.addr[d]!;
    const port = dt.port[d]!;
    destGen[d] = dt.gen[d]! + 1;
    destFwd[d] = dt.fwd[d]!;
    putService(w.start(), s).raw(',server="').ip(rip).raw(':').num(port).raw('"');
    destLbl[d] = store.addFrom(w);
    destInfo[d] = store.addFrom(w.raw(',fwd="').raw(FWD_NAMES[dt.fwd[d]!] ?? String(dt.fwd[d])).raw('"'));
    // node_exporter's labels for a -f service: no address, port 0, proto FWM, the mark as
    // /proc/net/ip_vs prints it (%08X).
    const mark = fwmarkOf(s);
    w.start().raw('local_address="');
    if (mark === 0) w.ip(s.vip);
    w.raw('",local_port="').num(s.port).raw('",remote_address="').ip(rip).raw('",remote_port="').num(port)
      .raw('",proto="').raw(mark === 0 ? L4_UPPER[l4Name(s.proto)] : 'FWM').raw('",local_mark="');
    if (mark !== 0) w.hex8(mark);
    destBackend[d] = store.addFrom(w.raw('"'));
    destKey.set(d, w.start().raw(svcId.get(s.id)!).raw(' ').ip(rip).raw(':').num(port).text());
  };
  /**
   * The slot of the checked server at place i of the health checks' list (`x`, its service and
   * address) as gathered at this scrape (`inTable`), or -1: none (not in the table). The slot kept
   * with the place while it names the same server and this scrape gathered it; else found by its
   * service's numbers and its servers (it may have moved while its old slot, named by no scrape
   * since, was taken and let go).
   */
  const slotOf = (i: number, x: CheckedServer, inTable: Uint8Array): number => {
    const c = watchedNames;
    const was = c.slot[i]!;
    if (was >= 0 && destGen[was] === c.slotName[i] && inTable[was] === 1) return was;
    const k = x.service;
    const fwm = k.fwmark !== undefined && k.fwmark !== 0;
    const vip = fwm ? k.fwmark! : parseIp(k.addr);
    const proto = fwm ? PROTO_FWM : L4_NUM[k.proto];
    const rip = parseIp(x.addr);
    if (vip < 0 || proto === undefined || rip < 0) return -1;
    const j = svcAt.get(vip, svcKey(proto, fwm ? 0 : k.port));
    const s = j < 0 ? undefined : svcOf.get(j);
    if (s === undefined || dp.services[j] !== s) return -1;
    for (const d of s.dests) {
      if (dt.addr[d] === (rip | 0) && dt.port[d] === x.port && inTable[d] === 1) {
        c.slot[i] = d;
        c.slotName[i] = destGen[d]!;
        return d;
      }
    }
    return -1;
  };
  // The label texts of the checked servers (uvs_dest_up of those out of the table, of all with
  // --no-metrics-per-dest) and of their checkers (uvs_health_check_*), kept from scrape to scrape
  // by their place in the health checks' lists and made again where what they name differs (a
  // reload that changed the checked servers or their checkers): making them was the largest part
  // of a scrape's CPU left (3,000 services x 3 checked servers, docs/metrics.md).
  const watchedNames = new CheckedCols();
  const checkNames = new CheckedCols();
  /** The label text (its id) of the i-th of `c`'s list, made where it names another. */
  const checkedNamesOf = (c: CheckedCols, i: number, x: CheckedServer, type = '', index = 0): number => {
    const k = x.service;
    if (i < c.n && c.addr.get(i) === x.addr && c.port[i] === x.port && c.type.get(i) === type && c.index[i] === index && c.proto.get(i) === k.proto &&
      c.vaddr.get(i) === k.addr && c.vport[i] === k.port && c.fwmark[i] === (k.fwmark ?? 0)) return c.lbl[i]!;
    if (i < c.n) drop(c.lbl[i]!);
    else {
      c.n = i + 1;
      if (!c.fits(i + 1)) for (const g of c.grows(i + 1)) g(); // none: gather made them large enough before
    }
    c.proto.set(i, k.proto);
    c.vaddr.set(i, k.addr);
    c.vport[i] = k.port;
    c.fwmark[i] = k.fwmark ?? 0;
    c.addr.set(i, x.addr);
    c.port[i] = x.port;
    c.type.set(i, type);
    c.index[i] = index;
    c.slot[i] = -1;
    putServiceKey(w.start(), k).raw(',server="').value(x.addr).raw(':').num(x.port).raw('"');
    if (type !== '') w.raw(',checker="').value(type).raw('",check="').num(index).raw('"');
    return (c.lbl[i] = store.addFrom(w));
  };
  /** `c`'s list is `n` long now. */
  const checkedEnd = (c: CheckedCols, n: number): void => {
    for (let i = n; i < c.n; i++) drop(c.lbl[i]!);
    c.n = Math.min(c.n, n);
    for (const a of [c.proto, c.vaddr, c.addr, c.type]) a.cut(c.n);
  };
  /** Scrapes' lists kept for the next scrapes (a scrape takes one, or makes one, and puts it back at its end). */
  const spareScrapes: Scrape[] = [];
  /** The scrape's lists of the checked servers (watched) and their checkers (checks), with their names' columns: growths for room for n. */
  const watchedGrows = (sc: Scrape, n: number): (() => void)[] => {
    const out = watchedNames.grows(n);
    if (sc.watched.length < n) out.push(() => (sc.watched = room(sc.watched, n - 1)));
    if (sc.watchedUp.length < n) out.push(() => (sc.watchedUp = room(sc.watchedUp, n - 1)));
    return out;
  };
  const checksGrows = (sc: Scrape, n: number): (() => void)[] => {
    const out = checkNames.grows(n);
    if (sc.checks.length < n) out.push(() => (sc.checks = room(sc.checks, n - 1)));
    if (sc.checkStats.length < n * CHECK_STATS) out.push(() => (sc.checkStats = room(sc.checkStats, n * CHECK_STATS - 1)));
    return out;
  };
  /**
   * How many servers the table has (about as many checked servers and checkers are reckoned with),
   * after the columns by service and the label store are given room for the scrape's names, before
   * any is made (apart; the quorums' are made first, among prom-client's metrics): they grew as the
   * names were made until 2026-12-06 (the typed ones by doubling, the others by V8's 1.5 times, the
   * Map of the servers' keys by rehashing: 2-9 ms each, 22-32 slices of the first scrape of 10,000
   * x 4 over 2 ms).
   */
  const reserveNames = async (pause: Pause, due: () => boolean): Promise<number> => {
    const svcs = dp.services;
    let nSvc = 0;
    let nServers = 0;
    for (let j = 0; j < svcs.length; j++) {
      const s = svcs[j];
      if (s === undefined) continue;
      nSvc++;
      nServers += s.dests.length;
      if ((j & 4095) === 4095 && due()) await pause();
    }
    const health = opts.health;
    // Texts: each service's two (uvs_service_info's too), each server's three, each checked server's and checker's (about one per server each), each quorum's.
    const texts = 2 * nSvc + (perDest ? 3 * nServers : 0) + (health === undefined ? 0 : 2 * nServers + nSvc);
    const grows: (() => unknown)[] = [];
    // The store's three id columns and the map's three arrays and its growth: a piece each.
    if (store.len.length < texts) grows.push(...Array<() => boolean>(3).fill(() => store.reserve(texts)));
    if (!svcAt.fits(nSvc)) grows.push(...Array<() => boolean>(4).fill(() => svcAt.reserve(nSvc)));
    if (svcLbl.length < svcs.length) grows.push(() => (svcLbl = room(svcLbl, svcs.length - 1)));
    if (svcInfo.length < svcs.length) grows.push(() => (svcInfo = room(svcInfo, svcs.length - 1)));
    await apart(pause, grows);
    return nServers;
  };
  /** The scrape's lists and names; nServers: how many servers the table had (reserveNames). */
  const gather = async (pause: Pause, due: () => boolean, nServers: number): Promise<Scrape> => {
    // The lists by place in the table are as long as it has slots (their pages taken as written).
    const sc: Scrape = spareScrapes.pop() ?? {
      nServices: 0, nDests: 0, nWatched: 0, nChecks: 0, inTable: new Uint8Array(0), services: new Column(),
      dests: new Int32Array(perDest ? dt.max : 0), destGen: new Float64Array(perDest ? dt.max : 0), destHealth: new Uint8Array(perDest ? dt.max : 0),
      watched: new Int32Array(0), watchedUp: new Uint8Array(0), checks: new Int32Array(0), checkStats: new Float64Array(0),
      entries: entryWalk(), checkers: checkerWalk(),
    };
    sc.nServices = sc.nDests = sc.nWatched = sc.nChecks = 0;
    const health = opts.health;
    const svcs = dp.services;
    // The slots of the servers gathered here (with health checks): which checked servers are in the
    // table. A Set of their keys made at every scrape was 40,000 insertions and its rehashes.
    let inTable: Uint8Array | undefined;
    if (perDest && health !== undefined) {
      inTable = sc.inTable = sc.inTable.length === dt.max ? sc.inTable : new Uint8Array(dt.max);
      inTable.fill(0);
    }
    // The health of a server looked up by the key its names keep (no string made per server), where the view can.
    const stateOfKey = health?.stateOfKey?.bind(health);
    // pause() asked every 32 services or servers once due (asker: each await is a promise and the
    // function's state kept; one per service was ~100 bytes per server at every scrape).
    let work = 0;
    for (let j = 0; j < svcs.length; j++) {
      const s = svcs[j];
      if (s === undefined) continue;
      svcNamesOf(s);
      sc.services.set(sc.nServices++, s);
      work += 1 + (perDest ? s.dests.length : 0);
      if (work >= 32) {
        work = 0;
        const pp = pausePoint(store, pause, due);
        if (pp !== undefined) await pp;
      }
      if (!perDest) continue;
      const ds = s.dests;
      for (let j = 0; j < ds.length; j++) {
        const d = ds[j]!;
        destNamesOf(s, d);
        const k = sc.nDests++; // < dt.max: a slot is in one service
        sc.dests[k] = d;
        sc.destGen[k] = dt.gen[d]!;
        sc.destHealth[k] = HEALTH_CODE[health === undefined ? 'unchecked' : stateOfKey !== undefined ? stateOfKey(destKey.get(d)!) : health.stateOf(serviceKeyOf(s), formatIp(dt.addr[d]), dt.port[d])];
        if (inTable !== undefined) inTable[d] = 1;
      }
    }
    if (health === undefined) return sc;
    // The checked servers: with the per-server series only those the checks took out of the table.
    // Their lists made as walked when the view can (HealthView.eachEntry), a few between pauses.
    // Room for about a checked server per server (more: grown apart as the list passes it).
    await apart(pause, watchedGrows(sc, nServers));
    let i = 0;
    for (const e of healthRows.entries(health, sc.entries)) {
      if (i >= sc.watched.length || i >= watchedNames.lbl.length) await apart(pause, watchedGrows(sc, 2 * i));
      const lbl = checkedNamesOf(watchedNames, i, e);
      const dn = inTable === undefined ? -1 : slotOf(i, e, inTable);
      if (inTable === undefined || dn < 0 || inTable[dn] !== 1) {
        const k = sc.nWatched++;
        sc.watched[k] = lbl;
        sc.watchedUp[k] = e.state === 'up' ? 1 : 0;
      }
      if ((++i & 63) === 0) {
        const pp = pausePoint(store, pause, due);
        if (pp !== undefined) await pp;
      }
    }
    checkedEnd(watchedNames, i);
    if (!perChecker) return sc;
    await pause();
    // Room for as many checkers as checked servers, at least (more: grown apart as the list passes it).
    await apart(pause, checksGrows(sc, Math.max(i, nServers)));
    i = 0;
    for (const c of healthRows.checkerStats(health, sc.checkers)) {
      if (i >= sc.checks.length || i >= checkNames.lbl.length) await apart(pause, checksGrows(sc, 2 * i));
      sc.checks[sc.nChecks++] = checkedNamesOf(checkNames, i, c, c.type, c.index);
      const at = i * CHECK_STATS;
      const st = sc.checkStats;
      st[at + CHECK_UP] = c.up ? 1 : 0;
      st[at + CHECK_PASSED] = c.passed;
      st[at + CHECK_FAILED] = c.failed;
      st[at + CHECK_NOT_RUN] = c.notRun;
      st[at + CHECK_LAST_US] = Math.round(c.lastMs * 1000);
      if ((++i & 63) === 0) {
        const pp = pausePoint(store, pause, due);
        if (pp !== undefined) await pp;
      }
    }
    checkedEnd(checkNames, i);
    return sc;
  };
  if (opts.process ?? true) {
    collectDefaultMetrics({ register: reg });
    // Gauges named *_total (promtool check metrics refuses them); nodejs_active_handles and
    // nodejs_active_requests, also among the defaults, say the same per type.
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) reg.removeSingleMetric(n);
  }

  // ---- node_exporter's ipvs collector, same names, help and labels ------------------------
  // Summed over every server: a scrape sums the five in one pass over the slots' arrays before the
  // registry's text (sumTotals), where each counter walked the services' servers through dt.total
  // on its own (~1 ms each at 40,000).
  let summed: Float64Array | undefined;
  /** The used slots from..to-1 added into v (STAT_* order, as kept), each stat in slot order. */
  const sumSlots = (v: Float64Array, from: number, to: number): void => {
    const { flags, kept, conns, inPkts, inBytes, outPkts, outBytes } = dt;
    for (let d = from; d < to; d++) {
      if ((flags[d]! & DEST_F_USED) === 0) continue;
      const k = d * 5;
      v[0] += kept[k]! + conns[d]!;
      v[1] += kept[k + 1]! + inPkts[d]!;
      v[2] += kept[k + 2]! + inBytes[d]!;
      v[3] += kept[k + 3]! + outPkts[d]!;
      v[4] += kept[k + 4]! + outBytes[d]!;
    }
  };
  const sumWhole = (): Float64Array => {
    const v = dt.retired.slice();
    sumSlots(v, 0, dt.max);
    return v;
  };
  /**
   * The five sums in pieces of SUM_STEP slots, pause() asked between them: in one piece the walk of
   * 40,000 slots held the loop 7-8 ms of its CPU in the first two scrapes after a start (its code
   * interpreted, cold; ~0.8 ms once optimised; 2026-12-06: "prom-client's cold slice"). A server released among the pieces
   * moves its numbers into `retired` (counted twice or not at all here): the walk is done again,
   * a third time in one piece, so a counter never goes down.
   */
  const sumTotals = async (pause: Pause, due: () => boolean): Promise<Float64Array> => {
    for (let tries = 0; tries < 2; tries++) {
      const r0 = dt.retired.slice();
      const v = r0.slice();
      for (let d = 0; d < dt.max; d += SUM_STEP) {
        if ((d > 0 || tries > 0) && due()) await pause();
        sumSlots(v, d, Math.min(d + SUM_STEP, dt.max));
      }
      const r = dt.retired;
      if (r[0] === r0[0] && r[1] === r0[1] && r[2] === r0[2] && r[3] === r0[3] && r[4] === r0[4]) return v;
    }
    return sumWhole();
  };
  const total = (stat: number) => () => (summed ?? sumWhole())[stat]!;
  counter(reg, 'node_ipvs_connections_total', 'The total number of connections made.', [], total(STAT_CONNS));
  counter(reg, 'node_ipvs_incoming_packets_total', 'The total number of incoming packets.', [], total(STAT_IN_PKTS));
  counter(reg, 'node_ipvs_outgoing_packets_total', 'The total number of outgoing packets.', [], total(STAT_OUT_PKTS));
  counter(reg, 'node_ipvs_incoming_bytes_total', 'The total amount of incoming data.', [], total(STAT_IN_BYTES));
  counter(reg, 'node_ipvs_outgoing_bytes_total', 'The total amount of outgoing data.', [], total(STAT_OUT_BYTES));
  if (perDest) {
    // node_exporter sums backends with identical labels; (service, server) is unique here.
    const perBackend = (value: (d: number) => number) => (sc: Scrape) => [rows(sc.dests, sc.nDests, (d) => destBackend[d]!, value, { has: (d, i) => liveDest(d, i, sc) })];
    family('gauge', 'node_ipvs_backend_connections_active', 'The current active connections by local and remote address.', perBackend((d) => dt.active[d]));
    family('gauge', 'node_ipvs_backend_connections_inactive', 'The current inactive connections by local and remote address.', perBackend((d) => dt.inactive[d]));
    family('gauge', 'node_ipvs_backend_weight', 'The current backend weight by local and remote address.', perBackend((d) => dt.weight[d]));
  }

  // ---- uvs: link and datapath --------------------------------------------------------------
  const c = dp.counters.c;
  COUNTER_NAMES.forEach((n, i) => {
    if (n !== 'arp_conflicts') counter(reg, `uvs_${n}_total`, COUNTER_HELP[n], [], () => c[i]);
  });
  // By address: uvsd's own (and those it probes), a series from an address's first conflict on.
  counter(reg, 'uvs_arp_conflicts_total', `${COUNTER_HELP.arp_conflicts} By address (addr).`, ['addr'],
    () => [...(dp.link.conflictsByAddr ?? [])].map(([ip, n]): Sample => [{ addr: formatIp(ip) }, n]));
  counter(reg, 'uvs_drops_total', 'Frames dropped, by reason (docs/metrics.md lists the reasons).', ['reason'],
    () => DROP_NAMES.map((reason, i): Sample => [{ reason }, dp.counters.d[i]]));
  histogramFromCounts(reg, 'uvs_batch_frames', 'Frames per receive batch (one read from the TAP).', BATCH_BUCKETS, () => dp.counters.batch);

  const portDrops = opts.portDrops;
  if (portDrops !== undefined) {
    counter(reg, 'uvs_port_drops_total', 'Frames lost before uvsd read them, by reason: queue_full (the TAP\'s queue of --tap-qlen frames was full: the interface\'s tx_dropped since uvsd opened it), ring_full and too_long (the ring backend).', ['reason'],
      () => Object.entries(portDrops() ?? {}).map(([reason, v]): Sample => [{ reason }, v]));
  }

  const link = opts.link;
  if (link !== undefined) {
    gauge(reg, 'uvs_link_up', '1 while uvsd\'s interface is up and in its --bridge (uvsadm --status "link"), 0 while it is down, out of the bridge or missing.', ['iface'],
      () => { const st = link(); return [[{ iface: st.iface }, st.ok ? 1 : 0]]; });
  }

  const bgp = opts.bgp;
  if (bgp !== undefined) {
    gauge(reg, 'uvs_bgp_up', '1 while BIRD announces what uvsd wants (uvsadm --status "bgp ok"): it runs the include uvsd wrote with all its routes and at least one BGP session is Established; 0 while it is unreachable, refuses or lacks the include, has no session up, or has not taken it yet.', [],
      () => (bgp().status.state === 'ok' ? 1 : 0));
    gauge(reg, 'uvs_bgp_vips', 'VIPs in the include uvsd wrote for BIRD (announced while uvs_bgp_up is 1).', [], () => bgp().status.announced.length);
    gauge(reg, 'uvs_bgp_sessions_established', "BIRD's BGP sessions in state Established at uvsd's last look (every 5 s).", [], () => bgp().status.established);
    gauge(reg, 'uvs_director_draining', '1 while the director drains (uvsadm --drain: its routes withdrawn), else 0.', [], () => (bgp().draining ? 1 : 0));
  }

  // ---- workers (uvsd --workers N): each one's share, to see one worker busier than the others ----
  const workers = opts.workers;
  if (workers !== undefined) {
    const per = (k: 'rx_frames' | 'fwd_packets' | 'fwd_out_packets' | 'handoff_out' | 'conns' | 'conn_max') => (): Sample[] =>
      workers().map((w): Sample => [{ worker: String(w.worker) }, w[k]]);
    counter(reg, 'uvs_worker_rx_frames_total', 'Frames a worker read from its TAP queue (uvsd --workers).', ['worker'], per('rx_frames'));
    counter(reg, 'uvs_worker_fwd_packets_total', 'A worker\'s uvs_fwd_packets_total: packets of connections from clients towards real servers, relayed ICMP errors included (uvsd --workers).', ['worker'], per('fwd_packets'));
    counter(reg, 'uvs_worker_fwd_out_packets_total', 'Server replies a worker forwarded to clients (NAT, FULLNAT; uvsd --workers).', ['worker'], per('fwd_out_packets'));
    counter(reg, 'uvs_worker_handoff_out_total', 'Frames a worker handed to the worker holding their connection (uvsd --workers).', ['worker'], per('handoff_out'));
    gauge(reg, 'uvs_worker_conn_table_entries', 'Connection entries a worker holds (its share of --conn-max; uvsd --workers).', ['worker'], per('conns'));
    gauge(reg, 'uvs_worker_conn_table_capacity', 'A worker\'s connection table size: its share of --conn-max, ceil(conn-max / workers), which it evicts from and switches secure TCP on (uvsd --workers).', ['worker'], per('conn_max'));
    gauge(reg, 'uvs_worker_secure_tcp', '1 while a worker is in secure TCP: its own table is above --secure-tcp-above (uvsd --workers).', ['worker'],
      () => workers().map((w): Sample => [{ worker: String(w.worker) }, w.secure_tcp ? 1 : 0]));
  }

  // ---- high availability (docs/ha.md) --------------------------------------------------------
  gauge(reg, 'uvs_ha_master', '1 while this director is master (answers for VIPs and forwards), 0 while backup; with HA groups, 1 while master of every group.', [], () => (dp.link.active ? 1 : 0));
  gauge(reg, 'uvs_ha_group_master', '1 while this director is master of the HA group (uvsd --ha-group; "default": the addresses of no group), 0 while backup.', ['group'], () => {
    const names = dp.link.groupNames;
    if (names.length === 1) return [];
    return dp.link.roles().map((m, i): Sample => [{ group: names[i]! }, m ? 1 : 0]);
  });
  const sync = opts.sync;
  if (sync !== undefined) {
    counter(reg, 'uvs_sync_messages_sent_total', 'Connection sync datagrams sent (data and dump requests).', [], () => sync.sent);
    counter(reg, 'uvs_sync_messages_received_total', 'Authenticated connection sync datagrams received for this director\'s syncid.', [], () => sync.received);
    counter(reg, 'uvs_sync_messages_other_syncid_total', 'Authenticated connection sync datagrams ignored: for another syncid than the daemon that would take them (a backup with syncid 0 takes every syncid).', [], () => sync.otherSyncid);
    counter(reg, 'uvs_sync_messages_from_master_total', 'Connection sync data dropped because this director is master too: another master sends (a split brain, or the moment of a switch).', [], () => sync.fromMaster);
    counter(reg, 'uvs_sync_messages_lost_total', 'Connection sync datagrams missed (gaps in the sender\'s sequence numbers).', [], () => sync.lost);
    counter(reg, 'uvs_sync_messages_replayed_total', 'Authenticated connection sync datagrams refused: their sender\'s sequence number was heard already (replayed or duplicated).', [], () => sync.replayed);
    counter(reg, 'uvs_sync_messages_old_total', 'Authenticated connection sync datagrams refused: their sequence number is older than the anti-replay window (1024 behind the sender\'s newest: very late, or replayed).', [], () => sync.old);
    counter(reg, 'uvs_sync_messages_auth_failed_total', 'Connection sync datagrams refused: wrong HMAC (forged, or another key).', [], () => sync.authFailed);
  }

  // ---- the state file (uvsd --state-file) ------------------------------------------------------
  const stateFile = opts.stateFile;
  if (stateFile !== undefined) {
    gauge(reg, 'uvs_state_file_write_failing', '1 while uvsd cannot write its --state-file (changes are not saved; uvsadm --status "state_file" says why), else 0.', [],
      () => (stateFile().failingSince !== undefined ? 1 : 0));
    gauge(reg, 'uvs_state_file_refused', '1 when the --state-file was refused whole at start (kept aside; uvsd started without it), else 0.', [],
      () => (stateFile().atStart?.leftOut === -1 ? 1 : 0));
    gauge(reg, 'uvs_state_file_left_out', 'Entries (servers or services) of the --state-file this uvsd refused at start and restored the rest without (the file kept aside), else 0.', [],
      () => Math.max(0, stateFile().atStart?.leftOut ?? 0));
  }

  // ---- uvsd's log output and control socket (docs/resilience.md) ----------------------------
  const logOutput = opts.logOutput;
  if (logOutput !== undefined) {
    counter(reg, 'uvs_log_lines_dropped_total', 'Log lines uvsd dropped because writing them to its stdout failed (a full disk: ENOSPC, EDQUOT; EIO) or too many waited (uvsadm --status "log_lines_dropped"); uvsd goes on.', [],
      () => logOutput()?.dropped ?? []);
    gauge(reg, 'uvs_log_output_failing', '1 while writes of uvsd\'s log to its stdout fail (its lines dropped, counted in uvs_log_lines_dropped_total), else 0.', [],
      () => { const l = logOutput(); return l === undefined ? [] : l.failingSince !== undefined ? 1 : 0; });
  }
  const controlSocket = opts.controlSocket;
  if (controlSocket !== undefined) {
    counter(reg, 'uvs_control_socket_rebound_total', 'Times uvsd bound its control socket again because its file was removed (uvsadm --status "control_socket").', [],
      () => controlSocket()?.rebound ?? []);
  }

  // ---- connection table --------------------------------------------------------------------
  gauge(reg, 'uvs_conn_table_entries', 'Connection entries in use.', [], () => dp.ct.count);
  gauge(reg, 'uvs_conn_table_capacity', 'Connection table size (uvsd --conn-max).', [], () => dp.ct.max);
  gauge(reg, 'uvs_secure_tcp', '1 while secure TCP is on: the table is above --secure-tcp-above and half-open TCP entries time out in seconds (with --workers: while any worker is, each deciding from its own share of the table).', [], () => (dp.secureTcp ? 1 : 0));
  counter(reg, 'uvs_conn_table_insert_failures_total', 'New connections refused because the table was full (same as uvs_drops_total{reason="conn_table_full"}).', [],
    () => dp.counters.d[D.conn_table_full]);
  gauge(reg, 'uvs_conn_table_entries_by_state', 'Connection entries by state (TCP states as ipvsadm -Lnc names them, UDP for UDP entries, SCTP_<state> for SCTP ones; persistence templates NONE or ASSURED, as -Lnc), from the last complete walk of the table.', ['state'],
    () => {
      const counts = opts.states?.() ?? census.counts;
      return ENTRY_STATE_LABELS.map((state, i): Sample => [{ state }, counts[i]]);
    });

  // ---- neighbours (ARP) ----------------------------------------------------------------------
  const neigh = opts.neigh ?? (() => ({ entries: dp.neigh.count, unresolved: dp.neigh.unresolved() }));
  const laddrs = opts.laddrs ?? (() => dp.laddrs.usage());
  gauge(reg, 'uvs_laddr_ports_in_use', 'FULLNAT local ports held by connections, per local address (LIP) and protocol (DPVS --get-laddr CONNS); new connections find none free at the range size (64,512 per protocol by default: laddr_exhausted drops).', ['laddr', 'proto'],
    () => laddrs().flatMap((u): Sample[] => [[{ laddr: formatIp(u.addr), proto: 'tcp' }, u.tcp], [{ laddr: formatIp(u.addr), proto: 'udp' }, u.udp]]));
  counter(reg, 'uvs_laddr_conflicts_total', 'Times a FULLNAT local port was wanted on this LIP and none was free (a new connection: the range full, it tried the next LIP or was dropped; a synced one: its port taken) (DPVS --get-laddr CONFLICTS).', ['laddr'],
    () => laddrs().map((u): Sample => [{ laddr: formatIp(u.addr) }, u.conflicts]));
  gauge(reg, 'uvs_neigh_entries', 'Neighbour (ARP) table entries in use (with --workers summed over the workers\' tables).', [], () => neigh().entries);
  gauge(reg, 'uvs_neigh_unresolved', 'Neighbour entries still waiting for an ARP reply (with --workers summed over the workers\' tables).', [], () => neigh().unresolved);
  gauge(reg, 'uvs_neigh_capacity', 'Neighbour table size.', [], () => dp.neigh.size);

  // ---- services ------------------------------------------------------------------------------
  // One series per service (thousands of them): rendered to text as the per-server families are
  // (through prom-client, 2,000 services took 10-50 ms per family).
  /** The scrape's services as rows (rows(), its list a Column). */
  const svcRows = (sc: Scrape, label: (s: SvcRuntime) => number, value: (s: SvcRuntime) => number): Rows => {
    const at = (i: number): SvcRuntime => sc.services.get(i)!;
    return { n: sc.nServices, label: (i) => label(at(i)), value: (i) => value(at(i)), has: (i) => liveSvc(at(i)) };
  };
  const perService = (value: (s: SvcRuntime) => number) => (sc: Scrape) => [svcRows(sc, (s) => svcLbl[s.id]!, value)];
  // A service's own totals: its current servers' plus what its deleted servers had (SvcRuntime.retired).
  const serviceTotal = (stat: number) => perService((s) => serviceStat(dt, s, stat, false));
  family('gauge', 'uvs_service_info', 'Virtual services (value 1) with their scheduler.',
    (sc) => [svcRows(sc, (s) => {
      // Kept with the service's names while its scheduler is the same (made at every scrape until 2026-12-05).
      const sched = s.scheduler.name;
      const j = s.id;
      if (svcOf.get(j) !== s) return -1; // deleted meanwhile: left out (has)
      if (svcInfo[j] === -1 || svcSched.get(j) !== sched) {
        drop(svcInfo[j]!);
        svcInfo[j] = store.addFrom(putService(w.start(), s).raw(',scheduler="').value(sched).raw('"'));
        svcSched.set(j, sched);
      }
      return svcInfo[j]!;
    }, () => 1)]);
  family('gauge', 'uvs_service_destinations', 'Real servers in the service\'s table (as -Ln lists them; one the health checks removed is not counted, see uvs_dest_up).',
    perService((s) => s.dests.length));
  family('gauge', 'uvs_service_destinations_available', 'Real servers in the service\'s table with a weight above 0, which new connections can go to (an inhibit_on_failure server that failed its checks has weight 0; a sorry server in counts).',
    perService((s) => {
      let n = 0;
      for (const d of s.dests) if (dt.weight[d] > 0) n++;
      return n;
    }));
  family('counter', 'uvs_service_connections_total', 'Scheduling decisions per service: connections created, also to real servers since deleted (not reset by -Z).', serviceTotal(STAT_CONNS));
  family('counter', 'uvs_service_in_packets_total', 'Packets towards the real servers per service, also those since deleted (not reset by -Z).', serviceTotal(STAT_IN_PKTS));
  family('counter', 'uvs_service_in_bytes_total', 'Bytes towards the real servers per service (not reset by -Z).', serviceTotal(STAT_IN_BYTES));
  family('counter', 'uvs_service_out_packets_total', 'Packets from the real servers per service (0 for DR: replies bypass the director).', serviceTotal(STAT_OUT_PKTS));
  family('counter', 'uvs_service_out_bytes_total', 'Bytes from the real servers per service (0 for DR).', serviceTotal(STAT_OUT_BYTES));
  family('counter', 'uvs_service_no_dest_total', 'New connections to the service that found no real server available (every one down, at weight 0 or over its -x threshold), dropped: the service\'s share of uvs_drops_total{reason="no_dest"} (not reset by -Z).',
    perService((s) => dp.counters.svcNoDest[s.id]));
  // Health-checked services: the quorum that decides whether their servers or their sorry server are in the table.
  const quorum = (value: (q: HealthQuorum) => number) => function* (): Generator<Sample> {
    for (const q of quorumsOf(opts.health)) yield [serviceLabels(q.service), value(q)];
  };
  // As rendered: each service's label text kept by its place in the list while the service there
  // is the same (made for every quorum of each of the three families at every scrape until
  // 2026-12-05), one row object rewritten.
  const quorumNames: { proto: string; addr: string; port: number; fwmark: number; lbl: number }[] = [];
  // Walked with the view's cursor where it has one (healthRows), a row written at each step: no object per quorum.
  const quorumRendered = (value: (q: HealthQuorum) => number) => (): HealthCursor<LabelledValue> => {
    const qs = healthRows.quorums(opts.health, quorumWalk())[Symbol.iterator]();
    let i = 0;
    return (row) => {
      const r = qs.next();
      if (r.done === true) {
        for (let j = i; j < quorumNames.length; j++) drop(quorumNames[j]!.lbl);
        quorumNames.length = Math.min(quorumNames.length, i);
        return false;
      }
      const q = r.value;
      const k = q.service;
      let n = quorumNames[i];
      if (n === undefined || n.proto !== k.proto || n.addr !== k.addr || n.port !== k.port || n.fwmark !== (k.fwmark ?? 0)) {
        if (n !== undefined) drop(n.lbl);
        n = quorumNames[i] = { proto: k.proto, addr: k.addr, port: k.port, fwmark: k.fwmark ?? 0, lbl: store.addFrom(putServiceKey(w.start(), k)) };
      }
      i++;
      row.lbl = n.lbl;
      row.value = value(q);
      return true;
    };
  };
  const quorumFamily = (name: string, help: string, value: (q: HealthQuorum) => number): void =>
    registryFamily(reg, own, name, help, quorum(value), quorumRendered(value));
  quorumFamily('uvs_health_quorum_up', 'Quorum of a health-checked service: 1 while the weight of its alive servers meets quorum (keepalived\'s quorum, hysteresis), 0 below it.', (q) => (q.up ? 1 : 0));
  quorumFamily('uvs_health_sorry_in', '1 while the service\'s sorry_server is in the table in place of its real servers (quorum lost), else 0.', (q) => (q.sorryIn ? 1 : 0));
  quorumFamily('uvs_health_suspended', '1 while the service\'s health checks are suspended by ha_suspend (this director does not hold its VIP: backup of its HA group): its servers\' uvs_dest_up and its table are as last seen, not checked; else 0.', (q) => (q.suspended === true ? 1 : 0));
  // The checks' slots: a check due without one waits, and its checker runs late (docs/health.md).
  // With health checks configured (uvsd --config or --keepalived-conf); 0 while no checker runs.
  const hq = (value: (q: HealthQueue) => number) => (): number => {
    const q = opts.health?.queue?.();
    return q === undefined ? 0 : value(q);
  };
  if (opts.health?.queue !== undefined) {
    gauge(reg, 'uvs_health_checks_waiting', 'Health checks due and waiting for a slot: each starts late by as long as it waits (uvsd --health-concurrency, or the open-files limit, too low for the checkers).', [], hq((q) => q.waiting));
    gauge(reg, 'uvs_health_checks_in_flight', 'Health checks running now (each holds a slot).', [], hq((q) => q.inFlight));
    gauge(reg, 'uvs_health_checks_slots', 'Health checks that may run at once: --health-concurrency, else one per checker (at least 64) within half of the open-files limit.', [], hq((q) => q.slots));
    counter(reg, 'uvs_health_checks_not_run_total', 'Health check attempts that could not run because uvsd was out of file descriptors, memory or processes (no verdict, no state change; the per-checker uvs_health_check_attempts_total{result="not_run"} summed, kept with --no-metrics-per-checker).', [], () => opts.health?.notRunTotal ?? 0);
    counter(reg, 'uvs_health_refused_total', 'Table changes of the health checks the table refused (a server out or in, a weight-only change, a quorum\'s sorry server in or out; e.g. the service or server deleted by hand): each logged "health: control verb refused" and tried again at the next check.', [], () => opts.health?.refusedTotal ?? 0);
    histogram(reg, 'uvs_health_checks_start_delay_seconds', 'How late each health check attempt started after the time its delay_loop (or delay_before_retry) set: waiting for a slot, or a busy event loop.', () => opts.health?.startDelays?.());
  }

  // ---- destinations (real servers) -----------------------------------------------------------
  const UP_HELP = 'Health of the real server: 1 up, 0 down. A server no health checker watches counts as up (like LVS without keepalived); one the checks removed from the table stays here with 0, a healthy one held out while the quorum is lost with 1.';
  if (perDest) {
    family('gauge', 'uvs_dest_info', 'Real servers (value 1) with their forwarding method.',
      (sc) => [rows(sc.dests, sc.nDests, (d) => destInfo[d]!, () => 1, { has: (d, i) => liveDest(d, i, sc) })]);
    // After the table's servers, those the health checks took out of it (still watched, in
    // sc.watched): failed ones (0), and healthy ones held out while their service's quorum is lost (1).
    family('gauge', 'uvs_dest_up', UP_HELP, (sc) => [
      rows(sc.dests, sc.nDests, (d) => destLbl[d]!, (_d, i) => (sc.destHealth[i] === HEALTH_DOWN ? 0 : 1), { has: (d, i) => liveDest(d, i, sc) }),
      rows(sc.watched, sc.nWatched, (x) => x, (_x, i) => sc.watchedUp[i]!),
    ]);
    family('gauge', 'uvs_dest_health_checked', '1 when a health checker watches the real server (uvsd --keepalived-conf), 0 when none does.', (sc) => [
      rows(sc.dests, sc.nDests, (d) => destLbl[d]!, (_d, i) => (sc.destHealth[i] === HEALTH_UNCHECKED ? 0 : 1), { has: (d, i) => liveDest(d, i, sc) }),
      // Removed by the checks, still watched (they put it back when it recovers): as uvs_dest_up.
      rows(sc.watched, sc.nWatched, (x) => x, () => 1),
    ]);
  } else {
    // --no-metrics-per-dest keeps the health of the servers a checker watches (sc.watched: one
    // series each, as many as the checkers probing them): UvsRealServerDown still fires.
    family('gauge', 'uvs_dest_up', UP_HELP, (sc) => [rows(sc.watched, sc.nWatched, (x) => x, (_x, i) => sc.watchedUp[i]!)]);
  }
  // One series per checker of a checked server (also one the checks removed from the table):
  // which of its checkers says what, how often they pass and fail, how long they take.
  if (perChecker) {
    const checks = (stat: number, result?: string) => (sc: Scrape) =>
      rows(sc.checks, sc.nChecks, (x) => x, (_x, i) => sc.checkStats[i * CHECK_STATS + stat]!,
        { suffix: result === undefined ? undefined : `,result="${result}"`, micros: stat === CHECK_LAST_US });
    family('gauge', 'uvs_health_check_up', 'Verdict of one health checker of the real server (check = its place among the server\'s checkers): 1 passing, 0 failed. The server is up while all of its checkers are.',
      (sc) => [checks(CHECK_UP)(sc)]);
    family('counter', 'uvs_health_check_attempts_total', 'Attempts of one health checker by result (pass, fail, not_run: uvsd out of file descriptors, memory or processes, no verdict), retries included, since the checker started (a reload that changes it starts it again).',
      (sc) => [checks(CHECK_PASSED, 'pass')(sc), checks(CHECK_FAILED, 'fail')(sc), checks(CHECK_NOT_RUN, 'not_run')(sc)]);
    family('gauge', 'uvs_health_check_duration_seconds', 'Time the last attempt of one health checker took (a failed one: up to its connect_timeout).',
      (sc) => [checks(CHECK_LAST_US)(sc)]);
  }
  if (perDest) {
    const perDestStat = (value: (d: number) => number) => (sc: Scrape) => [rows(sc.dests, sc.nDests, (d) => destLbl[d]!, value, { has: (d, i) => liveDest(d, i, sc) })];
    family('gauge', 'uvs_dest_overloaded', '1 while the real server is over its upper connection threshold (-x) and gets no new connections.', perDestStat((d) => (destOverloaded(dt, d) ? 1 : 0)));
    family('gauge', 'uvs_dest_weight', 'Weight of the real server.', perDestStat((d) => dt.weight[d]));
    family('gauge', 'uvs_dest_connections_active', 'Active connections of the real server (ESTABLISHED, and SYN_SENT, SYN_RECV, SYNACK as kernels since 4.7).', perDestStat((d) => dt.active[d]));
    family('gauge', 'uvs_dest_connections_inactive', 'Inactive connections of the real server (other TCP states, UDP).', perDestStat((d) => dt.inactive[d]));
    family('counter', 'uvs_dest_connections_total', 'Connections scheduled to the real server since it was added (not reset by -Z).', perDestStat((d) => dt.total(d, STAT_CONNS)));
    family('counter', 'uvs_dest_in_packets_total', 'Packets forwarded to the real server (not reset by -Z).', perDestStat((d) => dt.total(d, STAT_IN_PKTS)));
    family('counter', 'uvs_dest_in_bytes_total', 'Bytes forwarded to the real server (not reset by -Z).', perDestStat((d) => dt.total(d, STAT_IN_BYTES)));
    family('counter', 'uvs_dest_out_packets_total', 'Packets from the real server through the director (0 for DR).', perDestStat((d) => dt.total(d, STAT_OUT_PKTS)));
    family('counter', 'uvs_dest_out_bytes_total', 'Bytes from the real server through the director (0 for DR).', perDestStat((d) => dt.total(d, STAT_OUT_BYTES)));
  }

  // ---- tracing --------------------------------------------------------------------------------
  gauge(reg, 'uvs_trace_active', '1 while uvsadm trace records new-connection decisions.', [], () => (dp.trace.on ? 1 : 0));

  /**
   * The exposition in pieces, in slices of at most about SLICE_MS (control/slices.ts) with the
   * datapath and control let run between them, within a family too: prom-client's metrics
   * (those of `own` rendered here) as Registry.metrics() joins them, then the families.
   */
  const render = async (out: ByteOut, pause: Pause, due: () => boolean): Promise<void> => {
    const nServers = await reserveNames(pause, due);
    const sums = await sumTotals(pause, due);
    const ms = reg.getMetricsAsArray();
    summed = sums;
    try {
      for (let i = 0; i < ms.length; i++) {
        if (i > 0) out.text('\n');
        const f = own.get(ms[i]!.name);
        if (f !== undefined) await renderFamily(f, undefined, store, out, pause, due);
        else {
          summed = sums; // another scrape's render may have ended meanwhile
          out.text(`${await reg.getSingleMetricAsString(ms[i]!.name)}\n`);
        }
        await pause();
      }
    } finally {
      summed = undefined;
    }
    const sc = await gather(pause, due, nServers);
    for (const f of fams) await renderFamily(f, sc, store, out, pause, due);
    if (spareScrapes.length < 2) spareScrapes.push(sc); // for the next scrape (two at once: each its own)
    out.end();
  };
  const stream = async (block: (b: Buffer) => void, take?: () => Buffer | undefined): Promise<void> => {
    const { pause, done, ask } = slicer('metrics');
    rendering++;
    try {
      await render(new ByteOut(block, take), pause, ask ?? asker());
    } finally {
      if (--rendering === 0) {
        for (const id of dropLater) store.drop(id);
        if (dropLater.length > 0) store.tidy();
        dropLater.length = 0;
      }
      done();
    }
  };
  const body = async (): Promise<Buffer> => {
    const blocks: Buffer[] = [];
    await stream((b) => blocks.push(b));
    return Buffer.concat(blocks);
  };
  return {
    registry: reg,
    census,
    stream,
    text: async () => (await body()).toString(),
    body,
  };
}
