// Connection entries per state (uvs_conn_table_entries_by_state): the datapath keeps no per-state
// counts, so this walks the table's state/flags arrays in slices off the packet path (a timer
// calls step()), and publishes the counts of the last complete walk. With the default table
// (1 Mi entries) and SLICE = 1 Mi, each step is one full walk of ~1 ms; larger tables take
// several steps, so their counts are a little older.

import { F_ALIVE, type ConnTable } from './conntable.js';
import { STATE_NAMES } from './tcpstate.js';

export const SLICE = 1 << 20;

export class StateCensus {
  private readonly ct: ConnTable;
  private pos = 0;
  private readonly work = new Float64Array(STATE_NAMES.length);
  /** Counts of the last complete walk, by state number (STATE_NAMES; last = UDP). */
  readonly counts: Float64Array<ArrayBufferLike>;
  /** Complete walks so far. */
  walks = 0;

  /** counts: where to publish (a worker's SharedArrayBuffer-backed array, summed by the main thread). */
  constructor(ct: ConnTable, counts: Float64Array<ArrayBufferLike> = new Float64Array(STATE_NAMES.length)) {
    this.ct = ct;
    this.counts = counts;
  }

  /** Walk at most `slice` entries; returns true when a walk completed (counts updated). */
  step(slice = SLICE): boolean {
    const { flags, state, max } = this.ct;
    const end = Math.min(max, this.pos + slice);
    const w = this.work;
    for (let e = this.pos; e < end; e++) if ((flags[e] & F_ALIVE) !== 0) w[state[e]]++;
    this.pos = end;
    if (end < max) return false;
    this.counts.set(w);
    w.fill(0);
    this.pos = 0;
    this.walks++;
    return true;
  }

  /** Walk the whole table now (tests, small tables). */
  full(): void {
    this.pos = 0;
    this.work.fill(0);
    while (!this.step()) { /* until complete */ }
  }
}
