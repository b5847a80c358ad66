// test-class: lab
// Connection sync of SYN proxy connections (docs/ha.md, "SYN proxy connections"): the NAT and
// FULLNAT services of the HA lab with --synproxy on both directors; d1 is master and proxies 20
// conversations (the clients' and servers' Linux stacks negotiate timestamps, SACK and window
// scaling, so each connection has a sequence delta, a timestamp offset and window rescaling);
// d2 installs them with that translation (REC_SYNPROXY) and takes over when d1's box dies: every
// conversation completes byte-identical through d2. Both run --workers 2: d1's workers send
// their records through its daemon, d2 installs each on the worker its connection's frames reach
// (with the same N, a FULLNAT connection's local port names the worker its client is steered
// to). Roles are set with uvsadm --role; no keepalived here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipIf } from './lab/itest.js';
import { CHAT_PORT, VIP_FNAT, VIP_NAT, createHaLab, killAndTakeOver, type HaLab } from './lab/ha-lab.js';
import { delay } from './lab/netns.js';

const SERVICES = [VIP_NAT, VIP_FNAT].map((addr) => ({ proto: 'tcp' as const, addr, port: CHAT_PORT }));

test('HA: SYN-proxied NAT and FULLNAT conversations continue byte-identical through the backup after the master\'s box dies (--workers 2)', { timeout: 120_000 }, async (t) => {
  if (skipIf(t)) return;
  const lab: HaLab = await createHaLab('uvshs', [['--workers', '2'], ['--workers', '2']]);
  const [d1, d2] = lab.dirs;
  try {
    await Promise.all([lab.startUvsd(d1), lab.startUvsd(d2)]);
    for (const d of [d1, d2]) for (const s of SERVICES) await lab.call(d, 'editService', { ...s, synproxy: true });
    await Promise.all([lab.startSync(d1), lab.startSync(d2)]);
    await lab.call(d1, 'setRole', { role: 'master' });
    const chat = lab.chatter(SERVICES.map((s) => `${s.addr}:${CHAT_PORT}`), 10, 8000);
    assert.equal(await chat.waitForLine(/^established /, 30_000), 'established 20 of 20');
    await delay(1000); // conversations under way, their entries synced

    const c1 = (await lab.call(d1, 'status', {})).counters;
    assert.equal(c1['synproxy_established'], 20, 'd1 proxied every connection');
    const conns = (await lab.call(d2, 'connections', {})).filter((c) => c.vport === CHAT_PORT && !c.template);
    assert.equal(conns.length, 20, 'd2 holds every connection');
    assert.equal((await lab.call(d2, 'status', {})).counters['sync_refused'], 0);

    await killAndTakeOver(lab, chat, 20, (m) => t.diagnostic(m));
    const c2 = (await lab.call(d2, 'status', {})).counters;
    t.diagnostic(`d2: synproxy_established ${c2['synproxy_established']} synproxy_ack_invalid ${c2['synproxy_ack_invalid']} tcp_rst_sent ${c2['tcp_rst_sent']}`);
    assert.equal(c2['synproxy_ack_invalid'] ?? 0, 0, 'every segment found its connection on the worker it reached');
  } finally {
    await lab.destroy();
  }
});
