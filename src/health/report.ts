// Health in the control replies: `list` gets a `health` field per destination (up / down /
// unchecked), `status` gets every checked real server with its reason (also the removed ones,
// which `list` cannot show). Applied by uvsd around Control.call, so control stays unaware.
import type { ListResult, StatusResult } from '../control/protocol.js';
import type { HealthManager } from './manager.js';
import { eachOf } from '../control/slices.js';

function decorate(verb: string, result: unknown, mgr: HealthManager | undefined): unknown {
  if (verb === 'list') {
    // A large list is made while it is written (StreamedList): each service as its part is made.
    eachOf((result as ListResult).services, (s) => {
      for (const d of s.dests) d.health = mgr ? mgr.stateOf(s, d.addr, d.port) : 'unchecked';
    });
  } else if (verb === 'status') {
    const entries = mgr ? mgr.entries() : [];
    (result as StatusResult).health = entries;
    (result as StatusResult).healthQuorum = mgr ? mgr.quorum() : [];
    // With checks configured (or once some could not run): uvsd without checks shows no line.
    if (mgr && (entries.length > 0 || mgr.notRunTotal > 0 || mgr.refusedTotal > 0)) {
      (result as StatusResult).healthChecksNotRun = mgr.notRunTotal;
      (result as StatusResult).healthRefused = mgr.refusedTotal;
    }
    const q = mgr?.queue();
    if (q !== undefined) (result as StatusResult).healthQueue = q;
  }
  return result;
}

/** Adds health to a `list` or `status` result (or to the promise of one); other verbs pass through. */
export function withHealth(verb: string, result: unknown, mgr: HealthManager | undefined): unknown {
  if (verb !== 'list' && verb !== 'status') return result;
  if (result instanceof Promise) return result.then((r: unknown) => decorate(verb, r, mgr));
  return decorate(verb, result, mgr);
}
