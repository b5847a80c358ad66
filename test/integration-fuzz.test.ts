// test-class: lab
// Robustness: 10,000 random and malformed frames (seeded, test/lab/inject.ts) written into the
// bridge from the client namespace. uvsd must survive, keep answering its control socket, keep
// forwarding, and count what it dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sum, uvsadmCall, withDrLab } from './lab/itest.js';
import { VIP, UVSD_MAC, DIR_ADDR, labDir } from './lab/dr-lab.js';
import { delay } from './lab/netns.js';

const FRAMES = 10_000;
const SEED = 20240601;

test('fuzz: 10,000 random/truncated frames leave uvsd alive, forwarding, and counted as drops', { timeout: 180_000 }, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:80`, '-g', '-w', '1']);
    const warm = await lab.http(4);
    assert.equal(warm.errors, 0, `service does not forward before the fuzz: ${warm.errorSamples.join('; ')}`);

    const before = await lab.status();
    const inj = await lab.lab.exec(lab.ns.cli, [
      process.execPath, join(labDir, 'inject.js'),
      '--if', 'eth0', '--count', String(FRAMES), '--seed', String(SEED),
      '--dst-mac', UVSD_MAC, '--vip', VIP, '--dir', DIR_ADDR, '--src', lab.clientAddr,
    ], { timeoutMs: 60_000 });
    assert.equal(inj.code, 0, `injector failed: ${inj.stderr}`);
    const report = JSON.parse(inj.stdout.trim()) as { attempted: number; written: number; byKind: Record<string, number> };
    t.diagnostic(`injected: attempted ${report.attempted}, written ${report.written} (frames < 14 bytes are refused by the kernel)`);
    t.diagnostic(`by kind: ${JSON.stringify(report.byKind)}`);

    // Let uvsd drain its queue: wait until rx_frames stops moving (bounded).
    let after = await lab.status();
    for (let i = 0; i < 30; i++) {
      await delay(100);
      const next = await lab.status();
      const settled = next.counters['rx_frames'] === after.counters['rx_frames'];
      after = next;
      if (settled) break;
    }

    assert.ok(lab.uvsdAlive(), `uvsd died; stderr: ${lab.uvsd?.stderr().slice(-2000)}`);
    const ln = await lab.uvsadm(['-Ln']);
    assert.equal(ln.code, 0, `uvsadm -Ln after fuzz: ${ln.stderr}`);

    const dropsDelta: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.drops)) {
      const d = v - (before.drops[k] ?? 0);
      if (d) dropsDelta[k] = d;
    }
    const counterDelta: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.counters)) {
      const d = v - (before.counters[k] ?? 0);
      if (d) counterDelta[k] = d;
    }
    const dropped = sum(after.drops) - sum(before.drops);
    t.diagnostic(`drops grew by ${dropped}: ${JSON.stringify(dropsDelta)}`);
    t.diagnostic(`counters grew: ${JSON.stringify(counterDelta)}`);

    const r = await lab.http(6);
    t.diagnostic(`after fuzz: ${JSON.stringify(r.counts)} errors ${r.errors}`);
    assert.equal(r.errors, 0, `service stopped forwarding after the fuzz: ${r.errorSamples.join('; ')}`);
    assert.equal((r.counts['rs1'] ?? 0) + (r.counts['rs2'] ?? 0), 6);

    // The operator's view of the same numbers: uvsadm --status prints every drop reason.
    const st = await lab.uvsadm(['--status']);
    assert.equal(st.code, 0, `uvsadm --status: ${st.stderr}`);
    for (const [k, v] of Object.entries(after.drops)) {
      assert.match(st.stdout, new RegExp(`^drop_${k} (\\d+)$`, 'm'), `--status lacks drop_${k}`);
      const shown = Number(new RegExp(`^drop_${k} (\\d+)$`, 'm').exec(st.stdout)?.[1]);
      assert.ok(shown >= v, `--status drop_${k} ${shown} is behind status() ${v}`);
    }

    assert.ok(dropped > 0, 'no drop counter moved although thousands of malformed frames were addressed to uvsd');
    // Most injected kinds are malformed by construction; expect well over a thousand counted drops.
    assert.ok(dropped >= 1000, `only ${dropped} drops counted for ${report.written} malformed frames`);
  });
});
