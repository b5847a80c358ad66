// The benchmark's results: one RunResult per (workload, forwarder, repeat), the markdown table of
// every run, and the medians and ratios of the summary.
import { fmt, median, pct, stealText } from './stats.js';

export type Workload = 'steady' | 'new' | 'full';
export const WORKLOADS: readonly Workload[] = ['steady', 'new', 'full'];
/** The forwarding method of a small-UDP lab (bench/lib/udp.ts). */
export type UdpMode = 'dr' | 'nat' | 'fullnat';
/** c: the target baseline of the DR rows, one read()/write() per frame. uvsd: uvsd as shipped
 *  (--io auto). c-uring: the reflector with io_uring batches, the same kernel interface uvsd uses.
 *  c-uring-vnet: c-uring on a TAP opened as uvsd's default (--offload on): a virtio_net_hdr on
 *  every frame and TUNSETOFFLOAD, i.e. the kernel's share of the header's cost.
 *  uvsd-syscalls: uvsd --io syscalls. nft: the kernel forwarding with nftables NAT and conntrack
 *  (the NAT/FULLNAT rows' baseline). uvsd-before: uvsd of an earlier commit's build (--before DIR),
 *  for before/after in one run. uvsd-ring: uvsd --port af_packet:uvs0, the ring backend on a veth
 *  whose peer uvs0p is on the bridge where the TAP would be. uvsd-w2: uvsd --workers 2 (two TAP
 *  queues, a worker thread each; TCP rows only, not pinned to one CPU), beside uvsd in the same repeat.
 *  uvsd-thread: uvsd --datapath-thread --datapath-cpus 1 (the one datapath on a worker thread
 *  pinned to the forwarder's CPU as uvsd is; its main thread, control, on the other CPU). */
export const FORWARDERS = ['c', 'uvsd', 'c-uring', 'c-uring-vnet', 'uvsd-syscalls', 'nft', 'uvsd-before', 'uvsd-ring', 'uvsd-w2', 'uvsd-thread'] as const;
export type Forwarder = (typeof FORWARDERS)[number];
export const LABEL: Record<Forwarder, string> = {
  c: 'C reflector',
  uvsd: 'uvsd',
  'c-uring': 'C reflector, io_uring',
  'c-uring-vnet': 'C reflector, io_uring, vnet header',
  'uvsd-syscalls': 'uvsd --io syscalls',
  'uvsd-before': 'uvsd (--before)',
  'uvsd-ring': 'uvsd --port af_packet (ring)',
  'uvsd-w2': 'uvsd --workers 2',
  'uvsd-thread': 'uvsd --datapath-thread --datapath-cpus 1',
  nft: 'kernel nftables NAT',
};
/** The baseline every run of a UDP lab is divided by in the per-run table. */
export const UDP_BASELINE: Record<UdpMode, Forwarder> = { dr: 'c', nat: 'nft', fullnat: 'nft' };

/** What was run: the table iterates over it. */
export interface Plan {
  rows: UdpMode[];
  workloads: Record<UdpMode, Workload[]>;
  forwarders: Record<UdpMode, Forwarder[]>;
  flows: number;
  repeats: number;
  /** The CPU the forwarder is pinned to. */
  fwdCpu: string;
}

export interface RunResult {
  row: UdpMode;
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
  /** Some CPU had more than 5% steal in the window (stealFlag). */
  stealFlagged: boolean;
  generator: Record<string, unknown> | null;
  forwarderStats: Record<string, unknown> | null;
  /**
   * uvsd only: round trips of a `list` request every --probe-ms during the window, in ms, and
   * their parts (control-probe.ts): to uvsd, in uvsd, back to the probe (p50/p99 each).
   */
  controlRtt?: { n: number; p50: number; p99: number; max: number; toUvsd?: Pct; inUvsd?: Pct; back?: Pct };
  /** Share of the window the forwarder's main thread waited, runnable, for its CPU (/proc/PID/schedstat). */
  fwdRunDelay?: number;
  /** uvsd under --trace-gc: scavenges during the window. */
  scavenges?: number;
  error?: string;
}

export interface Pct {
  p50: number;
  p99: number;
}

function dropsOf(r: RunResult): string {
  const st = (r.forwarderStats?.status ?? null) as { drops?: Record<string, number> } | null;
  if (!st?.drops) return r.forwarder.startsWith('uvsd') ? 'n/a' : '';
  const nz = Object.entries(st.drops).filter(([, v]) => v > 0);
  return nz.length ? nz.map(([k, v]) => `${k}=${v}`).join(' ') : 'none';
}

const WL_TITLE: Record<Workload, string> = { steady: 'steady', new: 'new flows', full: 'new flows, table full' };

export function table(plan: Plan, results: RunResult[]): string {
  const lines = [
    `| row | workload | forwarder | sent pps | reader pps (TAP→fwd) | TAP queue drops pps | delivered pps | ÷ baseline median | CPU busy (steal) per CPU | fwd process CPU (µs/pkt) | µs/pkt CPU ${plan.fwdCpu} | control RTT ms p50/p99/max | uvsd drops (whole run) |`,
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const m of plan.rows) {
    for (const w of plan.workloads[m]) {
      const bMed = medianOf(results, m, w, UDP_BASELINE[m], (r) => r.deliveredPps) ?? 0;
      for (const f of plan.forwarders[m]) {
        for (const r of results.filter((x) => x.row === m && x.workload === w && x.forwarder === f)) {
          if (r.error) {
            lines.push(`| ${m} | ${w} | ${f} | error: ${r.error.replace(/\|/g, '/').slice(0, 120)} | | | | | | | | | |`);
            continue;
          }
          const ratio = f !== UDP_BASELINE[m] && bMed > 0 ? (r.deliveredPps / bMed).toFixed(3) : '';
          const flags = [r.disturbed ? 'disturbed' : '', r.stealFlagged ? stealText() : ''].filter(Boolean).join(', ');
          lines.push(
            `| ${m} | ${WL_TITLE[w]}${w === 'steady' ? ` ${plan.flows}` : ''}${plan.repeats > 1 ? ` #${r.repeat}` : ''}${flags ? ` (${flags})` : ''} | ${LABEL[f]} | ${fmt(r.sentPps)} | ${fmt(r.readerPps)} | ${fmt(r.tapDropPps)} | ${fmt(r.deliveredPps)} | ${ratio} | ${r.cpuBusy.map((b, i) => `${pct(b)} (${pct(r.cpuSteal[i] ?? 0)})`).join(' / ')} | ${r.fwdProcCpu ? `${pct(r.fwdProcCpu)} (${r.fwdProcUsPerPkt})` : ''} | ${r.fwdCoreUsPerPkt} | ${r.controlRtt ? `${r.controlRtt.p50}/${r.controlRtt.p99}/${r.controlRtt.max}` : ''} | ${dropsOf(r)} |`,
          );
        }
      }
    }
  }
  return lines.join('\n');
}

/** Median of pick() over the undisturbed runs, or over all runs when every one was disturbed. */
function medianOf(results: RunResult[], m: UdpMode, w: Workload, f: Forwarder, pick: (r: RunResult) => number): number | null {
  const ok = results.filter((r) => r.row === m && r.workload === w && r.forwarder === f && !r.error);
  const quiet = ok.filter((r) => !r.disturbed && !r.stealFlagged);
  const xs = (quiet.length ? quiet : ok).map(pick);
  return xs.length ? median(xs) : null;
}
