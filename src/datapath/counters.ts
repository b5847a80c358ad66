// Datapath counters: one Float64Array, slots incremented in place on the hot path, read by
// `status` and the Prometheus collectors (src/metrics/) at scrape time. Float64 so byte counters
// never wrap; integers stay exact up to 2^53.

export const COUNTER_NAMES = [
  'rx_frames',
  'rx_bytes',
  'tx_frames',
  'tx_bytes',
  'arp_replies_sent',
  'arp_requests_sent',
  'arp_gratuitous_sent',
  'arp_neigh_updates',
  'arp_probes_sent',
  'arp_conflicts',
  'icmp_echo_replies',
  'conns_created',
  'conns_expired',
  'fwd_packets',
  'fwd_bytes',
  'neigh_queued',
  'ignored_other_mac',
  'ignored_ethertype',
  'ignored_arp',
  'fwd_out_packets',
  'fwd_out_bytes',
  'icmp_related_forwarded',
  'icmp_frag_needed_sent',
  'tun_inner_fragments',
  'templates_created',
  'templates_expired',
  'ops_datagrams',
  // resilience (docs/resilience.md)
  'conns_evicted',
  'secure_tcp_switches',
  'arp_refused',
  'conns_sloppy',
  // high availability (docs/ha.md)
  'role_changes',
  'sync_installed',
  'sync_expired',
  'sync_refused',
  // synced entries installed without their real server (not in its service here yet), bound to
  // it since, and expired at a packet because it still was not here (docs/ha.md)
  'sync_unbound',
  'sync_bound',
  'sync_unbound_expired',
  // a SYN proxy / FTP seq record that came before its connection's record: held for it, and
  // dropped when that never came (docs/ha.md)
  'sync_ext_held',
  'sync_ext_dropped',
  // scale-out (docs/scale-out.md): sloppy connections placed by the mh table's owner
  'conns_adopted_hash',
  // SYN proxy (src/modes/synproxy.ts)
  'synproxy_syn_cookies_sent',
  'synproxy_ack_valid',
  'synproxy_ack_invalid',
  'synproxy_server_syn',
  'synproxy_established',
  'synproxy_server_timeout',
  'synproxy_server_stale_ack',
  'synproxy_server_no_ts',
  // offload (uvsd --offload, src/datapath/vnet.ts)
  'rx_gso_frames',
  'rx_csum_partial',
  'gso_segments_built',
  // uvsd --workers N (docs/architecture.md, "Workers"): frames a worker passed to another worker
  // (a reply to a connection it does not hold) and frames it got that way
  'handoff_out',
  'handoff_in',
  // no real server available (ip_vs_leave): ICMP port unreachable sent to the client, and those
  // not sent because of the rate limit (the frame itself is the no_dest drop either way)
  'icmp_unreach_sent',
  'icmp_unreach_ratelimited',
  // a forwarded packet's TTL ran out here (drop ttl_exceeded): ICMP time exceeded sent to its
  // sender, and those not sent because of the rate limit
  'icmp_time_exceeded_sent',
  'icmp_time_exceeded_ratelimited',
  // a TCP segment of no connection to a service's port (drop no_conn): a reset sent to the client,
  // and those not sent because of the rate limit it shares with the ICMP errors
  'tcp_rst_sent',
  'tcp_rst_ratelimited',
  // TUN: fragmentation needed not sent to the client of a packet too big to wrap (drop
  // mtu_exceeded) because of the rate limit it shares with the other answers
  'icmp_frag_needed_ratelimited',
  // event-loop wake-ups that delivered frames (native/rx.cc; rx_frames ÷ rx_wakes = frames per
  // wake-up), taken from the port every tick
  'rx_wakes',
  // a SYN found its tuple's finished entry (TIME_WAIT, CLOSE; or its server at weight 0) and
  // opened a new connection, scheduled again (IPVS conn_reuse_mode; uvsd --conn-reuse-mode); not
  // a SYN|RST, which expires the entry and opens nothing (the kernel's tcp_conn_schedule)
  'conns_reused',
  // an eviction passed over the half-open entry of a known client (one that lately completed a
  // handshake) and took another (docs/resilience.md)
  'conns_spared',
  // of conns_evicted: a flow its client alone confirmed (UDP; DR/TUN) that carried few packets and
  // was idle, taken when an eviction found no entry of little value (docs/resilience.md)
  'conns_evicted_weak',
  // TUN: ICMP errors from a router past the director about a wrapped packet, relayed to the
  // client about its own packet (src/modes/tun.ts tunRelayError), and those not relayed because
  // of the rate limit they share with uvsd's other answers
  'icmp_tunnel_relayed',
  'icmp_tunnel_ratelimited',
  // the FTP helper (uvsd --ftp-ports, src/modes/ftp.ts): passive replies (227/229) rewritten with
  // the client's data connection expected, PORT/EPRT commands whose data connection was made,
  // expected replies left as they were (too long for the MTU, a GSO frame), control connections
  // not helped because every helper slot was taken; the data connection entries the helper made
  // (passive and active: not scheduled, so not in conns_created nor in a server's Conns, as the
  // kernel's ip_vs_conn_new from its helper is not in ip_vs_conn_stats)
  'ftp_passive',
  'ftp_active',
  'ftp_not_rewritten',
  'ftp_no_slot',
  'ftp_data_conns',
  // neighbour (ARP) entries freed by the garbage collection (failed, idle, or taken on a full
  // table for a new one), and addresses refused an entry because none could go (src/datapath/neigh.ts)
  'neigh_reclaimed',
  'neigh_refused',
  // of conns_evicted (and templates_expired): persistence templates not assured, controlling no
  // connection, that an eviction took, or that went with the last connection it took (docs/resilience.md)
  'templates_evicted',
  // TOA (uvsd --toa, src/proto/toa.ts): FULLNAT client segments given the client's address as a
  // TCP option, and those left without it: too big for the MTU with 8 more bytes (or a fragment),
  // no room for 8 more bytes of options (40 taken), a TSO super-segment (--offload)
  'toa_added',
  'toa_skipped_mtu',
  'toa_skipped_room',
  'toa_skipped_offload',
  // addresses that move with the HA role (VIPs, LIPs, floating --addrs) another station announced
  // by gratuitous ARP while this director was master, which then went backup within
  // TAKEOVER_GRACE_MS: a planned switch's new master announcing first, not a conflict (src/datapath/link.ts)
  'arp_takeovers_seen',
  // TUN: ICMP protocol or port unreachable from a real server itself about a packet wrapped for
  // it (its tunnel type; GUE: to its port): the server does not decapsulate (no ipip module,
  // tunl0 down, nothing on the GUE port); also a drop, icmp_unhandled. Who answered: nodecap.ts
  'tun_no_decap',
  // uvsd --schedule-icmp (the kernel's schedule_icmp): ICMP errors quoting a connection no entry
  // held that scheduled it (a new entry) and went on to its server (icmp_related_forwarded too)
  'icmp_scheduled',
  // uvsd --workers / --datapath-thread, the main thread's own (src/datapath/group.ts): reads of
  // the workers' statistics that left a part of them as the last read had (a worker applied a
  // list for longer than PULL_WAIT_MS); the counters and entries are read at every pull all the same
  'pull_timeouts',
] as const;

/** Why a frame was dropped; each reason is its own counter (uvs_drops_total{reason}). */
export const DROP_NAMES = [
  'short_frame',
  'arp_malformed',
  'ip_bad_version',
  'ip_bad_header_length',
  'ip_bad_total_length',
  'ip_bad_checksum',
  'ip_fragment',
  'ip_not_local',
  'l4_truncated',
  'icmp_unhandled',
  'ip_proto_unhandled',
  'no_service',
  'no_conn',
  'no_dest',
  'conn_table_full',
  'no_route',
  'neigh_unresolved',
  'tx_failed',
  'laddr_exhausted',
  'icmp_no_conn',
  'mtu_exceeded',
  'frag_no_first',
  'frag_table_full',
  'src_rate_limited',
  'spoofed_local_src',
  'synproxy_no_room',
  'synproxy_not_ready',
  'backup',
  'offload_unsupported',
  'bad_source',
  // a packet to forward (or an ICMP error to relay) arrived with TTL 1 or 0 (kernel decrement_ttl)
  'ttl_exceeded',
  // a new datagram of a --pe sip service without a SIP Call-ID (or not UDP): no call to keep it with
  'pe_no_callid',
  // an SCTP packet whose CRC32c is wrong (checked before it opens or moves a connection)
  'sctp_bad_checksum',
  // IPv4 options the kernel would refuse before routing: malformed, or source routing
  'ip_bad_options',
  // a SYN proxy ACK with a valid cookie scheduled to a server whose connections hold their share
  // of the waiting slots already (src/modes/synproxy.ts SYNPROXY_SERVER_SHARE)
  'synproxy_server_full',
  // a frame whose next hop had no neighbour entry and could get none: the table full of entries
  // that may not go (real servers, the gateway, ones in use; uvsd --neigh-max)
  'neigh_table_full',
  // a frame longer than the MTU allows (Ethernet header + uvsd --mtu; with --offload on a GSO
  // super-segment up to 64 KB of IP): dropped as it arrives, before anything looks at it
  'frame_too_long',
  // an ICMP error about a connection whose ICMP checksum is wrong, not relayed: towards a server
  // (any method) or translated (NAT, FULLNAT), and a router's error about a TUN-wrapped packet
  'icmp_bad_checksum',
  // a TCP segment whose checksum is wrong where uvsd acts on its content: an FTP reply or command
  // the helper would rewrite or follow, a SYN the SYN proxy would answer, an ACK it would take
  'tcp_bad_checksum',
  // ARP whose sender address no other station may have: a martian (multicast, broadcast, 0/8,
  // loopback; 0.0.0.0 outside a probe) or an address uvsd speaks for; or ARP from another station
  // with uvsd's own MAC (src/datapath/link.ts arp)
  'arp_bad_sender',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];
export type DropName = (typeof DROP_NAMES)[number];

function slots<T extends readonly string[]>(names: T): { [K in T[number]]: number } {
  const o: Record<string, number> = {};
  names.forEach((n, i) => (o[n] = i));
  return o as { [K in T[number]]: number };
}

/** Slot numbers, e.g. C.rx_frames, D.no_service. */
export const C = slots(COUNTER_NAMES);
export const D = slots(DROP_NAMES);

/** Receive batches are counted by their exact frame count up to this; larger ones in the last slot. */
export const BATCH_SLOTS = 1025;

/**
 * A Float64Array (or, with shared, one on a SharedArrayBuffer: a worker thread's counters that the
 * main thread sums at read time, uvsd --workers).
 */
export function f64(n: number, shared = false): Float64Array {
  return shared ? new Float64Array(new SharedArrayBuffer(n * 8)) : new Float64Array(n);
}

export function u32(n: number, shared = false): Uint32Array {
  return shared ? new Uint32Array(new SharedArrayBuffer(n * 4)) : new Uint32Array(n);
}

/** Counters.svcNoDest's first length: room for service ids 0..SVC_SLOTS-1. */
export const SVC_SLOTS = 64;

/** The length a per-service array of length `have` grows to (doubling) to hold service `id`. */
export function svcSlotsFor(id: number, have: number): number {
  let n = Math.max(have, SVC_SLOTS);
  while (n <= id) n *= 2;
  return n;
}

export class Counters {
  readonly c: Float64Array;
  readonly d: Float64Array;
  /** batch[n] = receive batches of n frames (uvs_batch_frames histogram, bucketed at scrape). */
  readonly batch: Float64Array;
  /**
   * By service id: new connections to the service that found no real server (its share of
   * d[D.no_dest]; uvs_service_no_dest_total). Never zeroed (-Z); a service added in the slot of a
   * deleted one starts from 0 (addService). Grows with the ids; with --workers the main thread
   * sends the larger array (DatapathGroup.apply), so the one on the packet path is replaced, not resized.
   */
  svcNoDest: Float64Array;
  private readonly shared: boolean;

  constructor(shared = false) {
    this.shared = shared;
    this.c = f64(COUNTER_NAMES.length, shared);
    this.d = f64(DROP_NAMES.length, shared);
    this.batch = f64(BATCH_SLOTS, shared);
    this.svcNoDest = f64(SVC_SLOTS, shared);
  }

  /** A new service in slot id: its counts start from 0 (room made when the ids outgrew the array). */
  addService(id: number): void {
    if (id >= this.svcNoDest.length) this.useSvc(f64(svcSlotsFor(id, this.svcNoDest.length), this.shared));
    this.svcNoDest[id] = 0;
  }

  /**
   * Room for service ids below `ids` made ahead (a batch that adds them, before its apply: the
   * copy not in a piece with other work); returns whether the array grew. Not for a worker's
   * counters, whose arrays the main thread sends (DatapathGroup.apply).
   */
  reserveSvc(ids: number): boolean {
    if (ids <= this.svcNoDest.length) return false;
    this.useSvc(f64(svcSlotsFor(ids - 1, this.svcNoDest.length), this.shared));
    return true;
  }

  /** Count per service into `to` (at least as long) from now on, with the counts so far. */
  useSvc(to: Float64Array): void {
    to.set(this.svcNoDest);
    this.svcNoDest = to;
  }

  snapshot(): { counters: Record<string, number>; drops: Record<string, number> } {
    const counters: Record<string, number> = {};
    const drops: Record<string, number> = {};
    COUNTER_NAMES.forEach((n, i) => (counters[n] = this.c[i]));
    DROP_NAMES.forEach((n, i) => (drops[n] = this.d[i]));
    return { counters, drops };
  }
}
