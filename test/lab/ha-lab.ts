// The high-availability lab (docs/ha.md): two directors on one LAN, keepalived VRRP in each.
//
//   <prefix>-sw   br0: the shared LAN (every host and both directors' uplinks)
//   <prefix>-cli  eth0 192.168.8.100/24
//   <prefix>-rs1  eth0 10.8.1.20/24, default via 10.8.1.1 (NAT servers: the floating DIP)
//   <prefix>-rs2  eth0 10.8.1.30/24, default via 10.8.1.1
//   <prefix>-rs3  eth0 192.168.8.20/24, lo 192.168.8.202/32 (FULLNAT and DR servers)
//   <prefix>-rs4  eth0 192.168.8.30/24, lo 192.168.8.202/32
//   <prefix>-d1   br0 192.168.8.11/24 (the host's own stack: keepalived, the sync socket)
//                 ├─ up0 (veth to sw/br0)
//                 └─ uvs0 (TAP) ── uvsd, MAC 02:00:00:00:00:01,
//                      --addr 192.168.8.13/24, 10.8.1.2/24 (fixed), 10.8.1.1/24,floating
//                 lo 169.254.51.1/32 while VRRP master: keepalived's required address, off the LAN
//   <prefix>-d2   the same with 192.168.8.12, MAC 02:00:00:00:00:02, 192.168.8.14, 10.8.1.3
//
// Services (both directors, from a YAML --config; d2 lists the servers in the other order, so
// its destination slots differ from d1's): TCP 192.168.8.200:9000 NAT → rs1/rs2,
// 192.168.8.201:9000 FULLNAT (LIP 192.168.8.50) → rs3/rs4, 192.168.8.202:9000 DR → rs3/rs4.
// Every server runs chatter.js --serve 9000 (echo).
//
// Active/active (createHaLab(..., { activeActive: true }), docs/ha.md): both uvsd have two HA
// groups, "a" (the NAT VIP and the floating DIP its servers route through) and "b" (the FULLNAT
// VIP with its LIP, and the DR VIP); keepalived runs one VRRP instance per group, named after it,
// d1 preferred for a, d2 for b (preempt), and writes its transitions to a notify FIFO that uvsd
// reads (uvsd --vrrp-fifo): no notify scripts.
//
// The sync socket is an ordinary UDP socket on the director namespace's br0 (multicast
// 224.0.0.81:8848), not the TAP: the two uvsd talk control plane to control plane, and the
// kernel gives multicast membership, routing and checksums for free (docs/ha.md).
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, delay, type ExecResult, type Proc } from './netns.js';
import { LAB_CONN_MAX, LAB_START_ARGS, repoRoot, labDir, nodeArgv, uvsdArgv, uvsadmInProcess } from './dr-lab.js';
import { ControlClient } from '../../src/control/client.js';
import { waitForControl } from './ready.js';
import type { Verbs } from '../../src/control/protocol.js';

export const HA_SUBNET = '192.168.8';
export const HA_NAT_SUBNET = '10.8.1';
export const VIP_NAT = `${HA_SUBNET}.200`;
export const VIP_FNAT = `${HA_SUBNET}.201`;
export const VIP_DR = `${HA_SUBNET}.202`;
export const HA_LIP = `${HA_SUBNET}.50`;
export const FLOATING_DIP = `${HA_NAT_SUBNET}.1`;
export const CLIENT_ADDR = `${HA_SUBNET}.100`;
export const CHAT_PORT = 9000;
/** VRRP advertisement interval (VRRPv3, seconds) and the vrrp_script interval. */
export const ADVERT_INT = 0.2;
/** keepalived 2.2.7 takes whole seconds here. */
export const CHECK_INTERVAL = 1;

export interface Director {
  name: string; // d1
  ns: string;
  mac: string;
  hostAddr: string; // on br0: keepalived and the sync socket
  socket: string;
  config: string;
  uvsd: Proc | null;
  keepalived: Proc | null;
  /** keepalived's notify scripts append "<ms since epoch> <state>" here. */
  notifyLog: string;
  /** More uvsd arguments for this director (e.g. --workers 2). */
  uvsdArgs: string[];
}

export interface HaLab {
  lab: Lab;
  tmp: string;
  keyFile: string;
  ns: { sw: string; cli: string; rs: string[] };
  dirs: [Director, Director];
  startUvsd(d: Director): Promise<void>;
  /** ipvsadm --start-daemon master and backup (the role decides which one acts). */
  startSync(d: Director): Promise<void>;
  /** keepalived with VRRPv3; resolves once it runs (not once it is master). */
  startKeepalived(d: Director): Promise<void>;
  /** SIGKILL: 'uvsd' only, or every process of the director namespace (a dead box). */
  kill(d: Director, what: 'uvsd' | 'all'): Promise<void>;
  call<V extends keyof Verbs>(d: Director, verb: V, args: Verbs[V]['args']): Promise<Verbs[V]['result']>;
  uvsadm(d: Director, args: string[]): Promise<ExecResult>;
  /** Wait until the director reports `role` (of HA group `group`, active/active); returns the ms waited. */
  waitRole(d: Director, role: 'master' | 'backup', timeoutMs: number, group?: string): Promise<number>;
  /** chatter.js client in the client namespace. */
  chatter(targets: string[], conns: number, durationMs: number): Proc;
  /** The client's ARP entry for ip (lladdr), or '' when none. */
  clientNeigh(ip: string): Promise<string>;
  destroy(): Promise<void>;
}

/** What chatter.js --target prints when its conversations are over. */
export interface ChatResult {
  ok: number;
  failed: number;
  errors: string[];
  maxStallMs: number;
  bytes: number;
}

export async function chatResult(p: Proc): Promise<ChatResult> {
  const line = await p.waitForLine(/^\{/, 60_000);
  return JSON.parse(line) as ChatResult;
}

/** The outage a client may see across a failover: messages wait for their echo less than this. */
export const RESUME_MS = 3000;

/** How long the conversations go on after a director dies (endChat): the outage and as long again. */
export const CHAT_AFTER_KILL_MS = RESUME_MS + 500;

/** Ends chat's conversations (chatter.js "end") CHAT_AFTER_KILL_MS after killedAt; its --duration stays their upper bound. */
export async function endChat(chat: Proc, killedAt: number): Promise<void> {
  await delay(killedAt + CHAT_AFTER_KILL_MS - Date.now());
  chat.child.stdin!.write('end\n');
}

/** The tails of a director's uvsd and keepalived logs, for a failure's message (keepalived --log-console writes to stderr). */
export function directorLogs(d: Director): string {
  return `uvsd ${d.name}: ${d.uvsd?.stderr().slice(-1500)}\nkeepalived ${d.name}: ${d.keepalived?.stderr().slice(-1500)}`;
}

/** Every one of `conns` conversations completed byte-identical, none waiting RESUME_MS or more for an echo (`logs` for a failure's message). */
export function assertSurvived(r: ChatResult, conns: number, logs: string): void {
  assert.equal(r.failed, 0, `failed conversations: ${r.errors.join('; ')}\n${logs}`);
  assert.equal(r.ok, conns);
  assert.ok(r.maxStallMs < RESUME_MS, `a message waited ${r.maxStallMs} ms for its echo`);
}

/** d1's box dies and d2 is made master at once (uvsadm --role, no keepalived): every one of chat's `conns` conversations completes byte-identical. */
export async function killAndTakeOver(lab: HaLab, chat: Proc, conns: number, diagnostic: (msg: string) => void): Promise<void> {
  const [d1, d2] = lab.dirs;
  const killedAt = Date.now();
  await lab.kill(d1, 'all');
  await lab.call(d2, 'setRole', { role: 'master' });
  const r = await chatResult(chat);
  diagnostic(`chatter: ${JSON.stringify(r)}; ${Date.now() - killedAt} ms after the kill all done`);
  assertSurvived(r, conns, `uvsd d2: ${d2.uvsd?.stderr().slice(-1500)}`);
}

/** Active/active: the HA groups (uvsd daemon.ha-groups) and, for each, the VRRP instance's virtual router id and d1's priority (d2: the other one). */
export const AA_GROUPS = [
  { name: 'a', addrs: [VIP_NAT, FLOATING_DIP], vrid: 51, d1Priority: 150 },
  { name: 'b', addrs: [VIP_FNAT, HA_LIP, VIP_DR], vrid: 52, d1Priority: 100 },
] as const;

function uvsdConfig(fixed: string, natFixed: string, reverse: boolean, fifo: string | undefined): string {
  const order = <T>(a: T[]): T[] => (reverse ? [...a].reverse() : a);
  const servers = (addrs: string[], method: string) => order(addrs).map((a) => `      - { address: ${a}, method: ${method} }`).join('\n');
  const groups = fifo === undefined ? ''
    : `  ha-groups: [${AA_GROUPS.map((g) => `"${g.name}=${g.addrs.join(',')}"`).join(', ')}]\n  vrrp-fifo: ${fifo}\n`;
  return `# uvsd config of one director of the HA lab (test/lab/ha-lab.ts)
daemon:
  role: backup            # keepalived's notify_master makes it master
  addresses: [${fixed}/24, ${natFixed}/24, "${FLOATING_DIP}/24,floating"]
${groups}services:
  - proto: tcp
    address: ${VIP_NAT}
    port: ${CHAT_PORT}
    scheduler: rr
    servers:
${servers([`${HA_NAT_SUBNET}.20`, `${HA_NAT_SUBNET}.30`], 'nat')}
  - proto: tcp
    address: ${VIP_FNAT}
    port: ${CHAT_PORT}
    scheduler: rr
    local-addresses: [${HA_LIP}]
    servers:
${servers([`${HA_SUBNET}.20`, `${HA_SUBNET}.30`], 'fullnat')}
  - proto: tcp
    address: ${VIP_DR}
    port: ${CHAT_PORT}
    scheduler: rr
    servers:
${servers([`${HA_SUBNET}.20`, `${HA_SUBNET}.30`], 'dr')}
`;
}

/**
 * keepalived.conf of one director: VRRPv3, sub-second adverts, uvsd's health tracked, notify →
 * uvsadm --role. One instance (nopreempt), or with `groups` one per HA group, named after it
 * (preempt: each director takes back the group it is preferred for), whose transitions go to the
 * notify FIFO `fifo` that uvsd reads.
 */
export function keepalivedConf(o: {
  name: string; priority: number; check: string; notify: string; groups?: Array<{ name: string; vrid: number; priority: number }>; fifo?: string;
}): string {
  const instances = o.groups === undefined ? [vrrpInstance('VI_UVS', 51, o.priority, o.notify, true)]
    : o.groups.map((g) => vrrpInstance(g.name, g.vrid, g.priority, undefined, false));
  return `global_defs {
  router_id uvs_${o.name}
  vrrp_version 3
  script_user root${o.fifo === undefined ? '' : `\n  vrrp_notify_fifo ${o.fifo}`}
}
vrrp_script chk_uvsd {
  script "${o.check}"
  interval ${CHECK_INTERVAL}
  timeout 2
  fall 1
  rise 1
}
${instances.join('')}`;
}

function vrrpInstance(name: string, vrid: number, priority: number, notify: string | undefined, nopreempt: boolean): string {
  const scripts = notify === undefined ? '' : `
  notify_master "${notify} master"
  notify_backup "${notify} backup"
  notify_fault "${notify} backup"`;
  return `vrrp_instance ${name} {
  state BACKUP${nopreempt ? '\n  nopreempt' : ''}
  interface br0
  virtual_router_id ${vrid}
  priority ${priority}
  advert_int ${ADVERT_INT}
  track_script {
    chk_uvsd
  }${scripts}
  # keepalived wants at least one address: a link-local one on lo (this kernel has no dummy
  # interfaces), never on the LAN. uvsd owns the VIPs, LIPs and the floating DIP and moves them
  # itself (uvsadm --role).
  virtual_ipaddress {
    169.254.${vrid}.1/32 dev lo
  }
}
`;
}

export async function createHaLab(base = 'uvsha', uvsdArgs: [string[], string[]] = [[], []], opts: { activeActive?: boolean } = {}): Promise<HaLab> {
  const aa = opts.activeActive === true;
  await Lab.cleanupLeftovers(base);
  const lab = new Lab(base);
  const tmp = mkdtempSync(join(tmpdir(), `${lab.prefix}-`));
  const keyFile = join(tmp, 'sync.key');
  writeFileSync(keyFile, 'lab-shared-sync-secret-0123456789\n', { mode: 0o600 });
  const uvsadmJs = join(repoRoot, 'bin', 'uvsadm');
  const chatterJs = join(labDir, 'chatter.js');
  const rs: string[] = [];
  let sw = '';
  let cli = '';
  const dirs: Director[] = [];
  try {
    sw = await lab.addNs('sw');
    await lab.addBridge(sw, 'br0');
    cli = await lab.addNs('cli');
    await lab.addHostIf({ ns: cli, bridgeNs: sw, bridge: 'br0', portName: 'vcli', addr: `${CLIENT_ADDR}/24` });
    const servers = [
      { name: 'rs1', addr: `${HA_NAT_SUBNET}.20`, nat: true },
      { name: 'rs2', addr: `${HA_NAT_SUBNET}.30`, nat: true },
      { name: 'rs3', addr: `${HA_SUBNET}.20`, nat: false },
      { name: 'rs4', addr: `${HA_SUBNET}.30`, nat: false },
    ];
    // The servers, then the directors, each set up side by side (their namespaces are independent).
    rs.push(...await Promise.all(servers.map(async (s) => {
      const ns = await lab.addNs(s.name);
      if (!s.nat) {
        await lab.sysctl(ns, {
          'net.ipv4.conf.all.arp_ignore': 1, 'net.ipv4.conf.all.arp_announce': 2,
          'net.ipv4.conf.default.arp_ignore': 1, 'net.ipv4.conf.default.arp_announce': 2,
        });
      }
      await lab.addHostIf({ ns, bridgeNs: sw, bridge: 'br0', portName: `v${s.name}`, addr: `${s.addr}/24`, loAddrs: s.nat ? [] : [VIP_DR] });
      if (s.nat) await lab.exec(ns, ['ip', 'route', 'add', 'default', 'via', FLOATING_DIP]);
      return ns;
    })));
    dirs.push(...await Promise.all([1, 2].map(async (i): Promise<Director> => {
      const name = `d${i}`;
      const ns = await lab.addNs(name);
      await lab.addBridge(ns, 'br0');
      await lab.addVeth({ ns, ifname: 'up0' }, { ns: sw, ifname: `v${name}` });
      await lab.attach(ns, 'up0', 'br0');
      await lab.attach(sw, `v${name}`, 'br0');
      const hostAddr = `${HA_SUBNET}.${10 + i}`;
      await lab.must(['ip', 'addr', 'add', `${hostAddr}/24`, 'dev', 'br0'], ns);
      const config = join(tmp, `${name}.yaml`);
      const fifo = aa ? join(tmp, `${name}-vrrp.fifo`) : undefined;
      writeFileSync(config, uvsdConfig(`${HA_SUBNET}.${12 + i}`, `${HA_NAT_SUBNET}.${1 + i}`, i === 2, fifo));
      const socket = join(tmp, `${name}.sock`);
      const notifyLog = join(tmp, `${name}.notify.log`);
      // keepalived runs these: uvsd's health and the role change, as docs/ha.md documents them:
      // contrib/uvsd-check (uvsd's process lives and is 3 s old or more, so that keepalived sees
      // a restart however quick) and notify scripts calling uvsadm --role.
      const check = `${join(repoRoot, 'contrib', 'uvsd-check')} ${socket}`;
      const notify = join(tmp, `${name}-notify.sh`);
      writeFileSync(notify, `#!/bin/sh\necho "$(date +%s%3N) $1" >> ${notifyLog}\nexec ${process.execPath} ${uvsadmJs} --socket ${socket} --role "$1"\n`);
      chmodSync(notify, 0o700);
      const groups = aa ? AA_GROUPS.map((g) => ({ name: g.name, vrid: g.vrid, priority: i === 1 ? g.d1Priority : 250 - g.d1Priority })) : undefined;
      writeFileSync(join(tmp, `${name}-keepalived.conf`), keepalivedConf({ name, priority: i === 1 ? 150 : 100, check, notify, groups, fifo }));
      return { name, ns, mac: `02:00:00:00:00:0${i}`, hostAddr, socket, config, uvsd: null, keepalived: null, notifyLog, uvsdArgs: uvsdArgs[i - 1] ?? [] };
    })));
    await Promise.all(rs.map(async (ns) => {
      const p = lab.spawn(ns, nodeArgv(chatterJs, ['--serve', String(CHAT_PORT)]), { cwd: repoRoot });
      await p.waitForLine(/^ready /, 10_000);
    }));
  } catch (e) {
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }

  const self: HaLab = {
    lab,
    tmp,
    keyFile,
    ns: { sw, cli, rs },
    dirs: dirs as [Director, Director],

    async startUvsd(d) {
      if (d.uvsd && !d.uvsd.done()) throw new Error(`${d.name}: uvsd already running`);
      d.uvsd = lab.spawn(d.ns, uvsdArgv([
        '--tap', 'uvs0', '--bridge', 'br0', '--socket', d.socket, '--mac', d.mac, '--config', d.config, '--log-level', 'warn', '--arp-probe-ms', '100', '--icmp-ratelimit', '0', '--conn-max', String(LAB_CONN_MAX), // as dr-lab.ts
        ...LAB_START_ARGS,
        ...d.uvsdArgs,
      ]), { cwd: repoRoot, maxCapture: 1024 * 1024 });
      const why = await waitForControl(d.socket, d.uvsd);
      if (why === '') return;
      throw new Error(`${d.name}: uvsd not ready (${why}); stderr: ${d.uvsd.stderr().slice(-2000)}`);
    },

    async startSync(d) {
      for (const state of ['master', 'backup']) {
        const r = await self.uvsadm(d, ['--start-daemon', state, '--syncid', '1', '--mcast-interface', 'br0', '--sync-key-file', keyFile]);
        if (r.code !== 0) throw new Error(`${d.name}: --start-daemon ${state}: ${r.stderr.trim()}`);
      }
    },

    async startKeepalived(d) {
      const f = (x: string) => join(tmp, `${d.name}-${x}`);
      // keepalived (and the scripts it runs) at normal priority, as in production, whatever
      // niceness the tests run at: VRRP timing with 0.2 s adverts is what is under test, and a
      // niced keepalived on a loaded machine misses adverts and flaps. It costs little CPU.
      d.keepalived = lab.spawn(d.ns, ['nice', '-n', String(-getPriority()), 'keepalived', '--dont-fork', '--log-console', '--log-detail', '--vrrp',
        '--use-file', f('keepalived.conf'), '--pid', f('k.pid'), '--vrrp_pid', f('v.pid'), '--checkers_pid', f('c.pid')], { cwd: tmp });
      await delay(200);
      if (d.keepalived.done()) throw new Error(`${d.name}: keepalived exited: ${d.keepalived.stderr().slice(-2000)} ${d.keepalived.stdout().slice(-2000)}`);
    },

    async kill(d, what) {
      if (what === 'uvsd') {
        d.uvsd?.child.kill('SIGKILL');
        await d.uvsd?.exited;
        return;
      }
      // The whole box dies: uvsd, keepalived (and its VRRP child), anything else in its namespace.
      const pids = (await lab.exec(null, ['ip', 'netns', 'pids', d.ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await Promise.all([d.uvsd?.exited, d.keepalived?.exited]);
    },

    async call(d, verb, args) {
      const c = await ControlClient.connect(d.socket);
      try {
        return await c.call(verb, args);
      } finally {
        c.close();
      }
    },

    uvsadm(d, args) {
      return uvsadmInProcess(d.socket, args);
    },

    async waitRole(d, role, timeoutMs, group) {
      const t0 = Date.now();
      while (Date.now() - t0 < timeoutMs) {
        try {
          const st = await self.call(d, 'status', {});
          if ((group === undefined ? st.role : st.haGroups?.find((g) => g.name === group)?.role) === role) return Date.now() - t0;
        } catch {
          // not up yet
        }
        await delay(50);
      }
      throw new Error(`${d.name} did not become ${role}${group === undefined ? '' : ` of ${group}`} within ${timeoutMs} ms; keepalived: ${d.keepalived?.stdout().slice(-1500)} ${d.keepalived?.stderr().slice(-1500)}`);
    },

    chatter(targets, conns, durationMs) {
      return lab.spawn(cli, nodeArgv(chatterJs, ['--target', targets.join(','), '--conns', String(conns), '--interval', '100', '--duration', String(durationMs)]),
        { cwd: repoRoot });
    },

    async clientNeigh(ip) {
      const out = (await lab.exec(cli, ['ip', 'neigh', 'show', ip])).stdout;
      return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1] ?? '';
    },

    async destroy() {
      try {
        await lab.destroy();
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
  return self;
}
