// The scale-out lab (docs/scale-out.md): directors behind an ECMP router, VIPs announced by BGP.
//
//   <prefix>-cli  eth0 10.77.0.2/24 ── eth0 10.77.0.1/24  <prefix>-rtr  (BIRD: BGP AS 65000 to every
//                                                          director, kernel protocol with merge paths:
//                                                          one ECMP route per VIP; L4 multipath hash)
//                                       eth1 192.168.8.1/24
//                                            │
//   <prefix>-seg  br0: the servers' segment ─┼─ rs1..rsN eth0 192.168.8.(30+n)/24, VIPs on lo
//                                            │   (arp_ignore=1, arp_announce=2), default via .1
//                                            ├─ <prefix>-d1: uplink ── br0 (192.168.8.11/24, BIRD AS 65001)
//                                            │                    └─ uvs0 (TAP) ── uvsd 192.168.8.21,
//                                            │                       MAC 02:00:00:00:01:01
//                                            ├─ <prefix>-d2 ... .12 / .22
//                                            └─ <prefix>-d3 ... .13 / .23
//
// Each director's BIRD exports the static protocol uvs_vips that uvsd writes (--bgp-include),
// with uvsd's address as next hop; the router installs one multipath route per VIP whose next
// hops are the uvsd addresses it learnt. DR: servers answer the clients through the router.
import { writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, delay, type ExecResult, type Proc } from './netns.js';
import { LAB_CONN_MAX, LAB_START_ARGS, repoRoot, labDir, uvsdArgv, uvsadmCall, uvsadmInProcess } from './dr-lab.js';
import { ControlClient } from '../../src/control/client.js';
import { waitForControl } from './ready.js';
import type { StatusResult } from '../../src/control/protocol.js';

export const SEG = '192.168.8';
export const ROUTER_SEG = `${SEG}.1`;
export const CLIENT_NET = '10.77.0';
export const ROUTER_AS = 65000;

export interface Director {
  n: number;
  ns: string;
  /** The director kernel's address (BIRD speaks BGP from it). */
  kernelAddr: string;
  /** uvsd's address: the next hop of its routes. */
  uvsdAddr: string;
  mac: string;
  socket: string;
  include: string;
  birdSocket: string;
  birdConf: string;
  uvsd: Proc | null;
  bird: Proc | null;
}

export interface EcmpLabOptions {
  directors?: number;
  servers?: number;
  vips?: string[];
  log?: (msg: string) => void;
}

/** The router's bird.conf: BGP to every director, ECMP into the kernel. */
export function routerBirdConf(directors: readonly { n: number; kernelAddr: string }[]): string {
  const peers = directors.map((d) => `
protocol bgp d${d.n} {
  local ${ROUTER_SEG} as ${ROUTER_AS};
  neighbor ${d.kernelAddr} as ${ROUTER_AS + d.n};
  hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import all; export none; };
}
`).join('');
  return `router id ${ROUTER_SEG};
log stderr all;
protocol device { scan time 1; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths on;   # equal BGP routes from several directors -> one multipath route
}
${peers}`;
}

/** A director's bird.conf: the include uvsd writes, exported to the router by BGP. */
export function directorBirdConf(d: { n: number; kernelAddr: string; include: string }): string {
  return `router id ${d.kernelAddr};
log stderr all;
protocol device { scan time 1; }
include "${d.include}";
protocol bgp uplink {
  local ${d.kernelAddr} as ${ROUTER_AS + d.n};
  neighbor ${ROUTER_SEG} as ${ROUTER_AS};
  hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import none; export where proto = "uvs_vips"; };
}
`;
}

export class EcmpLab {
  readonly lab = new Lab('uvsecmp');
  readonly tmp = mkdtempSync(join(tmpdir(), 'uvsecmp-'));
  readonly directors: Director[] = [];
  readonly servers: { name: string; ns: string; addr: string; proc: Proc | null }[] = [];
  ns = { rtr: '', cli: '', seg: '' };
  routerBird: Proc | null = null;
  readonly vips: string[];
  private readonly log: (msg: string) => void;

  constructor(private readonly o: EcmpLabOptions = {}) {
    this.vips = o.vips ?? [`${SEG}.200`];
    this.log = o.log ?? (() => {});
  }

  async build(): Promise<void> {
    await Lab.cleanupLeftovers('uvsecmp');
    const lab = this.lab;
    const rtr = (this.ns.rtr = await lab.addNs('rtr'));
    const cli = (this.ns.cli = await lab.addNs('cli'));
    const seg = (this.ns.seg = await lab.addNs('seg'));
    await lab.addBridge(seg, 'br0');
    // client <-> router
    await lab.addVeth({ ns: cli, ifname: 'eth0' }, { ns: rtr, ifname: 'eth0' });
    await lab.must(['ip', '-n', cli, 'addr', 'add', `${CLIENT_NET}.2/24`, 'dev', 'eth0']);
    await lab.must(['ip', '-n', cli, 'route', 'add', 'default', 'via', `${CLIENT_NET}.1`]);
    await lab.must(['ip', '-n', rtr, 'addr', 'add', `${CLIENT_NET}.1/24`, 'dev', 'eth0']);
    // router <-> segment
    await lab.addHostIf({ ns: rtr, bridgeNs: seg, bridge: 'br0', portName: 'vrtr', ifname: 'eth1', addr: `${ROUTER_SEG}/24` });
    await lab.sysctl(rtr, {
      'net.ipv4.ip_forward': 1,
      // L4 hash: the flows of one client spread over the directors (and stay put while the set does)
      'net.ipv4.fib_multipath_hash_policy': 1,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
    });
    // The servers, then the directors, each set up side by side (their namespaces are independent;
    // a command costs ~10 ms, each host ~8 of them), recorded in their order.
    const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    this.servers.push(...await Promise.all(range(this.o.servers ?? 4).map(async (i): Promise<EcmpLab['servers'][number]> => {
      const ns = await lab.addNs(`rs${i}`);
      const addr = `${SEG}.${30 + i}`;
      await lab.sysctl(ns, {
        'net.ipv4.conf.all.arp_ignore': 1, 'net.ipv4.conf.all.arp_announce': 2,
        'net.ipv4.conf.default.arp_ignore': 1, 'net.ipv4.conf.default.arp_announce': 2,
      });
      await lab.addHostIf({ ns, bridgeNs: seg, bridge: 'br0', portName: `vrs${i}`, addr: `${addr}/24`, loAddrs: this.vips });
      await lab.sysctl(ns, { 'net.ipv4.conf.eth0.arp_ignore': 1, 'net.ipv4.conf.eth0.arp_announce': 2 });
      await lab.must(['ip', '-n', ns, 'route', 'add', 'default', 'via', ROUTER_SEG]);
      return { name: `rs${i}`, ns, addr, proc: null };
    })));
    this.directors.push(...await Promise.all(range(this.o.directors ?? 3).map(async (n): Promise<Director> => {
      const ns = await lab.addNs(`d${n}`);
      await lab.addBridge(ns, 'br0');
      await lab.addVeth({ ns, ifname: 'uplink' }, { ns: seg, ifname: `vd${n}` });
      await lab.attach(ns, 'uplink', 'br0');
      await lab.attach(seg, `vd${n}`, 'br0');
      const kernelAddr = `${SEG}.${10 + n}`;
      await lab.must(['ip', '-n', ns, 'addr', 'add', `${kernelAddr}/24`, 'dev', 'br0']);
      const d: Director = {
        n, ns, kernelAddr, uvsdAddr: `${SEG}.${20 + n}`, mac: `02:00:00:00:0${n}:01`,
        socket: join(this.tmp, `d${n}.sock`), include: join(this.tmp, `d${n}-vips.conf`),
        birdSocket: join(this.tmp, `d${n}-bird.ctl`), birdConf: join(this.tmp, `d${n}-bird.conf`), uvsd: null, bird: null,
      };
      writeFileSync(d.birdConf, directorBirdConf(d));
      return d;
    })));
    const rconf = join(this.tmp, 'rtr-bird.conf');
    writeFileSync(rconf, routerBirdConf(this.directors));
    this.routerBird = this.startBird(rtr, rconf, join(this.tmp, 'rtr-bird.ctl'));
    await Promise.all(this.servers.map(async (s) => {
      s.proc = lab.spawn(s.ns, [process.execPath, join(labDir, 'servers.js'), '--name', s.name, '--http-port', '80', '--udp-port', '53', '--bind', [...this.vips, s.addr].join(',')], { cwd: repoRoot });
      await s.proc.waitForLine(/^ready /, 10_000);
    }));
    this.log(`lab ${lab.prefix}: router, ${this.directors.length} directors, ${this.servers.length} servers`);
  }

  private startBird(ns: string, conf: string, sock: string): Proc {
    return this.lab.spawn(ns, ['bird', '-f', '-c', conf, '-s', sock], { cwd: this.tmp, maxCapture: 256 * 1024 });
  }

  /** uvsd in director d (stateless mh mode, announcing through its BIRD), ready when uvsadm answers. */
  async startUvsd(d: Director, extraArgs: string[] = []): Promise<void> {
    d.uvsd = this.lab.spawn(d.ns, uvsdArgv(['--tap', 'uvs0', '--bridge', 'br0', '--addr', `${d.uvsdAddr}/24`, '--mac', d.mac, '--socket', d.socket, '--arp-probe-ms', '100', '--icmp-ratelimit', '0', // as dr-lab.ts
      '--sloppy-tcp', 'mh', '--bgp-include', d.include, '--bgp-bird-socket', d.birdSocket, '--bgp-watch', '1', '--conn-max', String(LAB_CONN_MAX), '--log-level', 'warn',
      ...LAB_START_ARGS,
      ...extraArgs,
    ]), { cwd: repoRoot, maxCapture: 1024 * 1024 });
    const why = await waitForControl(d.socket, d.uvsd);
    if (why === '') return;
    throw new Error(`uvsd in d${d.n} not ready (${why}): ${d.uvsd.stderr().slice(-2000)}`);
  }

  startDirectorBird(d: Director): void {
    d.bird = this.startBird(d.ns, d.birdConf, d.birdSocket);
  }

  uvsadm(d: Director, args: string[], input?: string): Promise<ExecResult> {
    return uvsadmInProcess(d.socket, args, input);
  }

  /** uvsadm in director d; throws on a non-zero exit. `input` goes to its stdin (-R). */
  async uvsadmMust(d: Director, args: string[], input?: string): Promise<string> {
    const r = await this.uvsadm(d, args, input);
    if (r.code !== 0) throw new Error(`d${d.n}: uvsadm ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** uvsadmCall (dr-lab.ts) in director d: a mutating uvsadm command without a uvsadm process (the scale-out test sends 20 at start). */
  async uvsadmCall(d: Director, args: string[]): Promise<void> {
    try {
      await uvsadmCall(d.socket, args, 15_000);
    } catch (e) {
      throw new Error(`d${d.n}: ${(e as Error).message}`);
    }
  }

  async status(d: Director): Promise<StatusResult> {
    const c = await ControlClient.connect(d.socket, { timeoutMs: 5000 });
    try {
      return await c.call('status', {});
    } finally {
      c.close();
    }
  }

  /** The next hops the router's kernel has for vip/32 (empty: no route). */
  async nextHops(vip: string): Promise<string[]> {
    const r = await this.lab.exec(this.ns.rtr, ['ip', '-j', 'route', 'show', `${vip}/32`]);
    if (r.code !== 0 || r.stdout.trim() === '') return [];
    const routes = JSON.parse(r.stdout) as { gateway?: string; nexthops?: { gateway: string }[] }[];
    return routes.flatMap((x) => (x.nexthops ?? (x.gateway ? [{ gateway: x.gateway }] : [])).map((h) => h.gateway)).sort();
  }

  /** Wait until the router's next hops for vip are exactly `want` (uvsd addresses); returns ms waited. */
  async waitNextHops(vip: string, want: string[], timeoutMs = 15_000): Promise<number> {
    const t0 = Date.now();
    const w = [...want].sort().join(' ');
    let got: string[] = [];
    while (Date.now() - t0 < timeoutMs) {
      got = await this.nextHops(vip);
      if (got.join(' ') === w) return Date.now() - t0;
      await delay(50);
    }
    throw new Error(`router: next hops for ${vip} are [${got.join(' ')}], want [${w}] after ${timeoutMs} ms; ` +
      `router BIRD: ${this.routerBird?.stderr().slice(-1500)}`);
  }

  async destroy(): Promise<void> {
    try {
      await this.lab.destroy();
    } finally {
      rmSync(this.tmp, { recursive: true, force: true });
    }
  }
}
