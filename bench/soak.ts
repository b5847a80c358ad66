// Soak run (issue 13, docs/resilience.md): not a test and not in npm test.
//
//   sudo npm run soak -- [--minutes 10] [--churn-s 3] [--seed 1] [--warmup-s 120] [--uvsd-node-flags=FLAGS]
//   --uvsd-node-flags=FLAGS: node flags for uvsd, space-separated, after "=" (they begin with "-"),
//   e.g. --uvsd-node-flags=--heapsnapshot-signal=SIGUSR2: `kill -USR2 PID` then writes a heap
//   snapshot into the checkout, to compare two taken minutes apart
//
// A DR lab (test/lab) with 4 real servers; uvsd runs with a --config file and short timeouts.
// bench/soak-client.js in the client namespace keeps mixed traffic going: keep-alive HTTP,
// one-connection-per-request HTTP and UDP request/reply. Every --churn-s seconds one change:
// a weight changed (uvsadm -e), a server removed (weight 0, then uvsadm -d 2 s later), a server
// added (uvsadm -a), or the config file rewritten (scheduler, weights, a server more or less) and
// uvsd sent SIGHUP. A watcher tells the client which servers left the table; the client retries
// only requests whose server was removed, so every other failure is uvsd's.
//
// Reports: failed requests (must be 0), uvsd's RSS every 10 s (flat within ±10 % after the
// warm-up), and, after the traffic stops, the time until the connection table is empty again.
// Exits 1 when any of the three does not hold.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createDrLab, VIP, type DrLab } from '../test/lab/dr-lab.js';
import { labUnavailableReason, delay } from '../test/lab/netns.js';
import { machine, readCpus } from './lib/host.js';
import { median, round } from './lib/stats.js';
import { Rand } from '../test/helpers/fuzz.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    minutes: { type: 'string', default: '10' },
    'churn-s': { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    'warmup-s': { type: 'string' },
    'drain-wait-s': { type: 'string', default: '200' },
    'uvsd-node-flags': { type: 'string', default: '' },
  },
});

const SCHEDULERS = ['rr', 'wrr', 'wlc', 'lc'];
const TIMEOUTS = { tcp: 20, tcpfin: 5, udp: 5 };
const DRAIN_TIMEOUT_S = 2;
const CONN_MAX = 65536;

export interface SoakResult {
  seconds: number;
  ok: Record<string, number>;
  failed: Record<string, number>;
  retried: Record<string, number>;
  samples: string[];
  churn: Record<string, number>;
  reloadsRefused: number;
  rssMB: number[];
  rssFlat: boolean;
  rssSpread: number;
  maxConns: number;
  drainedToZeroS: number | null;
  uvsdAlive: boolean;
}

function rssMB(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : NaN;
  } catch {
    return NaN;
  }
}

export async function soak(o: { seconds: number; churnS: number; seed: number; warmupS: number; drainWaitS: number; nodeFlags: string[]; log: (s: string) => void }): Promise<SoakResult> {
  const { log } = o;
  // The run is reproducible from --seed (the fuzz suites' generator).
  const g = new Rand(o.seed);
  const random = () => g.u32() / 2 ** 32;
  const pick = <T>(xs: T[]): T => g.pick(xs);
  const lab: DrLab = await createDrLab({ servers: 4, clients: 1, base: 'uvsoak', log });
  try {
    const names = new Map(lab.servers.map((s) => [s.addr, s.name]));
    // The soak's own idea of the table; the config file is written from it on every reload.
    const want = { sched: 'wrr', weights: new Map<string, number>(lab.servers.slice(0, 3).map((s) => [s.addr, 1])) };
    const file = join(lab.tmp, 'uvsd.yaml');
    const writeConfig = () => {
      const servers = [...want.weights].map(([address, weight]) => ({ address, method: 'dr', weight }));
      writeFileSync(file, stringify({
        daemon: { 'drain-timeout': DRAIN_TIMEOUT_S, 'conn-max': CONN_MAX },
        timeouts: TIMEOUTS,
        services: [
          { proto: 'tcp', address: VIP, port: 80, scheduler: want.sched, servers },
          { proto: 'udp', address: VIP, port: 53, scheduler: want.sched, servers },
        ],
      }, { aliasDuplicateObjects: false })); // the config reader takes no YAML aliases
    };
    writeConfig();
    await lab.startUvsd({ extraArgs: ['--config', file], nodeArgs: o.nodeFlags });
    const uvsdPid = lab.uvsd!.child.pid;
    const svcs = ['-t', '-u'].map((p) => [p, `${VIP}:${p === '-t' ? 80 : 53}`] as const);
    const both = async (f: (p: string, svc: string) => string[]) => {
      for (const [p, svc] of svcs) await lab.uvsadmMust(f(p, svc));
    };

    const client = lab.lab.spawn(lab.ns.cli, [process.execPath, join(fileURLToPath(new URL('.', import.meta.url)), 'soak-client.js'), '--vip', VIP],
      { maxCapture: 4 * 1024 * 1024 });
    let last: Omit<SoakResult, 'seconds' | 'churn' | 'reloadsRefused' | 'rssMB' | 'rssFlat' | 'rssSpread' | 'maxConns' | 'drainedToZeroS' | 'uvsdAlive'> & { final?: boolean } | undefined;
    let partial = '';
    client.child.stdout!.on('data', (d: string) => {
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('{')) last = JSON.parse(l);
    });

    // The watcher: servers that left either service are announced to the client.
    let watching = true;
    let maxConns = 0;
    const watcher = (async () => {
      let before = new Set<string>();
      while (watching) {
        try {
          const l = await lab.list();
          const now = new Set(l.services.flatMap((s) => s.dests.map((d) => d.addr)));
          for (const a of before) if (!now.has(a)) client.child.stdin!.write(`removed ${names.get(a)}\n`);
          before = now;
        } catch (e) {
          log(`watcher: ${(e as Error).message}`);
        }
        await delay(250);
      }
    })();

    const churn: Record<string, number> = { weight: 0, remove: 0, add: 0, reload: 0 };
    const rss: Array<{ t: number; mb: number }> = [];
    const t0 = Date.now();
    let nextRss = 0;
    let nextReport = 0;
    while (Date.now() - t0 < o.seconds * 1000) {
      const el = (Date.now() - t0) / 1000;
      if (el >= nextRss) {
        nextRss += 10;
        rss.push({ t: Math.round(el), mb: rssMB(uvsdPid) });
        maxConns = Math.max(maxConns, (await lab.status()).conns);
      }
      if (el >= nextReport) {
        nextReport += 60;
        log(`${Math.round(el)} s: ${JSON.stringify({ ok: last?.ok, failed: last?.failed, retried: last?.retried })} rss ${rss.at(-1)?.mb} MB, churn ${JSON.stringify(churn)}`);
      }
      const inTable = [...want.weights.keys()];
      const out = lab.servers.map((s) => s.addr).filter((a) => !want.weights.has(a));
      const r = random();
      if (r < 0.3) {
        const a = pick(inTable);
        const w = 1 + Math.floor(random() * 5);
        await both((p, svc) => ['-e', p, svc, '-r', a, '-g', '-w', String(w)]);
        want.weights.set(a, w);
        churn.weight!++;
      } else if (r < 0.5 && inTable.length > 2) {
        const a = pick(inTable);
        await both((p, svc) => ['-e', p, svc, '-r', a, '-g', '-w', '0']);
        await delay(DRAIN_TIMEOUT_S * 1000);
        await both((p, svc) => ['-d', p, svc, '-r', a]);
        want.weights.delete(a);
        churn.remove!++;
      } else if (r < 0.7 && out.length > 0) {
        const a = pick(out);
        await both((p, svc) => ['-a', p, svc, '-r', a, '-g', '-w', '1']);
        want.weights.set(a, 1);
        churn.add!++;
      } else {
        want.sched = pick(SCHEDULERS);
        for (const a of inTable) want.weights.set(a, 1 + Math.floor(random() * 5));
        let removed: string | undefined;
        if (inTable.length > 2 && random() < 0.4) {
          removed = pick(inTable);
          want.weights.delete(removed);
        } else if (out.length > 0 && random() < 0.5) {
          want.weights.set(pick(out), 2);
        }
        writeConfig();
        lab.uvsd!.child.kill('SIGHUP');
        churn.reload!++;
        // A server the file dropped drains, then goes: wait until it has gone.
        for (let i = 0; removed !== undefined && i < 40; i++) {
          await delay(250);
          const l = await lab.list();
          if (!l.services.some((s) => s.dests.some((d) => d.addr === removed))) break;
        }
      }
      await delay(o.churnS * 1000);
    }
    const seconds = Math.round((Date.now() - t0) / 1000);
    client.child.stdin!.write('stop\n');
    await Promise.race([client.exited, delay(10_000)]);
    watching = false;
    await watcher;
    rss.push({ t: seconds, mb: rssMB(uvsdPid) });
    const reloadsRefused = (lab.uvsd!.stdout().match(/configuration reload refused/g) ?? []).length;

    // Traffic stopped: every entry must expire (TIME_WAIT lasts 120 s, the longest timeout left).
    log(`traffic stopped after ${seconds} s; waiting for the connection table to empty`);
    const tStop = Date.now();
    let drainedToZeroS: number | null = null;
    while (Date.now() - tStop < o.drainWaitS * 1000) {
      const st = await lab.status();
      if (st.conns === 0) {
        drainedToZeroS = Math.round((Date.now() - tStop) / 1000);
        break;
      }
      await delay(2000);
    }
    const after = rss.filter((s) => s.t >= o.warmupS).map((s) => s.mb);
    const mid = median(after);
    const spread = after.length === 0 ? 0 : Math.max(...after.map((x) => Math.abs(x - mid) / mid));
    const res = last ?? { ok: {}, failed: { none: 1 }, retried: {}, samples: ['no report from the client'] };
    return {
      seconds, ok: res.ok, failed: res.failed, retried: res.retried, samples: res.samples, churn, reloadsRefused,
      rssMB: rss.map((s) => s.mb), rssFlat: spread <= 0.1, rssSpread: round(spread, 3), maxConns, drainedToZeroS,
      uvsdAlive: lab.uvsdAlive(),
    };
  } finally {
    await lab.destroy();
  }
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== null) {
    console.error(`soak: ${reason}`);
    process.exit(2);
  }
  const seconds = Math.round(Number(values.minutes) * 60);
  const warmupS = values['warmup-s'] !== undefined ? Number(values['warmup-s']) : Math.min(120, Math.round(seconds / 5));
  const started = new Date().toISOString();
  const steal0 = readCpus();
  const r = await soak({ seconds, churnS: Number(values['churn-s']), seed: Number(values.seed), warmupS, drainWaitS: Number(values['drain-wait-s']), nodeFlags: values['uvsd-node-flags']!.split(' ').filter(Boolean), log: (s) => console.log(`soak: ${s}`) });
  const steal1 = readCpus();
  const stealShare = steal1.map((c, i) => round((c.steal - steal0[i]!.steal) / Math.max(1, seconds), 3));
  console.log(JSON.stringify({ started, machine: machine(), loadavg: loadavg().map((x) => round(x, 2)), steal: stealShare, ...r }, null, 1));
  const problems: string[] = [];
  if (sum(r.failed) > 0) problems.push(`${sum(r.failed)} failed requests: ${r.samples.join(' | ')}`);
  if (!r.rssFlat) problems.push(`RSS not flat after ${warmupS} s: spread ${r.rssSpread}`);
  if (r.drainedToZeroS === null) problems.push('the connection table did not empty');
  if (!r.uvsdAlive) problems.push('uvsd died');
  if (r.reloadsRefused > 0) problems.push(`${r.reloadsRefused} reloads refused`);
  console.log(problems.length === 0
    ? `soak: PASS: ${sum(r.ok)} requests ok, ${sum(r.retried)} retried after a removal, 0 failed; RSS ${Math.min(...r.rssMB)}..${Math.max(...r.rssMB)} MB; table empty ${r.drainedToZeroS} s after the traffic stopped`
    : `soak: FAIL: ${problems.join('; ')}`);
  process.exit(problems.length === 0 ? 0 : 1);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
