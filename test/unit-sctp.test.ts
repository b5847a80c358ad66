// test-class: shared
// SCTP services (ipvsadm --sctp-service, docs/sctp.md) on the datapath without a network (unit
// rig, fake clock), as the kernel's ip_vs_proto_sctp: only an INIT opens; the state follows each
// packet's first chunk through the kernel's table (DR/TUN: the INPUT_ONLY rows; NAT/FULLNAT both
// directions); NAT/FULLNAT rewrite ports and compute the CRC32c again; a wrong CRC is dropped
// before it opens or moves anything. Then the control plane: ipvsadm's option, -L/-S/-R/-Lnc,
// the config file, keepalived's protocol SCTP, sync records and the steering program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SCTP_CHUNK as K, crc32cBitwise, icmpFrame, ip, sctpChecksumOk, sctpFrame, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, GW, ROUTER_MAC, RS, VIP, rig, type Rig } from './helpers/harness.js';
import { sctpChecksumOk as dpChecksumOk, sctpSetChecksum } from '../src/proto/sctp.js';
import { formatConns, formatList, formatRules } from '../src/control/printers.js';
import { parseArgs, parseRules } from '../src/control/ipvsadm.js';
import { parseConfig } from '../src/control/config.js';
import { configRig } from './helpers/config-rig.js';
import { parseKeepalived } from '../src/health/keepalived.js';
import { REC_LEN } from '../src/datapath/syncrec.js';
import { STATE_LABELS } from '../src/datapath/tcpstate.js';
import type { Fwd } from '../src/control/protocol.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const SVC = { proto: 'sctp' as const, addr: VIP, port: 3868 };
const N = { numeric: true };
const LIP = '10.0.0.5';

/** An SCTP packet from the client to the VIP (or from `src`), one chunk of `type` (a second one after it if given). */
function fromClient(type: number, o: { sport?: number; bad?: boolean; then?: number; src?: string } = {}): Buffer {
  const chunks = [{ type, value: new Uint8Array(type === K.INIT ? 16 : 4) }, ...(o.then === undefined ? [] : [{ type: o.then }])];
  return sctpFrame(IN, { src: o.src ?? CLIENT, dst: VIP }, { sport: o.sport ?? 40000, dport: SVC.port, chunks, checksum: o.bad ? 'bad' : undefined });
}

/** SCTP VIP:3868 rr over RS 0 and 1 by `fwd` (at `port`), the client off-link behind GW, everyone learned. */
function sctpRig(fwd: Fwd, port = SVC.port): Rig {
  const r = rig({ gateway: GW });
  r.ctl.addService({ ...SVC, sched: 'rr' });
  for (let i = 0; i < 2; i++) r.ctl.addDest({ service: SVC, addr: RS[i].ip, port, fwd });
  if (fwd === 'fullnat') r.ctl.addLaddr({ service: SVC, addr: LIP });
  for (let i = 0; i < 3; i++) r.learn(RS[i].ip, RS[i].mac);
  r.dp.resolve(ip(GW));
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}

const stateOf = (r: Rig): string[] => r.ctl.connections().filter((c) => c.proto === 'sctp').map((c) => c.state);
const destCounts = (r: Rig, i: number) => {
  const d = r.ctl.list().services[0]!.dests.find((x) => x.addr === RS[i].ip)!;
  return [d.active, d.inactive];
};

test('CRC32c: the datapath\'s table code agrees with the bitwise reference (RFC 3720 B.4 vector) on any packet; a flipped bit is caught', () => {
  assert.equal(crc32cBitwise(Buffer.from('123456789')), 0xe3069283, 'the reference itself');
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 600 }), fc.nat(), (bytes, at) => {
    const b = Buffer.from(bytes);
    sctpSetChecksum(b, 0, b.length);
    if (!sctpChecksumOk(b) || !dpChecksumOk(b, 0, b.length)) return false;
    b[at % b.length] ^= 1 << (at % 8);
    return !dpChecksumOk(b, 0, b.length);
  }), { numRuns: 500, seed: 132 });
});

test('DR: only an INIT opens; the association goes INIT1 -> ESTABLISHED (COOKIE ECHO, the INPUT_ONLY rows) -> S-RECEIVED -> CLOSED with the kernel\'s timeouts; frames leave unchanged but for MAC and TTL; active/inactive counted; a bad CRC or a short packet opens nothing', () => {
  const r = sctpRig('dr');
  // Not an INIT: nothing opens (the kernel drops it).
  assert.equal(r.run(fromClient(K.DATA)).length, 0);
  assert.equal(r.run(fromClient(K.COOKIE_ECHO)).length, 0);
  assert.equal(r.counters()['drop.no_conn'], 2);
  // A wrong CRC and a packet without a chunk header: dropped before any lookup.
  assert.equal(r.run(fromClient(K.INIT, { bad: true })).length, 0);
  assert.equal(r.counters()['drop.sctp_bad_checksum'], 1);
  const short = sctpFrame(IN, { src: CLIENT, dst: VIP }, { sport: 40000, dport: SVC.port, chunks: [] });
  assert.equal(r.run(short).length, 0);
  assert.equal(r.counters()['drop.l4_truncated'], 1);
  assert.equal(r.dp.ct.count, 0);

  const init = fromClient(K.INIT);
  const [out] = r.run(init);
  assert.ok(out);
  assert.deepEqual(out.subarray(14 + 20), init.subarray(14 + 20), 'the SCTP packet is the client\'s, byte for byte');
  assert.equal(out[14 + 8], init[14 + 8]! - 1, 'one hop');
  const to = RS.findIndex((s) => s.mac === [...out.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':'));
  assert.ok(to === 0 || to === 1);
  assert.deepEqual(stateOf(r), ['INIT1']);
  assert.deepEqual(destCounts(r, to), [0, 1]);
  assert.equal(r.ctl.connections()[0]!.expires, 4, 'INIT1 lasts 4 s (the kernel\'s 3 + 1)');
  // A repeated INIT: INIT; the COOKIE ECHO (the server's INIT ACK is not seen): ESTABLISHED, active.
  r.run(fromClient(K.INIT));
  assert.deepEqual(stateOf(r), ['INIT']);
  assert.equal(r.run(fromClient(K.COOKIE_ECHO)).length, 1);
  assert.deepEqual(stateOf(r), ['ESTABLISHED']);
  assert.deepEqual(destCounts(r, to), [1, 0]);
  assert.equal(r.ctl.connections()[0]!.expires, 900);
  // DATA keeps it, on the same server.
  for (let i = 0; i < 5; i++) assert.equal(r.run(fromClient(K.DATA))[0]!.subarray(0, 6).toString('hex'), out.subarray(0, 6).toString('hex'));
  // The client's SHUTDOWN, then its SHUTDOWN COMPLETE: CLOSED, inactive, 61 s.
  r.run(fromClient(K.SHUTDOWN));
  assert.deepEqual(stateOf(r), ['S-RECEIVED']);
  r.run(fromClient(K.SHUTDOWN_COMPLETE));
  assert.deepEqual(stateOf(r), ['CLOSED']);
  assert.deepEqual(destCounts(r, to), [0, 1]);
  assert.equal(r.ctl.connections()[0]!.expires, 61);
  assert.match(formatConns(r.ctl.connections(), N), /\nSCTP 01:01  CLOSED      192\.0\.2\.10:40000   10\.0\.0\.100:3868    10\.0\.0\.1[12]:3868\n/);
  r.advance(62_000);
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0);
  assert.deepEqual(destCounts(r, to), [0, 0]);
  // An ABORT after a COOKIE ECHO in one packet is the ABORT (as the kernel reads a bundle).
  r.run(fromClient(K.INIT, { sport: 40001 }));
  r.run(fromClient(K.COOKIE_ECHO, { sport: 40001, then: K.ABORT }));
  assert.deepEqual(stateOf(r), ['CLOSED']);
});

test('conn_reuse_mode: an INIT on a CLOSED association\'s tuple (a peer that binds its port again) is a new association, scheduled again: a drained server gets none; not with mode 0, not on a live one', () => {
  const r = sctpRig('dr');
  const toServer = (f: Buffer): number => RS.findIndex((x) => x.mac === [...f.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':'));
  const associate = (): number => {
    const [first] = r.run(fromClient(K.INIT));
    r.run(fromClient(K.COOKIE_ECHO));
    return toServer(first!);
  };
  const close = () => r.run(fromClient(K.ABORT));
  const conns = () => r.ctl.list().services[0]!.dests.reduce((n, d) => n + d.stats.conns, 0);
  const was = associate();
  close();
  assert.deepEqual(stateOf(r), ['CLOSED']);
  r.ctl.editDest({ service: SVC, addr: RS[was]!.ip, port: SVC.port, weight: 0 });
  assert.equal(associate(), 1 - was, 'the INIT goes to the server with weight, not the drained one');
  assert.equal(r.counters().conns_reused, 1);
  assert.equal(conns(), 2, 'counted as a new connection');
  assert.deepEqual(stateOf(r), ['ESTABLISHED']);
  // An INIT on a live association is no new one (the kernel: only CLOSED is expected).
  r.run(fromClient(K.INIT));
  assert.equal(r.counters().conns_reused, 1);
  close();
  r.ctl.editDest({ service: SVC, addr: RS[was]!.ip, port: SVC.port, weight: 1 });
  r.ctl.setDefense({ ...r.dp.defense, connReuseMode: 0 });
  assert.equal(associate(), 1 - was, 'mode 0: the old entry\'s server');
  assert.equal(r.counters().conns_reused, 1);
  // Drained, it is scheduled again even with mode 0, as kernels since 5.16 (expire_nodest_conn=1).
  close();
  r.ctl.editDest({ service: SVC, addr: RS[1 - was]!.ip, port: SVC.port, weight: 0 });
  assert.equal(associate(), was, 'mode 0, drained: the server with weight');
  assert.equal(r.counters().conns_reused, 2);
});

for (const fwd of ['nat', 'fullnat'] as const) {
  test(`${fwd === 'nat' ? 'NAT' : 'FULLNAT'}: the four-way handshake through the INPUT and OUTPUT rows; ports (and addresses) rewritten both ways with a right CRC32c; the server's ABORT closes; a reply with a wrong CRC moves nothing`, () => {
    const r = sctpRig(fwd, 3869);
    const [a] = r.run(fromClient(K.INIT));
    assert.ok(a);
    assert.equal(a.readUInt16BE(14 + 20 + 2), 3869, 'the server\'s port');
    assert.ok(sctpChecksumOk(a, 34), 'CRC32c right after the rewrite');
    const rs = RS.findIndex((s) => ip(s.ip) >>> 0 === a.readUInt32BE(14 + 16));
    const src = a.readUInt32BE(14 + 12);
    const sport = a.readUInt16BE(34);
    if (fwd === 'fullnat') assert.equal(src, ip(LIP) >>> 0, 'FULLNAT: from the local address');
    else assert.deepEqual([src, sport], [ip(CLIENT) >>> 0, 40000]);
    assert.deepEqual(stateOf(r), ['INIT1']);
    const srcText = [24, 16, 8, 0].map((s) => (src >>> s) & 255).join('.');
    const reply = (type: number, bad = false) => sctpFrame({ ethDst: DIR_MAC, ethSrc: RS[rs]!.mac }, { src: RS[rs]!.ip, dst: srcText },
      { sport: 3869, dport: sport, chunks: [{ type, value: new Uint8Array(8) }], checksum: bad ? 'bad' : undefined });
    const [b] = r.run(reply(K.INIT_ACK));
    assert.ok(b, 'the INIT ACK goes back to the client');
    assert.deepEqual([b.readUInt32BE(26), b.readUInt16BE(34), b.readUInt32BE(30), b.readUInt16BE(36)], [ip(VIP) >>> 0, 3868, ip(CLIENT) >>> 0, 40000]);
    assert.ok(sctpChecksumOk(b, 34));
    assert.deepEqual(stateOf(r), ['C-SENT']);
    r.run(fromClient(K.COOKIE_ECHO));
    assert.deepEqual(stateOf(r), ['C-REPLIED']);
    assert.equal(r.run(reply(K.COOKIE_ACK, true)).length, 0, 'a wrong CRC from the server');
    assert.deepEqual(stateOf(r), ['C-REPLIED']);
    r.run(reply(K.COOKIE_ACK));
    assert.deepEqual(stateOf(r), ['ESTABLISHED']);
    assert.deepEqual(destCounts(r, rs), [1, 0]);
    r.run(reply(K.ABORT));
    assert.deepEqual(stateOf(r), ['CLOSED']);
    assert.deepEqual(destCounts(r, rs), [0, 1]);
  });
}

test('NAT: an ICMP error from the server quoting the SCTP packet it got reaches the client quoting VIP:3868 (the quoted CRC kept, as the kernel)', () => {
  const r = sctpRig('nat', 3869);
  const [a] = r.run(fromClient(K.INIT));
  const rs = RS.findIndex((s) => ip(s.ip) >>> 0 === a!.readUInt32BE(30));
  const quote = a!.subarray(14, 14 + 20 + 16);
  const err = icmpFrame({ ethDst: DIR_MAC, ethSrc: RS[rs]!.mac }, { src: RS[rs]!.ip, dst: CLIENT }, { type: 3, code: 3, payload: quote });
  const [e] = r.run(err);
  assert.ok(e, 'relayed');
  assert.equal(e.readUInt32BE(26), ip(VIP) >>> 0, 'from the VIP');
  const inner = 14 + 20 + 8;
  assert.deepEqual([e.readUInt32BE(inner + 16), e.readUInt16BE(inner + 22)], [ip(VIP) >>> 0, 3868], 'the quote shows VIP:3868');
  assert.equal(e.readUInt32LE(inner + 20 + 8), a!.readUInt32LE(34 + 8), 'the quoted CRC as it was');
});

test('SCTP and TCP services on one VIP:port are two services; templates (-p) keep an SCTP client on its server', () => {
  const r = rig();
  r.ctl.addService({ ...SVC, sched: 'rr', persist: 60 });
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 3868, sched: 'rr' });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 3868, fwd: 'dr' });
  r.ctl.addDest({ service: SVC, addr: RS[1].ip, port: 3868, fwd: 'dr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 3868 }, addr: RS[2].ip, port: 3868, fwd: 'dr' });
  for (let i = 0; i < 3; i++) r.learn(RS[i].ip, RS[i].mac);
  r.sink.take();
  const macOf = (f: Buffer | undefined) => f?.subarray(0, 6).toString('hex');
  assert.equal(macOf(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 3868, flags: TCP_FLAGS.SYN }))[0]), '020000000013');
  const first = macOf(r.run(fromClient(K.INIT))[0]);
  for (let p = 1; p <= 6; p++) assert.equal(macOf(r.run(fromClient(K.INIT, { sport: 40000 + p }))[0]), first, `association ${p}: the template's server`);
  const rows = r.ctl.connections();
  assert.equal(rows.filter((c) => c.proto === 'sctp' && c.template === true).length, 1);
  assert.equal(rows.filter((c) => c.proto === 'tcp').length, 1);
});

test('ipvsadm --sctp-service: -A/-a, -L shows SCTP, -S writes --sctp-service and -R reads it back; -o, --pe and --synproxy refused; the config file (proto: sctp, dumped back) and keepalived.conf (protocol SCTP)', () => {
  const r = rig();
  const run = (line: string) => {
    const c = parseArgs(line.split(' '), { env: {} }) as { call: { verb: string; args: unknown } };
    return r.ctl.call(c.call.verb, c.call.args);
  };
  run(`-A --sctp-service ${VIP}:3868 -s wrr`);
  run(`-a --sctp-service ${VIP}:3868 -r ${RS[0].ip}:3869 -m -w 3`);
  const list = r.ctl.list();
  assert.match(formatList(list, N), new RegExp(`^SCTP ${VIP}:3868 wrr\\n  -> ${RS[0].ip}:3869 +Masq +3 +0 +0 *$`, 'm'));
  const rules = formatRules(list, N);
  assert.equal(rules, `-A --sctp-service ${VIP}:3868 -s wrr\n-a --sctp-service ${VIP}:3868 -r ${RS[0].ip}:3869 -m -w 3\n`);
  const again = rig();
  again.ctl.call('batch', { items: parseRules(rules).calls });
  assert.equal(formatRules(again.ctl.list(), N), rules, '-R of -S gives the same table');
  assert.throws(() => run(`-A --sctp-service ${VIP}:5060 -o`), /One-Packet Scheduling is only for UDP/);
  assert.throws(() => run(`-A --sctp-service ${VIP}:5060 -p 60 --pe sip`), /only for UDP/);
  assert.throws(() => run(`-A --sctp-service ${VIP}:5061 --synproxy`));
  assert.equal(r.ctl.list().services.length, 1, 'nothing added by a refusal');
  // A mark rule for SCTP: its associations reach the -f service; -S writes the rule back.
  run(`--add-mark -f 7 --sctp-service ${VIP}:2905`);
  run('-A -f 7 -s rr');
  run(`-a -f 7 -r ${RS[1].ip} -g`);
  r.learn(RS[1].ip, RS[1].mac);
  r.sink.take();
  assert.equal(r.run(sctpFrame(IN, { src: CLIENT, dst: VIP }, { sport: 40000, dport: 2905, chunks: [{ type: K.INIT, value: new Uint8Array(16) }] })).length, 1);
  assert.deepEqual(r.ctl.connections().map((c) => [c.proto, c.state, c.vport, c.daddr]), [['sctp', 'INIT1', 2905, RS[1].ip]]);
  assert.match(formatRules(r.ctl.list(), N), new RegExp(`^--add-mark -f 7 --sctp-service ${VIP}:2905\\n`));

  const cfg = parseConfig(`services:\n  - proto: sctp\n    address: ${VIP}\n    port: 2905\n    scheduler: rr\n    servers:\n      - { address: ${RS[1].ip} }\n`, 'c.yaml');
  assert.equal(cfg.services[0]!.spec.proto, 'sctp');
  const { cm } = configRig(); // its director is on 192.168.8.0/24
  cm.apply(parseConfig('services:\n  - { proto: sctp, address: 192.168.8.200, port: 3868, servers: [{ address: 192.168.8.20, method: nat, port: 3869 }] }\n', 'c.yaml'), false);
  assert.match(cm.dump(), /- proto: sctp\n/);
  assert.deepEqual(cm.apply(parseConfig(cm.dump(), 'd.yaml'), true), [], '--dump-config loads back as the same table');
  assert.throws(() => parseConfig(`services:\n  - proto: dccp\n    address: ${VIP}\n    port: 1\n`, 'c.yaml'), /must be tcp, udp or sctp, got "dccp"/);
  const k = parseKeepalived(`virtual_server ${VIP} 2905 {\n  lb_algo rr\n  lb_kind DR\n  protocol SCTP\n  real_server ${RS[1].ip} 2905 {\n  }\n}\n`, 'k.conf');
  assert.equal(k.config.services[0]!.proto, 'sctp');
  assert.throws(() => parseKeepalived(`virtual_server ${VIP} 1 {\n  protocol DCCP\n}\n`, 'k.conf'), /protocol: "DCCP" is not TCP, UDP or SCTP/);
  assert.ok(STATE_LABELS.includes('SCTP_ESTABLISHED') && STATE_LABELS.includes('ESTABLISHED'), 'metrics tell SCTP states from TCP\'s');
  assert.equal(new Set(STATE_LABELS).size, STATE_LABELS.length);
});

test('sync: a backup installs SCTP connections with their state (ESTABLISHED counted active there); a record whose state is not SCTP\'s is refused', () => {
  const m = sctpRig('dr');
  const b = sctpRig('dr');
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  b.ctl.call('setRole', { role: 'backup' });
  m.run(fromClient(K.INIT, { sport: 41000 }));
  m.run(fromClient(K.INIT, { sport: 41001 }));
  m.run(fromClient(K.COOKIE_ECHO, { sport: 41001 }));
  const buf = new Uint8Array(REC_LEN * 8);
  const n = m.dp.syncDrain(buf, 0, 8);
  assert.ok(n >= 2);
  b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  assert.equal(b.counters().sync_refused ?? 0, 0);
  const rows = (r: Rig) => r.ctl.connections().map((c) => `${c.proto} ${c.cport} ${c.state} ${c.daddr}`).sort();
  assert.deepEqual(rows(b), rows(m));
  const active = (r: Rig) => r.ctl.list().services[0]!.dests.reduce((s, d) => s + d.active, 0);
  assert.equal(active(b), 1);
  // The same record with TCP's ESTABLISHED (1) in its state byte.
  const bad = buf.slice(0, REC_LEN);
  bad[2] = 1;
  b.dp.apply([{ op: 'syncInstall', records: bad }]);
  assert.equal(b.counters().sync_refused, 1);
});

test('random chunk types, lengths and bundles from both sides: nothing throws; every entry is counted once, active exactly when ESTABLISHED', () => {
  const r = sctpRig('nat');
  const step = fc.record({ type: fc.nat(20), then: fc.option(fc.nat(20), { nil: undefined }), len: fc.nat(40), port: fc.nat(3), server: fc.boolean() });
  fc.assert(fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
    for (const s of steps) {
      const chunks = [{ type: s.type, value: new Uint8Array(s.len) }, ...(s.then === undefined ? [] : [{ type: s.then }])];
      const port = 40100 + s.port;
      r.feed(s.server
        ? sctpFrame({ ethDst: DIR_MAC, ethSrc: RS[port % 2]!.mac }, { src: RS[port % 2]!.ip, dst: CLIENT }, { sport: 3868, dport: port, chunks })
        : sctpFrame(IN, { src: CLIENT, dst: VIP }, { sport: port, dport: 3868, chunks }));
    }
    r.advance(1000);
    r.dp.tick();
    const conns = r.ctl.connections();
    const d = r.ctl.list().services[0]!.dests;
    const active = d.reduce((n, x) => n + x.active, 0);
    const inactive = d.reduce((n, x) => n + x.inactive, 0);
    return active === conns.filter((c) => c.state === 'ESTABLISHED').length && active + inactive === conns.length;
  }), { numRuns: 200, seed: 2905 });
});

test('a table full of half-open associations (INIT: a repeated INIT, so confirmed) makes room for a new one by eviction; one full of ESTABLISHED ones does not', () => {
  const full = (establish: boolean): Rig => {
    const r = rig({ connMax: 64, gateway: GW });
    r.ctl.addService({ ...SVC, sched: 'rr' });
    r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 3868, fwd: 'dr' });
    r.learn(RS[0].ip, RS[0].mac);
    for (let p = 0; p < 64; p++) {
      r.feed(fromClient(K.INIT, { sport: 30000 + p }));
      r.feed(fromClient(establish ? K.COOKIE_ECHO : K.INIT, { sport: 30000 + p }));
    }
    r.sink.take();
    return r;
  };
  const half = full(false);
  assert.equal(half.ctl.connections().filter((c) => c.state === 'INIT').length, half.dp.ct.count);
  assert.equal(half.run(fromClient(K.INIT, { src: '198.51.100.7' })).length, 1, 'the new association is forwarded');
  assert.ok(half.counters().conns_evicted! >= 1, 'a half-open one was evicted for it');
  const est = full(true);
  assert.equal(est.ctl.connections().filter((c) => c.state === 'ESTABLISHED').length, est.dp.ct.count);
  assert.equal(est.run(fromClient(K.INIT, { src: '198.51.100.7' })).length, 0);
  assert.equal(est.counters().conns_evicted ?? 0, 0, 'no ESTABLISHED association is evicted');
  assert.ok(est.counters()['drop.conn_table_full']! >= 1);
});
