// Connection entries per state (uvs_conn_table_entries_by_state): the datapath keeps no per-state
// counts, so this walks the table's state/flags arrays in slices off the packet path (a timer
// calls step() every CENSUS_MS), and publishes the counts of the last complete walk. A slice of
// 128 Ki entries takes ~0.5 ms (~4 ns an entry; 1 Mi per step took 2-8.7 ms at 7.55 M entries):
// a full walk takes 1 s with the default table (1 Mi entries), 8 s at 8 Mi.

import { F_ALIVE, F_ASSURED, F_TEMPLATE, type ConnTable } from './conntable.js';
import { S_NONE, STATE_LABELS, STATE_NAMES } from './tcpstate.js';

export const SLICE = 1 << 17;
/** How often a timer calls step() (ms): SLICE entries a step, 1 Mi a second. */
export const CENSUS_MS = 125;

/** The state a persistence template is ASSURED in: after every connection state (STATE_NAMES). */
export const S_TPL_ASSURED = STATE_NAMES.length;
/** Entry states as `ipvsadm -Lnc` names them, by entryState(): STATE_NAMES, then ASSURED. */
export const ENTRY_STATE_NAMES: readonly string[] = [...STATE_NAMES, 'ASSURED'];
/** The same as uvs_conn_table_entries_by_state labels them (SCTP's as SCTP_<name>). */
export const ENTRY_STATE_LABELS: readonly string[] = [...STATE_LABELS, 'ASSURED'];

/**
 * The state an entry is shown in (-Lnc) and counted under (the census): a connection's own, a
 * persistence template's the kernel's ip_vs_ctpl_state_name_table, NONE or ASSURED (F_ASSURED:
 * a connection of it served its client).
 */
export function entryState(state: number, flags: number): number {
  if ((flags & F_TEMPLATE) === 0) return state;
  return (flags & F_ASSURED) !== 0 ? S_TPL_ASSURED : S_NONE;
}

export class StateCensus {
  private readonly ct: ConnTable;
  private pos = 0;
  private readonly work = new Float64Array(ENTRY_STATE_NAMES.length);
  /** Counts of the last complete walk, by entryState() (ENTRY_STATE_NAMES). */
  readonly counts: Float64Array<ArrayBufferLike>;
  /** Complete walks so far. */
  walks = 0;

  /** counts: where to publish (a worker's SharedArrayBuffer-backed array, summed by the main thread). */
  constructor(ct: ConnTable, counts: Float64Array<ArrayBufferLike> = new Float64Array(ENTRY_STATE_NAMES.length)) {
    this.ct = ct;
    this.counts = counts;
  }

  /** Walk at most `slice` entries; returns true when a walk completed (counts updated). */
  step(slice = SLICE): boolean {
    const { flags, state, max } = this.ct;
    const end = Math.min(max, this.pos + slice);
    const w = this.work;
    for (let e = this.pos; e < end; e++) {
      const f = flags[e];
      if ((f & F_ALIVE) !== 0) w[entryState(state[e], f)]++;
    }
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
