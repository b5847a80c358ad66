// Trace sessions behind `uvsadm trace` (verbs traceStart / tracePoll / traceStop): each session
// reads the datapath's decision ring (src/datapath/trace.ts) from its own cursor and the drop
// counters by difference since its previous poll. The ring is filled only while at least one
// session is open; a session nobody polls for SESSION_IDLE_MS is closed (uvsadm was killed).

import { UvsError } from './errors.js';
import type { TraceDrop, TraceEvent, TracePollResult, TraceStartResult } from './protocol.js';
import { formatIp } from '../datapath/addr.js';
import { DROP_NAMES } from '../datapath/counters.js';
import { l4Name } from '../datapath/frame.js';
import type { Datapath } from '../datapath/pipeline.js';
import type { Workers } from '../datapath/group.js';

export const SESSION_IDLE_MS = 10_000;
/** At most this many events per poll (the rest come with the next one). */
export const POLL_MAX = 1000;
const MAX_SESSIONS = 16;

interface Session {
  id: number;
  /** The ring's missed count when last polled (workers' events lost before they reached it). */
  missed: number;
  /** Only decisions of this service id (-1: all). */
  svc: number;
  cursor: number;
  drops: Float64Array;
  /** When it was last polled (the clock given: performance.now() in uvsd). */
  polled: number;
}

export class TraceSessions {
  private readonly dp: Datapath;
  private readonly sessions = new Map<number, Session>();
  private nextId = 1;
  private readonly now: () => number;

  /** workers: uvsd --workers (their decisions reach dp's ring; they record only while a session is open). */
  constructor(dp: Datapath, now: () => number = () => performance.now(), private readonly workers?: Pick<Workers, 'trace'>) {
    this.dp = dp;
    this.now = now;
  }

  get open(): number {
    return this.sessions.size;
  }

  start(svc: number): TraceStartResult {
    this.expire();
    if (this.sessions.size >= MAX_SESSIONS) throw new UvsError('TOO_MANY', `at most ${MAX_SESSIONS} trace sessions`);
    const s: Session = {
      id: this.nextId++, svc, cursor: this.dp.trace.seq, missed: this.dp.trace.missed, drops: Float64Array.from(this.dp.counters.d), polled: this.now(),
    };
    if (this.sessions.size === 0) this.workers?.trace(true);
    this.sessions.set(s.id, s);
    this.dp.trace.on = true;
    return { session: s.id };
  }

  poll(id: unknown): TracePollResult {
    this.expire();
    const s = this.get(id);
    s.polled = this.now();
    const ring = this.dp.trace;
    let lost = ring.missed - s.missed;
    s.missed = ring.missed;
    if (ring.seq - s.cursor > ring.cap) {
      lost += ring.seq - ring.cap - s.cursor;
      s.cursor = ring.seq - ring.cap;
    }
    const events: TraceEvent[] = [];
    const end = Math.min(ring.seq, s.cursor + POLL_MAX);
    for (let n = s.cursor; n < end; n++) {
      const i = n % ring.cap;
      if (s.svc >= 0 && ring.svc[i] !== s.svc) continue;
      const dest = ring.dest[i];
      events.push({
        time: new Date(performance.timeOrigin + ring.time[i]).toISOString(),
        proto: l4Name(ring.proto[i]),
        client: `${formatIp(ring.saddr[i])}:${ring.sport[i]}`,
        service: `${formatIp(ring.daddr[i])}:${ring.dport[i]}`,
        server: dest < 0 ? null : `${formatIp(ring.raddr[i])}:${ring.rport[i]}`,
        sched: ring.sched[i] ?? '',
        why: ring.why[i] ?? '',
      });
    }
    s.cursor = end;
    const drops: TraceDrop[] = [];
    const d = this.dp.counters.d;
    for (let k = 0; k < d.length; k++) {
      if (d[k] !== s.drops[k]) drops.push({ reason: DROP_NAMES[k] ?? String(k), count: d[k] - s.drops[k] });
      s.drops[k] = d[k];
    }
    return { events, drops, lost, more: end < ring.seq };
  }

  stop(id: unknown): null {
    const s = this.get(id);
    this.close(s.id);
    return null;
  }

  /** Close sessions nobody polled for SESSION_IDLE_MS (called by the trace verbs and uvsd's timer). */
  expire(): void {
    const now = this.now();
    for (const s of [...this.sessions.values()]) if (now - s.polled > SESSION_IDLE_MS) this.close(s.id);
  }

  private close(id: number): void {
    this.sessions.delete(id);
    if (this.sessions.size === 0) {
      this.dp.trace.on = false;
      this.workers?.trace(false);
    }
  }

  private get(id: unknown): Session {
    const s = typeof id === 'number' ? this.sessions.get(id) : undefined;
    if (s === undefined) throw new UvsError('NO_TRACE', JSON.stringify(id));
    return s;
  }
}
