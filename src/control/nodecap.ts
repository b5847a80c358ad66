// TUN real servers that do not decapsulate, said in the log: the datapath counts each protocol or
// port unreachable a server sends about a packet wrapped for it (tun_no_decap) and notes the
// server in a ring (src/datapath/nodecap.ts); uvsd reads the rings from its 250 ms tick, never
// the packet path, and warns once per server and tunnel type, again at most every repeatMs while
// the answers go on (with their count), and says so when none came for quietMs. Without this
// the client saw only a SYN timeout (docs/tun-setup.md#checks).

import { formatIp } from '../datapath/addr.js';
import { readNoDecap, type NoDecapNote } from '../datapath/nodecap.js';
import type { WatchLog } from './faults.js';

export interface NoDecapTiming {
  /** While a server goes on answering so, one more warning at most this often (ms). */
  repeatMs: number;
  /** The warning ends with an info line once the server sent none for this long (ms). */
  quietMs: number;
}

export const NODECAP_TIMING: NoDecapTiming = { repeatMs: 60_000, quietMs: 30_000 };

/** Servers followed at once; more are counted (tun_no_decap) but not named. */
const TRACKED_MAX = 256;

const TYPES = ['IPIP', 'GUE', 'GRE'] as const;

interface Fault {
  addr: string;
  type: string;
  /** The last ICMP code (2 protocol, 3 port unreachable) and the GUE port. */
  icmpCode: number;
  port: number;
  since: number;
  last: number;
  total: number;
  warnedAt: number;
  unsaid: number;
}

/** What to do on the server, by tunnel type (docs/tun-setup.md#checks). */
function remedy(type: string, icmpCode: number, port: number): string {
  if (type === 'GUE') return `ip fou add port ${port} gue / uvs-decap --gue-port ${port}`;
  if (type === 'GRE') return icmpCode === 3 ? 'a gre device up / uvs-decap' : 'ip_gre module / uvs-decap';
  return icmpCode === 3 ? 'tunl0 up / uvs-decap' : 'ipip module / tunl0 up / uvs-decap';
}

function unreach(icmpCode: number): string {
  return icmpCode === 2 ? 'protocol unreachable' : 'port unreachable';
}

export class NoDecapWatch {
  private readonly timing: NoDecapTiming;
  /** How far each ring was read (rings come and go by identity: a worker that started late). */
  private readonly read = new Map<Int32Array, number>();
  private readonly faults = new Map<string, Fault>();
  private readonly notes: NoDecapNote[] = [];

  /** Notes written before the first check are news (uvsd forwards before its first tick). */
  constructor(private readonly rings: () => readonly Int32Array[], private readonly log: WatchLog, timing: Partial<NoDecapTiming> = {}) {
    this.timing = { ...NODECAP_TIMING, ...timing };
  }

  check(now = performance.now()): void {
    const notes = this.notes;
    notes.length = 0;
    for (const ring of this.rings()) this.read.set(ring, readNoDecap(ring, this.read.get(ring) ?? 0, notes));
    for (const n of notes) this.note(n, now);
    for (const [key, f] of this.faults) {
      if (f.unsaid > 0 && now - f.warnedAt >= this.timing.repeatMs) this.warn(f, now);
      else if (now - f.last >= this.timing.quietMs) {
        this.faults.delete(key);
        const s = Math.round((f.last - f.since) / 100) / 10;
        this.log.info({ server: f.addr, tunType: f.type.toLowerCase(), answers: f.total, seconds: s },
          `TUN real server ${f.addr} sent no ${unreach(f.icmpCode)} about ${f.type} for ${Math.round(this.timing.quietMs / 1000)}s ` +
          `(${f.total} over ${s}s before): it decapsulates now, or no client tried it since`);
      }
    }
  }

  private note(n: NoDecapNote, now: number): void {
    const type = TYPES[n.code & 3] ?? 'GRE';
    const addr = formatIp(n.addr);
    const key = `${addr} ${type}`;
    let f = this.faults.get(key);
    if (f === undefined) {
      if (this.faults.size >= TRACKED_MAX) return;
      f = { addr, type, icmpCode: n.icmpCode, port: n.code >>> 4, since: now, last: now, total: 0, warnedAt: -Infinity, unsaid: 0 };
      this.faults.set(key, f);
    }
    f.icmpCode = n.icmpCode;
    f.last = now;
    f.total++;
    f.unsaid++;
  }

  private warn(f: Fault, now: number): void {
    const again = f.warnedAt === -Infinity ? '' : ` (${f.unsaid} since the last warning)`;
    this.log.warn({ server: f.addr, tunType: f.type.toLowerCase(), icmp: unreach(f.icmpCode), answers: f.unsaid },
      `TUN real server ${f.addr} answers ${f.type} with ${unreach(f.icmpCode)}: it does not decapsulate ` +
      `(${remedy(f.type, f.icmpCode, f.port)}; docs/tun-setup.md#checks)${again}`);
    f.warnedAt = now;
    f.unsaid = 0;
  }
}
