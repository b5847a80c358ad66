// test-class: lab
// FULLNAT end to end in network namespaces: client and real servers share 192.168.8.0/24, the
// servers hold no VIP and have no special route; uvsd rewrites both addresses (source → the LIP
// 192.168.8.50 with a port of its pool, destination → RIP) and undoes both on the replies.
// The method and the LIP are configured through the control verbs (uvsadm's FULLNAT flags are
// built elsewhere). Each test builds its own lab and tears it down in finally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDrLab } from './lab/itest.js';
import { LIP, VIP, type DrLab } from './lab/dr-lab.js';

const OPTS = { timeout: 120_000 };
const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };

async function fullnatService(lab: DrLab, servers: number, range?: [number, number]): Promise<void> {
  await lab.call('addService', { ...TCP80, sched: 'rr' });
  for (const s of lab.servers.slice(0, servers)) await lab.call('addDest', { service: TCP80, addr: s.addr, port: 80, fwd: 'fullnat', weight: 1 });
  await lab.call('addLaddr', { service: TCP80, addr: LIP, ...(range ? { portMin: range[0], portMax: range[1] } : {}) });
}

test('FULLNAT: rr splits 100 connections 50/50, 5 MB arrive byte-identical, UDP answers from the VIP (also fragmented), FullNat in -Ln', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'fullnat', httpPorts: [80] }, async (lab) => {
    await fullnatService(lab, 2);
    assert.match(await lab.uvsadmMust(['-Ln']), /-> 192\.168\.8\.20:80\s+FullNat\s+1/);
    const r = await lab.http(100);
    t.diagnostic(`counts ${JSON.stringify(r.counts)} errors ${r.errors} ${r.errorSamples.join('; ')}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 50, rs2: 50 });
    const conns = await lab.connections();
    // A client port used again finds its TIME_WAIT entry: expired and scheduled anew (conns_reused).
    const reused = (await lab.status()).counters['conns_reused']!;
    t.diagnostic(`entries ${conns.length}, conns_reused ${reused}`);
    assert.ok(conns.length >= 100 - reused && conns.every((c) => c.laddr === LIP && c.lport >= 1024), `every connection has the LIP as source: ${conns.length} entries, ${reused} reused`);

    const down = await lab.transfer(5 * 1024 * 1024);
    assert.equal(down.sha256, down.expected, JSON.stringify(down));

    const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };
    await lab.call('addService', { ...UDP53, sched: 'rr' });
    for (const s of lab.servers) await lab.call('addDest', { service: UDP53, addr: s.addr, port: 53, fwd: 'fullnat', weight: 1 });
    await lab.call('addLaddr', { service: UDP53, addr: LIP });
    const u = await lab.udp(4);
    assert.equal(u.errors, 0, `failed datagrams: ${u.errorSamples.join('; ')}`);
    assert.deepEqual(u.sequence, ['rs1', 'rs2', 'rs1', 'rs2']);
    const big = await lab.udp(4, { size: 4000 }); // three IP fragments each: the others follow the first
    assert.equal(big.errors, 0, `failed fragmented datagrams: ${big.errorSamples.join('; ')}`);
    assert.deepEqual(big.sequence, ['rs1', 'rs2', 'rs1', 'rs2']);
  });
});

test('FULLNAT: 2,000 concurrent connections from one client through one LIP get 2,000 distinct local ports', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'fullnat', httpPorts: [80] }, async (lab) => {
    await fullnatService(lab, 2);
    const held = await lab.openConns(2000);
    try {
      t.diagnostic(`ok ${held.ok} errors ${held.errors} ${held.errorSamples.join('; ')}`);
      assert.equal(held.errors, 0, held.errorSamples.join('; '));
      const conns = (await lab.connections()).filter((c) => c.state === 'ESTABLISHED');
      assert.equal(conns.length, 2000);
      assert.equal(new Set(conns.map((c) => c.lport)).size, 2000, 'local ports are distinct');
      assert.ok(conns.every((c) => c.laddr === LIP));
    } finally {
      await held.release();
    }
  });
});

test('FULLNAT: a pool of 100 ports serves 100 concurrent connections and refuses the excess, counted laddr_exhausted; --get-laddr shows CONNS 100 and the CONFLICTS', OPTS, async (t) => {
  await withDrLab(t, { servers: 1, mode: 'fullnat', httpPorts: [80] }, async (lab) => {
    await fullnatService(lab, 1, [20000, 20099]);
    const held = await lab.openConns(130, { timeoutMs: 2500 });
    try {
      t.diagnostic(`ok ${held.ok} errors ${held.errors}`);
      assert.equal(held.ok, 100);
      assert.equal(held.errors, 30);
      const st = await lab.status();
      assert.ok(st.drops['laddr_exhausted']! >= 30, `laddr_exhausted ${st.drops['laddr_exhausted']}`);
      const ports = (await lab.connections()).map((c) => c.lport);
      assert.ok(ports.every((p) => p >= 20000 && p <= 20099), 'ports from the configured range only');
      // DPVS's --get-laddr: the 100 ports in use, the 30 refused flows (and their SYN retries) as conflicts.
      const m = /\n {30}(\S+) +(\d+) +(\d+)\n$/.exec(await lab.uvsadmMust(['--get-laddr']));
      assert.ok(m, 'a LIP row');
      assert.equal(Number(m[3]), 100, 'CONNS');
      assert.ok(Number(m[2]) >= 30, `CONFLICTS ${m[2]}`);
    } finally {
      await held.release();
    }
  });
});
