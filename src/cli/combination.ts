// What uvsd checks over several of its settings at start (and a reload on the file's values):
// apart from settings.ts, which loads the control model and the sync daemon, so that uvsd's
// command line (uvsd-options.ts) is checked before the daemon's modules are loaded.
// settings.ts re-exports optionOf and haGroupText, and its combinationProblem passes the check
// of daemon.sync (the sync daemon's own), which only a --config file sets.

import { formatAddr, formatIp, linkAddrProblem, networkOf, unicastProblem, type LinkAddr } from '../datapath/addr.js';
import { daemonKeyName, MAX_HA_GROUPS, type HaGroupSpec } from '../control/daemon-values.js';
import type { ConfigFile, DaemonSettings } from '../control/config.js';
import type { SyncSpec } from '../control/syncconf.js';
import { fifoPathProblem } from '../control/vrrpfifo.js';
import { socketDirProblem, stateFilePathProblem } from '../control/trust.js';
import type { SettingsOptions } from './settings.js';

/** A daemon setting's option (commander's attribute name): the same but for addresses (--addr) and HA groups (--ha-group). */
export const optionOf = (k: keyof DaemonSettings): string => (k === 'addresses' ? 'addr' : k === 'haGroups' ? 'haGroup' : k);

/** An HA group as --ha-group and the config file write it. */
export const haGroupText = (g: HaGroupSpec): string => `${g.name}=${g.addrs.map(formatIp).join(',')}`;

/** What is wrong with a set of HA groups (each already well formed) beside the director's addresses, or undefined. */
function haGroupsProblem(groups: readonly HaGroupSpec[], addr: readonly LinkAddr[]): string | undefined {
  if (groups.length > MAX_HA_GROUPS) return `${groups.length} groups: at most ${MAX_HA_GROUPS}`;
  const owner = new Map<number, string>();
  for (const g of groups) {
    if (groups.some((h) => h !== g && h.name === g.name)) return `${haGroupText(g)}: the name ${g.name} is given twice`;
    for (const ip of g.addrs) {
      const other = owner.get(ip);
      if (other !== undefined) return `${haGroupText(g)}: ${formatIp(ip)} is in group ${other} too (an address moves with one group)`;
      owner.set(ip, g.name);
      if (addr.some((a) => a.ip === ip && a.floating !== true)) {
        return `${haGroupText(g)}: ${formatIp(ip)} is a fixed --addr (it never moves; make it ",floating" or leave it out)`;
      }
    }
  }
  return undefined;
}

/** Why daemon.sync's daemon `state` (`spec` as the file gives it) cannot start, as the line to print, or undefined. */
export type SyncProblem = (file: ConfigFile | undefined, state: string, spec: SyncSpec) => string | undefined;

/**
 * What uvsd checks over several settings at start, on the values it would start with: the
 * problem, naming the value (`--gateway` given on the command line, else `FILE:LINE:
 * daemon.gateway:` of the --config file), or undefined. A reload runs the same checks.
 * `syncProblem` checks daemon.sync's daemons (settings.ts passes it: it needs the sync modules).
 */
export function combinationProblem(o: SettingsOptions, fromCli: (option: string) => boolean, syncProblem: SyncProblem): string | undefined {
  const file = o.file;
  const at = (k: keyof DaemonSettings): string | undefined => {
    if (file === undefined || fromCli(optionOf(k))) return undefined;
    const line = file.daemonLines?.[k];
    return `${file.file}${line === undefined ? '' : `:${line}`}: daemon.${daemonKeyName(k)}:`;
  };
  const addr = o.addr as LinkAddr[] | undefined;
  if (addr === undefined || addr.length === 0) {
    return file === undefined ? 'at least one --addr a.b.c.d/len is required (the director address used as ARP sender)'
      : `at least one --addr a.b.c.d/len is required (the director address used as ARP sender), or daemon.addresses in ${file.file}`;
  }
  for (const a of addr) {
    const why = linkAddrProblem(a);
    if (why === undefined) continue;
    const w = at('addresses');
    return `${w === undefined ? `--addr ${formatAddr(a)}:` : w} not a unicast host address: ${why}`;
  }
  const gwWhy = o.gateway === undefined ? undefined : unicastProblem(o.gateway, addr);
  if (gwWhy !== undefined) return `${at('gateway') ?? '--gateway:'} not a unicast host address: ${gwWhy}`;
  if (o.gateway !== undefined && networkOf(addr, o.gateway) === undefined) {
    const w = at('gateway');
    return w === undefined ? `--gateway ${formatIp(o.gateway)} is not inside any --addr network`
      : `${w} ${formatIp(o.gateway)} is not inside any network of the addresses (${addr.map(formatAddr).join(', ')})`;
  }
  if (o.bgpInclude === undefined) {
    // Nothing is announced without the include: these would be ignored without a word (the
    // watch and the socket have defaults: only a value given is refused).
    const given = (k: 'bgpNextHop' | 'bgpBirdSocket' | 'bgpWatch'): boolean => (k === 'bgpNextHop' ? o.bgpNextHop !== undefined : fromCli(optionOf(k)) || file?.daemonLines?.[k] !== undefined);
    for (const k of ['bgpNextHop', 'bgpBirdSocket', 'bgpWatch'] as const) {
      if (!given(k)) continue;
      const v = k === 'bgpNextHop' ? formatIp(o.bgpNextHop!) : String(o[k]);
      const w = at(k);
      return w === undefined ? `--${daemonKeyName(k)} ${v} without --bgp-include: nothing is announced (give --bgp-include FILE)`
        : `${w} ${v} without bgp-include: nothing is announced (give daemon.bgp-include or --bgp-include)`;
    }
  }
  if (o.bgpNextHop !== undefined && !addr.some((a) => a.ip === o.bgpNextHop)) {
    // The routers send the VIPs' traffic to the next hop: it must be an address uvsd answers ARP for.
    const w = at('bgpNextHop');
    return w === undefined ? `--bgp-next-hop ${formatIp(o.bgpNextHop)} is not one of the --addr addresses`
      : `${w} ${formatIp(o.bgpNextHop)} is not one of the addresses (${addr.map(formatAddr).join(', ')})`;
  }
  const groupsWhy = o.haGroup === undefined ? undefined : haGroupsProblem(o.haGroup, addr);
  if (groupsWhy !== undefined) return `${at('haGroups') ?? '--ha-group'} ${groupsWhy}`;
  const fifoWhy = o.vrrpFifo === undefined ? undefined : fifoPathProblem(o.vrrpFifo);
  if (fifoWhy !== undefined) return `${at('vrrpFifo') ?? '--vrrp-fifo:'} ${fifoWhy}`;
  for (const [state, spec] of Object.entries(o.sync ?? {})) {
    // As uvsadm --start-daemon checks it (the interface, the key file ...): a start refuses it here, not later.
    const why = syncProblem(file, state, spec);
    if (why !== undefined) return why;
  }
  const socketWhy = o.socket === undefined ? undefined : socketDirProblem(o.socket); // options built from a file alone may lack it
  if (socketWhy !== undefined) return `${at('socket') ?? '--socket'} ${o.socket}: ${socketWhy}`;
  const stateWhy = o.stateFile === undefined ? undefined : stateFilePathProblem(o.stateFile);
  if (stateWhy !== undefined) return `${at('stateFile') ?? '--state-file:'} ${stateWhy}`;
  if (o.stateFile !== undefined && o.keepalivedConf !== undefined) {
    // The import would add the keepalived services again on top of the saved ones.
    const w = at('stateFile');
    return `${w === undefined ? '--state-file' : `${w} ${o.stateFile}:`} and --keepalived-conf cannot be combined (the import would clash with the saved table)`;
  }
  return undefined;
}
