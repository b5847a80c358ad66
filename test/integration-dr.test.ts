// DR forwarding end to end in network namespaces: real TCP/UDP traffic from a client namespace,
// through uvsd on a TAP in the director namespace, to real servers that answer directly.
// Each test builds its own lab (test/lab/dr-lab.ts) and tears it down in finally.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { uvsadmCall, withDrLab } from './lab/itest.js';
import { VIP, type DrLab, type HoldConn } from './lab/dr-lab.js';

const OPTS = { timeout: 180_000 };

async function tcpService(lab: DrLab, sched: string, weights: number[]): Promise<void> {
  await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', sched]);
  for (let i = 0; i < weights.length; i++) {
    await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${lab.servers[i]!.addr}:80`, '-g', '-w', String(weights[i])]);
  }
}

/** rr over both servers and one keep-alive connection through it (its first request answered), closed after fn. */
async function withKeepAlive(t: TestContext, fn: (lab: DrLab, held: HoldConn) => Promise<void>): Promise<void> {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await tcpService(lab, 'rr', [1, 1]);
    const held = await lab.hold();
    try {
      assert.ok(held.first.server, `keep-alive connection got no answer: ${held.first.error}`);
      await fn(lab, held);
    } finally {
      await held.close();
    }
  });
}

test('rr: 100 new TCP connections over DR split exactly 50/50', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await tcpService(lab, 'rr', [1, 1]);
    const r = await lab.http(100);
    t.diagnostic(`counts ${JSON.stringify(r.counts)} errors ${r.errors} ${r.errorSamples.join('; ')}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 50, rs2: 50 });
  });
});

test('wrr 3:1: 100 new TCP connections split exactly 75/25', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await tcpService(lab, 'wrr', [3, 1]);
    const r = await lab.http(100);
    t.diagnostic(`counts ${JSON.stringify(r.counts)} errors ${r.errors}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { rs1: 75, rs2: 25 });
  });
});

test('UDP rr service answers from the VIP and alternates rs1, rs2, rs1, ...', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await uvsadmCall(lab, ['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-u', `${VIP}:53`, '-r', `${s.addr}:53`, '-g', '-w', '1']);
    const r = await lab.udp(10);
    t.diagnostic(`sequence ${r.sequence.join(' ')}`);
    assert.equal(r.errors, 0, `failed datagrams: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.sequence, ['rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2']);
  });
});

test('weight 0 drains: no new connections, the open keep-alive connection keeps its server', OPTS, async (t) => {
  await withKeepAlive(t, async (lab, held) => {
    const drained = lab.servers.find((s) => s.name === held.first.server)!;
    const other = lab.servers.find((s) => s !== drained)!;
    t.diagnostic(`keep-alive connection (port ${held.first.localPort}) reached ${drained.name}; setting its weight to 0`);
    await uvsadmCall(lab, ['-e', '-t', `${VIP}:80`, '-r', `${drained.addr}:80`, '-g', '-w', '0']);
    const r = await lab.http(20);
    t.diagnostic(`new connections: ${JSON.stringify(r.counts)} errors ${r.errors}`);
    assert.equal(r.errors, 0, `failed requests: ${r.errorSamples.join('; ')}`);
    assert.deepEqual(r.counts, { [other.name]: 20 });
    const again = await held.again();
    assert.equal(again.server, drained.name, `request on the open keep-alive connection: ${JSON.stringify(again)}`);
  });
});

test('deleting a real server sends all following new connections to the remaining one', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await tcpService(lab, 'rr', [1, 1]);
    const before = await lab.http(10);
    assert.equal(before.errors, 0, `failed requests: ${before.errorSamples.join('; ')}`);
    assert.deepEqual(before.counts, { rs1: 5, rs2: 5 });
    await uvsadmCall(lab, ['-d', '-t', `${VIP}:80`, '-r', `${lab.servers[0]!.addr}:80`]);
    const after = await lab.http(20);
    t.diagnostic(`after deleting rs1: ${JSON.stringify(after.counts)} errors ${after.errors}`);
    assert.equal(after.errors, 0, `failed requests: ${after.errorSamples.join('; ')}`);
    assert.deepEqual(after.counts, { rs2: 20 });
  });
});

test('no real server available (all weight 0): a TCP client is refused at once (ICMP port unreachable), not left to time out', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await tcpService(lab, 'wlc', [0, 0]);
    const t0 = Date.now();
    const r = await lab.http(5, { timeoutMs: 10_000 });
    const ms = Date.now() - t0;
    const st = await lab.status();
    t.diagnostic(`${ms} ms for 5 attempts; errors ${r.errors}: ${r.errorSamples.join('; ')}; icmp_unreach_sent ${st.counters['icmp_unreach_sent']} drop_no_dest ${st.drops['no_dest']}`);
    assert.equal(r.errors, 5);
    assert.ok(r.errorSamples.length > 0 && r.errorSamples.every((e) => /ECONNREFUSED/.test(e)), `errors: ${r.errorSamples.join('; ')}`);
    assert.ok(ms < 10_000, `5 refused connections took ${ms} ms (one timeout alone is 10 s)`);
    assert.ok(st.counters['icmp_unreach_sent']! >= 5, 'each SYN was answered');
    assert.ok(st.drops['no_dest']! >= 5, 'and each SYN is still a no_dest drop');
  });
});

// A UDP probe as traceroute sends it, from the client namespace: one datagram to VIP:53 with the
// given TTL on a connected socket with IP_RECVERR; prints the answer, or the ICMP error the socket
// got (type, code, offender) as JSON. Node's dgram has no IP_RECVERR, so python3 (node-gyp's).
const TTL_PROBE = `
import json, select, socket, struct, sys
vip, ttl = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_IP, socket.IP_TTL, ttl)
IP_RECVERR = 11  # linux/in.h; not in Python's socket module
s.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
s.connect((vip, 53))
s.send(b'probe')
r, _, x = select.select([s], [], [s], 3)
out = {'ttl': ttl}
try:
    out['answer'] = s.recv(200).decode(errors='replace')
except OSError as e:
    out['errno'] = e.errno
    data, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
    for level, kind, d in anc:
        if level == socket.SOL_IP and kind == IP_RECVERR:
            out['icmpType'], out['icmpCode'] = d[5], d[6]
            out['offender'] = socket.inet_ntoa(d[20:24])
print(json.dumps(out))
`;

test('TTL: a UDP probe with TTL 1 gets ICMP time exceeded from the VIP (uvsd is one hop); with TTL 2 the server answers', OPTS, async (t) => {
  await withDrLab(t, { servers: 1 }, async (lab) => {
    await uvsadmCall(lab, ['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    await uvsadmCall(lab, ['-a', '-u', `${VIP}:53`, '-r', `${lab.servers[0]!.addr}:53`, '-g']);
    const probe = async (ttl: number): Promise<Record<string, unknown>> => {
      const r = await lab.lab.exec(lab.ns.cli, ['python3', '-c', TTL_PROBE, VIP, String(ttl)], { timeoutMs: 10_000 });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const one = await probe(1);
    const two = await probe(2);
    const st = await lab.status();
    t.diagnostic(`TTL 1: ${JSON.stringify(one)}; TTL 2: ${JSON.stringify(two)}; drop ttl_exceeded ${st.drops['ttl_exceeded']}, time exceeded sent ${st.counters['icmp_time_exceeded_sent']}`);
    assert.deepEqual({ type: one['icmpType'], code: one['icmpCode'], offender: one['offender'] }, { type: 11, code: 0, offender: VIP });
    assert.equal(st.drops['ttl_exceeded'], 1);
    assert.equal(st.counters['icmp_time_exceeded_sent'], 1);
    assert.match(String(two['answer']), /rs1/, 'a datagram with TTL 2 reaches the server (TTL 1 there) and is answered');
  });
});

test('uvsadm -C, then the service and its servers added again (ipvsadm -C; -R): an idle keep-alive connection goes on to its server (the kernel\'s dest trash); after -C and the service added without its server, its next request gets a reset at once', OPTS, async (t) => {
  await withKeepAlive(t, async (lab, held) => {
    await uvsadmCall(lab, ['-C']);
    await tcpService(lab, 'rr', [1, 1]);
    const back = await held.again();
    assert.equal(back.server, held.first.server, `the connection goes on to its server: ${JSON.stringify(back)}`);
    // Its server not added back: the entry is gone at its next packet, and the client told.
    const mine = lab.servers.findIndex((s) => s.name === held.first.server);
    assert.ok(mine >= 0, `held by ${held.first.server}`);
    await uvsadmCall(lab, ['-C']);
    await uvsadmCall(lab, ['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    await uvsadmCall(lab, ['-a', '-t', `${VIP}:80`, '-r', `${lab.servers[1 - mine]!.addr}:80`, '-g']);
    const t0 = Date.now();
    const next = await held.again();
    const ms = Date.now() - t0;
    const st = await lab.status();
    t.diagnostic(`next request: ${JSON.stringify(next)} after ${ms} ms; tcp_rst_sent ${st.counters['tcp_rst_sent']}, drop no_conn ${st.drops['no_conn']}`);
    assert.match(String(next.error), /ECONNRESET/, 'the client learns its connection is gone');
    assert.ok(ms < 1000, `${ms} ms (without the reset the client retransmits for minutes)`);
    assert.ok(st.counters['tcp_rst_sent']! >= 1);
  });
});
