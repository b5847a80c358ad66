// uvsd's daemon settings between its command line and its --config file: the file's values as
// options, the settings uvsd runs with as the file spells them, the checks over several settings
// that uvsd's start runs (combination.ts), and what a reload does with the settings read at start only. Apart
// from uvsd.ts (which starts the daemon when imported) so that tests can run them.

import { formatIp, formatMac, parseIp } from '../datapath/addr.js';
import { formatAddr, type LinkAddr } from '../datapath/link.js';
import type { DefenseOptions, SloppyTcp } from '../datapath/pipeline.js';
import type { DpOp } from '../datapath/ops.js';
import {
  defenseChanges, parseAddrText, parseHaGroup, START_ONLY_DAEMON_KEYS, type ConfigFile, type DaemonReload,
  type DaemonSettings, type HaGroupSpec,
} from '../control/config.js';
import { UvsError } from '../control/errors.js';
import { parseListen } from '../metrics/listen.js';
import { syncConfigOf } from '../control/verbs.js';
import { syncWhere, syncYaml, type SyncSettings, type SyncSpec } from '../control/syncconf.js';
import type { SyncState } from '../sync/daemon.js';
import { combinationProblem as combinationProblemOf, haGroupText, optionOf } from './combination.js';

export { haGroupText, optionOf };

/** The options these functions read (uvsd's Options has them all), the defenses among them. */
export interface SettingsOptions extends DefenseOptions {
  tap: string;
  bridge?: string;
  addr: LinkAddr[];
  gateway?: number;
  socket: string;
  metrics?: string;
  connMax: number;
  neighMax: number;
  drainTimeout: number;
  role: 'master' | 'backup';
  /** --ha-group (repeatable; commander's attribute name). */
  haGroup?: HaGroupSpec[];
  vrrpFifo?: string;
  /** daemon.sync of the --config file (no command-line option). */
  sync?: SyncSettings;
  stateFile?: string;
  keepalivedConf?: string;
  bgpInclude?: string;
  bgpBirdSocket: string;
  bgpNextHop?: number;
  bgpWatch: number;
  healthConcurrency?: number;
  healthProcessConcurrency: number;
  arpWatch: number;
  /** The --config file's contents. */
  file?: ConfigFile;
  /** Options given on the command line (commander's attribute names). */
  fromCli: Set<string>;
  /** Every option's default. */
  defaults: Record<string, unknown>;
}

/**
 * The config file's daemon settings as options (by commander's attribute name). The file's
 * values were checked when it was read (parseConfig), so the conversions cannot fail.
 */
export function fileOptions(d: DaemonSettings): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d) as Array<[keyof DaemonSettings, unknown]>) {
    if (v === undefined) continue;
    if (k === 'addresses') o.addr = (v as string[]).map(parseAddrText);
    else if (k === 'haGroups') o.haGroup = (v as string[]).map(parseHaGroup);
    else if (k === 'gateway' || k === 'bgpNextHop') o[k] = parseIp(v as string);
    else o[k] = v;
  }
  return o;
}

/** The HA groups and the role uvsd starts with, as datapath ops (the role is no switch: not counted in role_changes). */
export function startRoleOps(o: Pick<SettingsOptions, 'haGroup' | 'role'>): DpOp[] {
  const ops: DpOp[] = [];
  if (o.haGroup !== undefined) ops.push({ op: 'haGroups', groups: o.haGroup });
  if (o.role === 'backup') ops.push({ op: 'setRole', master: false, start: true });
  return ops;
}

/** The defenses as the datapath takes them. */
export function defenseOf(o: SettingsOptions): DefenseOptions {
  return {
    secureTcpAbove: o.secureTcpAbove, evictAbove: o.evictAbove, maxConnRatePerSource: o.maxConnRatePerSource,
    arpAcceptUnsolicited: o.arpAcceptUnsolicited, sloppyTcp: (o.sloppyTcp as SloppyTcp | true) === true ? 'all' : o.sloppyTcp,
    connReuseMode: o.connReuseMode, expireQuiescentTemplate: o.expireQuiescentTemplate, garpRefresh: o.garpRefresh, ftpPorts: o.ftpPorts,
    synproxySynRetries: o.synproxySynRetries, toa: o.toa, icmpRatelimit: o.icmpRatelimit, scheduleIcmp: o.scheduleIcmp,
  };
}

/** The settings uvsd runs with, as the config file spells them (--dump-config; a reload compares them). */
export function settingsOf(o: SettingsOptions): DaemonSettings {
  let metrics = o.metrics;
  try {
    if (metrics !== undefined) metrics = ((l) => `${l.host}:${l.port}`)(parseListen(metrics));
  } catch {
    // refused before this is asked (parseOptions)
  }
  return {
    tap: o.tap, bridge: o.bridge, addresses: o.addr?.map(formatAddr), gateway: o.gateway === undefined ? undefined : formatIp(o.gateway),
    socket: o.socket, metrics, connMax: o.connMax, neighMax: o.neighMax, drainTimeout: o.drainTimeout, ...defenseOf(o), stateFile: o.stateFile, role: o.role,
    haGroups: o.haGroup?.map(haGroupText), vrrpFifo: o.vrrpFifo, sync: o.sync,
    // The BIRD socket only means something with --bgp-include (a dump without BGP leaves it out).
    bgpInclude: o.bgpInclude, bgpBirdSocket: o.bgpInclude === undefined ? undefined : o.bgpBirdSocket, bgpNextHop: o.bgpNextHop === undefined ? undefined : formatIp(o.bgpNextHop),
    bgpWatch: o.bgpInclude === undefined ? undefined : o.bgpWatch,
    healthConcurrency: o.healthConcurrency, healthProcessConcurrency: o.healthProcessConcurrency, arpWatch: o.arpWatch,
  };
}

/**
 * uvsd options that say how to run it, not how it runs: no part of what a dump leaves out. The
 * keepalived.conf's services are in the dump (written as this file's): a uvsd given the dump and
 * --keepalived-conf too would refuse every one of them as "also in" the other file.
 */
const NOT_SETTINGS = new Set(['config', 'checkConfig', 'version', 'keepalivedConf', 'keepalivedConfigId']);

/**
 * The settings uvsd runs with that a --dump-config cannot carry (options without a config key)
 * and that differ from their defaults, as a command line: "--workers 2 --mtu 9000" ("" when
 * none). `options`: commander's options, by long flag and attribute name (a --no-X flag is
 * `negate`).
 */
export function commandLineOnly(o: SettingsOptions, options: readonly { long: string; attr: string; negate: boolean }[]): string {
  const keys = new Set(Object.keys(settingsOf(o)).map((k) => optionOf(k as keyof DaemonSettings)));
  const text = (v: unknown): string => (v instanceof Uint8Array ? formatMac(v) : Array.isArray(v) ? v.join(',') : String(v));
  const quote = (v: string): string => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", "'\\''")}'`);
  const out: string[] = [];
  for (const { long, attr, negate } of options) {
    const v = (o as unknown as Record<string, unknown>)[attr];
    if (keys.has(attr) || NOT_SETTINGS.has(attr) || v === undefined || text(v) === text(o.defaults[attr])) continue;
    if (typeof v === 'boolean') {
      if (v !== negate) out.push(long);
    } else {
      out.push(`${long} ${quote(text(v))}`);
    }
  }
  return out.join(' ');
}

/**
 * What uvsd checks over several settings at start, on the values it would start with (the checks:
 * combination.ts), daemon.sync's daemons checked as uvsadm --start-daemon checks them.
 */
export function combinationProblem(o: SettingsOptions, fromCli: (option: string) => boolean): string | undefined {
  return combinationProblemOf(o, fromCli, syncProblem);
}

/** daemon.sync's daemon `state` as uvsadm --start-daemon checks it (the interface, the key file ...). */
function syncProblem(file: ConfigFile | undefined, state: string, spec: SyncSpec): string | undefined {
  try {
    syncConfigOf({ state, ...spec });
    return undefined;
  } catch (e) {
    return `${file === undefined ? 'daemon.sync:' : syncWhere(file, state as SyncState)} ${(e as UvsError).detail ?? (e as Error).message}`;
  }
}

/** The start-only daemon settings a reload applies all the same, when they changed: the HA groups and keepalived's FIFO. */
export interface DaemonApplied {
  haGroups?: HaGroupSpec[];
  /** The FIFO to read from now on (path undefined: none). */
  vrrpFifo?: { path: string | undefined };
}

/**
 * A reload's check of the daemon settings, before anything changes: uvsd's next start with
 * `cfg` (the same command line, the file's values, defaults for what the file dropped) must pass
 * the checks over several settings (the file's values were checked one by one when it was
 * read), else BAD_CONFIG with the problem. Returns one line per start-only setting that differs
 * from `running` (reported, ignored until a restart), and the HA groups and the FIFO when they
 * differ, with a `set ...` line each: a reload applies those (daemonReload).
 */
export function checkDaemonReload(opts: SettingsOptions, running: DaemonSettings, cfg: ConfigFile): { ignored: string[]; applied: DaemonApplied; changes: string[] } {
  const next = { ...opts, file: cfg } as SettingsOptions & Record<string, unknown>;
  const fromFile = fileOptions(cfg.daemon);
  for (const k of Object.keys(START_ONLY_DAEMON_KEYS) as Array<keyof DaemonSettings>) {
    const name = optionOf(k);
    if (!opts.fromCli.has(name)) next[name] = name in fromFile ? fromFile[name] : opts.defaults[name];
  }
  const problem = combinationProblem(next, (name) => opts.fromCli.has(name));
  if (problem !== undefined) throw new UvsError('BAD_CONFIG', cfg.file, problem);
  const want = settingsOf(next);
  // daemon.sync as the file spells it (mcast-interface, sync-key-file, ...), not the verb's fields.
  const show = (k: keyof DaemonSettings, v: unknown): string => (v === undefined ? '(none)' : k === 'sync' ? JSON.stringify(syncYaml(v as SyncSettings))
    : Array.isArray(v) ? v.join(' ') : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const ignored: string[] = [];
  const applied: DaemonApplied = {};
  const changes: string[] = [];
  for (const [k, name] of Object.entries(START_ONLY_DAEMON_KEYS) as Array<[keyof DaemonSettings, string]>) {
    const [was, now] = [show(k, running[k]), show(k, want[k])];
    if (was === now) continue;
    if (k === 'haGroups') applied.haGroups = next.haGroup ?? [];
    else if (k === 'vrrpFifo') applied.vrrpFifo = { path: next.vrrpFifo };
    else {
      // The running sync daemons change with uvsadm (a restart with --state-file starts the saved ones).
      const how = k === 'sync' ? 'uvsadm --stop-daemon / --start-daemon change the running daemons' : 'restart uvsd to change it';
      // daemon.sync: compared with what uvsd started with, not the daemons running now (-L --daemon).
      ignored.push(`ignored daemon.${name} ${k === 'sync' ? 'at start ' : ''}${was} -> ${now}: read at start only (${how})`);
      continue;
    }
    changes.push(`set ${name} ${was} -> ${now}`);
  }
  return { ignored, applied, changes };
}

/**
 * What uvsd does with a reload's daemon settings (ConfigSources.daemon), before anything
 * changes: with --config, checkDaemonReload (throws for a setting the next start would refuse;
 * the start-only ones that changed are `ignored`); the defenses: the file's values (defaults when
 * absent), except options given on the command line; the HA groups and the FIFO likewise.
 * apply() logs each ignored setting, sets the defenses, the HA groups and the FIFO (`running`
 * then holds what was set).
 */
export function daemonReload(
  opts: SettingsOptions, running: DaemonSettings, cfg: ConfigFile, defense: Readonly<DefenseOptions>,
  to: { setDefense(next: DefenseOptions): void; setHaGroups?(groups: HaGroupSpec[]): void; setVrrpFifo?(path: string | undefined): void; warn(line: string): void },
): DaemonReload {
  const { ignored, applied, changes: applies } = opts.file === undefined ? { ignored: [], applied: {}, changes: [] } as ReturnType<typeof checkDaemonReload> : checkDaemonReload(opts, running, cfg);
  const { next, changes } = defenseChanges(defense, cfg.daemon, opts.fromCli);
  return {
    changes: [...changes, ...applies],
    ignored,
    apply: () => {
      for (const line of ignored) to.warn(line);
      if (changes.length > 0) to.setDefense(next);
      const { haGroups, vrrpFifo } = applied;
      if (haGroups !== undefined) {
        running.haGroups = haGroups.length === 0 ? undefined : haGroups.map(haGroupText);
        to.setHaGroups?.(haGroups);
      }
      if (vrrpFifo !== undefined) {
        running.vrrpFifo = vrrpFifo.path;
        to.setVrrpFifo?.(vrrpFifo.path);
      }
    },
  };
}
