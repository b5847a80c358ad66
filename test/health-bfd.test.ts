// BFD for BFD_CHECK (src/health/bfd.ts): two hubs on loopback addresses talk RFC 5880 to each
// other, as uvsd and a real server's BFD daemon would. The sessions come Up through the
// three-way handshake at the slow start pace, the check passes; when one side goes away the
// other detects it within its detection time and the check fails with the RFC's diagnostic;
// malformed packets are counted and dropped. Then the YAML form (type: bfd) and --dump-config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { BfdHub, type BfdParams } from '../src/health/bfd.js';
import { bfdStartupMs, checkBfd } from '../src/health/checkers/bfd.js';
import { bfdCheckSpec } from '../src/health/checkers/bfd.js';
import { parseConfig } from '../src/control/config.js';
import { configRig } from './helpers/config-rig.js';

const A = '127.0.0.1';
const B = '127.0.0.2';

/** A UDP port free on both loopback addresses (bound, then closed). */
async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

const until = async (what: string, ms: number, cond: () => boolean): Promise<number> => {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - t0;
};

test('two BFD hubs: Down -> Init -> Up at the slow start pace, the check passes; one side gone: Down with "control detection time expired" within the detection time; bad packets counted and dropped', { timeout: 30_000 }, async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const hubA = new BfdHub({ listen: A, port: pa, peerPort: pb });
  const hubB = new BfdHub({ listen: B, port: pb, peerPort: pa });
  const fast = { minRxMs: 30, minTxMs: 30, idleTxMs: 1000, multiplier: 3 };
  const toB: BfdParams = { neighbor: B, source: A, ...fast };
  const toA: BfdParams = { neighbor: A, source: B, ...fast };
  const spec = bfdCheckSpec({ instance: 'b', bfd: toB });
  try {
    const first = await checkBfd(hubA, spec);
    assert.deepEqual([first.ok, first.pending], [false, true], `starting: no verdict yet (${first.reason})`);
    hubB.status(toA);
    const upMs = await until('both Up', 5000, () => hubA.status(toB).state === 'Up' && hubB.status(toA).state === 'Up');
    assert.ok(upMs < bfdStartupMs(toB), `Up in ${upMs.toFixed(0)} ms`);
    assert.deepEqual(await checkBfd(hubA, spec), { ok: true, reason: `BFD b (${B}): Up` });
    // Up: packets every ~30 ms both ways (the Poll sequence moved both from 1 s); it stays Up.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(hubA.status(toB).state, 'Up');
    // Garbage at A's port: counted, nothing changes.
    const before = hubA.dropped;
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.send(Buffer.from('not bfd at all, 24 bytes!'), pa, A, () => r()));
    const v0 = Buffer.alloc(24);
    v0[0] = 0 << 5; // version 0
    await new Promise<void>((r) => s.send(v0, pa, A, () => r()));
    s.close();
    await until('drops counted', 1000, () => hubA.dropped >= before + 2);
    assert.equal(hubA.status(toB).state, 'Up');
    // B goes away: A detects it within 3 x 30 ms (plus timer slack).
    hubB.close();
    const downMs = await until('A Down', 2000, () => hubA.status(toB).state === 'Down');
    assert.ok(downMs < 500, `Down after ${downMs.toFixed(0)} ms`);
    const r = await checkBfd(hubA, spec);
    assert.deepEqual([r.ok, r.pending, r.reason], [false, undefined, `BFD b (${B}): Down (control detection time expired)`]);
  } finally {
    hubA.close();
    hubB.close();
  }
});

test('a neighbour that never answers: no verdict during the start-up time, then failed', async () => {
  let now = 0;
  const hub = new BfdHub({ listen: A, port: await freePort(), peerPort: await freePort(), now: () => now });
  const spec = bfdCheckSpec({ instance: 'gone', bfd: { neighbor: B, minRxMs: 50, minTxMs: 50, idleTxMs: 1000, multiplier: 3 } });
  try {
    assert.equal((await checkBfd(hub, spec)).pending, true);
    now += bfdStartupMs(spec.bfd) - 1;
    assert.equal((await checkBfd(hub, spec)).pending, true);
    now += 2;
    assert.deepEqual(await checkBfd(hub, spec), { ok: false, reason: `BFD gone (${B}): Down` });
  } finally {
    hub.close();
  }
});

test('YAML type: bfd is keepalived\'s bfd_instance + BFD_CHECK: neighbor (required), source and timers; --dump-config writes the non-defaults back', () => {
  const text = (check: string) => `services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    servers:
      - address: 192.168.8.20
        health:
          checks:
            - ${check}
`;
  const cfg = parseConfig(text('{ type: bfd, neighbor: 192.168.8.20, min-rx: 50, multiplier: 3 }'), 'f.yaml');
  const [c] = cfg.services[0]!.health!.realServers[0]!.checkers;
  assert.deepEqual(c!.type === 'BFD_CHECK' ? c.bfd : undefined, { neighbor: '192.168.8.20', minRxMs: 50, minTxMs: 10, idleTxMs: 1000, multiplier: 3 });
  const { cm } = configRig();
  cm.apply(cfg, false);
  const dumped = cm.dump();
  assert.match(dumped, /- type: bfd\n\s+neighbor: 192\.168\.8\.20\n\s+min-rx: 50\n\s+multiplier: 3\n/);
  assert.deepEqual(cm.apply(parseConfig(dumped, 'd.yaml'), true), [], 'loads back the same');
  assert.throws(() => parseConfig(text('{ type: bfd }'), 'f.yaml'), /checks\[0\]\.neighbor: missing: bfd checks need the neighbour's address/);
  assert.throws(() => parseConfig(text('{ type: bfd, neighbor: 192.168.8.20, delay-loop: 5 }'), 'f.yaml'), /delay-loop: not a field of bfd checks/);
});
