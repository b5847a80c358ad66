// The JSON-lines protocol spoken on uvsd's control socket (docs/control-protocol.md).
// One request per line, one reply per line, matched by id. The wire types live here; the verbs
// themselves (names, argument and result types, validation) are the registry in verbs.ts, and
// `Verbs` below is derived from it, so a new verb is added in one place.

import { formatIp, parseIp } from '../datapath/addr.js';
import type { VrrpFifoStatus } from './vrrpfifo.js';
import type { ArpWatchStatus } from './arpwatch.js';
import type { StateFileStatus } from './statefile.js';
import type { WorkerStatus } from '../datapath/group.js';
import type { DefenseOptions } from '../datapath/pipeline.js';
import type { VerbTypes } from './verbs.js';
import type { SyncDaemonInfo, SyncStats } from '../sync/daemon.js';

export type Proto = 'tcp' | 'udp' | 'sctp';
/** Forwarding method as stored; ipvsadm's -g/-m/-i and DPVS's FULLNAT. */
export type Fwd = 'dr' | 'nat' | 'tun' | 'fullnat';

export interface ServiceKey {
  proto: Proto;
  addr: string; // dotted quad
  port: number;
  /**
   * A firewall-mark service (ipvsadm -f): 1..4294967295. Such a service is named by its mark
   * alone (proto, addr and port are then ignored; listed as tcp, 0.0.0.0, 0).
   */
  fwmark?: number;
}

/** The scheduler of a service added without -s (ipvsadm's and the kernel's default). */
/** The longest request line uvsd reads (control socket, server.ts DEFAULT_LIMITS.maxLine; ControlClient refuses to send a longer one). */
export const MAX_REQUEST_LINE = 64 << 20;

export const DEFAULT_SCHED = 'wlc';
/** A destination's weight without -w. */
export const DEFAULT_WEIGHT = 1;
/** The largest weight (-w) and connection thresholds (-x, -y): ipvsadm takes 0..INT_MAX. */
export const MAX_WEIGHT = 2147483647;
export const MAX_THRESHOLD = 2147483647;
/** ipvsadm's MAX_TIMEOUT (persistence -p, --set): 31 days, in seconds. */
export const MAX_TIMEOUT = 86400 * 31;
/** -p without a value: 300 s. */
export const DEFAULT_PERSISTENT_TIMEOUT = 300;

/** The largest firewall mark (ipvsadm -f takes 1..4294967295). */
export const MAX_FWMARK = 0xffffffff;
/** Most rows listConns returns (uvsadm -Lc lists), and its default. When a reply without a
 *  cursor was built whole before it was written, a row was ~2 KB of uvsd's memory (900,000 rows
 *  took uvsd to 1.9 GB and stalled forwarding). */
export const CONNS_MAX_DEFAULT = 100_000;

/** The key the verbs take for a service: a mark service by its mark alone (fwmark 0 or none: by proto, addr and port). */
export function serviceKey(s: { proto: Proto; addr: string; port: number; fwmark?: number }): ServiceKey {
  return s.fwmark ? { proto: s.proto, addr: s.addr, port: s.port, fwmark: s.fwmark } : { proto: s.proto, addr: s.addr, port: s.port };
}

/** A service as messages and logs name it: "TCP 192.168.8.200:80", "FWM 1". */
export function serviceText(k: ServiceKey): string {
  return k.fwmark ? `FWM ${k.fwmark}` : `${k.proto.toUpperCase()} ${addrPortText(k.addr, k.port)}`;
}

/** ADDR:PORT; an IPv6 address (only ever named in a refusal) in brackets, as ipvsadm writes it. */
export function addrPortText(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** One string per service, for maps: "tcp 192.168.8.200:80", "fwm 1" (a mark service by its mark alone). */
export function serviceId(k: ServiceKey): string {
  return k.fwmark ? `fwm ${k.fwmark}` : `${k.proto} ${k.addr}:${k.port}`;
}

export interface ServiceSpec extends ServiceKey {
  /** Scheduler name; default 'wlc' (addService). */
  sched?: string;
  /** Scheduler flags (ipvsadm -b), e.g. ['sh-port']. */
  flags?: string[];
  /** Persistence timeout in seconds (ipvsadm -p); 0 = not persistent. */
  persist?: number;
  /** Persistence netmask (ipvsadm -M), dotted quad; default 255.255.255.255. */
  netmask?: string;
  /** One-packet scheduling (ipvsadm -o), UDP only. */
  oneShot?: boolean;
  /** Persistence engine (ipvsadm --pe): 'sip' (UDP, persistent services only) or '' (none, the default). */
  pe?: string;
  /** SYN proxy (uvsadm --synproxy): TCP only, NAT/FULLNAT real servers only. */
  synproxy?: boolean;
}

export interface DestKey {
  service: ServiceKey;
  addr: string;
  port: number;
}

export interface DestSpec extends DestKey, TunOptions {
  fwd?: Fwd; // default 'dr'
  weight?: number; // default 1
  /** Connection thresholds (ipvsadm -x / -y); 0 = none. */
  upper?: number;
  lower?: number;
}

/** TUN encapsulations (ipvsadm --tun-type, Linux 5.2+): IP-in-IP, GUE (IPIP over UDP), GRE. */
export const TUN_TYPES = ['ipip', 'gue', 'gre'] as const;
export type TunType = (typeof TUN_TYPES)[number];
/** Outer checksum (ipvsadm --tun-nocsum, --tun-csum, --tun-remcsum: GUE's remote checksum offload). */
export const TUN_CSUMS = ['nocsum', 'csum', 'remcsum'] as const;
export type TunCsum = (typeof TUN_CSUMS)[number];

/** A TUN server's encapsulation: ipip by default; GUE needs its UDP port; GRE and GUE may carry a checksum. */
export interface TunOptions {
  tunType?: TunType;
  tunPort?: number;
  tunCsum?: TunCsum;
}

/** ipvsadm 1.31's tunflags[]: how --tun-info writes the checksum option. */
const TUN_FLAG_TEXT: Record<TunCsum, string> = { nocsum: '-c', csum: '+c', remcsum: 'r+c' };

/** A server's tunnel as ipvsadm -Ln --tun-info words it ("" for other methods; ipip, gue:6080:-c, gre:+c). */
export function tunText(d: TunOptions & { fwd?: Fwd }): string {
  if (d.fwd !== 'tun') return '';
  const t = d.tunType ?? 'ipip';
  if (t === 'ipip') return t;
  const f = TUN_FLAG_TEXT[d.tunCsum ?? 'nocsum'];
  return t === 'gue' ? `${t}:${d.tunPort ?? 0}:${f}` : `${t}:${f}`;
}

/** One word of printable ASCII: an SMTP_CHECK helo_name, a DNS_CHECK name, an argument quoted as it is. */
export function printableWord(v: string): boolean {
  return /^[\x21-\x7e]+$/.test(v);
}

/**
 * uvsadm --add-mark: new flows of proto to addr, ports portMin..portMax (default every port),
 * get firewall mark `fwmark`, and go to the -f service of that mark when there is one.
 */
export interface MarkSpec {
  fwmark: number;
  proto: Proto;
  addr: string;
  portMin?: number;
  portMax?: number;
}

export interface MarkInfo {
  fwmark: number;
  proto: Proto;
  addr: string;
  portMin: number;
  portMax: number;
}

/** A FULLNAT local address of a service (DPVS --add-laddr); ports portMin..portMax (default 1024..65535). */
export interface LaddrSpec {
  service: ServiceKey;
  addr: string;
  portMin?: number;
  portMax?: number;
}

/** A service's FULLNAT local address with its local ports (ServiceInfo.laddrRanges). */
export interface LaddrRange {
  addr: string;
  portMin: number;
  portMax: number;
}

/** A LIP's local ports when addLaddr is given none (DPVS's default pool). */
export const LADDR_PORT_MIN = 1024;
export const LADDR_PORT_MAX = 65535;

/**
 * A LIP as uvsadm's -z, -S and the config file's local-addresses write it: ADDR for the default
 * ports (1024-65535), else ADDR:LO-HI.
 */
export function laddrText(l: LaddrRange): string {
  return l.portMin === LADDR_PORT_MIN && l.portMax === LADDR_PORT_MAX ? l.addr : `${l.addr}:${l.portMin}-${l.portMax}`;
}

/** What laddrText takes back: ADDR or ADDR:LO-HI (ports 1..65535, LO <= HI). */
export const LADDR_TEXT_FORM = 'ADDR or ADDR:LO-HI (an IPv4 address, local ports 1..65535, LO <= HI)';

/** ADDR or ADDR:LO-HI (laddrText's forms) as a LaddrRange; undefined if it is neither. */
export function parseLaddrText(text: string): LaddrRange | undefined {
  const m = /^([^:]+?)(?::(\d{1,5})-(\d{1,5}))?$/.exec(text);
  const ip = m === null ? -1 : parseIp(m[1]!);
  if (ip < 0) return undefined;
  const portMin = m![2] === undefined ? LADDR_PORT_MIN : Number(m![2]);
  const portMax = m![3] === undefined ? LADDR_PORT_MAX : Number(m![3]);
  if (portMin < 1 || portMax > 65535 || portMin > portMax) return undefined;
  return { addr: formatIp(ip), portMin, portMax };
}

/** A listed service's LIPs with their ports (an older uvsd sends no laddrRanges: theirs are the default). */
export function laddrRangesOf(s: { laddrs: readonly string[]; laddrRanges?: readonly LaddrRange[] }): readonly LaddrRange[] {
  return s.laddrRanges ?? s.laddrs.map((addr) => ({ addr, portMin: LADDR_PORT_MIN, portMax: LADDR_PORT_MAX }));
}

/** Totals since start (or the last zero), as ipvsadm --stats prints them. */
export interface Stats {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

/** The 2-second estimator's rates, as ipvsadm --rate prints them. */
export interface Rates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface DestInfo {
  addr: string;
  port: number;
  fwd: Fwd;
  weight: number;
  active: number;
  inactive: number;
  upper: number;
  lower: number;
  /** TUN servers: their encapsulation (ipvsadm --tun-info). */
  tunType?: TunType;
  tunPort?: number;
  tunCsum?: TunCsum;
  /** Persistence templates pointing here (ipvsadm --persistent-conn's PersistConn). */
  persistConns: number;
  stats: Stats;
  rate: Rates;
  /** Health checks (src/health): up, down, or unchecked when no checker watches it. */
  health?: 'up' | 'down' | 'unchecked';
}

export interface ServiceInfo {
  proto: Proto;
  addr: string;
  port: number;
  /** A firewall-mark service (ipvsadm -f): its mark (proto, addr and port are then tcp, 0.0.0.0, 0). */
  fwmark?: number;
  sched: string;
  flags: string[];
  /** 0 = not persistent. */
  persist: number;
  netmask: string;
  oneShot: boolean;
  /** Persistence engine (ipvsadm --pe), when there is one. */
  pe?: string;
  synproxy: boolean;
  /** FULLNAT local addresses, in the order added. */
  laddrs: string[];
  /** The same LIPs with their local ports (an older uvsd sends none; laddrRangesOf). A field of
   *  its own, so that an older uvsadm, which reads laddrs and ignores what it does not know, still works. */
  laddrRanges?: LaddrRange[];
  stats: Stats;
  rate: Rates;
  /** In the order they were added. */
  dests: DestInfo[];
}

export interface ListResult {
  /** Connection hash table size printed in the ipvsadm banner. */
  size: number;
  /** In the order they were added (uvsadm sorts like ipvsadm unless --nosort). */
  services: ServiceInfo[];
  /** uvsadm --add-mark rules, in the order added (absent: none; older daemons). */
  marks?: MarkInfo[];
}

/** One connection entry (ipvsadm -Lnc), with FULLNAT's local address and port. */
export interface ConnInfo {
  /** 'ip': a firewall-mark service's persistence template (vaddr is then the mark, as the kernel shows it). */
  proto: Proto | 'ip';
  state: string;
  /** Seconds until expiry. */
  expires: number;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  laddr: string;
  lport: number;
  fwd: Fwd;
  /** A persistence template (ipvsadm -p), not a connection: state NONE, client port 0. */
  template?: boolean;
  /** A template of a persistence engine (--pe): its name, and its data (the SIP Call-ID; absent
   *  on a backup director, which learnt the template by sync without it). */
  pe?: string;
  peData?: string;
}

/** explain (uvsadm --explain): a would-be new connection from client[:cport] to the service. */
export interface ExplainArgs {
  service: ServiceKey;
  client: string;
  cport?: number;
}

export interface ExplainResult {
  /** The real server that would be chosen now, or null when none is available. */
  dest: { addr: string; port: number } | null;
  /** True when a live persistence template decided, not the scheduler. */
  template: boolean;
  /** One line: the template, or the scheduler and the numbers it compared. */
  why: string;
}

/** A neighbour (ARP) entry (the `neighList` verb, `uvsadm --neigh`). */
export interface NeighInfo {
  addr: string;
  /** null while unresolved. */
  mac: string | null;
  /** REACHABLE, STALE (confirmed over 60 s ago: re-probed at its next use), INCOMPLETE (probing), FAILED (probes unanswered 3 s). */
  state: 'REACHABLE' | 'STALE' | 'INCOMPLETE' | 'FAILED';
  /** Seconds since the MAC was confirmed (null: never) and since a frame last went to it. */
  confirmed: number | null;
  used: number;
  /** What needs it: the gateway, and real servers (their count over all services); pinned when either. */
  gateway: boolean;
  servers: number;
  /** With --workers: the workers holding it (each has a table of its own); the state, MAC and ages of the freshest. */
  workers?: number;
}

/** A FULLNAT local address's ports in use (the `laddrUsage` verb, `--get-laddr`'s CONNS and CONFLICTS). */
export interface LaddrStat {
  addr: string;
  /** Local ports held by connections, per protocol. */
  tcp: number;
  udp: number;
  /** Times a port was wanted and none was free (a new connection: the range full; a synced one: its port taken). */
  conflicts: number;
}

export interface ConnsResult {
  conns: ConnInfo[];
  /** True when the table held more than `max` entries (with a cursor: from the cursor on). */
  truncated: boolean;
  /** Asked with a cursor: the cursor of the next page; absent once the table has been read to its end (or truncated). */
  next?: number;
}

export interface Timeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}

/** One checked real server, as the `status` verb reports it (filled by src/health/report.ts). */
export interface HealthEntry {
  service: ServiceKey;
  addr: string;
  port: number;
  state: 'up' | 'down';
  /** Last reason for the current state ("start" before any change). */
  reason: string;
  /** Weight the server has (or gets back) when healthy. */
  weight: number;
  inhibit: boolean;
  /** ms since epoch of the last state change (start time when none). */
  since: number;
  /** ha_suspend: its service's checks are suspended (this director does not hold the VIP): the state is as last seen. Absent otherwise. */
  suspended?: boolean;
}

/** A health-checked virtual server's quorum (keepalived's quorum, hysteresis, sorry_server). */
export interface HealthQuorum {
  service: ServiceKey;
  /** Up: its servers are in the table; down: below quorum (the sorry server instead, if any). */
  up: boolean;
  /** The weight of its alive servers, and what it is compared with. */
  aliveWeight: number;
  quorum: number;
  hysteresis: number;
  /** Its sorry_server (addr:port), and whether it is in the table now in place of the servers. */
  sorry?: string;
  sorryIn: boolean;
  /** ha_suspend: its checks are suspended (this director does not hold the VIP; uvs_health_suspended). Absent otherwise. */
  suspended?: boolean;
}

/** The health checks' slots and queue now (`uvsadm --status` health_queue, uvs_health_checks_*). */
export interface HealthQueue {
  /** Checks due and waiting for a slot (their checker is late by as long as they wait). */
  waiting: number;
  /** Checks in flight, and the slots for them (--health-concurrency, else one per checker within half of RLIMIT_NOFILE). */
  inFlight: number;
  slots: number;
  /** MISC_CHECK processes running, and the slots for them (also counted above). */
  processes: number;
  processSlots: number;
  /** The longest a check started after its scheduled time in the last 60 s (ms). */
  lateMaxMs: number;
}

/** One checker of a checked real server (uvs_health_check_* metrics). */
export interface CheckerStat {
  service: ServiceKey;
  addr: string;
  port: number;
  /** Its place among the server's checkers (0 first), telling apart two of one type. */
  index: number;
  /** TCP_CHECK, HTTP_GET, ... */
  type: string;
  /** Its own verdict (the server is up while all of its checkers are). */
  up: boolean;
  /** Attempts since the checker started (a reload that changes it starts it again). */
  passed: number;
  failed: number;
  /** Attempts that could not run (uvsd out of file descriptors, memory, processes): no verdict. */
  notRun: number;
  /** The last attempt: ms it took, and its reason. */
  lastMs: number;
  lastReason: string;
}

export interface StatusResult {
  mac: string;
  /** High availability role (docs/ha.md): with HA groups, master while master of every group. */
  role?: 'master' | 'backup';
  /** Each HA group's role, when uvsd has --ha-group groups. */
  haGroups?: HaGroupRole[];
  /** keepalived's notify FIFO uvsd reads (uvsd --vrrp-fifo): lines read, ignored, the last one. */
  vrrpFifo?: VrrpFifoStatus;
  /** uvsd --state-file: when the table was last written, and the error while writes fail. */
  stateFile?: StateFileStatus;
  /** uvsd's log (stdout): lines dropped because writing them failed (a full disk), and while writes fail why and since when. */
  logOutput?: LogOutputStatus;
  /** The control socket: times it was bound again after its file was removed, and what keeps it from being reached now. */
  controlSocket?: ControlSocketStatus;
  /** VIPs of the start's table another station answered for (its MAC): not claimed, probed again every 10 s. */
  unclaimed?: Array<{ addr: string; by: string }>;
  /** uvsd's ARP watch (--arp-watch): its lap, probes, and the stations answering for uvsd's addresses. */
  arpWatch?: ArpWatchStatus;
  tap: string;
  /** How frames cross to the kernel: "io_uring" (one system call per batch), "syscalls" or "packet-ring". */
  io: string;
  /** TAP offloads (uvsd --offload): "csum+tso", "off", or "refused: <reason>". */
  offload: string;
  /** The TAP's txqueuelen (uvsd --tap-qlen): frames the kernel holds for uvsd per queue; absent for --port. */
  txqueuelen?: number;
  /** The TAP's (or --port interface's) link as uvsd last saw it (polled every second). */
  link?: LinkStatus;
  /** Frames lost before the datapath saw them: the TAP's queue (queue_full: its tx_dropped since
   *  uvsd opened it) or the ring backend's (ring_full, too_long). */
  portDrops?: Record<string, number>;
  addrs: string[];
  /** uvsd --gateway, the next hop for off-link real servers and clients ('none' without it). Absent from an older uvsd. */
  gateway?: string;
  conns: number;
  connMax: number;
  /** The verb (or slice of one) that held the event loop longest since start or -Z: ms, and the loop thread's own CPU in it. */
  slowestVerb: { verb: string; ms: number; cpuMs: number };
  /** The verb that took the most of the loop thread's CPU at once (ms): its own cost, whatever else ran on the host. */
  busiestVerb: { verb: string; ms: number };
  counters: Record<string, number>;
  drops: Record<string, number>;
  /** Flood and exhaustion defenses (docs/resilience.md): settings and whether secure TCP is on now. */
  defense?: DefenseOptions & { secureTcp: boolean };
  /** Health checks (src/health): every checked real server, also those removed from the table. */
  health?: HealthEntry[];
  /** Health checks: every configured virtual server's quorum. */
  healthQuorum?: HealthQuorum[];
  /** Health checks that could not run since start (uvsd out of file descriptors, memory, processes), when uvsd checks. */
  healthChecksNotRun?: number;
  /** Table changes of the health checks the table refused since start (uvs_health_refused_total), when uvsd checks. */
  healthRefused?: number;
  /** Health checks: their slots, queue and lateness. */
  healthQueue?: HealthQueue;
  /** uvsd --workers N >= 2: what each worker thread (TAP queue) did; the counters above are their sums. */
  workers?: WorkerStatus[];
  /** uvsd --workers N >= 2: how the TAP picks a frame's queue: `ebpf` or `automq (reason)`. */
  steering?: string;
  /** uvsd --datapath-cpus: where the threads run. */
  cpus?: CpuPinning;
  /** With --workers N >= 2 and --ftp-ports: the FTP services that should be persistent and are not (nat-setup.md#ftp); absent when none. */
  ftpNotPersistent?: string[];
  /** The director's drain (uvsadm --drain; docs/scale-out.md). */
  drain?: DrainStatus;
  /** BGP announcement through BIRD (uvsd --bgp-include; docs/scale-out.md), when configured. */
  bgp?: BgpStatus;
}

/** uvsd --datapath-cpus: the datapath threads' CPUs in worker order, and the CPUs the main thread (control, metrics, health checks) may run on. */
export interface CpuPinning {
  datapath: number[];
  control: number[];
}

/** uvsd's log output (src/cli/logout.ts): lines dropped since start because writing them failed; while writes fail, the error and since when (ms, wall clock). */
export interface LogOutputStatus {
  dropped: number;
  error?: string;
  failingSince?: number;
}

/**
 * The control socket (src/control/server.ts): its path, how many times it was bound again since
 * start (its file removed under uvsd), and what keeps it from being reached now, if anything
 * (another file at its path, a directory that cannot be made).
 */
export interface ControlSocketStatus {
  path: string;
  rebound: number;
  problem?: string;
}

/** The link under uvsd (src/control/linkwatch.ts): its interface's state and bridge. */
export interface LinkStatus {
  /** The TAP, or the --port af_packet interface. */
  iface: string;
  /** up: operstate up (or unknown); down: any other operstate; missing: no such interface. */
  state: 'up' | 'down' | 'missing';
  /** The kernel's word (/sys/class/net/IFACE/operstate); "" when missing. */
  operstate: string;
  /** The interface's master (a bridge) now, or null. */
  master: string | null;
  /** uvsd --bridge: the bridge the TAP belongs to, and whether that bridge exists. */
  bridge?: string;
  bridgeExists?: boolean;
  /** The bridge's operstate while the interface is in it (a bridge set down forwards nothing). */
  bridgeOperstate?: string;
  /** Frames can pass: up, and in --bridge (itself up) when one was given. */
  ok: boolean;
  /** ISO 8601 time of the last change (uvsd's start when none). */
  since: string;
}

/** What uvsd announces through BIRD and whether BIRD took it (src/bgp/bird.ts). */
export interface BgpStatus {
  /** The include uvsd writes, BIRD's control socket, the routes' next hop. */
  include: string;
  socket: string;
  nextHop: string;
  /** VIPs in the include now (announced once BIRD has configured). */
  announced: string[];
  /**
   * ok: BIRD runs the include's protocol with all its routes and an Established BGP session
   * exports them all (it announces them); down: the same, but no Established session exports
   * them (no session up, or export filters that drop them: nothing reaches a router); pending:
   * a write or configure is in flight; error: the include cannot be written, BIRD is
   * unreachable, refuses it, does not run it (its config does not include the file) or lacks
   * some of its routes (retried every 2 s).
   */
  state: 'ok' | 'down' | 'pending' | 'error';
  /** What BIRD runs (routes, sessions established), or the error, one line. */
  last: string;
  /** Successful `configure`s since start. */
  configures: number;
  /** Routes BIRD had in the include's protocol at the last check; null before the first. */
  routes: number | null;
  /** BIRD's BGP protocols at the last check (a session is Established while its state is `up`). */
  sessions: BgpSession[];
  /** Of those, how many are Established. */
  established: number;
}

/** A BGP session as --status prints it: "uplink up Established (exports 2)", "d2 start Active Socket: Connection refused". */
export function bgpSessionText(b: BgpSession): string {
  return `${b.name} ${b.state}${b.info === '' ? '' : ` ${b.info}`}${b.exported === undefined ? '' : ` (exports ${b.exported})`}`;
}

/** One BGP protocol of BIRD's (`birdc show protocols`). */
export interface BgpSession {
  name: string;
  /** BIRD's protocol state: up (Established), start, down ... */
  state: string;
  /** BIRD's info column: Established, Active, Connect, "Socket: Connection refused" ... */
  info: string;
  /** Established: how many routes of the include its export filter lets out. */
  exported?: number;
}

/** drain: on = withdraw every route and keep forwarding; timeout in seconds (default uvsd's --drain-timeout). */
export interface DrainArgs {
  on: boolean;
  timeout?: number;
}

/**
 * off: announcing. draining: routes withdrawn (or being withdrawn), connections still forwarded.
 * drained: BIRD confirmed the withdrawal and no connection is left or the timeout passed: the
 * director can be stopped. uvsd forwards whatever reaches it in every state.
 */
export interface DrainStatus {
  state: 'off' | 'draining' | 'drained';
  /** ISO 8601 time the drain began. */
  since?: string;
  timeout?: number;
  /** Seconds until the timeout. */
  left?: number;
  /** Entries left in the connection table. */
  conns: number;
  /** While BIRD has not confirmed that every route is withdrawn: why (BIRD's refusal, unreachable, being configured). */
  withdrawal?: string;
}

// ---- observability: -Z and uvsadm trace (docs/metrics.md) --------------------------------

/** zero: ipvsadm -Z, of one service or (without `service`) of all. */
export interface ZeroArgs {
  service?: ServiceKey;
}

/** traceStart: only decisions of `service` when given. */
export interface TraceStartArgs {
  service?: ServiceKey;
}

export interface TraceStartResult {
  session: number;
}

export interface TraceSessionArgs {
  session: number;
}

/** One new-connection decision. */
export interface TraceEvent {
  /** ISO 8601 time of the decision. */
  time: string;
  proto: Proto;
  client: string; // addr:port
  service: string; // vip:port
  /** addr:port of the chosen real server; null when none was available (dropped, no_dest). */
  server: string | null;
  sched: string;
  /** The scheduler's explain() line, or its name when it has none. */
  why: string;
}

/** A drop counter that moved since the previous poll. */
export interface TraceDrop {
  reason: string;
  count: number;
}

export interface TracePollResult {
  events: TraceEvent[];
  drops: TraceDrop[];
  /** Decisions overwritten in the ring before this session read them. */
  lost: number;
  /** More events are waiting (poll again right away). */
  more: boolean;
}

/** One item of a batch: any mutating verb and its args. */
/** High availability (docs/ha.md): uvsadm --role. */
export interface RoleArgs {
  role: 'master' | 'backup';
  /** --ha-group: the HA group whose addresses change role (uvsd --ha-group; "default": those of no group); none: every group. */
  group?: string;
}

/** One HA group's role (uvsd --ha-group; "default" holds the addresses of no named group). */
export interface HaGroupRole {
  name: string;
  role: 'master' | 'backup';
}

/** ipvsadm --start-daemon master|backup (uvs extras: syncPeer, keyFile). */
export interface DaemonSpec {
  state: 'master' | 'backup';
  /** --syncid (0..255; a backup with 0 takes every master's messages). Default 0. */
  syncid?: number;
  /** --mcast-interface: the host interface the sync socket uses (default: the first with IPv4). */
  mcastInterface?: string;
  /** uvs: unicast to this address instead of the multicast group. */
  syncPeer?: string;
  /** uvs: file with the shared HMAC-SHA256 key (required: sync is always authenticated). */
  keyFile?: string;
  /** --sync-maxlen (datagram payload bytes), --mcast-group, --mcast-port, --mcast-ttl. */
  maxlen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** One running sync daemon, as `daemon` reports it (src/sync/daemon.ts). */
export type DaemonInfo = SyncDaemonInfo;

/** uvsadm -L --daemon: the sync daemons, the role and the sync counters. */
export interface DaemonResult {
  role: 'master' | 'backup';
  haGroups?: HaGroupRole[];
  daemons: DaemonInfo[];
  stats: SyncStats;
}

export interface BatchItem {
  verb: string;
  args: unknown;
}

export type Verbs = VerbTypes;
export type VerbName = keyof Verbs;

export interface Request<V extends VerbName = VerbName> {
  /** Any JSON value; echoed back unchanged. */
  id: unknown;
  verb: V;
  args: Verbs[V]['args'];
  /** Ask for the reply's `timing`. */
  timing?: boolean;
}

/**
 * When uvsd began handling a request (`recv`) and had its reply ready to write (`sent`), in ms of
 * CLOCK_MONOTONIC (monoMs: the same clock in every process of the host), for a request that asked.
 */
export interface ReplyTiming {
  recv: number;
  sent: number;
}

/** CLOCK_MONOTONIC in ms (as ReplyTiming): comparable between processes, unlike performance.now(). */
export const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export interface ErrorBody {
  code: string;
  message: string;
  /** The offending value, when there is one. */
  detail?: string;
  /** batch: the 0-based index of the refused item. */
  index?: number;
}

export type Reply =
  | { id: unknown; ok: true; result: unknown; timing?: ReplyTiming }
  | { id: unknown; ok: false; error: ErrorBody; timing?: ReplyTiming };

export const DEFAULT_SOCKET = '/run/uvs/uvsd.sock';

/**
 * The port uvs stores for a real server given `port` (undefined: none given) on a service of
 * port `svcPort`: none or 0 means the service's port, as keepalived sets it. ipvsadm passes an
 * explicit 0 to the kernel, which lists `RIP:0` and sends each connection to the packet's port
 * (ip_vs_schedule: `dest->port ? dest->port : vport`), the service's; uvs stores that port, so
 * listings, health checks, --explain and trace name the port traffic goes to. A port-zero service
 * (`-t VIP:0 -p`) keeps 0: its servers take each packet's port.
 */
export function destPort(port: number | undefined, svcPort: number): number {
  return port === undefined || port === 0 ? svcPort : port;
}

/**
 * A DR or TUN server of a service with a port of its own takes that port: both leave the packet's
 * port as it is (a mark service has none, so its servers keep theirs, as ipvsadm).
 */
export function takesServicePort(fwd: Fwd, fwmark: number | undefined): boolean {
  return (fwd === 'dr' || fwd === 'tun') && !fwmark;
}
