// Low-level network-namespace lab primitives shared by the integration tests, the demo and
// the benchmark driver. Everything a Lab creates carries a per-run prefix that encodes the
// owning pid, so a later run can delete what a crashed run left behind without touching the
// namespaces of a run that is still alive.
import { execFile, execFileSync, spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Kill the command after this many ms (default 20 s). */
  timeoutMs?: number;
  /** Written to the command's stdin. */
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Collect stdout/stderr into the returned Proc (default true). */
  capture?: boolean;
  /** Keep at most this many characters of captured output (default 1 MB). */
  maxCapture?: number;
}

/** A child process started by the lab; killed by Lab.destroy(). */
export interface Proc {
  child: ChildProcess;
  ns: string | null;
  argv: string[];
  /** Captured output so far (when capture is on). */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128+signal) once the process has exited. */
  exited: Promise<number>;
  /** True once the process has exited. */
  done(): boolean;
  /** Resolves with the first stdout line matching `re` within timeoutMs; rejects otherwise. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when gone. */
  stop(graceMs?: number): Promise<number>;
}

export interface VethEnd {
  ns: string;
  ifname: string;
}

/** A host for Lab.addHosts: its namespace's role name, its links into the bridge and its setup. */
export interface HostSpec {
  role: string;
  /** Links into the bridge: the bridge-side veth end, the host's end (default eth0), its CIDR address, a fixed MAC. */
  ifs: { portName: string; ifname?: string; addr?: string; mac?: string }[];
  /** Extra /32 addresses on lo (DR/TUN real servers hold the VIP there). */
  loAddrs?: string[];
  sysctl?: Record<string, string | number>;
  /** Arguments of `ip route add`, one list per route. */
  routes?: string[][];
}

export interface HostIfOptions {
  /** Namespace of the host end. */
  ns: string;
  /** Interface name inside the host namespace (default eth0). */
  ifname?: string;
  /** CIDR address on the host end, e.g. 192.168.8.100/24. */
  addr?: string;
  /** Extra /32 addresses put on lo (DR/TUN real servers hold the VIP there). */
  loAddrs?: string[];
  /** Fixed MAC for the host end. */
  mac?: string;
  /** Namespace that holds the bridge, and the bridge's name. */
  bridgeNs: string;
  bridge: string;
  /** Name of the bridge-side veth end (<= 15 chars, unique in bridgeNs). */
  portName: string;
}

const IFNAMSIZ_MAX = 15;

/**
 * The environment for lab children: ours without NODE_TEST_CONTEXT, which the node:test runner
 * sets for test files and which would make Node scripts behave as test children.
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const e = { ...env };
  delete e['NODE_TEST_CONTEXT'];
  return e;
}

function run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      {
        timeout: opts.timeoutMs ?? 20_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        cwd: opts.cwd,
        env: childEnv(opts.env),
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown; signal?: string | null; killed?: boolean };
          if (typeof e.code === 'number') code = e.code;
          else if (e.killed || e.signal) code = 124;
          else code = 127;
          if (!stderr && !(typeof e.code === 'number')) stderr = String(err.message);
        }
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether a program is on the PATH (`command -v`). */
export function hasCommand(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the lab cannot run here, or null when it can (root, /dev/net/tun, `ip netns`). */
export function labUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (network namespaces and a TAP device)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe', timeout: 5000 });
  } catch {
    return '`ip netns` is not available (install iproute2)';
  }
  return null;
}

export class Lab {
  /** Per-run prefix, e.g. uvs1234xa1b2; every namespace name starts with it. */
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<Proc>();
  private destroyed = false;

  constructor(base = 'uvs') {
    this.prefix = `${base}${process.pid}x${randomBytes(2).toString('hex')}`;
  }

  /**
   * Delete namespaces whose name starts with `base<pid>x` where <pid> is no longer alive
   * (left behind by a crashed run). Processes still inside them are killed first.
   * Returns the names deleted.
   */
  static async cleanupLeftovers(base = 'uvs'): Promise<string[]> {
    const list = await run(['ip', 'netns', 'list']);
    if (list.code !== 0) return [];
    const re = new RegExp(`^${base.replace(/[^A-Za-z0-9_]/g, '\\$&')}(\\d+)x[0-9a-f]+-`);
    const deleted: string[] = [];
    for (const line of list.stdout.split('\n')) {
      const name = line.trim().split(/\s+/)[0];
      if (!name) continue;
      const m = re.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid === process.pid || pidAlive(pid)) continue;
      await killNsPids(name);
      const r = await run(['ip', 'netns', 'del', name]);
      if (r.code === 0) deleted.push(name);
    }
    return deleted;
  }

  /** Full namespace name for a short role name (dir, cli, rs1 ...). */
  nsName(role: string): string {
    return `${this.prefix}-${role}`;
  }

  /** Create namespace <prefix>-<role> with lo up and IPv6 off (keeps the wire quiet). */
  async addNs(role: string): Promise<string> {
    const ns = await this.createNs(role);
    await this.must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await this.sysctl(ns, NO_IPV6);
    return ns;
  }

  /** The namespace of `role`, made and recorded for destroy(); nothing set up in it yet. */
  private async createNs(role: string): Promise<string> {
    const ns = this.nsName(role);
    await this.must(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    return ns;
  }

  get nsList(): readonly string[] {
    return this.namespaces;
  }

  /** Run argv inside ns (or in the current namespace when ns is null). */
  exec(ns: string | null, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run(ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv, opts);
  }

  /** Like exec, but throws with the command's stderr when it fails. */
  async must(argv: string[], ns: string | null = null, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(ns, argv, opts);
    if (r.code !== 0) {
      throw new Error(`${ns ? `[${ns}] ` : ''}${argv.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    }
    return r.stdout;
  }

  /** Set sysctls inside ns. Keys are dotted (net.ipv4.conf.all.arp_ignore). */
  async sysctl(ns: string, kv: Record<string, string | number>): Promise<void> {
    const args = Object.entries(kv).map(([k, v]) => `${k}=${v}`);
    if (args.length) await this.must(['sysctl', '-q', '-w', ...args], ns);
  }

  /** Start a long-running process inside ns (null = current namespace); killed on destroy. */
  spawn(ns: string | null, argv: string[], opts: SpawnOptions = {}): Proc {
    const full = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
    const child = spawnChild(full[0]!, full.slice(1), {
      cwd: opts.cwd,
      env: childEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const capture = opts.capture ?? true;
    const max = opts.maxCapture ?? 1024 * 1024;
    let out = '';
    let err = '';
    let finished = false;
    const lineWaiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      if (capture && out.length < max) out += d;
      if (lineWaiters.length) {
        partial += d;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          for (let i = lineWaiters.length - 1; i >= 0; i--) {
            const w = lineWaiters[i]!;
            if (w.re.test(line)) {
              lineWaiters.splice(i, 1);
              w.resolve(line);
            }
          }
        }
      } else partial = '';
    });
    child.stderr!.on('data', (d: string) => {
      if (capture && err.length < max) err += d;
    });
    child.stdin!.on('error', () => {});
    const exited = new Promise<number>((resolve) => {
      child.once('error', (e) => {
        if (!capture) return;
        err += String(e);
      });
      child.once('close', (code, signal) => {
        finished = true;
        this.procs.delete(proc);
        resolve(code ?? (signal ? 128 + (osSignal(signal) ?? 0) : 1));
      });
    });
    const proc: Proc = {
      child,
      ns,
      argv,
      stdout: () => out,
      stderr: () => err,
      exited,
      done: () => finished,
      waitForLine: (re, timeoutMs = 10_000) => {
        const already = out.split('\n').find((l) => re.test(l));
        if (already !== undefined) return Promise.resolve(already);
        return new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => {
            const i = lineWaiters.indexOf(w);
            if (i >= 0) lineWaiters.splice(i, 1);
            reject(new Error(`timeout waiting for ${re} from ${argv.join(' ')}; stderr: ${err.slice(-2000)}`));
          }, timeoutMs);
          const w = {
            re,
            resolve: (l: string) => {
              clearTimeout(timer);
              resolve(l);
            },
          };
          lineWaiters.push(w);
          void exited.then((code) => {
            const i = lineWaiters.indexOf(w);
            if (i >= 0) {
              lineWaiters.splice(i, 1);
              clearTimeout(timer);
              reject(new Error(`${argv.join(' ')} exited (${code}) before printing ${re}; stderr: ${err.slice(-2000)}`));
            }
          });
        });
      },
      stop: async (graceMs = 3000) => {
        if (finished) return exited;
        try {
          child.kill('SIGTERM');
        } catch {
          /* already gone */
        }
        const t = setTimeout(() => {
          try {
            child.kill('SIGKILL');
          } catch {
            /* already gone */
          }
        }, graceMs);
        const code = await exited;
        clearTimeout(t);
        return code;
      },
    };
    this.procs.add(proc);
    return proc;
  }

  /** Create a bridge (no address) in ns and bring it up. STP off: ports forward at once. */
  async addBridge(ns: string, name = 'br0'): Promise<void> {
    checkIfName(name);
    await this.must(['ip', '-n', ns, 'link', 'add', name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await this.must(['ip', '-n', ns, 'link', 'set', name, 'up']);
    // br_netfilter may be loaded on the host: keep bridged frames out of this namespace's
    // iptables/arptables (the keys exist only with br_netfilter, so a failure is harmless).
    await this.exec(ns, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-arptables=0']);
  }

  /** A veth pair between two namespaces; both ends up. */
  async addVeth(a: VethEnd, b: VethEnd, opts: { macA?: string; macB?: string } = {}): Promise<void> {
    checkIfName(a.ifname);
    checkIfName(b.ifname);
    const argv = ['ip', '-n', a.ns, 'link', 'add', a.ifname];
    if (opts.macA) argv.push('address', opts.macA);
    argv.push('type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns);
    if (opts.macB) argv.push('address', opts.macB);
    await this.must(argv);
    await this.must(['ip', '-n', a.ns, 'link', 'set', a.ifname, 'up']);
    await this.must(['ip', '-n', b.ns, 'link', 'set', b.ifname, 'up']);
  }

  /** Enslave an interface to a bridge in the same namespace. */
  async attach(ns: string, ifname: string, bridge: string): Promise<void> {
    await this.must(['ip', '-n', ns, 'link', 'set', ifname, 'master', bridge]);
  }

  /**
   * A host attached to a bridge: veth with `portName` in the bridge namespace (enslaved) and
   * `ifname` (eth0) in the host namespace with its address, plus optional /32s on lo.
   */
  async addHostIf(o: HostIfOptions): Promise<void> {
    const link = linkLines(o.ns, o.bridge, o);
    await this.batch(o.bridgeNs, link.bridgeSide);
    await this.batch(o.ns, [...link.hostSide, ...loLines(o.loAddrs)]);
  }

  /** `ip` commands (without the `ip`) run in ns by one `ip -batch`; throws at the first that fails. */
  async batch(ns: string, lines: string[]): Promise<void> {
    await this.must(['ip', '-n', ns, '-batch', '-'], null, { input: `${lines.join('\n')}\n` });
  }

  /**
   * Hosts on a bridge, each a namespace as addNs and addHostIf make them (lo up, IPv6 off, veths
   * into the bridge, addresses, sysctls, routes), in one command for the bridge side and two per
   * host (ip -batch) rather than about ten per host: a command costs ~10 ms, so a lab of a
   * client and two servers is ready ~0.25 s sooner. Returns the namespaces, in the hosts' order.
   */
  async addHosts(bridgeNs: string, bridge: string, hosts: HostSpec[]): Promise<string[]> {
    const names: string[] = [];
    for (const h of hosts) names.push(await this.createNs(h.role));
    const bridgeSide: string[] = [];
    const hostSide = hosts.map((h, i) => {
      const lines = ['link set lo up'];
      for (const f of h.ifs) {
        const link = linkLines(names[i]!, bridge, f);
        bridgeSide.push(...link.bridgeSide);
        lines.push(...link.hostSide);
      }
      return [...lines, ...loLines(h.loAddrs), ...(h.routes ?? []).map((r) => `route add ${r.join(' ')}`)];
    });
    await this.batch(bridgeNs, bridgeSide);
    await Promise.all(hosts.map(async (h, i) => {
      const ns = names[i]!;
      // Setting `all` turns IPv6 off on eth0 too (made above, still down: nothing sent yet).
      await this.sysctl(ns, { ...NO_IPV6, ...h.sysctl });
      await this.batch(ns, hostSide[i]!);
    }));
    return names;
  }

  /** MAC address of an interface. */
  async macOf(ns: string, ifname: string): Promise<string> {
    const out = await this.must(['ip', '-n', ns, '-o', 'link', 'show', ifname]);
    const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
    if (!m) throw new Error(`no MAC for ${ifname} in ${ns}`);
    return m[1]!;
  }

  /** Kill every tracked child, then every other process in our namespaces, then delete them. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.stop(2000)));
    for (const ns of [...this.namespaces].reverse()) {
      await killNsPids(ns);
      await run(['ip', 'netns', 'del', ns], { timeoutMs: 10_000 });
    }
    this.namespaces.length = 0;
  }

  /** Synchronous last-resort teardown (for process 'exit' handlers). */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) {
      try {
        p.child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const ns of [...this.namespaces].reverse()) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
        for (const p of pids.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      } catch {
        /* ignore */
      }
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      } catch {
        /* ignore */
      }
    }
    this.namespaces.length = 0;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

/** Every lab namespace runs without IPv6 (addNs, addHosts): nothing but the test's own traffic. */
const NO_IPV6 = { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 };

/** A host's link into a bridge (HostSpec.ifs; HostIfOptions has the same fields). */
type HostLink = HostSpec['ifs'][number];

/**
 * One host link as `ip -batch` lines: the bridge side (the veth made with its peer in hostNs, up,
 * enslaved to the bridge) and the host side (the peer up, its address).
 */
function linkLines(hostNs: string, bridge: string, f: HostLink): { bridgeSide: string[]; hostSide: string[] } {
  const dev = f.ifname ?? 'eth0';
  checkIfName(f.portName);
  checkIfName(dev);
  return {
    bridgeSide: [`link add ${f.portName} type veth peer name ${dev} netns ${hostNs}${f.mac ? ` address ${f.mac}` : ''}`,
      `link set ${f.portName} up`, `link set ${f.portName} master ${bridge}`],
    hostSide: [`link set ${dev} up`, ...(f.addr ? [`addr add ${f.addr} dev ${dev}`] : [])],
  };
}

/** /32s (unless a prefix is given) on lo, as `ip -batch` lines. */
function loLines(addrs: readonly string[] = []): string[] {
  return addrs.map((a) => `addr add ${a.includes('/') ? a : `${a}/32`} dev lo`);
}

function checkIfName(name: string): void {
  if (name.length === 0 || name.length > IFNAMSIZ_MAX) throw new Error(`interface name '${name}' must be 1..15 chars`);
}

function osSignal(sig: NodeJS.Signals): number | undefined {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };
  return map[sig];
}

/** Kill remaining processes in a namespace (TERM, then KILL), bounded. */
async function killNsPids(ns: string): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const r = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 5000 });
    const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((p) => p !== process.pid);
    if (pids.length === 0) return;
    for (const p of pids) {
      try {
        process.kill(p, round < 5 ? 'SIGTERM' : 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await delay(100);
  }
}

/** Promise that resolves after ms. */
export { delay };

/** What p gives, or `late` after ms, its timer cleared when p settles first (src/timers.ts). */
export { within } from '../../src/timers.js';
