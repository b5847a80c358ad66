// Health-check configuration as uvs holds it: keepalived's virtual_server / real_server model
// (REFERENCE.md "keepalived health checking"), with times in milliseconds. Produced by the
// keepalived.conf parser (keepalived.ts) and consumed by the HealthManager (manager.ts).

import type { DestInfo, Fwd, Proto, TunOptions } from '../control/protocol.js';
import type { PeName } from '../proto/sip.js';
import type { BfdParams } from './bfd.js';

export type CheckerType = 'TCP_CHECK' | 'HTTP_GET' | 'SSL_GET' | 'UDP_CHECK' | 'PING_CHECK' | 'MISC_CHECK' | 'DNS_CHECK' | 'SMTP_CHECK' | 'FILE_CHECK' | 'BFD_CHECK';

/** MISC_CHECK processes at once at most by default (uvsd --health-process-concurrency): src/defaults.ts. */
export { PROCESS_SLOTS } from '../defaults.js';

/** Checkers that connect to a port of the real server (its own, or their connect_port): at port 0 they have none. */
export const PORT_CHECKERS: ReadonlySet<CheckerType> = new Set(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'UDP_CHECK', 'DNS_CHECK', 'SMTP_CHECK']);

/** Where a spec came from, for messages ("file:line"). */
export interface Origin {
  file: string;
  line: number;
}

/** Parameters every checker has (keepalived names in comments). */
export interface CheckCommon {
  type: CheckerType;
  origin?: Origin;
  /** connect_ip / connect_port: check another address or port than the real server's. */
  connectIp?: string;
  connectPort?: number;
  /** bindto: source address of the check. */
  bindto?: string;
  /** bind_port: source port of the check (TCP, HTTP, SSL, SMTP, DNS, UDP checkers). */
  bindPort?: number;
  /** connect_timeout (default 5 s). */
  connectTimeoutMs: number;
  /** delay_loop (checker's own, else the virtual server's; default 60 s). */
  delayLoopMs: number;
  /** retry (keepalived 1.x nb_get_retry, still read in HTTP_GET and SSL_GET): extra attempts before an up server is declared failed (default per type: MISC_CHECK 0, others 1). */
  retry: number;
  /** delay_before_retry (default per type: HTTP_GET and SSL_GET 3 s, others 1 s). */
  delayBeforeRetryMs: number;
  /** uvs extension: consecutive passed checks needed to come back (default 1). */
  rise: number;
  /** uvs extension: consecutive failed checks (each one including its retries) needed to go down (default 1). */
  fall: number;
  /** warmup: the first check comes at a random time within it (keepalived's default, and without: delay_loop). */
  warmupMs?: number;
  /**
   * log_all_failures (or global_defs checker_log_all_failures): every failed attempt while the
   * checker is up is logged, its retries' too, not only the change of state.
   */
  logAllFailures?: true;
}

export interface HttpUrl {
  path: string;
  /** status_code: accepted statuses; default any 2xx. */
  status?: Array<[number, number]>;
  /** digest: MD5 of the body, lower-case hex (keepalived's genhash). */
  digest?: string;
  /** regex (keepalived 2.2): the body must match (regexNoMatch: must not). */
  regex?: string;
  /** regex_options: keepalived's words (pcre2 options) that regex.ts REGEX_OPTIONS can express. */
  regexOptions?: string[];
  /** regex_no_match: a match fails the check, no match passes it. */
  regexNoMatch?: boolean;
  /** regex_min_offset: a match counts only where it starts at this byte of the body or later. */
  regexMinOffset?: number;
  /** regex_max_offset: a match counts only where it starts at this byte of the body or earlier. */
  regexMaxOffset?: number;
  /** uvs: the body must contain this text. */
  contains?: string;
  /** virtualhost inside the url block (keepalived 2.x): this url's Host header (and SNI), over the checker's. */
  virtualhost?: string;
}

export interface TcpCheck extends CheckCommon {
  type: 'TCP_CHECK';
}
/**
 * keepalived's top-level SSL block (files in PEM): the client certificate and key SSL_GET presents
 * to a server that asks for one (mutual TLS), the key's password, and a CA file, loaded and, as in
 * keepalived, not used to verify the server.
 */
export interface TlsClient {
  certificate?: string;
  key?: string;
  password?: string;
  ca?: string;
  origin?: Origin;
}

/** HTTP_GET, and SSL_GET: the same check over TLS (server certificate not verified, as keepalived). */
export interface HttpCheck extends CheckCommon {
  type: 'HTTP_GET' | 'SSL_GET';
  urls: HttpUrl[];
  /** virtualhost: Host header (default the target address). */
  virtualhost?: string;
  /** enable_sni (SSL_GET): send virtualhost as the TLS server name (none without a virtualhost). */
  enableSni?: boolean;
  /** SSL_GET: the SSL block's client certificate (keepalived.conf). */
  tls?: TlsClient;
}
export interface UdpCheck extends CheckCommon {
  type: 'UDP_CHECK';
  /** payload (hex in keepalived.conf). */
  payload?: Buffer;
  /**
   * require_reply [hex]: a reply is needed, and when bytes are given it matches them up to the
   * shorter of the two (keepalived's check_udp_reply), each byte where replyMask has bits set
   * (keepalived's x nibbles are 0 there; no mask: every bit).
   */
  requireReply: boolean;
  replyPrefix?: Buffer;
  replyMask?: Buffer;
  minReplyLength?: number;
  maxReplyLength?: number;
}
export interface PingCheck extends CheckCommon {
  type: 'PING_CHECK';
}
export interface MiscCheck extends CheckCommon {
  type: 'MISC_CHECK';
  /** misc_path: the command line (split like a shell word list, no shell). */
  command: string;
  /** misc_timeout (default delay_loop). */
  timeoutMs: number;
  /** misc_dynamic: exit codes 2..255 mean healthy with weight = code - 2. */
  dynamic: boolean;
  /** user USER [GROUP]: who runs it (undefined: uvsd's user). */
  user?: ScriptUser;
}
/** A script's user and group (keepalived's `user USER [GROUP]`), resolved when the file is read. */
export interface ScriptUser {
  name: string;
  /** Given apart from the user's own group. */
  group?: string;
  uid: number;
  gid: number;
}
/** A notify_up, notify_down, quorum_up or quorum_down command line and who runs it (undefined: uvsd's user). */
export interface NotifyScript {
  command: string;
  user?: ScriptUser;
}
/** DNS_CHECK: a query (recursion desired, class IN) answered with the same ID and RCODE 0 (NOERROR). */
export interface DnsCheck extends CheckCommon {
  type: 'DNS_CHECK';
  /** type: the query type's name (A, NS, CNAME, SOA, MX, TXT, AAAA; default SOA). */
  queryType: DnsType;
  /** name: the name queried (default ".", the root). */
  queryName: string;
}
/** The query types keepalived's DNS_CHECK knows, with their numbers (RFC 1035, 3596). */
export const DNS_TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 } as const;
export type DnsType = keyof typeof DNS_TYPES;
/** SMTP_CHECK: a 220 greeting, HELO answered 250, QUIT answered. */
export interface SmtpCheck extends CheckCommon {
  type: 'SMTP_CHECK';
  /** helo_name (default smtpchecker.keepalived.org). */
  helo: string;
}
/**
 * FILE_CHECK (keepalived 2.2): the number in a file (keepalived's track_file) decides. With weight
 * 0, a value other than 0 fails the server (reverse: 0 fails it); otherwise value x weight
 * (negated with reverse) is added to the server's weight, which stays within 0..2^31-1. A missing
 * file reads 0. Read at start and then every FILE_POLL_MS (keepalived watches it with inotify);
 * no retry, rise or fall: each reading applies at once.
 */
export interface FileCheck extends CheckCommon {
  type: 'FILE_CHECK';
  /** The track_file's name (for messages) and its file. */
  trackFile: string;
  path: string;
  weight: number;
  reverse: boolean;
  /** track_file's init_file [VALUE] [overwrite]: the file is created with VALUE when missing
   *  (with overwrite also replaced when uvsd starts; never on a reload). */
  init?: { value: number; overwrite: boolean };
}
/**
 * BFD_CHECK (keepalived's, naming a bfd_instance): passes while the BFD session with the
 * instance's neighbour is Up (src/health/bfd.ts). Polled every BFD_POLL_MS with no retry, rise or
 * fall: the session's own detection time is the debounce. Until the session has been Up once or
 * its start-up time has passed, no verdict (the server keeps the state it started with).
 */
export interface BfdCheck extends CheckCommon {
  type: 'BFD_CHECK';
  /** The bfd_instance's name (for messages) and its parameters. */
  instance: string;
  bfd: BfdParams;
}
export type CheckSpec = TcpCheck | HttpCheck | UdpCheck | PingCheck | MiscCheck | DnsCheck | SmtpCheck | FileCheck | BfdCheck;

export interface RealServerSpec {
  addr: string;
  port: number;
  weight: number;
  inhibitOnFailure: boolean;
  /** Starts failed (true) or alive (false) where that differs from the virtual server's alpha
   *  (keepalived's real_server or checker `alpha`). */
  alpha?: boolean;
  notifyUp?: NotifyScript;
  notifyDown?: NotifyScript;
  checkers: CheckSpec[];
  origin?: Origin;
  /** The config file's table entry, used when a failed server is added back (keepalived: lb_kind,
   *  or the real_server's own lvs_method), and a TUN server's tunnel (lvs_method TUN type ...). */
  fwd?: Fwd;
  tun?: TunOptions;
  upper?: number;
  lower?: number;
}

export interface VirtualServerSpec {
  proto: Proto;
  addr: string;
  port: number;
  /** keepalived's virtual_server fwmark N (a -f service: addr 0.0.0.0, port 0). */
  fwmark?: number;
  /** keepalived's virtual_server group NAME: the members check each real server once, together. */
  group?: string;
  sched: string;
  /** lb_algo named no scheduler: ignored, so a reload leaves the running service's scheduler as it is (a new service: wlc). */
  schedIgnored?: boolean;
  fwd: Fwd;
  /** lvs_method TUN type ipip|gue|gre [port N] [nocsum|csum|remcsum]: the tunnel of its TUN servers. */
  tun?: TunOptions;
  /** persistence_timeout in seconds (0 = none): the service's -p. */
  persistence: number;
  /** persistence_granularity: the service's -M netmask (dotted quad; default 255.255.255.255). */
  netmask?: string;
  /** sh-port, sh-fallback, mh-port, mh-fallback: the service's -b scheduler flags. */
  schedFlags?: string[];
  /** ops: one-packet scheduling (-o), UDP services only. */
  oneShot?: boolean;
  /** persistence_engine (ipvsadm --pe): 'sip', persistent UDP (or fwmark) services only. */
  pe?: PeName;
  /** syn_proxy (DPVS's keepalived; uvsadm --synproxy): TCP services with NAT or FULLNAT servers only. */
  synproxy?: boolean;
  /** laddr_group_name (DPVS's keepalived): the FULLNAT local addresses, its local_address_group's (uvsadm --add-laddr). */
  laddrs?: string[];
  delayLoopMs: number;
  /** sorry_server, and its own forwarding method (sorry_server_lvs_method; else the virtual server's);
   *  inhibit (sorry_server_inhibit): once added, it is set to weight 0 when not needed instead of removed;
   *  origin: its own statement (a refusal to add it names that line). */
  sorryServer?: { addr: string; port: number; fwd?: Fwd; tun?: TunOptions; inhibit?: boolean; origin?: Origin };
  /** Minimum total weight of alive servers (default 1) and the hysteresis around it (default 0). */
  quorum: number;
  hysteresis: number;
  quorumUp?: NotifyScript;
  quorumDown?: NotifyScript;
  /** alpha: servers start as failed; omega: run quorum_down / notify_down at shutdown. */
  alpha: boolean;
  omega: boolean;
  /** ha_suspend: no checks while this director does not hold the VIP (backup of its HA group); the servers keep their state. */
  haSuspend?: boolean;
  realServers: RealServerSpec[];
  origin?: Origin;
}

export interface HealthConfig {
  services: VirtualServerSpec[];
}

/** One check attempt's outcome. */
export interface CheckResult {
  ok: boolean;
  /** Why it failed, or a short "what passed" note; logged on state changes. */
  reason: string;
  /** MISC_CHECK with misc_dynamic: the weight the exit code asks for; null on exit 0, the configured
   *  weight again (keepalived's check_misc.c sets rs->iweight when the exit code changes to 0). */
  weight?: number | null;
  /** FILE_CHECK: what its file adds to the server's weight (0 when it adds nothing). */
  delta?: number;
  /** No verdict yet (a BFD session starting): the checker keeps its state, the next attempt comes as usual. */
  pending?: boolean;
  /** The check could not run: uvsd itself out of file descriptors, socket buffers, memory or
   *  processes (checkers/resource.ts). No verdict, no retry: counted, tried again at the next delay_loop. */
  notRun?: boolean;
}

/** The address and port a checker talks to (the real server's unless connect_ip/port say otherwise). */
export interface CheckTarget {
  ip: string;
  port: number;
}

export type HealthState = NonNullable<DestInfo['health']>;

export type { CheckerStat, HealthEntry, HealthQueue, HealthQuorum } from '../control/protocol.js';
