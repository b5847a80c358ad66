// Concurrent scrapes of a large table (docs/metrics.md, "Scrape cost"): not a test and not in npm test.
//
//   sudo node dist/bench/scrape-load.js [--services 2000] [--scrapes 200] [--rounds 3] [--gzip] [--path /status.json]
//
// A DR lab (test/lab) with 2 real servers; uvsd --metrics 127.0.0.1:9478 with --services
// services of 2 servers each (one of them VIP:53/udp, the rest TCP ports 10000+). While a UDP
// ping goes through the VIP every 10 ms from the client namespace and a control `list` round
// trip (what `uvsadm -Ln` asks) runs every 100 ms, --rounds times --scrapes GET /metrics (or --path) are sent
// at once from the director namespace (one connection each). Prints uvsd's peak RSS (VmHWM),
// its RSS after, the answers by status, and the UDP and control round trips during the storms.
import { readFileSync } from 'node:fs';
import { createDrLab, VIP } from '../test/lab/dr-lab.js';
import { delay, labUnavailableReason } from '../test/lab/netns.js';
import { ControlClient } from '../src/control/client.js';
import { monoMs } from '../src/control/protocol.js';
import { median, percentile, round } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    services: { type: 'string', default: '2000' },
    scrapes: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    gzip: { type: 'boolean', default: false },
    path: { type: 'string', default: '/metrics' },
  },
});
const METRICS = '127.0.0.1:9478';

/** A datagram every 10 ms from one socket; prints the round trips (ms) as JSON when stdin ends. */
const UDP_PING = `
const s = require('node:dgram').createSocket('udp4'); const rtts = []; const sent = new Map(); let n = 0;
s.on('message', (m) => { const t = sent.get(n - 1); if (t !== undefined) rtts.push(performance.now() - t); });
const timer = setInterval(() => { sent.set(n, performance.now()); s.send('who?\\n', 53, '${VIP}'); n++; }, 10);
process.stdin.resume(); process.stdin.on('end', () => { clearInterval(timer); console.log(JSON.stringify({ sent: n, rtts })); s.close(); });
console.log('ready');`;

/** N GETs at once, one connection each; prints {status: count}, the slowest answer (ms), bytes. */
const STORM = `
const http = require('node:http'); const n = Number(process.argv[1]); const gzip = process.argv[2] === '1'; const path = process.argv[3];
const by = {}; let bytes = 0; let slowest = 0; let left = n; const t0 = performance.now();
const done = (k) => { by[k] = (by[k] ?? 0) + 1; slowest = Math.max(slowest, performance.now() - t0); if (--left === 0) console.log(JSON.stringify({ by, bytes, slowestMs: Math.round(slowest) })); };
for (let i = 0; i < n; i++) {
  const req = http.get('http://${METRICS}' + path, { agent: false, headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
    res.on('data', (c) => (bytes += c.length)); res.on('end', () => done(res.statusCode)); res.on('error', () => done('error'));
  });
  req.on('error', (e) => done(e.code ?? 'error'));
}`;

function vm(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

const stats = (xs: number[]) => (xs.length === 0 ? 'none' : `median ${round(median(xs), 2)} ms, p99 ${round(percentile(xs, 99), 1)} ms, max ${round(Math.max(...xs), 1)} ms (${xs.length})`);

async function main(): Promise<void> {
  const why = labUnavailableReason();
  if (why) throw new Error(why);
  const services = Number(values.services);
  const lab = await createDrLab({ servers: 2, base: 'uvsmx' });
  try {
    const uvsd = await lab.startUvsd({ extraArgs: ['--metrics', METRICS] });
    const lines = [`-A -u ${VIP}:53 -s rr`, ...lab.servers.map((s) => `-a -u ${VIP}:53 -r ${s.addr}:53 -g -w 1`)];
    for (let i = 0; i < services - 1; i++) {
      const p = 10000 + i;
      lines.push(`-A -t ${VIP}:${p} -s rr`, ...lab.servers.map((s) => `-a -t ${VIP}:${p} -r ${s.addr}:${p} -g -w 1`));
    }
    await lab.uvsadmMust(['-R'], lines.join('\n') + '\n');
    const pid = uvsd.child.pid!;
    const one = await lab.lab.exec(lab.ns.dir, [process.execPath, '-e', STORM, '1', values.gzip ? '1' : '0', values.path!], { timeoutMs: 60_000 });
    console.log(`table: ${services} services x 2 servers; one scrape: ${one.stdout.trim()}; VmHWM ${vm(pid, 'VmHWM')} MB, VmRSS ${vm(pid, 'VmRSS')} MB`);

    const ping = lab.lab.spawn(lab.ns.cli, [process.execPath, '-e', UDP_PING]);
    await ping.waitForLine(/ready/);
    const ctl = await ControlClient.connect(lab.socketPath, { timeoutMs: 120_000 });
    const listRtts: number[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const t0 = monoMs();
        await ctl.call('list', {});
        listRtts.push(monoMs() - t0);
        await delay(100);
      }
    })();
    await delay(2000);
    const idleList = listRtts.length;
    for (let r = 0; r < Number(values.rounds); r++) {
      const t0 = performance.now();
      const out = await lab.lab.exec(lab.ns.dir, [process.execPath, '-e', STORM, values.scrapes!, values.gzip ? '1' : '0', values.path!], { timeoutMs: 300_000 });
      console.log(`round ${r + 1}: ${values.scrapes} scrapes at once: ${out.stdout.trim() || out.stderr.trim()} (${Math.round(performance.now() - t0)} ms)`);
    }
    await delay(1000);
    probing = false;
    await probe;
    ctl.close();
    ping.child.stdin?.end();
    await ping.exited;
    const udp = JSON.parse(ping.stdout().split('\n').find((l) => l.startsWith('{'))!) as { sent: number; rtts: number[] };
    for (const l of uvsd.stdout().split('\n').filter((x) => x.includes('metrics listener'))) console.log(`uvsd: ${JSON.parse(l).msg} (${JSON.parse(l).refused})`);
    console.log(`uvsd alive: ${lab.uvsdAlive()}; VmHWM ${vm(pid, 'VmHWM')} MB, VmRSS after ${vm(pid, 'VmRSS')} MB`);
    console.log(`control list RTT idle: ${stats(listRtts.slice(0, idleList))}`);
    console.log(`control list RTT during: ${stats(listRtts.slice(idleList))}`);
    console.log(`UDP through the VIP (whole run): ${stats(udp.rtts)}, ${udp.sent - udp.rtts.length} of ${udp.sent} unanswered`);
  } finally {
    await lab.destroy();
  }
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
