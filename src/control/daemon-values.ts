// The daemon settings' names as the config file spells them, and the parsers and checks of the
// values uvsd's command line shares with the config file (src/control/config.ts re-exports them).
// Apart from config.ts, which loads the control model, so that uvsd's command line
// (src/cli/uvsd-options.ts) is checked without it.

import { parseCidr, parseIp, type LinkAddr } from '../datapath/addr.js';
import { DEFAULT_HA_GROUP, FTP_PORTS_MAX } from '../defaults.js';
import type { DaemonSettings } from './config.js';

/** The daemon settings a reload applies (the defenses), as the config file spells them. */
export const RELOADABLE_DAEMON_KEYS = {
  secureTcpAbove: 'secure-tcp-above', evictAbove: 'evict-above', maxConnRatePerSource: 'max-conn-rate-per-source',
  arpAcceptUnsolicited: 'arp-accept-unsolicited', sloppyTcp: 'sloppy-tcp', connReuseMode: 'conn-reuse-mode',
  expireQuiescentTemplate: 'expire-quiescent-template', garpRefresh: 'garp-refresh', ftpPorts: 'ftp-ports',
  synproxySynRetries: 'synproxy-syn-retries', toa: 'toa', icmpRatelimit: 'icmp-ratelimit', scheduleIcmp: 'schedule-icmp',
} as const;

/**
 * The daemon settings read at start only, as the config file spells them: a reload checks them
 * like uvsd's start does, and reports a changed one as ignored (restart uvsd to change it) — but
 * for the HA groups and keepalived's FIFO, which a reload applies (checkDaemonReload).
 */
export const START_ONLY_DAEMON_KEYS = {
  tap: 'tap', bridge: 'bridge', addresses: 'addresses', gateway: 'gateway', socket: 'socket', metrics: 'metrics',
  connMax: 'conn-max', neighMax: 'neigh-max', drainTimeout: 'drain-timeout', role: 'role', haGroups: 'ha-groups', vrrpFifo: 'vrrp-fifo', stateFile: 'state-file',
  sync: 'sync', bgpInclude: 'bgp-include', bgpBirdSocket: 'bgp-bird-socket', bgpNextHop: 'bgp-next-hop', bgpWatch: 'bgp-watch',
  healthConcurrency: 'health-concurrency', healthProcessConcurrency: 'health-process-concurrency', arpWatch: 'arp-watch',
} as const;

/**
 * The daemon settings that govern how the file's own health scripts are read (no uvsd option):
 * each read of the file (start, --check-config, every reload) applies the value it has then.
 */
export const SCRIPT_DAEMON_KEYS = { enableScriptSecurity: 'enable-script-security' } as const;

/** The config file's spelling of a daemon setting. */
export const daemonKeyName = (k: keyof DaemonSettings): string =>
  (START_ONLY_DAEMON_KEYS as Record<string, string>)[k] ?? (RELOADABLE_DAEMON_KEYS as Record<string, string>)[k] ?? (SCRIPT_DAEMON_KEYS as Record<string, string>)[k] ?? k;

/** A director address, "a.b.c.d/len[,floating]" (uvsd --addr, daemon.addresses); throws with the problem. */
export function parseAddrText(text: string): LinkAddr {
  const [cidr, ...flags] = text.split(',');
  for (const f of flags) if (f !== 'floating') throw new Error(`invalid --addr flag "${f}" in "${text}" (known: floating)`);
  const c = parseCidr(cidr ?? '');
  return flags.length > 0 ? { ip: c.ip, mask: c.mask, floating: true } : { ip: c.ip, mask: c.mask };
}

/** An HA group (uvsd --ha-group): its name and the addresses (VIPs, LIPs, floating --addrs) that move with its role. */
export interface HaGroupSpec {
  name: string;
  addrs: number[];
}

/** Most HA groups: with the default group one bit each of a 32-bit mask (the datapath's takeover announcements). */
export const MAX_HA_GROUPS = 31;

/** An HA group, "NAME=ADDR[,ADDR...]" (uvsd --ha-group, daemon.ha-groups); throws with the problem. */
export function parseHaGroup(text: string): HaGroupSpec {
  const eq = text.indexOf('=');
  const name = eq < 0 ? '' : text.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
    throw new Error(`invalid HA group "${text}" (expected NAME=a.b.c.d[,a.b.c.d...], NAME of 1..32 letters, digits, "_", "-", ".")`);
  }
  if (name === DEFAULT_HA_GROUP) throw new Error(`invalid HA group "${text}": "${DEFAULT_HA_GROUP}" names the addresses of no group`);
  const addrs = text.slice(eq + 1).split(',').map((a) => {
    const ip = parseIp(a);
    if (ip < 0) throw new Error(`invalid address "${a}" in HA group "${text}"`);
    return ip;
  });
  return { name, addrs };
}

/**
 * The FTP helper's ports (uvsd --ftp-ports, daemon.ftp-ports): "21" or "21,2121" (at most
 * FTP_PORTS_MAX, the kernel's IP_VS_APP_MAX_PORTS), "none" or "" for none; sorted. Throws with
 * the problem.
 */
export function parseFtpPorts(text: string): number[] {
  if (text === 'none') return [];
  const ports = text.split(',').map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw new Error(`invalid FTP port "${p}" in "${text}" (expected 1..65535, comma-separated, or none)`);
    return n;
  });
  if (new Set(ports).size !== ports.length) throw new Error(`FTP port given twice in "${text}"`);
  if (ports.length > FTP_PORTS_MAX) throw new Error(`at most ${FTP_PORTS_MAX} FTP ports, got ${ports.length} in "${text}"`);
  return ports.sort((a, b) => a - b);
}

export const DEFAULT_DRAIN_TIMEOUT = 30;

/** A fraction 0..1 as uvsd's options and the config file write it: 0, 1, 0.25, .25, 1.0 (no 1e-1, 0x1). */
export const FRACTION_TEXT = /^(0|1|0?\.\d+|1\.0*)$/;

/** Why `v` cannot name a network interface (Linux: 1-15 bytes, no "/" or white space), or undefined. */
export function ifnameProblem(v: string): string | undefined {
  const n = Buffer.byteLength(v);
  if (n === 0 || n > 15 || /[\s/]/.test(v) || v === '.' || v === '..') {
    return `must be an interface name of 1..15 characters without "/" or spaces, got ${JSON.stringify(v)}`;
  }
  return undefined;
}

/** Why `v` cannot be a control socket path (a Unix socket's path holds at most 107 bytes), or undefined. */
export function socketPathProblem(v: string): string | undefined {
  const n = Buffer.byteLength(v);
  if (n === 0 || n > 107) return `must be a path of 1..107 bytes (a Unix socket's limit), got ${JSON.stringify(v)}`;
  return undefined;
}
