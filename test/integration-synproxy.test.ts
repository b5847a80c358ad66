// The SYN proxy end to end in network namespaces, for a NAT and a FULLNAT service
// (uvsadm -A ... --synproxy): real connections complete through uvsd's cookie handshake and the
// server-side handshake uvsd opens afterwards, with sequence translation for the rest of the
// connection: 100 short HTTP requests, 5 MB down and 2 MB up byte-identical (sha256). Then a
// spoofed SYN flood (50,000 frames from random 10/8 sources, test/lab/flood.ts) while the real
// client makes 100 more requests: all succeed, the flood is answered with cookies, no connection
// entry is made for it and no SYN of it reaches a real server — counted at the servers by an
// nftables counter of SYNs in each server's namespace (nftables: .ci/run installs it). Last, a real
// client and server negotiate window scaling, SACK and timestamps through the proxy (ss -tie in
// both namespaces), with a 20 ms netem delay where sch_netem exists.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { withDrLab } from './lab/itest.js';
import { LIP, UVSD_MAC, VIP, labDir, type DrLab } from './lab/dr-lab.js';
import { delay } from './lab/netns.js';

const OPTS = { timeout: 90_000 };
const FLOOD = 50_000;

/** An nftables counter of TCP SYNs (without ACK) arriving in every real server: all of them, and those from outside the lab's client network. */
async function countSyns(lab: DrLab): Promise<void> {
  for (const ns of lab.ns.rs) {
    await lab.lab.must(['nft', 'add table inet sp'], ns);
    await lab.lab.must(['nft', 'add chain inet sp in { type filter hook input priority 0 ; }'], ns);
    await lab.lab.must(['nft', 'add rule inet sp in tcp flags & (syn | ack) == syn counter'], ns);
    await lab.lab.must(['nft', 'add rule inet sp in ip saddr != 192.168.8.0/24 tcp flags & (syn | ack) == syn counter'], ns);
  }
}

/** [all SYNs, SYNs from outside 192.168.8.0/24] summed over the real servers. */
async function syns(lab: DrLab): Promise<[number, number]> {
  let all = 0;
  let foreign = 0;
  for (const ns of lab.ns.rs) {
    const text = await lab.lab.must(['nft', 'list chain inet sp in'], ns);
    const n = [...text.matchAll(/packets (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(n.length, 2, `nft counters in ${ns}: ${text}`);
    all += n[0]!;
    foreign += n[1]!;
  }
  return [all, foreign];
}

async function synproxyService(lab: DrLab, mode: 'nat' | 'fullnat'): Promise<void> {
  await lab.uvsadmMust(['-A', '-t', `${VIP}:80`, '-s', 'rr', '--synproxy']);
  for (const s of lab.servers) await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:80`, mode === 'nat' ? '-m' : '--fullnat']);
  if (mode === 'fullnat') await lab.uvsadmMust(['--add-laddr', '-t', `${VIP}:80`, '-z', LIP]);
}

for (const mode of ['nat', 'fullnat'] as const) {
  test(`SYN proxy, ${mode.toUpperCase()}: HTTP and 5 MB down / 2 MB up byte-identical; a 50,000-SYN spoofed flood gets cookies, no entries, no SYN at a server, while 100 requests succeed`, OPTS, async (t) => {
    await withDrLab(t, { servers: 2, clients: 2, mode, httpPorts: [80] }, async (lab) => {
      await synproxyService(lab, mode);
      assert.match(await lab.uvsadmMust(['-Ln']), new RegExp(`^TCP  ${VIP.replace(/\./g, '\\.')}:80 rr synproxy$`, 'm'));
      assert.match(await lab.uvsadmMust(['-Sn']), /--synproxy$/m);
      await countSyns(lab);
      const s0 = await lab.status();

      const http = await lab.http(100);
      t.diagnostic(`HTTP: ${JSON.stringify(http.counts)} errors ${http.errors} slowest ${http.maxMs} ms ${http.errorSamples.slice(0, 3).join('; ')}`);
      assert.equal(http.errors, 0, `failed requests: ${http.errorSamples.join('; ')}`);
      assert.deepEqual(http.counts, { rs1: 50, rs2: 50 });
      const down = await lab.transfer(5 * 1024 * 1024);
      assert.equal(down.sha256, down.expected, `download: ${JSON.stringify(down)}`);
      const up = await lab.transfer(2 * 1024 * 1024, { up: true });
      assert.equal(up.sha256, up.expected, `upload: ${JSON.stringify(up)}`);
      const s1 = await lab.status();
      const d1 = (k: string) => (s1.counters[k] ?? 0) - (s0.counters[k] ?? 0);
      t.diagnostic(`before the flood: cookies ${d1('synproxy_syn_cookies_sent')}, valid ${d1('synproxy_ack_valid')}, ` +
        `server SYNs ${d1('synproxy_server_syn')}, established ${d1('synproxy_established')}, created ${d1('conns_created')}`);
      // 102 connections; a SYN or ACK the kernel retransmitted would only add to the first two.
      assert.ok(d1('synproxy_established') === 102 && d1('conns_created') === 102, 'one entry and one server handshake per connection');
      assert.ok(d1('synproxy_syn_cookies_sent') >= 102);
      const [syn1, foreign1] = await syns(lab);
      assert.equal(syn1, d1('synproxy_server_syn'), 'the servers saw exactly the SYNs uvsd sent them');

      // The flood, with the real client's requests during it.
      const f = lab.lab.spawn(lab.ns.clients[1]!, [process.execPath, join(labDir, 'flood.js'), '--if', 'eth0', '--dst-mac', UVSD_MAC,
        '--vip', VIP, '--count', String(FLOOD), '--pps', '25000', '--seed', '11']);
      let maxConns = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          maxConns = Math.max(maxConns, (await lab.status()).conns);
          await delay(100);
        }
      })();
      let during;
      try {
        during = await lab.http(100);
        assert.equal(await f.exited, 0, `flood.js failed: ${f.stderr()}`);
        t.diagnostic(`flood: ${f.stdout().trim()}`);
      } finally {
        sampling = false;
        await sampler;
        await f.stop(1000);
      }
      t.diagnostic(`HTTP during the flood: ${JSON.stringify(during.counts)} errors ${during.errors} slowest ${during.maxMs} ms`);
      assert.equal(during.errors, 0, `failed requests during the flood: ${during.errorSamples.join('; ')}`);
      const s2 = await lab.status();
      const d2 = (k: string) => (s2.counters[k] ?? 0) - (s1.counters[k] ?? 0);
      const [syn2, foreign2] = await syns(lab);
      t.diagnostic(`flood: rx ${d2('rx_frames')}, cookies ${d2('synproxy_syn_cookies_sent')}, valid ACKs ${d2('synproxy_ack_valid')}, ` +
        `invalid ${d2('synproxy_ack_invalid')}, created ${d2('conns_created')}, server SYNs ${d2('synproxy_server_syn')} (counted at the servers ${syn2 - syn1}), ` +
        `max table ${maxConns}`);
      // On a loaded machine part of the flood is lost before uvsd (the bridge, the TAP queue):
      // what reached uvsd was answered; the real client's ~10 frames per request aside.
      assert.ok(d2('rx_frames') >= 10_000, `the flood did not reach uvsd: ${d2('rx_frames')} frames`);
      assert.ok(d2('synproxy_syn_cookies_sent') >= d2('rx_frames') - 3000, `the flood was answered with cookies: ${d2('synproxy_syn_cookies_sent')} of ${d2('rx_frames')} frames`);
      assert.equal(d2('conns_created'), 100, 'entries only for the real client');
      assert.equal(d2('synproxy_server_syn'), 100);
      assert.equal(syn2 - syn1, 100, 'the servers saw a SYN per real request and none of the flood');
      assert.equal(foreign2 - foreign1, 0, 'no SYN from a spoofed source at any server');
      assert.ok(maxConns <= 100 + 102, `table ${maxConns}`);
    });
  });
}

// The three below flood nothing and their bounds are seconds wide (the reset's 2.5-6 s, a 2 s
// request timeout): two labs at a time, the syn-retries one (mostly a 3 s wait) beside the others.
describe('SYN proxy through one port, its SYN retries, TCP options: two labs at a time', { concurrency: 2 }, () => {
  test('SYN proxy, FULLNAT through one local port: 30 connections in a row all succeed although most meet the server\'s TIME_WAIT of the one before (reset and SYN again)', OPTS, async (t) => {
    await withDrLab(t, { servers: 1, clients: 1, mode: 'fullnat', httpPorts: [80] }, async (lab) => {
      await lab.uvsadmMust(['-A', '-t', `${VIP}:80`, '-s', 'rr', '--synproxy']);
      await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${lab.servers[0]!.addr}:80`, '--fullnat']);
      await lab.call('addLaddr', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: LIP, portMin: 5000, portMax: 5000 });
      const s0 = await lab.status();
      // The server closes first (Connection: close): the next SYN on the tuple finds the old socket
      // still closing, or its TIME_WAIT, which takes it only with a higher ISN (or, with timestamps,
      // a higher TSval than the last it saw): the others get an ACK of the old connection.
      const r = await lab.http(30, { timeoutMs: 2000 });
      const s1 = await lab.status();
      const d = (k: string) => (s1.counters[k] ?? 0) - (s0.counters[k] ?? 0);
      t.diagnostic(`errors ${r.errors} slowest ${r.maxMs} ms; stale ACKs answered ${d('synproxy_server_stale_ack')}, server SYNs ${d('synproxy_server_syn')}, established ${d('synproxy_established')}`);
      assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
      assert.deepEqual(r.counts, { rs1: 30 });
      assert.ok(d('synproxy_server_stale_ack') >= 1, 'the TIME_WAIT was met');
    });
  });

  test('SYN proxy, NAT, --synproxy-syn-retries 1: a server that drops every SYN: the client\'s request fails with ECONNRESET about 3 s after connect() succeeded (15 s with the default 3), not after minutes', OPTS, async (t) => {
    // One retry (SYN again at 1 s, reset at 3 s) rather than the default's 15 s: the same path, a fifth of the wait
    // (the default's schedule: unit-synproxy.test.ts "...: a server that never answers gets the SYN again 1, 3 and 7 s after the first ...").
    await withDrLab(t, { servers: 1, clients: 1, mode: 'nat', httpPorts: [80], uvsd: { extraArgs: ['--synproxy-syn-retries', '1'] } }, async (lab) => {
      await synproxyService(lab, 'nat');
      assert.match(await lab.uvsadmMust(['--status']), /^synproxy_syn_retries 1$/m);
      const ns = lab.ns.rs[0]!;
      await countSyns(lab);
      await lab.lab.must(['nft', 'add rule inet sp in tcp flags & (syn | ack) == syn drop'], ns);
      const s0 = await lab.status();
      const started = Date.now();
      const r = await lab.http(1, { timeoutMs: 40_000 });
      const ms = Date.now() - started;
      const s1 = await lab.status();
      const d = (k: string) => (s1.counters[k] ?? 0) - (s0.counters[k] ?? 0);
      const [syn] = await syns(lab);
      t.diagnostic(`${ms} ms: ${r.errorSamples.join('; ')}; server SYNs ${d('synproxy_server_syn')} (at the server ${syn}), given up ${d('synproxy_server_timeout')}, resets ${d('tcp_rst_sent')}`);
      assert.equal(r.errors, 1);
      assert.match(r.errorSamples[0]!, /ECONNRESET/);
      // The reset 3 s after the first SYN (the timer's 10 ms ticks; the client's connect() a few ms before it), not 1 s (no retry) nor 7 s (two).
      assert.ok(ms >= 2_500 && ms < 6_000, `failed after ${ms} ms`);
      assert.equal(d('synproxy_server_timeout'), 1);
      assert.ok(syn >= 2, `the server saw ${syn} SYNs`); // 2 from the timer, more when the client retransmits
    });
  });

  test('SYN proxy, NAT: a real client and server negotiate window scaling, SACK and timestamps through it (ss -tie on both ends); the server scales by 7, not the 10 the client is told, and a 20 MB upload sees its window above 64 KiB', OPTS, async (t) => {
    await withDrLab(t, { servers: 1, clients: 1, mode: 'nat', httpPorts: [80] }, async (lab) => {
      await synproxyService(lab, 'nat');
      const cli = lab.ns.clients[0]!;
      const rs = lab.ns.rs[0]!;
      // Linux's tcp_rmem before its 32 MiB: window scale 7, so uvsd rescales every server window.
      await lab.lab.must(['sysctl', '-q', '-w', 'net.ipv4.tcp_rmem=4096 131072 6291456'], rs);
      // 20 ms more per round trip where sch_netem exists (a window is what fills a long path).
      const netem = await lab.lab.exec(cli, ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', '20ms']);
      t.diagnostic(netem.code === 0 ? 'netem: 20 ms delay on the client\'s link' : `no sch_netem here (${netem.stderr.trim()}): no delay added`);
      const s0 = await lab.status();
      let client = { wnd: 0, line: '' };
      let server = '';
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          // One connection each: its state line and its info line, read as one.
          const c = (await lab.lab.must(['ss', '-tinHe', 'dst', `${VIP}:80`], cli)).replace(/\s+/g, ' ').trim();
          const wnd = Number(/snd_wnd:(\d+)/.exec(c)?.[1] ?? 0);
          if (wnd > client.wnd) client = { wnd, line: c };
          const s = (await lab.lab.must(['ss', '-tinHe', 'sport', '=', ':80'], rs)).replace(/\s+/g, ' ').trim();
          if (/wscale/.test(s)) server = s;
          await delay(50);
        }
      })();
      const started = Date.now();
      let up;
      try {
        up = await lab.transfer(20 * 1024 * 1024, { up: true, maxMs: 60_000 });
      } finally {
        sampling = false;
        await sampler;
      }
      const ms = Date.now() - started;
      const s1 = await lab.status();
      const d = (k: string) => (s1.counters[k] ?? 0) - (s0.counters[k] ?? 0);
      t.diagnostic(`20 MB up in ${ms} ms; client: ${client.line}`);
      t.diagnostic(`server: ${server}`);
      assert.equal(up.sha256, up.expected, `upload: ${JSON.stringify(up)}`);
      assert.match(client.line, /\bts sack\b/, 'the client has timestamps and SACK');
      assert.match(client.line, /\bwscale:10,\d+/, 'the client was told window scale 10');
      assert.match(server, /\bts sack\b/, 'the server has timestamps and SACK');
      assert.match(server, /\bwscale:\d+,7\b/, 'the server scales its own windows by 7');
      assert.ok(client.wnd > 65535, `the client's send window (the server's, rescaled): ${client.wnd}`);
      assert.equal(d('synproxy_established'), 1);
      assert.equal(d('synproxy_server_no_ts'), 0);
    });
  });
});
