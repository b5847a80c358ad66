// test-class: lab
// TUN (-i) end to end in network namespaces: uvsd wraps the client's packets in IPIP to the real
// servers, where bin/uvs-decap (AF_PACKET in, TUN device holding the VIP out; this kernel has no
// ipip module) hands them to the kernel; servers reply to the client directly from the VIP.
// The link MTU is 1500, so full-size client segments do not fit with the 20-byte outer header:
// uvsd answers them with ICMP "fragmentation needed" and the client's PMTU discovery adapts.
// Beside uvs-decap the server's kernel has no handler for IPIP or GRE: uvs-decap's raw sockets
// for protocols 4 and 47 (taking nothing) keep it from answering them with protocol unreachable,
// which uvsd would count as a server that does not decapsulate (tun_no_decap).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { uvsadmCall, withDrLab } from './lab/itest.js';
import { LAB_GUE_PORT, VIP, nodeArgv, repoRoot, type DrLab } from './lab/dr-lab.js';

const OPTS = { timeout: 120_000 };

/** A namespace's Ip InUnknownProtos (packets no protocol handler nor raw socket took) and Icmp
 *  OutDestUnreachs (the protocol unreachable the kernel answers them with, rate-limited). */
async function unknownProtos(lab: DrLab, ns: string): Promise<{ inUnknownProtos: number; outDestUnreachs: number }> {
  const lines = (await lab.lab.exec(ns, ['cat', '/proc/net/snmp'])).stdout.split('\n');
  const field = (group: string, name: string): number => {
    const [head, vals] = lines.filter((l) => l.startsWith(`${group}: `)).map((l) => l.split(/\s+/));
    const k = head!.indexOf(name);
    assert.ok(k > 0, `${group} ${name} in /proc/net/snmp`);
    return Number(vals![k]);
  };
  return { inUnknownProtos: field('Ip', 'InUnknownProtos'), outDestUnreachs: field('Icmp', 'OutDestUnreachs') };
}

/** After traffic to the servers: none of their kernels met a tunnel packet it had no taker for
 *  (uvs-decap's protocol sinks), none answered protocol unreachable, and uvsd counted none. */
async function assertNoUnreachable(t: TestContext, lab: DrLab, before: { inUnknownProtos: number; outDestUnreachs: number }[]): Promise<void> {
  const after = await Promise.all(lab.servers.map((s) => unknownProtos(lab, s.ns)));
  const noDecap = (await lab.status()).counters['tun_no_decap'];
  t.diagnostic(`tun_no_decap ${noDecap}; ${lab.servers.map((s, i) => `${s.name}: before ${JSON.stringify(before[i])} after ${JSON.stringify(after[i])}`).join('; ')}`);
  for (const [i, s] of lab.servers.entries()) {
    assert.deepEqual(after[i], before[i], `${s.name}: the kernel beside uvs-decap found no taker for the tunnel packets / answered protocol unreachable`);
  }
  assert.equal(noDecap, 0, 'uvsd counted no server that does not decapsulate');
}

test('TUN: rr splits 100 connections 50/50; 5 MB up (PMTU discovery through frag needed) and down arrive byte-identical; UDP, also fragmented; beside uvs-decap the servers\' kernels answer no protocol unreachable (tun_no_decap 0)', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'tun', httpPorts: [80] }, async (lab) => {
    const before = await Promise.all(lab.servers.map((s) => unknownProtos(lab, s.ns)));
    await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:80`, '-i', '-w', '1']);
    assert.match(await lab.uvsadmMust(['-Ln']), /-> 192\.168\.8\.20:80\s+Tunnel\s+1/);
    const r = await lab.http(100);
    t.diagnostic(`counts ${JSON.stringify(r.counts)} errors ${r.errors} ${r.errorSamples.join('; ')}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 50, rs2: 50 });

    await uvsadmCall(lab, ['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-u', `${VIP}:53`, '-r', `${s.addr}:53`, '-i', '-w', '1']);
    const u = await lab.udp(4);
    assert.equal(u.errors, 0, `failed datagrams: ${u.errorSamples.join('; ')}`);
    assert.deepEqual(u.sequence, ['rs1', 'rs2', 'rs1', 'rs2']);
    // 4,000-byte datagrams: IP fragments without DF; the 1500-byte ones do not fit with the outer
    // header, so uvsd cuts them again before wrapping; the server reassembles all pieces.
    const big = await lab.udp(4, { size: 4000 });
    assert.equal(big.errors, 0, `failed fragmented datagrams: ${big.errorSamples.join('; ')}`);
    assert.deepEqual(big.sequence, ['rs1', 'rs2', 'rs1', 'rs2']);
    // (before the TCP upload: its frag-needed lowers the client's path MTU to the VIP to 1480)
    assert.ok((await lab.status()).counters['tun_inner_fragments']! >= 8);

    const up = await lab.transfer(5 * 1024 * 1024, { up: true });
    t.diagnostic(`upload ${JSON.stringify(up)}`);
    assert.equal(up.sha256, up.expected);
    const st = await lab.status();
    t.diagnostic(`icmp_frag_needed_sent ${st.counters['icmp_frag_needed_sent']} mtu_exceeded ${st.drops['mtu_exceeded']}`);
    assert.ok(st.counters['icmp_frag_needed_sent']! >= 1, 'the client was told the path MTU');
    const down = await lab.transfer(5 * 1024 * 1024);
    assert.equal(down.sha256, down.expected);
    await assertNoUnreachable(t, lab, before);
  });
});

test('TUN with the bridge flooding every frame (ageing 0: a hub): each uvs-decap takes only what is sent to its own MAC and address; 20 connections split 10/10, none reset, the flooded frames counted other_host', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'tun', httpPorts: [80] }, async (lab) => {
    await lab.lab.batch(lab.ns.dir, ['link set br0 type bridge ageing_time 0']);
    await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:80`, '-i', '-w', '1']);
    const r = await lab.http(20);
    t.diagnostic(`counts ${JSON.stringify(r.counts)} errors ${r.errors} ${r.errorSamples.join('; ')}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 10, rs2: 10 });
    for (const d of lab.decaps) {
      await d.stop();
      const last = JSON.parse(d.stdout().trim().split('\n').pop()!) as Record<string, number>;
      t.diagnostic(`${d.ns}: ${JSON.stringify(last)}`);
      assert.ok(last['other_host']! > 0 && last['decapsulated']! > 0, `${d.ns}: the other server's frames reached it and were left alone`);
    }
  });
});

test('uvs-decap refuses to start with a one-line error and a non-zero exit, before it says ready or sets anything up: a --gue-port already taken, a VIP that is no unicast host address', OPTS, async (t) => {
  // The server's namespace and its own uvs-decap alone: no uvsd, no servers.js.
  await withDrLab(t, { servers: 1, mode: 'tun', httpPorts: [80], startServers: false, uvsd: false }, async (lab) => {
    // The lab's own uvs-decap holds LAB_GUE_PORT in the server.
    const decap = (args: string[]) => lab.lab.exec(lab.servers[0]!.ns, nodeArgv(join(repoRoot, 'bin', 'uvs-decap'), ['--dev', 'eth0', '--tun', 'uvsdecap1', ...args]), { cwd: repoRoot, timeoutMs: 10_000 });
    const r = await decap(['--vip', VIP, '--gue-port', String(LAB_GUE_PORT)]);
    t.diagnostic(`exit ${r.code}; stdout ${JSON.stringify(r.stdout)}; stderr ${JSON.stringify(r.stderr)}`);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'never ready');
    assert.match(r.stderr, new RegExp(`^uvs-decap: --gue-port ${LAB_GUE_PORT}: .*EADDRINUSE.*\n$`));
    // Independent refusals: side by side.
    const vips = ['0.0.0.0', '224.0.0.1', '255.255.255.255', `${VIP},127.0.0.1`];
    const runs = await Promise.all(vips.map((vip) => decap(['--vip', vip])));
    for (const [i, vip] of vips.entries()) {
      const v = runs[i]!;
      assert.equal(v.code, 2, `--vip ${vip}`);
      assert.equal(v.stdout, '', `--vip ${vip}: never ready`);
      assert.match(v.stderr, /^uvs-decap: invalid VIP "[^"]+": [^\n]+\n$/, `--vip ${vip}: one line`);
    }
    const links = await lab.lab.exec(lab.servers[0]!.ns, ['ip', '-o', 'link', 'show']);
    assert.doesNotMatch(links.stdout, /uvsdecap1/, 'no TUN device created');
  });
});

test('TUN to real servers on a routed network: IPIP goes through --gateway, 20 connections split 10/10, 1 MB arrives intact', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'tun', httpPorts: [80], offLink: true }, async (lab) => {
    await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:80`, '-i', '-w', '1']);
    assert.match(await lab.uvsadmMust(['-Ln']), /-> 10\.9\.0\.20:80\s+Tunnel/);
    const r = await lab.http(20);
    t.diagnostic(`counts ${JSON.stringify(r.counts)} errors ${r.errors} ${r.errorSamples.join('; ')}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 10, rs2: 10 });
    const down = await lab.transfer(1024 * 1024);
    assert.equal(down.sha256, down.expected);
  });
});

test('TUN over GUE and GRE (ipvsadm --tun-type): rs1 by GUE with UDP checksums, rs2 by GRE; 20 connections split 10/10, 1 MB down and up intact (PMTU through their larger headers), -Ln --tun-info and -S show them; beside uvs-decap the servers\' kernels answer no protocol unreachable (tun_no_decap 0)', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'tun', httpPorts: [80] }, async (lab) => {
    const [rs1, rs2] = lab.servers.map((s) => s.addr);
    const before = await Promise.all(lab.servers.map((s) => unknownProtos(lab, s.ns)));
    await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${rs1}:80`, '-i', '--tun-type', 'gue', '--tun-port', String(LAB_GUE_PORT), '--tun-csum']);
    await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${rs2}:80`, '-i', '--tun-type', 'gre']);
    const info = await lab.uvsadmMust(['-Ln', '--tun-info']);
    assert.match(info, new RegExp(`-> ${rs1!.replace(/\./g, '\\.')}:80 +Tunnel +gue:${LAB_GUE_PORT}:\\+c +1 `));
    assert.match(info, new RegExp(`-> ${rs2!.replace(/\./g, '\\.')}:80 +Tunnel +gre:-c +1 `));
    assert.match(await lab.uvsadmMust(['-S', '-n']), new RegExp(`-r ${rs1!.replace(/\./g, '\\.')}:80 -i -w 1 --tun-type gue --tun-port ${LAB_GUE_PORT} --tun-csum\n`));
    const r = await lab.http(20);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 10, rs2: 10 });
    // rr: two downloads then two uploads reach each server both ways (uploads carry full-size segments).
    const seen: string[] = [];
    for (const up of [false, false, true, true]) {
      const x = await lab.transfer(1024 * 1024, { up });
      assert.equal(x.sha256, x.expected, `${up ? 'upload to' : 'download from'} ${x.server}`);
      seen.push(`${up ? 'up' : 'down'} ${x.server}`);
    }
    assert.deepEqual(seen.sort(), ['down rs1', 'down rs2', 'up rs1', 'up rs2']);
    const st = await lab.status();
    t.diagnostic(`icmp_frag_needed_sent ${st.counters['icmp_frag_needed_sent']}; decap: ${lab.decaps.map((d) => d.stdout().trim().split('\n').pop()).join(' | ')}`);
    assert.ok(st.counters['icmp_frag_needed_sent']! >= 1, 'full-size segments did not fit with the tunnel headers: the client was told');
    await assertNoUnreachable(t, lab, before);
  });
});

test('TUN past a router with a 1280-byte link to the server (IPIP, GUE, GRE): 3000- and 8000-byte datagrams the router fragments are reassembled by uvs-decap; the router\'s fragmentation needed reaches the client from the VIP; 1400-byte UDP datagrams with DF and a 1 MB upload get through', OPTS, async (t) => {
  const vips = ['192.168.8.200', '192.168.8.201', '192.168.8.202'];
  await withDrLab(t, { servers: 1, mode: 'tun', httpPorts: [80], offLink: true, vips }, async (lab) => {
    // The router's second leg and the server on a bridge of their own (on br0 uvsd would learn
    // the router's eth1 MAC for 192.168.8.1 through ARP flux), that link at 1280 bytes.
    const l = lab.lab;
    await l.addBridge(lab.ns.dir, 'br1');
    await l.batch(lab.ns.dir, ['link set vgw1 master br1', 'link set vrs1 master br1', 'link set vgw1 mtu 1280', 'link set vrs1 mtu 1280']);
    await l.batch(l.nsName('gw'), ['link set eth1 mtu 1280']);
    await l.batch(lab.servers[0]!.ns, ['link set eth0 mtu 1280']);
    const rs = `${lab.servers[0]!.addr}`;
    const tunnels = [['--tun-type', 'ipip'], ['--tun-type', 'gue', '--tun-port', String(LAB_GUE_PORT)], ['--tun-type', 'gre']];
    for (const [i, vip] of vips.entries()) {
      for (const [flag, port] of [['-t', 80], ['-u', 53]] as const) {
        await uvsadmCall(lab, ['-A', flag, `${vip}:${port}`, '-s', 'rr']);
        await uvsadmCall(lab, ['-a', flag, `${vip}:${port}`, '-r', `${rs}:${port}`, '-i', ...tunnels[i]!]);
      }
    }
    for (const [i, vip] of vips.entries()) {
      const what = tunnels[i]!.join(' ');
      // Datagrams without DF over 1280 bytes, sent while the client still thinks 1500 fits: the
      // router fragments the wrapped packets, uvs-decap reassembles them (decap-reasm.ts). First
      // a small one: the neighbours on the way are resolved by then (a queue of unresolved
      // neighbour holds a few frames, fewer than a fragmented datagram wrapped makes).
      assert.equal((await lab.udp(1, { target: `${vip}:53` })).errors, 0, `${what}: a small datagram`);
      for (const size of [3000, 8000]) {
        const big = await lab.udp(3, { target: `${vip}:53`, size });
        assert.equal(big.errors, 0, `${what}: ${size}-byte datagrams fragmented after the director: ${big.errorSamples.join('; ')}`);
      }
      const relayed = async (): Promise<number> => (await lab.status()).counters['icmp_tunnel_relayed']!;
      const before = await relayed();
      // The first datagram too big for the 1280 link dies there; the router's error teaches the
      // client. No reply comes: the client waits 300 ms for it, not its default 2 s, and the relay
      // is looked for during 2 s more (the client's own 2 s wait was its time before).
      const first = await lab.udp(1, { target: `${vip}:53`, size: 1400, timeoutMs: 300 });
      t.diagnostic(`${what}: first 1400-byte datagram: ${first.errors} errors`);
      const waited = Date.now();
      let now = await relayed();
      while (now <= before && Date.now() - waited < 2000) now = (await delay(50), await relayed());
      assert.ok(now > before, `${what}: the router's error was relayed`);
      const u = await lab.udp(3, { target: `${vip}:53`, size: 1400 });
      assert.equal(u.errors, 0, `${what}: 1400-byte datagrams after the error: ${u.errorSamples.join('; ')}`);
      const up = await lab.transfer(1_000_000, { up: true, target: `${vip}:80` });
      assert.equal(up.sha256, up.expected, `${what}: 1 MB upload`);
    }
    const st = await lab.status();
    t.diagnostic(`icmp_tunnel_relayed ${st.counters['icmp_tunnel_relayed']} icmp_unhandled ${st.drops['icmp_unhandled']}`);
  });
});
