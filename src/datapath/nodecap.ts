// TUN real servers that do not decapsulate: a server without a handler for its tunnel (no ipip
// module, tunl0 down, no gre device, nothing on the GUE port) answers every wrapped packet with
// ICMP protocol or port unreachable, about the tunnel. The datapath (src/modes/tun.ts
// tunRelayError) counts each (tun_no_decap) and notes who answered in a small ring of int32
// words: no allocation, no log on the packet path. The control side (src/control/nodecap.ts)
// reads the rings from its tick, and with uvsd --workers every worker's ring (a SharedArrayBuffer,
// WorkerShared.noDecap), and says it once per server and tunnel type.
//
// Layout: [0] = notes written so far (wraps at 2^32; stored last, Atomics.store), then
// NODECAP_SLOTS entries of NODECAP_WORDS words: the server's address (int32), its tunnel code
// (DestTable.tun: type | checksum << 2 | GUE port << 4), the ICMP code (2 protocol, 3 port
// unreachable). A reader that falls more than NODECAP_SLOTS behind loses the oldest notes, not
// the counter's counts.

/** Entries in a ring: more servers answering within one 250 ms tick than this lose names only. */
export const NODECAP_SLOTS = 64;
export const NODECAP_WORDS = 4;
/** Word offsets within an entry. */
export const ND_ADDR = 0;
export const ND_CODE = 1;
export const ND_ICMP = 2;

export function noDecapRing(shared: boolean): Int32Array {
  const n = 1 + NODECAP_SLOTS * NODECAP_WORDS;
  return shared ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Int32Array(n);
}

/** One note read back from a ring. */
export interface NoDecapNote {
  addr: number;
  code: number;
  icmpCode: number;
}

/**
 * The notes written to `ring` since `from` (a count read before, 0 at the start), oldest first,
 * at most NODECAP_SLOTS; returns the count to read from next time. Control time (it allocates).
 */
export function readNoDecap(ring: Int32Array, from: number, out: NoDecapNote[]): number {
  const to = Atomics.load(ring, 0);
  let k = (to - from) | 0;
  if (k < 0) k = 0; // a ring that is not the one read before: nothing to say
  else if (k > NODECAP_SLOTS) k = NODECAP_SLOTS;
  for (let i = to - k; i !== to; i = (i + 1) | 0) {
    const at = 1 + (i & (NODECAP_SLOTS - 1)) * NODECAP_WORDS;
    out.push({ addr: ring[at + ND_ADDR] >>> 0, code: ring[at + ND_CODE], icmpCode: ring[at + ND_ICMP] });
  }
  return to;
}
