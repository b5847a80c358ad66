// A read-only view of the datapath for the collectors and the status page: walks services and
// destinations at scrape time and names them as labels. Nothing here runs per packet.

import { formatIp } from '../datapath/addr.js';
import { putDigits, putIp } from './bytes.js';
import type { DestTable } from '../datapath/dests.js';
import { l4Name } from '../datapath/frame.js';
import { PROTO_FWM, type Datapath, type SvcRuntime } from '../datapath/pipeline.js';
import { type CheckerStat, type HealthEntry, type HealthQueue, type HealthQuorum, type Proto, type ServiceKey } from '../control/protocol.js';

/** A -f service's mark (uint32), else 0; its datapath `vip` holds the mark. */
export function fwmarkOf(svc: SvcRuntime): number {
  return svc.proto === PROTO_FWM ? svc.vip >>> 0 : 0;
}

/** The control plane's key of a service of the datapath (as the health checks name it). */
export function serviceKeyOf(svc: SvcRuntime): ServiceKey {
  const m = fwmarkOf(svc);
  return m !== 0 ? { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: m } : { proto: l4Name(svc.proto), addr: formatIp(svc.vip), port: svc.port };
}

/** serviceIdOf's bytes (the longest: "sctp 255.255.255.255:65535"). */
const idBytes = Buffer.alloc(32);

/**
 * serviceId(serviceKeyOf(svc)), written into a kept Buffer and read from it as one string: no key
 * object, address text or string of each piece on the way (/status.json asks the health checks by
 * it for every service: as a template string it was 2.8-3.4 MB of a /status.json's 3.9 at 10,000
 * services of 4 checked servers, 0.8 MB so; the same CPU, 2026-12-06).
 */
export function serviceIdOf(svc: SvcRuntime): string {
  const m = fwmarkOf(svc);
  if (m !== 0) return `fwm ${m}`;
  const b = idBytes;
  const proto = l4Name(svc.proto);
  let at = 0;
  for (let i = 0; i < proto.length; i++) b[at++] = proto.charCodeAt(i);
  b[at++] = 0x20;
  at = putIp(b, at, svc.vip);
  b[at++] = 0x3a; // :
  at = putDigits(b, at, svc.port);
  return b.toString('latin1', 0, at);
}

/** A service's `proto` and `service` labels: tcp|udp|sctp and "vip:port", or fwm and "fwmark:N". */
export function serviceLabels(k: ServiceKey): { proto: Proto | 'fwm'; service: string } {
  return k.fwmark ? { proto: 'fwm', service: `fwmark:${k.fwmark}` } : { proto: k.proto, service: `${k.addr}:${k.port}` };
}

export function liveServices(dp: Datapath): SvcRuntime[] {
  return dp.services.filter((s): s is SvcRuntime => s !== undefined);
}

export type Health = 'up' | 'down' | 'unchecked';

/** A histogram's observations counted per bucket: counts[i] up to bounds[i] (above bounds[i - 1]), the last slot above them all; sum of the values. */
export interface BucketCounts {
  bounds: number[];
  counts: ArrayLike<number>;
  sum: number;
}

/**
 * What the metrics see of the health checks (src/health/manager.ts HealthManager has this
 * shape; uvsd passes it in, so metrics does not import health).
 */
export interface HealthView {
  stateOf(service: ServiceKey, rip: string, rport: number): Health;
  /**
   * stateOf by the server's key, `${serviceId(service)} ${rip}:${rport}` (as a scrape keeps it with
   * the server's label texts): no string made per server at every scrape. Without it, stateOf.
   */
  stateOfKey?(key: string): Health;
  entries(): HealthEntry[];
  /** Every checker's verdict and attempts (the uvs_health_check_* series). */
  checkerStats?(): CheckerStat[];
  /** Every checked virtual server's quorum (uvs_health_quorum_up, uvs_health_sorry_in). */
  quorum?(): HealthQuorum[];
  /**
   * The same lists made as they are walked (generators): a scrape and /status.json take a few
   * items between their pauses (the lists built whole held the loop 7-16 ms at 40,000 checked
   * servers). Without them the lists above are asked for whole.
   */
  eachEntry?(): Iterable<HealthEntry>;
  eachCheckerStat?(): Iterable<CheckerStat>;
  eachQuorum?(): Iterable<HealthQuorum>;
  /**
   * The same lists with no object per item: each call of the cursor writes the next item into the
   * caller's row (one object for the whole walk) and says whether there was one. A scrape walks
   * them so (healthRows): the generators' objects (an item and its iterator result each, 40,000
   * entries and 40,000 checkers at 10,000 services x 4 servers) were most of what a scrape
   * allocated until 2026-12-06. Without them, the generators.
   */
  entryCursor?(): HealthCursor<HealthEntry>;
  checkerCursor?(): HealthCursor<CheckerStat>;
  quorumCursor?(): HealthCursor<HealthQuorum>;
  /**
   * One service's checked servers (in eachEntry's order) and its quorum, by serviceId; undefined:
   * none. With both, /status.json asks for each service's as it writes it: no map of every entry
   * and quorum (40,000 and 10,000 at 10,000 services of 4 servers) built before its first byte.
   */
  entriesOf?(id: string): Iterable<HealthEntry> | undefined;
  quorumOf?(id: string): HealthQuorum | undefined;
  /**
   * entriesOf and quorumOf written into the caller's objects (kept by it from one service to the
   * next): entriesInto writes the service's checked servers into rows[0..n) (making a row where
   * `rows` has none yet; every field but since, which the caller does not read: /status.json shows
   * none) and returns n, -1 for no such service; quorumInto writes its quorum into
   * row (every field, sorry and suspended undefined where quorumOf's has none) and says whether it
   * has one. With these and entriesOf, quorumOf, /status.json's writer asks for no object per
   * server or service: HealthManager's entriesOf / quorumOf made an entry and its generator's
   * result per server and a quorum per service, 16.7 MB a /status.json at 10,000 services x 4
   * checked servers until 2026-12-06 (4.9 MB after). A view without them gets them from entriesOf
   * and quorumOf (status.ts ServiceHealth).
   */
  entriesInto?(id: string, rows: HealthEntry[]): number;
  quorumInto?(id: string, row: HealthQuorum): boolean;
  /**
   * The serviceId of the service at these numbers (a datapath service's protocol, address (int32)
   * and port; a -f service's: 'fwm', its mark, 0) as the view keeps it: no string made; undefined:
   * the view has no such service. /status.json's writer names each service so (without it:
   * serviceIdOf, a string per service: 0.4 MB of a /status.json at 10,000 services until 2026-12-06).
   */
  serviceIdAt?(proto: Proto | 'fwm', addr: number, port: number): string | undefined;
  /** The check slots and the checks waiting for one (uvs_health_checks_waiting, ...). */
  queue?(): HealthQueue | undefined;
  /** How late checks started (s): counts per bucket (up to bounds[i]; the last above them all) and their sum. */
  startDelays?(): BucketCounts | undefined;
  /** Checks that could not run since start (uvsd out of file descriptors, memory, processes). */
  readonly notRunTotal?: number;
  /** Table changes of the health checks the table refused since start (logged one by one). */
  readonly refusedTotal?: number;
}

/** Writes the next item of a health list into `row` (the caller's, reused) and returns true; false past the last. */
export type HealthCursor<T> = (row: T) => boolean;

/** The health checks' lists as a scrape walks them: made as walked when the view can (HealthView.eachEntry, ...). */
export const healthEntries = (h: HealthView | undefined): Iterable<HealthEntry> => h?.eachEntry?.() ?? h?.entries() ?? [];
export const checkerStatsOf = (h: HealthView | undefined): Iterable<CheckerStat> => h?.eachCheckerStat?.() ?? h?.checkerStats?.() ?? [];
export const quorumsOf = (h: HealthView | undefined): Iterable<HealthQuorum> => h?.eachQuorum?.() ?? h?.quorum?.() ?? [];

export function destOverloaded(dt: DestTable, d: number): boolean {
  return dt.overloaded(d);
}

const NO_KEY: ServiceKey = { proto: 'tcp', addr: '', port: 0 };

/**
 * A walk of a health list for a for...of that keeps nothing of an item past its step: with the
 * view's cursor, one row object rewritten at every step and one iterator result, no object per
 * item; else the list's own items (made as walked where the view can). The walk, its row and its
 * result are kept by the walker from walk to walk (a scrape's Scrape; uvsd's /metrics warm-up keeps
 * its scratch ones, src/metrics/warmup.ts) and the row's numbers start as what they will hold (NaN
 * where a time or duration is written, not a small integer): the objects a scrape's code sees keep
 * the shapes (V8's maps) the warm-up's scrapes saw. Until 2026-12-06 they were made at every walk;
 * once the warm-up's were collected V8 forgot their shapes, and the first real scrape of 10,000
 * services x 4 servers checked by a HealthManager deoptimised `gather` and `checkedNamesOf` at its
 * lists' walks (docs/performance.md, 2026-12-06 16:45).
 */
export class RowWalk<T> implements Iterable<T>, Iterator<T> {
  private fill: HealthCursor<T> | undefined = undefined;
  private items: Iterator<T> | undefined = undefined;
  private readonly step: IteratorResult<T>;
  private readonly end: IteratorResult<T> = { value: undefined, done: true };

  constructor(readonly row: T) {
    this.step = { value: row, done: false };
  }

  /** This walk started again: over the view's cursor (fill), or else over `items`. */
  start(fill: HealthCursor<T> | undefined, items: () => Iterable<T>): this {
    this.fill = fill;
    this.items = fill === undefined ? items()[Symbol.iterator]() : undefined;
    return this;
  }

  [Symbol.iterator](): Iterator<T> {
    return this;
  }

  next(): IteratorResult<T> {
    if (this.fill === undefined) return this.items!.next();
    return this.fill(this.row) ? this.step : this.end;
  }
}

/** A walk of the checked servers (entries), of their checkers, of the quorums, each with its row (RowWalk). */
export const entryWalk = (): RowWalk<HealthEntry> =>
  new RowWalk<HealthEntry>({ service: NO_KEY, addr: '', port: 0, state: 'up', reason: '', weight: 0, inhibit: false, since: NaN, suspended: undefined });
export const checkerWalk = (): RowWalk<CheckerStat> =>
  new RowWalk<CheckerStat>({ service: NO_KEY, addr: '', port: 0, index: 0, type: '', up: false, passed: 0, failed: 0, notRun: 0, lastMs: NaN, lastReason: '' });
export const quorumWalk = (): RowWalk<HealthQuorum> =>
  new RowWalk<HealthQuorum>({ service: NO_KEY, up: false, aliveWeight: 0, quorum: 0, hysteresis: 0, sorry: undefined, sorryIn: false, suspended: undefined });

/** The health lists for walks that keep nothing of an item past its step (a scrape's), each on the caller's walk: see RowWalk. */
export const healthRows = {
  entries: (h: HealthView | undefined, walk: RowWalk<HealthEntry>): Iterable<HealthEntry> => walk.start(h?.entryCursor?.(), () => healthEntries(h)),
  checkerStats: (h: HealthView | undefined, walk: RowWalk<CheckerStat>): Iterable<CheckerStat> => walk.start(h?.checkerCursor?.(), () => checkerStatsOf(h)),
  quorums: (h: HealthView | undefined, walk: RowWalk<HealthQuorum>): Iterable<HealthQuorum> => walk.start(h?.quorumCursor?.(), () => quorumsOf(h)),
};
