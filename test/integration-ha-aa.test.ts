// Active/active directors end to end (docs/ha.md, "Active/active"): two uvsd with two HA groups,
// keepalived running one VRRP instance per group (d1 preferred for group a: the NAT VIP and the
// floating DIP; d2 for group b: the FULLNAT VIP with its LIP, and the DR VIP) and writing its
// transitions to a notify FIFO each uvsd reads (--vrrp-fifo, no notify scripts), connection sync
// both ways. Both directors forward at once, each its own group; when d1's box dies, d2 takes
// group a over and d1's NAT connections continue through it while d2's own never stop. d1 runs
// --workers 2: the groups and roles reach every worker, and each worker installs only the synced
// records of the groups d1 is backup of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipIf } from './lab/itest.js';
import { CHAT_PORT, VIP_DR, VIP_FNAT, VIP_NAT, assertSurvived, directorLogs, chatResult, createHaLab, endChat, type Director, type HaLab } from './lab/ha-lab.js';
import { delay, hasCommand } from './lab/netns.js';

test('active/active: each director forwards its HA group; when d1 dies d2 takes group a over, every connection of both groups completes byte-identical', { timeout: 120_000 }, async (t) => {
  if (skipIf(t)) return;
  assert.ok(hasCommand('keepalived'), 'keepalived is not installed (apt-get install keepalived; .ci/run installs it)');
  const lab: HaLab = await createHaLab('uvsaa', [['--workers', '2'], []], { activeActive: true });
  const [d1, d2] = lab.dirs;
  try {
    await Promise.all([lab.startUvsd(d1), lab.startUvsd(d2)]);
    await Promise.all([lab.startSync(d1), lab.startSync(d2)]);
    await lab.startKeepalived(d1);
    await lab.waitRole(d1, 'master', 20_000, 'a');
    await lab.startKeepalived(d2);
    // d2 preempts group b (priority 150 there); d1 keeps a.
    const tB = await lab.waitRole(d2, 'master', 20_000, 'b');
    await lab.waitRole(d1, 'backup', 5000, 'b');
    t.diagnostic(`d2 master of b ${tB} ms after its keepalived started`);
    const s1 = (await lab.uvsadm(d1, ['--status'])).stdout;
    const s2 = (await lab.uvsadm(d2, ['--status'])).stdout;
    assert.match(s1, /^role mixed default=backup,a=master,b=backup$/m);
    assert.match(s2, /^role mixed default=backup,a=backup,b=master$/m);
    // While d2 preempts, d1's last advert for b (priority 100) may reach d2 as master: keepalived
    // then writes MASTER_RX_LOWER_PRI, which makes master as MASTER does (seen once in CI).
    assert.match(s2, /^vrrp_fifo \S+ events [1-9]\d* ignored 0, last INSTANCE "b" MASTER(_RX_LOWER_PRI)? 150 \d+s ago$/m);
    assert.match((await lab.uvsadm(d2, ['-L', '--daemon'])).stdout, /^role mixed default=backup,a=backup,b=master \(sync sent=/m);

    const chat = lab.chatter([`${VIP_NAT}:${CHAT_PORT}`, `${VIP_FNAT}:${CHAT_PORT}`, `${VIP_DR}:${CHAT_PORT}`], 20, 6000);
    assert.equal(await chat.waitForLine(/^established /, 30_000), 'established 60 of 60');
    // The client reaches group a's VIP at d1 and group b's at d2.
    assert.equal(await lab.clientNeigh(VIP_NAT), d1.mac);
    assert.equal(await lab.clientNeigh(VIP_FNAT), d2.mac);
    assert.equal(await lab.clientNeigh(VIP_DR), d2.mac);
    await delay(1500); // conversations under way, their entries synced both ways
    const conns = async (d: Director, vip: string) => (await lab.call(d, 'connections', {})).filter((c) => c.vaddr === vip && !c.template).length;
    assert.deepEqual([await conns(d2, VIP_NAT), await conns(d1, VIP_FNAT), await conns(d1, VIP_DR)], [20, 20, 20],
      'each director holds the other\'s connections (sync both ways)');
    const forwarded = async (d: Director, vip: string) => (await lab.call(d, 'list', {})).services.find((s) => s.addr === vip)!.stats.inpkts;
    assert.equal(await forwarded(d2, VIP_NAT), 0, 'd2 forwarded nothing of group a while d1 held it');
    assert.ok(await forwarded(d2, VIP_FNAT) > 0 && await forwarded(d1, VIP_NAT) > 0, 'both directors forward');
    assert.equal(await forwarded(d1, VIP_FNAT), 0, 'd1 forwarded nothing of group b');

    const killedAt = Date.now();
    await lab.kill(d1, 'all');
    const took = await lab.waitRole(d2, 'master', 5000, 'a');
    t.diagnostic(`d2 master of a ${took} ms after d1 died`);
    await endChat(chat, killedAt);
    const r = await chatResult(chat);
    t.diagnostic(`chatter: ${JSON.stringify(r)}; ${Date.now() - killedAt} ms after the kill all done`);
    assertSurvived(r, 60, directorLogs(d2));
    assert.equal(await lab.clientNeigh(VIP_NAT), d2.mac, 'the client found group a\'s VIP at d2 (gratuitous ARP)');
    assert.match((await lab.uvsadm(d2, ['--status'])).stdout, /^role mixed default=backup,a=master,b=master$/m);
    // What a notify script would run instead of the FIFO: uvsadm --role --ha-group, one group.
    const r1 = await lab.uvsadm(d2, ['--role', 'backup', '--ha-group', 'a']);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match((await lab.uvsadm(d2, ['--status'])).stdout, /^role mixed default=backup,a=backup,b=master$/m);
    const bad = await lab.uvsadm(d2, ['--role', 'backup', '--ha-group', 'c']);
    assert.deepEqual([bad.code, bad.stderr], [255, 'No such HA group: "c" (uvsd --ha-group: a, b; "default": the addresses of no group)\n']);
  } finally {
    await lab.destroy();
  }
});
