// uvsadm -e against a large table with and without --state-file (docs/performance.md, "uvsadm
// -e with --state-file at 9,000 services"): not a test and not in npm test.
//
//   sudo node dist/bench/statefile-load.js [--services 9000] [--servers 4] [--edits 20] [--every 300]
//        [--state-file] [--trace-gc] [--prof DIR] [--uvsd-log FILE] [--node-args '--flag ...']
//        [--uvsd-args='--datapath-thread ...']
//
// A DR lab (test/lab) with --servers real servers; uvsd (with --state-file LAB_TMP/state.yaml
// when asked) gets --services services of --servers servers each by `uvsadm -R` (one of them
// VIP:53/udp, the rest TCP ports 10000+). While a UDP ping goes through the VIP every 10 ms from
// the client namespace, --edits times `uvsadm -e` changes the weight of a server of the middle
// service, --every ms apart. For each edit (from uvsadm's start to 300 ms after it returned):
// the UDP ping's longest gap between answers and slowest round trip, uvsd's longest event loop
// gap (bench/loop-gaps.ts, preloaded) and, with --trace-gc, its collections (mark-compacts
// listed). --prof DIR: uvsd under --cpu-prof (read with bench/cpuprofile-top.js). --uvsd-log
// FILE: uvsd's stdout (its log, and the --trace-gc lines) is written there. --node-args: more
// node / V8 flags for uvsd (e.g. '--no-allocation-site-pretenuring'). --uvsd-args: more uvsd
// options (e.g. '--datapath-thread': the datapath's own isolate, away from the main thread's collections).
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createDrLab, VIP } from '../test/lab/dr-lab.js';
import { delay, labUnavailableReason } from '../test/lab/netns.js';
import { median, round } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    services: { type: 'string', default: '9000' },
    servers: { type: 'string', default: '4' },
    edits: { type: 'string', default: '20' },
    every: { type: 'string', default: '300' },
    'state-file': { type: 'boolean', default: false },
    'trace-gc': { type: 'boolean', default: false },
    prof: { type: 'string' },
    'uvsd-log': { type: 'string' },
    'node-args': { type: 'string', default: '' },
    'uvsd-args': { type: 'string', default: '' },
  },
});

/** A datagram every 10 ms; each answer is matched to the oldest one not answered (a second
 *  old: lost). Prints {sent, replies: [[sent at (epoch ms), round trip ms]]} when stdin ends. */
const UDP_PING = `
const s = require('node:dgram').createSocket('udp4'); const out = []; const wait = []; let n = 0;
const now = () => performance.timeOrigin + performance.now();
s.on('message', () => { const t = now(); while (wait.length > 0 && t - wait[0] > 1000) wait.shift(); const at = wait.shift(); if (at !== undefined) out.push([at, t - at]); });
const timer = setInterval(() => { wait.push(now()); s.send('who?\\n', 53, '${VIP}'); n++; }, 10);
process.stdin.resume(); process.stdin.on('end', () => { clearInterval(timer); console.log(JSON.stringify({ sent: n, replies: out })); s.close(); });
console.log('ready');`;

/** A --trace-gc line: isolate, ms since it started, kind, pause (ms). */
const GC_LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact)\b.*?MB, ([\d.]+) \/ [\d.]+ ms/;

interface Gc { isolate: string; at: number; kind: string; pause: number; line: string }

async function main(): Promise<void> {
  const why = labUnavailableReason();
  if (why) throw new Error(why);
  const services = Number(values.services);
  const nServers = Number(values.servers);
  const lab = await createDrLab({ servers: nServers, base: 'uvssf' });
  const gapsFile = join(lab.tmp, 'loop-gaps.json');
  const stateFile = join(lab.tmp, 'state.yaml');
  try {
    const nodeArgs = ['--import', pathToFileURL(join(import.meta.dirname, 'loop-gaps.js')).href];
    if (values['trace-gc']) nodeArgs.push('--trace-gc');
    nodeArgs.push(...values['node-args']!.split(' ').filter((a) => a !== ''));
    if (values.prof !== undefined) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resolve(values.prof)}`);
    const uvsd = await lab.startUvsd({ extraArgs: [...(values['state-file'] ? ['--state-file', stateFile] : []), ...values['uvsd-args']!.split(' ').filter((a) => a !== '')], nodeArgs, env: { UVS_LOOP_GAPS_FILE: gapsFile } });
    const lines = [`-A -u ${VIP}:53 -s rr`, ...lab.servers.map((s) => `-a -u ${VIP}:53 -r ${s.addr}:53 -g -w 1`)];
    for (let i = 0; i < services - 1; i++) {
      const p = 10000 + i;
      lines.push(`-A -t ${VIP}:${p} -s rr`, ...lab.servers.map((s) => `-a -t ${VIP}:${p} -r ${s.addr}:${p} -g -w 1`));
    }
    await lab.uvsadmMust(['-R'], lines.join('\n') + '\n');
    await delay(3000); // the state file written, the restore's garbage collected
    const size = values['state-file'] ? `, state file ${round(statSync(stateFile).size / 1e6, 2)} MB` : ', no state file';
    console.log(`table: ${services} services x ${nServers} servers${size}`);

    const ping = lab.lab.spawn(lab.ns.cli, [process.execPath, '-e', UDP_PING]);
    await ping.waitForLine(/ready/);
    await delay(1000);
    const port = 10000 + (services >> 1);
    const rs = lab.servers[0]!.addr;
    const edits: [number, number][] = [];
    for (let i = 0; i < Number(values.edits); i++) {
      const t0 = Date.now();
      await lab.uvsadmMust(['-e', '-t', `${VIP}:${port}`, '-r', `${rs}:${port}`, '-g', '-w', String(2 + (i % 2))]);
      edits.push([t0, Date.now()]);
      await delay(Number(values.every));
    }
    await delay(1000);
    ping.child.stdin?.end();
    await ping.exited;
    await lab.stopUvsd();
    const udp = JSON.parse(ping.stdout().split('\n').find((l) => l.startsWith('{'))!) as { sent: number; replies: [number, number][] };
    const loop = JSON.parse(readFileSync(gapsFile, 'utf8')) as { timeOrigin: number; gaps: [number, number][] };
    if (values['uvsd-log'] !== undefined) writeFileSync(values['uvsd-log'], uvsd.stdout());
    const gcs: Gc[] = [];
    for (const l of uvsd.stdout().split('\n')) {
      const m = GC_LINE.exec(l);
      if (m) gcs.push({ isolate: m[1]!, at: loop.timeOrigin + Number(m[2]), kind: m[3]!, pause: Number(m[4]), line: l.trim() });
    }
    const mainIsolate = gcs.length === 0 ? '' : mostFrequent(gcs.map((g) => g.isolate));
    const rows: { gap: number; rtt: number; loop: number; uvsadm: number }[] = [];
    for (const [i, [t0, t1]] of edits.entries()) {
      const end = t1 + 300;
      const got = udp.replies.filter(([at]) => at >= t0 - 20 && at < end);
      const arrivals = got.map(([at, rtt]) => at + rtt).sort((a, b) => a - b);
      let gap = 0;
      for (let k = 1; k < arrivals.length; k++) gap = Math.max(gap, arrivals[k]! - arrivals[k - 1]!);
      const rtt = Math.max(0, ...got.map(([, r]) => r));
      const lg = Math.max(0, ...loop.gaps.filter(([at]) => at >= t0 && at < end).map(([, g]) => g));
      const g = gcs.filter((x) => x.isolate === mainIsolate && x.at >= t0 - 50 && x.at < end);
      const mc = g.filter((x) => x.kind !== 'Scavenge');
      rows.push({ gap, rtt, loop: lg, uvsadm: t1 - t0 });
      console.log(`edit ${String(i + 1).padStart(2)}: uvsadm ${t1 - t0} ms; UDP longest gap ${round(gap, 1)} ms, max RTT ${round(rtt, 1)} ms; uvsd loop gap ${round(lg, 1)} ms; ` +
        `GC: ${g.length - mc.length} scavenges (max ${round(Math.max(0, ...g.filter((x) => x.kind === 'Scavenge').map((x) => x.pause)), 1)} ms)` +
        (mc.length > 0 ? `, ${mc.map((x) => `${x.kind} ${x.pause} ms`).join(', ')}` : ''));
    }
    const col = (k: 'gap' | 'rtt' | 'loop' | 'uvsadm') => rows.map((r) => r[k]);
    const sum = (xs: number[]) => `median ${round(median(xs), 1)}, max ${round(Math.max(...xs), 1)}`;
    console.log(`over ${rows.length} edits: UDP longest gap ${sum(col('gap'))} ms; max RTT ${sum(col('rtt'))} ms; uvsd loop gap ${sum(col('loop'))} ms; uvsadm ${sum(col('uvsadm'))} ms; ` +
      `${udp.sent - udp.replies.length} of ${udp.sent} pings unanswered`);
    for (const g of gcs.filter((x) => x.isolate === mainIsolate && x.kind !== 'Scavenge' && x.at >= edits[0]![0])) console.log(`  ${g.line}`);
  } finally {
    await lab.destroy();
  }
}

function mostFrequent(xs: string[]): string {
  const n = new Map<string, number>();
  for (const x of xs) n.set(x, (n.get(x) ?? 0) + 1);
  return [...n].sort((a, b) => b[1] - a[1])[0]![0];
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
