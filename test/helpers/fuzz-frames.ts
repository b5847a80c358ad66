// The frame fuzz suites' invariants (unit-fuzz.test.ts, unit-fuzz-modes.test.ts): a batch never
// throws out of processBatch; every received frame has exactly one outcome (sent from the
// receive buffer, a counted drop, an ignored_* counter, or queued for an unresolved neighbour);
// and the connection table stays consistent (every live entry findable by its tuple, the count
// right, destination active/inactive counters equal to the connections that point at them).
import assert from 'node:assert/strict';
import { COUNTER_NAMES, C } from '../../src/datapath/counters.js';
import { DIR_IN, F_ALIVE, F_INACTIVE, F_TEMPLATE } from '../../src/datapath/conntable.js';
import type { Datapath } from '../../src/datapath/pipeline.js';
import { decode, inetChecksum } from './frames.js';
import { mutateFrame, runCases } from './fuzz.js';
import type { Rig } from './harness.js';

const IGNORED = COUNTER_NAMES.flatMap((n, i) => (n.startsWith('ignored_') || n === 'arp_neigh_updates' ? [i] : []));

function sumOf(a: ArrayLike<number>, idx?: readonly number[]): number {
  let s = 0;
  if (idx === undefined) for (let i = 0; i < a.length; i++) s += a[i]!;
  else for (const i of idx) s += a[i]!;
  return s;
}

/** Answers uvsd builds for a frame it drops (ICMP errors, TCP resets): sent, or queued for an
 *  unresolved neighbour, besides the dropped frame's own outcome. */
const ANSWERS = [C.icmp_unreach_sent, C.icmp_time_exceeded_sent, C.icmp_frag_needed_sent, C.tcp_rst_sent, C.icmp_tunnel_relayed];

/** Frames consumed without a drop: a router's ICMP error about a TUN-wrapped packet, relayed to
 *  the client (a new frame) or held back by the rate limit. */
const RELAYED = [C.icmp_tunnel_relayed, C.icmp_tunnel_ratelimited];

/** Outcome totals so far: [rx frames, drops (and relays), ignored, queued, answers built]. */
function outcomes(dp: Datapath): [number, number, number, number, number] {
  const c = dp.counters.c;
  return [c[C.rx_frames]!, sumOf(dp.counters.d) + sumOf(c, RELAYED), sumOf(c, IGNORED), c[C.neigh_queued]!, sumOf(c, ANSWERS)];
}

/** Feed one batch; assert no throw and exactly one outcome per frame (an answer to a dropped
 *  frame that waits for its neighbour is queued besides: at most one per answer built). */
export function feedAccounted(r: Rig, frames: Uint8Array[]): void {
  const [rx0, d0, i0, q0, a0] = outcomes(r.dp);
  r.sink.sent.length = 0;
  try {
    r.feed(...frames);
  } catch (err) {
    assert.fail(`processBatch threw ${String(err)} on:\n${frames.map((f) => decode(f)).join('\n--\n')}`);
  }
  const [rx1, d1, i1, q1, a1] = outcomes(r.dp);
  let fromRx = 0;
  for (const s of r.sink.sent) if (s.fromRx) fromRx++;
  r.sink.sent.length = 0;
  assert.equal(rx1 - rx0, frames.length, 'rx_frames counts every frame');
  const n = fromRx + (d1 - d0) + (i1 - i0) + (q1 - q0);
  if (n < frames.length || n - (a1 - a0) > frames.length) {
    assert.fail(`outcomes: sent ${fromRx}, drops ${d1 - d0}, ignored ${i1 - i0}, queued ${q1 - q0} (answers built ${a1 - a0}) for ${frames.length} frame(s):\n` +
      frames.map((f) => decode(f)).join('\n--\n'));
  }
}

/** Walk the whole table (tests only) and check it against its counters. */
export function checkTable(dp: Datapath): void {
  const ct = dp.ct;
  const dt = dp.dt;
  let alive = 0;
  const conns = new Map<number, number>();
  const inactive = new Map<number, number>();
  for (let e = 0; e < ct.max; e++) {
    const f = ct.flags[e]!;
    if ((f & F_ALIVE) === 0) continue;
    alive++;
    if ((f & F_TEMPLATE) === 0) {
      assert.equal(ct.lookup(ct.proto[e]!, ct.caddr[e]!, ct.cport[e]!, ct.vaddr[e]!, ct.vport[e]!), e * 2 + DIR_IN, `entry ${e} not found by its tuple`);
      const d = ct.dest[e]!;
      if (d >= 0 && dt.gen[d] === ct.dgen[e]) {
        const m = (f & F_INACTIVE) !== 0 ? inactive : conns;
        m.set(d, (m.get(d) ?? 0) + 1);
      }
    }
  }
  assert.equal(alive, ct.count, 'live entries == table count');
  assert.ok(ct.count <= ct.max);
  for (let d = 0; d < dt.max; d++) {
    if (dt.flags[d] === 0) continue;
    assert.equal(dt.active[d], conns.get(d) ?? 0, `dest ${d} active connections`);
    assert.equal(dt.inactive[d], inactive.get(d) ?? 0, `dest ${d} inactive connections`);
  }
}

/** Give a mutated IPv4 frame a correct header checksum (half the time), so it reaches L4. */
function fixIpChecksum(f: Buffer): void {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00) return;
  const ihl = (f[14]! & 15) * 4;
  if (ihl < 20 || 14 + ihl > f.length) return;
  f.writeUInt16BE(0, 24);
  f.writeUInt16BE(inetChecksum(f, 14, ihl), 24);
}

/**
 * Feed `n` frames (in batches of 1..16) derived from `seeds`: mutations (with the IP checksum
 * repaired half the time), the seeds themselves, random bytes and random bytes behind a real
 * Ethernet/IPv4 header; the clock moves and the table is swept now and then. Every batch is
 * accounted for (feedAccounted) and the table is checked every 500 batches and at the end.
 * Returns the number of frames fed.
 */
export function fuzzFrames(name: string, r: Rig, seeds: readonly Buffer[], n: number, seed: number): number {
  const mac = Buffer.from(seeds[0]!.subarray(0, 12));
  let batches = 0;
  let fed = 0;
  runCases(name, Math.ceil(n / 8), seed, (g) => {
    const count = g.range(1, 16);
    const frames: Buffer[] = [];
    for (let k = 0; k < count; k++) {
      const kind = g.int(20);
      if (kind < 13) {
        const f = mutateFrame(g.pick(seeds), g);
        if (g.chance(0.5)) fixIpChecksum(f);
        frames.push(f);
      } else if (kind < 16) {
        frames.push(g.pick(seeds));
      } else if (kind < 18) {
        frames.push(g.bytes(g.int(200)));
      } else {
        const f = Buffer.concat([mac, Buffer.from([0x08, 0x00, 0x45]), g.bytes(g.range(0, 120))]);
        fixIpChecksum(f);
        frames.push(f);
      }
    }
    return { frames, advance: g.chance(0.05) ? g.range(1, 30_000) : 0 };
  }, ({ frames, advance }) => {
    feedAccounted(r, frames);
    fed += frames.length;
    if (advance > 0) {
      r.advance(advance);
      r.dp.tick();
    }
    if (++batches % 500 === 0) checkTable(r.dp);
  }, ({ frames }) => frames.map((f) => f.toString('hex')).join(' '));
  checkTable(r.dp);
  return fed;
}
