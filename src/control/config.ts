// uvsd's configuration file (YAML, docs/config.md): daemon settings and the service table.
// Loading validates the whole file first (shape here, with the file, line and field of the
// offending value; meaning through the batch verb's dry run), so a bad file changes nothing.
// Reloading applies only the difference to the running table: unchanged services and their
// connections are not touched; removed servers are drained (weight 0, removed after
// drain-timeout) or removed at once.

import type { Peer } from './server.js';
import { readFileSync } from 'node:fs';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import { yaml } from './yaml-lazy.js';
import { UvsError } from './errors.js';
import { clearLongTimeout, monoOf, setLongTimeout, wallOf, type LongTimeout } from './clock.js';
import { scalar, toYaml } from './yaml-out.js';
import { dueOf, runSteps, runStepsSliced, SLICE_END, type Pause, type Steps } from './slices.js';
import { DumpBytes, DumpParts, type ByteOut, type DumpOut } from './dump-bytes.js';
import { ShardedMap } from './shards.js';
import { readConfigOffThread } from './config-thread.js';
import { serviceKeyOf, type Control, type ServiceModel } from './model.js';
import { findDest, KEYS_STEP, planTableSteps, schedFlagNames, type PlanDest, type PlanService, type PlanTable } from './verbs.js';
import type { BatchItem, DestSpec, Fwd, LaddrRange, MarkInfo, Proto, ServiceKey, ServiceSpec, Timeouts, TunOptions } from './protocol.js';
import { addrPortText, DEFAULT_WEIGHT, destPort, LADDR_PORT_MAX, LADDR_PORT_MIN, LADDR_TEXT_FORM, laddrRangesOf, laddrText, MAX_FWMARK, parseLaddrText, takesServicePort, MAX_THRESHOLD, MAX_TIMEOUT, MAX_WEIGHT, serviceId, serviceKey, serviceText, tunText } from './protocol.js';
import { ftpPortsText, markText } from './printers.js';
import { parseServiceHealth, serverHealthInto, serviceHealthInto, tunnelOf, TUN_KEYS, type Field, type FieldHelpers, type ServerForHealth } from './config-health.js';
import { PROCESS_SLOTS, type RealServerSpec, type ScriptUser, type VirtualServerSpec } from '../health/types.js';
import { formatIp, parseIp } from '../datapath/addr.js';
import { DEFENSE_DEFAULTS, type DefenseOptions } from '../datapath/pipeline.js';
import { SYNPROXY_SYN_RETRIES_MAX } from '../modes/synproxy.js';
import { NEIGH_MAX_DEFAULT, NEIGH_MAX_LIMIT, NEIGH_MAX_MIN } from '../datapath/neigh.js';
import { parseListen } from '../metrics/listen.js';
import { commandProblem, scriptInsecurity } from '../health/exec.js';
import { sorryAlsoServer } from '../health/keepalived.js';
import { ARP_WATCH_MAX_S, DEFAULT_ARP_WATCH_S } from './arpwatch.js';
import { BGP_WATCH_MAX_S, DEFAULT_BGP_WATCH_S } from '../bgp/bird.js';
import { SYNC_KEYS, syncSettingsOf, syncYaml, type SyncSettings, type SyncSpec } from './syncconf.js';
import type { SyncState } from '../sync/daemon.js';

/** Daemon settings a config file may carry (command-line options win over them). */
export interface DaemonSettings {
  tap?: string;
  bridge?: string;
  addresses?: string[];
  gateway?: string;
  socket?: string;
  metrics?: string;
  connMax?: number;
  /** Neighbour (ARP) table size (uvsd --neigh-max). */
  neighMax?: number;
  /** Seconds a removed server keeps its connections at weight 0 before it is deleted; 0 = at once. */
  drainTimeout?: number;
  /** High availability role at start (docs/ha.md); default master. */
  role?: 'master' | 'backup';
  // The defenses (docs/resilience.md); all but stateFile also apply on reload.
  secureTcpAbove?: number;
  evictAbove?: number;
  maxConnRatePerSource?: number;
  arpAcceptUnsolicited?: boolean;
  expireQuiescentTemplate?: boolean;
  /** Seconds; 0 = never. */
  garpRefresh?: number;
  /** off | all | mh (true = all, false = off, as in the file). */
  sloppyTcp?: 'off' | 'all' | 'mh';
  /** 0..3, the kernel's conn_reuse_mode. */
  connReuseMode?: number;
  /** The FTP helper's virtual ports (the kernel's ip_vs_ftp ports=); [] = off. */
  ftpPorts?: readonly number[];
  /** 0..6, Alibaba LVS's synproxy_syn_retry. */
  synproxySynRetries?: number;
  /** TOA for FULLNAT TCP connections (uvsd --toa). */
  toa?: boolean;
  /** The ICMP errors' per-source limit, ms per answer (uvsd --icmp-ratelimit). */
  icmpRatelimit?: number;
  /** The kernel's schedule_icmp (uvsd --schedule-icmp). */
  scheduleIcmp?: boolean;
  /** Read at start only. */
  stateFile?: string;
  /** HA groups (docs/ha.md, active/active): "NAME=ADDR[,ADDR...]" each, as uvsd --ha-group. Read at start only. */
  haGroups?: string[];
  /** keepalived's notify FIFO uvsd reads its VRRP transitions from (docs/ha.md). Read at start only. */
  vrrpFifo?: string;
  /** The connection sync daemons to start (uvsadm --start-daemon's settings; docs/ha.md). Read at start only. */
  sync?: SyncSettings;
  /** BGP through BIRD (docs/scale-out.md): the include uvsd writes, BIRD's control socket, the routes' next hop. */
  bgpInclude?: string;
  bgpBirdSocket?: string;
  bgpNextHop?: string;
  /** Seconds between BIRD liveness checks (uvsd --bgp-watch). */
  bgpWatch?: number;
  /** Health checks in flight at most, and MISC_CHECK processes among them (uvsd --health-concurrency, --health-process-concurrency). Read at start only. */
  healthConcurrency?: number;
  healthProcessConcurrency?: number;
  /** Seconds per lap of the ARP watch over the claimed addresses (uvsd --arp-watch; 0: off). Read at start only. */
  arpWatch?: number;
  /** keepalived's global_defs enable_script_security for this file's scripts: read with them (start, reload). */
  enableScriptSecurity?: boolean;
}

// The daemon settings' names and the value parsers the config file shares with uvsd's command
// line: src/control/daemon-values.ts (the command line is checked without loading this module).
import { daemonKeyName, DEFAULT_DRAIN_TIMEOUT, FRACTION_TEXT, ifnameProblem, parseAddrText, parseFtpPorts, parseHaGroup, RELOADABLE_DAEMON_KEYS, SCRIPT_DAEMON_KEYS, socketPathProblem, type HaGroupSpec } from './daemon-values.js';
export { daemonKeyName, DEFAULT_DRAIN_TIMEOUT, FRACTION_TEXT, ifnameProblem, MAX_HA_GROUPS, parseAddrText, parseFtpPorts, parseHaGroup, RELOADABLE_DAEMON_KEYS, SCRIPT_DAEMON_KEYS, socketPathProblem, START_ONLY_DAEMON_KEYS, type HaGroupSpec } from './daemon-values.js';

/**
 * A warning per HA group address that nothing in the table moves with (no VIP, mark rule address,
 * FULLNAT local address or floating --addr): a typo leaves the address meant in the default group.
 * `moving` is Datapath.heldAddrs() once the table is in place. Not an error: a group may name a
 * VIP before its service is added.
 */
export function haGroupWarnings(groups: readonly HaGroupSpec[], moving: readonly number[]): string[] {
  const known = new Set(moving.map((ip) => ip | 0));
  return groups.flatMap((g) => g.addrs.filter((ip) => !known.has(ip | 0))
    .map((ip) => `HA group ${g.name}: ${formatIp(ip)} is no VIP, local address or floating --addr of the table (yet); it moves with nothing until one uses it`));
}

/** A server as a config file gives it: every field but the tunnel options, which only TUN servers have. */
export type DesiredDest = Required<Omit<DestSpec, keyof TunOptions>> & TunOptions;

/** A service as a config file gives it: every field (a mark service's fwmark too, else none). */
export type DesiredSpec = Required<Omit<ServiceSpec, 'fwmark'>> & Pick<ServiceSpec, 'fwmark'>;

export interface DesiredService {
  spec: DesiredSpec;
  dests: DesiredDest[];
  /** FULLNAT local addresses with their local ports (keepalived.conf's have the default). */
  laddrs: LaddrRange[];
  line: number;
  destLines: number[];
  /** The file it comes from (the --config file, or the keepalived.conf and its includes). */
  file?: string;
  /** Health checks: the virtual server's settings and one entry per server, in dests' order. */
  health?: VirtualServerSpec;
}

export interface ParseOptions {
  /** Why a command line could not run now (health/exec.ts commandProblem): warned about, as the
   *  keepalived.conf reader does. Left out, command lines are not looked at (state files, tests). */
  commandProblem?: (line: string) => string | undefined;
  /** Why a user other than root could change what a script runs as root (health/exec.ts
   *  scriptInsecurity): daemon.enable-script-security refuses it, else one warning. Left out,
   *  scripts are not judged (state files, tests). */
  scriptInsecurity?: (line: string, user?: ScriptUser) => string | undefined;
  /** A state file (statefile.ts): its servers may say `drain-until`. */
  stateFile?: boolean;
}

export interface ConfigFile {
  file: string;
  daemon: DaemonSettings;
  timeouts?: Timeouts;
  timeoutsLine: number;
  services: DesiredService[];
  /** The line of each daemon setting the file has (for errors found after parsing). */
  daemonLines?: Partial<Record<keyof DaemonSettings, number>>;
  /** The line of each daemon of daemon.sync. */
  syncLines?: Partial<Record<SyncState, number>>;
  /** The file has a `services` key (`services: []` included): a reload may delete every service. */
  servicesKey?: boolean;
  /** uvsadm --add-mark rules (`marks:`), each with its line; none (no `marks` key): a reload leaves the table's alone. */
  marks?: Array<MarkInfo & { line: number }>;
  /** What reading it warned about ("keepalived.conf: FILE:LINE: ..."): a reload reports them. */
  warnings?: string[];
  /** A state file's servers that were draining when it was written, with the time (ms since the
   *  epoch) their drain ends: applying it deletes them then (now, if past). */
  drains?: DrainingServer[];
}

/** A server a reload removed, at weight 0 until `until` (ms since the epoch), then deleted. */
export interface DrainingServer {
  service: ServiceKey;
  addr: string;
  port: number;
  until: number;
}

/** A config error: "FILE:LINE: FIELD: problem". */
function fail(file: string, line: number, field: string, problem: string): never {
  throw new UvsError('BAD_CONFIG', `${file}:${line}`, `${file}:${line}: ${field}: ${problem}`);
}

const DAEMON_KEYS = [
  'tap', 'bridge', 'addresses', 'gateway', 'socket', 'metrics', 'conn-max', 'neigh-max', 'drain-timeout', ...Object.values(RELOADABLE_DAEMON_KEYS), 'state-file',
  'bgp-include', 'bgp-bird-socket', 'bgp-next-hop', 'bgp-watch', 'role', 'ha-groups', 'vrrp-fifo', 'sync', 'health-concurrency', 'health-process-concurrency', 'arp-watch',
  ...Object.values(SCRIPT_DAEMON_KEYS),
];
const TOP_KEYS = ['daemon', 'timeouts', 'marks', 'services'];
const MARK_KEYS = ['fwmark', 'proto', 'address', 'ports'];
const SERVICE_KEYS = ['proto', 'address', 'port', 'fwmark', 'scheduler', 'flags', 'persistent', 'netmask', 'ops', 'pe', 'synproxy', 'local-addresses', 'health', 'servers'];
const SERVER_KEYS = ['address', 'port', 'method', 'weight', 'upper', 'lower', ...TUN_KEYS, 'health'];
/** A state file's servers may also be draining: until when (ConfigFile.drains). */
const STATE_SERVER_KEYS = [...SERVER_KEYS, 'drain-until'];
/** What a --config file's server with a state file's key is told (a state file copied as a config while a server drained). */
const STATE_ONLY_HINT: Readonly<Record<string, string>> = {
  'drain-until': "a state file's field (this server was draining when uvsd saved it), not a --config file's: leave the server out (it was being removed), or make the file with uvsadm --dump-config",
};
const METHODS: Record<string, Fwd> = { dr: 'dr', route: 'dr', nat: 'nat', masq: 'nat', tun: 'tun', tunnel: 'tun', fullnat: 'fullnat' };

/** A state file's first and last lines (statefile.ts); YAML comments, so it reads as a config file. */
export const STATE_END = '# uvs state end';
export const STATE_HEADER = `# uvsd state file (uvsd --state-file): complete only if its last line is "${STATE_END}"`;

/** Is text a state file (its header line) cut off before its end line? undefined: not a state file. */
export function stateCutOff(text: string): boolean | undefined {
  const head = `${STATE_HEADER}\n`;
  if (!text.startsWith(head) && !head.startsWith(text)) return undefined;
  return !text.trimEnd().endsWith(`\n${STATE_END}`);
}

/** Most YAML aliases (`*name`) one file may use; each use is read again (parseConfig). */
const MAX_YAML_ALIASES = 10000;

/** Parse and check the shape of a config file's text. Values' meaning is checked by loadTable. */
export function parseConfig(text: string, file: string, o: ParseOptions = {}): ConfigFile {
  // A state file given as --config (a copy of the running table) is read as one: cut off, it
  // would be a smaller table (a service's servers, or whole services, missing) taken as complete.
  if (o.stateFile !== true && text !== '' && stateCutOff(text) === true) {
    throw new UvsError('BAD_CONFIG', file, `${file}: a state file cut off (its last line is not "${STATE_END}"): its table is incomplete`);
  }
  const lc = new (yaml().LineCounter)();
  // merge: YAML's `<<: *anchor` merge keys (read by mapFields, which also resolves aliases).
  const doc = yaml().parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    // With prettyErrors off the error has no linePos: its offset gives the line.
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    fail(file, line, 'yaml', e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  }
  return checkConfigDocument(doc, lc, file, o);
}

/** Check the shape of a parsed config document (parseConfig's second half; the fuzz tests mutate documents). */
export function checkConfigDocument(doc: Document, lc: LineCounter, file: string, o: ParseOptions = {}): ConfigFile {
  const { isAlias, isMap, isScalar, isSeq } = yaml();
  const lineOf = (n: unknown): number => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return r === undefined ? 1 : lc.linePos(r[0]).line;
  };
  // YAML aliases (`*name`) stand for the node their anchor (`&name`) is on, as any YAML reader
  // takes them (until 2026-12-07 read as nothing: `scheduler: *s` was "must be a non-empty
  // string, got nothing"). Each use is walked again, so their number is bounded: a file of
  // aliases of aliases would otherwise expand exponentially (the "billion laughs").
  let aliases = 0;
  const deref = (n: unknown, line: number, path: string): YamlNode | null => {
    let node = (n as YamlNode | null | undefined) ?? null;
    while (isAlias(node)) {
      if (++aliases > MAX_YAML_ALIASES) fail(file, line, path || 'document', `more than ${MAX_YAML_ALIASES} YAML aliases used: write the values out`);
      node = (node.resolve(doc) as YamlNode | undefined) ?? fail(file, line, path || 'document', `YAML alias *${node.source} names no anchor`);
    }
    return node;
  };
  /** The mappings being merged (mapFields): one met again merges itself. */
  const merging = new Set<YamlNode>();
  const mapFields = (f: Field, allowed: string[], hints?: Readonly<Record<string, string>>): Map<string, Field> => {
    if (!isMap(f.node)) fail(file, f.line, f.path || 'document', 'must be a mapping');
    const out = new Map<string, Field>();
    // The mapping's own keys win over merged ones (`<<: *anchor` or `<<: [*a, *b]`, the first of a list winning).
    const merges: Array<{ node: YamlNode; line: number }> = [];
    for (const pair of f.node.items) {
      if (isScalar(pair.key) && typeof pair.key.value === 'symbol') {
        const line = lineOf(pair.value ?? pair.key);
        const v = deref(pair.value, line, f.path);
        for (const m of isSeq(v) ? v.items.map((x) => deref(x, line, f.path)) : [v]) {
          if (!isMap(m)) fail(file, line, `${f.path === '' ? '' : `${f.path}.`}<<`, 'a YAML merge key takes a mapping or a list of mappings');
          merges.push({ node: m, line });
        }
        continue;
      }
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const path = f.path === '' ? key : `${f.path}.${key}`;
      if (!allowed.includes(key)) fail(file, lineOf(pair.key), path, hints?.[key] ?? `unknown field (known: ${allowed.join(', ')})`);
      const line = lineOf(pair.value ?? pair.key);
      out.set(key, { node: deref(pair.value, line, path), line, path });
    }
    for (const m of merges) {
      // A mapping merged into itself, or into one it merges (`a: &x { <<: *x }`): no end to it.
      if (merging.has(m.node)) fail(file, m.line, `${f.path === '' ? '' : `${f.path}.`}<<`, 'a YAML merge key names a mapping it is part of');
      merging.add(m.node);
      try {
        for (const [key, field] of mapFields({ node: m.node, line: m.line, path: f.path }, allowed, hints)) if (!out.has(key)) out.set(key, field);
      } finally {
        merging.delete(m.node);
      }
    }
    return out;
  };
  const str = (f: Field): string => {
    if (!isScalar(f.node) || typeof f.node.value !== 'string' || f.node.value === '') fail(file, f.line, f.path, `must be a non-empty string, got ${show(f)}`);
    return f.node.value;
  };
  /** A number as the file writes it (0x10 and 1e3 are YAML numbers too), else undefined. */
  const numberText = (f: Field): string | undefined => (isScalar(f.node) && typeof f.node.value === 'number' ? f.node.source ?? String(f.node.value) : undefined);
  /** An integer's text (a bare port: --metrics 9478, --ftp-ports 21), else undefined. */
  const intText = (f: Field): string | undefined => (isScalar(f.node) && Number.isInteger(f.node.value) ? numberText(f) : undefined);
  // Written in decimal, as the command line takes them (uvsd's options, uvsadm's): no 0x10, 0o20, 1e3, +16 or 16.0.
  const int = (f: Field, min: number, max: number): number => {
    const v = isScalar(f.node) ? f.node.value : undefined;
    if (typeof v !== 'number' || !/^-?\d+$/.test(numberText(f)!) || v < min || v > max) fail(file, f.line, f.path, `must be an integer ${min}..${max}, got ${numberText(f) ?? show(f)}`);
    return v;
  };
  const frac = (f: Field): number => {
    const v = isScalar(f.node) ? f.node.value : undefined;
    if (typeof v !== 'number' || !FRACTION_TEXT.test(numberText(f)!) || !(v >= 0 && v <= 1)) fail(file, f.line, f.path, `must be a fraction 0..1, got ${numberText(f) ?? show(f)}`);
    return v;
  };
  const bool = (f: Field): boolean => {
    const v = isScalar(f.node) ? f.node.value : undefined;
    if (typeof v !== 'boolean') fail(file, f.line, f.path, `must be true or false, got ${show(f)}`);
    return v;
  };
  /** sloppy-tcp: true (= all), false (= off), or one of off / all / mh. */
  const sloppy = (f: Field): 'off' | 'all' | 'mh' => {
    const v = isScalar(f.node) ? f.node.value : undefined;
    if (v === true) return 'all';
    if (v === false) return 'off';
    if (v !== 'off' && v !== 'all' && v !== 'mh') fail(file, f.line, f.path, `must be true, false, off, all or mh, got ${show(f)}`);
    return v;
  };
  const list = (f: Field): Field[] => {
    if (!isSeq(f.node)) fail(file, f.line, f.path, `must be a list, got ${show(f)}`);
    return f.node.items.map((n, i) => ({ node: deref(n, lineOf(n), `${f.path}[${i}]`), line: lineOf(n), path: `${f.path}[${i}]` }));
  };
  const isNull = (f: Field | undefined): boolean => f === undefined || f.node === null || (isScalar(f.node) && f.node.value === null);
  const show = (f: Field): string => (isScalar(f.node) ? JSON.stringify(f.node.value) : isSeq(f.node) ? 'a list' : isMap(f.node) ? 'a mapping' : 'nothing');
  const warnings: string[] = [];
  /** daemon.enable-script-security (read before the services); without it, the insecure scripts
   *  by line (one SECURITY VIOLATION warning names the first; a service's checks are read once per server). */
  let scriptSecurity = false;
  const insecure = new Map<string, string>();
  const refusedAt = new Set<string>();
  const helpers: FieldHelpers = {
    file, fail: (line, field, problem) => fail(file, line, field, problem), mapFields, str, int, bool, list, show,
    command: (f, outcome) => {
      const v = str(f);
      const why = o.commandProblem?.(v);
      if (why !== undefined) warnings.push(`${file}:${f.line}: ${f.path}: ${why}: ${outcome}`);
      return v;
    },
    ip: (f) => {
      const v = str(f);
      if (parseIp(v) < 0) fail(file, f.line, f.path, `must be an IPv4 address, got ${show(f)}`);
      return v;
    },
    // As the keepalived.conf reader's runAs (keepalived's check_script_secure).
    script: (f, command, user, leftOut, userHint) => {
      const at = `${file}:${f.line}: ${f.path}`;
      const refuse = (why: string): false => {
        if (!refusedAt.has(at)) warnings.push(`${at}: ${command} refused (daemon.enable-script-security): ${why}; ${leftOut}`);
        refusedAt.add(at);
        return false;
      };
      if (user === undefined && scriptSecurity) return refuse(`no user to run it as (this file has no script_user: ${userHint})`);
      const why = o.scriptInsecurity?.(command, user);
      if (why !== undefined && scriptSecurity) return refuse(`it runs as root and ${why}`);
      if (why !== undefined && !insecure.has(at)) insecure.set(at, `${command}: ${why}`);
      return true;
    },
  };

  /**
   * Fails on the second copy of `key` (a service, a server of one service, a local address, a
   * mark rule), naming the first's line: a start adds both and refuses the second, while a
   * reload's difference, keyed like this, would keep one copy and accept the file.
   */
  const once = (seen: Map<string, number>, key: string, f: Field, what: string): void => {
    const first = seen.get(key);
    if (first !== undefined) fail(file, f.line, f.path, `${what} is already at line ${first} (list it once)`);
    seen.set(key, f.line);
  };

  const cfg: ConfigFile = { file, daemon: {}, timeoutsLine: 1, services: [] };
  if (doc.contents === null) return cfg; // an empty file: no settings, no services
  const top = mapFields({ node: deref(doc.contents, lineOf(doc.contents), ''), line: lineOf(doc.contents), path: '' }, TOP_KEYS);

  const d = top.get('daemon');
  if (!isNull(d)) {
    const m = mapFields(d!, DAEMON_KEYS);
    const g = (k: string) => m.get(k);
    // Every value is checked as uvsd's start checks it, whether or not the command line wins.
    const lines: Partial<Record<keyof DaemonSettings, number>> = {};
    cfg.daemonLines = lines;
    const set = <K extends keyof DaemonSettings>(k: K, parse: (f: Field) => DaemonSettings[K]): void => {
      const f = g(daemonKeyName(k));
      if (f === undefined) return;
      lines[k] = f.line;
      cfg.daemon[k] = parse(f);
    };
    const checked = (problem: (v: string) => string | undefined) => (f: Field): string => {
      const v = str(f);
      const why = problem(v);
      return why === undefined ? v : fail(file, f.line, f.path, why);
    };
    /** A string that `parse` takes (its error, with the field's file:line, otherwise). */
    const parsed = (parse: (v: string) => unknown, text = str) => (f: Field): string => {
      const v = text(f);
      try {
        parse(v);
      } catch (e) {
        fail(file, f.line, f.path, (e as Error).message);
      }
      return v;
    };
    set('tap', checked(ifnameProblem));
    set('bridge', checked(ifnameProblem));
    set('addresses', (f) => {
      const items = list(f);
      if (items.length === 0) fail(file, f.line, f.path, 'must list at least one address (a.b.c.d/len)');
      const addrs = items.map((x) => {
        const v = str(x);
        try {
          return { text: v, addr: parseAddrText(v) };
        } catch (e) {
          return fail(file, x.line, x.path, (e as Error).message);
        }
      });
      if (addrs.every((a) => a.addr.floating === true)) fail(file, f.line, f.path, 'at least one address must be fixed (not floating): a backup needs an address of its own');
      return addrs.map((a) => a.text);
    });
    set('gateway', helpers.ip);
    set('socket', checked(socketPathProblem));
    // A bare port (as --metrics 9478) is a YAML integer: taken as its text.
    set('metrics', parsed(parseListen, (f) => intText(f) ?? str(f)));
    set('connMax', (f) => int(f, 1, 1 << 26));
    set('neighMax', (f) => int(f, NEIGH_MAX_MIN, NEIGH_MAX_LIMIT));
    set('drainTimeout', (f) => int(f, 0, 86400));
    set('role', (f) => {
      const r = str(f);
      if (r !== 'master' && r !== 'backup') fail(file, f.line, f.path, `must be master or backup, got ${JSON.stringify(r)}`);
      return r;
    });
    set('haGroups', (f) => list(f).map(parsed(parseHaGroup)));
    set('vrrpFifo', str);
    // Each daemon's values as uvsadm --start-daemon takes them; what needs the host (the
    // interface, the key file) is checked with the other settings (settings.ts combinationProblem).
    set('sync', (f) => {
      const out: SyncSettings = {};
      const syncLines: Partial<Record<SyncState, number>> = {};
      cfg.syncLines = syncLines;
      for (const [state, df] of mapFields(f, ['master', 'backup'])) {
        const dm = mapFields(df, Object.keys(SYNC_KEYS));
        const spec: SyncSpec = {};
        const num = (k: string, min: number, max: number): number | undefined => (dm.get(k) === undefined ? undefined : int(dm.get(k)!, min, max));
        const text = (k: string, parse: (v: Field) => string): string | undefined => (dm.get(k) === undefined ? undefined : parse(dm.get(k)!));
        spec.syncid = num('syncid', 0, 255);
        spec.mcastInterface = text('mcast-interface', checked(ifnameProblem));
        spec.syncPeer = text('sync-peer', helpers.ip);
        spec.keyFile = text('sync-key-file', str) ?? fail(file, df.line, `${df.path}.sync-key-file`, 'missing (the shared secret\'s file: sync is always authenticated)');
        spec.maxlen = num('sync-maxlen', 0, 65507);
        spec.group = text('mcast-group', helpers.ip);
        spec.port = num('mcast-port', 1, 65535);
        spec.ttl = num('mcast-ttl', 1, 255);
        for (const k of Object.keys(spec) as Array<keyof SyncSpec>) if (spec[k] === undefined) delete spec[k];
        out[state as SyncState] = spec;
        syncLines[state as SyncState] = df.line;
      }
      return out;
    });
    set('secureTcpAbove', frac);
    set('evictAbove', frac);
    set('maxConnRatePerSource', (f) => int(f, 0, 1_000_000));
    set('arpAcceptUnsolicited', bool);
    set('expireQuiescentTemplate', bool);
    set('garpRefresh', (f) => int(f, 0, 86_400));
    set('sloppyTcp', sloppy);
    set('connReuseMode', (f) => int(f, 0, 3));
    set('synproxySynRetries', (f) => int(f, 0, SYNPROXY_SYN_RETRIES_MAX));
    set('toa', bool);
    set('icmpRatelimit', (f) => int(f, 0, 3_600_000));
    set('scheduleIcmp', bool);
    // A list of ports, one port (a YAML integer) or their text ("21,2121", "none").
    set('ftpPorts', (f) => {
      const text = isSeq(f.node) ? list(f).map((x) => String(int(x, 1, 65535))).join(',') || 'none'
        : intText(f) ?? str(f);
      try {
        return parseFtpPorts(text);
      } catch (e) {
        return fail(file, f.line, f.path, (e as Error).message);
      }
    });
    set('stateFile', str);
    set('bgpInclude', str);
    set('bgpBirdSocket', str);
    set('bgpNextHop', helpers.ip);
    set('bgpWatch', (f) => int(f, 1, BGP_WATCH_MAX_S));
    set('healthConcurrency', (f) => int(f, 1, 10000));
    set('healthProcessConcurrency', (f) => int(f, 1, 10000));
    set('arpWatch', (f) => int(f, 0, ARP_WATCH_MAX_S));
    set('enableScriptSecurity', bool);
    scriptSecurity = cfg.daemon.enableScriptSecurity === true;
  }
  const t = top.get('timeouts');
  if (!isNull(t)) {
    const m = mapFields(t!, ['tcp', 'tcpfin', 'udp']);
    const v = (k: string) => (m.get(k) === undefined ? 0 : int(m.get(k)!, 0, MAX_TIMEOUT));
    cfg.timeouts = { tcp: v('tcp'), tcpfin: v('tcpfin'), udp: v('udp') };
    cfg.timeoutsLine = t!.line;
  }
  const protoOf = (f: Field): Proto => {
    const v = str(f);
    return v === 'tcp' || v === 'udp' || v === 'sctp' ? v : fail(file, f.line, f.path, `must be tcp, udp or sctp, got "${v}"`);
  };
  const mk = top.get('marks');
  if (!isNull(mk)) {
    const seenMarks = new Map<string, number>();
    cfg.marks = list(mk!).map((f) => {
      const m = mapFields(f, MARK_KEYS);
      const need = (k: string): Field => m.get(k) ?? fail(file, f.line, `${f.path}.${k}`, 'missing');
      // ports: 443, "5000-5100", or none: every port.
      const pf = m.get('ports');
      const pv = pf !== undefined && isScalar(pf.node) ? String(pf.node.value) : '';
      const pm = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(pv);
      const lo = pm === null ? 0 : Number(pm[1]);
      const hi = pm === null ? 65535 : Number(pm[2] ?? pm[1]);
      if (pf !== undefined && (pm === null || hi > 65535 || lo > hi)) fail(file, pf.line, pf.path, `must be a port or a range PORT-PORT (0..65535), got ${show(pf)}`);
      const rule = { fwmark: int(need('fwmark'), 1, MAX_FWMARK), proto: protoOf(need('proto')), addr: helpers.ip(need('address')), portMin: lo, portMax: hi, line: f.line };
      once(seenMarks, markKey(rule), f, markText(rule));
      return rule;
    });
  }
  const s = top.get('services');
  cfg.servicesKey = s !== undefined;
  if (!isNull(s)) {
    const seenServices = new Map<string, number>();
    for (const sf of list(s!)) {
      const m = mapFields(sf, SERVICE_KEYS);
      const need = (k: string): Field => m.get(k) ?? fail(file, sf.line, `${sf.path}.${k}`, 'missing');
      // A firewall-mark service (ipvsadm -f) is named by its mark alone.
      const mf = m.get('fwmark');
      if (mf !== undefined) {
        for (const k of ['proto', 'address', 'port']) if (m.get(k) !== undefined) fail(file, m.get(k)!.line, m.get(k)!.path, 'a service with fwmark has no proto, address or port (its marks say which packets it takes)');
      }
      const fwmark = mf === undefined ? 0 : int(mf, 1, MAX_FWMARK);
      const proto = fwmark !== 0 ? 'tcp' : protoOf(need('proto'));
      const spec: DesiredSpec = {
        proto, addr: fwmark !== 0 ? '0.0.0.0' : str(need('address')), port: fwmark !== 0 ? 0 : int(need('port'), 0, 65535), ...(fwmark !== 0 ? { fwmark } : {}),
        sched: m.get('scheduler') ? str(m.get('scheduler')!) : 'wlc',
        flags: m.get('flags') ? list(m.get('flags')!).map(str) : [],
        persist: m.get('persistent') ? int(m.get('persistent')!, 0, MAX_TIMEOUT) : 0,
        netmask: m.get('netmask') ? str(m.get('netmask')!) : '255.255.255.255',
        oneShot: m.get('ops') ? bool(m.get('ops')!) : false,
        pe: m.get('pe') ? str(m.get('pe')!) : '',
        synproxy: m.get('synproxy') ? bool(m.get('synproxy')!) : false,
      };
      once(seenServices, serviceId(spec), sf, `service ${serviceText(spec)}`);
      const seenLaddrs = new Map<string, number>();
      // ADDR, or ADDR:LO-HI for other local ports than 1024-65535 (uvsadm -z's forms).
      const laddrs = m.get('local-addresses') ? list(m.get('local-addresses')!).map((f) => {
        const l = parseLaddrText(str(f)) ?? fail(file, f.line, f.path, `must be ${LADDR_TEXT_FORM}, got ${show(f)}`);
        once(seenLaddrs, l.addr, f, `local address ${l.addr}`);
        return l;
      }) : [];
      const dests: DesiredDest[] = [];
      const destLines: number[] = [];
      const forHealth: ServerForHealth[] = [];
      const servers = m.get('servers');
      /** A server's tun-type, tun-port and tun-csum (the control verbs check the combination). */
      const tunFields = (dm: Map<string, Field>, fwd: Fwd): TunOptions => tunnelOf(helpers, dm, fwd, 'method tun servers') ?? {};

      if (!isNull(servers)) {
        const seenDests = new Map<string, number>();
        for (const df of list(servers!)) {
          const dm = mapFields(df, o.stateFile === true ? STATE_SERVER_KEYS : SERVER_KEYS, STATE_ONLY_HINT);
          const addr = str(dm.get('address') ?? fail(file, df.line, `${df.path}.address`, 'missing'));
          let fwd: Fwd = 'dr';
          if (dm.get('method')) {
            const mt = str(dm.get('method')!);
            fwd = METHODS[mt] ?? fail(file, dm.get('method')!.line, dm.get('method')!.path, `must be one of ${Object.keys(METHODS).join(', ')}, got "${mt}"`);
          }
          // No port, or 0: the service's (as keepalived's real_server IP 0; a port-zero service keeps 0).
          const port = destPort(dm.get('port') ? int(dm.get('port')!, 0, 65535) : undefined, spec.port);
          dests.push({
            // DR and TUN servers take the service's port (a mark service's servers keep theirs, as ipvsadm).
            service: serviceKey(spec), addr, port: takesServicePort(fwd, fwmark) ? spec.port : port, fwd,
            weight: dm.get('weight') ? int(dm.get('weight')!, 0, MAX_WEIGHT) : DEFAULT_WEIGHT,
            upper: dm.get('upper') ? int(dm.get('upper')!, 0, MAX_THRESHOLD) : 0,
            lower: dm.get('lower') ? int(dm.get('lower')!, 0, MAX_THRESHOLD) : 0,
            ...tunFields(dm, fwd),
          });
          const d = dests[dests.length - 1]!;
          const first = seenDests.get(`${d.addr}|${d.port}`);
          if (first !== undefined && o.stateFile === true) {
            // Written by an older uvsd, which kept RIP:0 apart from RIP:PORT (port 0 is the
            // service's port now): the first one stays, the second is left out, said so.
            dests.pop();
            warnings.push(`${file}:${df.line}: ${df.path}: server ${d.addr}:${d.port} is already at line ${first}: left out (an older uvsd listed RIP:0 and RIP:${d.port} apart)`);
            continue;
          }
          once(seenDests, `${d.addr}|${d.port}`, df, `server ${d.addr}:${d.port}`);
          const du = dm.get('drain-until');
          if (du !== undefined) {
            const until = Date.parse(str(du));
            if (Number.isNaN(until)) fail(file, du.line, du.path, `must be a time like 2026-12-04T16:40:00.000Z, got ${show(du)}`);
            (cfg.drains ??= []).push({ service: d.service, addr: d.addr, port: d.port, until });
          }
          destLines.push(df.line);
          const tun = d.fwd === 'tun' ? { tunType: d.tunType, tunPort: d.tunPort, tunCsum: d.tunCsum } : undefined;
          forHealth.push({ addr: d.addr, port: d.port, weight: d.weight, fwd: d.fwd, upper: d.upper, lower: d.lower, tun, health: isNull(dm.get('health')) ? undefined : dm.get('health'), line: df.line });
        }
      }
      const health = parseServiceHealth(helpers, { proto, addr: spec.addr, port: spec.port, fwmark: spec.fwmark, sched: spec.sched, line: sf.line },
        isNull(m.get('health')) ? undefined : m.get('health'), forHealth);
      cfg.services.push({ spec, dests, laddrs, line: sf.line, destLines, file, health });
    }
  }
  const [first] = insecure;
  if (first !== undefined) {
    const n = insecure.size;
    warnings.push(`${first[0]}: SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts (keepalived's warning; ` +
      `${n === 1 ? 'this one' : `${n}, the first here`}: ${first[1]}): set daemon.enable-script-security to refuse them`);
  }
  if (warnings.length > 0) cfg.warnings = warnings;
  return cfg;
}

/** A --config file read by uvsd (start, reload, --check-config): its command lines are checked too. */
export function readConfig(file: string, o: { atStart?: boolean } = {}): ConfigFile {
  const text = readConfigText(file);
  // A file read while it is being written in place (a config-management tool's truncate and
  // write) parses as far as it got: services missing, one cut in a value (port: 201 of 2011),
  // and a reload applied that (until 2026-12-07). A whole text file ends with a newline: a reload
  // refuses one without (the running table stays); a start, with nothing running to keep, takes
  // it with a warning (a file that always lacked it does not stop uvsd after an upgrade).
  const cut = text !== '' && !text.endsWith('\n');
  const why = 'does not end with a newline: cut off while being written? (write the new file beside it and rename it over; by hand: end it with a newline)';
  if (cut && o.atStart !== true) fail(file, text.split('\n').length, 'file', why);
  const cfg = parseConfig(text, file, { commandProblem, scriptInsecurity });
  if (cut) (cfg.warnings ??= []).push(`${file}:${text.split('\n').length}: file: ${why}`);
  return cfg;
}

/** The keepalived.conf k could not be read or parsed (e, its reader's error): a BAD_CONFIG naming it. */
function keepalivedRefused(k: string, e: unknown): UvsError {
  return new UvsError('BAD_CONFIG', k, (e as Error).message);
}

/** A config file's text; a BAD_CONFIG "FILE: cannot read: CODE" if it cannot be read. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UvsError('BAD_CONFIG', file, `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * How a checked server goes into the table: its own method (keepalived's real_server lvs_method,
 * the config file's method), else the virtual server's, with that one's tunnel, and the
 * thresholds it was given (left out: kept by an edit).
 */
export function entryOfServer(vs: VirtualServerSpec, r: RealServerSpec): { fwd: Fwd; upper?: number; lower?: number } & TunOptions {
  const fwd = r.fwd ?? vs.fwd;
  const tun = r.fwd !== undefined ? r.tun : vs.tun;
  return {
    fwd, ...(r.upper !== undefined ? { upper: r.upper } : {}), ...(r.lower !== undefined ? { lower: r.lower } : {}),
    ...(fwd === 'tun' && tun !== undefined ? tun : {}),
  };
}

/** How the sorry server of vs is added: its sorry_server_lvs_method, else the virtual server's method. */
export function sorryEntry(vs: VirtualServerSpec): { fwd: Fwd } & TunOptions {
  const s = vs.sorryServer;
  const fwd = s?.fwd ?? vs.fwd;
  const tun = s?.fwd !== undefined ? s.tun : vs.tun;
  return { fwd, ...(fwd === 'tun' && tun !== undefined ? tun : {}) };
}

/** A keepalived.conf virtual server as the addService spec of its service. */
export function vsServiceSpec(vs: VirtualServerSpec): DesiredSpec {
  return {
    proto: vs.proto, addr: vs.addr, port: vs.port, ...(vs.fwmark !== undefined ? { fwmark: vs.fwmark } : {}), sched: vs.sched, flags: vs.schedFlags ?? [],
    persist: vs.persistence, netmask: vs.netmask ?? '255.255.255.255', oneShot: vs.oneShot ?? false, pe: vs.pe ?? '', synproxy: vs.synproxy ?? false,
  };
}

/**
 * keepalived.conf's virtual servers as config services (their checks in `health`). `running`: the
 * scheduler a service runs with now (a reload's table), which one whose lb_algo was ignored keeps.
 */
export function keepalivedServices(specs: VirtualServerSpec[], running?: (key: ServiceKey) => string | undefined): DesiredService[] {
  return specs.map((vs) => ({
    spec: vs.schedIgnored === true && running !== undefined ? { ...vsServiceSpec(vs), sched: running(serviceKey(vs)) ?? vs.sched } : vsServiceSpec(vs),
    dests: vs.realServers.map((r) => ({
      // The real server's own port: DR/TUN with another port is refused by addDest, with its line.
      service: serviceKey(vs), addr: r.addr, port: r.port,
      ...entryOfServer(vs, r), weight: r.weight, upper: r.upper ?? 0, lower: r.lower ?? 0,
    })),
    // local_address_group has no ports (as DPVS's keepalived): the default.
    laddrs: (vs.laddrs ?? []).map((addr) => ({ addr, portMin: LADDR_PORT_MIN, portMax: LADDR_PORT_MAX })),
    line: vs.origin?.line ?? 1,
    destLines: vs.realServers.map((r) => r.origin?.line ?? vs.origin?.line ?? 1),
    file: vs.origin?.file,
    health: vs,
  }));
}

/** The config file's services plus keepalived.conf's; a virtual server in both is an error. */
export function mergeServices(cfg: ConfigFile, more: DesiredService[]): ConfigFile {
  return runSteps(mergeSteps(cfg, more));
}

/**
 * Virtual servers made config services and merged between two pauses of a reload in slices
 * (~1 ms): in one piece, 10,000 of 4 real servers each held the loop 45-55 ms (bench/tenk-paths.ts).
 */
const MERGE_STEP = 256;

/** mergeServices() a step at a time. */
function* mergeSteps(cfg: ConfigFile, more: DesiredService[]): Steps<ConfigFile> {
  const seen = new Map<string, DesiredService>();
  for (const s of cfg.services) if (seen.set(sk(s.spec), s).size % MERGE_STEP === 0) yield;
  for (const [i, s] of more.entries()) {
    const other = seen.get(sk(s.spec));
    if (other !== undefined) {
      throw new UvsError('BAD_CONFIG', `${s.file}:${s.line}`,
        `${s.file}:${s.line}: virtual_server ${sname(s.spec)} is also in ${other.file ?? cfg.file}:${other.line}`);
    }
    seen.set(sk(s.spec), s);
    if (i % MERGE_STEP === MERGE_STEP - 1) yield;
  }
  return { ...cfg, services: [...cfg.services, ...more] };
}

/**
 * The defenses a reload sets: the file's values (the defaults where it has none), except those
 * given on the command line (`fromCli`, commander's attribute names), which keep winning.
 */
export function defenseChanges(current: Readonly<DefenseOptions>, file: DaemonSettings, fromCli: ReadonlySet<string>): { next: DefenseOptions; changes: string[] } {
  const next: DefenseOptions = { ...current };
  const changes: string[] = [];
  for (const [k, name] of Object.entries(RELOADABLE_DAEMON_KEYS) as Array<[keyof DefenseOptions, string]>) {
    if (fromCli.has(k)) continue;
    const v = file[k] ?? DEFENSE_DEFAULTS[k];
    const text = (x: unknown): string => (Array.isArray(x) ? ftpPortsText(x) : String(x));
    if (text(v) === text(current[k])) continue;
    changes.push(`set ${name} ${text(current[k])} -> ${text(v)}`);
    (next as unknown as Record<string, unknown>)[k] = v;
  }
  return { next, changes };
}

// ---- the difference between the running table and a config ------------------------------------

/**
 * What the health checker says about a config's table (src/health/manager.ts implements it): a
 * failed server is absent (or at weight 0 with inhibit_on_failure), a service below its quorum
 * gets its sorry server. Prepared for one reload; commit() after the table change is applied.
 */
export interface HealthPlan {
  /** The weight a configured server should have now; undefined: not in the table (failed). */
  weightOf(service: ServiceKey, addr: string, port: number, configured: number): number | undefined;
  /** Sorry servers that should be in the table. */
  sorry: Array<{ service: ServiceKey; addr: string; port: number } & ReturnType<typeof sorryEntry>>;
  /** Sorry servers in the table now (in use, or at weight 0 by sorry_server_inhibit), by dk():
   *  removed at once (not drained) when no longer wanted. */
  sorryNow: ReadonlySet<string>;
  /** Sorry servers not needed under the new configuration that stay at weight 0 (sorry_server_inhibit), by dk(). */
  sorryParked: ReadonlySet<string>;
  /** One line per checker change (start / stop / restart checks), for --dry-run. */
  changes: string[];
  /** What a new service's start holds out of the table, and why (alpha, a quorum not met): uvsd --check-config prints them. */
  notes: string[];
  /** Install the new checkers (after the table change is applied). */
  commit(): void;
  /** commit() in steps (a sliced reload runs them with the loop free in between, inside its batch's switch). */
  commitSteps?(): Steps<void>;
}

export interface HealthHook {
  prepare(services: VirtualServerSpec[]): HealthPlan;
  /** prepare() a few services at a time (a reload in slices takes it so). */
  prepareSteps?(services: VirtualServerSpec[]): Steps<HealthPlan>;
}

export interface Plan {
  items: BatchItem[];
  /** The line of each item (for errors), a number: a "file:line" string made per item was garbage but for a refusal. */
  whereLine: Int32Array;
  /** The file of items `from` on (until the next entry): they come in runs of one file. */
  whereFile: Array<{ from: number; file: string }>;
  /** One human line per change, in order (uvsadm --reload --dry-run prints them). */
  changes: string[];
  /** Servers to delete after the drain timeout (keyed by dk() while they drain). */
  drain: Array<{ service: ServiceKey; addr: string; port: number }>;
  /** Servers that are back in the config (their drain is cancelled). */
  undrain: string[];
}

const sk = serviceId;
export const dk = (s: ServiceKey, addr: string, port: number): string => `${sk(s)}|${addr}|${port}`;
const sname = serviceText;
const markKey = (m: MarkInfo): string => `${m.fwmark}|${m.proto}|${m.addr}|${m.portMin}|${m.portMax}`;


const DUMP_HEADER = '# uvsd configuration, written by uvsadm --dump-config';

/** A checked service's servers found in its table by a scan up to this many, by a Map beyond. */
const DESTS_SCANNED = 16;

/** A service's key in the model (serviceKeyOf), from its spec: ConfigManager.applied's key, so the dump finds a service's spec without its text made. */
const appliedKey = (s: ServiceKey): string => serviceKeyOf(s.proto, parseIp(s.addr), s.port, s.fwmark ?? 0);

/** A server's address (uint32 or int32) and port as one number (a dump's matching of configured servers to the table's). */
const destNo = (addr: number, port: number): number => (addr >>> 0) * 65536 + port;
/** destNo of an address as text (-2 for one that is no IPv4 address: matches none). */
const destNoOf = (addr: string, port: number): number => {
  const v = parseIp(addr);
  return v < 0 ? -2 : destNo(v, port);
};

/** scalar() of a name of a closed set (protocol, scheduler, method, flag, tunnel type), worked out once a name. */
const plainOf = new Map<string, string>();
function plain(v: string): string {
  let t = plainOf.get(v);
  if (t === undefined) plainOf.set(v, (t = scalar(v)));
  return t;
}

function serviceDiffers(cur: PlanService, want: DesiredSpec): string[] {
  const out: string[] = [];
  if (cur.sched !== want.sched) out.push(`scheduler ${cur.sched} -> ${want.sched}`);
  if (cur.flags.join(',') !== [...want.flags].join(',')) out.push(`flags [${cur.flags.join(',')}] -> [${want.flags.join(',')}]`);
  if (cur.persist !== want.persist) out.push(`persistent ${cur.persist} -> ${want.persist}`);
  if (cur.netmask !== want.netmask) out.push(`netmask ${cur.netmask} -> ${want.netmask}`);
  if (cur.oneShot !== want.oneShot) out.push(`ops ${cur.oneShot} -> ${want.oneShot}`);
  if ((cur.pe ?? '') !== want.pe) out.push(`pe ${cur.pe || 'none'} -> ${want.pe || 'none'}`);
  if (cur.synproxy !== want.synproxy) out.push(`synproxy ${cur.synproxy} -> ${want.synproxy}`);
  return out;
}

/** What it takes to go from `current` to the config's table. `draining` = servers already draining. */
export function planReload(
  current: PlanTable, curTimeouts: Timeouts, cfg: ConfigFile, drainTimeout: number, draining: ReadonlySet<string>, health?: HealthPlan,
): Plan {
  return runSteps(planSteps(current, curTimeouts, cfg, drainTimeout, draining, health));
}

/** The file of a plan's item i (Plan.whereFile: the last run that begins at or before it). */
function planFileOf(plan: Plan, i: number): string {
  let file = '';
  for (const w of plan.whereFile) if (w.from <= i) file = w.file;
  return file;
}

/** The servers of a service that has none in the table (read, never written: planSteps). */
const NO_DESTS = new Map<string, PlanDest>();

/** Services planned between two yields of planSteps. */
const PLAN_STEP = 16;

/** planReload, yielding every PLAN_STEP services (a reload from the socket or SIGHUP pauses there). */
export function* planSteps(
  current: PlanTable, curTimeouts: Timeouts, cfg: ConfigFile, drainTimeout: number, draining: ReadonlySet<string>, health?: HealthPlan,
): Steps<Plan> {
  const plan: Plan = { items: [], whereLine: new Int32Array(0), whereFile: [], changes: [], drain: [], undrain: [] };
  // The items, their lines and changes are kept in parts of PLAN_PART while planned, and made one
  // array each at the end, a step for each array made and a step for every part copied into it:
  // pushed onto one array each, their growths past ~40,000 were each a copy in one piece, the
  // three in one step (5-8 ms of CPU in a reload replacing 10,000 x 4). (A new array of 60,000 is
  // itself ~1.5 ms here, its pages touched at once: not one piece with anything else.)
  const parts = { items: [] as BatchItem[][], lines: [] as number[][], changes: [] as string[][] };
  let count = 0;
  let n = 0;
  let file = cfg.file;
  const push = (item: BatchItem, line: number, change: string): void => {
    // A run of items of one file: one entry (an array per item beside the others grew in the same
    // piece of work as theirs: each of these arrays' growths past ~50,000 took ~2 ms of CPU).
    if (plan.whereFile.at(-1)?.file !== file) plan.whereFile.push({ from: count, file });
    if (count++ % PLAN_PART === 0) {
      parts.items.push([]);
      parts.lines.push([]);
      parts.changes.push([]);
    }
    parts.items.at(-1)!.push(item);
    parts.lines.at(-1)!.push(line);
    parts.changes.at(-1)!.push(change);
  };
  // Marks first, deletions before additions (a mark moved to other ports must not overlap itself).
  // A config without `marks` leaves the table's alone (`marks: []` deletes them).
  const wantMarks = new Map((cfg.marks ?? []).map((m) => [markKey(m), m]));
  const haveMarks = new Set((current.marks ?? []).map(markKey));
  for (const m of cfg.marks === undefined ? [] : current.marks ?? []) if (!wantMarks.has(markKey(m))) push({ verb: 'delMark', args: m }, 1, `delete ${markText(m)}`);
  for (const m of cfg.marks ?? []) {
    if (!haveMarks.has(markKey(m))) push({ verb: 'addMark', args: { fwmark: m.fwmark, proto: m.proto, addr: m.addr, portMin: m.portMin, portMax: m.portMax } }, m.line, `add ${markText(m)}`);
  }
  // The sorry servers going in or staying in: one that is also a real server is left to them (`sorry` below).
  const sorryIn = new Set((health?.sorry ?? []).map((s) => dk(s.service, s.addr, s.port)));
  // Sharded (shards.ts): one Map of 10,000 services held the loop 2.5 ms growing past 8,192.
  const wanted = new ShardedMap<string, true>();
  for (const s of cfg.services) {
    wanted.set(sk(s.spec), true);
    if (++n % (4 * PLAN_STEP) === 0) yield;
  }
  const have = new ShardedMap<string, PlanService>();
  for (const cur of current.services) {
    const k = sk(cur);
    have.set(k, cur);
    if (!wanted.has(k)) push({ verb: 'deleteService', args: serviceKey(cur) }, 1, `delete service ${sname(cur)}`);
    if (++n % (4 * PLAN_STEP) === 0) yield;
  }
  for (const want of cfg.services) {
    if (++n % PLAN_STEP === 0) yield;
    file = want.file ?? cfg.file;
    const key = serviceKey(want.spec);
    const cur = have.get(sk(want.spec));
    if (cur === undefined) {
      push({ verb: 'addService', args: want.spec }, want.line, `add service ${sname(key)} (${want.spec.sched})`);
    } else {
      const diff = serviceDiffers(cur, want.spec);
      if (diff.length > 0) push({ verb: 'editService', args: want.spec }, want.line, `edit service ${sname(key)}: ${diff.join(', ')}`);
    }
    const curDests = cur === undefined || cur.dests.length === 0 ? NO_DESTS : new Map(cur.dests.map((d) => [`${d.addr}|${d.port}`, d]));
    want.dests.forEach((configured, i) => {
      const line = want.destLines[i] ?? want.line;
      const name = `${sname(key)} -> ${addrPortText(configured.addr, configured.port)}`;
      if (sorryIn.size > 0 && sorryIn.has(dk(key, configured.addr, configured.port))) return;
      // No table's servers (an added service): no key to look up.
      const at = curDests.size === 0 ? '' : `${configured.addr}|${configured.port}`;
      const c = curDests.size === 0 ? undefined : curDests.get(at);
      // A failed checked server stays out of the table (or at weight 0), whatever the file says.
      const w = health === undefined ? configured.weight : health.weightOf(key, configured.addr, configured.port, configured.weight);
      if (c !== undefined) curDests.delete(at);
      if (w === undefined) {
        if (c !== undefined) push({ verb: 'deleteDest', args: { service: key, addr: c.addr, port: c.port } }, line, `remove server ${name} (health check failed)`);
        return;
      }
      const d = w === configured.weight ? configured : { ...configured, weight: w };
      if (c === undefined) {
        push({ verb: 'addDest', args: d }, line, `add server ${name} weight ${d.weight}`);
        return;
      }
      const k = dk(key, d.addr, d.port);
      if (draining.has(k)) plan.undrain.push(k);
      const what: string[] = [];
      if (c.weight !== d.weight) what.push(`weight ${c.weight} -> ${d.weight}`);
      if (c.fwd !== d.fwd) what.push(`method ${c.fwd} -> ${d.fwd}`);
      if (c.upper !== d.upper || c.lower !== d.lower) what.push(`thresholds ${c.upper}/${c.lower} -> ${d.upper}/${d.lower}`);
      if (c.fwd === d.fwd && tunText(c) !== tunText(d)) what.push(`tunnel ${tunText(c)} -> ${tunText(d)}`);
      if (what.length > 0) push({ verb: 'editDest', args: d }, line, `${what.length === 1 && what[0]!.startsWith('weight') ? 're-weight' : 'edit'} server ${name}: ${what.join(', ')}`);
    });
    const sorryLine = want.health?.sorryServer?.origin?.line ?? want.line;
    for (const s of health?.sorry ?? []) {
      if (sk(s.service) !== sk(key)) continue;
      const c = curDests.get(`${s.addr}|${s.port}`);
      if (c !== undefined) {
        curDests.delete(`${s.addr}|${s.port}`);
        // At weight 0 (sorry_server_inhibit), or a real server that is also the sorry server (its destination becomes that).
        if (c.weight !== 1 || c.fwd !== s.fwd) {
          const what = [`weight ${c.weight} -> 1`, ...(c.fwd === s.fwd ? [] : [`method ${c.fwd} -> ${s.fwd}`])].join(', ');
          push({ verb: 'editDest', args: { ...s, service: key, weight: 1, upper: 0, lower: 0 } }, sorryLine, `restore sorry server ${sname(key)} -> ${s.addr}:${s.port}: ${what} (quorum lost)`);
        }
        continue;
      }
      push({ verb: 'addDest', args: { ...s, service: key, weight: 1 } }, sorryLine, `add sorry server ${sname(key)} -> ${s.addr}:${s.port} (quorum lost)`);
    }
    if (cur !== undefined) {
      for (const c of curDests.values()) {
        const name = `${sname(key)} -> ${c.addr}:${c.port}`;
        const args = { service: key, addr: c.addr, port: c.port };
        if (health?.sorryParked.has(dk(key, c.addr, c.port))) {
          if (c.weight !== 0) push({ verb: 'editDest', args: { ...args, weight: 0 } }, want.line, `disable sorry server ${name}: weight ${c.weight} -> 0 (sorry_server_inhibit)`);
        } else if (health?.sorryNow.has(dk(key, c.addr, c.port))) {
          push({ verb: 'deleteDest', args }, want.line, `remove sorry server ${name}`);
        } else if (drainTimeout > 0) {
          if (!draining.has(dk(key, c.addr, c.port)) || c.weight !== 0) {
            push({ verb: 'editDest', args: { ...args, weight: 0 } }, want.line, `drain server ${name}: weight ${c.weight} -> 0, removed after ${drainTimeout} s`);
          }
          plan.drain.push(args);
        } else {
          push({ verb: 'deleteDest', args }, want.line, `remove server ${name}`);
        }
      }
    }
    const curL = new Map((cur === undefined ? [] : laddrRangesOf(cur)).map((l) => [l.addr, l]));
    for (const l of want.laddrs) {
      const c = curL.get(l.addr);
      const add: BatchItem = { verb: 'addLaddr', args: { service: key, addr: l.addr, portMin: l.portMin, portMax: l.portMax } };
      if (c === undefined) push(add, want.line, `add local address ${laddrText(l)} to ${sname(key)}`);
      else if (c.portMin !== l.portMin || c.portMax !== l.portMax) {
        // Other ports: the LIP is replaced (a LIP's ports are set when it is added), in this batch.
        push({ verb: 'delLaddr', args: { service: key, addr: l.addr } }, want.line, `delete local address ${laddrText(c)} from ${sname(key)} (its ports change)`);
        push(add, want.line, `add local address ${laddrText(l)} to ${sname(key)} (ports ${c.portMin}-${c.portMax} -> ${l.portMin}-${l.portMax})`);
      }
    }
    const wantL = new Set(want.laddrs.map((l) => l.addr));
    for (const c of curL.values()) if (!wantL.has(c.addr)) push({ verb: 'delLaddr', args: { service: key, addr: c.addr } }, want.line, `delete local address ${laddrText(c)} from ${sname(key)}`);
  }
  file = cfg.file;
  const t = cfg.timeouts;
  if (t !== undefined) {
    const next = { tcp: t.tcp || curTimeouts.tcp, tcpfin: t.tcpfin || curTimeouts.tcpfin, udp: t.udp || curTimeouts.udp };
    if (next.tcp !== curTimeouts.tcp || next.tcpfin !== curTimeouts.tcpfin || next.udp !== curTimeouts.udp) {
      push({ verb: 'setTimeouts', args: t }, cfg.timeoutsLine,
        `set timeouts ${curTimeouts.tcp} ${curTimeouts.tcpfin} ${curTimeouts.udp} -> ${next.tcp} ${next.tcpfin} ${next.udp}`);
    }
  }
  plan.items = yield* joinSteps(parts.items, count, () => new Array<BatchItem>(count));
  plan.changes = yield* joinSteps(parts.changes, count, () => new Array<string>(count));
  plan.whereLine = yield* joinSteps(parts.lines, count, () => new Int32Array(count));
  return plan;
}

/** Items a part of a plan holds (planSteps). */
const PLAN_PART = 4096;

/** `parts` (of `count` in all) copied into what make() makes: when large, made in a slice of its own (SLICE_END), a yield after every part. */
function* joinSteps<T, A extends { [i: number]: T }>(parts: readonly (readonly T[])[], count: number, make: () => A): Steps<A> {
  if (count > PLAN_PART) yield SLICE_END;
  const into = make();
  if (count > PLAN_PART) yield;
  let at = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) into[at++] = p[i]!;
    if (count > PLAN_PART) yield;
  }
  return into;
}

// ---- the running side: load, reload, drain, dump --------------------------------------------

/** Where else the table comes from, and who checks it (uvsd wires these; tests may leave them out). */
export interface ConfigSources {
  /** The --keepalived-conf file, re-read on every reload like the --config file. */
  keepalived?: string;
  /** Reads a keepalived.conf (src/health/load.ts); throws "file:line: problem". */
  loadKeepalived?: (file: string) => { services: VirtualServerSpec[]; warnings: string[] };
  /** The same off the event loop, for a reload in slices (config-thread.ts loadKeepalivedOffThread). */
  loadKeepalivedSliced?: (file: string, pause: Pause) => Promise<{ services: VirtualServerSpec[]; warnings: string[] }>;
  /** How a reload in slices reads the --config file (default: config-thread.ts readConfigOffThread; tests give the table in memory). */
  readConfigSliced?: (file: string, pause: Pause) => Promise<ConfigFile>;
  /** The health checker: failed servers stay out of the table; checkers follow the file. */
  health?: HealthHook;
  /** A warning from reading `file` (logged; a reload also answers with it). */
  warn?: (file: string, msg: string) => void;
  /** A table change made by the manager itself, not by a request (a drained server removed). */
  info?: (fields: object, msg: string) => void;
  /**
   * A reload's daemon settings, called before anything changes: checks them as uvsd's start does
   * (throws a BAD_CONFIG "FILE:LINE: daemon.KEY: problem" for a value uvsd would refuse at its
   * next start), and says what the reload does with them: `changes` (the defenses, applied by
   * apply() after the table change succeeded) and `ignored` (settings read at start only that
   * changed; apply() logs them).
   */
  daemon?: (cfg: ConfigFile) => DaemonReload;
  /** Told of every reload meant to change something (not dry runs), by `via` (SIGHUP, uvsadm): its report or its refusal. */
  /** A reload done or refused (not a dry run); `peer`: the control socket's sender of `uvsadm --reload`. */
  onReload?: (via: string, outcome: ({ report: ReloadReport } | { error: Error }) & { peer?: Peer }) => void;
  /** The settings uvsd runs with that have no config key, as options (commandLineOnly): the dump names them in a comment. */
  commandLineOnly?: string;
}

/** What a reload does with the daemon settings (ConfigSources.daemon). */
export interface DaemonReload {
  changes: string[];
  ignored: string[];
  apply(): void;
}

/** A reload's outcome: the changes (applied, or with dryRun to be applied), the settings ignored until a restart and the files' warnings. */
export interface ReloadReport {
  changes: string[];
  ignored: string[];
  warnings: string[];
}

export class ConfigManager {
  /** Servers draining after a reload removed them (by dk()), with their deletion timers and when
   *  (performance.now(): the state file's drain-until is its wall time, converted each way). */
  private readonly draining = new Map<string, { timer: LongTimeout; until: number }>();
  /** The services of the last applied config, by the model's key (appliedKey: --dump-config writes their health). */
  private applied = new ShardedMap<string, DesiredService>();
  /** Moved by every change of `applied` or `draining`: every service's text is made again (none copied from the last dump: DumpBytes). */
  private dumpEpoch = 0;

  constructor(
    private readonly control: Control,
    /** The file given with --config, if any. */
    readonly file: string | undefined,
    /** The daemon's effective settings (for --dump-config). */
    readonly settings: DaemonSettings,
    readonly sources: ConfigSources = {},
  ) {}

  /** Read the --config file (if any) and the keepalived.conf (if any) into one table. */
  load(): ConfigFile {
    if (this.file === undefined) return this.withKeepalived(this.noFile());
    return this.withKeepalived(this.warned(readConfig(this.file)));
  }

  /** load(), the --config file read in a worker thread (config-thread.ts) and taken in slices. */
  private async loadSliced(pause: Pause): Promise<ConfigFile> {
    const cfg = this.file === undefined ? this.noFile() : this.warned(await (this.sources.readConfigSliced ?? readConfigOffThread)(this.file, pause));
    const k = this.sources.keepalived;
    const offThread = this.sources.loadKeepalivedSliced;
    if (k === undefined || offThread === undefined) return this.withKeepalived(cfg);
    const parsed = await offThread(k, pause).catch((e: unknown) => {
      throw keepalivedRefused(k, e);
    });
    await pause();
    // mergedKeepalived() with pause() every MERGE_STEP virtual servers.
    const more: DesiredService[] = [];
    for (let i = 0; i < parsed.services.length; i += MERGE_STEP) {
      for (const d of keepalivedServices(parsed.services.slice(i, i + MERGE_STEP), this.runningSched)) more.push(d);
      await pause();
    }
    const warnings = this.keepalivedWarnings(k, parsed);
    return { ...await runStepsSliced(mergeSteps(cfg, more), pause), warnings: [...cfg.warnings ?? [], ...warnings] };
  }

  /** The scheduler the service `k` runs with now, if it runs (keepalivedServices). */
  private readonly runningSched = (k: ServiceKey): string | undefined =>
    this.control.model.services.get(serviceKeyOf(k.proto, parseIp(k.addr), k.port, k.fwmark))?.sched;

  /** The table's part of a reload without --config (the keepalived.conf gives it all). */
  private noFile(): ConfigFile {
    return { file: this.sources.keepalived ?? '', daemon: {}, timeoutsLine: 1, services: [] };
  }

  /** cfg, its warnings told to sources.warn. */
  private warned(cfg: ConfigFile): ConfigFile {
    for (const w of cfg.warnings ?? []) this.sources.warn?.(this.file!, w);
    return cfg;
  }

  /** cfg plus the keepalived.conf's services (read now). */
  withKeepalived(cfg: ConfigFile): ConfigFile {
    const k = this.sources.keepalived;
    if (k === undefined || this.sources.loadKeepalived === undefined) return cfg;
    let parsed: { services: VirtualServerSpec[]; warnings: string[] };
    try {
      parsed = this.sources.loadKeepalived(k);
    } catch (e) {
      throw keepalivedRefused(k, e);
    }
    return this.mergedKeepalived(cfg, k, parsed);
  }

  /** cfg plus the services of the keepalived.conf k, as read; its warnings told to sources.warn. */
  private mergedKeepalived(cfg: ConfigFile, k: string, parsed: { services: VirtualServerSpec[]; warnings: string[] }): ConfigFile {
    const more = keepalivedServices(parsed.services, this.runningSched);
    const warnings = this.keepalivedWarnings(k, parsed);
    return { ...mergeServices(cfg, more), warnings: [...cfg.warnings ?? [], ...warnings] };
  }

  /** The keepalived.conf k's warnings as a reload reports them, told to sources.warn. */
  private keepalivedWarnings(k: string, parsed: { warnings: string[] }): string[] {
    const warnings = parsed.warnings.map((w) => `keepalived.conf: ${w}`);
    for (const w of warnings) this.sources.warn?.(k, w);
    return warnings;
  }

  get drainTimeout(): number {
    return this.settings.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT;
  }

  /** Apply (or with dryRun only check) a config; returns the changes made. All or nothing. */
  apply(cfg: ConfigFile, dryRun: boolean): string[] {
    const ctl = this.control;
    const { steps, last } = this.planner(cfg);
    const { plan, hp } = runSteps(steps());
    try {
      ctl.call('batch', { items: plan.items, dryRun });
    } catch (e) {
      throw this.refusal(last(), e);
    }
    if (!dryRun) this.committed(cfg, plan, hp);
    return [...plan.changes, ...(hp?.changes ?? [])];
  }

  /**
   * apply() in slices, through the batch verb's sliced path (Control.batchInSlices): the
   * difference is planned (the health checker's view included) and validated again if the table
   * changed meanwhile, and applied all or nothing.
   */
  private async applySliced(cfg: ConfigFile, dryRun: boolean, pause: Pause): Promise<string[]> {
    const { steps, last } = this.planner(cfg);
    // The services by key, made here a few at a time (shards.ts): in committed(), 10,000 of them held the loop 2-7 ms.
    const applied = new ShardedMap<string, DesiredService>();
    for (const s of cfg.services) {
      applied.set(appliedKey(s.spec), s);
      if ((applied.size & 255) === 0) await pause();
    }
    let done: { plan: Plan; hp: HealthPlan | undefined };
    try {
      done = await this.control.batchInSlices(steps, dryRun, pause, (p) => this.committedSteps(cfg, p.plan, p.hp, applied));
    } catch (e) {
      throw this.refusal(last(), e);
    }
    // Not copied when nothing follows (the report and the reply do the same): a copy of 60,000 changes was ~2 ms at once.
    return (done.hp?.changes.length ?? 0) === 0 ? done.plan.changes : [...done.plan.changes, ...done.hp!.changes];
  }

  /** The steps that plan cfg against the table as it is when they run (again at each attempt), and the last plan made. */
  private planner(cfg: ConfigFile): { steps: () => Steps<{ items: BatchItem[]; plan: Plan; hp: HealthPlan | undefined }>; last: () => Plan | undefined } {
    const ctl = this.control;
    let last: Plan | undefined;
    const self = this;
    return {
      steps: function* () {
        const health = self.sources.health;
        const specs = health === undefined ? [] : cfg.services.flatMap((s) => (s.health === undefined ? [] : [s.health]));
        const hp = health === undefined ? undefined : health.prepareSteps !== undefined ? yield* health.prepareSteps(specs) : health.prepare(specs);
        const current = yield* planTableSteps({ control: ctl, model: ctl.model, ops: [] });
        const plan = yield* planSteps(current, ctl.model.timeouts, cfg, self.drainTimeout, new Set(self.draining.keys()), hp);
        last = plan;
        return { items: plan.items, plan, hp };
      },
      last: () => last,
    };
  }

  /** A batch's refusal of item i as the config's: "FILE:LINE: the change: why". */
  private refusal(plan: Plan | undefined, e: unknown): unknown {
    if (plan !== undefined && e instanceof UvsError && e.index !== undefined) {
      const at = `${planFileOf(plan, e.index)}:${plan.whereLine[e.index]}`;
      return new UvsError('BAD_CONFIG', at, `${at}: ${plan.changes[e.index]}: ${e.message}`);
    }
    return e;
  }

  /** What follows a config's table change: the checkers installed, removed servers' drain started. */
  private committed(cfg: ConfigFile, plan: Plan, hp: HealthPlan | undefined, applied?: ShardedMap<string, DesiredService>): void {
    hp?.commit();
    this.committedRest(cfg, plan, applied);
  }

  /** committed() in steps: the health checker's commit (commitSteps) with the loop free in between (10,000 x 4: 97-181 ms in one piece). */
  private *committedSteps(cfg: ConfigFile, plan: Plan, hp: HealthPlan | undefined, applied?: ShardedMap<string, DesiredService>): Steps<void> {
    if (hp?.commitSteps !== undefined) yield* hp.commitSteps();
    else hp?.commit();
    this.committedRest(cfg, plan, applied);
  }

  private committedRest(cfg: ConfigFile, plan: Plan, applied?: ShardedMap<string, DesiredService>): void {
    // The --config file's (not a state file's): how its scripts were read, for the dump.
    if (this.file !== undefined && cfg.file === this.file) this.settings.enableScriptSecurity = cfg.daemon.enableScriptSecurity;
    this.applied = applied ?? ShardedMap.of(cfg.services.map((s) => [appliedKey(s.spec), s] as const));
    this.dumpEpoch++; // the drains started and ended here too: drainUntil is called from here alone
    for (const k of plan.undrain) {
      clearLongTimeout(this.draining.get(k)?.timer);
      this.draining.delete(k);
    }
    const now = performance.now();
    for (const d of plan.drain) this.drainUntil(d, now + this.drainTimeout * 1000);
    // A state file's drains go on where they were (a restart in the middle of one).
    for (const d of cfg.drains ?? []) this.drainUntil(d, monoOf(d.until));
  }

  /**
   * Delete a drained server at `until` (performance.now(); at once if past), unless it is draining already. If its
   * weight is no longer 0 then (an operator set one since: uvsadm -e -w), it stays, as ipvsadm
   * -e keeps a server; either way one log line says so.
   */
  private drainUntil(d: Omit<DrainingServer, 'until'>, until: number): void {
    const k = dk(d.service, d.addr, d.port);
    if (this.draining.has(k)) return;
    const name = `${serviceText(d.service)} -> ${d.addr}:${d.port}`;
    // A state file's drain-until may be any time ahead (written by hand): past 24.8 days too.
    const timer = setLongTimeout(() => {
      this.draining.delete(k);
      this.dumpEpoch++;
      const svc = this.control.model.services.get(serviceKeyOf(d.service.proto, parseIp(d.service.addr), d.service.port, d.service.fwmark));
      const dest = svc?.dests[findDest(svc, parseIp(d.addr), d.port)];
      if (dest === undefined) return; // already gone (deleted, service deleted, table cleared)
      if (dest.weight !== 0) {
        this.sources.info?.({ server: name, weight: dest.weight }, `drain of server ${name} ended with weight ${dest.weight} set since: kept`);
        return;
      }
      this.control.call('deleteDest', { service: d.service, addr: d.addr, port: d.port });
      this.sources.info?.({ server: name }, `drained server ${name} removed`);
    }, Math.max(0, until - performance.now()));
    timer.unref();
    this.draining.set(k, { timer, until });
  }

  /** Whether a reload is draining this server (weight 0, deleted at the drain's end). */
  isDraining(service: ServiceKey, addr: string, port: number): boolean {
    return this.draining.has(dk(service, addr, port));
  }

  /** Re-read the --config file and the keepalived.conf and apply the difference. */
  reload(dryRun: boolean): string[] {
    const r = this.reloadReport(dryRun);
    return [...r.changes, ...r.ignored];
  }

  /**
   * reload(), with the settings that changed but are read at start only apart. Everything is
   * checked (the table, the daemon settings) before anything changes. In one piece: uvsd's
   * socket and SIGHUP use reloadSliced.
   */
  reloadReport(dryRun: boolean, via = 'uvsadm --reload', peer?: Peer): ReloadReport {
    try {
      this.reloadable();
      const cfg = this.checked(this.load());
      return this.reported(dryRun, via, cfg, this.apply(cfg.cfg, dryRun), peer);
    } catch (e) {
      throw this.refused(dryRun, via, e, peer);
    }
  }

  /**
   * reloadReport() without holding the event loop more than a slice (SLICE_MS) at a time: the
   * file is read in a worker thread, the difference planned, validated and applied in slices
   * with pause() between them, all or nothing as before. Run it after the changes queued before
   * it (Control.serialized): two reloads never interleave, nor a reload and a socket's batch.
   */
  async reloadSliced(dryRun: boolean, pause: Pause, via = 'uvsadm --reload', peer?: Peer): Promise<ReloadReport> {
    try {
      this.reloadable();
      const cfg = this.checked(await this.loadSliced(pause));
      await pause();
      return this.reported(dryRun, via, cfg, await this.applySliced(cfg.cfg, dryRun, pause), peer);
    } catch (e) {
      throw this.refused(dryRun, via, e, peer);
    }
  }

  private reloadable(): void {
    if (this.file === undefined && this.sources.keepalived === undefined) {
      throw new UvsError('BAD_CONFIG', undefined, 'uvsd was started without --config or --keepalived-conf: nothing to reload');
    }
  }

  /** A reload's config, refused if it would empty the table by mistake, with its daemon settings checked (nothing changed yet). */
  private checked(cfg: ConfigFile): { cfg: ConfigFile; daemon: DaemonReload | undefined } {
    // An emptied or cut file (`: > uvsd.yaml`, a comment left) would delete every service.
    const n = this.control.model.services.size;
    if (this.file !== undefined && this.sources.keepalived === undefined && cfg.servicesKey !== true && n > 0) {
      throw new UvsError('BAD_CONFIG', this.file, `${this.file}: no "services" key: the reload would delete all ${n} services (write "services: []" to mean that)`);
    }
    return { cfg, daemon: this.sources.daemon?.(cfg) };
  }

  /** The table changed (or with dryRun would): the daemon settings applied, the reload told (not for dryRun). */
  private reported(dryRun: boolean, via: string, c: { cfg: ConfigFile; daemon: DaemonReload | undefined }, changes: string[], peer: Peer | undefined): ReloadReport {
    if (!dryRun) c.daemon?.apply();
    const more = c.daemon?.changes ?? [];
    const r = { changes: more.length === 0 ? changes : [...changes, ...more], ignored: c.daemon?.ignored ?? [], warnings: c.cfg.warnings ?? [] };
    if (!dryRun) this.sources.onReload?.(via, peer === undefined ? { report: r } : { report: r, peer });
    return r;
  }

  /** A reload's refusal, told (not for dryRun). */
  private refused(dryRun: boolean, via: string, e: unknown, peer: Peer | undefined): unknown {
    if (!dryRun) this.sources.onReload?.(via, peer === undefined ? { error: e as Error } : { error: e as Error, peer });
    return e;
  }

  /**
   * The running state as a config file, its first line `header`. uvsd --state-file writes its
   * own header and `state`: draining servers say until when (`drain-until`, state files only).
   */
  dump(header = DUMP_HEADER, state = false): string {
    const out = new DumpBytes();
    out.open();
    runSteps(this.dumpSteps(header, state, out));
    out.close();
    return out.toString();
  }

  /**
   * The same text (uvsadm --dump-config from the control socket) in parts of its bytes, each
   * handed on as its chunk is full, made a service at a time in slices ended by pause() where they
   * would pass SLICE_MS (pause.due): 10,000 services took 100-400 ms in one piece. Each part is to
   * be read before the next is asked for (its chunk is written into again). A change made
   * meanwhile may leave the text a mix of before and after it. Until 2026-12-06 the dump was made
   * whole and joined into one string (6 MB at 10,000 services of 4 checked servers), then the
   * reply into another.
   */
  async *dumpParts(pause: Pause, header = DUMP_HEADER): AsyncGenerator<Uint8Array, void, void> {
    const out = new DumpParts();
    const steps = this.dumpSteps(header, false, out);
    const due = dueOf(pause);
    for (;;) {
      const done = steps.next().done === true;
      const parts = out.take(done);
      for (let i = 0; i < parts.length; i++) yield parts[i]!;
      if (done) return;
      if (due()) await pause();
    }
  }

  /**
   * The dump's text into `out` (uvsd --state-file: its DumpBytes, which puts out a service
   * unchanged since its last dump as that dump wrote it; each other one is written into it as
   * it is made); with `pause`, in slices as dumpParts().
   */
  dumpInto(header: string, state: boolean, out: DumpOut, pause?: Pause): void | Promise<void> {
    const steps = this.dumpSteps(header, state, out);
    return pause === undefined ? runSteps(steps) : runStepsSliced(steps, pause);
  }

  /** The dump's text, into out: the header, daemon and timeouts, then each service's, a step each. */
  private *dumpSteps(header: string, state: boolean, out: DumpOut): Steps<void> {
    // The services' keys a part at a time (their order is a list linked through them, ~1 ms to
    // walk at 10,000); each service looked up as its turn comes (eachServiceSteps in verbs.ts).
    // The model the dump began with: a sliced batch or reload committed meanwhile leaves it as
    // it was (eachServiceSteps), so the dump is one table (until 2026-12-07 it could be two).
    const model = this.control.model;
    const keys: string[] = [];
    for (const k of model.services.keys()) if (keys.push(k) % KEYS_STEP === 0) yield;
    out.text(this.settingsText(header, keys.length));
    out.begin(this.dumpEpoch, state);
    // Read from the model (not the list verb's view, whose statistics and rates cost most of its time).
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const svc = model.services.get(k);
      if (svc !== undefined && !out.kept(k, svc.gen)) {
        this.serviceInto(svc, k, state, out.serviceStart());
        out.serviceEnd(k, svc.gen);
      }
      yield;
    }
    yield* out.end();
  }

  /** The dump's first part: the header, daemon, timeouts and marks, and `services:` (of n services). */
  private settingsText(header: string, n: number): string {
    const s = this.settings;
    const daemon: Record<string, unknown> = {};
    if (s.tap !== undefined) daemon.tap = s.tap;
    if (s.bridge !== undefined) daemon.bridge = s.bridge;
    if (s.addresses !== undefined) daemon.addresses = s.addresses;
    if (s.gateway !== undefined) daemon.gateway = s.gateway;
    if (s.socket !== undefined) daemon.socket = s.socket;
    if (s.metrics !== undefined) daemon.metrics = s.metrics;
    if (s.connMax !== undefined) daemon['conn-max'] = s.connMax;
    if (s.neighMax !== undefined && s.neighMax !== NEIGH_MAX_DEFAULT) daemon['neigh-max'] = s.neighMax;
    daemon['drain-timeout'] = this.drainTimeout;
    for (const [k, name] of Object.entries(RELOADABLE_DAEMON_KEYS)) {
      const v = s[k as keyof typeof RELOADABLE_DAEMON_KEYS];
      if (v !== undefined && v !== DEFENSE_DEFAULTS[k as keyof typeof RELOADABLE_DAEMON_KEYS]) daemon[name] = v;
    }
    if (s.stateFile !== undefined) daemon['state-file'] = s.stateFile;
    if (s.bgpInclude !== undefined) daemon['bgp-include'] = s.bgpInclude;
    if (s.bgpBirdSocket !== undefined) daemon['bgp-bird-socket'] = s.bgpBirdSocket;
    if (s.bgpNextHop !== undefined) daemon['bgp-next-hop'] = s.bgpNextHop;
    if (s.bgpWatch !== undefined && s.bgpWatch !== DEFAULT_BGP_WATCH_S) daemon['bgp-watch'] = s.bgpWatch;
    if (s.role !== undefined && s.role !== 'master') daemon.role = s.role;
    if (s.haGroups !== undefined && s.haGroups.length > 0) daemon['ha-groups'] = s.haGroups;
    if (s.vrrpFifo !== undefined) daemon['vrrp-fifo'] = s.vrrpFifo;
    if (s.healthConcurrency !== undefined) daemon['health-concurrency'] = s.healthConcurrency;
    if (s.healthProcessConcurrency !== undefined && s.healthProcessConcurrency !== PROCESS_SLOTS) daemon['health-process-concurrency'] = s.healthProcessConcurrency;
    if (s.arpWatch !== undefined && s.arpWatch !== DEFAULT_ARP_WATCH_S) daemon['arp-watch'] = s.arpWatch;
    if (s.enableScriptSecurity === true) daemon['enable-script-security'] = true;
    // The running sync daemons (uvsadm --start-daemon / --stop-daemon included): a restart with
    // the state file starts them again. None running is written ({}) when uvsd started some.
    const sync = syncSettingsOf(this.control.sync.info());
    if (Object.keys(sync).length > 0 || s.sync !== undefined) daemon.sync = syncYaml(sync);
    const marks = this.control.model.marks.map((k) => {
      const o: Record<string, unknown> = { fwmark: k.fwmark, proto: k.proto, address: formatIp(k.vip) };
      if (k.portMin !== 0 || k.portMax !== 65535) o.ports = k.portMin === k.portMax ? k.portMin : `${k.portMin}-${k.portMax}`;
      return o;
    });
    // Started from this file alone, uvsd would run without them: say so above daemon:.
    const cli = this.sources.commandLineOnly ?? '';
    if (cli !== '') header += `\n# not in this file (command line only): ${cli}`;
    return `${header}\n${toYaml({ daemon, timeouts: { ...this.control.model.timeouts }, ...(marks.length > 0 ? { marks } : {}) })}services:${n === 0 ? ' []' : ''}\n`;
  }

  /**
   * A service's item of the dump's `services:` list into o (k: its key in the model): the text
   * toYaml writes for the mapping of its settings, health and servers, written here without
   * making that mapping (its `health` parts by config-health.ts). One object per server and the
   * library's writer made ~12 KB of garbage per service of 4 servers, and until later that day
   * the `health` parts alone as much again (docs/performance.md, 2026-12-06).
   */
  private serviceInto(m: ServiceModel, k: string, state: boolean, o: ByteOut): void {
    // The keys, numbers, IPv4 addresses and names of closed sets (protocol, scheduler, method)
    // are plain YAML as they are (plain()); any other string goes through scalar().
    if (m.fwmark !== 0) {
      o.ascii('  - fwmark: ');
      o.int(m.fwmark);
    } else {
      o.ascii('  - proto: ');
      o.ascii(plain(m.proto));
      o.ascii('\n    address: ');
      o.ip(m.vip);
      o.ascii('\n    port: ');
      o.int(m.port);
    }
    o.ascii('\n    scheduler: ');
    o.ascii(plain(m.sched));
    o.ascii('\n');
    if (m.schedFlags !== 0) {
      const flags = schedFlagNames(m.schedFlags);
      if (flags.length > 0) {
        o.ascii('    flags:\n');
        for (const f of flags) {
          o.ascii('      - ');
          o.ascii(plain(f));
          o.ascii('\n');
        }
      }
    }
    if (m.persist > 0) {
      o.ascii('    persistent: ');
      o.int(m.persist);
      o.ascii('\n');
    }
    if ((m.netmask >>> 0) !== 0xffffffff) {
      o.ascii('    netmask: ');
      o.ip(m.netmask);
      o.ascii('\n');
    }
    if (m.oneShot) o.ascii('    ops: true\n');
    if (m.pe !== '') {
      o.ascii('    pe: ');
      o.ascii(plain(m.pe));
      o.ascii('\n');
    }
    if (m.synproxy) o.ascii('    synproxy: true\n');
    if (m.laddrs.length > 0) {
      o.ascii('    local-addresses:\n');
      for (const l of m.laddrs) o.str(`      - ${scalar(laddrText({ addr: formatIp(l.addr), portMin: l.portMin, portMax: l.portMax }))}\n`);
    }
    // Checked servers are written as configured: with their weight (not 0 or a misc_dynamic
    // weight), failed ones too (absent from the table); the sorry server is in `health`.
    const want = this.applied.size === 0 ? undefined : this.applied.get(k);
    // The service as the verbs name it, to look up its servers' drains by text (dk()): only while servers drain.
    const key = this.draining.size === 0 ? undefined : serviceKey({ proto: m.proto, addr: formatIp(m.vip), port: m.port, fwmark: m.fwmark });
    if (want?.health !== undefined) {
      this.checkedServersInto(m, key, want, want.health, state, o);
      return;
    }
    let n = 0;
    for (const d of m.dests) {
      // A server a reload removed is draining until it is deleted: gone from a --dump-config file
      // (kept in the state file, with its drain-until, so a restart finishes the drain).
      const a = key === undefined ? undefined : formatIp(d.addr);
      if (key !== undefined && !state && this.draining.has(dk(key, a!, d.port))) continue;
      if (n++ === 0) o.ascii('    servers:\n');
      o.ascii('      - address: ');
      o.ip(d.addr);
      this.serverInto(m, key, state, a, d, d.weight, undefined, o);
    }
    if (n === 0) o.ascii('    servers: []\n');
  }

  /** The `health` and `servers` of a service with health checks (vs): configured servers in the file's order (failed ones too), then any added by hand. */
  private checkedServersInto(m: ServiceModel, key: ServiceKey | undefined, want: DesiredService, vs: VirtualServerSpec, state: boolean, o: ByteOut): void {
    // The sorry server's own method and tunnel (sorry_server_lvs_method), else the virtual server's.
    serviceHealthInto(vs, sorryEntry(vs), o);
    // The table's servers by address and port as one number (a Map only for a long list), each
    // taken once (a flag in a scratch array of the manager's): no text of them made.
    const dests = m.dests;
    if (this.taken.length < dests.length) this.taken = new Uint8Array(2 * dests.length);
    const taken = this.taken;
    taken.fill(0, 0, dests.length);
    const index = dests.length > DESTS_SCANNED ? new Map(dests.map((d, j) => [destNo(d.addr, d.port), j])) : undefined;
    // One that is also the sorry server as configured (the table may hold it as the sorry server).
    const dup = sorryAlsoServer(vs);
    const sorry = vs.sorryServer === undefined ? -1 : destNoOf(vs.sorryServer.addr, vs.sorryServer.port);
    let n = 0;
    for (let i = 0; i < vs.realServers.length; i++) {
      const r = vs.realServers[i]!;
      const no = destNoOf(r.addr, r.port);
      let j = -1;
      if (index !== undefined) j = index.get(no) ?? -1;
      else for (let x = 0; x < dests.length && j < 0; x++) if (destNo(dests[x]!.addr, dests[x]!.port) === no) j = x;
      if (j >= 0) taken[j] = 1;
      o.ascii(n++ === 0 ? '    servers:\n      - address: ' : '      - address: ');
      if (r === dup || j < 0) {
        const w = want.dests[i]!;
        o.str(scalar(w.addr));
        this.serverInto(m, key, state, w.addr, w, r.weight, r, o);
      } else {
        const d = dests[j]!;
        o.ip(d.addr);
        this.serverInto(m, key, state, key === undefined ? undefined : formatIp(d.addr), d, r.weight, r, o);
      }
    }
    for (let j = 0; j < dests.length; j++) {
      const d = dests[j]!;
      if (taken[j] === 1 || destNo(d.addr, d.port) === sorry) continue;
      const addr = key === undefined ? undefined : formatIp(d.addr);
      if (!state && key !== undefined && this.draining.has(dk(key, addr!, d.port))) continue;
      o.ascii(n++ === 0 ? '    servers:\n      - address: ' : '      - address: ');
      o.ip(d.addr);
      this.serverInto(m, key, state, addr, d, d.weight, undefined, o);
    }
    if (n === 0) o.ascii('    servers: []\n');
  }

  /** checkedServersInto's flags of the table's servers taken (kept from service to service). */
  private taken = new Uint8Array(64);

  /**
   * The rest of a server's item of a service's `servers:` list (after its address), as toYaml
   * writes its mapping there; `key` and `addr`: the service's and the server's (to look up its
   * drain), undefined when nothing drains.
   */
  private serverInto(m: ServiceModel, key: ServiceKey | undefined, state: boolean, addr: string | undefined, d: { port: number; fwd: Fwd; upper: number; lower: number } & TunOptions, weight: number, health: RealServerSpec | undefined, o: ByteOut): void {
    if (d.port !== m.port) {
      o.ascii('\n        port: ');
      o.int(d.port);
    }
    o.ascii('\n        method: ');
    o.ascii(plain(d.fwd));
    o.ascii('\n        weight: ');
    o.int(weight);
    o.ascii('\n');
    if (d.upper !== 0) {
      o.ascii('        upper: ');
      o.int(d.upper);
      o.ascii('\n');
    }
    if (d.lower !== 0) {
      o.ascii('        lower: ');
      o.int(d.lower);
      o.ascii('\n');
    }
    const until = state && key !== undefined && this.draining.size !== 0 ? this.draining.get(dk(key, addr!, d.port))?.until : undefined;
    if (until !== undefined) o.str(`        drain-until: ${scalar(new Date(wallOf(until)).toISOString())}\n`);
    if (d.fwd === 'tun' && (d.tunType ?? 'ipip') !== 'ipip') {
      o.ascii(`        tun-type: ${plain(d.tunType!)}\n`);
      if (d.tunType === 'gue' && d.tunPort !== undefined) {
        o.ascii('        tun-port: ');
        o.int(d.tunPort);
        o.ascii('\n');
      }
      if ((d.tunCsum ?? 'nocsum') !== 'nocsum') o.ascii(`        tun-csum: ${plain(d.tunCsum!)}\n`);
    }
    if (health !== undefined) serverHealthInto(health, o);
  }

  stop(): void {
    // The timers only: a state-file save still pending at the stop writes the drains (drain-until).
    for (const t of this.draining.values()) clearLongTimeout(t.timer);
    this.dumpEpoch++;
  }
}
