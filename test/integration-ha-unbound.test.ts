// test-class: lab
// Connection sync to a backup that lacks the real server (docs/ha.md, "A server the backup does
// not have yet"): d2 starts without one NAT and one FULLNAT server (keepalived has not added them
// there yet, or checks them down), d1 is master and syncs 20 conversations over multicast; d2
// installs the connections of the missing servers unbound (listed with their server, in no
// server's counts), gets the servers afterwards, and takes over when d1's box dies: every
// conversation completes byte-identical, the late ones bound at their first segment there. d2
// runs --workers 2 (each synced connection waits on the worker its frames reach). The roles are
// set with uvsadm --role, as keepalived's notify scripts do; no keepalived here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipIf } from './lab/itest.js';
import { CHAT_PORT, HA_NAT_SUBNET, HA_SUBNET, VIP_DR, VIP_FNAT, VIP_NAT, createHaLab, killAndTakeOver, type HaLab } from './lab/ha-lab.js';
import { delay } from './lab/netns.js';

const NAT = { proto: 'tcp' as const, addr: VIP_NAT, port: CHAT_PORT };
const FNAT = { proto: 'tcp' as const, addr: VIP_FNAT, port: CHAT_PORT };
/** The servers d2 lacks when the sync arrives: rs1 (NAT) and rs3 (FULLNAT). */
const LATE = [
  { service: NAT, addr: `${HA_NAT_SUBNET}.20`, port: CHAT_PORT, fwd: 'nat' as const },
  { service: FNAT, addr: `${HA_SUBNET}.20`, port: CHAT_PORT, fwd: 'fullnat' as const },
];

test('HA: a backup that lacks a real server when the sync arrives installs its connections unbound, gets the server afterwards, takes over, and the conversations continue (backup with --workers 2)', { timeout: 120_000 }, async (t) => {
  if (skipIf(t)) return;
  const lab: HaLab = await createHaLab('uvshu', [[], ['--workers', '2']]);
  const [d1, d2] = lab.dirs;
  try {
    await Promise.all([lab.startUvsd(d1), lab.startUvsd(d2)]);
    for (const s of LATE) await lab.call(d2, 'deleteDest', { service: s.service, addr: s.addr, port: s.port });
    await Promise.all([lab.startSync(d1), lab.startSync(d2)]);
    await lab.call(d1, 'setRole', { role: 'master' });
    const chat = lab.chatter([`${VIP_NAT}:${CHAT_PORT}`, `${VIP_FNAT}:${CHAT_PORT}`], 10, 8000);
    assert.equal(await chat.waitForLine(/^established /, 30_000), 'established 20 of 20');
    await delay(1000); // conversations under way, their entries synced

    const late = new Set(LATE.map((s) => s.addr));
    const conns = (await lab.call(d2, 'connections', {})).filter((c) => c.vport === CHAT_PORT && !c.template);
    assert.equal(conns.length, 20, 'd2 holds every connection, those of its missing servers too');
    const unbound = conns.filter((c) => late.has(c.daddr)).length;
    assert.equal(unbound, 10, 'rr: half of them to the servers d2 lacks, listed with their server');
    let st = await lab.call(d2, 'status', {});
    assert.equal(st.counters['sync_refused'], 0, 'none refused');
    assert.equal(st.counters['sync_unbound'], unbound);
    const counts = async () => (await lab.call(d2, 'list', {})).services.filter((s) => s.addr !== VIP_DR)
      .flatMap((s) => s.dests.map((d) => `${d.addr}=${d.active + d.inactive}`)).sort();
    assert.deepEqual(await counts(), [`${HA_NAT_SUBNET}.30=5`, `${HA_SUBNET}.30=5`], 'the servers d2 has count their 5 connections each; the unbound ones count nowhere');
    const lnc = (await lab.uvsadm(d2, ['-Lnc'])).stdout;
    assert.equal(lnc.split('\n').filter((l) => l.includes(`${HA_NAT_SUBNET}.20:${CHAT_PORT}`) || l.includes(`${HA_SUBNET}.20:${CHAT_PORT}`)).length, 10, lnc);

    // keepalived on d2 catches up: the servers come (what its checker would do with uvsadm -a).
    for (const s of LATE) await lab.call(d2, 'addDest', { ...s, weight: 1 });
    await killAndTakeOver(lab, chat, 20, (m) => t.diagnostic(m));
    st = await lab.call(d2, 'status', {});
    t.diagnostic(`d2: sync_unbound ${st.counters['sync_unbound']} sync_bound ${st.counters['sync_bound']} sync_unbound_expired ${st.counters['sync_unbound_expired']}`);
    assert.equal(st.counters['sync_bound'], unbound, 'each bound once, at its first segment after the takeover');
    assert.equal(st.counters['sync_unbound_expired'], 0);
    assert.deepEqual(await counts(), [`${HA_NAT_SUBNET}.20=5`, `${HA_NAT_SUBNET}.30=5`, `${HA_SUBNET}.20=5`, `${HA_SUBNET}.30=5`],
      'bound: each server counts its 5 connections on d2');
    const w = st.workers ?? [];
    assert.ok(w.length === 2 && w.every((x) => x.fwd_packets > 0), `both of d2's workers forwarded: ${JSON.stringify(w)}`);
  } finally {
    await lab.destroy();
  }
});
