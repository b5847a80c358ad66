// test-class: shared
// The JIT warm-up (src/datapath/warmup.ts): after it, frames of kinds the optimised datapath has
// not seen (a NAT connection and its reply, ICMP, a bad checksum, no service, fragments, ARP)
// do not de-optimise it; without it they do. Counted with V8's --trace-deopt in a child process
// (test/helpers/deopt-child.ts), for the datapath's own functions only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { warmUp } from '../src/datapath/warmup.js';
import { RX_HEADROOM } from '../src/datapath/pipeline.js';

const CHILD = fileURLToPath(new URL('./helpers/deopt-child.js', import.meta.url));
const DATAPATH_FNS = /<JSFunction (processBatch|processFrame|processIpv4|processL4|newConn|forward|laterFragment|icmpRelated|readVnet|warmBatch|inbound|outbound|icmp|arp|toNeighbour|emitFrom|emit|lookup|insert|schedule)\b/;

function deopts(mode: 'plain' | 'warmup'): string[] {
  const r = spawnSync(process.execPath, ['--trace-deopt', CHILD, mode], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  const begin = out.indexOf('EVENTS-BEGIN');
  const end = out.indexOf('EVENTS-END');
  assert.ok(begin >= 0 && end > begin, `child output without markers: ${out.slice(-500)}`);
  return out.slice(begin, end).split('\n').filter((l) => l.startsWith('[bailout') && DATAPATH_FNS.test(l))
    .map((l) => `${/<JSFunction (\w+)/.exec(l)?.[1]}: ${/reason: ([^)]*)\)/.exec(l)?.[1]}`);
}

test('JIT warm-up: new kinds of frames no longer de-optimise the datapath (without it they do)', { timeout: 300_000 }, (t) => {
  const without = deopts('plain');
  const withW = deopts('warmup');
  t.diagnostic(`without warm-up ${without.length}: ${without.join('; ')}`);
  t.diagnostic(`with warm-up ${withW.length}: ${withW.join('; ')}`);
  // The control: the child's events are new to the optimised code, so they de-optimise it.
  assert.ok(without.length >= 4, `expected de-optimisations without the warm-up, got ${without.length}`);
  // 0 in 54 runs since the scratch datapaths are kept (before: 1 to 4 in about one run of ten,
  // feedback lost when they were collected); one is allowed for V8's own reasons.
  assert.ok(withW.length <= 1, `de-optimisations after the warm-up: ${withW.join('; ')}`);
});

test('JIT warm-up: runs frames of every kind with and without a vnet header (offload on and off)', () => {
  for (const vnetHdr of [0, 10]) {
    const stride = vnetHdr > 0 ? 65_664 : 2048;
    const w = warmUp({ vnetHdr, mtu: 1500, batch: 64 }, { stride, base: RX_HEADROOM });
    assert.ok(w.frames > 1000, `frames ${w.frames}`);
  }
});
