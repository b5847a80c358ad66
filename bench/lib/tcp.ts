// The TCP rows, on the project's DR/NAT lab (test/lab/dr-lab.ts: client 192.168.8.100, real
// servers rs1 .20 / rs2 .30, or 10.8.1.20 / .30 behind uvsd's 10.8.1.1 in NAT mode):
//   cps   new TCP connections per second with short HTTP responses: wrk -t1 -c32 with
//         `Connection: close` (pinned to CPU 0) against nginx in both real servers (one worker,
//         access log off, `return 200`), through uvsd DR / NAT (pinned to CPU 1), through haproxy
//         in TCP mode (one thread, CPU 1, on 192.168.8.9 in the director namespace), and straight
//         to rs1's nginx (direct).
//   bulk  iperf3 (one stream, client pinned to CPU 0) to rs1 through uvsd DR / NAT, through the
//         kernel with nftables DNAT (VIP and 10.8.1.1 on br0, conntrack, ip_forward, in the NAT
//         lab), and straight to rs1 (direct).
// While the kernel forwards (nftables), the director namespace's bridge ports get RPS to CPU 1, so
// the kernel's forwarding runs on the forwarder's core as uvsd and haproxy do (pinned there).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDrLab, type DrLab } from '../../test/lab/dr-lab.js';
import { delay, type Proc } from '../../test/lab/netns.js';
import { readCpus } from './host.js';
import type { Sample } from './rows.js';
import { round, stealFlag } from './stats.js';
import { FWD_CPU, GEN_CPU } from './udp.js';

const HAPROXY_ADDR = '192.168.8.9';
const IPERF_PORT = 5201;
const FWD_MASK = (1 << Number(FWD_CPU)).toString(16);

export type TcpMode = 'dr' | 'nat';

/** Programs each row needs, and the Debian package that brings it. */
export const TCP_TOOLS: Record<'cps' | 'bulk', Record<string, string>> = {
  cps: { wrk: 'wrk', nginx: 'nginx-light', haproxy: 'haproxy' },
  bulk: { iperf3: 'iperf3', nft: 'nftables', conntrack: 'conntrack' },
};

export class TcpLab {
  dl!: DrLab;
  private tmp = '';
  private nginx: Proc[] = [];

  /** perf record -a -g into this directory during each measured wrk run (npm run bench -- --perf DIR). */
  perfDir: string | undefined;

  /** port: how uvsd meets the bridge (a TAP, or the ring backend on a veth: bench --tcp-port). */
  constructor(readonly mode: TcpMode, readonly port: 'tap' | 'ring' = 'tap') {}

  async setup(opts: { nginx: boolean }): Promise<void> {
    this.dl = await createDrLab({ servers: 2, mode: this.mode, port: this.port, base: 'uvsb', startServers: false, hostAddr: `${HAPROXY_ADDR}/24` });
    this.tmp = mkdtempSync(path.join(tmpdir(), 'uvsb-tcp-'));
    // The client (wrk) and haproxy's server side open ~15k connections/s from one address to
    // one address:port. With Linux's defaults (28k ephemeral ports, TIME_WAIT reused only on
    // loopback) the ports run out within seconds and the later repeats collapsed (haproxy 300-
    // 4.5k conn/s instead of 8-10k, uvs too at times). A TCP proxy at this rate is run with
    // these two settings; they are set for every variant alike.
    for (const ns of [this.dl.ns.cli, this.dl.ns.dir]) {
      await this.dl.lab.sysctl(ns, { 'net.ipv4.tcp_tw_reuse': 1, 'net.ipv4.ip_local_port_range': '1024 65535' });
    }
    if (opts.nginx) for (const s of this.dl.servers) this.nginx.push(await this.startNginx(s.name, s.ns));
  }

  private async startNginx(name: string, ns: string): Promise<Proc> {
    const prefix = path.join(this.tmp, name);
    const conf = path.join(this.tmp, `${name}.conf`);
    rmSync(prefix, { recursive: true, force: true });
    writeFileSync(
      conf,
      [
        'worker_processes 1;', 'daemon off;', 'master_process off;', `pid ${prefix}.pid;`, 'error_log stderr warn;',
        'events { worker_connections 4096; }',
        'http {',
        '  access_log off;',
        `  client_body_temp_path ${this.tmp}/${name}-body; proxy_temp_path ${this.tmp}/${name}-proxy;`,
        `  fastcgi_temp_path ${this.tmp}/${name}-fcgi; uwsgi_temp_path ${this.tmp}/${name}-uwsgi; scgi_temp_path ${this.tmp}/${name}-scgi;`,
        '  server { listen 80 backlog=4096; location / { return 200 "ok\\n"; } }',
        '}',
      ].join('\n') + '\n',
    );
    const p = this.dl.lab.spawn(ns, ['nginx', '-p', this.tmp, '-c', conf]);
    // nginx prints nothing when it is up: wait until port 80 answers.
    const addr = this.dl.servers.find((s) => s.name === name)!.addr;
    for (let i = 0; i < 50; i++) {
      if (p.done()) throw new Error(`nginx in ${name} exited: ${p.stderr().slice(-500)}`);
      const r = await this.dl.lab.exec(ns, ['bash', '-c', `exec 3<>/dev/tcp/${addr}/80`]);
      if (r.code === 0) return p;
      await delay(100);
    }
    throw new Error(`nginx in ${name} does not answer on port 80`);
  }

  /** Forget every neighbour in client and servers: the VIP's and 10.8.1.1's owner changes between variants. */
  private async flushNeigh(): Promise<void> {
    for (const ns of [this.dl.ns.cli, ...this.dl.ns.rs]) await this.dl.lab.exec(ns, ['ip', 'neigh', 'flush', 'all']);
  }

  /** uvsd pinned to CPU 1 with TCP services VIP:port, each to its first `servers` real servers (rr).
   *  With workers > 1 (uvsd --workers) it is not pinned: its worker threads may use both CPUs. */
  async startUvsd(services: Array<{ port: number; servers: number }>, workers = 1): Promise<void> {
    await this.flushNeigh();
    // Extra options for A/B runs, as in the UDP rows: UVS_BENCH_UVSD_ARGS='--offload off'.
    const extra = (process.env.UVS_BENCH_UVSD_ARGS ?? '').split(' ').filter((x) => x !== '');
    const p = await this.dl.startUvsd([...(workers > 1 ? ['--workers', String(workers)] : []), ...extra]);
    // Its threads left where --datapath-cpus put them, as in the UDP rows.
    if (workers === 1 && !extra.includes('--datapath-cpus')) await this.dl.lab.must(['taskset', '-a', '-p', '-c', FWD_CPU, String(p.child.pid)]);
    for (const { port, servers } of services) {
      const service = { proto: 'tcp' as const, addr: this.dl.vip, port };
      await this.dl.call('addService', { ...service, sched: 'rr' });
      for (const s of this.dl.servers.slice(0, servers)) await this.dl.call('addDest', { service, addr: s.addr, port, fwd: this.mode === 'dr' ? 'dr' : 'nat', weight: 1 });
    }
  }

  async startHaproxy(): Promise<Proc> {
    await this.flushNeigh();
    const conf = path.join(this.tmp, 'haproxy.cfg');
    writeFileSync(
      conf,
      [
        'global', '  maxconn 4096', '  nbthread 1',
        'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
        'listen vip', `  bind ${HAPROXY_ADDR}:80`, '  balance roundrobin',
        ...this.dl.servers.map((s) => `  server ${s.name} ${s.addr}:80`),
      ].join('\n') + '\n',
    );
    const p = this.dl.lab.spawn(this.dl.ns.dir, ['taskset', '-c', FWD_CPU, 'haproxy', '-db', '-f', conf]);
    for (let i = 0; i < 50; i++) {
      if (p.done()) throw new Error(`haproxy exited: ${p.stderr().trim().split('\n').pop()}`);
      const r = await this.dl.lab.exec(this.dl.ns.cli, ['bash', '-c', `exec 3<>/dev/tcp/${HAPROXY_ADDR}/80`]);
      if (r.code === 0) return p;
      await delay(100);
    }
    throw new Error('haproxy does not answer');
  }

  /** RPS on every bridge port of the director namespace: its receive work on CPU 1 (or back). */
  private async steer(on: boolean): Promise<void> {
    const ports = ['vcli', ...this.dl.servers.map((s) => `v${s.name}`)];
    await this.dl.lab.must(['sh', '-c', ports.map((p) => `echo ${on ? FWD_MASK : 0} > /sys/class/net/${p}/queues/rx-0/rps_cpus`).join('; ')], this.dl.ns.dir);
  }

  /** The kernel as a NAT load balancer of VIP:port to rs1 (NAT lab only). */
  async startKernelNat(port: number): Promise<() => Promise<void>> {
    const dir = this.dl.ns.dir;
    const rs1 = this.dl.servers[0]!.addr;
    await this.flushNeigh();
    await this.dl.lab.must(['ip', 'addr', 'add', `${this.dl.vip}/24`, 'dev', 'br0'], dir);
    await this.dl.lab.must(['ip', 'addr', 'add', '10.8.1.1/24', 'dev', 'br0'], dir);
    await this.dl.lab.sysctl(dir, { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.send_redirects': 0, 'net.ipv4.conf.br0.send_redirects': 0 });
    const rules = `table ip uvsbench {\n  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n    ip daddr ${this.dl.vip} tcp dport ${port} dnat to ${rs1}:${port}\n  }\n}\n`;
    await this.dl.lab.must(['nft', '-f', '-'], dir, { input: rules });
    await this.steer(true);
    return async () => {
      await this.steer(false);
      await this.dl.lab.exec(dir, ['nft', 'delete', 'table', 'ip', 'uvsbench']);
      await this.dl.lab.exec(dir, ['conntrack', '-F']);
      await this.dl.lab.exec(dir, ['ip', 'addr', 'del', `${this.dl.vip}/24`, 'dev', 'br0']);
      await this.dl.lab.exec(dir, ['ip', 'addr', 'del', '10.8.1.1/24', 'dev', 'br0']);
      await this.dl.lab.sysctl(dir, { 'net.ipv4.ip_forward': 0 });
    };
  }

  /** wrk against target for `seconds` after a 1 s warm-up run: connections per second. */
  async wrk(target: string, seconds: number, tag = 'wrk'): Promise<{ value: number; steal: number[]; extra: Record<string, unknown> }> {
    const argv = (s: number): string[] => ['taskset', '-c', GEN_CPU, 'wrk', '-t1', '-c32', `-d${s}s`, '-H', 'Connection: close', `http://${target}/`];
    await this.dl.lab.exec(this.dl.ns.cli, argv(1), { timeoutMs: 15_000 });
    // Both CPUs: wrk, nginx, the forwarder and the kernel's share of each all count here.
    const perf = this.perfDir === undefined ? null : this.dl.lab.spawn(null, ['perf', 'record', '-q', '-a', '-g', '-o', path.join(this.perfDir, `perf-cps-${this.mode}-${tag}.data`), '--', 'sleep', String(seconds)]);
    const a = readCpus();
    const t0 = performance.now();
    const r = await this.dl.lab.exec(this.dl.ns.cli, argv(seconds), { timeoutMs: (seconds + 15) * 1000 });
    const dt = (performance.now() - t0) / 1000;
    if (perf) await perf.exited;
    const b = readCpus();
    const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    if (r.code !== 0 || !m) throw new Error(`wrk failed (${r.code}): ${r.stderr.trim()} ${r.stdout.trim()}`);
    const errors = /Socket errors:.*/.exec(r.stdout)?.[0] ?? '';
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1];
    return {
      value: Math.round(Number(m[1])),
      steal: b.map((c, i) => round((c.steal - a[i]!.steal) / dt, 3)),
      extra: { busy: b.map((c, i) => round((c.busy - a[i]!.busy) / dt, 3)), errors, non2xx: non2xx ? Number(non2xx) : 0 },
    };
  }

  /** iperf3 (`streams` parallel streams, -P) to target for `seconds`: received Gbit/s. */
  async iperf(target: string, seconds: number, streams = 1): Promise<{ value: number; steal: number[]; extra: Record<string, unknown> }> {
    const rs1 = this.dl.servers[0]!;
    const srv = this.dl.lab.spawn(rs1.ns, ['iperf3', '-s', '-1', '--forceflush', '-p', String(IPERF_PORT)]);
    try {
      await srv.waitForLine(/Server listening/, 5000);
      const a = readCpus();
      const t0 = performance.now();
      const r = await this.dl.lab.exec(this.dl.ns.cli, ['taskset', '-c', GEN_CPU, 'iperf3', '-c', target, '-p', String(IPERF_PORT), '-t', String(seconds), '-O', '1', '-J', ...(streams > 1 ? ['-P', String(streams)] : [])], { timeoutMs: (seconds + 20) * 1000 });
      const dt = (performance.now() - t0) / 1000;
      const b = readCpus();
      let j: { end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } }; error?: string };
      try {
        j = JSON.parse(r.stdout) as typeof j;
      } catch {
        throw new Error(`iperf3 failed (${r.code}): ${r.stderr.trim()} ${r.stdout.slice(0, 300)}`);
      }
      const bps = j.end?.sum_received?.bits_per_second;
      if (!bps) throw new Error(`iperf3: ${j.error ?? 'no result'}`);
      return {
        value: round(bps / 1e9, 3),
        steal: b.map((c, i) => round((c.steal - a[i]!.steal) / dt, 3)),
        extra: { busy: b.map((c, i) => round((c.busy - a[i]!.busy) / dt, 3)), retransmits: j.end?.sum_sent?.retransmits },
      };
    } finally {
      await srv.stop(2000);
    }
  }

  async destroy(): Promise<void> {
    await this.dl.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

type Measure = () => Promise<{ value: number; steal: number[]; extra: Record<string, unknown> }>;

/** One sample of a variant; an error becomes a sample with the error. */
export async function measure(row: string, variant: string, repeat: number, unit: string, fn: Measure): Promise<Sample> {
  try {
    const r = await fn();
    return { row, variant, repeat, value: r.value, unit, steal: r.steal, stealFlagged: stealFlag(r.steal), extra: r.extra };
  } catch (e) {
    console.error(`bench: ${row}/${variant}: ${(e as Error).message}`);
    return { row, variant, repeat, value: 0, unit, steal: [], stealFlagged: false, error: (e as Error).message };
  }
}
