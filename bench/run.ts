// The benchmark: every row of issue 15 side by side in one run. See docs/performance.md.
//
//   npm run bench -- [--rows dr,nat,fullnat,cps,bulk,latency,memory] [--workloads steady,new,full]
//                    [--seconds 10] [--warmup 5] [--repeat 1] [--forwarders c,uvsd,c-uring[,c-uring-vnet][,uvsd-syscalls][,uvsd-ring][,uvsd-thread][,uvsd-w2][,uvsd-before --before DIR]]
//                    [--tcp-seconds 10] [--iperf-streams 1] [--tcp-port tap|ring] [--latency-pps N] [--flows 64] [--conn-max 8388608] [--full-max 262144]
//                    [--batch 256] [--prof DIR] [--perf DIR] [--latency-trace DIR [--latency-slow-us 200]] [--trace-gc] [--heap-sample DIR] [--probe-ms 20] [--probe-rt] [--uvsd-nice=N] [--no-save] [--autogroup-nice N]
//
// Rows (each in network namespaces this run creates and deletes in finally; lib/ has one file per kind):
//   dr        64-byte UDP through DR: uvsd vs the C reflector (one syscall, io_uring)      lib/udp.ts
//   nat       64-byte UDP through NAT: uvsd vs kernel nftables DNAT with conntrack          lib/udp.ts
//   fullnat   the same through FULLNAT (8 LIPs) vs nftables DNAT+SNAT to the same 8         lib/udp.ts
//             (both also run uvsd-ring, uvsd-syscalls, uvsd-thread and uvsd-before when --forwarders names them)
//   cps       new TCP connections/s (wrk, nginx): uvsd DR/NAT vs haproxy vs nginx direct   lib/tcp.ts
//   bulk      iperf3 through uvsd DR/NAT vs nftables NAT vs direct                         lib/tcp.ts
//   latency   ping-pong p50/p99 at half of uvs's max rate: uvsd, C reflector, direct        lib/latency.ts
//   memory    uvsd RSS with 1,000,000 connection entries                                   lib/memory.ts
// Workloads of the UDP rows: steady (64 flows), new (a new flow per packet), full (new flows with
// uvsd --conn-max and the kernel's nf_conntrack_max both at 262,144: the tables are full).
// Within a repeat every row runs its variants one right after the other (order alternating per
// repeat); the ratios are medians of these adjacent pairs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand, labUnavailableReason } from '../test/lab/netns.js';
import { machine } from './lib/host.js';
import { LATENCY_VARIANTS, latencyRow } from './lib/latency.js';
import { memoryRow } from './lib/memory.js';
import { FORWARDERS, table, WORKLOADS, type Forwarder, type Pct, type Plan, type RunResult, type UdpMode, type Workload } from './lib/report.js';
import { compare, resultsTable, samplesTable, udpSamples, type Sample } from './lib/rows.js';
import { fmt, median, pct, stealPct, stealText } from './lib/stats.js';
import { measure, TCP_TOOLS, TcpLab } from './lib/tcp.js';
import { FWD_CPU, GEN_CPU, UdpLab } from './lib/udp.js';
import { benchArgs, usageError } from './lib/args.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BASELINE = path.join(ROOT, 'bench/baseline');
const UVSD_JS = path.join(ROOT, 'dist/src/cli/uvsd.js');
const ROWS = ['dr', 'nat', 'fullnat', 'cps', 'bulk', 'latency', 'memory'] as const;
type Row = (typeof ROWS)[number];

// An unknown option or a negative value without `=` (--uvsd-nice -10): one line, not a stack trace (exit 2).
const { values: opt } = benchArgs(import.meta.url, {
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '1' },
    rows: { type: 'string', default: ROWS.join(',') },
    workloads: { type: 'string', default: 'steady,new,full' },
    'tcp-seconds': { type: 'string' },
    /** iperf3 -P: parallel streams of the bulk row (more than one spreads over uvsd --workers' queues). */
    'iperf-streams': { type: 'string', default: '1' },
    /** How uvsd meets the TCP rows' bridge: a TAP (default) or the ring backend on a veth (--port af_packet). */
    'tcp-port': { type: 'string', default: 'tap' },
    'latency-pps': { type: 'string' },
    'full-max': { type: 'string', default: '262144' },
    /** Set the bench's own scheduler autogroup (its session; run it under setsid) to this nice. */
    'autogroup-nice': { type: 'string' },
    forwarders: { type: 'string', default: 'c,uvsd,c-uring' },
    flows: { type: 'string', default: '64' },
    'conn-max': { type: 'string', default: String(1 << 23) },
    batch: { type: 'string', default: '256' },
    'no-save': { type: 'boolean', default: false },
    /** Run uvsd under `node --cpu-prof`, writing .cpuprofile files into this directory. */
    prof: { type: 'string' },
    /** perf record into DIR: the forwarder's CPU in each UDP row's measured window, both CPUs in each cps run. */
    perf: { type: 'string' },
    /** The latency row writes every round trip of --latency-slow-us or more into DIR/<variant>-<repeat>.txt ("slow SEND_US RTT_US"). */
    'latency-trace': { type: 'string' },
    'latency-slow-us': { type: 'string', default: '200' },
    /** Sample where uvsd allocates, garbage included (bench/heap-sample.ts), into DIR/uvsd-PID.heapprofile. */
    'heap-sample': { type: 'string' },
    /** Run uvsd under `node --trace-gc` and count the scavenges in each measured window. */
    'trace-gc': { type: 'boolean', default: false },
    /** The control probe's interval in the UDP rows (a `list` round trip every N ms while uvsd forwards); 0: no probe. */
    'probe-ms': { type: 'string', default: '20' },
    /** Run the control probe at SCHED_FIFO, so its round trips do not include its own wait behind the generator on that CPU. */
    'probe-rt': { type: 'boolean', default: false },
    /** Start uvsd in the UDP rows at this nice value (the systemd unit's Nice=-10); default 0. */
    'uvsd-nice': { type: 'string', default: '0' },
    /** A built checkout of an earlier commit (git worktree add DIR COMMIT; npm ci): forwarder uvsd-before runs its uvsd. */
    before: { type: 'string' },
  },
});

// A bad option value is one line and exit 2 (usageError), as a bad option is (benchArgs); fail()
// (exit 1) is for a host that cannot run the bench (not root, a tool or a build missing).
const seconds = bounded(opt.seconds, 1, 120, 'seconds');
const tcpSeconds = bounded(opt['tcp-seconds'] ?? opt.seconds, 1, 120, 'tcp-seconds');
const iperfStreams = bounded(opt['iperf-streams'], 1, 32, 'iperf-streams');
const warmup = bounded(opt.warmup, 0, 60, 'warmup');
const repeats = bounded(opt.repeat, 1, 10, 'repeat');
const flows = bounded(opt.flows, 1, 65535, 'flows');
const connMax = bounded(opt['conn-max'], 1024, 1 << 26, 'conn-max');
const fullMax = bounded(opt['full-max'], 1024, 1 << 26, 'full-max');
const batch = bounded(opt.batch, 1, 1024, 'batch');
const probeMs = bounded(opt['probe-ms'], 0, 10_000, 'probe-ms');
const uvsdNice = bounded(opt['uvsd-nice'], -20, 19, 'uvsd-nice');
const latencySlowUs = bounded(opt['latency-slow-us'], 1, 1_000_000, 'latency-slow-us');
const autogroupNice = opt['autogroup-nice'] === undefined ? null : bounded(opt['autogroup-nice'], -20, 19, 'autogroup-nice');
const latencyPps = opt['latency-pps'] === undefined ? null : bounded(opt['latency-pps'], 1000, 2_000_000, 'latency-pps');
const rows = opt.rows!.split(',').filter(Boolean) as Row[];
const workloads = opt.workloads!.split(',').filter(Boolean) as Workload[];
const forwarders = opt.forwarders!.split(',').filter(Boolean) as Forwarder[];
/** uvsd --workers 2 runs in the TCP rows only (beside uvsd); the UDP rows pin the forwarder to one CPU. */
const workers2 = forwarders.includes('uvsd-w2');
const drForwarders = forwarders.filter((f) => f !== 'uvsd-w2');
for (const r of rows) if (!ROWS.includes(r)) bad(`unknown row ${r} (${ROWS.join(', ')})`);
for (const w of workloads) if (!WORKLOADS.includes(w)) bad(`unknown workload ${w} (${WORKLOADS.join(', ')})`);
for (const f of drForwarders) if (!FORWARDERS.includes(f) || f === 'nft') bad(`unknown DR forwarder ${f} (${FORWARDERS.filter((x) => x !== 'nft').join(', ')})`);
if (drForwarders.includes('uvsd-before') !== (opt.before !== undefined)) bad('--forwarders uvsd-before and --before DIR go together');
if (opt.before !== undefined && !existsSync(path.join(opt.before, 'dist/src/cli/uvsd.js'))) bad(`--before ${opt.before}: ${opt.before}/dist/src/cli/uvsd.js is missing: build that checkout first`);
const tcpPort = opt['tcp-port'] as 'tap' | 'ring';
if (tcpPort !== 'tap' && tcpPort !== 'ring') bad(`--tcp-port must be tap or ring, got ${tcpPort}`);
if (rows.includes('dr') && !drForwarders.includes('c')) bad('--forwarders must include c: the DR rows are divided by it');
if (opt.perf !== undefined && !hasCommand('perf')) fail('--perf needs perf: apt-get install -y linux-perf');
const latencyTrace = opt['latency-trace'] === undefined ? null : { dir: outDir('latency-trace', opt['latency-trace']), slowUs: latencySlowUs };
if (opt.perf !== undefined) outDir('perf', opt.perf);

/** An option's number, `lo`..`hi`. */
function bounded(text: string | undefined, lo: number, hi: number, name: string): number {
  const v = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(v) || v < lo || v > hi) bad(`--${name} ${text}: must be a number in ${lo}..${hi}`);
  return v;
}

/** The directory an option names, made (with its parents); one that cannot be is a bad value. */
function outDir(name: string, dir: string): string {
  try {
    mkdirSync(path.resolve(dir), { recursive: true });
  } catch (e) {
    bad(`--${name} ${dir}: ${(e as Error).message}`);
  }
  return path.resolve(dir);
}

/** A bad option value: one line (`run: ...`), exit 2. */
function bad(msg: string): never {
  usageError(import.meta.url, msg);
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(1);
}

function buildBaselines(): void {
  for (const name of ['reflector', 'gen', 'ping']) {
    execFileSync('cc', ['-O2', '-Wall', '-o', path.join(BASELINE, name), path.join(BASELINE, `${name}.c`)], {
      stdio: 'inherit',
    });
  }
}

/** The programs a row needs that are missing here, as "program (apt package)". */
function missingTools(row: Row): string[] {
  const need: Record<string, string> =
    row === 'cps' ? TCP_TOOLS.cps : row === 'bulk' ? TCP_TOOLS.bulk : row === 'nat' || row === 'fullnat' ? { nft: 'nftables', conntrack: 'conntrack' } : {};
  return Object.entries(need)
    .filter(([bin]) => !hasCommand(bin))
    .map(([bin, pkg]) => `${bin} (${pkg})`);
}

function udpOptions(): ConstructorParameters<typeof UdpLab>[1] {
  return { root: ROOT, seconds, warmup, flows, connMax, fullMax, batch, prof: opt.prof, perf: opt.perf, traceGc: !!opt['trace-gc'], heapSample: opt['heap-sample'] === undefined ? undefined : path.resolve(opt['heap-sample']), probeMs, probeRt: !!opt['probe-rt'], uvsdNice, before: opt.before === undefined ? undefined : path.resolve(opt.before) };
}

/** The round trip's parts, p50/p99 each (control-probe.ts). */
function parts(c: NonNullable<RunResult['controlRtt']>): string {
  if (c.toUvsd === undefined || c.inUvsd === undefined || c.back === undefined) return '';
  const pp = (x: Pct): string => `${x.p50}/${x.p99}`;
  return ` (to uvsd ${pp(c.toUvsd)}, in uvsd ${pp(c.inUvsd)}, back ${pp(c.back)})`;
}

function logRun(r: RunResult): void {
  console.log(
    `  ${r.row.padEnd(7)} ${r.workload.padEnd(6)} ${r.forwarder.padEnd(13)} #${r.repeat}: sent ${fmt(r.sentPps)} pps, delivered ${fmt(r.deliveredPps)} pps, reader ${fmt(r.readerPps)} pps, ` +
      `CPU busy ${r.cpuBusy.map(pct).join('/')} steal ${r.cpuSteal.map(stealPct).join('/')}${r.fwdProcCpu ? `, fwd proc ${pct(r.fwdProcCpu)} = ${r.fwdProcUsPerPkt} µs/pkt` : ''}, CPU ${FWD_CPU} ${r.fwdCoreUsPerPkt} µs/pkt` +
      `${r.scavenges !== undefined ? `, ${r.scavenges} scavenges` : ''}${r.controlRtt ? `, control RTT p50 ${r.controlRtt.p50} p99 ${r.controlRtt.p99} ms${parts(r.controlRtt)}` : ''}` +
      `${r.fwdRunDelay ? `, fwd waited for CPU ${pct(r.fwdRunDelay)}` : ''}` +
      `${r.disturbed ? ' [disturbed]' : ''}${r.stealFlagged ? ` [${stealText()}]` : ''}${r.error ? ` (error: ${r.error})` : ''}`,
  );
}

function logSample(s: Sample): void {
  const fwdCpu = typeof s.extra?.fwdCpu === 'number' ? `, forwarder CPU ${pct(s.extra.fwdCpu)}` : '';
  const gc = typeof s.extra?.scavenges === 'number' ? `, ${s.extra.scavenges} scavenges` : '';
  console.log(`  ${s.row.padEnd(7)} ${s.variant.padEnd(28)} #${s.repeat}: ${s.unit === 'conn/s' ? fmt(s.value) : s.value} ${s.unit}${fwdCpu}${gc}, steal ${s.steal.map(stealPct).join('/')}${s.stealFlagged ? ` [${stealText(s.stealLimit)}]` : ''}${s.error ? ` (error: ${s.error})` : ''}`);
}

/** Runs `variants` of one workload for every repeat, the order alternating per repeat. */
async function udpRow(u: UdpLab, ws: Workload[], fwds: Forwarder[], results: RunResult[]): Promise<void> {
  for (let rep = 1; rep <= repeats; rep++) {
    for (const w of ws) {
      for (const f of rep % 2 === 1 ? fwds : [...fwds].reverse()) {
        const r = await u.runOne(w, f, rep);
        results.push(r);
        logRun(r);
      }
    }
  }
}

async function withUdpLab(mode: UdpMode, labs: Set<{ destroy(): Promise<void> }>, fn: (u: UdpLab) => Promise<void>): Promise<void> {
  const u = new UdpLab(mode, udpOptions());
  const h = { destroy: () => u.lab.destroy() };
  labs.add(h);
  try {
    await u.setup();
    await fn(u);
  } finally {
    await u.lab.destroy();
    labs.delete(h);
  }
}

async function withTcpLab(mode: 'dr' | 'nat', labs: Set<{ destroy(): Promise<void> }>, fn: (t: TcpLab) => Promise<void>): Promise<void> {
  const t = new TcpLab(mode, tcpPort);
  if (opt.perf !== undefined) t.perfDir = path.resolve(opt.perf);
  const h = { destroy: () => (t.dl ? t.destroy() : Promise.resolve()) };
  labs.add(h);
  try {
    await t.setup({ nginx: rows.includes('cps') });
    await fn(t);
  } finally {
    await h.destroy();
    labs.delete(h);
  }
}

/** Steal per CPU over the whole run and the load average, read at the end. */
function hostLoad(): { load: number[] } {
  return { load: os.loadavg().map((x) => Math.round(x * 100) / 100) };
}

async function main(): Promise<void> {
  const why = labUnavailableReason();
  if (why) fail(`cannot run: ${why}. Run as root on Linux (e.g. sudo npm run bench).`);
  if (!existsSync(UVSD_JS)) fail(`${UVSD_JS} is missing: build first (npm run build)`);
  const skipped: Record<string, string> = {};
  const run: Row[] = [];
  for (const r of rows) {
    const miss = missingTools(r);
    if (miss.length) {
      skipped[r] = `missing ${miss.join(', ')}`;
      console.error(`bench: row ${r} skipped: install ${miss.join(', ')} (apt-get install -y --no-install-recommends ${miss.map((m) => /\((.*)\)/.exec(m)![1]).join(' ')})`);
    } else run.push(r);
  }
  let autogroup = '';
  if (autogroupNice !== null) {
    // With sched_autogroup_enabled, CPU time is shared between sessions first and `nice` only
    // orders processes inside one session: other sessions' `nice -n 19` work still takes its full
    // share from the forwarder's core. This raises (or lowers) the bench's own session only.
    writeFileSync('/proc/self/autogroup', String(autogroupNice));
    autogroup = readFileSync('/proc/self/autogroup', 'utf8').trim();
  }
  buildBaselines();
  const m = machine();
  const started = new Date();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const ctMax = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim() || 0);
  const loadBefore = hostLoad();
  console.log(`uvs bench ${started.toISOString()}: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, node ${m.node}, load ${loadBefore.load.join(' ')}`);
  if (autogroup) console.log(`  scheduler autogroup of this session: ${autogroup}`);
  console.log(`  rows ${run.join(',')}, workloads ${workloads.join(',')}, warm-up ${warmup} s, measure ${seconds} s (TCP ${tcpSeconds} s), repeat ${repeats}; generator/client on CPU ${GEN_CPU}, forwarder on CPU ${FWD_CPU}${uvsdNice === 0 ? '' : `; uvsd at nice ${uvsdNice}`}`);
  if ((run.includes('nat') || run.includes('fullnat')) && workloads.includes('full') && ctMax !== fullMax) {
    console.error(`bench: note: nf_conntrack_max is ${ctMax} (global, left as it is), uvsd's --conn-max for the full workload is ${fullMax}`);
  }

  const labs = new Set<{ destroy(): Promise<void> }>();
  const onSig = (): void => {
    void Promise.all([...labs].map((l) => l.destroy())).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);

  const results: RunResult[] = [];
  const samples: Sample[] = [];
  const drWl = workloads.filter((w) => w !== 'full');
  /** The NAT/FULLNAT rows: the kernel and uvsd, plus the uvsd variants of --forwarders that do NAT
 *  (uvsd-before too: its --before build must have NAT and FULLNAT, or those windows fail). */
const natForwarders: Forwarder[] = ['nft', 'uvsd', ...drForwarders.filter((f) => f === 'uvsd-ring' || f === 'uvsd-syscalls' || f === 'uvsd-thread' || f === 'uvsd-before')];
const plan: Plan = { rows: [], workloads: { dr: drWl, nat: workloads, fullnat: workloads }, forwarders: { dr: drForwarders, nat: natForwarders, fullnat: natForwarders }, flows, repeats, fwdCpu: FWD_CPU };

  if (run.some((r) => r === 'dr' || r === 'latency' || r === 'memory')) {
    await withUdpLab('dr', labs, async (u) => {
      if (run.includes('dr') && drWl.length) {
        plan.rows.push('dr');
        await udpRow(u, drWl, drForwarders, results);
      }
      if (run.includes('latency')) {
        const steady = results.filter((r) => r.row === 'dr' && r.workload === 'steady' && r.forwarder === 'uvsd' && !r.error).map((r) => r.deliveredPps);
        const pps = latencyPps ?? (steady.length ? median(steady) / 2 : 100_000);
        console.log(`  latency: load ${fmt(Math.round(pps))} pps (${latencyPps ? '--latency-pps' : steady.length ? "half of this run's DR steady uvsd median" : 'default, no DR steady row in this run'})`);
        for (let rep = 1; rep <= repeats; rep++) {
          // The ring's and --before's runs only where --forwarders asks for them (as in the UDP rows).
          const variants = LATENCY_VARIANTS.filter((v) => (v !== 'uvsd-ring' && v !== 'uvsd-before') || drForwarders.includes(v));
          for (const v of rep % 2 === 1 ? variants : [...variants].reverse()) {
            for (const s of await latencyRow(u, ROOT, v, rep, pps, seconds, latencyTrace)) {
              samples.push(s);
              logSample(s);
            }
          }
        }
      }
      if (run.includes('memory')) {
        for (const s of await memoryRow(u, 1)) {
          samples.push(s);
          logSample(s);
        }
      }
    });
  }
  for (const mode of ['nat', 'fullnat'] as const) {
    if (!run.includes(mode)) continue;
    plan.rows.push(mode);
    await withUdpLab(mode, labs, (u) => udpRow(u, workloads, natForwarders, results));
  }
  const cps = run.includes('cps');
  const bulk = run.includes('bulk');
  if (cps || bulk) {
    for (const mode of ['dr', 'nat'] as const) {
      await withTcpLab(mode, labs, async (t) => {
        for (let rep = 1; rep <= repeats; rep++) {
          const rs1 = t.dl.servers[0]!.addr;
          const uvs = async (): Promise<void> => {
            for (const w of workers2 ? [1, 2] : [1]) {
              const name = w === 1 ? `uvs-${mode}` : `uvs-w${w}-${mode}`;
              await t.startUvsd([{ port: 80, servers: 2 }, { port: 5201, servers: 1 }], w);
              if (cps) samples.push(await measure('cps', name, rep, 'conn/s', () => t.wrk(`${t.dl.vip}:80`, tcpSeconds, `${name}-${rep}`)));
              if (bulk) samples.push(await measure('bulk', name, rep, 'Gbit/s', () => t.iperf(t.dl.vip, tcpSeconds, iperfStreams)));
              await t.dl.stopUvsd();
            }
          };
          const others = async (): Promise<void> => {
            if (mode === 'dr') {
              if (cps) {
                const hp = await t.startHaproxy();
                samples.push(await measure('cps', 'haproxy', rep, 'conn/s', () => t.wrk('192.168.8.9:80', tcpSeconds, `haproxy-${rep}`)));
                await hp.stop(3000);
                samples.push(await measure('cps', 'direct', rep, 'conn/s', () => t.wrk(`${rs1}:80`, tcpSeconds, `direct-${rep}`)));
              }
              if (bulk) samples.push(await measure('bulk', 'direct', rep, 'Gbit/s', () => t.iperf(rs1, tcpSeconds, iperfStreams)));
            } else if (bulk) {
              const stop = await t.startKernelNat(5201);
              try {
                samples.push(await measure('bulk', 'nft-nat', rep, 'Gbit/s', () => t.iperf(t.dl.vip, tcpSeconds, iperfStreams)));
              } finally {
                await stop();
              }
            }
          };
          const n0 = samples.length;
          // uvsd first in odd repeats, last in even ones.
          for (const step of rep % 2 === 1 ? [uvs, others] : [others, uvs]) await step();
          for (const s of samples.slice(n0)) logSample(s);
        }
      });
    }
  }

  const loadAfter = hostLoad();
  const all = [...udpSamples(results), ...samples];
  const cmp = compare(all);
  const udpTable = results.length ? table(plan, results) : '';
  const rTable = resultsTable(cmp);
  if (udpTable) console.log('\nSmall-UDP runs:\n\n' + udpTable);
  console.log('\nOther rows:\n\n' + samplesTable(samples));
  console.log(`\nResults (load ${loadBefore.load.join(' ')} before, ${loadAfter.load.join(' ')} after; ratios are medians of adjacent pairs, pairs with steal > 5% (latency p99 windows: > 1%) or a disturbed forwarder left out when others exist):\n\n${rTable}\n`);
  for (const [r, why] of Object.entries(skipped)) console.log(`row ${r} skipped: ${why}`);
  if (!opt['no-save']) {
    const dirOut = path.join(ROOT, 'bench/results');
    mkdirSync(dirOut, { recursive: true });
    const file = path.join(dirOut, 'latest.json');
    writeFileSync(
      file,
      JSON.stringify(
        {
          date: started.toISOString(), command, machine: m, load: { before: loadBefore.load, after: loadAfter.load }, autogroup, nfConntrackMax: ctMax,
          options: { rows: run, skipped, seconds, tcpSeconds, warmup, repeats, flows, connMax, fullMax, batch, workloads, drForwarders },
          comparisons: cmp, resultsTable: rTable, udpTable, samples: all, udpRuns: results,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`results: ${path.relative(process.cwd(), file)}`);
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
