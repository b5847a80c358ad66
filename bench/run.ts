// End-to-end benchmark: 64-byte UDP through a DR service, uvsd against a one-frame-per-syscall
// C reflector on the same TAP, in one run, on the same lab. See docs/performance.md.
//
//   npm run bench -- [--seconds 10] [--warmup 5] [--repeat 1] [--workloads steady,new]
//                    [--forwarders c,uvsd,c-uring[,uvsd-syscalls][,uvsd-before --before DIR]] [--flows 64]
//                    [--conn-max 8388608] [--batch 256] [--prof DIR] [--trace-gc] [--no-save]
//
// Topology (all inside namespaces this run creates, deleted in finally):
//
//   <p>-cli  eth0 192.168.8.1 ── pcl ┐
//                                    ├─ br0 ── uvs0 (TAP) ── reflector | uvsd   <p>-dir
//   <p>-rs   eth0 192.168.8.20 ─ prs ┘
//            lo 192.168.8.200 (VIP)
//
// The generator (bench/baseline/gen.c, AF_PACKET + sendmmsg) runs in <p>-cli pinned to CPU 0
// and addresses frames to the director's station MAC; the forwarder runs in <p>-dir pinned to
// CPU 1. "Delivered" is the real server's eth0 rx_packets delta over the measurement window.
// The target compares uvsd with "c" (one read()/write() per frame); "c-uring" (the reflector
// batching through io_uring, like uvsd) and "uvsd-syscalls" (uvsd --io syscalls) are references.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, labUnavailableReason, delay, type Proc } from '../test/lab/netns.js';
import { ControlClient } from '../src/control/client.js';
import { probeControl } from './lib/control-probe.js';
import { machine, readCpus, readProcCpu, type CpuTimes } from './lib/host.js';
import { FORWARDERS, summary, table, type Forwarder, type Plan, type RunResult, type Workload } from './lib/report.js';
import { fmt, pct, percentile, round } from './lib/stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BASELINE = path.join(ROOT, 'bench/baseline');
const UVSD_MAIN_JS = path.join(ROOT, 'dist/src/cli/uvsd.js');
const UVSADM_MAIN_JS = path.join(ROOT, 'dist/src/cli/uvsadm.js');

const STATION_MAC = '02:00:00:00:00:01';
const DIRECTOR_ADDR = '192.168.8.10/24';
const CLIENT_ADDR = '192.168.8.1';
const RS_ADDR = '192.168.8.20';
const VIP = '192.168.8.200';
const VPORT = 9;
/** Source addresses of generated packets: outside the lab's subnet and unroutable from the
 *  real server, so it can never answer them (no ICMP port-unreachable back into the bridge). */
const GEN_SRC = '192.168.9.1';
const GEN_CPU = '0';
/** A run whose forwarder process had less than this share of its core was disturbed by other
 *  work on the machine; it is reported but left out of the medians when undisturbed runs exist. */
const DISTURBED_BELOW = 0.9;
const FWD_CPU = '1';

interface Snapshot {
  t: number;
  genTx: number;
  tapToReader: number; // TAP tx_packets: frames the kernel queued for the reader
  tapDropped: number; // TAP tx_dropped: frames dropped because the reader's queue was full
  tapFromReader: number; // TAP rx_packets: frames the reader wrote
  rsRx: number;
  cpu: CpuTimes[]; // per CPU, seconds
  procCpu: number; // forwarder process user+system, seconds (all threads)
}

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '1' },
    workloads: { type: 'string', default: 'steady,new' },
    forwarders: { type: 'string', default: 'c,uvsd,c-uring' },
    flows: { type: 'string', default: '64' },
    'conn-max': { type: 'string', default: String(1 << 23) },
    batch: { type: 'string', default: '256' },
    'no-save': { type: 'boolean', default: false },
    /** Run uvsd under `node --cpu-prof`, writing .cpuprofile files into this directory. */
    prof: { type: 'string' },
    /** Run uvsd under `node --trace-gc` and count the scavenges in each measured window. */
    'trace-gc': { type: 'boolean', default: false },
    /** A built checkout of an earlier commit (git worktree add DIR COMMIT; npm ci): forwarder uvsd-before runs its uvsd. */
    before: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 6).join('\n'));
  process.exit(0);
}

const seconds = bounded(Number(opt.seconds), 1, 120, 'seconds');
const warmup = bounded(Number(opt.warmup), 0, 60, 'warmup');
const repeats = bounded(Number(opt.repeat), 1, 10, 'repeat');
const flows = bounded(Number(opt.flows), 1, 65535, 'flows');
const connMax = bounded(Number(opt['conn-max']), 1024, 1 << 26, 'conn-max');
const batch = bounded(Number(opt.batch), 1, 1024, 'batch');
const workloads = opt.workloads!.split(',').filter(Boolean) as Workload[];
const forwarders = opt.forwarders!.split(',').filter(Boolean) as Forwarder[];
for (const w of workloads) if (w !== 'steady' && w !== 'new') fail(`unknown workload ${w} (steady, new)`);
for (const f of forwarders) if (!FORWARDERS.includes(f)) fail(`unknown forwarder ${f} (${FORWARDERS.join(', ')})`);
if (!forwarders.includes('c')) fail('--forwarders must include c: every ratio is against it');
if (forwarders.includes('uvsd-before') !== (opt.before !== undefined)) fail('--forwarders uvsd-before and --before DIR go together');
const BEFORE_JS = opt.before === undefined ? undefined : { uvsd: path.resolve(opt.before, 'dist/src/cli/uvsd.js'), uvsadm: path.resolve(opt.before, 'dist/src/cli/uvsadm.js') };

function bounded(v: number, lo: number, hi: number, name: string): number {
  if (!Number.isFinite(v) || v < lo || v > hi) fail(`--${name} must be a number in ${lo}..${hi}`);
  return v;
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(1);
}

function buildBaselines(): void {
  for (const name of ['reflector', 'gen']) {
    execFileSync('cc', ['-O2', '-Wall', '-o', path.join(BASELINE, name), path.join(BASELINE, `${name}.c`)], {
      stdio: 'inherit',
    });
  }
}

class Bench {
  readonly lab = new Lab('uvsb');
  cli = '';
  dir = '';
  rs = '';
  rsMac = '';

  async setup(): Promise<void> {
    await Lab.cleanupLeftovers('uvsb');
    this.cli = await this.lab.addNs('cli');
    this.dir = await this.lab.addNs('dir');
    this.rs = await this.lab.addNs('rs');
    await this.lab.addBridge(this.dir, 'br0');
    // br_netfilter is loaded on this host: keep bridged frames out of iptables for both forwarders.
    await this.lab.exec(this.dir, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-arptables=0']);
    await this.lab.addHostIf({ ns: this.cli, addr: `${CLIENT_ADDR}/24`, bridgeNs: this.dir, bridge: 'br0', portName: 'pcl' });
    await this.lab.addHostIf({
      ns: this.rs,
      addr: `${RS_ADDR}/24`,
      loAddrs: [VIP],
      bridgeNs: this.dir,
      bridge: 'br0',
      portName: 'prs',
    });
    // A DR real server: hold the VIP on lo, never answer or announce ARP for it.
    await this.lab.sysctl(this.rs, {
      'net.ipv4.conf.all.arp_ignore': 1,
      'net.ipv4.conf.all.arp_announce': 2,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.eth0.rp_filter': 0,
    });
    this.rsMac = await this.lab.macOf(this.rs, 'eth0');
  }

  /**
   * Let the bridge (re)learn the real server's MAC on its port: one UDP datagram from the RS to
   * the client (ARP both ways). Without it every forwarded frame is flooded to all ports.
   */
  async refreshFdb(): Promise<void> {
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      await this.lab.exec(this.rs, ['bash', '-c', `echo learn > /dev/udp/${CLIENT_ADDR}/9`]);
      await delay(100);
      const r = await this.lab.exec(this.dir, ['bridge', 'fdb', 'show', 'br', 'br0']);
      if (r.stdout.split('\n').some((l) => l.startsWith(this.rsMac) && / dev prs /.test(l + ' '))) return;
    }
    throw new Error(`bridge never learned the real server's MAC ${this.rsMac} on prs`);
  }

  /** Wait until br0 has learned the station MAC on the TAP port (from the forwarder's first frame). */
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
    const t0 = performance.now();
    const st = (i: string, f: string): string => `/sys/class/net/${i}/statistics/${f}`;
    const [c, d, r] = await Promise.all([
      this.lab.must(['cat', st('eth0', 'tx_packets')], this.cli),
      this.lab.must(['cat', st('uvs0', 'tx_packets'), st('uvs0', 'tx_dropped'), st('uvs0', 'rx_packets')], this.dir),
      this.lab.must(['cat', st('eth0', 'rx_packets')], this.rs),
    ]);
    const t1 = performance.now();
    const dv = d.trim().split(/\s+/).map(Number);
    return {
      t: (t0 + t1) / 2000,
      genTx: Number(c.trim()),
      tapToReader: dv[0]!,
      tapDropped: dv[1]!,
      tapFromReader: dv[2]!,
      rsRx: Number(r.trim()),
      cpu,
      procCpu,
    };
  }

  async startC(io: 'uring' | 'syscalls'): Promise<{ proc: Proc; stats: () => Promise<Record<string, unknown> | null> }> {
    const proc = this.lab.spawn(this.dir, [
      'taskset', '-c', FWD_CPU,
      path.join(BASELINE, 'reflector'),
      '--tap', 'uvs0', '--bridge', 'br0', '--mac', STATION_MAC, '--vip', VIP, '--rs-mac', this.rsMac, '--io', io,
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

  async startUvsd(tag: string, io: 'auto' | 'syscalls', before = false): Promise<{ proc: Proc; socket: string; stats: () => Promise<Record<string, unknown> | null> }> {
    const UVSD_JS = before ? BEFORE_JS!.uvsd : UVSD_MAIN_JS;
    const UVSADM_JS = before ? BEFORE_JS!.uvsadm : UVSADM_MAIN_JS;
    // Builds from before --io (the foundation) use syscalls and do not know the option.
    const ioArgs = readFileSync(UVSD_JS, 'utf8').includes("'--io") ? ['--io', io] : [];
    const socket = `/tmp/uvsb-${process.pid}.sock`;
    const nodeArgs = opt.prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opt.prof)}`, `--cpu-prof-name=uvsd-${tag}.cpuprofile`] : [];
    if (opt['trace-gc']) nodeArgs.push('--trace-gc');
    const proc = this.lab.spawn(this.dir, [
      'taskset', '-c', FWD_CPU,
      process.execPath, ...nodeArgs, UVSD_JS,
      '--tap', 'uvs0', '--bridge', 'br0', '--addr', DIRECTOR_ADDR, '--mac', STATION_MAC,
      '--socket', socket, '--conn-max', String(connMax), ...ioArgs,
    ]);
    // Readiness is asked, not guessed: poll `uvsadm -Ln` until it answers.
    const end = Date.now() + 15_000;
    for (;;) {
      if (proc.done()) throw new Error(`uvsd exited early: ${proc.stderr().slice(-2000)}`);
      const r = await this.lab.exec(this.dir, [process.execPath, UVSADM_JS, '--socket', socket, '-Ln'], { timeoutMs: 5000 });
      if (r.code === 0) break;
      if (Date.now() > end) {
        await proc.stop(3000); // it would hold the TAP for the runs after this one
        throw new Error(`uvsd not ready after 15 s: ${r.stderr.trim()} / ${proc.stderr().slice(-2000)}`);
      }
      await delay(100);
    }
    const adm = (args: string[]): Promise<string> => this.lab.must([process.execPath, UVSADM_JS, '--socket', socket, ...args], this.dir);
    await adm(['-A', '-u', `${VIP}:${VPORT}`, '-s', 'rr']);
    await adm(['-a', '-u', `${VIP}:${VPORT}`, '-r', `${RS_ADDR}:${VPORT}`, '-g']);
    return {
      proc,
      socket,
      stats: async () => {
        let status: Record<string, unknown> | null = null;
        try {
          const client = await ControlClient.connect(socket, { timeoutMs: 3000 });
          try {
            status = (await client.call('status', {})) as unknown as Record<string, unknown>;
          } finally {
            client.close();
          }
        } catch (e) {
          status = { error: String(e) };
        }
        const list = await this.lab.exec(this.dir, [process.execPath, UVSADM_JS, '--socket', socket, '-Ln']);
        await proc.stop(5000);
        return { status, list: list.stdout, stderrTail: proc.stderr().slice(-1000) };
      },
    };
  }

  async runOne(workload: Workload, fwd: Forwarder, rep: number): Promise<RunResult> {
    const base: RunResult = {
      workload, forwarder: fwd, repeat: rep, seconds,
      sentPps: 0, deliveredPps: 0, readerPps: 0, tapDropPps: 0, writtenPps: 0,
      cpuBusy: [], cpuSteal: [], fwdProcCpu: 0, fwdCoreUsPerPkt: 0, fwdProcUsPerPkt: 0, disturbed: false, generator: null, forwarderStats: null,
    };
    let f: Awaited<ReturnType<Bench['startC']>> | null = null;
    let gen: Proc | null = null;
    try {
      await this.refreshFdb();
      f = fwd === 'c' || fwd === 'c-uring'
        ? await this.startC(fwd === 'c' ? 'syscalls' : 'uring')
        : await this.startUvsd(`${fwd === 'uvsd' ? '' : `${fwd}-`}${workload}-${rep}`, fwd === 'uvsd-syscalls' ? 'syscalls' : 'auto', fwd === 'uvsd-before');
      if (!(await this.waitStationLearned())) throw new Error(`bridge never learned ${STATION_MAC} on uvs0`);
      const genArgv = [
        'taskset', '-c', GEN_CPU,
        path.join(BASELINE, 'gen'),
        '--if', 'eth0', '--dst-mac', STATION_MAC, '--dst', VIP, '--dport', String(VPORT), '--src', GEN_SRC,
        ...(workload === 'new' ? ['--new'] : ['--flows', String(flows)]),
        '--seconds', String(warmup + seconds + 1), '--batch', String(batch),
      ];
      gen = this.lab.spawn(this.cli, genArgv);
      await delay(warmup * 1000);
      // The control probe's requests make garbage in uvsd: left out when counting scavenges.
      const probe = !opt['trace-gc'] && 'socket' in f && typeof f.socket === 'string' ? await probeControl(f.socket) : null;
      const scavenges = (): number => (f!.proc.stdout().match(/Scavenge/g) ?? []).length;
      const gcA = scavenges();
      const a = await this.snapshot(f.proc.child.pid);
      await delay(seconds * 1000);
      const b = await this.snapshot(f.proc.child.pid);
      if (opt['trace-gc'] && fwd.startsWith('uvsd')) base.scavenges = scavenges() - gcA;
      if (probe) {
        const rtts = await probe.stop();
        base.controlRtt = { n: rtts.length, p50: round(percentile(rtts, 50), 2), p99: round(percentile(rtts, 99), 2), max: round(Math.max(0, ...rtts), 2) };
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
      base.fwdProcCpu = round((b.procCpu - a.procCpu) / dt, 3);
      const fc = Number(FWD_CPU);
      const delivered = b.rsRx - a.rsRx;
      base.disturbed = base.fwdProcCpu < DISTURBED_BELOW;
      base.fwdProcUsPerPkt = delivered > 0 ? round(((b.procCpu - a.procCpu) * 1e6) / delivered, 2) : 0;
      base.fwdCoreUsPerPkt = delivered > 0 ? round(((b.cpu[fc]!.busy - a.cpu[fc]!.busy) * 1e6) / delivered, 2) : 0;
      base.forwarderStats = await f.stats();
      f = null;
    } catch (e) {
      base.error = (e as Error).message;
      console.error(`bench: ${workload}/${fwd}: ${base.error}`);
    } finally {
      if (gen && !gen.done()) await gen.stop(2000);
      if (f) {
        try {
          base.forwarderStats = await f.stats();
        } catch {
          /* reported above */
        }
      }
    }
    return base;
  }
}

async function main(): Promise<void> {
  const why = labUnavailableReason();
  if (why) fail(`cannot run: ${why}. Run as root on Linux (e.g. sudo npm run bench).`);
  if (BEFORE_JS && !existsSync(BEFORE_JS.uvsd)) fail(`${BEFORE_JS.uvsd} is missing: build that checkout first`);
  if (forwarders.some((f) => f.startsWith('uvsd')) && !existsSync(UVSD_MAIN_JS)) {
    fail(`${UVSD_MAIN_JS} is missing: build first (npx tsc -p tsconfig.json), or run with --forwarders c`);
  }
  buildBaselines();
  const m = machine();
  const started = new Date();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`uvs bench: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, node ${m.node}`);
  console.log(`  64-byte-class UDP (60-byte frames, 64 on the wire with FCS) to ${VIP}:${VPORT}, DR; generator on CPU ${GEN_CPU}, forwarder on CPU ${FWD_CPU}`);
  console.log(`  warm-up ${warmup} s, measure ${seconds} s, repeat ${repeats}, workloads ${workloads.join(',')}, forwarders ${forwarders.join(',')}`);

  const bench = new Bench();
  const results: RunResult[] = [];
  const onSig = (): void => {
    bench.lab.destroySync();
    process.exit(130);
  };
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    await bench.setup();
    for (let rep = 1; rep <= repeats; rep++) {
      for (const w of workloads) {
        // Alternate the order per repeat so a drift in the machine's speed favours neither.
        const order = rep % 2 === 1 ? forwarders : [...forwarders].reverse();
        for (const f of order) {
          const r = await bench.runOne(w, f, rep);
          results.push(r);
          console.log(
            `  ${w.padEnd(6)} ${f.padEnd(13)} #${rep}: sent ${fmt(r.sentPps)} pps, reader ${fmt(r.readerPps)} pps, delivered ${fmt(r.deliveredPps)} pps, CPU busy ${r.cpuBusy.map(pct).join('/')} steal ${r.cpuSteal.map(pct).join('/')}, fwd proc ${pct(r.fwdProcCpu)} = ${r.fwdProcUsPerPkt} µs/pkt, CPU ${FWD_CPU} ${r.fwdCoreUsPerPkt} µs/pkt${r.scavenges !== undefined ? `, ${r.scavenges} scavenges (${((r.scavenges * 1e6) / Math.max(1, r.deliveredPps * r.seconds)).toFixed(2)} per million packets)` : ''}${r.controlRtt ? `, control RTT p50 ${r.controlRtt.p50} p99 ${r.controlRtt.p99} ms` : ''}${r.disturbed ? ' [disturbed]' : ''}${r.error ? ` (error: ${r.error})` : ''}`,
          );
        }
      }
    }
  } finally {
    await bench.lab.destroy();
  }

  const plan: Plan = { workloads, forwarders, flows, repeats, fwdCpu: FWD_CPU };
  const md = table(plan, results);
  console.log('\n' + md + '\n');
  const sum = summary(plan, results);
  for (const [w, s] of Object.entries(sum)) {
    type Ref = { deliveredPps: number; ratioToC: number | null } | null;
    const v = s as { ratio: number | null; cpuRatio: number | null; disturbed: number; runs: number; cDeliveredPps: number; uvsdDeliveredPps: number; cUring: Ref; uvsdSyscalls: Ref };
    if (v.ratio !== null) {
      console.log(
        `${w}: delivered uvsd/C = ${fmt(v.uvsdDeliveredPps)}/${fmt(v.cDeliveredPps)} = ${v.ratio.toFixed(3)} (target >= 0.95: ${v.ratio >= 0.95 ? 'met' : 'NOT met'}); ` +
          `CPU per packet C/uvsd = ${v.cpuRatio?.toFixed(3) ?? 'n/a'}; medians over undisturbed runs (${v.disturbed} of ${v.runs} disturbed)`,
      );
    }
    for (const [name, r] of [['C reflector, io_uring', v.cUring], ['uvsd --io syscalls', v.uvsdSyscalls]] as const) {
      if (r) console.log(`${w}: reference ${name}: ${fmt(r.deliveredPps)} pps = ${r.ratioToC?.toFixed(3)} × C${v.uvsdDeliveredPps ? `; uvsd is ${(v.uvsdDeliveredPps / r.deliveredPps).toFixed(3)} × this` : ''}`);
    }
  }
  if (!opt['no-save']) {
    const dirOut = path.join(ROOT, 'bench/results');
    mkdirSync(dirOut, { recursive: true });
    // Only the latest run is kept in the tree: the numbers worth keeping go to docs/performance.md.
    const file = path.join(dirOut, 'latest.json');
    writeFileSync(
      file,
      JSON.stringify({ date: started.toISOString(), command, machine: m, options: { seconds, warmup, repeats, flows, connMax, batch, workloads, forwarders }, summary: sum, results, table: md }, null, 2) + '\n',
    );
    console.log(`results: ${path.relative(process.cwd(), file)}`);
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
