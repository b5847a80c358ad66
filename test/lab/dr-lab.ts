// The direct-routing (DR) lab topology used by the demo, the integration tests and the benchmark.
//
//   <prefix>-cli  eth0 192.168.8.100/24 ─┐
//   <prefix>-rs1  eth0 192.168.8.20/24  ─┤  <prefix>-dir: br0 (no IP) ── uvs0 (TAP) ── uvsd
//                 lo   192.168.8.200/32  │     uvsd owns 192.168.8.10 and the VIPs, MAC 02:00:00:00:00:01
//   <prefix>-rs2  eth0 192.168.8.30/24  ─┘
//                 lo   192.168.8.200/32
//
// Real servers hold the VIP on lo with arp_ignore=1 / arp_announce=2, so only uvsd answers ARP
// for it; they reply to the client directly (DR return path).
//
// Other forwarding methods (opts.mode) change only the real servers' side:
//   nat      rsN eth0 10.8.1.(10+10N)/24, default route via 10.8.1.1 (a second uvsd --addr); no VIP
//   fullnat  rsN eth0 192.168.8.(10+10N)/24, no VIP; replies go to the LIP 192.168.8.50 (uvsd's)
//   tun      as DR, but the VIP sits on a TUN device fed by bin/uvs-decap (IPIP, GRE and GUE decapsulation)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type HostSpec, type ExecResult, type Proc, within } from './netns.js';
import type { ConnInfo, ListResult, StatusResult, Verbs } from '../../src/control/protocol.js';
import { ControlClient } from '../../src/control/client.js';
import { parseArgs, parseRules } from '../../src/control/ipvsadm.js';
import { main as uvsadmMain } from '../../src/cli/uvsadm-main.js';
import { waitForControl } from './ready.js';
import { NsClients } from './clients.js';
import { UVSD_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { kindOf } from '../helpers/test-class.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root (this file runs from dist/test/lab/). */
export const repoRoot = resolve(here, '../../..');
export const labDir = here;

export const SUBNET = '192.168.8';
export const DIR_ADDR = `${SUBNET}.10`;
/** The UDP port the lab's uvs-decap takes GUE on (ipvsadm --tun-type gue --tun-port). */
export const LAB_GUE_PORT = 6080;
export const VIP = `${SUBNET}.200`;
export const UVSD_MAC = '02:00:00:00:00:01';
export const NAT_SUBNET = '10.8.1';
export const NAT_DIR_ADDR = `${NAT_SUBNET}.1`;
export const LIP = `${SUBNET}.50`;
export type LabMode = 'dr' | 'nat' | 'fullnat' | 'tun';
export const ROUTED_SUBNET = '10.9.0';
export const GW_ADDR = `${SUBNET}.1`;

export interface DrLabOptions {
  /** Number of real servers (rs1 = .20, rs2 = .30, ...). Default 2, at most 15. */
  servers?: number;
  /** Number of client namespaces (cli = .100, cli2 = .101, ...). Default 1. */
  clients?: number;
  /** VIPs every real server holds on lo. Default [192.168.8.200]. */
  vips?: string[];
  /** Namespace name base (default 'uvs'); leftovers of crashed runs with this base are removed first. */
  base?: string;
  /** Start servers.js in every real server (default true). */
  startServers?: boolean;
  /** Build into this Lab (e.g. one a signal handler already knows about); default: a new Lab(base). */
  lab?: Lab;
  /** Log progress lines through this function. */
  log?: (msg: string) => void;
  /** Forwarding method the real servers are prepared for (default dr). */
  mode?: LabMode;
  /** How uvsd meets the bridge: a TAP it creates (default), or the ring backend (`--port
   *  af_packet:uvs0`) on a veth end uvs0 whose peer uvs0p is on the bridge (see addRingVeth). */
  port?: 'tap' | 'ring';
  /** HTTP ports every real server listens on (default [80, 8080]). */
  httpPorts?: number[];
  /**
   * Real servers on a routed network (10.9.0.0/24) behind a router namespace <prefix>-gw
   * (192.168.8.1 and 10.9.0.1, forwarding); uvsd gets --gateway 192.168.8.1. Not for dr/nat.
   */
  offLink?: boolean;
  /**
   * An address (CIDR) for the director namespace's own kernel on br0, e.g. 192.168.8.9/24: health
   * checks use the host's network stack, which needs an address that reaches the servers. Never
   * uvsd's --addr (192.168.8.10) nor a VIP. Default: none.
   */
  hostAddr?: string;
}

export interface RealServer {
  name: string; // rs1
  ns: string;
  addr: string; // 192.168.8.20
  proc: Proc | null;
}

export interface ClientTally {
  counts: Record<string, number>;
  errors: number;
  sequence: string[];
  errorSamples: string[];
  /** Failures by error code (ECONNREFUSED, ...; "timeout"; "other" without a code). */
  errorCodes?: Record<string, number>;
  /** The slowest request, in ms (HTTP). */
  maxMs?: number;
  /** HTTP: each request's local port, in sequence's order (0: its connection failed). */
  ports?: number[];
}

export interface HoldConn {
  /** Answer to the first request ({server} or {error}). */
  first: { server?: string; error?: string; localPort?: number };
  /** Send another request on the same connection. */
  again(): Promise<{ server?: string; error?: string }>;
  close(): Promise<void>;
}

export interface StartUvsdOptions {
  extraArgs?: string[];
  /** Node flags before bin/uvsd (e.g. --trace-gc, --cpu-prof; bench/statefile-load.ts). */
  nodeArgs?: string[];
  /** Readiness polls of the control socket (default 200, every 50 ms: waitForControl). */
  readyTries?: number;
  /** Variables added to uvsd's environment. */
  env?: NodeJS.ProcessEnv;
  /** A command uvsd runs under (e.g. ['prlimit', '--nofile=256']). */
  wrap?: string[];
  /** 'default': uvsd's own --conn-max (1,048,576) instead of the lab's LAB_CONN_MAX. */
  connMax?: 'default';
}

/**
 * The lab's --conn-max, given before a test's own options (a --conn-max among them wins): no lab
 * holds more than a few thousand entries, and a table is prefaulted at start (src/datapath/
 * conntable.ts): at the default 1,048,576 entries (~100 MB) that was ~80 ms of CPU and 60-100 ms
 * of wall of each lab start here (~0.6 s), on the path of ~110 lab starts in `npm test`. The default
 * size is started by the tests that start bin/uvsd themselves (uvsd-cli, uvsd-signals,
 * integration-instances, ...), by integration-control's `--status` test, which checks it, and by
 * `npm run demo` (the command it prints has no --conn-max).
 */
export const LAB_CONN_MAX = 65536;

/**
 * What the lab helpers' uvsd starts (this file's, ha-lab.ts's, ecmp-lab.ts's) add in a lab-class test
 * file (`// test-class: lab`, docs/lab.md): `--no-jit-warmup`. Those files' bounds are seconds wide
 * (they run beside the shared files), and the warm-up (src/datapath/warmup.ts, the control verbs')
 * is 0.11-0.22 s of wall and ~0.3 s of CPU of each start, on the path of the labs' chain in `npm
 * test`. The alone files, the demo and the benchmark start uvsd as a user does, warm-up included.
 */
export const LAB_START_ARGS: readonly string[] = labClassFile(process.argv[1]) ? ['--no-jit-warmup'] : [];

/** Whether file is a lab-class test file (what LAB_START_ARGS is decided by, for the file node runs). */
export function labClassFile(file: string | undefined): boolean {
  return file !== undefined && file.endsWith('.test.js') && existsSync(file) && kindOf(file) === 'lab';
}

export interface DrLab {
  lab: Lab;
  ns: { dir: string; cli: string; clients: string[]; rs: string[] };
  servers: RealServer[];
  vip: string;
  vips: string[];
  dirAddr: string;
  clientAddr: string;
  uvsdMac: string;
  socketPath: string;
  tmp: string;
  uvsd: Proc | null;
  mode: LabMode;
  /** The decap helpers (tun mode), one per real server. */
  decaps: Proc[];
  /** GET /big?bytes=n (or POST n bytes to /sha256 with up) from the client. */
  transfer(bytes: number, o?: { up?: boolean; target?: string; ns?: string; maxMs?: number }): Promise<{ server: string; bytes: number; sha256: string; expected: string }>;
  /** Open n concurrent connections (one request each) and keep them open until release(). */
  openConns(n: number, o?: { target?: string; ns?: string; timeoutMs?: number }): Promise<{ ok: number; errors: number; errorSamples: string[]; localPorts: number[]; release(): Promise<void> }>;
  /** The connection table (control verb 'connections'). */
  connections(): Promise<ConnInfo[]>;
  /** Any control verb. */
  call<V extends keyof Verbs>(verb: V, args: Verbs[V]['args']): Promise<Verbs[V]['result']>;
  /** (Re)start servers.js in a real server's namespace and wait for its ready line. */
  startServer(s: RealServer): Promise<void>;
  /** Start uvsd in the director namespace and wait until `uvsadm -Ln` answers. */
  startUvsd(opts?: StartUvsdOptions | string[]): Promise<Proc>;
  /** SIGTERM uvsd and wait for it to exit; returns its exit code. */
  stopUvsd(): Promise<number | null>;
  /** Is uvsd still running? */
  uvsdAlive(): boolean;
  /**
   * uvsadm --socket <sock> ...args, `input` on its stdin (-R), else none: uvsadm's main() in
   * this process (the parser, the requests over the socket, the output and the exit status of
   * bin/uvsadm, without a node start: 0.1-0.5 s each). uvsadmProcess for what is about the process.
   */
  uvsadm(args: string[], input?: string): Promise<ExecResult>;
  /** bin/uvsadm --socket <sock> ...args as a child process (no namespace needed). */
  uvsadmProcess(args: string[], input?: string): Promise<ExecResult>;
  /** Like uvsadm, but throws on non-zero exit. */
  uvsadmMust(args: string[], input?: string): Promise<string>;
  /** Run the client script in a client namespace with raw args. */
  client(args: string[], opts?: { ns?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** N HTTP requests (new connection each unless keepalive) to target (default VIP:80). */
  http(count: number, opts?: { target?: string; keepalive?: boolean; ns?: string; parallel?: number; timeoutMs?: number; sport?: number }): Promise<ClientTally>;
  /**
   * N UDP datagrams, each from a new source port (sport, sport+1, ... when given; padded to size
   * bytes), to target (default VIP:53); connect: from connected sockets (an ICMP error fails one).
   */
  udp(count: number, opts?: { target?: string; ns?: string; sport?: number; size?: number; bigReply?: boolean; connect?: boolean; timeoutMs?: number }): Promise<ClientTally>;
  /**
   * The first of `count` source ports no earlier call of this lab was given (22000-28999, below
   * the ephemeral range, cycling): udp() without sport takes them, so a datagram never reuses
   * the port, and so the connection, of an earlier run's.
   */
  freshPorts(count: number): number;
  /** Open one keep-alive HTTP connection and keep it for further requests. */
  hold(opts?: { target?: string; ns?: string }): Promise<HoldConn>;
  /** Control API: status (drops, counters) and list. */
  status(): Promise<StatusResult>;
  list(): Promise<ListResult>;
  destroy(): Promise<void>;
}

/** Run `node <file>` with the current Node binary. */
export function nodeArgv(file: string, args: string[]): string[] {
  return [process.execPath, file, ...args];
}

/**
 * uvsd's command line as bin/uvsd ends up running it: node with the flags of
 * src/cli/node-flags.ts given here, so bin/uvsd finds them and does not start node a second time
 * (that costs ~170 ms per start; uvsd-cli.test.ts checks bin/uvsd's own re-exec).
 */
export function uvsdArgv(args: string[], nodeArgs: string[] = []): string[] {
  return [process.execPath, ...UVSD_NODE_FLAGS, ...nodeArgs, join(repoRoot, 'bin', 'uvsd'), ...args];
}

/**
 * uvsadm --socket <socketPath> ...args, `input` on its stdin (-R), else none, as uvsadm's main()
 * in this process: bin/uvsadm's parser, requests, output and exit status without a node start
 * (0.1-0.5 s of CPU each). The labs' uvsadm(); a test about the process spawns bin/uvsadm (uvsadmArgv).
 */
export async function uvsadmInProcess(socketPath: string, args: string[], input?: string): Promise<ExecResult> {
  let stdout = '';
  let stderr = '';
  const code = await uvsadmMain(['node', 'bin/uvsadm', '--socket', socketPath, ...args], {
    out: (s) => void (stdout += s),
    err: (s) => void (stderr += s),
    stdin: async () => input ?? '',
  });
  return { code, stdout, stderr };
}

/** uvsadmInProcess, its stdout; throws with its stderr on a non-zero exit. */
export async function uvsadmInProcessMust(socketPath: string, args: string[], input?: string): Promise<string> {
  const r = await uvsadmInProcess(socketPath, args, input);
  if (r.code !== 0) throw new Error(`uvsadm --socket ${socketPath} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export function uvsadmArgv(args: string[]): string[] {
  return nodeArgv(join(repoRoot, 'bin', 'uvsadm'), args);
}

/**
 * The ring backend's link in namespace ns: veth `name` (uvsd's end, no address, IPv6 off) with its
 * peer `name`p enslaved to bridge. The peer hands over whole, checksummed frames (TSO/GSO and
 * checksum offload off, so the kernel segments and checksums before the veth), as a TAP would.
 */
export async function addRingVeth(lab: Lab, ns: string, bridge: string, name = 'uvs0'): Promise<void> {
  const peer = `${name}p`;
  await lab.addVeth({ ns, ifname: name }, { ns, ifname: peer });
  await lab.exec(ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${name}.disable_ipv6=1`]);
  // ethtool (.ci/run installs it) is required: without it large segments would be cut by the ring.
  await lab.must(['ethtool', '-K', peer, 'tx', 'off', 'tso', 'off', 'gso', 'off'], ns);
  await lab.must(['ethtool', '-K', name, 'gro', 'off'], ns);
  await lab.attach(ns, peer, bridge);
}

export async function createDrLab(opts: DrLabOptions = {}): Promise<DrLab> {
  const nServers = opts.servers ?? 2;
  const nClients = opts.clients ?? 1;
  if (nServers < 1 || nServers > 15) throw new Error('servers must be 1..15');
  if (nClients < 1 || nClients > 50) throw new Error('clients must be 1..50');
  const vips = opts.vips ?? [VIP];
  const log = opts.log ?? (() => {});
  const base = opts.base ?? 'uvs';
  const mode = opts.mode ?? 'dr';
  const httpPorts = opts.httpPorts ?? [80, 8080];
  const decaps: Proc[] = [];

  await Lab.cleanupLeftovers(base);
  const lab = opts.lab ?? new Lab(base);
  const tmp = mkdtempSync(join(tmpdir(), `${lab.prefix}-`));
  const socketPath = join(tmp, 'uvsd.sock');
  const servers: RealServer[] = [];
  const clients: string[] = [];
  let dir = '';
  const startServer = async (s: RealServer): Promise<void> => {
    if (s.proc && !s.proc.done()) throw new Error(`${s.name}: servers.js already running`);
    const bind = mode === 'dr' || mode === 'tun' ? [...vips, s.addr] : [s.addr];
    const argv = nodeArgv(join(here, 'servers.js'), ['--name', s.name, '--http-port', httpPorts.join(','), '--udp-port', '53', '--bind', bind.join(',')]);
    s.proc = lab.spawn(s.ns, argv, { cwd: repoRoot });
    await s.proc.waitForLine(/^ready /, 10_000);
  };

  try {
    log(`creating namespaces with prefix ${lab.prefix}`);
    dir = await lab.addNs('dir');
    await lab.addBridge(dir, 'br0');
    if (opts.port === 'ring') await addRingVeth(lab, dir, 'br0');

    const hosts: HostSpec[] = [];
    for (let i = 0; i < nClients; i++) {
      const role = i === 0 ? 'cli' : `cli${i + 1}`;
      hosts.push({ role, ifs: [{ portName: `v${role}`, addr: `${SUBNET}.${100 + i}/24` }] });
    }
    if (opts.offLink) {
      if (mode === 'dr' || mode === 'nat') throw new Error(`offLink is not for ${mode}`);
      // FULLNAT servers answer the LIP: back through the router to the director's network.
      hosts.push({
        role: 'gw', sysctl: { 'net.ipv4.ip_forward': 1 },
        ifs: [{ portName: 'vgw0', ifname: 'eth0', addr: `${GW_ADDR}/24` }, { portName: 'vgw1', ifname: 'eth1', addr: `${ROUTED_SUBNET}.1/24` }],
      });
    }
    const holdsVip = mode === 'dr' || mode === 'tun';
    for (let i = 1; i <= nServers; i++) {
      const name = `rs${i}`;
      const addr = `${mode === 'nat' ? NAT_SUBNET : opts.offLink ? ROUTED_SUBNET : SUBNET}.${10 + 10 * i}`;
      hosts.push({
        role: name, ifs: [{ portName: `v${name}`, addr: `${addr}/24` }], loAddrs: mode === 'dr' ? vips : [],
        sysctl: holdsVip ? Object.fromEntries(['all', 'default', 'eth0'].flatMap((d) => [[`net.ipv4.conf.${d}.arp_ignore`, 1], [`net.ipv4.conf.${d}.arp_announce`, 2]])) : {},
        // NAT: the replies must come back through the director.
        routes: mode === 'nat' ? [['default', 'via', NAT_DIR_ADDR]] : opts.offLink ? [['default', 'via', `${ROUTED_SUBNET}.1`]] : [],
      });
      servers.push({ name, ns: lab.nsName(name), addr, proc: null });
    }
    clients.push(...(await lab.addHosts(dir, 'br0', hosts)).slice(0, nClients));
    if (mode === 'tun') {
      // IPIP and GRE always; GUE on the port the tunnel tests use (ipvsadm --tun-port).
      for (const s of servers) {
        const p = lab.spawn(s.ns, nodeArgv(join(repoRoot, 'bin', 'uvs-decap'), ['--vip', vips.join(','), '--dev', 'eth0', '--gue-port', String(LAB_GUE_PORT)]), { cwd: repoRoot });
        decaps.push(p);
      }
      await Promise.all(decaps.map((p) => p.waitForLine(/uvs-decap ready/, 10_000)));
    }

    if (opts.hostAddr !== undefined) await lab.must(['ip', 'addr', 'add', opts.hostAddr, 'dev', 'br0'], dir);
    if (opts.startServers ?? true) {
      await Promise.all(servers.map((s) => startServer(s)));
      log(`real servers up: ${servers.map((s) => `${s.name}=${s.addr}`).join(', ')}`);
    }
  } catch (e) {
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }

  const clientJs = join(here, 'client.js');
  const clientRuns = new NsClients(lab, (args) => nodeArgv(clientJs, args), repoRoot);
  let nextPort = 22000;

  const self: DrLab = {
    lab,
    ns: { dir, cli: clients[0]!, clients, rs: servers.map((s) => s.ns) },
    servers,
    vip: vips[0]!,
    vips,
    dirAddr: DIR_ADDR,
    clientAddr: `${SUBNET}.100`,
    uvsdMac: UVSD_MAC,
    socketPath,
    tmp,
    uvsd: null,
    mode,
    decaps,

    async transfer(bytes, o = {}) {
      const args = [o.up ? '--upload' : '--download', o.target ?? `${vips[0]}:80`, '--bytes', String(bytes), '--max-ms', String(o.maxMs ?? 20_000)];
      const r = await self.client(args, { ns: o.ns, timeoutMs: (o.maxMs ?? 20_000) + 5_000 });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      if (r.code !== 0 || !line.startsWith('{')) throw new Error(`transfer failed (${r.code}): ${r.stderr.trim()} ${r.stdout.trim()}`);
      return JSON.parse(line) as { server: string; bytes: number; sha256: string; expected: string };
    },

    async openConns(n, o = {}) {
      const p = lab.spawn(o.ns ?? clients[0]!, nodeArgv(clientJs, ['--conns', o.target ?? `${vips[0]}:80`, '--count', String(n), '--max-ms', '60000', '--timeout', String(o.timeoutMs ?? 15_000)]), { cwd: repoRoot, maxCapture: 8 * 1024 * 1024 });
      const line = await p.waitForLine(/"n":1\}$/, 30_000);
      const r = JSON.parse(line) as { ok: number; errors: number; errorSamples: string[]; localPorts: number[] };
      return {
        ...r,
        async release() {
          p.child.stdin!.write('close\n');
          await p.waitForLine(/"n":2\}$/, 10_000).catch(() => '');
          await p.stop(2000);
        },
      };
    },

    async connections() {
      return controlCall(socketPath, 'connections', {});
    },

    call(verb, args) {
      return controlCall(socketPath, verb, args);
    },
    startServer,

    async startUvsd(o?: StartUvsdOptions | string[]): Promise<Proc> {
      const so: StartUvsdOptions = Array.isArray(o) ? { extraArgs: o } : (o ?? {});
      if (self.uvsd && !self.uvsd.done()) throw new Error('uvsd already running');
      const argv = uvsdArgv([
        ...(opts.port === 'ring' ? ['--port', 'af_packet:uvs0'] : ['--tap', 'uvs0', '--bridge', 'br0']),
        '--addr', `${DIR_ADDR}/24`,
        '--socket', socketPath,
        '--mac', UVSD_MAC,
        ...(mode === 'nat' ? ['--addr', `${NAT_DIR_ADDR}/24`] : []),
        ...(opts.offLink ? ['--gateway', GW_ADDR] : []),
        // An ARP probe is answered within a millisecond on the lab's bridge: 50 ms (not the 300 ms
        // a LAN gets; probes at 0 and 25 ms) still catches a conflict and takes ~0.25 s less per
        // new VIP and per start.
        '--arp-probe-ms', '50',
        // The lab's clients open many connections from one address to services without a
        // server: with the kernel's per-source ICMP limit (one a second) each refused connect()
        // beyond 6 waited for its SYN retries (+15 s in one test). Its own tests: unit-icmp-unreach.
        '--icmp-ratelimit', '0',
        ...(so.connMax === 'default' ? [] : ['--conn-max', String(LAB_CONN_MAX)]),
        ...LAB_START_ARGS,
        ...(so.extraArgs ?? []),
        // The suites in another mode by hand, e.g. UVS_TEST_UVSD_ARGS='--datapath-thread' (docs/lab.md).
        ...(process.env.UVS_TEST_UVSD_ARGS ?? '').split(' ').filter((x) => x !== ''),
      ], so.nodeArgs);
      const p = lab.spawn(dir, [...(so.wrap ?? []), ...argv], { cwd: repoRoot, maxCapture: 4 * 1024 * 1024, ...(so.env === undefined ? {} : { env: { ...process.env, ...so.env } }) });
      self.uvsd = p;
      const why = await waitForControl(socketPath, p, so.readyTries ?? 200);
      if (why === '') return p;
      const code = p.done() ? await p.exited : null;
      await p.stop(1000);
      throw new Error(
        `uvsd not ready (${code === null ? why : `exited with ${code}`}); ` +
          `uvsd stderr: ${p.stderr().slice(-2000)}; uvsd stdout: ${p.stdout().slice(-2000)}`,
      );
    },

    async stopUvsd(): Promise<number | null> {
      if (!self.uvsd) return null;
      return self.uvsd.stop(3000);
    },

    uvsdAlive(): boolean {
      return !!self.uvsd && !self.uvsd.done();
    },

    uvsadm(args: string[], input?: string): Promise<ExecResult> {
      return uvsadmInProcess(socketPath, args, input);
    },

    uvsadmProcess(args: string[], input?: string): Promise<ExecResult> {
      return lab.exec(null, uvsadmArgv(['--socket', socketPath, ...args]), { cwd: repoRoot, timeoutMs: 15_000, ...(input !== undefined ? { input } : {}) });
    },

    async uvsadmMust(args: string[], input?: string): Promise<string> {
      const r = await self.uvsadm(args, input);
      if (r.code !== 0) throw new Error(`uvsadm ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    },

    client(args: string[], o: { ns?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
      return clientRuns.run(o.ns ?? clients[0]!, args, o.timeoutMs ?? 120_000);
    },

    async http(count, o = {}): Promise<ClientTally> {
      const args = ['--http', o.target ?? `${vips[0]}:80`, '--count', String(count)];
      if (o.keepalive) args.push('--keepalive');
      if (o.parallel) args.push('--parallel', String(o.parallel));
      if (o.timeoutMs) args.push('--timeout', String(o.timeoutMs));
      if (o.sport !== undefined) args.push('--sport', String(o.sport));
      return parseTally(await self.client(args, { ns: o.ns }));
    },

    async udp(count, o = {}): Promise<ClientTally> {
      const args = ['--udp', o.target ?? `${vips[0]}:53`, '--count', String(count), ...(o.size ? ['--size', String(o.size)] : [])];
      args.push('--sport', String(o.sport ?? self.freshPorts(count)));
      if (o.connect) args.push('--connect');
      if (o.bigReply) args.push('--big-reply');
      if (o.timeoutMs !== undefined) args.push('--timeout', String(o.timeoutMs));
      return parseTally(await self.client(args, { ns: o.ns }));
    },

    freshPorts(count) {
      if (nextPort + count > 29000) nextPort = 22000;
      const first = nextPort;
      nextPort += count;
      return first;
    },

    async hold(o = {}): Promise<HoldConn> {
      const p = lab.spawn(o.ns ?? clients[0]!, nodeArgv(clientJs, ['--hold', o.target ?? `${vips[0]}:80`]), { cwd: repoRoot });
      let seen = 0;
      const nextAnswer = async (): Promise<{ server?: string; error?: string; localPort?: number }> => {
        seen++;
        const want = seen;
        const line = await p.waitForLine(new RegExp(`"n":${want}\\}$`), 10_000);
        return JSON.parse(line) as { server?: string; error?: string; localPort?: number };
      };
      const first = await nextAnswer();
      return {
        first,
        async again() {
          p.child.stdin!.write('again\n');
          return nextAnswer();
        },
        async close() {
          p.child.stdin!.end();
          await within(p.exited, 3000, null);
          await p.stop(1000);
        },
      };
    },

    async status(): Promise<StatusResult> {
      return controlCall(socketPath, 'status', {});
    },

    async list(): Promise<ListResult> {
      return controlCall(socketPath, 'list', {});
    },

    async destroy(): Promise<void> {
      try {
        if (self.uvsd && !self.uvsd.done()) await self.uvsd.stop(3000);
      } finally {
        await lab.destroy();
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
  return self;
}

function parseTally(r: ExecResult): ClientTally {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) {
    throw new Error(`client failed (${r.code}): ${r.stderr.trim()} ${r.stdout.trim()}`);
  }
  return JSON.parse(line) as ClientTally;
}

/** One control call through the product's client (src/control/client.ts). */
async function controlCall<V extends keyof Verbs>(socketPath: string, verb: V, args: Verbs[V]['args'], timeoutMs?: number): Promise<Verbs[V]['result']> {
  const c = await ControlClient.connect(socketPath, { timeoutMs });
  try {
    return await c.call(verb, args);
  } finally {
    c.close();
  }
}

/**
 * A mutating uvsadm command (-A, -a, -d, -e, -Z ...) without a uvsadm process: the command line
 * parsed as uvsadm parses it and its one verb sent over the control socket as uvsadm sends it. For
 * loops of many changes, where a node start per command (0.1-0.5 s) is most of the time; the
 * command's output is nothing to read (these print nothing).
 */
export async function uvsadmCall(socketPath: string, args: string[], timeoutMs?: number): Promise<void> {
  const cmd = parseArgs(['--socket', socketPath, ...args], { env: {} });
  if (cmd.kind !== 'call') throw new Error(`uvsadm ${args.join(' ')}: not one verb (${cmd.kind})`);
  try {
    await controlCall(socketPath, cmd.call.verb, cmd.call.args as never, timeoutMs);
  } catch (e) {
    throw new Error(`uvsadm ${args.join(' ')} failed: ${String(e)}`);
  }
}

/**
 * `uvsadm -R` with `text` on its stdin, without a uvsadm process: the lines parsed as uvsadm
 * parses them and sent as its one 'batch' verb, as uvsadm sends it (all or nothing).
 */
export async function uvsadmRestoreCall(socketPath: string, text: string, timeoutMs?: number): Promise<void> {
  const rules = parseRules(text);
  try {
    await controlCall(socketPath, 'batch', { items: rules.calls }, timeoutMs);
  } catch (e) {
    throw new Error(`uvsadm -R failed: ${String(e)}`);
  }
}
