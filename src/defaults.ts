// The bounds and defaults of uvsd's settings whose home is the datapath, the modes or the
// watches, kept here in a module that imports nothing: uvsd's command line
// (src/cli/uvsd-options.ts) is checked, and --help and --version answered, without loading
// those modules (~0.2 s of CPU). Each home module re-exports its own; import them from there.

import type { DefenseOptions, SloppyTcp } from './datapath/pipeline.js';

/** uvsd --neigh-max: the default and the bounds (src/datapath/neigh.ts). */
export const NEIGH_MAX_DEFAULT = 16_384;
export const NEIGH_MAX_MIN = 16;
export const NEIGH_MAX_LIMIT = 1 << 20;

/** Most worker threads (and TAP queues) (src/datapath/group.ts). */
export const MAX_WORKERS = 8;

/** The HA group of the addresses no --ha-group lists (uvsadm --role --ha-group default) (src/datapath/link.ts). */
export const DEFAULT_HA_GROUP = 'default';

/** uvsd --synproxy-syn-retries: its default and most (Alibaba LVS's range; its reset would come
 *  after 127 s, but the SYN_SENT timeout, 120 s by default, ends the wait first) (src/modes/synproxy.ts). */
export const SYNPROXY_SYN_RETRIES = 3;
export const SYNPROXY_SYN_RETRIES_MAX = 6;

/** The kernel's IP_VS_APP_MAX_PORTS: at most this many FTP ports (src/modes/ftp.ts). */
export const FTP_PORTS_MAX = 8;

/** uvsd --icmp-ratelimit's default: one ICMP error per source per this many ms (src/datapath/pipeline.ts, ICMP_RATELIMIT_MS). */
export const ICMP_RATELIMIT_MS = 1000;

/** uvsd --sloppy-tcp's scopes (src/datapath/pipeline.ts). */
export const SLOPPY_TCP_MODES: readonly SloppyTcp[] = ['off', 'all', 'mh'];

/** The defenses' defaults, uvsd's options' and the datapath's (src/datapath/pipeline.ts). */
export const DEFENSE_DEFAULTS: Readonly<DefenseOptions> = {
  secureTcpAbove: 0.5, evictAbove: 0.9, maxConnRatePerSource: 0, arpAcceptUnsolicited: false, sloppyTcp: 'off', connReuseMode: 1,
  expireQuiescentTemplate: false, garpRefresh: 0, ftpPorts: [], synproxySynRetries: SYNPROXY_SYN_RETRIES, toa: false,
  icmpRatelimit: ICMP_RATELIMIT_MS, scheduleIcmp: false,
};

/** Seconds per lap over every claimed address (uvsd --arp-watch, daemon.arp-watch), and the most it may be (src/control/arpwatch.ts). */
export const DEFAULT_ARP_WATCH_S = 60;
export const ARP_WATCH_MAX_S = 86_400;
/** Probes a second at most, laps and the probes after a new real server together: each is a
 *  broadcast every host on the LAN reads. 10/s is 600 addresses per 60 s lap (src/control/arpwatch.ts). */
export const ARP_WATCH_RATE = 10;

/** How long a new address is probed before it is claimed, in ms (uvsd --arp-probe-ms) (src/control/claim.ts). */
export const DEFAULT_PROBE_MS = 300;

/** MISC_CHECK processes at once at most by default (each a fork of uvsd and its pipes), within the check slots (uvsd --health-process-concurrency) (src/health/types.ts). */
export const PROCESS_SLOTS = 64;

/** The Debian bird2 package's control socket (src/bgp/bird.ts). */
export const DEFAULT_BIRD_SOCKET = '/run/bird/bird.ctl';
/** While BIRD has the include, it is asked what it runs this often (a BIRD that died, was
 *  restarted without reading the include, or lost its BGP sessions shows in --status and
 *  uvs_bgp_up, not as `ok`); the include on disk is compared with what uvsd wrote too
 *  (uvsd --bgp-watch, daemon.bgp-watch: seconds) (src/bgp/bird.ts). */
export const DEFAULT_BGP_WATCH_S = 5;
export const BGP_WATCH_MAX_S = 3600;

/** The schedulers, in the order src/sched/index.ts registers them (it checks this list at load): uvsd --help names them. */
export const SCHEDULER_NAMES: readonly string[] = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];

/** --mtu's range; the ring backend's interface MTU is refused above MTU_MAX, taken as MTU_MIN below. */
export const MTU_MIN = 576;
export const MTU_MAX = 9000;
