// A large table with health checks, in process (no uvsd): what the scrape tests and
// bench/scrape-slices.ts render. Its HealthView makes its lists afresh at every call (eachEntry, ...:
// as they are walked), as src/health/manager.ts HealthManager does.
import { rig, type Rig } from './harness.js';
import { serviceId, type CheckerStat, type HealthEntry, type HealthQuorum, type ServiceKey } from '../../src/control/protocol.js';
import type { HealthView } from '../../src/metrics/view.js';

export interface BigTable {
  r: Rig;
  health: HealthView;
  /** Every checker's last duration replaced by a new one (checkMs), as the checks between two scrapes do: a
   *  text made of one at a scrape is not the next scrape's (V8 keeps a number's last texts in a cache). */
  tick(): void;
}

/**
 * Checker n's last duration (ms) as HealthManager records it: the difference of two performance.now()
 * readings (fractions of ~13 digits, then the subtraction's), 0.2-50 ms, a distinct one for each n up to 40,000.
 * Until 2026-12-06 `0.125 + (n % 50) / 8`: 50 values of at most 5 digits, which flattered what a scrape
 * spent writing them.
 */
export const checkMs = (n: number): number => {
  const t0 = 1234.5678901 + n * 0.7306713;
  return t0 + 0.2 + ((n * 7919) % 49_999) / 1000.0123 - t0;
};

/** `services` TCP services of `servers` NAT servers each, every server watched by one TCP_CHECK (every 7th down). */
export function bigHealthTable(services: number, servers = 3): BigTable {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: servers * services + 8 });
  const rs: { service: ServiceKey; addr: string; port: number; up: boolean; passed: number; failed: number; notRun: number; lastMs: number }[] = [];
  for (let s = 0; s < services; s++) {
    const service: ServiceKey = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    r.ctl.addService({ ...service, sched: 'rr' });
    for (let i = 0; i < servers; i++) {
      const addr = `10.${2 + i}.${s >> 8}.${s & 255}`;
      r.ctl.addDest({ service, addr, port: 80, fwd: 'nat', weight: 1 });
      const n = rs.length;
      rs.push({ service, addr, port: 80, up: n % 7 !== 0, passed: 1000 + n, failed: n % 13, notRun: n % 5, lastMs: checkMs(n) });
    }
  }
  const byKey = new Map(rs.map((x) => [`${serviceId(x.service)} ${x.addr}:${x.port}`, x]));
  const byService = new Map<string, typeof rs>();
  for (const x of rs) {
    const id = serviceId(x.service);
    const mine = byService.get(id);
    if (mine === undefined) byService.set(id, [x]);
    else mine.push(x);
  }
  type Row = (typeof rs)[number];
  // Each list's fields written into a row: a new object for the lists (entries(), eachEntry, ...),
  // the caller's row for the cursors (as HealthManager's, which make no object per row).
  const fillEntry = (row: HealthEntry, x: Row): HealthEntry => {
    row.service = x.service;
    row.addr = x.addr;
    row.port = x.port;
    row.state = x.up ? 'up' : 'down';
    row.reason = x.up ? 'TCP_CHECK: connected' : 'TCP_CHECK: connection refused';
    row.weight = 1;
    row.inhibit = false;
    row.since = 0;
    return row;
  };
  const fillChecker = (row: CheckerStat, x: Row): CheckerStat => {
    row.service = x.service;
    row.addr = x.addr;
    row.port = x.port;
    row.index = 0;
    row.type = 'TCP_CHECK';
    row.up = x.up;
    row.passed = x.passed;
    row.failed = x.failed;
    row.notRun = x.notRun;
    row.lastMs = x.lastMs;
    row.lastReason = '';
    return row;
  };
  const fillQuorum = (row: HealthQuorum, x: Row): HealthQuorum => {
    row.service = x.service;
    row.up = true;
    row.aliveWeight = servers;
    row.quorum = 1;
    row.hysteresis = 0;
    row.sorryIn = false;
    return row;
  };
  const entry = (x: Row): HealthEntry => fillEntry({} as HealthEntry, x);
  const quorum = (x: Row): HealthQuorum => fillQuorum({} as HealthQuorum, x);
  /** A cursor over rs, every `step`th row: fill, then the fields a cursor's row must not keep from the last one. */
  const cursor = <R>(step: number, fill: (row: R, x: Row) => R, clear: (row: R) => void) => () => {
    let i = 0;
    return (row: R): boolean => {
      if (i >= rs.length) return false;
      clear(fill(row, rs[i]!));
      i += step;
      return true;
    };
  };
  const health: HealthView = {
    stateOf: (service, rip, rport) => health.stateOfKey!(`${serviceId(service)} ${rip}:${rport}`),
    stateOfKey: (key) => {
      const x = byKey.get(key);
      return x === undefined ? 'unchecked' : x.up ? 'up' : 'down';
    },
    entries: () => [...health.eachEntry!()],
    checkerStats: () => [...health.eachCheckerStat!()],
    quorum: () => [...health.eachQuorum!()],
    // Made as walked, as HealthManager's.
    *eachEntry() {
      for (const x of rs) yield entry(x);
    },
    // One service's, by serviceId (as HealthManager.entriesOf, quorumOf).
    entriesOf: (id) => byService.get(id)?.map(entry),
    quorumOf: (id) => {
      const mine = byService.get(id);
      return mine === undefined ? undefined : quorum(mine[0]!);
    },
    // The same written into the caller's rows (as HealthManager.entriesInto, quorumInto).
    entriesInto: (id, rows) => {
      const mine = byService.get(id);
      if (mine === undefined) return -1;
      for (let i = 0; i < mine.length; i++) fillEntry((rows[i] ??= { service: mine[i]!.service, addr: '', port: 0, state: 'up', reason: '', weight: 0, inhibit: false, since: 0, suspended: undefined }), mine[i]!).suspended = undefined;
      return mine.length;
    },
    quorumInto: (id, row) => {
      const mine = byService.get(id);
      if (mine === undefined) return false;
      fillQuorum(row, mine[0]!);
      row.sorry = undefined;
      row.suspended = undefined;
      return true;
    },
    *eachCheckerStat() {
      for (const x of rs) yield fillChecker({} as CheckerStat, x);
    },
    *eachQuorum() {
      for (let i = 0; i < rs.length; i += servers) yield quorum(rs[i]!);
    },
    // The same lists written into the caller's row (as HealthManager's cursors).
    entryCursor: cursor<HealthEntry>(1, fillEntry, (row) => (row.suspended = undefined)),
    checkerCursor: cursor<CheckerStat>(1, fillChecker, () => {}),
    quorumCursor: cursor<HealthQuorum>(servers, fillQuorum, (row) => {
      row.sorry = undefined;
      row.suspended = undefined;
    }),
  };
  let ticks = 0;
  const tick = (): void => {
    ticks++;
    for (let n = 0; n < rs.length; n++) rs[n]!.lastMs = checkMs(n + ticks * rs.length);
  };
  return { r, health, tick };
}
