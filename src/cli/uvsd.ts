// uvsd: the daemon. Opens the TAP, runs the datapath on its batches, serves the control socket.

import type { Command } from 'commander';
import { checkSettings, macProblem, readCommandLine, type Options } from './uvsd-options.js';
import { MTU_MAX, MTU_MIN } from '../defaults.js';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { formatAddr, formatIp, formatMac, parseIp } from '../datapath/addr.js';
import { stationMac } from './station-mac.js';
import { TICK_MS } from '../datapath/conntable.js';
import { C } from '../datapath/counters.js';
import { GARP_AGAIN_MS, RX_HEADROOM, Datapath } from '../datapath/pipeline.js';
import type { DpOp } from '../datapath/ops.js';
import { ipv6On, Port, native, tapQueueDrops, type TapInfo } from '../datapath/port.js';
import { DatapathGroup } from '../datapath/group.js';
import type { LaddrUsage } from '../modes/laddr.js';
import { Steering } from '../datapath/steer.js';
import { SweepPacer } from '../datapath/sweep-pacer.js';
import { warmUp } from '../datapath/warmup.js';
import { Control } from '../control/model.js';
import { FaultWatch } from '../control/faults.js';
import { NoDecapWatch } from '../control/nodecap.js';
import { ArpWatch } from '../control/arpwatch.js';
import { wallOf } from '../control/clock.js';
import { EST_TICKS } from '../control/estimator.js';
import { LinkWatch, RingOffloadWatch } from '../control/linkwatch.js';
import { linkWarnings } from '../control/linkcheck.js';
import { VrrpFifo } from '../control/vrrpfifo.js';
import { roleText, UVS_VERSION } from '../control/printers.js';
import { roleStatus } from '../control/verbs.js';
import { controlDispatch, withPeer } from '../control/dispatch.js';
import { checkControlPath, listenControl } from '../control/server.js';
import { sdNotify } from './sdnotify.js';
import { within } from '../timers.js';
import { LogOutput } from './logout.js';
import {
  ConfigManager, haGroupWarnings, keepalivedServices, mergeServices, readConfig, type ConfigFile, type DaemonReload,
} from '../control/config.js';
import { UvsError } from '../control/errors.js';
import { formatCpuList } from '../control/cpulist.js';
import { StateFile, lockStateFile, resolveStatePath, restoreState, type StartRestore, type StateDump } from '../control/statefile.js';
import { startSyncDaemons, syncAtStart, syncWhere } from '../control/syncconf.js';
import { conflictMessage, leaveUnclaimed, PROBE_SLICES, probeConflicts, reprobeMs, reprobeUnclaimed } from '../control/claim.js';
import { hostChecks, Pinger } from '../health/checkers/index.js';
import { BfdHub } from '../health/bfd.js';
import { runNotifyScript } from '../health/exec.js';
import { loadKeepalivedFile } from '../health/load.js';
import { HealthManager } from '../health/manager.js';
import type { MetricsServer } from '../metrics/server.js';
import { combinationProblem, commandLineOnly, daemonReload, defenseOf, fileOptions, settingsOf, startRoleOps } from './settings.js';
import { checkConfig, writeAllSync } from './check-config.js';
import { fdLimitProblem, fdLimitWorkersProblem, openFilesLimit } from './fdlimit.js';
import { memoryLimit, tableMemoryProblem } from './memlimit.js';
import { loadKeepalivedOffThread, warmConfigThread } from '../control/config-thread.js';
import { warmControl } from '../control/warmup.js';
import { missingNodeFlags } from './node-flags.js';
import { handleSignal } from './early-signals.js';
import { BirdAnnouncer, wantedVips, type AnnounceState } from '../bgp/bird.js';
import { fileWarner, listFields, reloadLogger, statusForLog } from './reload-log.js';

/** The interface does not exist in uvsd's namespace; false also when the lookup itself failed (EMFILE, ...). */
function ifaceGone(iface: string): boolean {
  try {
    return native.ifaceInfo(iface) === null;
  } catch {
    return false;
  }
}

/**
 * The ring backend's socket no longer has the interface it was opened on (ifindex `at`): the name
 * now belongs to another interface (deleted and made again), or the kernel unbound the socket
 * (getsockname's ifindex -1: its interface unregistered, e.g. moved to another namespace and
 * back). What to say, or undefined while the ring is on its interface (or the name is missing:
 * the deleted-interface check says that; or a lookup failed, which says nothing).
 */
function ringLost(iface: string, at: number, fd: number): string | undefined {
  try {
    const now = native.ifaceInfo(iface);
    if (now === null) return undefined;
    if (now.ifindex !== at) return `${iface} was deleted and made again (ifindex ${at}, now ${now.ifindex}): the ring socket stays on the deleted one, no frame would pass`;
    const bound = native.packetRingIfindex(fd);
    if (bound !== null && bound !== at) return `the ring socket on ${iface} was unbound by the kernel (its interface left the namespace and came back?): no frame would pass`;
  } catch {
    // out of file descriptors, say: nothing known about the interface
  }
  return undefined;
}

/**
 * --port af_packet:IFACE --workers n: n ring sockets in one fanout group, steered by the program
 * steering loaded (built for L3); a group that refuses the program is made again with the kernel's
 * flow hash (steering then says why).
 */
function ringQueues(ifname: string, n: number, steering: Steering): TapInfo[] {
  const prog = steering.prog;
  if (prog === undefined) return Port.ringQueues(ifname, n, undefined);
  try {
    return Port.ringQueues(ifname, n, prog);
  } catch (e) {
    steering.detach((e as Error).message);
    return Port.ringQueues(ifname, n, undefined);
  }
}

/** What main needs of its port: the TAP itself (--workers 1 without --datapath-thread) or the queues' common facts. */
type MainPort = Pick<Port, 'mac' | 'name' | 'created' | 'vnetHdr' | 'offload' | 'offloadError' | 'qlen' | 'batch' | 'io' | 'ioFallback' | 'close' | 'drops'>;

/** How long a notify / quorum command may run. */
const COMMAND_TIMEOUT_MS = 10_000;
/** How long a stop waits for the state file's last write. */
const STATE_FLUSH_MS = 5_000;
/** How long a stop waits for the changes the control socket took before it (a large -R: answered, kept). */
const CONTROL_DRAIN_MS = 5_000;
/** How long a stop waits for its last log lines to be written (a stdout pipe full: its reader late). */
const LOG_DRAIN_MS = 2_000;
/** With --workers, how often /metrics' FULLNAT port use is asked of the workers. */
const METRICS_LADDRS_MS = 2_000;

/**
 * --datapath-cpus, the main thread's part (each worker pins itself as it starts): with workers the
 * main thread (control, metrics, health checks) takes the CPUs the process may use but the
 * workers' (none left: it stays where it was); without, it is the datapath and takes its CPU.
 */
function pinMainThread(cpus: number[], workers: boolean): { datapath: number[]; control: number[] } {
  if (!workers) {
    native.setThreadCpus(cpus);
  } else {
    const rest = native.threadCpus().filter((c) => !cpus.includes(c));
    if (rest.length > 0) native.setThreadCpus(rest);
  }
  return { datapath: cpus, control: native.threadCpus() };
}

/** Daemon settings from the --config file, for every option not given on the command line. */
function applyFileSettings(program: Command, o: Record<string, unknown>): void {
  let cfg: ConfigFile;
  try {
    // Every value in the file is checked here, those the command line overrides too.
    cfg = readConfig(o.config as string, { atStart: true });
  } catch (e) {
    console.error(`uvsd: ${e instanceof UvsError ? e.message : (e as Error).message}`);
    process.exit(2);
  }
  o.file = cfg;
  for (const [k, v] of Object.entries(fileOptions(cfg.daemon))) {
    if (program.getOptionValueSource(k) !== 'cli') o[k] = v;
  }
}

/**
 * uvsd's options: the command line (uvsd-options.ts: bin/uvsd checked it already, before it
 * started node again, up to the --config file), the --config file's settings for the options not
 * given, and the checks over them all.
 */
function parseOptions(argv: string[]): Options {
  const cl = readCommandLine(argv);
  const { program, o } = cl;
  if (o.config !== undefined) applyFileSettings(program, o);
  checkSettings(cl, combinationProblem);
  o.commandLineOnly = commandLineOnly(o as Options, program.options.map((x) => ({ long: x.long ?? '', attr: x.attributeName(), negate: x.negate })));
  return o as Options;
}

export async function main(argv: string[]): Promise<void> {
  const opts = parseOptions(argv);
  // Descriptors uvsd inherited without close-on-exec (a wrapper's lock or pipe, a shell's `3>`)
  // would reach every health check, notify and quorum command it starts and live on in their
  // children (until 2026-12-07 they did); uvsd opens its own with it. stdin, stdout, stderr kept.
  native.cloexecFrom(3);
  // The log goes to stdout through LogOutput (src/cli/logout.ts): a write that fails (a full
  // disk: ENOSPC) drops its lines, counted (--status log_lines_dropped), and never stops uvsd.
  const logOut = new LogOutput(1);
  const log = pino({ level: opts.logLevel, base: { name: 'uvsd' } }, logOut);
  logOut.onBack = (dropped, error) => log.warn({ dropped, error }, `log output writable again: ${dropped} log lines were lost while writes failed`);
  process.on('exit', () => logOut.flushSync());
  // The keepalived.conf is read before anything is opened: a bad file (or a virtual server the
  // --config file has too) exits 2 with file:line.
  let initial: ConfigFile | undefined;
  const fileWarnings = opts.file?.warnings ?? [];
  const keepalivedWarnings: string[] = [];
  if (opts.keepalivedConf !== undefined) {
    try {
      const parsed = loadKeepalivedFile(opts.keepalivedConf, opts.keepalivedConfigId);
      keepalivedWarnings.push(...parsed.warnings.map((w) => `keepalived.conf: ${w}`));
      const empty: ConfigFile = { file: opts.keepalivedConf, daemon: {}, timeoutsLine: 1, services: [] };
      initial = mergeServices(opts.file ?? empty, keepalivedServices(parsed.config.services));
    } catch (e) {
      console.error(`uvsd: --keepalived-conf: ${(e as Error).message}`);
      process.exit(2);
    }
  } else {
    initial = opts.file;
  }
  const mac = opts.mac ?? stationMac(opts.ring ?? opts.tap, opts.addr.map(formatAddr));
  const macWhy = macProblem(mac);
  if (macWhy !== undefined) {
    console.error(`uvsd: ${macWhy}`);
    process.exit(2);
  }
  // The table is allocated and prefaulted at start: one too large for the memory limit would have
  // the OOM killer stop uvsd before it logs anything.
  const memProblem = tableMemoryProblem(opts.connMax, opts.workers > 1 ? opts.workers : opts.datapathThread ? 1 : 0, memoryLimit());
  if (memProblem !== undefined) {
    console.error(`uvsd: ${memProblem}`);
    process.exit(2);
  }
  if (opts.checkConfig === true) {
    if (initial === undefined) {
      console.error('uvsd: --check-config needs --config or --keepalived-conf');
      process.exit(2);
    }
    const w = (fd: number) => (s: string) => writeAllSync(fd, s);
    process.exit(checkConfig({
      mac, addr: opts.addr, gateway: opts.gateway, connMax: opts.connMax, destMax: opts.destMax, mtu: opts.mtu, initial, warnings: [...fileWarnings, ...keepalivedWarnings], haGroups: opts.haGroup,
    }, w(1), w(2)));
  }
  for (const w of fileWarnings) log.warn({ file: opts.config }, w);
  // Below NOFILE_MIN bin/uvsd refused to start; below NOFILE_WARN it runs, and says so.
  const nofile = openFilesLimit();
  // The workers start at once, each opening its share: too few descriptors failed a module's
  // load in one of them (EMFILE naming a .js file, exit 1) where bin/uvsd's check had passed.
  const fdWorkers = fdLimitWorkersProblem(nofile, opts.workers);
  if (fdWorkers !== undefined) {
    console.error(`uvsd: ${fdWorkers}`);
    process.exit(2);
  }
  const fdLow = fdLimitProblem(nofile);
  if (fdLow !== undefined) log.warn({ nofile }, fdLow.message);
  for (const w of keepalivedWarnings) log.warn({ file: opts.keepalivedConf }, w);
  /** Where the state file is read and written: a symbolic link followed (resolveStatePath). */
  const stateFile = opts.stateFile === undefined ? undefined : resolveStatePath(opts.stateFile);
  if (stateFile !== undefined) {
    // Held before anything is opened: a second uvsd on the same file stops here (the first one's
    // pid named), before it would restore that table and claim its VIPs.
    const why = lockStateFile(stateFile);
    if (why !== undefined) {
      console.error(`uvsd: --state-file ${why}`);
      process.exit(1);
    }
    if (stateFile !== resolve(opts.stateFile!)) log.info({ stateFile: opts.stateFile, resolved: stateFile }, 'state file read and written where its path leads (a symbolic link followed)');
  }
  let port: MainPort;
  /** --workers N >= 2 (or 1 with --datapath-thread): the worker threads, each on its own queue of the TAP. */
  let group: DatapathGroup | undefined;
  /** --workers: how frames find their worker (the TAP's program, set through any queue's fd; with
   *  the ring backend the fanout group's, attached as the sockets join it). */
  let steering: Steering | undefined;
  /** The receive loop on the main thread (--workers 1 without --datapath-thread). */
  let rxPort: Port | undefined;
  /** The ring backend: the ifindex of its interface at start, and a ring socket on it (the first
   *  worker's with --workers), for the link tick's check that the ring still has that interface. */
  let ringAt: number | undefined;
  let ringFd: number | undefined;
  const batch = 64;
  try {
    // A receive slot holds a whole frame of the MTU (Ethernet header and a VLAN tag included)
    // plus RX_HEADROOM free bytes, so TUN can put its outer header in front of any frame in place.
    // With offload a frame may be a 64 KB TCP super-segment (GSO): slots of 64 KB (4 MB in all).
    // The ring backend reads whole frames of the interface's MTU (no vnet header, no offload):
    // that MTU, as it is at start, is uvsd's (--mtu does not apply; uvsd leaves the interface as
    // it is). One above --mtu's limit is refused as --mtu is (before 2026-12-05 it was taken as
    // 9000 and every longer frame dropped); one below MIN is taken as MIN (every frame fits).
    const offload = opts.offload === 'on' && opts.ring === undefined;
    const ringIface = opts.ring === undefined ? null : native.ifaceInfo(opts.ring);
    if (ringIface !== null && ringIface.mtu > MTU_MAX) {
      console.error(`uvsd: --port af_packet:${opts.ring}: ${opts.ring}'s mtu ${ringIface.mtu} is more than uvsd carries (${MTU_MAX}, as --mtu); ` +
        `set it to ${MTU_MAX} or less (ip link set ${opts.ring} mtu ${MTU_MAX})`);
      process.exit(2);
    }
    if (ringIface !== null) opts.mtu = Math.max(MTU_MIN, ringIface.mtu);
    const stride = Math.max(2048, Math.ceil(((offload ? 65535 : opts.mtu) + 18 + RX_HEADROOM) / 64) * 64);
    if (opts.workers > 1 || opts.datapathThread) {
      let queues: TapInfo[];
      if (opts.ring !== undefined) {
        // The program is loaded first: the fanout group takes it as the sockets join.
        steering = new Steering(native, opts.steering === 'ebpf' ? -1 : undefined, { ring: true });
        queues = ringQueues(opts.ring, opts.workers, steering);
        ringFd = queues[0].fd;
        ringAt = queues[0].ifindex;
      } else {
        queues = Port.tapQueues(opts.tap, opts.workers, { bridge: opts.bridge, mtu: opts.mtu, offload, qlen: opts.tapQlen });
        // The TAP's program is set through any one queue's fd. Refused -> the kernel's automq table.
        steering = new Steering(native, opts.steering === 'ebpf' ? queues[0].fd : undefined);
      }
      const q = queues[0];
      if (q.mac === formatMac(mac)) {
        for (const x of queues) native.close(x.fd);
        console.error(`uvsd: --mac ${formatMac(mac)} equals the ${opts.ring !== undefined ? 'port' : 'TAP'} interface's own MAC; choose a different station MAC`);
        process.exit(2);
      }
      group = new DatapathGroup(queues, { io: opts.io, stride, batch, headroom: RX_HEADROOM, budget: opts.rxBudget }, {
        mac, addrs: opts.addr, gateway: opts.gateway, connMax: opts.connMax, neighMax: opts.neighMax, destMax: opts.destMax, batch, mtu: opts.mtu,
        defense: defenseOf(opts), vnetHdr: q.vnetHdr, routedVips: opts.bgpInclude !== undefined,
      }, { census: opts.metricsListen !== undefined, warmup: opts.jitWarmup, ring: opts.ring !== undefined, cpus: opts.datapathCpus });
      const g = group;
      port = {
        mac: q.mac, name: q.name, created: q.created, vnetHdr: q.vnetHdr, offload: q.offload, offloadError: q.offloadError, qlen: q.qlen, batch,
        io: 'syscalls', ioFallback: '', close: () => void g.close(), drops: () => g.drops(),
      };
    } else {
      rxPort = opts.ring !== undefined
        ? Port.packetRing(opts.ring, { stride, batch, headroom: RX_HEADROOM })
        : Port.tap(opts.tap, { bridge: opts.bridge, mtu: opts.mtu, io: opts.io, stride, batch, headroom: RX_HEADROOM, offload, qlen: opts.tapQlen });
      port = rxPort;
      if (opts.ring !== undefined) {
        ringFd = rxPort.fd;
        ringAt = rxPort.ifindex;
      }
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    // TUNSETIFF refuses IFF_MULTI_QUEUE on a TAP made without it (ip tuntap add ... mode tap).
    const why = code === 'EBUSY' ? ' (another uvsd on it?)'
      : code === 'EINVAL' && opts.workers > 1 && opts.ring === undefined
        ? ` (--workers ${opts.workers} needs a multi-queue TAP: delete it and let uvsd create it, or make it with \`ip tuntap add ${opts.tap} mode tap multi_queue\`)` : '';
    console.error(`uvsd: cannot open ${opts.ring !== undefined ? `--port af_packet:${opts.ring}` : `TAP ${opts.tap}`}: ${(e as Error).message}${why}`);
    process.exit(1);
  }
  if (port.mac === formatMac(mac)) {
    // A bridge delivers frames for its ports' own MACs to the host stack, never to us.
    port.close();
    console.error(`uvsd: --mac ${formatMac(mac)} equals the ${opts.ring !== undefined ? 'port' : 'TAP'} interface's own MAC; choose a different station MAC`);
    process.exit(2);
  }
  // With workers this is the shadow: it holds the table as control sees it and never gets a frame
  // (its own frames, ARP probes and announcements, leave through worker 0's queue).
  const dp = new Datapath(
    {
      mac, addrs: opts.addr, gateway: opts.gateway, connMax: opts.connMax, neighMax: opts.neighMax, destMax: opts.destMax, batch: port.batch, mtu: opts.mtu,
      advise: group === undefined ? (a) => native.prepareTable(a) : undefined, defense: defenseOf(opts), vnetHdr: port.vnetHdr,
      shadow: group !== undefined, routedVips: opts.bgpInclude !== undefined,
    },
    group?.sink ?? (rxPort as Port),
  );
  if (group !== undefined) {
    group.shadow = dp;
    group.onFatal = (err) => {
      log.fatal({ err: err.message }, 'a datapath worker failed');
      release();
      process.exit(1);
    };
    try {
      await group.ready();
    } catch (e) {
      // Out of descriptors all the same (nofileForWorkers is measured, not exact): said as the limit it is.
      const emfile = /\bEMFILE\b/.test((e as Error).message);
      console.error(`uvsd: cannot start the datapath workers: ${(e as Error).message}${emfile ? `: the file descriptor limit (nofile) is ${nofile} (raise it: LimitNOFILE=, ulimit -n, prlimit --nofile)` : ''}`);
      process.exit(emfile ? 2 : 1);
    }
    port.io = group.io() as Port['io'];
    port.ioFallback = group.ioFallback();
    // Replies to the worker holding the connection (src/datapath/steer.ts); without the program
    // the kernel picks (TAP: automq table; ring: flow hash) and replies may be handed over.
    const st = steering as Steering;
    group.useSteering(st);
    if (st.mode !== 'ebpf' && opts.steering === 'ebpf') {
      log.warn({ reason: st.reason }, opts.ring !== undefined
        ? 'steering program refused: the ring sockets follow the kernel\'s flow hash (replies may be handed over between workers)'
        : 'TAP steering program refused: queues follow the kernel\'s automq table (replies may be handed over between workers)');
    }
  }
  const cpus = opts.datapathCpus === undefined ? undefined : pinMainThread(opts.datapathCpus, group !== undefined);
  if (cpus !== undefined && group !== undefined && cpus.control.every((c) => cpus.datapath.includes(c))) {
    // taskset -c 1 uvsd --datapath-thread --datapath-cpus 1: the main thread shares the datapath's
    // CPU, the wait behind a busy datapath thread the pinning is for avoiding.
    log.warn({ datapathCpus: cpus.datapath.join(','), controlCpus: formatCpuList(cpus.control) },
      `--datapath-cpus ${cpus.datapath.join(',')} leaves the main thread no CPU of its own (the process may run on ${formatCpuList(cpus.control)}): control, metrics and health checks share the datapath's CPU; allow the process another CPU (taskset, CPUAffinity=)`);
  }
  // A backup starts without any address that moves with the role: no ARP answer, no announcement.
  // No gratuitous ARP at all until the start's probe has claimed the addresses (below).
  /** A change to the datapath and to every worker's. */
  const applyBoth = (ops: DpOp[]): void => {
    dp.apply(ops);
    group?.apply(ops);
  };
  applyBoth([...startRoleOps(opts), { op: 'announce', on: false }]);
  const offloadState = port.vnetHdr === 0 ? 'off' : port.offload !== 0 ? 'csum+tso' : `refused: ${port.offloadError}`;
  const txqueuelen = port.qlen > 0 ? { txqueuelen: port.qlen } : {}; // none for an AF_PACKET port
  // Frames lost before uvsd read them: the ring's own counts, or what the TAP's queue dropped.
  const tapDrops = opts.ring === undefined ? tapQueueDrops(port.name) : undefined;
  const portDrops = (): Record<string, number> | null => tapDrops?.() ?? port.drops();
  // The link under uvsd (the TAP in its --bridge, or the --port interface), polled every second;
  // a TAP whose bridge was deleted goes back on it once the bridge exists again.
  const links = new LinkWatch({
    iface: opts.ring ?? port.name, bridge: opts.ring === undefined ? opts.bridge : undefined, log: log.child({ component: 'link' }),
    enslave: (iface, br) => native.bridgeAddIf(iface, br),
    onBack: () => announceRepeated(),
    // --mtu sizes the TAP's frames; the ring backend took its interface's MTU at start (opts.mtu):
    // each is warned about when the interface's changes under uvsd to one it cannot carry.
    ...(opts.ring === undefined ? { mtu: opts.mtu } : { ringMtu: opts.mtu }),
  });
  /** The ring backend: offloads that leave frames a TAP never gets, warned about once each. */
  const ringOffloads = opts.ring === undefined ? undefined : new RingOffloadWatch(opts.ring, log.child({ component: 'link' }));
  const control = new Control(dp, {
    tap: port.name, io: port.io, offload: offloadState, ...txqueuelen, portDrops, workers: group, link: () => links.status(), cpus,
  });
  // What a change of the table (the start's included) makes worth saying: an FTP service --workers needs persistent.
  control.warn = (msg, fields) => log.warn(fields, msg);
  /**
   * Gratuitous ARP for the --addrs and every address the table holds (VIPs, FULLNAT local
   * addresses: Datapath.heldAddrs), each once; a backup announces only its fixed addresses
   * (Link.announce). After the start's claim and when the link is back.
   */
  const announceAll = (): void => {
    for (const ip of new Set([...opts.addr.map((a) => a.ip | 0), ...dp.heldAddrs()])) dp.announce(ip);
  };
  /**
   * announceAll now, and again 1 s and 5 s later, as a takeover does (GARP_AGAIN_MS): one lost
   * frame, or a bridge port still in STP listening when uvsd starts or its link comes back, left
   * hosts on an old MAC until their ARP entries aged out (26 s seen). Until 2026-12-07 once.
   */
  const announceRepeated = (): void => {
    announceAll();
    for (const ms of GARP_AGAIN_MS) {
      setTimeout(() => {
        if (!stopping) announceAll();
      }, ms).unref();
    }
  };
  const faults = new FaultWatch(dp, log.child({ component: 'faults' }), undefined, undefined, () => group?.fullest());
  // TUN servers answering with protocol or port unreachable: the workers' rings with --workers (the shadow sees no frame).
  const noDecap = new NoDecapWatch(() => (group === undefined ? [dp.noDecap] : group.noDecapRings()), log.child({ component: 'faults' }));
  const vlog = log.child({ component: 'vrrp' });
  const fifoAt = (path: string): VrrpFifo => new VrrpFifo(path, (args, ev) => {
    control.call('setRole', args);
    vlog.info({ via: 'vrrp-fifo', [ev.type === 'GROUP' ? 'group' : 'instance']: ev.name, state: ev.state, ...args }, 'role set by keepalived');
  }, () => dp.link.groupNames, (msg, extra) => vlog.warn(extra, msg));
  /** keepalived's FIFO read (--vrrp-fifo, or daemon.vrrp-fifo as set by the last reload). */
  let vrrpFifo = opts.vrrpFifo === undefined ? undefined : fifoAt(opts.vrrpFifo);
  const slog = log.child({ component: 'sync' });
  control.sync.setLog((msg, extra) => slog.warn(extra ?? {}, msg));
  control.drainTimeoutS = opts.drainTimeout; // uvsadm --drain without --drain-timeout
  control.routed = opts.bgpInclude !== undefined;
  const bgp = opts.bgpInclude === undefined ? undefined : new BirdAnnouncer({
    include: opts.bgpInclude, socket: opts.bgpBirdSocket, nextHop: opts.bgpNextHop ?? opts.addr[0].ip, log: log.child({ component: 'bgp' }),
    watchMs: opts.bgpWatch * 1000,
  });
  if (bgp !== undefined) {
    control.bgpWithdrawal = () => bgp.unconfirmedWithdrawal();
    try {
      bgp.writeEmpty();
    } catch (e) {
      port.close();
      console.error(`uvsd: --bgp-include: ${(e as Error).message}`);
      process.exit(1);
    }
  }
  const pinger = new Pinger();
  const bfd = new BfdHub(); // opens its socket at the first BFD_CHECK
  const hlog = log.child({ component: 'health' });
  /** uvsd --bgp-include, once it announces: look at what to announce again (a service's first checks done). */
  let reannounce = (): void => {};
  // Checks configured in the --config file or imported from --keepalived-conf; the table they
  // change is put there by the ConfigManager (one batch at start and per reload).
  const health = new HealthManager(undefined, {
    call: (verb, args) => control.call(verb, args),
    run: hostChecks(pinger, bfd),
    exec: (script) => runNotifyScript(script, COMMAND_TIMEOUT_MS, hlog),
    // Each check's result at debug only: the object is not built at info.
    log: hlog.isLevelEnabled('debug') ? hlog : { info: hlog.info.bind(hlog), warn: hlog.warn.bind(hlog) },
    holds: (addr) => dp.link.held(parseIp(addr)), // ha_suspend
    concurrency: opts.healthConcurrency,
    processConcurrency: opts.healthProcessConcurrency,
    openFiles: nofile ?? Infinity, // read once at start (above)
    firstChecksDone: () => reannounce(),
  });
  /** The start-only settings uvsd runs with (a reload reports a change of them). */
  const running = settingsOf(opts);
  // A reload's changes past its first line's in further lines, each a turn of the loop after the
  // one before was written (or LOG_DRAIN_MS, a stalled output); docs/uvsd.md#signals.
  const logReload = reloadLogger(log, async () => {
    await logOut.drained(LOG_DRAIN_MS);
    await new Promise((resolve) => setImmediate(resolve));
  });
  const config = new ConfigManager(control, opts.config, settingsOf(opts), {
    keepalived: opts.keepalivedConf,
    loadKeepalivedSliced: (file, pause) => loadKeepalivedOffThread(file, pause, opts.keepalivedConfigId),
    loadKeepalived: (file) => {
      const r = loadKeepalivedFile(file, opts.keepalivedConfigId);
      return { services: r.config.services, warnings: r.warnings };
    },
    health,
    warn: fileWarner(log),
    info: (fields, msg) => log.info(fields, msg),
    daemon: (cfg) => reloadDaemon(cfg),
    commandLineOnly: opts.commandLineOnly,
    // Every reload is logged, from SIGHUP or from uvsadm --reload alike (the ignored settings
    // are logged one by one by reloadDaemon).
    onReload: (via, o) => {
      if ('report' in o) void logReload(via, o.report, o.peer);
      else log.error(withPeer({ via, error: o.error.message }, o.peer), 'configuration reload refused; the running table is unchanged');
    },
  });
  /** A reload's daemon settings: checked before anything changes; the start-only ones that changed logged, the defenses set. */
  const reloadDaemon = (cfg: ConfigFile): DaemonReload => daemonReload(opts, running, cfg, dp.defense, {
    setDefense: (next) => {
      control.setDefense(next);
      Object.assign(config.settings, next);
    },
    setHaGroups: (groups) => {
      const before = new Set(dp.link.groupNames);
      control.setHaGroups(groups);
      config.settings.haGroups = running.haGroups;
      // A new group takes what keepalived last wrote for its instance (written before this reload).
      vrrpFifo?.groupsAdded(dp.link.groupNames.filter((n) => !before.has(n)));
    },
    setVrrpFifo: (path) => {
      // The path was checked with the reload; one that became unusable since is a warning, no FIFO read.
      vrrpFifo?.close();
      vrrpFifo = path === undefined ? undefined : fifoAt(path);
      config.settings.vrrpFifo = path;
      try {
        vrrpFifo?.open();
      } catch (e) {
        vlog.warn({ path, error: (e as Error).message.split('\n')[0] }, 'vrrp fifo cannot be opened');
        vrrpFifo = undefined;
      }
    },
    warn: (line) => log.warn({ file: opts.config }, line),
  });
  control.config = config;
  if (initial !== undefined) {
    // One batch for the whole table (the --config file's services and keepalived.conf's): all or
    // nothing, in one piece (2.25-2.78 s of CPU at 10,000 x 4): nothing is served yet, the port is
    // not read (workers' tables are still empty), the control socket and metrics do not listen,
    // signals are held until the start stops after it (docs/performance.md, 2026-12-06).
    try {
      const t0 = performance.now();
      const c0 = native.threadCpuMs();
      config.apply(initial, false);
      log.debug({ services: initial.services.length, ms: Math.round(performance.now() - t0), cpuMs: Math.round(native.threadCpuMs() - c0) }, 'start: table set up in one batch, before anything is served');
    } catch (e) {
      port.close();
      const msg = (e as Error).message;
      // A refusal in keepalived.conf (or its includes) keeps the import's exit status 1.
      const fromKeepalived = opts.keepalivedConf !== undefined && (opts.config === undefined || !msg.startsWith(`${opts.config}:`));
      console.error(fromKeepalived ? `uvsd: --keepalived-conf: ${msg}` : `uvsd: ${msg}`);
      process.exit(fromKeepalived ? 1 : 2);
    }
  }
  let state: StateFile | undefined;
  /** The state file read at start, if it was accepted (its daemon.sync: the sync daemons that ran). */
  let saved: ConfigFile | undefined;
  if (stateFile !== undefined) {
    // The table saved by the previous run wins over --config's (it has every later change).
    // A broken state file must not keep the balancer down: say so and go on without it.
    const r = restoreState(config, stateFile);
    const refused = r !== undefined && 'refused' in r ? r : undefined;
    /** What --status and metrics say about the start: the file refused, or entries of it left out. */
    let atStart: StartRestore | undefined;
    if (r !== undefined && 'changes' in r) {
      saved = r.saved;
      // Over a --config table: what the state file changed of it (a service added to the file while uvsd
      // was down is deleted here, until a reload), the first ones as a reload's line has them.
      const changed = opts.config !== undefined && r.changes.length > 0 ? listFields('changeList', 'changes', r.changes, 'uvsadm --reload --dry-run lists what a reload of --config would change back') : { changes: r.changes.length };
      if (r.leftOut.length === 0) log.info({ stateFile, ...changed }, 'table restored from the state file');
      else {
        const kept = r.keptAs !== undefined ? `the file kept as ${r.keptAs}` : `the file could not be kept aside (${r.keepError})`;
        const n = `${r.leftOut.length} ${r.leftOut.length === 1 ? 'entry' : 'entries'}`;
        log.error({ stateFile, ...listFields('leftOut', 'leftOutCount', r.leftOut, `the file kept as ${r.keptAs ?? '(not kept)'}`), keptAs: r.keptAs, keepError: r.keepError },
          `table restored from the state file without ${n} of it (refused by this uvsd); ${kept}`);
        atStart = { leftOut: r.leftOut.length, text: `restored without ${n} (${kept}): ${r.leftOut[0]}${r.leftOut.length > 1 ? ' ...' : ''}` };
      }
    } else if (refused?.keptAs !== undefined) {
      log.error({ stateFile, error: refused.refused, keptAs: refused.keptAs }, `state file refused; kept as ${refused.keptAs}; starting without it`);
      atStart = { leftOut: -1, text: `refused (kept as ${refused.keptAs}): ${refused.refused}` };
    }
    if (refused !== undefined && refused.keptAs === undefined) {
      // Writing the table would overwrite the only copy of the refused one: not written, and said so.
      log.error({ stateFile, error: refused.refused, keepError: refused.keepError }, 'state file refused and could not be renamed aside; starting without it and not writing it');
      const since = performance.now();
      control.info.stateFile = () => ({ path: stateFile, error: `refused at start and not renamed aside (${refused.keepError}): left as it is, changes are not saved`, failingSince: wallOf(since) });
    } else {
      // Written after every change of the table (uvsadm, reload, health checks, drain timers),
      // coalesced to one write per turn of the event loop, fsynced off the loop (statefile.ts).
      // A large table is dumped in slices (statefile.ts dumps again when a change overtakes one);
      // only the services changed since the last dump are made again (DumpBytes copies the rest).
      const dump: StateDump = async (header, sliced, out) => {
        if (!sliced) return config.dumpInto(header, true, out);
        const { pause, done } = control.slicer('state-file');
        try {
          await config.dumpInto(header, true, out, pause);
        } finally {
          done();
        }
      };
      state = new StateFile(stateFile, dump, (error) => log.error({ stateFile, error }, 'cannot write the state file; changes are not saved until it can (uvsadm --status: state_file)'),
        () => log.info({ stateFile }, 'state file written again'), () => control.midChange());
      const s = state;
      control.info.stateFile = () => ({ ...s.status(), ...(atStart !== undefined ? { atStart } : {}) });
      control.onChange = () => s.changed();
      s.changed();
    }
  }

  // Signals are handled from here on, before anything waits: a SIGTERM that arrives right after
  // start (e.g. from a supervisor) must still close the TAP and remove our socket.
  let timer: NodeJS.Timeout | undefined;
  let server: Awaited<ReturnType<typeof listenControl>> | undefined;
  let metrics: MetricsServer | undefined;
  /** Settles when the changes the control socket took so far have ended (controlDispatch's idle). */
  let controlIdle: () => Promise<unknown> = () => Promise.resolve();
  let stopping = false;
  /** Give back what uvsd holds: the TAP (removed if we created it) and the control socket. */
  const release = () => {
    stopping = true;
    pinger.close();
    bfd.close();
    control.sync.close();
    if (timer) clearInterval(timer);
    metrics?.close();
    port.close();
    // The socket file is removed only while it is still ours (ControlServer.release).
    server?.release();
  };
  const shutdown = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    sdNotify('STOPPING=1', () => {});
    config.stop();
    // Routes first: the routers stop sending here while the rest shuts down.
    if (bgp !== undefined) await bgp.withdrawAll();
    // omega: quorum_down / notify_down commands run before the datapath goes (bounded).
    await within(health.stop(), COMMAND_TIMEOUT_MS + 1000, undefined);
    // Changes the socket took before the stop (new ones are refused STOPPING) end and are answered,
    // bounded: until 2026-12-07 a large -R in slices was cut off, its client told only that the
    // connection closed, not whether anything was kept. Then the reply's turn to be written.
    await within(Promise.all([controlIdle(), control.serialized(() => undefined)]), CONTROL_DRAIN_MS, undefined);
    await new Promise((r) => setImmediate(r));
    // The last change of the table on disk (bounded: a hung disk does not hold the stop).
    if (state !== undefined) await within(state.flush(), STATE_FLUSH_MS, undefined);
    group?.pull();
    release();
    // Workers close their queues before the process ends (group.close(), bounded).
    if (group !== undefined) await within(group.close(), 2000, undefined);
    log.info({ signal, uptimeS: Math.round(process.uptime()), ...dp.counters.snapshot() }, 'uvsd stopped');
    // Written before the exit (bounded): the exit's flushSync tries once, and a full pipe refuses it.
    await logOut.drained(LOG_DRAIN_MS);
    process.exit(code);
  };
  // SIGTERM and SIGINT were held since bin/uvsd ran node for good (early-signals.ts): one that
  // came during the start so far (the TAP opened, the table allocated and set up, --workers
  // starting) stops uvsd now, in order, as one after the start does (until 2026-12-05 it ended
  // uvsd at once, exit 143: no `uvsd stopped`, no STOPPING=1). One that comes later in the start
  // stops it too; the start goes no further (after each wait below: `if (stopping)`).
  const heldStop = (['SIGTERM', 'SIGINT'] as const).filter((sig) => handleSignal(sig, () => void shutdown(sig)) > 0);
  if (heldStop.length > 0) {
    log.info({ signal: heldStop[0] }, `${heldStop[0]} during the start: stopping`);
    void shutdown(heldStop[0]);
  }
  // An error nothing caught stops uvsd in order (one stderr line, the control socket removed, the
  // counters logged, exit 1: a supervisor restarts it, the state file brings the table back). The
  // usual one is the port failing under uvsd: its interface deleted, every read fails.
  const fatal = (line: string, err: Error) => {
    if (stopping) return;
    console.error(`uvsd: ${line}; stopping`);
    // Never blocks: LogOutput.flushSync tries each chunk once (pino's default destination retried
    // a failed write forever here, 100 ms apart, before 2026-12-05).
    log.fatal({ err }, line);
    void shutdown('error', 1);
  };
  const portFailed = (err: Error) => (err as { portFailure?: boolean }).portFailure === true;
  const ioLine = (err: Error) => `frame I/O on ${port.name} failed (${err.message}): was the interface deleted?`;
  process.on('uncaughtException', (err) => fatal(portFailed(err) ? ioLine(err) : `internal error: ${err.message}`, err));
  if (group !== undefined) group.onFatal = (err) => fatal(portFailed(err) ? ioLine(err) : `a datapath worker failed: ${err.message}`, err);
  // SIGHUP: re-read --config and --keepalived-conf and apply the difference; a bad file leaves the table as it was.
  // In slices after the changes queued before it, as uvsadm --reload (Control.callAsync).
  const reload = (via: string): void => {
    control.serialized(() => {
      const { pause, done } = control.slicer('reload');
      return config.reloadSliced(false, pause, via).finally(done); // logged by onReload
    }).catch(() => {
      // refused: logged by onReload, the table is unchanged
    });
  };
  // SIGUSR1 and SIGUSR2 (keepalived's "dump data" and "dump stats"): one log line each, the
  // status as `uvsadm --status` has it (without the health checks' list of servers) and the
  // counters as the stop's line has them. Never Node's default (its inspector: early-signals.ts).
  // bin/uvsd held the three from its first line: a SIGHUP during the start runs one reload now,
  // SIGUSR1 and SIGUSR2 during the start are logged as ignored.
  const heldHup = handleSignal('SIGHUP', () => reload('SIGHUP'));
  const heldUsr = {
    SIGUSR1: handleSignal('SIGUSR1', () => {
      try {
        log.info({ signal: 'SIGUSR1', ...statusForLog(control.call('status', {}) as object), ...(bgp === undefined ? {} : { bgp: statusForLog(bgp.status()) }) }, 'status (SIGUSR1)');
      } catch (e) {
        log.warn({ signal: 'SIGUSR1', error: (e as Error).message }, 'status (SIGUSR1) failed');
      }
    }),
    SIGUSR2: handleSignal('SIGUSR2', () => {
      group?.pull();
      log.info({ signal: 'SIGUSR2', ...dp.counters.snapshot() }, 'counters (SIGUSR2)');
    }),
  };
  if (heldHup > 0 && !stopping) {
    log.info({ signal: 'SIGHUP', received: heldHup }, 'SIGHUP during the start: one reload now');
    reload('SIGHUP during the start');
  }
  for (const [signal, received] of Object.entries(heldUsr)) if (received > 0) log.info({ signal, received }, `${signal} during the start ignored`);

  // daemon.sync (the state file's, else --config's), before the socket answers: a restarted
  // backup gets the master's connections again without anyone running uvsadm --start-daemon.
  const syncStart = syncAtStart(opts.file, saved);
  if (syncStart !== undefined) {
    // The state file's daemons are what ran before (uvsadm --start-daemon): one that cannot start
    // now (its key file moved, its interface gone) must not keep the director down, restarted
    // again and again; uvsd forwards without it and says so. --config's are the operator's file.
    const fromState = syncStart.from === saved;
    let started = syncStart.sync;
    try {
      const r = await startSyncDaemons(control, syncStart.sync, (s) => syncWhere(syncStart.from, s), fromState);
      started = r.started;
      for (const why of r.refused) {
        slog.error({ from: syncStart.from.file, error: why }, `sync daemon of the state file not started: ${why}; uvsd forwards without it (uvsadm --start-daemon starts it)`);
      }
    } catch (e) {
      if (stopping) return; // a stop during the start: shutdown ends uvsd
      release();
      console.error(`uvsd: cannot start the sync daemon: ${(e as Error).message}`);
      process.exit(1);
    }
    if (stopping) {
      control.sync.close(); // started after the stop's release(), or closed again by it
      return;
    }
    config.settings.sync = started;
    const daemons = Object.keys(started);
    if (daemons.length > 0) slog.info({ daemons, from: syncStart.from.file }, 'sync daemons started');
    else if (Object.keys(syncStart.sync).length === 0) slog.info({ from: syncStart.from.file }, `no sync daemons started: ${fromState ? 'none ran when the state file was written' : 'daemon.sync lists none'}`);
  } else if (saved !== undefined) {
    // A state file of an uvsd before daemon.sync was kept (2026-12-04) never names the daemons
    // that ran: after such an upgrade a backup would hold no connections while its checks pass.
    slog.info({ stateFile }, 'no sync daemons started: neither the state file nor --config has daemon.sync ' +
      '(a state file written before 2026-12-04 never has it: start them once with uvsadm --start-daemon)');
  }

  // The control socket's path is checked now (another uvsd on it, a file there: refused before
  // the network is touched); it listens only once uvsd will keep running, after the probe of its
  // --addr below: a socket that answers (the guides' readiness wait) is a uvsd that stays.
  try {
    await checkControlPath(opts.socket);
  } catch (e) {
    if (stopping) return;
    port.close();
    console.error(`uvsd: cannot listen on ${opts.socket}: ${(e as Error).message}`);
    process.exit(1);
  }
  // A stop during the start (SIGTERM, SIGINT, an error nothing caught) runs beside it: after each
  // wait the start goes no further, and closes what it made after the stop's release() ran (before
  // 2026-12-05 it listened on: a stop during the probe with --workers left the socket file).
  if (stopping) return;
  // Claim the director addresses and the VIPs of the table set up from --config / --state-file
  // only if no other station answers for them (RFC 5227; uvsadm -A refuses such a VIP too): one
  // probe window for all. Only an answer to the probe counts, not what ARP caches still hold (a
  // restart after a crash keeps its VIPs). A backup probes none of the addresses that move with
  // the role (the master holds them); with BGP the directors share the VIPs (not probed).
  const addrs = opts.addr.filter((a) => dp.link.held(a.ip)).map((a) => a.ip | 0);
  const vips = bgp === undefined ? dp.vips().filter((ip) => dp.link.held(ip) && !addrs.includes(ip)) : [];
  // A director address in use stops uvsd; a VIP in use (a DR real server answering ARP for
  // it: arp_ignore not set yet) is left unclaimed and probed again (the other VIPs keep working).
  // The first probe goes now: the window runs through the start below (the JIT warm-up, which
  // holds the loop 100-250 ms on these hosts; then, the port read, the metrics listener and the
  // other warm-ups); answers wait in the port's queue until it is read. The second round goes once
  // it is (with workers they read already), its answers looked at; the control socket listens after.
  let portRead = (): void => {};
  const reading = rxPort === undefined ? undefined : new Promise<void>((r) => (portRead = r));
  // Its pieces count in `uvsadm --status` slowest_verb_ms as `vip-probe` (so do the re-probe's and leaveUnclaimed's below).
  const probing = probeConflicts(dp, [...addrs, ...vips], opts.arpProbeMs, reading, control.slicer(PROBE_SLICES));
  probing.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
  // The config reader thread (a reload's: config-thread.ts) started once now, beside the probe:
  // a process's first Worker costs the loop ~8 ms of CPU (0.8-1.4 ms each later one), paid here
  // before anything is served, not by the first reload. Without a file to reload, none runs.
  const readerWarm = opts.config !== undefined || opts.keepalivedConf !== undefined
    ? warmConfigThread().catch((err: unknown) => log.warn({ error: (err as Error).message }, 'config reader thread warm-up failed (the first reload starts it)'))
    : undefined;
  control.startEstimator(); // ipvsadm --rate: the kernel's 2-second estimator
  // With workers (--workers N >= 2, --datapath-thread) the workers receive (they started with their datapaths, and warmed up).
  if (rxPort !== undefined && opts.jitWarmup) {
    const w = warmUp({ vnetHdr: rxPort.vnetHdr, mtu: opts.mtu, batch: rxPort.batch }, { stride: rxPort.stride, base: rxPort.rxBase });
    log.debug({ frames: w.frames, ms: Math.round(w.ms) }, 'JIT warm-up');
  }
  rxPort?.start((count) => dp.processBatch(rxPort.rxArena, rxPort.stride, rxPort.rxLens, count, rxPort.rxBase, rxPort.rxClock), opts.rxBudget);
  portRead();
  let ticks = 0;
  /** A probe of the unclaimed VIPs is running (reprobeUnclaimed), every this many ms. */
  let reprobing = false;
  const reprobeEvery = reprobeMs(opts.arpWatch);
  /** Probes the claimed addresses and logs the stations answering for them, once they are claimed (below). */
  let arpWatch: ArpWatch | undefined;
  /** The roles last logged (the director's, each HA group's: docs/ha.md): a change by any path is logged once. */
  const rolesText = (): string => roleText(roleStatus(dp));
  let rolesLogged = rolesText();
  // A mass expiry goes on between ticks (with workers, each worker's does: this table is a shell).
  const sweeps = new SweepPacer(dp);
  timer = setInterval(() => {
    // The counters, entries and a bounded share of the slots (every other reader pulls them all).
    group?.pullTick();
    if (rxPort !== undefined) {
      dp.counters.c[C.rx_wakes] += rxPort.takeRxWakes();
      // The ring's frames with a partial checksum and GRO super-frames (the workers count theirs).
      const off = rxPort.takeRingOffloads();
      dp.counters.c[C.rx_csum_partial] += off.csumPartial;
      dp.counters.c[C.rx_gso_frames] += off.gso;
    }
    dp.tick();
    sweeps.kick();
    control.sweepTrash(performance.now()); // deleted servers' slots nothing refers to any more are free again
    // After the pull: with --workers the counters read are the workers' sums.
    faults.check();
    noDecap.check();
    arpWatch?.check(performance.now());
    const roles = rolesText();
    if (roles !== rolesLogged) {
      log.info({ was: rolesLogged, now: roles }, 'high availability role changed');
      rolesLogged = roles;
    }
    if (++ticks % (reprobeEvery / TICK_MS) === 0 && dp.link.unclaimed.size > 0 && !reprobing) {
      reprobing = true;
      void reprobeUnclaimed(dp, applyBoth, opts.arpProbeMs, log, control.slicer(PROBE_SLICES)).catch((err) => log.error({ err }, 'probe of the unclaimed VIPs failed')).finally(() => {
        reprobing = false;
      });
    }
    if (ticks % 4 === 0) {
      control.traces.expire(); // trace sessions whose uvsadm went away
      links.check();
      vrrpFifo?.check();
      // The interface gone: a TAP's reads fail at once (uncaughtException above), but a packet
      // socket whose interface went down before it was deleted just goes quiet: the same stop.
      // Looked up in uvsd's own network namespace (/sys/class/net may show another one's).
      // Only "no such interface" stops uvsd: a lookup that fails otherwise (out of file
      // descriptors: the link watch logged it) says nothing about the interface.
      const st = links.status();
      if (st.state === 'missing' && ifaceGone(st.iface)) {
        const err = new Error(`${st.iface} does not exist`);
        fatal(ioLine(err), err);
      } else if (ringFd !== undefined && ringAt !== undefined) {
        // The ring's interface deleted and one made again under its name (or moved out of the
        // namespace and back) between two looks: the socket stays unbound, receives nothing and
        // nothing else says so. The same stop as for a deleted interface (a supervisor restarts
        // uvsd on the new one); before 2026-12-05 uvsd ran on, "link up", forwarding nothing.
        const why = ringLost(st.iface, ringAt, ringFd);
        if (why !== undefined) fatal(why, new Error(why));
      }
      const c = dp.counters.c;
      ringOffloads?.check(c[C.rx_csum_partial], c[C.rx_gso_frames], portDrops()?.['too_long'] ?? 0);
    }
  }, TICK_MS);
  /** A warm-up on scratch tables (nothing of uvsd's own changes): its time logged at debug, a failure as a warning (that first use stays cold). */
  const warmed = async (what: string, run: () => Promise<{ ms: number; cpuMs: number }>): Promise<void> => {
    const w = await run().catch((err: unknown) => void log.warn({ error: (err as Error).message }, `${what} warm-up failed`));
    if (w !== undefined) log.debug({ ms: Math.round(w.ms), cpuMs: Math.round(w.cpuMs) }, `${what} warm-up`);
  };
  // What the start serves later (the metrics listener and its warm-ups, the control verbs' warm-up)
  // runs while the probe's second half window goes by, the port read meanwhile: before 2026-12-06 it ran
  // before the port was read, and the probe's second round waited for it (0.3 s with --metrics).
  if (opts.metricsListen !== undefined) {
    try {
      // Health checks come from --config or --keepalived-conf; without either, none can exist.
      const checks = opts.config !== undefined || opts.keepalivedConf !== undefined ? health : undefined;
      // Loaded only here: prom-client adds ~80 ms to every start without --metrics.
      const { startMetricsServer } = await import('../metrics/server.js');
      const m = await startMetricsServer(dp, opts.metricsListen, { perDest: opts.metricsPerDest, perChecker: opts.metricsPerChecker, health: checks,
        // A scrape's and a /status.json's slices count in `uvsadm --status` slowest_verb_ms (as metrics, status.json).
        slicer: (what) => control.slicer(what), sync: control.sync.stats, pull: () => group?.pull(),
        pullShare: group === undefined ? undefined : (t) => group.pullShare(t, EST_TICKS, t === 0),
        pullSliced: group === undefined ? undefined : (pause) => group.pullSliced(pause),
        states: group === undefined ? undefined : () => group.stateCounts(), neigh: group === undefined ? undefined : () => group.neighCounts(),
        link: () => links.status(), portDrops,
        bgp: bgp === undefined ? undefined : () => ({ status: bgp.status(), draining: control.drain !== undefined }),
        workers: group === undefined ? undefined : () => group.status(), laddrs: group === undefined ? undefined : workersLaddrs(group),
        stateFile: control.info.stateFile, arpWatch: () => control.info.arpWatch?.(), logOutput: () => logOut.state(), controlSocket: () => server?.socketStatus(),
        onRefused: (reason, refused) => log.warn({ refused }, `metrics listener: connection refused: ${reason}`) });
      if (stopping) {
        m.close();
        return;
      }
      metrics = m;
      // The /status.json answer too, on a scratch table through a scratch listener (src/metrics/warmup.ts):
      // the first after the start held the loop 4-5 ms of CPU in its first slice (gzip's first stream, the request's first path).
      if (opts.jitWarmup) {
        const { warmStatus, warmMetrics } = await import('../metrics/warmup.js');
        await warmed('/status.json', warmStatus);
        if (stopping) return;
        // And /metrics, through a scratch HealthManager where the checks are one: the first scrape of
        // 10,000 x 4 checked servers was deoptimised at its health lists' walks (a slice of 7-10 ms).
        const scratch = checks === undefined ? undefined : (await import('../health/scratch.js')).scratchHealth;
        await warmed('/metrics', () => warmMetrics(scratch));
        if (stopping) return;
      }
    } catch (e) {
      if (stopping) return;
      release();
      console.error(`uvsd: cannot listen for --metrics on ${opts.metrics}: ${(e as Error).message}`);
      process.exit(1);
    }
  }
  // The control verbs too, on a scratch table through a scratch socket (src/control/warmup.ts):
  // a verb's first call was JIT-cold (the first -D held the loop 2.5-2.9 ms), now it is not.
  if (opts.jitWarmup) {
    await warmed('control verbs', warmControl);
    if (stopping) return;
  }
  const taken = await probing;
  await readerWarm;
  if (stopping) return;
  const takenAddrs = taken.filter((c) => addrs.includes(c.ip));
  if (takenAddrs.length > 0) {
    for (const c of takenAddrs) console.error(`uvsd: --addr ${conflictMessage(c)}`);
    release();
    process.exit(1);
  }
  // The control socket answers from here on (uvsd keeps running; see checkControlPath above).
  const onInternal = (err: unknown) => log.error({ err }, 'control request failed');
  try {
    // A request that would claim new VIPs first probes for them (RFC 5227), without holding the loop.
    // With BGP the VIPs are routed to uvsd's address and shared by every director on the segment:
    // another director answering for a VIP is expected, so VIPs are not probed (--addr still is).
    const dispatch = controlDispatch({
      control, dp, probeMs: bgp === undefined ? opts.arpProbeMs : 0, health,
      bgpStatus: bgp === undefined ? undefined : () => bgp.status(),
      synced: () => group?.synced(), // with --workers
      log: log.child({ component: 'control' }),
      stopping: () => stopping,
    });
    controlIdle = dispatch.idle;
    const srv = await listenControl(opts.socket, dispatch, onInternal, {},
      (reason, refused) => log.warn({ refused }, `control socket: connection refused: ${reason}`),
      (msg) => log.warn({ socket: opts.socket }, msg)); // its file removed: bound again (server.ts)
    if (stopping) {
      srv.release();
      return;
    }
    server = srv;
    control.info.controlSocket = () => srv.socketStatus();
    control.info.logOutput = () => logOut.state();
  } catch (e) {
    if (stopping) return;
    release();
    console.error(`uvsd: cannot listen on ${opts.socket}: ${(e as Error).message}`);
    process.exit(1);
  }
  // Every taken VIP unclaimed in one write (its record made a few a turn of the loop), before any
  // announcement below; its log lines follow, a few a turn.
  await leaveUnclaimed(dp, applyBoth, taken, log, reprobeEvery, control.slicer(PROBE_SLICES)).unclaimed;
  if (stopping) return;
  // The director addresses, the VIPs and local addresses (not announced when the table was set
  // up): after a restart, hosts and switches find us at once.
  applyBoth([{ op: 'announce', on: true }]);
  announceRepeated();
  arpWatch = new ArpWatch(dp, log.child({ component: 'arp-watch' }), opts.arpWatch * 1000, performance.now());
  control.info.arpWatch = () => arpWatch!.status(performance.now());
  for (const w of haGroupWarnings(opts.haGroup ?? [], dp.heldAddrs())) log.warn(w);
  // keepalived's transitions from its notify FIFO, from now on (the addresses are ours).
  if (vrrpFifo !== undefined) {
    try {
      vrrpFifo.open();
    } catch (e) {
      console.error(`uvsd: --vrrp-fifo ${opts.vrrpFifo}: ${(e as Error).message.split('\n')[0]}`);
      release();
      process.exit(1);
    }
  }
  control.info.vrrpFifo = () => vrrpFifo?.status(); // the FIFO read now (a reload may add, move or drop it)
  // Checks start once the director addresses are ours (the table is already in place).
  await health.start();
  if (stopping) return; // the stop's health.stop() leaves no check scheduled
  {
    // ha_suspend follows the HA role at once (a role change reaches control as a change of the table).
    const prev = control.onChange;
    control.onChange = () => {
      prev?.();
      health.haChanged();
    };
  }
  // A script run as another user needs CAP_SETUID, CAP_SETGID and CAP_KILL (a unit that bounds
  // them away): the health manager says so once the table's checks are in, at start and by a reload.
  if (bgp !== undefined) {
    // Announced from here on (the addresses are ours): after every change of the table, of the
    // drain or of the HA role (a backup announces nothing it does not hold), coalesced to one
    // look at the table per turn of the event loop.
    const prev = control.onChange;
    let queued = false;
    const state: AnnounceState = {
      draining: false,
      holds: (vip) => dp.link.held(vip),
      // Not before its first checks: at start a service whose servers all fail would be announced for a check round.
      awaitingChecks: (s) => health.awaitingFirstChecks({ proto: s.proto, addr: formatIp(s.vip), port: s.port, fwmark: s.fwmark }),
    };
    const announce = () => {
      queued = false;
      state.draining = control.drain !== undefined;
      if (!stopping) bgp.update(wantedVips(control.model, state));
    };
    reannounce = () => {
      if (queued) return;
      queued = true;
      setImmediate(announce);
    };
    control.onChange = () => {
      prev?.();
      reannounce();
    };
    announce();
  }
  log.info(
    {
      version: UVS_VERSION, pid: process.pid,
      tap: port.name, created: port.created, bridge: opts.bridge, mac: formatMac(mac), addrs: opts.addr.map((a) => formatIp(a.ip)),
      socket: opts.socket, connMax: opts.connMax, mtu: opts.mtu, io: port.io, offload: offloadState, ...txqueuelen, metrics: metrics?.address, workers: opts.workers, datapathThread: opts.workers === 1 && opts.datapathThread ? true : undefined,
      ...(cpus === undefined ? {} : { datapathCpus: cpus.datapath.join(','), controlCpus: formatCpuList(cpus.control) }),
      // What it started with (until 2026-12-07 not in the line): the files, the table's size, the role.
      config: opts.config, keepalivedConf: opts.keepalivedConf, stateFile, services: control.model.services.size, role: rolesText(),
      // ms from this node process's start (bin/uvsd's, or the one it runs again with uvsd's node flags) to here: a restart's gap.
      startMs: Math.round(performance.now()),
    },
    'uvsd started',
  );
  sdNotify(`READY=1\nMAINPID=${process.pid}\nSTATUS=forwarding on ${port.name}, control socket ${opts.socket}`, (err) => log.warn({ err }, 'systemd notification (READY=1) failed'));
  const missing = missingNodeFlags();
  if (missing.length > 0) log.warn({ missing }, 'node runs without the flags bin/uvsd starts it with: V8\'s memory reducer will stall forwarding for 15-28 ms some 8 s after start and after full collections');
  if (port.vnetHdr > 0 && port.offload === 0) log.warn({ reason: port.offloadError }, 'TAP offload refused by the kernel: frames of the MTU, full checksums');
  if (port.ioFallback) log.warn({ reason: port.ioFallback }, 'io_uring refused by the kernel: one system call per frame');
  const v4 = (networkInterfaces()[port.name] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
  for (const w of linkWarnings({ iface: port.name, ring: opts.ring !== undefined, bridge: opts.bridge, mtu: opts.mtu, ipv4: v4 })) log.warn({ interface: port.name }, w);
  // The addon turns IPv6 off on a TAP it creates, before the TAP is up; another interface is the operator's.
  if (ipv6On(port.name)) {
    const fix = `sysctl -w net.ipv6.conf.${port.name}.disable_ipv6=1`;
    log.warn({ interface: port.name }, port.created
      ? `the kernel runs IPv6 on the TAP uvsd created (turning it off was refused): its router solicitations, DAD and MLD reports reach uvsd, which answers no ND; ${fix}`
      : `the kernel runs IPv6 on ${port.name}, which uvsd did not create and leaves as it is: it takes addresses from router advertisements and sends router solicitations, DAD and MLD reports there, beside uvsd, which answers no ND; ${fix}`);
  }
}

/** The workers' FULLNAT port use for /metrics (read synchronously there): asked of them every
 *  METRICS_LADDRS_MS, the last answer read. */
function workersLaddrs(group: DatapathGroup): () => readonly LaddrUsage[] {
  let last: readonly LaddrUsage[] = [];
  const ask = () => void group.laddrs().then((u) => (last = u), () => {});
  ask();
  setInterval(ask, METRICS_LADDRS_MS).unref();
  return () => last;
}

main(process.argv).catch((e) => {
  console.error(`uvsd: ${(e as Error).message}`);
  process.exit(1);
});
