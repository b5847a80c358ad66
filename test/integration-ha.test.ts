// High availability end to end (docs/ha.md): two uvsd on one LAN, keepalived VRRPv3 in each
// director namespace driving `uvsadm --role` through notify scripts and tracking uvsd with a
// vrrp_script, connection sync over multicast with HMAC. One lab for the whole story, in order:
//   1. NAT + FULLNAT: 50 + 50 long-lived connections (a message every 100 ms), the master box dies
//      (SIGKILL of uvsd and keepalived): the backup takes over, every connection completes
//      byte-identical, no message waits 3 s or more.
//   2. Failback: the old master restarts as backup, gets the whole table from the new master
//      (dump on request) and takes no address: the client still finds every VIP at the new master.
//   3. DR: 50 connections opened before step 2; now the new master box dies, the restarted
//      director becomes master and forwards the connections it learnt by sync (dump and updates):
//      all 50 complete byte-identical, no message waits 3 s or more.
//   4. vrrp_script: only uvsd dies on the master; keepalived there sees its check
//      (contrib/uvsd-check) fail, goes to FAULT and the backup takes over (time reported, not
//      asserted: it includes up to one script interval).
//   5. A forged sync datagram (wrong key) is counted (auth_failed) and changes nothing.
//   6. The master's uvsd is SIGKILLed and started again 200 ms later (systemd's RestartSec):
//      it comes back as backup; keepalived sees the restart all the same (the check fails while
//      uvsd is young), so within seconds exactly one director is master and the VIPs answer.
// d1 runs with --workers 2 (d2 with one datapath): as master its workers drain and dump their own
// tables into the sync daemon; as backup (failback) each synced connection is installed on the
// worker its frames will reach, so the DR connections of step 3 continue there.
// Test plan and measured numbers: docs/ha.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipIf } from './lab/itest.js';
import { CHAT_PORT, CHECK_INTERVAL, CLIENT_ADDR, VIP_DR, VIP_FNAT, VIP_NAT, HA_LIP, assertSurvived, directorLogs, chatResult, createHaLab, endChat, type HaLab, type Director } from './lab/ha-lab.js';
import { delay, hasCommand } from './lab/netns.js';
import { repoRoot } from './lab/dr-lab.js';
import { join } from 'node:path';
import type { ConnInfo } from '../src/control/protocol.js';

function keepalivedMissing(): string | null {
  return hasCommand('keepalived') ? null : 'keepalived is not installed (apt-get install keepalived; .ci/run installs it)';
}

const key = (c: ConnInfo) => `${c.caddr}:${c.cport} ${c.vaddr}:${c.vport} ${c.daddr}:${c.dport} ${c.laddr}:${c.lport} ${c.fwd}`;

test('HA: keepalived VRRP + connection sync: NAT/FULLNAT and DR connections survive the master\'s death, failback gets the table (one director with --workers 2)', { timeout: 150_000 }, async (t) => {
  if (skipIf(t)) return;
  // Root with netns but no keepalived: a broken setup, not a reason to pass quietly.
  const missing = keepalivedMissing();
  assert.equal(missing, null, missing ?? '');

  const lab: HaLab = await createHaLab('uvsha', [['--workers', '2'], []]);
  const [d1, d2] = lab.dirs;
  // Until keepalived has seen the director's check pass (contrib/uvsd-check, as keepalived runs it:
  // in the director's namespace, where ss sees its socket; it fails while uvsd is younger than
  // 3 s, the director in FAULT and unable to take over).
  // Once it passes here, every later run of the check passes (uvsd only gets older). keepalived
  // logs each change of the check's result: when it has logged a failure (the director in FAULT),
  // the first pass after it ("VRRP_Script(chk_uvsd) succeeded", then "(VI_UVS) Entering BACKUP
  // STATE") is waited for; when it never saw the check fail, CHECK_INTERVAL + 0.5 s are waited
  // (a run under way may still fail), as always before.
  const checkPassed = async (d: Director) => {
    for (let i = 0; (await lab.lab.exec(d.ns, [join(repoRoot, 'contrib', 'uvsd-check'), d.socket])).code !== 0; i++) {
      assert.ok(i < 100, `${d.name}: uvsd-check still fails after 10 s`);
      await delay(100);
    }
    const kaLog = () => d.keepalived?.stderr() ?? ''; // keepalived --log-console writes to stderr
    const t0 = Date.now();
    for (;;) {
      const lines = kaLog().split('\n');
      const last = (re: RegExp) => {
        let i = lines.length - 1;
        while (i >= 0 && !re.test(lines[i]!)) i--;
        return i;
      };
      const failed = last(/VRRP_Script\(chk_uvsd\) failed/);
      const passed = last(/VRRP_Script\(chk_uvsd\) succeeded/);
      const state = last(/\(VI_UVS\) Entering \w+ STATE/);
      if (failed < 0 ? Date.now() - t0 >= CHECK_INTERVAL * 1000 + 500 : passed > failed && state > passed && /Entering BACKUP STATE/.test(lines[state]!)) {
        t.diagnostic(`${d.name}: keepalived ${failed < 0 ? 'never saw the check fail' : 'BACKUP'} ${Date.now() - t0} ms after uvsd-check passed`);
        break;
      }
      assert.ok(Date.now() - t0 < 10_000, `${d.name}: keepalived not back to BACKUP 10 s after uvsd-check passed: ${kaLog().slice(-1500)}`);
      await delay(50);
    }
  };
  try {
    await Promise.all([lab.startUvsd(d1), lab.startUvsd(d2)]);
    await Promise.all([lab.startSync(d1), lab.startSync(d2)]);
    assert.equal((await lab.call(d1, 'status', {})).role, 'backup', 'both start as backup (daemon.role in the config)');
    assert.equal((await lab.call(d1, 'status', {})).workers?.length, 2, 'd1 runs two workers');
    // d1 first (priority 150): it becomes master; d2 then joins as backup (nopreempt).
    await lab.startKeepalived(d1);
    const tMaster = await lab.waitRole(d1, 'master', 20_000);
    t.diagnostic(`d1 master ${tMaster} ms after keepalived started`);
    await lab.startKeepalived(d2);
    await delay(1000);
    assert.equal((await lab.call(d2, 'status', {})).role, 'backup');
    const daemonOut = (await lab.uvsadm(d1, ['-L', '--daemon'])).stdout;
    assert.match(daemonOut, /^master sync daemon \(mcast=br0, syncid=1, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1, auth=hmac-sha256\)$/m);
    assert.match(daemonOut, /^backup sync daemon \(mcast=br0, syncid=1, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1, auth=hmac-sha256\)$/m);
    assert.match(daemonOut, /^role master /m);

    await t.test('NAT + FULLNAT: 100 long-lived connections complete byte-identical when the master box is SIGKILLed', async () => {
      const chat = lab.chatter([`${VIP_NAT}:${CHAT_PORT}`, `${VIP_FNAT}:${CHAT_PORT}`], 50, 5000);
      assert.equal(await chat.waitForLine(/^established /, 30_000), 'established 100 of 100');
      await delay(1500); // conversations under way, their entries synced
      const before = (await lab.call(d2, 'connections', {})).filter((c) => c.vport === CHAT_PORT && !c.template);
      assert.equal(before.length, 100, 'the backup holds all 100 connections before the failure');
      assert.equal(before.filter((c) => c.fwd === 'fullnat' && c.laddr === HA_LIP).length, 50, 'FULLNAT ones with their local address');
      const killedAt = Date.now();
      await lab.kill(d1, 'all');
      const took = await lab.waitRole(d2, 'master', 5000);
      t.diagnostic(`d2 master ${took} ms after d1 died`);
      const r = await chatResult(chat);
      t.diagnostic(`chatter: ${JSON.stringify(r)}; resumed within ${r.maxStallMs} ms; ${Date.now() - killedAt} ms after the kill all done`);
      assertSurvived(r, 100, directorLogs(d2));
      const st = await lab.call(d2, 'status', {});
      assert.ok(st.counters['sync_installed']! >= 100, `sync_installed ${st.counters['sync_installed']}`);
    });

    // DR conversations opened now, through d2, last through the failback and d2's death.
    const drChat = lab.chatter([`${VIP_DR}:${CHAT_PORT}`], 50, 11_000);
    assert.equal(await drChat.waitForLine(/^established /, 30_000), 'established 50 of 50');
    const drStart = Date.now();

    await t.test('failback: the old master restarts as backup, receives the whole table, takes no address until told', async () => {
      await lab.startUvsd(d1);
      await lab.startSync(d1); // its backup daemon asks d2 for a full dump
      await lab.startKeepalived(d1); // nopreempt: d2 stays master
      const want = (await lab.call(d2, 'connections', {})).filter((c) => c.vaddr === VIP_DR && !c.template).map(key).sort();
      assert.equal(want.length, 50);
      let got: string[] = [];
      for (let i = 0; i < 40; i++) {
        got = (await lab.call(d1, 'connections', {})).filter((c) => c.vaddr === VIP_DR && !c.template).map(key).sort();
        if (got.length >= want.length) break;
        await delay(100);
      }
      assert.deepEqual(got, want, 'd1 got every DR connection of d2 (same client, VIP and server)');
      const daemon = await lab.call(d1, 'daemon', {});
      assert.equal(daemon.role, 'backup');
      assert.ok(daemon.stats.received > 0);
      // The client asks again for every VIP: only the master (d2) answers.
      await lab.lab.exec(lab.ns.cli, ['ip', 'neigh', 'flush', 'all']);
      const d1Answers = (await lab.call(d1, 'status', {})).counters['arp_replies_sent']!;
      // A datagram to each VIP makes the client's kernel ask (ARP) again.
      const js = `const s=require('dgram').createSocket('udp4');let n=0;for(const ip of ${JSON.stringify([VIP_NAT, VIP_FNAT, VIP_DR])})s.send('x',9,ip,()=>{if(++n===3)setTimeout(()=>s.close(),300)})`;
      await lab.lab.must([process.execPath, '-e', js], lab.ns.cli);
      for (const vip of [VIP_NAT, VIP_FNAT, VIP_DR]) assert.equal(await lab.clientNeigh(vip), d2.mac, `${vip} is at d2`);
      assert.equal((await lab.call(d1, 'status', {})).counters['arp_replies_sent'], d1Answers, 'the backup answered no ARP');
      await checkPassed(d1); // ready to take over (keepalived BACKUP, no longer FAULT)
      assert.equal((await lab.call(d1, 'status', {})).role, 'backup', 'still backup: keepalived (nopreempt) has not told it otherwise');
    });

    await t.test('DR: the master box (d2) is SIGKILLed; the director that failed back forwards all 50 connections it learnt by sync', async () => {
      // Leave the conversations time after the failure.
      assert.ok(Date.now() - drStart < 8000, `the failback step took too long (${Date.now() - drStart} ms) to test DR failover`);
      const killedAt = Date.now();
      await lab.kill(d2, 'all');
      const took = await lab.waitRole(d1, 'master', 5000);
      t.diagnostic(`d1 master ${took} ms after d2 died`);
      await endChat(drChat, killedAt);
      const r = await chatResult(drChat);
      t.diagnostic(`chatter: ${JSON.stringify(r)}; ${Date.now() - killedAt} ms after the kill all done`);
      assertSurvived(r, 50, directorLogs(d1));
      assert.equal(await lab.clientNeigh(VIP_DR), d1.mac, 'the VIP moved to d1 (gratuitous ARP)');
      // Each synced connection waited on the worker its frames reach: none was handed over.
      const w = (await lab.call(d1, 'status', {})).workers ?? [];
      t.diagnostic(`d1 workers: ${w.map((x) => `${x.worker}: fwd ${x.fwd_packets} handoff out ${x.handoff_out}`).join(', ')}`);
      assert.ok(w.length === 2 && w.every((x) => x.fwd_packets > 0), 'both of d1\'s workers forwarded synced connections');
      assert.deepEqual(w.map((x) => x.handoff_out), [0, 0], 'no frame handed between d1\'s workers');
    });

    await t.test('vrrp_script: only uvsd dies on the master; keepalived there notices and the backup takes over', async () => {
      await lab.startUvsd(d2);
      await lab.startSync(d2);
      await lab.startKeepalived(d2);
      await delay(500);
      assert.equal((await lab.call(d2, 'status', {})).role, 'backup');
      const killedAt = Date.now();
      await lab.kill(d1, 'uvsd');
      const took = await lab.waitRole(d2, 'master', 15_000);
      t.diagnostic(`d2 master ${took} ms after uvsd on d1 died (vrrp_script every ${CHECK_INTERVAL} s)`);
      const r = await chatResult(lab.chatter([`${VIP_NAT}:${CHAT_PORT}`, `${VIP_DR}:${CHAT_PORT}`], 5, 1000));
      assert.equal(r.failed, 0, `new connections through d2: ${r.errors.join('; ')}`);
      t.diagnostic(`new connections through d2 ${Date.now() - killedAt} ms after the kill: ${JSON.stringify(r)}`);
      // Back to a running pair for the last step: d1's uvsd again, as backup.
      await lab.startUvsd(d1);
    });

    await t.test('a forged sync message (wrong key) is counted and ignored', async () => {
      // d1 is backup (restarted after the last step): it would install what it receives.
      await lab.startSync(d1);
      assert.equal((await lab.call(d1, 'status', {})).role, 'backup');
      const before = await lab.call(d1, 'daemon', {});
      // A well-formed datagram with a record for a new connection, sealed with another key.
      const { seal, HDR_LEN, MSG_DATA } = await import('../src/sync/codec.js');
      const { REC_LEN, REC_CONN } = await import('../src/datapath/syncrec.js');
      const { wr16, wr32 } = await import('../src/datapath/frame.js');
      const { parseIp } = await import('../src/datapath/addr.js');
      const buf = Buffer.alloc(HDR_LEN + REC_LEN + 32);
      const o = HDR_LEN;
      buf[o] = REC_CONN;
      buf[o + 1] = 6;
      buf[o + 2] = 1; // ESTABLISHED
      wr16(buf, o + 6, 55555);
      wr16(buf, o + 8, CHAT_PORT);
      wr16(buf, o + 10, CHAT_PORT);
      wr32(buf, o + 16, parseIp('192.168.8.99'));
      wr32(buf, o + 20, parseIp(VIP_DR));
      wr32(buf, o + 24, parseIp('192.168.8.20'));
      wr32(buf, o + 28, parseIp('192.168.8.99'));
      const len = seal(buf, MSG_DATA, 1, 1, 12345, 1, Buffer.from('not-the-shared-key-at-all'));
      const forged = buf.subarray(0, len).toString('base64');
      // Sent from the client's namespace to the sync group (d1's socket is bound to it: it hears no unicast).
      const js = `const s=require('dgram').createSocket('udp4');s.bind(0,()=>{s.setMulticastInterface('${CLIENT_ADDR}');s.send(Buffer.from('${forged}','base64'),8848,'224.0.0.81',()=>s.close())})`;
      await lab.lab.must([process.execPath, '-e', js], lab.ns.cli);
      let after = before;
      for (let i = 0; i < 40 && after.stats.authFailed === before.stats.authFailed; i++) {
        await delay(50);
        after = await lab.call(d1, 'daemon', {});
      }
      assert.equal(after.stats.authFailed, before.stats.authFailed + 1, 'counted as auth_failed');
      // The master's own sync reaches the new backup meanwhile (its table): the forged connection is what must be missing.
      const forgedConn = (await lab.call(d1, 'connections', {})).filter((c) => c.caddr === '192.168.8.99' && c.cport === 55555);
      assert.deepEqual(forgedConn, [], 'nothing installed');
      assert.match((await lab.uvsadm(d1, ['-L', '--daemon'])).stdout, new RegExp(`auth_failed=${after.stats.authFailed} other_syncid=\\d+ from_master=\\d+ replayed=\\d+ old=\\d+\\)`));
    });

    await t.test('the master\'s uvsd restarted within 200 ms (systemd): keepalived still sees it, exactly one director ends master', async () => {
      await checkPassed(d1); // d1's keepalived back to BACKUP after step 4's restart
      assert.equal((await lab.call(d2, 'status', {})).role, 'master');
      const killedAt = Date.now();
      await lab.kill(d2, 'uvsd');
      await delay(200);
      await lab.startUvsd(d2); // the same command line; starts as backup (role: backup)
      t.diagnostic(`d2's uvsd answers again ${Date.now() - killedAt} ms after the kill`);
      const roles = async () => Promise.all([d1, d2].map(async (d) => (await lab.call(d, 'status', {})).role));
      let r = await roles();
      while (r.filter((x) => x === 'master').length !== 1 && Date.now() - killedAt < 8000) {
        await delay(100);
        r = await roles();
      }
      assert.deepEqual(r, ['master', 'backup'], `roles d1, d2 8 s after the kill (a pgrep-only check leaves both backup)\n${directorLogs(d1)}\n${directorLogs(d2)}`);
      t.diagnostic(`d1 master ${Date.now() - killedAt} ms after d2's uvsd was killed`);
      const chat = await chatResult(lab.chatter([`${VIP_NAT}:${CHAT_PORT}`, `${VIP_DR}:${CHAT_PORT}`], 5, 1000));
      assert.equal(chat.failed, 0, `new connections through d1: ${chat.errors.join('; ')}`);
      await checkPassed(d2);
      assert.deepEqual(await roles(), ['master', 'backup'], 'still one master once d2\'s check passes again (nopreempt)');
    });
  } finally {
    await lab.destroy();
  }
});
