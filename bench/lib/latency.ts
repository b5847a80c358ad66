// The latency row: round trips of a paced UDP ping-pong (bench/baseline/ping.c, 2,000 per second
// from <p>-cli, echoed by `ping --server` in the real server) while the generator loads the path
// with steady small UDP at half of uvs's maximum rate, in the DR lab:
//   uvsd    probe to VIP:7 and load to VIP:9, both through uvsd (-g); the RS answers directly
//   c       the same through the C reflector (io_uring, on a TAP with the vnet header uvsd uses by
//           default): what a minimal forwarder behind the same TAP adds at the same load
//   direct  probe to the RS's own address and the same load to its MAC and address, no forwarder
//   uvsd-ring  as uvsd, on the ring backend (--forwarders ... uvsd-ring)
//   uvsd-before  as uvsd, the build of --before DIR (--forwarders ... uvsd-before): an A/B in one run
// Added latency = uvsd − direct, per percentile; the target compares the p99s (uvsd ≤ 2 × direct).
// Probe and generator share CPU 0 (the generator sleeps between batches of 32); uvsd is on CPU 1.
// The probe and the echo server are the instrument, not the system measured: both run SCHED_FIFO
// (they sleep between datagrams and do a few µs of work per datagram), so a reply never waits for
// the generator's or the forwarder's time slice; the forwarder and the generator stay SCHED_OTHER.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { delay, type Proc } from '../../test/lab/netns.js';
import { readCpus, readProcCpu } from './host.js';
import type { Sample } from './rows.js';
import { round, STEAL_FLAG_P99, stealFlag } from './stats.js';
import { GEN_CPU, VIP, scavengesOf, type UdpLab } from './udp.js';

const PING_PORT = 7;
const PROBE_RATE = 2000;
/** Seconds of probes sent before the measured window (not counted): the forwarder has seen the
 *  probe's flow and settled on it (uvsd's first packets of a new flow, and the JIT's reaction to
 *  the first flow of a second service, are not what this row measures). */
const PROBE_WARMUP_S = 2;
/** Real-time priority of the probe and the echo server (see above). */
const RT = ['chrt', '--fifo', '10'];
let rtChecked: string[] | null = null;

/** RT, or nothing (said once) where the kernel refuses SCHED_FIFO (e.g. no real-time budget in this cgroup). */
async function rtPrefix(u: UdpLab): Promise<string[]> {
  if (rtChecked) return rtChecked;
  const r = await u.lab.exec(u.cli, [...RT, 'true']);
  if (r.code !== 0) console.log(`  latency: probe and echo server at normal priority (${RT.join(' ')} refused: ${r.stderr.trim()}); their own scheduling is then part of every p99`);
  rtChecked = r.code === 0 ? RT : [];
  return rtChecked;
}

export const LATENCY_VARIANTS = ['direct', 'uvsd', 'c', 'uvsd-ring', 'uvsd-before'] as const;
export type LatencyVariant = (typeof LATENCY_VARIANTS)[number];

/** Where the slow round trips go (one file per variant and repeat) and what counts as slow. */
export interface LatencyTrace {
  dir: string;
  slowUs: number;
}

/** A latency window's two samples. The p99 is flagged at more than 1 % steal (STEAL_FLAG_P99),
 *  the p50 at the other rows' 5 %: the vCPU's holes fill a p99 long before they move a median. */
export function latencySamples(variant: string, repeat: number, r: { p50: number; p99: number }, steal: number[], extra: Record<string, unknown>): Sample[] {
  return [
    { row: 'latency', variant: `${variant} p50`, repeat, value: r.p50, unit: 'µs', steal, stealFlagged: stealFlag(steal), extra },
    { row: 'latency', variant: `${variant} p99`, repeat, value: r.p99, unit: 'µs', steal, stealFlagged: stealFlag(steal, STEAL_FLAG_P99), stealLimit: STEAL_FLAG_P99, extra },
  ];
}

export async function latencyRow(u: UdpLab, root: string, variant: LatencyVariant, repeat: number, loadPps: number, seconds: number, trace: LatencyTrace | null = null): Promise<Sample[]> {
  const ping = path.join(root, 'bench/baseline/ping');
  let server: Proc | null = null;
  let gen: Proc | null = null;
  let uvsd: Awaited<ReturnType<UdpLab['startUvsd']>> | null = null;
  let reflector: Awaited<ReturnType<UdpLab['startC']>> | null = null;
  let spawnedAt = 0; // when the forwarder (uvsd or the C reflector) was started
  try {
    const rt = await rtPrefix(u);
    await u.refreshFdb();
    server = u.lab.spawn(u.rs, [...rt, ping, '--server', String(PING_PORT)]);
    await server.waitForLine(/^ready/, 5000);
    if (variant !== 'direct') {
      spawnedAt = performance.now();
      if (variant === 'uvsd-ring') await u.ringOn();
      if (variant === 'c') reflector = await u.startC('uring', true);
      else uvsd = await u.startUvsd(`${variant === 'uvsd' ? '' : variant === 'uvsd-ring' ? 'ring-' : 'before-'}latency-${repeat}`, variant === 'uvsd-ring' ? 'ring' : 'auto', 1 << 20, [PING_PORT], [], variant === 'uvsd-before');
      if (!(await u.waitStationLearned())) throw new Error('bridge never learned the station MAC');
    }
    const direct = variant === 'direct';
    gen = u.lab.spawn(u.cli, u.genArgv('steady', seconds + PROBE_WARMUP_S + 3, { pps: loadPps, batch: 32, ...(direct ? { dstMac: u.rsMac, dst: u.rsAddr } : {}) }));
    await delay(1000);
    const fwdPid = (uvsd?.proc ?? reflector?.proc)?.child.pid;
    const a = readCpus();
    const fwdA = readProcCpu(fwdPid);
    // With --trace-gc: uvsd's scavenges in the measured window.
    const gcA = scavengesOf(uvsd?.proc);
    const t0 = performance.now();
    const probe = await u.lab.exec(u.cli, ['taskset', '-c', GEN_CPU, ...rt, ping, '--dst', direct ? u.rsAddr : VIP, '--port', String(PING_PORT), '--rate', String(PROBE_RATE), '--seconds', String(seconds), '--warmup', String(PROBE_WARMUP_S), ...(trace ? ['--slow-us', String(trace.slowUs)] : [])], { timeoutMs: (seconds + PROBE_WARMUP_S + 10) * 1000 });
    const dt = (performance.now() - t0) / 1000;
    const b = readCpus();
    const fwdB = readProcCpu(fwdPid);
    const line = probe.stdout.split('\n').find((l) => l.startsWith('{'));
    if (probe.code !== 0 || !line) throw new Error(`ping failed (${probe.code}): ${probe.stderr.trim()}`);
    if (trace) {
      // The window's start in the forwarder's time (ms since it was spawned, ~ V8's --trace-gc clock).
      const head = variant === 'direct' ? '' : `# window starts ${Math.round(t0 - spawnedAt + PROBE_WARMUP_S * 1000)} ms after the forwarder was spawned\n`;
      writeFileSync(path.join(trace.dir, `${variant}-${repeat}.txt`), head + probe.stderr);
      if (uvsd) writeFileSync(path.join(trace.dir, `${variant}-${repeat}.uvsd.log`), uvsd.proc.stdout() + uvsd.proc.stderr());
    }
    const r = JSON.parse(line) as { sent: number; received: number; p50: number; p90: number; p99: number; max: number };
    if (r.received < r.sent * 0.5) throw new Error(`ping: only ${r.received} of ${r.sent} answered`);
    const steal = b.map((c, i) => round((c.steal - a[i]!.steal) / dt, 3));
    const busy = b.map((c, i) => round((c.busy - a[i]!.busy) / dt, 3));
    // The forwarder's share of CPU 1 at this load: queueing behind it grows with it.
    const extra = { ...r, loadPps: Math.round(loadPps), busy, ...(fwdPid ? { fwdCpu: round((fwdB - fwdA) / dt, 3) } : {}), ...(uvsd && u.gcTraced ? { scavenges: scavengesOf(uvsd.proc) - gcA } : {}) };
    return latencySamples(variant, repeat, r, steal, extra);
  } catch (e) {
    console.error(`bench: latency/${variant}: ${(e as Error).message}`);
    return [{ row: 'latency', variant: `${variant} p99`, repeat, value: 0, unit: 'µs', steal: [], stealFlagged: false, error: (e as Error).message }];
  } finally {
    if (gen && !gen.done()) await gen.stop(2000);
    if (uvsd) await uvsd.stats().catch(() => null);
    if (reflector) await reflector.stats().catch(() => null);
    if (server) await server.stop(2000);
    await u.ringOff();
  }
}
