// The benchmark's results: one RunResult per (workload, forwarder, repeat), the markdown table of
// every run, and the medians and ratios of the summary.
import { fmt, median, pct, round } from './stats.js';

export type Workload = 'steady' | 'new';
/** c: the target baseline, one read()/write() per frame. uvsd: uvsd as shipped (--io auto).
 *  c-uring: the reflector with io_uring batches, the same kernel interface uvsd uses (a reference
 *  ceiling). uvsd-syscalls: uvsd --io syscalls, one system call per frame like the baseline.
 *  uvsd-before: uvsd of an earlier commit's build (--before DIR), for before/after in one run. */
export const FORWARDERS = ['c', 'uvsd', 'c-uring', 'uvsd-syscalls', 'uvsd-before'] as const;
export type Forwarder = (typeof FORWARDERS)[number];
export const LABEL: Record<Forwarder, string> = {
  c: 'C reflector',
  uvsd: 'uvsd',
  'c-uring': 'C reflector, io_uring',
  'uvsd-syscalls': 'uvsd --io syscalls',
  'uvsd-before': 'uvsd (--before)',
};


/** What was run: the table and the summary iterate over it. */
export interface Plan {
  workloads: Workload[];
  forwarders: Forwarder[];
  flows: number;
  repeats: number;
  /** The CPU the forwarder is pinned to. */
  fwdCpu: string;
}

export interface RunResult {
  workload: Workload;
  forwarder: Forwarder;
  repeat: number;
  seconds: number;
  sentPps: number;
  deliveredPps: number;
  readerPps: number;
  tapDropPps: number;
  writtenPps: number;
  /** Over the window: busy share of each CPU (0..1), steal share, forwarder process CPU share. */
  cpuBusy: number[];
  cpuSteal: number[];
  fwdProcCpu: number;
  /** CPU-1 busy time per delivered packet, in µs (the forwarder's core, including its softirq work). */
  fwdCoreUsPerPkt: number;
  /** Forwarder process CPU (user+system, all threads) per delivered packet, in µs. */
  fwdProcUsPerPkt: number;
  /** The forwarder process got less than DISTURBED_BELOW of its core: something else ran on it. */
  disturbed: boolean;
  generator: Record<string, unknown> | null;
  forwarderStats: Record<string, unknown> | null;
  /** uvsd only: round trips of a `list` request every 20 ms during the window, in ms. */
  controlRtt?: { n: number; p50: number; p99: number; max: number };
  /** uvsd under --trace-gc: scavenges during the window. */
  scavenges?: number;
  error?: string;
}

function dropsOf(r: RunResult): string {
  const st = (r.forwarderStats?.status ?? null) as { drops?: Record<string, number> } | null;
  if (!st?.drops) return r.forwarder.startsWith('c') ? '' : 'n/a';
  const nz = Object.entries(st.drops).filter(([, v]) => v > 0);
  return nz.length ? nz.map(([k, v]) => `${k}=${v}`).join(' ') : 'none';
}

export function table(plan: Plan, results: RunResult[]): string {
  const lines = [
    `| workload | forwarder | sent pps | reader pps (TAP→fwd) | TAP queue drops pps | delivered pps | ÷ C median | CPU ${plan.fwdCpu} busy (steal) | fwd process CPU (µs/pkt) | µs/pkt CPU ${plan.fwdCpu} | control RTT ms p50/p99/max | uvsd drops (whole run) |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const w of plan.workloads) {
    const cMed = medianOf(results, w, 'c', (r) => r.deliveredPps) ?? 0;
    for (const f of plan.forwarders) {
      const runs = results.filter((r) => r.workload === w && r.forwarder === f);
      for (const r of runs) {
        if (r.error) {
          lines.push(`| ${w} | ${f} | error: ${r.error.replace(/\|/g, '/').slice(0, 120)} | | | | | | | | | |`);
          continue;
        }
        const ratio = f !== 'c' && cMed > 0 ? (r.deliveredPps / cMed).toFixed(3) : '';
        lines.push(
          `| ${w === 'steady' ? `steady ${plan.flows} flows` : 'new flows'}${plan.repeats > 1 ? ` #${r.repeat}` : ''}${r.disturbed ? ' (disturbed)' : ''} | ${LABEL[f]} | ${fmt(r.sentPps)} | ${fmt(r.readerPps)} | ${fmt(r.tapDropPps)} | ${fmt(r.deliveredPps)} | ${ratio} | ${pct(r.cpuBusy[Number(plan.fwdCpu)] ?? 0)} (${pct(r.cpuSteal[Number(plan.fwdCpu)] ?? 0)}) | ${pct(r.fwdProcCpu)} (${r.fwdProcUsPerPkt}) | ${r.fwdCoreUsPerPkt} | ${r.controlRtt ? `${r.controlRtt.p50}/${r.controlRtt.p99}/${r.controlRtt.max}` : ''} | ${dropsOf(r)} |`,
        );
      }
    }
  }
  return lines.join('\n');
}

/** Median of pick() over the undisturbed runs of (workload, forwarder), or over all runs when
 *  every one was disturbed; null when there is none. */
function medianOf(results: RunResult[], w: Workload, f: Forwarder, pick: (r: RunResult) => number): number | null {
  const ok = results.filter((r) => r.workload === w && r.forwarder === f && !r.error);
  const quiet = ok.filter((r) => !r.disturbed);
  const xs = (quiet.length ? quiet : ok).map(pick);
  return xs.length ? median(xs) : null;
}

export function summary(plan: Plan, results: RunResult[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const w of plan.workloads) {
    const c = medianOf(results, w, 'c', (r) => r.deliveredPps);
    const u = medianOf(results, w, 'uvsd', (r) => r.deliveredPps);
    const cUs = medianOf(results, w, 'c', (r) => r.fwdProcUsPerPkt);
    const uUs = medianOf(results, w, 'uvsd', (r) => r.fwdProcUsPerPkt);
    const runs = results.filter((r) => r.workload === w && !r.error);
    const ref = (f: Forwarder) => {
      const v = medianOf(results, w, f, (r) => r.deliveredPps);
      return v === null ? null : { deliveredPps: v, ratioToC: c ? round(v / c, 3) : null, usPerPkt: medianOf(results, w, f, (r) => r.fwdProcUsPerPkt) };
    };
    out[w] = {
      cDeliveredPps: c,
      uvsdDeliveredPps: u,
      ratio: c && u !== null ? round(u / c, 3) : null,
      target: 0.95,
      cUsPerPkt: cUs,
      uvsdUsPerPkt: uUs,
      /** C's forwarder-process CPU per packet over uvsd's: the same comparison, insensitive to
       *  how much of the core each run got. */
      cpuRatio: cUs && uUs ? round(cUs / uUs, 3) : null,
      /** Reference rows (not the target): the C program on io_uring, uvsd on plain system calls. */
      cUring: ref('c-uring'),
      uvsdSyscalls: ref('uvsd-syscalls'),
      runs: runs.length,
      disturbed: runs.filter((r) => r.disturbed).length,
    };
  }
  return out;
}

