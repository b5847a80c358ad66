// Micro-benchmark of the connection table at its eviction mark (what each new flow costs once the
// table is full, as under a flood of new flows): 64-tuple batches of fresh UDP flows, each looked
// up, an entry evicted (evictOne, as pipeline.ts newConn does at the mark) and the flow inserted,
// after the batch's prefetch pass (touchHead, touchChains) as warmBatch runs it. The evicted entries
// are the oldest, so they sit at the end of their buckets. Prints ns per new flow; run it in two
// checkouts, alternating, to compare builds. Not a test; no pass/fail.
//
//   node dist/bench/evict-micro.js [--conn-max 262144] [--rounds 5] [--batches 5000] [--out]
//   --out: entries hashed both ways (NAT/FULLNAT: two nodes per entry to unhash)
//   (pin it: taskset -c 1 node dist/bench/evict-micro.js)
import { parseIp } from '../src/datapath/addr.js';
import { ConnTable } from '../src/datapath/conntable.js';
import { PROTO_UDP as UDP } from '../src/datapath/frame.js';
import { median } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    'conn-max': { type: 'string', default: '262144' },
    rounds: { type: 'string', default: '5' },
    batches: { type: 'string', default: '5000' },
    out: { type: 'boolean', default: false },
  },
});
const MAX = Number(values['conn-max']);
const ROUNDS = Number(values.rounds);
const BATCHES = Number(values.batches);
const OUT = values.out === true;
const B = 64;
const VIP = parseIp('192.168.8.200') | 0; // int32, as the datapath keeps addresses
const RIP = parseIp('192.168.8.20') | 0;

const ct = new ConnTable(MAX, 0, 0x2545f491);
let x = 0x9e3779b9;
/** xorshift32: a fresh pseudo-random client address and port per flow (int32, above 128.0.0.0 half the time). */
function next(): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x | 0;
}
const src = new Int32Array(B);
const sport = new Uint16Array(B);
let sink = 0;

function batch(): void {
  for (let i = 0; i < B; i++) {
    src[i] = next();
    sport[i] = (next() & 0xffff) | 1;
    sink ^= ct.touchHead(UDP, src[i]!, sport[i]!, VIP, 53);
  }
  sink ^= ct.touchChains();
  for (let i = 0; i < B; i++) {
    if (ct.lookup(UDP, src[i]!, sport[i]!, VIP, 53) >= 0) continue;
    const h = ct.lastHash;
    if (ct.count >= MAX) ct.evictOne(64, 4096, 0);
    ct.insert(UDP, src[i]!, sport[i]!, VIP, 53, RIP, 53, src[i]!, sport[i]!, 1200, OUT, h);
  }
}

// Fill to the mark first: every entry unconfirmed UDP, evictable, as in a flood of new flows.
while (ct.count < MAX) batch();
console.log(`evict micro-benchmark: conn-max ${MAX}, ${BATCHES} batches of ${B} new flows per round, ${OUT ? 'IN and OUT hashed' : 'IN hashed only'}`);
const ns: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) batch();
  ns.push(Number(process.hrtime.bigint() - t0) / (BATCHES * B));
  console.log(`round ${r + 1}: ${ns[r]!.toFixed(0)} ns per new flow`);
}
console.log(`median ${median(ns.slice(1)).toFixed(0)} ns per new flow (round 1 left out; sink ${sink & 1})`);
