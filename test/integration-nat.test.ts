// test-class: lab
// NAT (-m) end to end in network namespaces: the real servers sit on 10.8.1.0/24 with their
// default route via uvsd's second address (10.8.1.1); the client on 192.168.8.0/24 talks to the
// VIP. Requests are DNATed (with port mapping 80 → 8080), replies come back through uvsd and get
// the VIP as source. Each test builds its own lab and tears it down in finally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { uvsadmCall, withDrLab } from './lab/itest.js';
import { VIP, type DrLab } from './lab/dr-lab.js';

const OPTS = { timeout: 120_000 };

async function natService(lab: DrLab, sched: string, rport: number): Promise<void> {
  await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', sched]);
  for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:${rport}`, '-m', '-w', '1']);
}

test('NAT: 100 connections split 50/50 by rr through port mapping 80 → 8080; UDP request/reply from the VIP, also for fragmented datagrams', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'nat', httpPorts: [8080] }, async (lab) => {
    await natService(lab, 'rr', 8080);
    const ln = await lab.uvsadmMust(['-Ln']);
    assert.match(ln, /-> 10\.8\.1\.20:8080\s+Masq\s+1/);
    const r = await lab.http(100);
    t.diagnostic(`counts ${JSON.stringify(r.counts)} errors ${r.errors} ${r.errorSamples.join('; ')}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 50, rs2: 50 });

    await uvsadmCall(lab, ['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-u', `${VIP}:53`, '-r', `${s.addr}:53`, '-m', '-w', '1']);
    // client.js counts a reply whose source is not VIP:53 as an error: the SNAT is checked too.
    const u = await lab.udp(6);
    assert.equal(u.errors, 0, `failed datagrams: ${u.errorSamples.join('; ')}`);
    assert.deepEqual(u.sequence, ['rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2']);
    // 4,000-byte datagrams leave the client as three IP fragments each: the first is scheduled
    // and rewritten, the others follow it (golden nat-fragments shows the bytes).
    const big = await lab.udp(4, { size: 4000 });
    assert.equal(big.errors, 0, `failed fragmented datagrams: ${big.errorSamples.join('; ')}`);
    assert.deepEqual(big.sequence, ['rs1', 'rs2', 'rs1', 'rs2']);
    const st = await lab.status();
    assert.ok(st.counters['fwd_out_packets']! >= 100 * 3, `replies went through uvsd: ${st.counters['fwd_out_packets']}`);
  });
});

test('NAT: 5 MB download and upload arrive byte-identical (sha256); the connection is ESTABLISHED while open and closing states after', OPTS, async (t) => {
  await withDrLab(t, { servers: 1, mode: 'nat', httpPorts: [80] }, async (lab) => {
    await natService(lab, 'wlc', 80);
    const down = await lab.transfer(5 * 1024 * 1024);
    t.diagnostic(`download ${JSON.stringify(down)}`);
    assert.equal(down.bytes, 5 * 1024 * 1024);
    assert.equal(down.sha256, down.expected);
    const up = await lab.transfer(5 * 1024 * 1024, { up: true });
    t.diagnostic(`upload ${JSON.stringify(up)}`);
    assert.equal(up.bytes, 5 * 1024 * 1024);
    assert.equal(up.sha256, up.expected);

    const held = await lab.hold();
    try {
      assert.equal(held.first.server, 'rs1', JSON.stringify(held.first));
      const open = (await lab.connections()).filter((c) => c.cport === held.first.localPort);
      assert.equal(open.length, 1, JSON.stringify(open));
      assert.equal(open[0]!.state, 'ESTABLISHED');
      assert.equal(open[0]!.fwd, 'nat');
      assert.match(await lab.uvsadmMust(['-Ln']), /Masq\s+1\s+1\s+/, 'ActiveConn 1 while the connection is open');
    } finally {
      await held.close();
    }
    let state = '';
    for (let i = 0; i < 30 && !/FIN_WAIT|TIME_WAIT|CLOSE|LAST_ACK/.test(state); i++) {
      const c = (await lab.connections()).find((x) => x.cport === held.first.localPort);
      state = c?.state ?? 'gone';
      if (!/FIN_WAIT|TIME_WAIT|CLOSE|LAST_ACK/.test(state)) await new Promise((r) => setTimeout(r, 100));
    }
    t.diagnostic(`after close: ${state}`);
    assert.match(state, /FIN_WAIT|TIME_WAIT|CLOSE_WAIT|LAST_ACK|CLOSE/);
    assert.match(await lab.uvsadmMust(['-Ln']), /Masq\s+1\s+0\s+/, 'ActiveConn back to 0 after close');
  });
});

// conn_reuse_mode (uvsd --conn-reuse-mode, default 1): a client that opens a new connection from
// the source port of one uvsd still holds in TIME_WAIT gets a newly scheduled server, not the old
// entry's, here quiesced (weight 0) in between. With --conn-reuse-mode 0 it follows the old entry
// (to a server with weight: one at weight 0 is left whatever the mode, as kernels since 5.16).
test('NAT: a client reusing its source port is scheduled again (conn_reuse_mode): not sent to the quiesced server its TIME_WAIT entry names; with --conn-reuse-mode 0 it follows its TIME_WAIT entry', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'nat', httpPorts: [80] }, async (lab) => {
    await natService(lab, 'rr', 80);
    const first = await lab.http(1, { sport: 40000 });
    assert.equal(first.errors, 0, first.errorSamples.join('; '));
    const was = first.sequence[0]!;
    // The client's last segments reach uvsd a moment after the client has its answer.
    let entry = (await lab.connections()).find((c) => c.cport === 40000);
    for (let i = 0; i < 100 && entry?.state !== 'TIME_WAIT'; i++) {
      await delay(20);
      entry = (await lab.connections()).find((c) => c.cport === 40000);
    }
    assert.equal(entry?.state, 'TIME_WAIT', `the finished connection's entry: ${JSON.stringify(entry)}`);
    const quiesced = lab.servers.find((s) => s.name === was)!;
    await uvsadmCall(lab, ['-e', '-t', `${VIP}:80`, '-r', `${quiesced.addr}:80`, '-m', '-w', '0']);
    const again = await lab.http(1, { sport: 40000 });
    assert.equal(again.errors, 0, again.errorSamples.join('; '));
    t.diagnostic(`first ${was}, again ${again.sequence[0]}`);
    assert.notEqual(again.sequence[0], was, 'the reused port went to the server in service');
    assert.equal((await lab.status()).counters['conns_reused'], 1);

    // The kernel's conn_reuse_mode 0: the SYN follows the TIME_WAIT entry to its server (rr
    // would have taken the other one).
    await lab.stopUvsd();
    await lab.startUvsd(['--conn-reuse-mode', '0']);
    await natService(lab, 'rr', 80);
    const old = await lab.http(1, { sport: 40001 });
    const follows = await lab.http(1, { sport: 40001 });
    assert.equal(follows.errors, 0, follows.errorSamples.join('; '));
    assert.equal(follows.sequence[0], old.sequence[0], 'mode 0: the old entry\'s server');
    assert.equal((await lab.status()).counters['conns_reused'], 0);
  });
});
