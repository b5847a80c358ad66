// uvsd's command line: its options, their values' parsers, and the checks of the options that
// need neither the --config file's settings nor the daemon's modules. bin/uvsd runs
// checkCommandLine before it starts node again with uvsd's flags and before it loads the daemon
// (uvsd.ts, whose parseOptions reads the same command line, the --config file, and checks it all
// again): --help, --version and a refused option cost one node start and these few modules, not
// two starts and the whole daemon (~0.2 s of CPU each). Its static imports stay small: no
// datapath, health, sync or control-model module, no pino, no YAML parser (uvsd-refusals.test.ts
// checks the modules it loads).

import { isAbsolute, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import { checkedArg, emptyProblem, intArg, oneOfArg, parseCommandLine, usageErrors } from './options.js';
import { formatAddr, formatIp, formatMac, parseIp, parseMac, type LinkAddr } from '../datapath/addr.js';
import { DEFAULT_TAP_QLEN, IO_MODES, native, type IoMode } from '../datapath/port.js';
import {
  ARP_WATCH_MAX_S, ARP_WATCH_RATE, BGP_WATCH_MAX_S, DEFAULT_ARP_WATCH_S, DEFAULT_BGP_WATCH_S, DEFAULT_BIRD_SOCKET, DEFAULT_PROBE_MS, DEFENSE_DEFAULTS, MAX_WORKERS,
  MTU_MAX, MTU_MIN, NEIGH_MAX_DEFAULT, NEIGH_MAX_LIMIT, NEIGH_MAX_MIN, PROCESS_SLOTS, SCHEDULER_NAMES, SLOPPY_TCP_MODES, SYNPROXY_SYN_RETRIES_MAX,
} from '../defaults.js';
import { IPVS_VERSION, UVS_VERSION } from '../version.js';
import {
  DEFAULT_DRAIN_TIMEOUT, FRACTION_TEXT, ifnameProblem, parseAddrText, parseFtpPorts, parseHaGroup, socketPathProblem, type HaGroupSpec,
} from '../control/daemon-values.js';
import { DEFAULT_SOCKET } from '../control/protocol.js';
import { formatCpuList, parseCpuList } from '../control/cpulist.js';
import { parseListen } from '../metrics/listen.js';
import { combinationProblem, type SyncProblem } from './combination.js';
import type { ConfigFile } from '../control/config.js';
import type { DefenseOptions } from '../datapath/pipeline.js';

export interface Options extends DefenseOptions {
  tap: string;
  bridge?: string;
  /** --port af_packet:IFACE */
  port?: string;
  /** The interface of --port af_packet:IFACE (the ring backend), set by parseOptions. */
  ring?: string;
  addr: LinkAddr[];
  gateway?: number;
  socket: string;
  connMax: number;
  neighMax: number;
  destMax: number;
  logLevel: string;
  mac?: Uint8Array;
  mtu: number;
  io: IoMode;
  /** --offload on|off: vnet header, checksum offload and TSO on the TAP. */
  offload: string;
  /** --tap-qlen: the TAP's txqueuelen (frames held for uvsd per queue); 0 = the device's own. */
  tapQlen: number;
  /** --steering: how the TAP picks a frame's queue with --workers (ebpf program or the kernel's automq). */
  steering: string;
  /** --rx-budget: frames between looks at the rest of the event loop (native/rx.cc). */
  rxBudget: number;
  config?: string;
  drainTimeout: number;
  metrics?: string;
  /** The --config file's contents (its table is applied at start). */
  file?: ConfigFile;
  arpProbeMs: number;
  /** --arp-watch: seconds per lap of probes over the claimed addresses (0: none). */
  arpWatch: number;
  keepalivedConf?: string;
  keepalivedConfigId?: string;
  healthConcurrency?: number;
  healthProcessConcurrency: number;
  stateFile?: string;
  checkConfig?: boolean;
  role: 'master' | 'backup';
  /** --ha-group (repeatable): HA groups for active/active directors (docs/ha.md). */
  haGroup?: HaGroupSpec[];
  /** --vrrp-fifo: keepalived's notify FIFO (src/control/vrrpfifo.ts). */
  vrrpFifo?: string;
  /** --metrics parsed (parseListen), set by parseOptions. */
  metricsListen?: { host: string; port: number };
  metricsPerDest: boolean;
  metricsPerChecker: boolean;
  /** Options given on the command line (they win over the config file, at start and on reload). */
  fromCli: Set<string>;
  /** Every option's default (what a setting falls back to when the config file drops it). */
  defaults: Record<string, unknown>;
  /** The settings without a config key that differ from their defaults, as options (--dump-config names them). */
  commandLineOnly: string;
  /** BGP through BIRD (docs/scale-out.md). */
  bgpInclude?: string;
  bgpBirdSocket: string;
  bgpNextHop?: number;
  /** --bgp-watch: seconds between BIRD liveness checks. */
  bgpWatch: number;
  /** --workers N: worker threads, one per TAP queue (1 = the datapath on the main thread). */
  workers: number;
  /** --datapath-thread: with --workers 1, the datapath on a worker thread too (main keeps control, metrics, health). */
  datapathThread: boolean;
  /** --datapath-cpus: one CPU per datapath thread, in worker order. */
  datapathCpus?: number[];
  /** --no-jit-warmup turns off the start-up pass of synthetic frames (src/datapath/warmup.ts) and of the control verbs (src/control/warmup.ts). */
  jitWarmup: boolean;
}

/** --log-level: pino's levels, and silent (nothing). */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;


/**
 * What is wrong with --datapath-cpus for --workers `threads` (as many datapath threads: the main
 * thread or --datapath-thread's for 1), the CPUs the process may use `allowed`, or undefined.
 */
function datapathCpusProblem(cpus: readonly number[], threads: number, allowed: readonly number[]): string | undefined {
  if (cpus.length !== threads) {
    return `${cpus.length} CPU${cpus.length === 1 ? '' : 's'} for ${threads} datapath thread${threads === 1 ? '' : 's'}${threads > 1 ? ` (--workers ${threads})` : ''}: name one per thread`;
  }
  const bad = cpus.find((c) => !allowed.includes(c));
  if (bad !== undefined) return `CPU ${bad} is not one uvsd may run on (${formatCpuList(allowed)})`;
  return undefined;
}

function fracArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!FRACTION_TEXT.test(v) || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a fraction 0..1, got "${v}"`);
    return n;
  };
}

function wrap<T>(f: (v: string) => T) {
  return (v: string): T => {
    try {
      return f(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

/** uvsd's command line as commander read it: the options (by attribute name) and where each came from. */
export interface CommandLine {
  program: Command;
  o: OptionValues;
}

/**
 * Read uvsd's command line: --help and --version answered, an unknown option or a value its
 * parser refuses said on one line (options.ts), exit 0 or 2. The options' values and defaults,
 * fromCli and defaults set; no check over several options yet (checkSettings).
 */
export function readCommandLine(argv: string[]): CommandLine {
  const program = new Command('uvsd')
    .description(`userspace IPVS-compatible load balancer daemon (schedulers: ${SCHEDULER_NAMES.join(', ')})`)
    .option('--tap <name>', 'TAP interface to create or attach', checkedArg('--tap', ifnameProblem), 'uvs0')
    .option('--bridge <br>', 'bridge to enslave the TAP to', checkedArg('--bridge', ifnameProblem))
    .option('--port <spec>', 'af_packet:IFACE = the ring backend instead of the TAP: an existing interface (veth end, NIC) read through an AF_PACKET TPACKET_V2 ring')
    .option(
      '--addr <cidr>',
      'director address on the link, e.g. 192.168.8.10/24; ",floating" = moves with the master role (repeatable)',
      (v: string, prev: LinkAddr[] = []) => [...prev, wrap(parseAddrText)(v)],
    )
    .option('--gateway <ip>', 'next hop for off-link destinations', wrap((v) => {
      const ip = parseIp(v);
      if (ip < 0) throw new Error(`invalid gateway address "${v}"`);
      return ip;
    }))
    .option('--socket <path>', 'control socket path', checkedArg('--socket', socketPathProblem), DEFAULT_SOCKET)
    .option('--conn-max <n>', 'connection table size', intArg('--conn-max', 1, 1 << 26), 1048576)
    .option('--neigh-max <n>', `neighbour (ARP) table size: on-link hosts uvsd sends to (real servers, the gateway, NAT clients), each worker a table of its own, ${NEIGH_MAX_MIN}..${NEIGH_MAX_LIMIT}`,
      intArg('--neigh-max', NEIGH_MAX_MIN, NEIGH_MAX_LIMIT), NEIGH_MAX_DEFAULT)
    .option('--dest-max <n>', 'most real servers over all services', intArg('--dest-max', 1, 1 << 20), 65536)
    .option('--mtu <n>', 'MTU of the TAP interface', intArg('--mtu', MTU_MIN, MTU_MAX), 1500)
    .option('--mac <mac>', "uvsd's own station MAC (default: locally administered, made from this host, namespace, interface and --addr: the same at every start)", wrap(parseMac))
    .option('--io <mode>', 'frame I/O: io_uring (one system call per batch), syscalls (one per frame) or auto', oneOfArg('--io', IO_MODES), 'auto')
    .option('--workers <n>', `worker threads, one per TAP queue (IFF_MULTI_QUEUE), 1..${MAX_WORKERS}; 1 = the datapath on the main thread`,
      intArg('--workers', 1, MAX_WORKERS), 1)
    .option('--datapath-thread', 'with --workers 1: the datapath on a worker thread of its own, as with more workers; control, metrics and health checks ' +
      'keep the main thread and answer without waiting for the datapath\'s frame budget (docs/uvsd.md)', false)
    .option('--datapath-cpus <list>', 'pin each datapath thread to a CPU of this list, in worker order (one per thread: 1, or 2,3 with --workers 2); ' +
      'with workers or --datapath-thread the main thread (control, metrics, health checks) then runs on the other CPUs', wrap((v) => parseCpuList(v)))
    .option('--steering <ebpf|automq>', 'with --workers: an eBPF program sends each connection\'s frames, both ways, to the worker holding it (ebpf), or the kernel\'s automq flow table picks the queue (automq)',
      oneOfArg('--steering', ['ebpf', 'automq']), 'ebpf')
    .option('--offload <on|off>', 'TAP checksum offload and TSO (virtio_net_hdr): TCP segments up to 64 KB pass uncut', oneOfArg('--offload', ['on', 'off']), 'on')
    .option('--tap-qlen <frames>', "the TAP's txqueuelen: frames the kernel holds for uvsd (per queue) while it is busy; more arriving are dropped. 0 = leave the device's own (a new TAP has 1000)",
      intArg('--tap-qlen', 0, 65536), DEFAULT_TAP_QLEN)
    .option('--no-jit-warmup', 'skip the start-up pass of synthetic frames of every kind through a scratch datapath, which keeps the first frame of a new kind from de-optimising the datapath, and of the control verbs on a scratch table, which keeps a verb\'s first call from holding the loop')
    .option('--rx-budget <frames>', 'frames forwarded before control, metrics and health get their turn when they have work',
      intArg('--rx-budget', 1, 65536), 256)
    .option('--arp-probe-ms <ms>', 'probe new addresses (RFC 5227) this long before claiming them; 0 = never', intArg('--arp-probe-ms', 0, 10000), DEFAULT_PROBE_MS)
    .option('--arp-watch <seconds>', `probe every address uvsd claims once per this many seconds (at most ${ARP_WATCH_RATE} probes a second), and a VIP as a DR/TUN server joins its service: ` +
      'a station answering for one (a DR real server without arp_ignore) is logged, counted and defended; 0 = never', intArg('--arp-watch', 0, ARP_WATCH_MAX_S), DEFAULT_ARP_WATCH_S)
    .option('--keepalived-conf <path>', 'import virtual_server blocks and their health checkers from a keepalived.conf', checkedArg('--keepalived-conf', emptyProblem))
    .option('--keepalived-config-id <id>', 'keepalived\'s -i/--config-id: the keepalived.conf\'s "@ID" lines are for this director, "@^ID" lines for the others (default: the host name up to its first dot)',
      (v: string) => {
        if (!/^[^\s@^]\S*$/.test(v)) throw new InvalidArgumentError(`--keepalived-config-id must be one word, got ${JSON.stringify(v)}`);
        return v;
      })
    .option('--health-concurrency <n>', 'health checks in flight at most (default: one per checker, at least 64, within half of the open-files limit)', intArg('--health-concurrency', 1, 10000))
    .option('--health-process-concurrency <n>', 'MISC_CHECK processes running at once at most, within the health check slots; more wait in their own queue',
      intArg('--health-process-concurrency', 1, 10000), PROCESS_SLOTS)
    .option('--no-metrics-per-dest', 'leave per-real-server series out of /metrics (very large tables)')
    .option('--no-metrics-per-checker', 'leave the per-health-checker series (uvs_health_check_*) out of /metrics; uvs_dest_up stays')
    .option('--log-level <level>', `${LOG_LEVELS.join(', ')} (debug adds each health check's result)`,
      oneOfArg('--log-level', LOG_LEVELS), 'info')
    .option('--config <file>', 'YAML configuration: daemon settings and the service table (options given here win)', checkedArg('--config', emptyProblem))
    .option('--drain-timeout <s>', 'seconds a server removed by a reload keeps its connections at weight 0 (0 = remove at once); ' +
      'also uvsadm --drain\'s default: after it the director says drained with connections left (it still forwards)',
      intArg('--drain-timeout', 0, 86400), DEFAULT_DRAIN_TIMEOUT)
    .option('--metrics <addr:port>', 'serve Prometheus /metrics, /status.json and a status page at / (e.g. 127.0.0.1:9478; a port alone is on 127.0.0.1; off when not given)')
    .option('--secure-tcp-above <fill>', 'table fill (0..1) above which half-open TCP states time out in seconds (off again below 80% of it); 1 = never',
      fracArg('--secure-tcp-above'), DEFENSE_DEFAULTS.secureTcpAbove)
    .option('--evict-above <fill>', 'table fill (0..1) from which a new connection first evicts a half-open/unconfirmed entry; 1 = only when full',
      fracArg('--evict-above'), DEFENSE_DEFAULTS.evictAbove)
    .option('--max-conn-rate-per-source <n>', 'new connections per second per client address; 0 = unlimited',
      intArg('--max-conn-rate-per-source', 0, 1_000_000), DEFENSE_DEFAULTS.maxConnRatePerSource)
    .option('--arp-accept-unsolicited', "let unsolicited/gratuitous ARP change a real server's MAC (default: only answers to uvsd's probes)", false)
    .option('--expire-quiescent-template', 'expire a persistence template whose server has weight 0 at the client\'s next connection (the kernel\'s expire_quiescent_template)', false)
    .option('--garp-refresh <seconds>', 'while master, send gratuitous ARP for every VIP, LIP and floating address again every N seconds (keepalived\'s garp_master_refresh); 0 = never',
      intArg('--garp-refresh', 0, 86_400), DEFENSE_DEFAULTS.garpRefresh)
    .option('--sloppy-tcp [scope]', 'DR/TUN: open connections on mid-stream TCP segments too, like the sloppy_tcp sysctl: all = every service (also bare --sloppy-tcp), ' +
      'mh = only mh services, placed by the mh table (many directors behind ECMP; docs/scale-out.md), off = none', oneOfArg('--sloppy-tcp', SLOPPY_TCP_MODES), 'off')
    .addOption(new Option('--ftp-ports <ports>', 'the FTP helper (the kernel\'s ip_vs_ftp, ports=): NAT/FULLNAT TCP connections to these virtual ports ' +
      '(e.g. 21, or 21,2121) get their PASV/EPSV replies rewritten to the VIP and their data connections made (NAT also PORT/EPRT); none = off')
      .argParser(wrap(parseFtpPorts)).default(DEFENSE_DEFAULTS.ftpPorts, 'none'))
    .option('--conn-reuse-mode <n>', "a TCP SYN on a finished entry's tuple opens a new connection, scheduled again, like the conn_reuse_mode sysctl: " +
      '1 = TIME_WAIT and CLOSE entries, 2 or 3 = also FIN_WAIT of DR/TUN entries, 0 = never (the SYN follows the old entry)',
      intArg('--conn-reuse-mode', 0, 3), DEFENSE_DEFAULTS.connReuseMode)
    .option('--synproxy-syn-retries <n>', 'SYN proxy services: the SYN to a real server that does not answer goes N times again, 1, 3, 7 ... s after the first; ' +
      'the client gets a reset (2^(N+1) - 1) s after it (15 s by default; Alibaba LVS\'s synproxy_syn_retry); 0 = no resend, a reset after 1 s',
      intArg('--synproxy-syn-retries', 0, SYNPROXY_SYN_RETRIES_MAX), DEFENSE_DEFAULTS.synproxySynRetries)
    .option('--icmp-ratelimit <ms>', 'ICMP errors to one source: one per this many ms, bursts of 6 (the kernel\'s net.ipv4.icmp_ratelimit); 0 = no per-source limit',
      intArg('--icmp-ratelimit', 0, 3_600_000), DEFENSE_DEFAULTS.icmpRatelimit)
    .option('--schedule-icmp', 'an ICMP error (unreachable, time exceeded, source quench) about a VIP\'s reply of no connection here is scheduled as its client\'s ' +
      'new flow and sent to the server chosen, like the schedule_icmp sysctl (several directors behind ECMP: path MTU discovery; docs/scale-out.md)', false)
    .option('--toa', 'FULLNAT: put the client\'s address and port in a TCP option (TOA, kind 254, as Alibaba LVS and DPVS) in the segments completing ' +
      'each real server\'s handshake, for the servers\' toa kernel module (getpeername() then returns the client); the servers\' MSS is lowered by 8', false)
    .option('--role <role>', 'high availability role at start: master (answers for the VIPs) or backup (docs/ha.md)', oneOfArg('--role', ['master', 'backup']), 'master')
    .option('--ha-group <name=addrs>', 'an HA group for active/active directors: NAME=a.b.c.d[,a.b.c.d...], VIPs, local and floating addresses ' +
      'that change role together (uvsadm --role master|backup --ha-group NAME; repeatable; docs/ha.md)',
    (v: string, prev: HaGroupSpec[] = []) => [...prev, wrap(parseHaGroup)(v)])
    .option('--vrrp-fifo <path>', 'read keepalived\'s VRRP transitions from this FIFO (its global_defs vrrp_notify_fifo; created if missing) ' +
      'instead of notify scripts: an instance or sync group named after an HA group drives that group, any drives the director without groups (docs/ha.md)',
      checkedArg('--vrrp-fifo', emptyProblem))
    .option('--state-file <path>', 'write the table here on every change and load it at start (survives restarts; at start its table wins over --config\'s, the file applies at the next reload)', checkedArg('--state-file', emptyProblem))
    .option('--check-config', 'check --config / --keepalived-conf as a start would, print the table (uvsadm -Ln) and exit: 0, or 2 with the error; nothing is opened')
    .option('--bgp-include <file>', 'announce VIPs through BIRD: write this BIRD config include (static protocol uvs_vips) on every change and run `configure`',
      checkedArg('--bgp-include', emptyProblem))
    .option('--bgp-bird-socket <path>', "BIRD's control socket (birdc -s)", checkedArg('--bgp-bird-socket', emptyProblem), DEFAULT_BIRD_SOCKET)
    .option('--bgp-next-hop <ip>', 'next hop of the announced routes: one of the --addr addresses (default: the first)', wrap((v) => {
      const ip = parseIp(v);
      if (ip < 0) throw new Error(`invalid next hop address "${v}"`);
      return ip;
    }))
    .option('--bgp-watch <seconds>', 'ask BIRD this often whether it runs the include and a BGP session exports its routes (--status bgp line, uvs_bgp_up)',
      intArg('--bgp-watch', 1, BGP_WATCH_MAX_S), DEFAULT_BGP_WATCH_S)
    .version(`uvsd ${UVS_VERSION} (IPVS ${IPVS_VERSION} compatible; node ${process.version})`, '-V, --version');
  parseCommandLine(usageErrors(program, 'uvsd'), argv);
  const o = program.opts();
  o.fromCli = new Set(program.options.map((x) => x.attributeName()).filter((n) => program.getOptionValueSource(n) === 'cli'));
  o.defaults = Object.fromEntries(program.options.map((x) => [x.attributeName(), x.defaultValue as unknown]));
  return { program, o };
}

/**
 * The checks over the options uvsd starts with (the --config file's settings among them, when
 * uvsd.ts has read it), in uvsd's order: the first refused is one line, exit 2. `combination`:
 * settings.ts's combinationProblem (daemon.sync checked too) or, without a --config file (no
 * daemon.sync), combination.ts's.
 */
export function checkSettings({ program, o }: CommandLine, combination: (o: Options, fromCli: (option: string) => boolean) => string | undefined): void {
  // A relative --socket (or daemon.socket) is bound as the absolute path it names now: ss lists a
  // socket by the path given to bind(), and contrib/uvsd-check, keepalived's check, compares paths
  // (a uvsd started with --socket ./u.sock failed the check given its absolute path until 2026-12-07).
  if (typeof o.socket === 'string' && !isAbsolute(o.socket)) o.socket = resolve(o.socket);
  if (o.addr !== undefined && (o.addr as LinkAddr[]).every((a) => a.floating === true)) {
    console.error('uvsd: at least one --addr must be fixed (not floating): a backup needs an address of its own');
    process.exit(2);
  }
  const twice = (o.addr as LinkAddr[] | undefined)?.find((a, i, all) => all.findIndex((b) => b.ip === a.ip) !== i);
  if (twice !== undefined) {
    console.error(`uvsd: --addr ${formatAddr(twice)}: the address ${formatIp(twice.ip)} is given twice`);
    process.exit(2);
  }
  if (o.port !== undefined) {
    const m = /^af_packet:([^\s/:]{1,15})$/.exec(o.port);
    if (m === null) {
      console.error(`uvsd: invalid --port "${o.port}" (af_packet:IFACE; the TAP port is --tap NAME)`);
      process.exit(2);
    }
    if (o.bridge !== undefined || o.io !== 'auto') {
      console.error(`uvsd: --port ${o.port} takes no ${o.bridge !== undefined ? '--bridge (put the interface on the bridge yourself)' : `--io ${o.io} (the ring is its own I/O)`}`);
      process.exit(2);
    }
    o.ring = m[1];
  }
  if (o.metrics !== undefined) {
    // Checked after the --config file, which may set it too (daemon.metrics).
    try {
      o.metricsListen = parseListen(o.metrics);
    } catch (e) {
      const where = program.getOptionValueSource('metrics') === 'cli' ? '' : `${(o.file as ConfigFile).file}: daemon.metrics: `;
      console.error(`uvsd: ${where}${(e as Error).message}`);
      process.exit(2);
    }
  }
  if (o.datapathCpus !== undefined) {
    const why = datapathCpusProblem(o.datapathCpus, o.workers, native.threadCpus());
    if (why !== undefined) {
      console.error(`uvsd: --datapath-cpus ${(o.datapathCpus as number[]).join(',')}: ${why}`);
      process.exit(2);
    }
  }
  if (program.getOptionValueSource('steering') === 'cli' && o.workers < 2) {
    // One datapath has one queue: nothing to steer, and the choice would be ignored without a word.
    console.error(`uvsd: --steering ${o.steering as string} without --workers 2 or more: one datapath reads one queue, there is nothing to steer`);
    process.exit(2);
  }
  const problem = combination(o as Options, (name) => program.getOptionValueSource(name) === 'cli');
  if (problem !== undefined) {
    console.error(`uvsd: ${problem}`);
    process.exit(2);
  }
}

/** Why `mac` cannot be uvsd's station MAC (--mac), or undefined. */
export function macProblem(mac: Uint8Array): string | undefined {
  if ((mac[0]! & 1) !== 0) return `--mac ${formatMac(mac)} is a multicast address`;
  // A Linux bridge drops frames from the all-zero MAC (is_valid_ether_addr): uvsd would be unreachable.
  if (mac.every((b) => b === 0)) return `--mac ${formatMac(mac)} is not a valid station address`;
  return undefined;
}

/** daemon.sync is set by a --config file only: without one there is nothing for it to check. */
const NO_SYNC: SyncProblem = () => undefined;

/**
 * bin/uvsd's check of the command line, before node is started again and the daemon is loaded:
 * --help, --version, and every refusal up to the first check that needs the --config file (read
 * by uvsd.ts) or the keepalived.conf (its parser), answered as uvsd.ts would, in the same order,
 * so that what is printed and the exit code are the same whichever answers. Returns when the
 * command line passed what it could check, with whether it asks for --check-config (bin/uvsd
 * then leaves SIGTERM and SIGINT at their default: early-signals.ts releaseStopSignals).
 */
export function checkCommandLine(argv: string[]): { checkConfig: boolean } {
  const cl = readCommandLine(argv);
  const checkConfig = cl.o.checkConfig === true;
  if (cl.o.config !== undefined) return { checkConfig }; // its settings are checked with the command line's (uvsd.ts)
  checkSettings(cl, (o, fromCli) => combinationProblem(o, fromCli, NO_SYNC));
  if (cl.o.keepalivedConf !== undefined) return { checkConfig }; // read before the --mac check (uvsd.ts main)
  const why = cl.o.mac === undefined ? undefined : macProblem(cl.o.mac as Uint8Array);
  if (why !== undefined) {
    console.error(`uvsd: ${why}`);
    process.exit(2);
  }
  return { checkConfig };
}
