// The small-UDP rows: a generator (bench/baseline/gen.c) in <p>-cli pinned to CPU 0 sends 60-byte
// frames to the director's station MAC; one forwarder at a time runs in <p>-dir on CPU 1 and the
// real server's eth0 rx_packets is what was delivered. One lab per forwarding method:
//
//   <p>-cli  eth0 192.168.8.1 ── pcl ┐
//                                    ├─ br0 ── uvs0 (TAP) ── reflector | uvsd     <p>-dir
//   <p>-rs   eth0 RS_ADDR ────── prs ┘   (or br0 itself: the kernel, nftables NAT + conntrack)
//
//   dr       RS 192.168.8.20, VIP on lo (arp_ignore), forwarders: C reflector (one syscall or
//            io_uring), uvsd -g
//   nat      RS 10.8.1.20, default route via 10.8.1.1 (uvsd's second address, or br0's for the
//            kernel), forwarders: uvsd -m, kernel nftables DNAT
//   fullnat  RS 192.168.8.20 without VIP, forwarders: uvsd FULLNAT (a pool of 8 LIPs,
//            192.168.8.48/29), kernel nftables DNAT + SNAT to the same 8 addresses
//
// The kernel forwarder is br0 with the station MAC and the director's addresses, ip_forward on,
// and an nftables table in the director namespace (conntrack comes with the nat hooks). While it
// runs, RPS on the client's bridge port (pcl, rx-0) steers the receive path, and so the whole
// forwarding, to CPU 1, the core uvsd and the C reflector get: without it the kernel would forward
// in the generator's softirq on CPU 0. For uvsd and the reflector the bridge's receive side (pcl to
// the TAP's queue) stays on CPU 0, as in the DR rows: steered to CPU 1 too, that softirq work
// starves the forwarder process under overload (measured: uvsd got 16% of its core).
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Lab, delay, type Proc } from '../../test/lab/netns.js';
import { addRingVeth } from '../../test/lab/dr-lab.js';
import { ControlClient } from '../../src/control/client.js';
import { probeControl } from './control-probe.js';
import { readCpus, readProcCpu, readRunDelay, type CpuTimes } from './host.js';
import type { Forwarder, Pct, RunResult, UdpMode, Workload } from './report.js';
import { percentile, round, stealFlag } from './stats.js';
import { UVSD_NODE_FLAGS } from '../../src/cli/node-flags.js';

/** dist/bench (bench/heap-sample.js is preloaded from there). */
const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export const STATION_MAC = '02:00:00:00:00:01';
const DIRECTOR_ADDR = '192.168.8.10/24';
const CLIENT_ADDR = '192.168.8.1';
const NAT_DIR_ADDR = '10.8.1.1';
export const VIP = '192.168.8.200';
/** FULLNAT's local addresses: 8 × 64,512 source ports towards the one server port, more than
 *  nf_conntrack_max (262,144) holds, so the kernel's SNAT does not run out of ports before its
 *  table is full (with one LIP it searched for a port on every packet and delivered ~60 pps). */
const LIP_NET = '192.168.8.48/29';
const LIPS = Array.from({ length: 8 }, (_, i) => `192.168.8.${48 + i}`);
export const VPORT = 9;
/** Source addresses of generated packets: outside the lab's subnet, and the real server cannot
 *  answer them (unroutable in DR, a blackhole route in NAT/FULLNAT): no ICMP back into the bridge. */
const GEN_SRC = '192.168.9.1';
export const GEN_CPU = '0';
export const FWD_CPU = '1';
/** RPS mask (hex) of FWD_CPU. */
const FWD_MASK = (1 << Number(FWD_CPU)).toString(16);
/** A run whose forwarder process got less than this share of its core was disturbed. */
const DISTURBED_BELOW = 0.9;
export interface UdpOptions {
  root: string;
  seconds: number;
  warmup: number;
  flows: number;
  connMax: number;
  /** --conn-max for the 'full' workload, and the conntrack size it is compared with. */
  fullMax: number;
  batch: number;
  prof?: string;
  /** perf record -C FWD_CPU -g into this directory during each measured window. */
  perf?: string;
  traceGc: boolean;
  /** Preload bench/heap-sample.ts into uvsd, its profiles into this directory. */
  heapSample?: string;
  /** The control probe's interval (ms; 0: none, as with traceGc). */
  probeMs: number;
  /** The control probe at SCHED_FIFO (never waiting behind the generator on its CPU). */
  probeRt: boolean;
  /** The nice value every uvsd of these rows starts with (contrib/uvsd.service's Nice=); 0: as the bench runs. */
  uvsdNice: number;
  /** A built checkout of an earlier commit: forwarder uvsd-before runs its uvsd. */
  before?: string;
}

interface Snapshot {
  t: number;
  genTx: number;
  tapToReader: number;
  tapDropped: number;
  tapFromReader: number;
  rsRx: number;
  cpu: CpuTimes[];
  procCpu: number;
  runDelay: number;
}

interface Running {
  proc: Proc | null;
  socket?: string;
  stats: () => Promise<Record<string, unknown> | null>;
}

export class UdpLab {
  readonly lab: Lab;
  cli = '';
  dir = '';
  rs = '';
  rsMac = '';
  rsAddr = '';
  private brMac = '';
  /** The forwarder's bridge-side interface whose counters snapshot() reads with the TAP's meaning
   *  (tx = to the reader, rx = from it): the TAP uvs0, or the ring veth's bridge end uvs0p. */
  private portIf = 'uvs0';
  private readonly bin: string;

  constructor(
    readonly mode: UdpMode,
    private readonly o: UdpOptions,
  ) {
    this.lab = new Lab('uvsb');
    this.bin = path.join(o.root, 'bench/baseline');
  }

  private uvsdJs(before = false): string {
    return path.join(before ? (this.o.before as string) : this.o.root, 'dist/src/cli/uvsd.js');
  }

  private uvsadmJs(before = false): string {
    return path.join(before ? (this.o.before as string) : this.o.root, 'dist/src/cli/uvsadm.js');
  }

  async setup(): Promise<void> {
    await Lab.cleanupLeftovers('uvsb');
    this.cli = await this.lab.addNs('cli');
    this.dir = await this.lab.addNs('dir');
    this.rs = await this.lab.addNs('rs');
    await this.lab.addBridge(this.dir, 'br0');
    this.brMac = await this.lab.macOf(this.dir, 'br0');
    await this.lab.addHostIf({ ns: this.cli, addr: `${CLIENT_ADDR}/24`, bridgeNs: this.dir, bridge: 'br0', portName: 'pcl' });
    this.rsAddr = this.mode === 'nat' ? '10.8.1.20' : '192.168.8.20';
    await this.lab.addHostIf({
      ns: this.rs,
      addr: `${this.rsAddr}/24`,
      loAddrs: this.mode === 'dr' ? [VIP] : [],
      bridgeNs: this.dir,
      bridge: 'br0',
      portName: 'prs',
    });
    await this.lab.sysctl(this.rs, {
      'net.ipv4.conf.all.arp_ignore': 1,
      'net.ipv4.conf.all.arp_announce': 2,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.eth0.rp_filter': 0,
    });
    if (this.mode === 'nat') {
      await this.lab.must(['ip', 'route', 'add', 'default', 'via', NAT_DIR_ADDR], this.rs);
      await this.lab.must(['ip', 'route', 'add', 'blackhole', `${GEN_SRC.replace(/\.\d+$/, '.0')}/24`], this.rs);
    }
    if (this.mode === 'fullnat') await this.lab.must(['ip', 'route', 'add', 'blackhole', LIP_NET], this.rs);
    this.rsMac = await this.lab.macOf(this.rs, 'eth0');
  }

  /** RPS on the client's bridge port: its receive path (bridge, and the kernel's forwarding) on FWD_CPU. */
  private async steer(on: boolean): Promise<void> {
    await this.lab.must(['sh', '-c', `echo ${on ? FWD_MASK : 0} > /sys/class/net/pcl/queues/rx-0/rps_cpus`], this.dir);
  }

  /** Let the bridge (re)learn the real server's MAC on its port (one datagram or ARP from the RS). */
  async refreshFdb(): Promise<void> {
    const to = this.mode === 'nat' ? '10.8.1.99' : CLIENT_ADDR;
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      await this.lab.exec(this.rs, ['bash', '-c', `echo learn > /dev/udp/${to}/9`]);
      await delay(100);
      const r = await this.lab.exec(this.dir, ['bridge', 'fdb', 'show', 'br', 'br0']);
      if (r.stdout.split('\n').some((l) => l.startsWith(this.rsMac) && / dev prs /.test(l + ' '))) return;
    }
    throw new Error(`bridge never learned the real server's MAC ${this.rsMac} on prs`);
  }

  async waitStationLearned(timeoutMs = 5000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const r = await this.lab.exec(this.dir, ['bridge', 'fdb', 'show', 'br', 'br0']);
      if (r.stdout.split('\n').some((l) => l.startsWith(STATION_MAC) && /dev uvs0/.test(l) && !/permanent/.test(l))) return true;
      await delay(100);
    }
    return false;
  }

  async snapshot(pid: number | undefined): Promise<Snapshot> {
    const cpu = readCpus();
    const procCpu = readProcCpu(pid);
    const runDelay = readRunDelay(pid);
    const t0 = performance.now();
    const st = (i: string, f: string): string => `/sys/class/net/${i}/statistics/${f}`;
    const [c, d, r] = await Promise.all([
      this.lab.must(['cat', st('eth0', 'tx_packets')], this.cli),
      // No TAP when the kernel forwards: zeros.
      this.lab.exec(this.dir, ['cat', st(this.portIf, 'tx_packets'), st(this.portIf, 'tx_dropped'), st(this.portIf, 'rx_packets')]),
      this.lab.must(['cat', st('eth0', 'rx_packets')], this.rs),
    ]);
    const t1 = performance.now();
    const dv = d.code === 0 ? d.stdout.trim().split(/\s+/).map(Number) : [0, 0, 0];
    return { t: (t0 + t1) / 2000, genTx: Number(c.trim()), tapToReader: dv[0]!, tapDropped: dv[1]!, tapFromReader: dv[2]!, rsRx: Number(r.trim()), cpu, procCpu, runDelay };
  }

  async startC(io: 'uring' | 'syscalls', vnet = false): Promise<Running> {
    const proc = this.lab.spawn(this.dir, [
      'taskset', '-c', FWD_CPU,
      path.join(this.bin, 'reflector'),
      '--tap', 'uvs0', '--bridge', 'br0', '--mac', STATION_MAC, '--vip', VIP, '--rs-mac', this.rsMac, '--io', io, '--vnet', vnet ? '1' : '0',
    ]);
    await proc.waitForLine(/^ready/, 5000);
    return {
      proc,
      stats: async () => {
        await proc.stop(3000);
        const line = proc.stdout().split('\n').find((l) => l.startsWith('{'));
        return line ? (JSON.parse(line) as Record<string, unknown>) : null;
      },
    };
  }

  /** uvsd with one UDP service VIP:VPORT (and more ports: `extraPorts`) to the real server in this lab's method. */
  async startUvsd(tag: string, io: 'auto' | 'syscalls' | 'ring', connMax: number, extraPorts: number[] = [], extraArgs: string[] = [], before = false): Promise<Running & { proc: Proc; socket: string }> {
    const uvsdJs = this.uvsdJs(before);
    const uvsadmJs = this.uvsadmJs(before);
    // Builds from before --io (the foundation) use syscalls and do not know the option.
    const ioArgs = io === 'ring' ? [] : readFileSync(uvsdJs, 'utf8').includes("'--io") ? ['--io', io] : [];
    const portArgs = io === 'ring' ? ['--port', 'af_packet:uvs0'] : ['--tap', 'uvs0', '--bridge', 'br0'];
    const socket = `/tmp/uvsb-${process.pid}.sock`;
    const o = this.o;
    const nodeArgs = o.prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(o.prof)}`, `--cpu-prof-name=uvsd-${tag}.cpuprofile`] : [];
    // perf names JIT-compiled JavaScript from /tmp/perf-PID.map.
    if (o.perf) nodeArgs.push('--perf-basic-prof-only-functions');
    if (o.traceGc) nodeArgs.push('--trace-gc');
    if (o.heapSample) {
      process.env.UVS_HEAP_SAMPLE_DIR = o.heapSample;
      nodeArgs.push('--import', pathToFileURL(path.join(BENCH_DIR, 'heap-sample.js')).href);
    }
    // What bin/uvsd runs node with (the before build too, so an A/B compares the code alone).
    nodeArgs.push(...UVSD_NODE_FLAGS);
    // Extra options for the current build in A/B runs, e.g. UVS_BENCH_UVSD_ARGS='--offload off'.
    const envArgs = before ? [] : (process.env.UVS_BENCH_UVSD_ARGS ?? '').split(' ').filter((x) => x !== '');
    // Pinned to FWD_CPU as the C reflector is; with --datapath-cpus (the forwarder's or the
    // environment's) only the datapath thread is (uvsd pins it), the main thread takes the other
    // CPU. Before 2026-12-08 the environment's was not looked at: uvsd ran under taskset -c 1 with
    // its main thread on the datapath's CPU.
    const pin = [...extraArgs, ...envArgs].includes('--datapath-cpus') ? [] : ['taskset', '-c', FWD_CPU];
    // As the shipped systemd unit runs it (Nice=), when asked: the C reflector keeps nice 0.
    const nice = o.uvsdNice === 0 ? [] : ['nice', '-n', String(o.uvsdNice)];
    const proc = this.lab.spawn(this.dir, [
      ...nice,
      ...pin,
      process.execPath, ...nodeArgs, uvsdJs,
      ...portArgs, '--addr', DIRECTOR_ADDR, ...(this.mode === 'nat' ? ['--addr', `${NAT_DIR_ADDR}/24`] : []),
      '--mac', STATION_MAC, '--socket', socket, '--conn-max', String(connMax), ...ioArgs, ...extraArgs, ...envArgs,
    ], { maxCapture: 16 * 1024 * 1024 });
    // A loaded machine needs time to start Node and prefault a large table: up to 45 s.
    const end = Date.now() + 45_000;
    for (;;) {
      if (proc.done()) throw new Error(`uvsd exited early: ${proc.stderr().slice(-2000)}`);
      const r = await this.lab.exec(this.dir, [process.execPath, uvsadmJs, '--socket', socket, '-Ln'], { timeoutMs: 5000 });
      if (r.code === 0) break;
      if (Date.now() > end) {
        await proc.stop(3000); // it would hold the TAP for the runs after this one
        throw new Error(`uvsd not ready after 45 s: ${r.stderr.trim()} / ${proc.stderr().slice(-2000)}`);
      }
      await delay(100);
    }
    const fwd = this.mode === 'dr' ? 'dr' : this.mode;
    const client = await ControlClient.connect(socket, { timeoutMs: 5000 });
    try {
      for (const port of [VPORT, ...extraPorts]) {
        const service = { proto: 'udp' as const, addr: VIP, port };
        await client.call('addService', { ...service, sched: 'rr' });
        await client.call('addDest', { service, addr: this.rsAddr, port, fwd, weight: 1 });
        if (this.mode === 'fullnat') for (const addr of LIPS) await client.call('addLaddr', { service, addr });
      }
    } finally {
      client.close();
    }
    return {
      proc,
      socket,
      stats: async () => {
        const status = await this.uvsdStatus(socket);
        const list = await this.lab.exec(this.dir, [process.execPath, this.uvsadmJs(), '--socket', socket, '-Ln']);
        await proc.stop(5000);
        return { status, list: list.stdout, stderrTail: proc.stderr().slice(-1000) };
      },
    };
  }

  async uvsdStatus(socket: string): Promise<Record<string, unknown>> {
    try {
      const client = await ControlClient.connect(socket, { timeoutMs: 3000 });
      try {
        return (await client.call('status', {})) as unknown as Record<string, unknown>;
      } finally {
        client.close();
      }
    } catch (e) {
      return { error: String(e) };
    }
  }

  /** The kernel as the forwarder: br0 takes the station MAC and the addresses, nftables NATs. */
  async startKernel(): Promise<Running> {
    const d = this.dir;
    try {
      await this.configureKernel();
    } catch (e) {
      await this.stopKernel();
      throw e;
    }
    return {
      proc: null,
      stats: async () => {
        const count = await this.lab.exec(d, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count']);
        const st = await this.lab.exec(d, ['conntrack', '-S']);
        await this.stopKernel();
        return { conntrackCount: Number(count.stdout.trim()), conntrackStats: st.stdout.trim().split('\n').slice(0, 4) };
      },
    };
  }

  private async configureKernel(): Promise<void> {
    const d = this.dir;
    const rs = this.rsAddr;
    await this.lab.must(['ip', 'link', 'set', 'br0', 'address', STATION_MAC], d);
    await this.lab.must(['ip', 'addr', 'add', DIRECTOR_ADDR, 'dev', 'br0'], d);
    if (this.mode === 'nat') await this.lab.must(['ip', 'addr', 'add', `${NAT_DIR_ADDR}/24`, 'dev', 'br0'], d);
    if (this.mode === 'fullnat') for (const a of LIPS) await this.lab.must(['ip', 'addr', 'add', `${a}/24`, 'dev', 'br0'], d);
    await this.lab.sysctl(d, {
      'net.ipv4.ip_forward': 1,
      'net.ipv4.conf.all.send_redirects': 0,
      'net.ipv4.conf.br0.send_redirects': 0,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.br0.rp_filter': 0,
    });
    await this.steer(true);
    const rules = [
      'table ip uvsbench {',
      '  chain pre {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      `    ip daddr ${VIP} udp dport ${VPORT} dnat to ${rs}:${VPORT}`,
      '  }',
      '  chain post {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      ...(this.mode === 'fullnat' ? [`    ip daddr ${rs} udp dport ${VPORT} snat to ${LIPS[0]}-${LIPS[LIPS.length - 1]}`] : []),
      '  }',
      '}',
      '',
    ].join('\n');
    await this.lab.must(['nft', '-f', '-'], d, { input: rules });
  }

  private async stopKernel(): Promise<void> {
    const d = this.dir;
    await this.steer(false);
    await this.lab.exec(d, ['nft', 'delete', 'table', 'ip', 'uvsbench']);
    await this.lab.exec(d, ['conntrack', '-F']);
    await this.lab.exec(d, ['ip', 'addr', 'flush', 'dev', 'br0']);
    await this.lab.sysctl(d, { 'net.ipv4.ip_forward': 0 });
    // br0 must give the station MAC back, or frames for it stay in the director's own stack.
    await this.lab.must(['ip', 'link', 'set', 'br0', 'address', this.brMac], d);
  }

  /** perf record of the forwarder's CPU for the measured window (run in the host's namespace: it sees every CPU). */
  private startPerf(tag: string): Proc {
    return this.lab.spawn(null, ['perf', 'record', '-q', '-C', FWD_CPU, '-g', '-o', path.join(path.resolve(this.o.perf!), `perf-${tag}.data`), '--', 'sleep', String(this.o.seconds)]);
  }

  genArgv(workload: Workload, seconds: number, extra: { pps?: number; batch?: number; dstMac?: string; dst?: string } = {}): string[] {
    return [
      'taskset', '-c', GEN_CPU,
      path.join(this.bin, 'gen'),
      '--if', 'eth0', '--dst-mac', extra.dstMac ?? STATION_MAC, '--dst', extra.dst ?? VIP, '--dport', String(VPORT), '--src', GEN_SRC,
      ...(workload === 'steady' ? ['--flows', String(this.o.flows)] : ['--new']),
      '--seconds', String(seconds), '--batch', String(extra.batch ?? this.o.batch),
      ...(extra.pps ? ['--pps', String(Math.round(extra.pps))] : []),
    ];
  }

  async runOne(workload: Workload, fwd: Forwarder, rep: number): Promise<RunResult> {
    const { seconds, warmup } = this.o;
    const base: RunResult = {
      row: this.mode, workload, forwarder: fwd, repeat: rep, seconds,
      sentPps: 0, deliveredPps: 0, readerPps: 0, tapDropPps: 0, writtenPps: 0,
      cpuBusy: [], cpuSteal: [], fwdProcCpu: 0, fwdCoreUsPerPkt: 0, fwdProcUsPerPkt: 0, disturbed: false, stealFlagged: false,
      generator: null, forwarderStats: null,
    };
    let f: Running | null = null;
    let gen: Proc | null = null;
    try {
      await this.refreshFdb();
      const connMax = workload === 'full' ? this.o.fullMax : this.o.connMax;
      if (fwd === 'c' || fwd === 'c-uring' || fwd === 'c-uring-vnet') f = await this.startC(fwd === 'c' ? 'syscalls' : 'uring', fwd === 'c-uring-vnet');
      else if (fwd === 'nft') f = await this.startKernel();
      else {
        if (fwd === 'uvsd-ring') await this.ringOn();
        const io = fwd === 'uvsd-syscalls' ? 'syscalls' : fwd === 'uvsd-ring' ? 'ring' : 'auto';
        f = await this.startUvsd(`${fwd === 'uvsd' ? '' : `${fwd}-`}${this.mode}-${workload}-${rep}`, io, connMax, [], fwd === 'uvsd-thread' ? ['--datapath-thread', '--datapath-cpus', FWD_CPU] : [], fwd === 'uvsd-before');
      }
      if (fwd !== 'nft' && !(await this.waitStationLearned())) throw new Error(`bridge never learned ${STATION_MAC} on uvs0`);
      gen = this.lab.spawn(this.cli, this.genArgv(workload, warmup + seconds + 1));
      await delay(warmup * 1000);
      const pid = f.proc?.child.pid;
      const probe = !this.o.traceGc && !this.o.heapSample && this.o.probeMs > 0 && f.socket ? await probeControl(f.socket, this.o.probeMs, GEN_CPU, this.o.probeRt) : null;
      const scavenges = (): number => scavengesOf(f!.proc);
      const gcA = scavenges();
      const perf = this.o.perf ? this.startPerf(`${fwd}-${this.mode}-${workload}-${rep}`) : null;
      const a = await this.snapshot(pid);
      await delay(seconds * 1000);
      const b = await this.snapshot(pid);
      if (perf) await perf.exited;
      if (this.o.traceGc && fwd.startsWith('uvsd')) base.scavenges = scavenges() - gcA;
      if (probe) {
        const p = await probe.stop();
        const pct = (v: number[]): Pct => ({ p50: round(percentile(v, 50), 2), p99: round(percentile(v, 99), 2) });
        base.controlRtt = { n: p.rtts.length, ...pct(p.rtts), max: round(Math.max(0, ...p.rtts), 2) };
        // Parts only from a uvsd that answers "timing" (not an --before build older than it).
        if (p.toUvsd.length > 0) Object.assign(base.controlRtt, { toUvsd: pct(p.toUvsd), inUvsd: pct(p.inUvsd), back: pct(p.back) });
      }
      const code = await gen.exited;
      const gl = gen.stdout().split('\n').find((l) => l.startsWith('{'));
      base.generator = gl ? (JSON.parse(gl) as Record<string, unknown>) : { exit: code, stderr: gen.stderr() };
      const dt = b.t - a.t;
      base.seconds = round(dt, 3);
      base.sentPps = Math.round((b.genTx - a.genTx) / dt);
      base.deliveredPps = Math.round((b.rsRx - a.rsRx) / dt);
      base.readerPps = Math.round((b.tapToReader - a.tapToReader) / dt);
      base.tapDropPps = Math.round((b.tapDropped - a.tapDropped) / dt);
      base.writtenPps = Math.round((b.tapFromReader - a.tapFromReader) / dt);
      base.cpuBusy = b.cpu.map((c, i) => round((c.busy - a.cpu[i]!.busy) / dt, 3));
      base.cpuSteal = b.cpu.map((c, i) => round((c.steal - a.cpu[i]!.steal) / dt, 3));
      base.stealFlagged = stealFlag(base.cpuSteal);
      const fc = Number(FWD_CPU);
      const delivered = b.rsRx - a.rsRx;
      if (f.proc) {
        base.fwdProcCpu = round((b.procCpu - a.procCpu) / dt, 3);
        base.disturbed = base.fwdProcCpu < DISTURBED_BELOW;
        base.fwdProcUsPerPkt = delivered > 0 ? round(((b.procCpu - a.procCpu) * 1e6) / delivered, 2) : 0;
        base.fwdRunDelay = round((b.runDelay - a.runDelay) / dt, 3);
      }
      base.fwdCoreUsPerPkt = delivered > 0 ? round(((b.cpu[fc]!.busy - a.cpu[fc]!.busy) * 1e6) / delivered, 2) : 0;
      base.forwarderStats = await f.stats();
      f = null;
    } catch (e) {
      base.error = (e as Error).message;
      console.error(`bench: ${this.mode}/${workload}/${fwd}: ${base.error}`);
    } finally {
      if (gen && !gen.done()) await gen.stop(2000);
      if (f) {
        try {
          base.forwarderStats = await f.stats();
        } catch {
          /* reported above */
        }
      }
      await this.ringOff();
    }
    return base;
  }

  /** The ring backend's veth on the bridge where the TAP would be (uvsd `--port af_packet:uvs0`). */
  /** uvsd runs under --trace-gc (its stdout counts the scavenges). */
  get gcTraced(): boolean {
    return this.o.traceGc;
  }

  async ringOn(): Promise<void> {
    await addRingVeth(this.lab, this.dir, 'br0');
    this.portIf = 'uvs0p';
  }

  /** The ring's veth leaves the bridge (if it is there): the next forwarder's TAP is uvs0 again. */
  async ringOff(): Promise<void> {
    if (this.portIf === 'uvs0') return;
    await this.lab.exec(this.dir, ['ip', 'link', 'del', 'uvs0']);
    this.portIf = 'uvs0';
  }
}

/** Scavenges a forwarder under --trace-gc has printed so far (V8 writes a line for each). */
export function scavengesOf(proc: Proc | null | undefined): number {
  return (proc?.stdout().match(/Scavenge/g) ?? []).length;
}

/** VmRSS of a process in bytes (0 when it is gone). */
export function rssBytes(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
