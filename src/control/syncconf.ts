// daemon.sync in the --config file and the state file (docs/ha.md): the sync daemons uvsd starts
// with, in uvsadm --start-daemon's terms. A restarted director (Restart=on-failure, a reboot)
// must not come back as a backup that silently holds no connections.

import type { DaemonSpec } from './protocol.js';
import type { Control } from './model.js';
import type { ConfigFile } from './config.js';
import { SYNC_GROUP, SYNC_MAXLEN, SYNC_PORT, type SyncDaemonInfo, type SyncState } from '../sync/daemon.js';

/** One daemon of daemon.sync: --start-daemon's settings, as the startDaemon verb takes them. */
export type SyncSpec = Omit<DaemonSpec, 'state'>;

/** daemon.sync: the master and/or backup daemon to start. */
export type SyncSettings = Partial<Record<SyncState, SyncSpec>>;

/** A daemon's keys in the file (uvsadm's option names) and the verb's field for each. */
export const SYNC_KEYS = {
  syncid: 'syncid', 'mcast-interface': 'mcastInterface', 'sync-peer': 'syncPeer', 'sync-key-file': 'keyFile',
  'sync-maxlen': 'maxlen', 'mcast-group': 'group', 'mcast-port': 'port', 'mcast-ttl': 'ttl',
} as const satisfies Record<string, keyof SyncSpec>;

/** What ipvsadm and uvs take when the option is left out: not written by a dump. */
const DEFAULTS: Partial<SyncSpec> = { maxlen: SYNC_MAXLEN, group: SYNC_GROUP, port: SYNC_PORT, ttl: 1 };

/** The running daemons (SyncDaemon.info()) as daemon.sync. */
export function syncSettingsOf(daemons: readonly SyncDaemonInfo[]): SyncSettings {
  const out: SyncSettings = {};
  for (const d of daemons) {
    out[d.state] = {
      syncid: d.syncid, ...(d.mcastInterface !== '' ? { mcastInterface: d.mcastInterface } : {}), ...(d.peer !== undefined ? { syncPeer: d.peer } : {}),
      keyFile: d.keyFile, maxlen: d.maxlen, group: d.group, port: d.port, ttl: d.ttl,
    };
  }
  return out;
}

/** daemon.sync as the file spells it (the defaults left out). */
export function syncYaml(s: SyncSettings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const state of ['master', 'backup'] as const) {
    const spec = s[state];
    if (spec === undefined) continue;
    const m: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(SYNC_KEYS)) {
      const v = spec[field];
      if (v !== undefined && v !== DEFAULTS[field]) m[name] = v;
    }
    out[state] = m;
  }
  return out;
}

/**
 * The sync daemons uvsd starts with, and the file that says so: the state file's daemon.sync when
 * it has one (what ran last, uvsadm's --start-daemon / --stop-daemon included: it wins as its
 * table does), else the --config file's; undefined: none.
 */
export function syncAtStart(config: ConfigFile | undefined, saved: ConfigFile | undefined): { sync: SyncSettings; from: ConfigFile } | undefined {
  for (const f of [saved, config]) if (f?.daemon.sync !== undefined) return { sync: f.daemon.sync, from: f };
  return undefined;
}

/** "FILE:LINE: daemon.sync.STATE:" of a daemon of f's daemon.sync. */
export function syncWhere(f: ConfigFile, state: SyncState): string {
  const line = f.syncLines?.[state];
  return `${f.file}${line === undefined ? '' : `:${line}`}: daemon.sync.${state}:`;
}

/**
 * Start the daemons of daemon.sync, master first (as a director's start script would). `where`
 * names each one for an error ("FILE:LINE: daemon.sync.backup:"); a refusal throws an Error
 * with it and the verb's reason, unless `each`: then every daemon is tried, and the ones that
 * started and the refusals are returned.
 */
export async function startSyncDaemons(control: Control, sync: SyncSettings, where: (state: SyncState) => string, each = false): Promise<{ started: SyncSettings; refused: string[] }> {
  const started: SyncSettings = {};
  const refused: string[] = [];
  for (const state of ['master', 'backup'] as const) {
    const spec = sync[state];
    if (spec === undefined) continue;
    try {
      await control.call('startDaemon', { state, ...spec });
      started[state] = spec;
    } catch (e) {
      const why = `${where(state)} ${(e as Error).message}`;
      if (!each) throw new Error(why);
      refused.push(why);
    }
  }
  return { started, refused };
}
