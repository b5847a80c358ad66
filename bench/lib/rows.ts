// Every row of the benchmark as samples (one measured value of one variant in one repeat) and the
// comparisons the issue sets targets for: uvs's value beside its baseline's, the median of the
// ratios of adjacent pairs (same row, same repeat: measured one right after the other), the
// target and whether it is met. This is the results table of docs/performance.md and the input of
// bench/chart.ts.
import type { RunResult } from './report.js';
import { fmt, median, round, stealPct, stealText } from './stats.js';

export interface Sample {
  /** dr-steady, nat-new, cps, bulk, latency, memory ... */
  row: string;
  /** uvsd, c, nft, haproxy, direct, 'uvsd p99' ... */
  variant: string;
  repeat: number;
  value: number;
  unit: string;
  /** Steal share of each CPU over the window. */
  steal: number[];
  /** Some CPU had more steal than stealLimit in the window. */
  stealFlagged: boolean;
  /** The flag's limit when not STEAL_FLAG (5 %): latency p99 windows use STEAL_FLAG_P99 (1 %). */
  stealLimit?: number;
  /** Other work took the forwarder's core (UDP rows: its process got < 90% of CPU 1). */
  disturbed?: boolean;
  extra?: Record<string, unknown>;
  error?: string;
}

export interface Comparison {
  id: string;
  title: string;
  row: string;
  uvs: string;
  /** The baseline variant; null: the target is on uvs's own value. */
  base: string | null;
  /** The target: ratio (or value, when base is null) >= or <= this; null = shown, no target. */
  op: '>=' | '<=' | null;
  target: number | null;
  /** With base null: uvs's value is the worst (max) of its runs, not their median. */
  worst?: boolean;
}

export interface ComparisonResult extends Comparison {
  unit: string;
  uvsValue: number | null;
  baseValue: number | null;
  /** Median of the adjacent pairs' ratios (or uvs's median value when base is null). */
  ratio: number | null;
  pairs: number;
  /** Pairs (or runs) left out: steal > 5% (latency p99: > 1%) or a disturbed forwarder (used only when nothing else is left). */
  flagged: number;
  met: boolean | null;
}

const UDP_TITLE: Record<string, string> = { steady: 'steady 64 flows', new: 'new flows', full: 'new flows, table full (262,144)' };
const METHOD: Record<string, string> = { dr: 'DR', nat: 'NAT', fullnat: 'FULLNAT' };

export function comparisons(): Comparison[] {
  const c: Comparison[] = [];
  for (const w of ['steady', 'new']) {
    c.push({ id: `dr-${w}/c`, title: `DR small UDP, ${UDP_TITLE[w]}: uvsd ÷ C reflector (one syscall)`, row: `dr-${w}`, uvs: 'uvsd', base: 'c', op: '>=', target: 1.0 });
    c.push({ id: `dr-${w}/c-uring`, title: `DR small UDP, ${UDP_TITLE[w]}: uvsd ÷ C reflector (io_uring)`, row: `dr-${w}`, uvs: 'uvsd', base: 'c-uring', op: '>=', target: w === 'new' ? 0.95 : 1.0 });
    // --forwarders c-uring-vnet: the same C program on a TAP with uvsd's default vnet header.
    c.push({ id: `dr-${w}/c-uring-vnet`, title: `DR small UDP, ${UDP_TITLE[w]}: uvsd ÷ C reflector (io_uring, vnet header)`, row: `dr-${w}`, uvs: 'uvsd', base: 'c-uring-vnet', op: null, target: null });
    c.push({ id: `dr-${w}/vnet-cost`, title: `DR small UDP, ${UDP_TITLE[w]}: C io_uring, vnet header ÷ none (the header's cost)`, row: `dr-${w}`, uvs: 'c-uring-vnet', base: 'c-uring', op: null, target: null });
    // --forwarders uvsd-before --before DIR: this build against an earlier commit's (issue 7: not slower).
    c.push({ id: `dr-${w}/before`, title: `DR small UDP, ${UDP_TITLE[w]}: uvsd ÷ uvsd of --before`, row: `dr-${w}`, uvs: 'uvsd', base: 'uvsd-before', op: null, target: null });
    // --forwarders uvsd-ring: the ring backend (AF_PACKET on a veth) against uvsd's TAP port.
    c.push({ id: `dr-${w}/ring`, title: `DR small UDP, ${UDP_TITLE[w]}: uvsd ring backend ÷ uvsd TAP`, row: `dr-${w}`, uvs: 'uvsd-ring', base: 'uvsd', op: null, target: null });
    // --forwarders uvsd-thread: uvsd --datapath-thread (its main thread off the datapath's CPU)
    // against the datapath on the main thread.
    c.push({ id: `dr-${w}/thread`, title: `DR small UDP, ${UDP_TITLE[w]}: uvsd --datapath-thread --datapath-cpus 1 ÷ uvsd`, row: `dr-${w}`, uvs: 'uvsd-thread', base: 'uvsd', op: null, target: null });
    // Issue 7: a control round trip (the probe's `list`) at full forwarding load, the worst window's p99.
    for (const v of ['uvsd', 'uvsd-thread']) {
      c.push({ id: `control-dr-${w}/${v}`, title: `control round trip p99 under DR ${UDP_TITLE[w]} at full load, worst window: ${v === 'uvsd' ? 'uvsd' : 'uvsd --datapath-thread --datapath-cpus 1'}`, row: `control-dr-${w}`, uvs: v, base: null, op: '<=', target: 10, worst: true });
    }
  }
  for (const m of ['nat', 'fullnat']) {
    for (const w of ['steady', 'new', 'full']) {
      c.push({ id: `${m}-${w}/nft`, title: `${METHOD[m]} small UDP, ${UDP_TITLE[w]}: uvsd ÷ nftables ${m === 'nat' ? 'DNAT' : 'DNAT+SNAT'}`, row: `${m}-${w}`, uvs: 'uvsd', base: 'nft', op: '>=', target: 1.0 });
      // Not against the target: the ring's receive copy runs in the generator's softirq on the
      // other core, where the kernel's whole path is on the forwarder's core (performance.md).
      c.push({ id: `${m}-${w}/ring-nft`, title: `${METHOD[m]} small UDP, ${UDP_TITLE[w]}: uvsd ring backend ÷ nftables (ring rx on the generator's core)`, row: `${m}-${w}`, uvs: 'uvsd-ring', base: 'nft', op: null, target: null });
      c.push({ id: `${m}-${w}/before`, title: `${METHOD[m]} small UDP, ${UDP_TITLE[w]}: uvsd ÷ uvsd of --before`, row: `${m}-${w}`, uvs: 'uvsd', base: 'uvsd-before', op: null, target: null });
    }
  }
  for (const m of ['dr', 'nat']) {
    c.push({ id: `cps-${m}/haproxy`, title: `new TCP conns/s (wrk -c32, close): uvs ${METHOD[m]} ÷ haproxy TCP`, row: 'cps', uvs: `uvs-${m}`, base: 'haproxy', op: '>=', target: 1.5 });
    c.push({ id: `cps-${m}/direct`, title: `new TCP conns/s (wrk -c32, close): uvs ${METHOD[m]} ÷ nginx direct`, row: 'cps', uvs: `uvs-${m}`, base: 'direct', op: '>=', target: 0.9 });
  }
  for (const m of ['dr', 'nat']) {
    c.push({ id: `bulk-${m}`, title: `bulk TCP (iperf3): uvs ${METHOD[m]}, Gbit/s`, row: 'bulk', uvs: `uvs-${m}`, base: null, op: '>=', target: 5 });
    c.push({ id: `bulk-${m}/nft`, title: `bulk TCP (iperf3): uvs ${METHOD[m]} ÷ nftables NAT`, row: 'bulk', uvs: `uvs-${m}`, base: 'nft-nat', op: '>=', target: 0.35 });
  }
  for (const m of ['dr', 'nat']) {
    // --forwarders uvsd-w2: uvsd --workers 2 beside uvsd (one worker) in the same repeat.
    c.push({ id: `cps-${m}/w2`, title: `new TCP conns/s: uvs ${METHOD[m]} --workers 2 ÷ --workers 1`, row: 'cps', uvs: `uvs-w2-${m}`, base: `uvs-${m}`, op: null, target: null });
    c.push({ id: `bulk-${m}/w2`, title: `bulk TCP (iperf3): uvs ${METHOD[m]} --workers 2 ÷ --workers 1`, row: 'bulk', uvs: `uvs-w2-${m}`, base: `uvs-${m}`, op: null, target: null });
  }
  c.push({ id: 'bulk-nft/direct', title: 'bulk TCP (iperf3): nftables NAT ÷ direct (reference)', row: 'bulk', uvs: 'nft-nat', base: 'direct', op: null, target: null });
  c.push({ id: 'latency-p50', title: 'latency at half of uvs max rate: uvsd p50 ÷ direct p50', row: 'latency', uvs: 'uvsd p50', base: 'direct p50', op: null, target: null });
  c.push({ id: 'latency-p99', title: 'latency at half of uvs max rate: uvsd p99 ÷ direct p99', row: 'latency', uvs: 'uvsd p99', base: 'direct p99', op: '<=', target: 2.0 });
  // The same load through the C reflector (io_uring, vnet header): what any forwarder behind the TAP adds.
  c.push({ id: 'latency-p99/c', title: 'latency at half of uvs max rate: uvsd p99 ÷ C reflector p99', row: 'latency', uvs: 'uvsd p99', base: 'c p99', op: null, target: null });
  c.push({ id: 'latency-p50/ring', title: 'latency at half of uvs max rate: uvsd ring backend p50 ÷ direct p50', row: 'latency', uvs: 'uvsd-ring p50', base: 'direct p50', op: null, target: null });
  c.push({ id: 'latency-p99/ring', title: 'latency at half of uvs max rate: uvsd ring backend p99 ÷ direct p99', row: 'latency', uvs: 'uvsd-ring p99', base: 'direct p99', op: null, target: null });
  c.push({ id: 'latency-p50/before', title: 'latency at half of uvs max rate: uvsd p50 ÷ uvsd of --before p50', row: 'latency', uvs: 'uvsd p50', base: 'uvsd-before p50', op: null, target: null });
  c.push({ id: 'latency-p99/before', title: 'latency at half of uvs max rate: uvsd p99 ÷ uvsd of --before p99', row: 'latency', uvs: 'uvsd p99', base: 'uvsd-before p99', op: null, target: null });
  c.push({ id: 'latency-c-p99', title: 'latency at half of uvs max rate: C reflector p99 ÷ direct p99 (reference)', row: 'latency', uvs: 'c p99', base: 'direct p99', op: null, target: null });
  c.push({ id: 'memory-rss', title: 'memory: uvsd RSS with 1,000,000 entries, MB', row: 'memory', uvs: 'uvsd RSS', base: null, op: '<=', target: 200 });
  c.push({ id: 'memory-entry', title: 'memory: bytes per entry (whole RSS ÷ entries)', row: 'memory', uvs: 'bytes per entry (whole RSS)', base: null, op: null, target: null });
  return c;
}

/** The UDP rows' runs as samples (delivered packets per second), and uvsd's control round trip p99 (ms) in rows control-ROW-WORKLOAD. */
export function udpSamples(results: RunResult[]): Sample[] {
  const of = (r: RunResult, row: string, value: number, unit: string): Sample => ({
    row, variant: r.forwarder, repeat: r.repeat, value, unit, steal: r.cpuSteal, stealFlagged: r.stealFlagged, disturbed: r.disturbed,
    ...(r.error ? { error: r.error } : {}),
  });
  return results.flatMap((r) => [
    of(r, `${r.row}-${r.workload}`, r.deliveredPps, 'pps'),
    ...(r.controlRtt !== undefined && r.controlRtt.n > 0 ? [of(r, `control-${r.row}-${r.workload}`, r.controlRtt.p99, 'ms')] : []),
  ]);
}

const bad = (s: Sample): boolean => s.stealFlagged || !!s.disturbed;

export function compare(samples: Sample[], defs = comparisons()): ComparisonResult[] {
  const out: ComparisonResult[] = [];
  for (const d of defs) {
    const ok = (v: string): Sample[] => samples.filter((s) => s.row === d.row && s.variant === v && !s.error && s.value > 0);
    const us = ok(d.uvs);
    if (!us.length) continue;
    const unit = us[0]!.unit;
    const pick = (xs: Sample[]): Sample[] => (xs.some((s) => !bad(s)) ? xs.filter((s) => !bad(s)) : xs);
    let ratio: number | null;
    let pairs: number;
    let flagged: number;
    let baseValue: number | null = null;
    const agg = (xs: number[]): number => (d.worst === true ? Math.max(...xs) : median(xs));
    if (d.base === null) {
      const use = pick(us);
      ratio = agg(use.map((s) => s.value));
      pairs = use.length;
      flagged = us.length - use.length;
    } else {
      const bs = ok(d.base);
      if (!bs.length) continue;
      const all: Array<{ r: number; bad: boolean }> = [];
      for (const u of us) {
        const b = bs.find((x) => x.repeat === u.repeat);
        if (b) all.push({ r: u.value / b.value, bad: bad(u) || bad(b) });
      }
      if (!all.length) continue;
      const use = all.some((p) => !p.bad) ? all.filter((p) => !p.bad) : all;
      ratio = median(use.map((p) => p.r));
      pairs = use.length;
      flagged = all.length - use.length;
      baseValue = median(pick(bs).map((s) => s.value));
    }
    const r = round(ratio, 3);
    out.push({
      ...d,
      unit,
      uvsValue: d.base === null ? ratio : median(pick(us).map((s) => s.value)),
      baseValue,
      ratio: r,
      pairs,
      flagged,
      met: d.op === null || d.target === null ? null : d.op === '>=' ? r >= d.target : r <= d.target,
    });
  }
  return out;
}

function val(v: number | null, unit: string): string {
  if (v === null) return '';
  if (unit === 'pps' || unit === 'conn/s') return `${fmt(Math.round(v))} ${unit}`;
  return `${round(v, 2)} ${unit}`;
}

/** The one results table: every comparison of this run. */
export function resultsTable(rs: ComparisonResult[]): string {
  const lines = [
    '| row | uvs | baseline | ratio (median of pairs) | target | met |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rs) {
    const ratioText = r.base === null ? '' : `${r.ratio?.toFixed(3)} (${r.pairs} pair${r.pairs === 1 ? '' : 's'}${r.flagged ? `, ${r.flagged} flagged left out` : ''})`;
    const target = r.op === null ? '—' : `${r.op} ${r.target}${r.base === null ? ` ${r.unit}` : ' ×'}`;
    const met = r.met === null ? '—' : r.met ? 'met' : '**not met**';
    lines.push(`| ${r.title} | ${val(r.uvsValue, r.unit)} | ${r.base === null ? '' : `${val(r.baseValue, r.unit)} (${r.base})`} | ${ratioText} | ${target} | ${met} |`);
  }
  return lines.join('\n');
}

/** Every sample, one line each, for the per-row notes. */
export function samplesTable(samples: Sample[]): string {
  const lines = ['| row | variant | repeat | value | steal per CPU | flags |', '| --- | --- | ---: | ---: | --- | --- |'];
  for (const s of samples) {
    const flags = [s.stealFlagged ? stealText(s.stealLimit) : '', s.disturbed ? 'disturbed' : '', s.error ? `error: ${s.error.replace(/\|/g, '/').slice(0, 100)}` : ''].filter(Boolean).join(', ');
    lines.push(`| ${s.row} | ${s.variant} | ${s.repeat} | ${val(s.value, s.unit)} | ${s.steal.map(stealPct).join('/')} | ${flags} |`);
  }
  return lines.join('\n');
}
