// test-class: lab
// A split brain that heals without a word to the director that stayed master (docs/ha.md, "Split
// brain healed"): both directors master (they lost sight of each other), the client's ARP entry
// for a VIP names the other one's MAC, then the other goes backup (it heard the higher priority
// first, so keepalived tells the master nothing: no MASTER_RX_LOWER_PRI, no notify script). The
// master's ARP watch, at its default 60 s lap, probes an address another station answers for
// every second, so it sees the end of the conflict and announces the VIP: the client's entry
// names the master again within seconds (until 2026-12-07 at the next lap, up to a minute: the
// client's new connections went to a backup that drops them). The roles are set with uvsadm
// --role, as keepalived's notify scripts do; no keepalived here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipIf } from './lab/itest.js';
import { VIP_NAT, createHaLab, type Director, type HaLab } from './lab/ha-lab.js';
import { delay } from './lab/netns.js';

test('HA split brain healed: the director that stayed master announces its VIPs again within seconds of the other going backup (its ARP watch probes a conflicting address every second), so the client\'s ARP entry names it again', { timeout: 90_000 }, async (t) => {
  if (skipIf(t)) return;
  const lab: HaLab = await createHaLab('uvssb');
  const [d1, d2] = lab.dirs;
  const role = async (d: Director, r: 'master' | 'backup') => {
    const out = await lab.uvsadm(d, ['--role', r]);
    assert.equal(out.code, 0, out.stderr);
  };
  /** ms until the client's entry for the VIP names d's MAC (within ms), or -1. */
  const neighIs = async (d: Director, ms: number): Promise<number> => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      if ((await lab.clientNeigh(VIP_NAT)) === d.mac) return Date.now() - t0;
      await delay(100);
    }
    return -1;
  };
  try {
    await Promise.all([lab.startUvsd(d1), lab.startUvsd(d2)]);
    await role(d1, 'master');
    // The client resolves the VIP (a datagram to it): d1 answers.
    await lab.lab.exec(lab.ns.cli, ['bash', '-c', `echo x > /dev/udp/${VIP_NAT}/9`]);
    assert.ok(await neighIs(d1, 5000) >= 0, `client's entry: ${await lab.clientNeigh(VIP_NAT)}`);
    // The split: d2 master too. It announces (at once, 1 s and 5 s later); d1 holds what it sees of
    // that for TAKEOVER_GRACE_MS (3 s: a planned switch's announcement may come before d1's own
    // --role backup), then counts a conflict and defends the VIP once; d2's 5 s announcement wins
    // the client again, and d1's defence waits 10 s.
    await role(d2, 'master');
    const conflicts = async (): Promise<number> => ((await lab.call(d1, 'status', {})) as { counters: Record<string, number> }).counters['arp_conflicts'] ?? 0;
    for (let i = 0; (await conflicts()) === 0; i++) {
      assert.ok(i < 80, 'd1 counted no conflict within 8 s of d2 going master');
      await delay(100);
    }
    await delay(2500); // past d2's 5 s announcement
    const atD2 = await neighIs(d2, 5000);
    assert.ok(atD2 >= 0, `the client's entry did not name d2 during the split: ${await lab.clientNeigh(VIP_NAT)}`);
    // The heal: d2 goes backup; d1, master all along, hears nothing of it.
    await role(d2, 'backup');
    const back = await neighIs(d1, 10_000);
    t.diagnostic(`d1 counted ${await conflicts()} conflicts; the client's entry back at d1 ${back} ms after d2 went backup`);
    assert.ok(back >= 0 && back <= 5000, `the client's entry names ${await lab.clientNeigh(VIP_NAT)} ${back < 0 ? 'still 10 s' : `until ${back} ms`} after the heal (d1 ${d1.mac}, d2 ${d2.mac})`);
  } finally {
    await lab.destroy();
  }
});
