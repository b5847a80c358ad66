// The latency row: round trips of a paced UDP ping-pong (bench/baseline/ping.c, 2,000 per second
// from <p>-cli, echoed by `ping --server` in the real server) while the generator loads the path
// with steady small UDP at half of uvs's maximum rate, in the DR lab:
//   uvsd    probe to VIP:7 and load to VIP:9, both through uvsd (-g); the RS answers directly
//   direct  probe to the RS's own address and the same load to its MAC and address, no forwarder
// Added latency = uvsd − direct, per percentile; the target compares the p99s (uvsd ≤ 2 × direct).
// Probe and generator share CPU 0 (the generator sleeps between batches of 32); uvsd is on CPU 1.
import path from 'node:path';
import { delay, type Proc } from '../../test/lab/netns.js';
import { readCpus } from './host.js';
import type { Sample } from './rows.js';
import { round } from './stats.js';
import { GEN_CPU, STEAL_FLAG, VIP, type UdpLab } from './udp.js';

const PING_PORT = 7;
const PROBE_RATE = 2000;

export async function latencyRow(u: UdpLab, root: string, variant: 'uvsd' | 'direct', repeat: number, loadPps: number, seconds: number): Promise<Sample[]> {
  const ping = path.join(root, 'bench/baseline/ping');
  let server: Proc | null = null;
  let gen: Proc | null = null;
  let uvsd: Awaited<ReturnType<UdpLab['startUvsd']>> | null = null;
  try {
    await u.refreshFdb();
    server = u.lab.spawn(u.rs, [ping, '--server', String(PING_PORT)]);
    await server.waitForLine(/^ready/, 5000);
    if (variant === 'uvsd') {
      uvsd = await u.startUvsd(`latency-${repeat}`, 'auto', 1 << 20, [PING_PORT]);
      if (!(await u.waitStationLearned())) throw new Error('bridge never learned the station MAC');
    }
    const direct = variant === 'direct';
    gen = u.lab.spawn(u.cli, u.genArgv('steady', seconds + 3, { pps: loadPps, batch: 32, ...(direct ? { dstMac: u.rsMac, dst: u.rsAddr } : {}) }));
    await delay(1000);
    const a = readCpus();
    const t0 = performance.now();
    const probe = await u.lab.exec(u.cli, ['taskset', '-c', GEN_CPU, ping, '--dst', direct ? u.rsAddr : VIP, '--port', String(PING_PORT), '--rate', String(PROBE_RATE), '--seconds', String(seconds)], { timeoutMs: (seconds + 10) * 1000 });
    const dt = (performance.now() - t0) / 1000;
    const b = readCpus();
    const line = probe.stdout.split('\n').find((l) => l.startsWith('{'));
    if (probe.code !== 0 || !line) throw new Error(`ping failed (${probe.code}): ${probe.stderr.trim()}`);
    const r = JSON.parse(line) as { sent: number; received: number; p50: number; p90: number; p99: number; max: number };
    if (r.received < r.sent * 0.5) throw new Error(`ping: only ${r.received} of ${r.sent} answered`);
    const steal = b.map((c, i) => round((c.steal - a[i]!.steal) / dt, 3));
    const busy = b.map((c, i) => round((c.busy - a[i]!.busy) / dt, 3));
    const extra = { ...r, loadPps: Math.round(loadPps), busy };
    const flagged = steal.some((s) => s > STEAL_FLAG);
    return [
      { row: 'latency', variant: `${variant} p50`, repeat, value: r.p50, unit: 'µs', steal, stealFlagged: flagged, extra },
      { row: 'latency', variant: `${variant} p99`, repeat, value: r.p99, unit: 'µs', steal, stealFlagged: flagged, extra },
    ];
  } catch (e) {
    console.error(`bench: latency/${variant}: ${(e as Error).message}`);
    return [{ row: 'latency', variant: `${variant} p99`, repeat, value: 0, unit: 'µs', steal: [], stealFlagged: false, error: (e as Error).message }];
  } finally {
    if (gen && !gen.done()) await gen.stop(2000);
    if (uvsd) await uvsd.stats().catch(() => null);
    if (server) await server.stop(2000);
  }
}
