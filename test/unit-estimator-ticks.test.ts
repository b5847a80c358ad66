// test-class: shared
// The 2-second rate estimators run in ticks, a share of the rows each, as the kernel since Linux 6.2
// (IPVS_EST_NTICKS): ipvsadm --rate's (Control.estimateTick) and the status page's
// (RateEstimator.tick). In one piece a step took 4-6 ms (--rate) and 37-78 ms (status page, a
// Map of string keys and a Float64Array per server) every 2 s with 10,000 services of 4 servers,
// on the datapath's thread. Here: a tick steps only its share, each row keeps its 2 s period and
// the old formula's rates, and no step allocates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { rig, type Rig } from './helpers/harness.js';
import { BIG_YOUNG, newSpaceUsed, report, runChild, windowEnd, windowStart } from './helpers/alloc.js';
import { RateEstimator } from '../src/metrics/rates.js';
import { DEST_F_USED } from '../src/datapath/dests.js';
import { EstimatorTable, RateTable } from '../src/control/estimator.js';

/** Ticks per 2 s period (src/control/estimator.ts EST_TICKS): every 250 ms. */
const EST_TICKS = 8;
const RS = (i: number): string => `10.2.${(i + 1) >> 8}.${(i + 1) & 255}`;

/** ns services of `per` servers each, and no free slot left over when `exact`. */
function build(ns: number, per: number, exact = false): Rig {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: ns * per + (exact ? 0 : 8) });
  const items: { verb: string; args: unknown }[] = [];
  for (let s = 0; s < ns; s++) {
    const service = { proto: 'tcp', addr: '10.1.0.1', port: 1000 + s };
    items.push({ verb: 'addService', args: { ...service, sched: 'rr' } });
    for (let i = 0; i < per; i++) items.push({ verb: 'addDest', args: { service, addr: RS(s * per + i), port: 1000 + s, fwd: 'dr', weight: 1 } });
  }
  r.ctl.call('batch', { items });
  return r;
}

function usedSlots(r: Rig): number[] {
  const dt = r.dp.dt;
  const out: number[] = [];
  for (let d = 0; d < dt.max; d++) if ((dt.flags[d] & DEST_F_USED) !== 0) out.push(d);
  return out;
}

/** Some traffic on every server: its five statistics go up by amounts that differ by slot and period. */
function traffic(r: Rig, p: number): void {
  const dt = r.dp.dt;
  for (const d of usedSlots(r)) {
    dt.conns[d] += ((p * 7 + d) % 5) + 1;
    dt.inPkts[d] += 10 * p + d;
    dt.inBytes[d] += 1000 * p + 37 * d;
    dt.outPkts[d] += (p * 3 + d) % 4;
    dt.outBytes[d] += 500 * ((p + d) % 3);
  }
}

if (process.argv[2] === '--child') {
  // Young-generation bytes per step after the JIT settles, with 100 services of 4 servers.
  const r = build(100, 4);
  const rates = new RateEstimator(r.dp);
  const now = new Float64Array(1); // a clock that does not box
  const steps: Record<string, [() => void, number]> = {
    none: [() => {}, 200], // the measurement's own bytes (getHeapSpaceStatistics' answer)
    ratesSample: [() => rates.sample((now[0] += 2000)), 200],
    ratesTick: [() => rates.tick((now[0] += 250)), 1600],
    estimate: [() => r.ctl.estimate(), 200],
    estimateTick: [() => r.ctl.estimateTick(), 1600],
  };
  // (Before the ticks, only whole steps: what they allocated shows.)
  if (typeof (rates as Partial<RateEstimator>).tick !== 'function') delete steps.ratesTick;
  if (typeof (r.ctl as Partial<typeof r.ctl>).estimateTick !== 'function') delete steps.estimateTick;
  for (const [f, n] of Object.values(steps)) for (let k = 0; k < n * 4; k++) f();
  const perStep: Record<string, number> = {};
  windowStart();
  for (const [name, [f, n]] of Object.entries(steps)) {
    const u0 = newSpaceUsed();
    for (let k = 0; k < n; k++) f();
    perStep[name] = newSpaceUsed() - u0;
  }
  for (const [name, [, n]] of Object.entries(steps)) if (name !== 'none') perStep[name] = (perStep[name]! - perStep.none!) / n;
  windowEnd();
  report(perStep);
} else {
  test('rate estimators in ticks: each of the 8 ticks of the 2 s period steps only its share of the servers and services, each row once a period', () => {
    const r = build(40, 4);
    const rates = new RateEstimator(r.dp);
    const per: number[][] = [];
    for (let t = 0; t < 2 * EST_TICKS; t++) {
      const d0 = r.ctl.destRates.steps;
      const s0 = r.ctl.svcRates.steps;
      const m0 = rates.steps;
      r.ctl.estimateTick();
      rates.tick(t * 250);
      per.push([r.ctl.destRates.steps - d0, r.ctl.svcRates.steps - s0, rates.steps - m0]);
    }
    // 160 servers and 40 services in 8 ticks: 20 servers and 5 services a tick.
    assert.deepEqual(per, Array.from({ length: 2 * EST_TICKS }, () => [20, 5, 20]));
    const d0 = r.ctl.destRates.steps;
    r.ctl.estimate(); // all the ticks at once (tests, uvsadm-golden)
    assert.equal(r.ctl.destRates.steps - d0, 160);
  });

  test('status page rates in ticks: every server\'s rates are the old formula\'s, avg += (Δ / 2 s - avg) / 4, a reused slot starting again', () => {
    const r = build(6, 4, true); // 24 servers in 24 slots: a new server takes a deleted one's slot
    const rates = new RateEstimator(r.dp);
    const dt = r.dp.dt;
    const ref = new Map<number, { gen: number; last: number[]; avg: number[] }>();
    const totals = (d: number): number[] => [0, 1, 2, 3, 4].map((k) => dt.total(d, k)); // STAT_* order, as Rates
    let now = 0;
    for (let p = 0; p < 6; p++) {
      if (p === 3) {
        r.ctl.deleteDest({ service: { proto: 'tcp', addr: '10.1.0.1', port: 1002 }, addr: RS(9), port: 1002 });
        r.ctl.addDest({ service: { proto: 'tcp', addr: '10.1.0.1', port: 1004 }, addr: '10.3.0.1', port: 1004, fwd: 'dr', weight: 1 });
        assert.equal(usedSlots(r).length, 24, 'the new server reuses the slot');
      }
      traffic(r, p);
      for (let t = 0; t < EST_TICKS; t++) rates.tick((now += 250));
      for (const d of usedSlots(r)) {
        const e = ref.get(d);
        const cur = totals(d);
        if (e === undefined || e.gen !== dt.gen[d]) ref.set(d, { gen: dt.gen[d], last: cur, avg: [0, 0, 0, 0, 0] });
        else {
          for (let k = 0; k < 5; k++) e.avg[k] += (Math.max(0, cur[k] - e.last[k]) / 2 - e.avg[k]) / 4;
          e.last = cur;
        }
      }
    }
    const reused = ref.get(9)!;
    assert.ok(reused.avg[2]! > 0 && reused.avg[2]! < ref.get(8)!.avg[2]!, 'the reused slot\'s row started again at period 3');
    for (const d of usedSlots(r)) {
      const a = ref.get(d)!.avg;
      assert.deepEqual(rates.dest(d), { cps: a[0], inpps: a[1], inbps: a[2], outpps: a[3], outbps: a[4] }, `slot ${d}`);
    }
  });

  test('--rate in ticks: every server\'s and service\'s rates are the kernel formula\'s (avg += floor((Δ × 2^9 - avg) / 4), per 2 s)', () => {
    const r = build(5, 3);
    const dt = r.dp.dt;
    const slots = usedSlots(r);
    const ref = new Map<string, { last: number[]; avg: number[] }>();
    const SCALE = [512, 512, 512, 16, 16]; // conns, inpkts, outpkts, inbytes, outbytes
    const step = (key: string, cur: number[]): void => {
      const e = ref.get(key) ?? { last: [0, 0, 0, 0, 0], avg: [0, 0, 0, 0, 0] };
      for (let k = 0; k < 5; k++) {
        e.avg[k] += Math.floor((Math.max(0, cur[k]! - e.last[k]!) * SCALE[k]! - e.avg[k]!) / 4);
        e.last[k] = cur[k]!;
      }
      ref.set(key, e);
    };
    const read = (a: number[]): Record<string, number> => {
      const cnt = (v: number): number => Math.max(0, Math.floor((v + 0x1ff) / 1024));
      const byt = (v: number): number => Math.max(0, Math.floor((v + 0xf) / 32));
      return { cps: cnt(a[0]!), inpps: cnt(a[1]!), outpps: cnt(a[2]!), inbps: byt(a[3]!), outbps: byt(a[4]!) };
    };
    for (let p = 0; p < 5; p++) {
      traffic(r, p);
      for (let t = 0; t < EST_TICKS; t++) r.ctl.estimateTick();
      for (const d of slots) step(`d${d}`, [dt.conns[d], dt.inPkts[d], dt.outPkts[d], dt.inBytes[d], dt.outBytes[d]]);
      for (const [id, svc] of r.dp.services.entries()) {
        if (svc === undefined) continue;
        const sum = (a: Float64Array): number => svc.dests.reduce((v, d) => v + a[d]!, 0);
        step(`s${id}`, [sum(dt.conns), sum(dt.inPkts), sum(dt.outPkts), sum(dt.inBytes), sum(dt.outBytes)]);
      }
    }
    for (const d of slots) assert.deepEqual(r.ctl.destRates.read(d), read(ref.get(`d${d}`)!.avg), `slot ${d}`);
    for (const [id, svc] of r.dp.services.entries()) if (svc !== undefined) assert.deepEqual(r.ctl.svcRates.read(id), read(ref.get(`s${id}`)!.avg), `service ${id}`);
    assert.ok(r.ctl.svcRates.read(r.dp.services.findIndex((s) => s !== undefined)).inbps > 0);
  });

  test('rate estimator steps allocate nothing: status page and --rate, whole steps and ticks, 100 services of 4 servers (young-generation bytes per step)', () => {
    const r = runChild<Record<string, number>>(fileURLToPath(import.meta.url), [], BIG_YOUNG);
    for (const name of ['ratesSample', 'ratesTick', 'estimate', 'estimateTick']) {
      // A boxed number or two at most (the status page's whole step: 32 bytes), none per row.
      assert.ok(r[name]! < 64, `${name}: ${r[name]?.toFixed(1)} bytes per step`);
    }
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
  });
}

test('the estimators\' rows are sized at construction: stepping rows up to the capacity reallocates nothing, and --rate\'s and the status page\'s first ticks over a full table of 50 services x 4 grow no row (before: grown by doubling on the first tick, 40-57 ms at 10,000 x 4)', () => {
  type Rows = { last: Float64Array; grows: number };
  const N = 300;
  const est = new EstimatorTable(N);
  const rt = new RateTable(5, N);
  const before = [(est as unknown as Rows).last, (rt as unknown as Rows).last];
  for (let row = 0; row < N; row++) {
    est.sample(row, row, 1, 1, 1, 1);
    rt.step(row, 0, 2);
  }
  assert.equal((est as unknown as Rows).last, before[0], 'EstimatorTable: the same rows after stepping row N-1');
  assert.equal((rt as unknown as Rows).last, before[1], 'RateTable: the same rows after stepping row N-1');
  assert.equal(est.grows + rt.grows, 0);
  est.sample(N, 1, 1, 1, 1, 1);
  assert.equal(est.grows, 1, 'a row beyond the capacity grows them');
  const r = build(50, 4, true);
  const rates = new RateEstimator(r.dp);
  for (let t = 0; t < EST_TICKS; t++) {
    r.ctl.estimateTick();
    rates.tick(t * 250);
  }
  assert.equal(r.ctl.destRates.steps, 200, 'every slot stepped once');
  assert.equal(r.ctl.destRates.grows, 0, '--rate\'s slots grew on a tick');
  assert.equal(r.ctl.svcRates.grows, 0, '--rate\'s service ids grew on a tick');
  assert.equal((rates as unknown as { dests: Rows }).dests.grows, 0, 'the status page\'s slots grew on a tick');
});

if (process.argv[2] !== '--child') {
  test('a tick from the estimators\' timers gives the loop a turn every 64 rows once its 1 ms slice is spent, the first tick after a start too (before: a tick in one piece, the first 8-19 ms at 10,000 x 4); every row still steps once a period', async () => {
    const r = build(400, 4); // 1,600 slots and 400 services: 250 rows a tick
    const rates = new RateEstimator(r.dp);
    // A clock 1 ms further at every look: each slice ends at its first look (64 rows).
    const real = performance.now.bind(performance);
    let clock = real();
    Object.defineProperty(performance, 'now', { value: () => (clock += 1), configurable: true });
    let most = 0;
    let stop = false;
    try {
      r.ctl.startEstimator(80); // a tick every 10 ms
      let last = r.ctl.destRates.steps + r.ctl.svcRates.steps;
      // A turn of the loop (its check phase): the rows stepped since the last.
      await new Promise<void>((resolve) => {
        const turn = (): void => {
          const now = r.ctl.destRates.steps + r.ctl.svcRates.steps;
          most = Math.max(most, now - last);
          last = now;
          if (stop || r.ctl.destRates.steps >= 2 * 1600) resolve(); // two periods
          else setImmediate(turn);
        };
        setImmediate(turn);
        setTimeout(() => (stop = true), 3000).unref();
      });
    } finally {
      r.ctl.stopEstimator();
      Object.defineProperty(performance, 'now', { value: real, configurable: true });
    }
    assert.ok(r.ctl.destRates.steps >= 2 * 1600, `two periods' ticks ran (${r.ctl.destRates.steps} rows)`);
    // The timer's slice and a slice going on can fall in one turn, each 63 rows and the servers
    // of one more service (a service and its 4 servers: 5 rows) at most.
    assert.ok(most <= 2 * (63 + 5), `a turn of the loop stepped ${most} rows`);
    // The status page's estimator: a tick whose deadline has passed visits 64 slots (the free
    // and deleted ones forgotten) or the servers of 13 services (65 rows) a call at most, and
    // ends as a whole tick would (the rates of RateEstimator.tick, its test above).
    const calls: number[] = [];
    let s0 = rates.steps;
    for (let k = 0; k < 100 && calls.length < 16; k++) {
      const done = rates.tickSome(k, -Infinity);
      calls.push(rates.steps - s0);
      s0 = rates.steps;
      if (done) break;
    }
    assert.equal(calls.reduce((a, b) => a + b, 0), 200, `tick 0: its 50 services' 200 servers stepped (${calls.join(' ')})`);
    assert.ok(calls.length >= 4 && calls.every((c) => c <= 13 * 4), `tick 0 in calls of 13 services' servers at most: ${calls.join(' ')}`);
  });
}
