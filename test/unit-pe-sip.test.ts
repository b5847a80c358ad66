// test-class: shared
// The SIP persistence engine (ipvsadm --pe sip, docs/schedulers.md): the Call-ID parser, and on
// the datapath without a network (unit rig, fake clock) the kernel's ip_vs_pe_sip behaviour: a
// persistent UDP service keeps a call on one server by its Call-ID, whatever client sends it;
// datagrams without one are dropped; the template is listed with its Call-ID (-Lnc
// --persistent-conn), synced to a backup and expires like any template. Then the verbs'
// refusals, -L/-S/-R, the command line, the config file and keepalived's persistence_engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { eth, ipv4, udp, udpFrame } from './helpers/frames.js';
import { fuzzFrames } from './helpers/fuzz-frames.js';
import { fuzzSeed } from './helpers/fuzz.js';
import { DIR_MAC, ROUTER_MAC, RS, VIP, rig, type Rig } from './helpers/harness.js';
import { CALLID_MAX, callIdHash, sipCallId } from '../src/proto/sip.js';
import { formatConns, formatList, formatRules } from '../src/control/printers.js';
import { parseArgs, parseRules, UsageError } from '../src/control/ipvsadm.js';
import { UvsError } from '../src/control/errors.js';
import { parseConfig } from '../src/control/config.js';
import { configRig } from './helpers/config-rig.js';
import { parseKeepalived } from '../src/health/keepalived.js';
import { REC_LEN } from '../src/datapath/syncrec.js';
import type { ConnInfo, ServiceSpec } from '../src/control/protocol.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const SIP = { proto: 'udp' as const, addr: VIP, port: 5060 };
const N = { numeric: true };
const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** Where sipCallId finds the Call-ID of a message, as text (undefined: none). */
function callId(msg: string): string | undefined {
  const b = enc(msg);
  const out = new Int32Array(2);
  return sipCallId(b, 0, b.length, out) ? Buffer.from(b.subarray(out[0], out[0] + out[1])).toString('latin1') : undefined;
}

const invite = (cid: string, hdr = 'Call-ID', eol = '\r\n'): string =>
  ['INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds', 'Max-Forwards: 70',
    'To: Bob <sip:bob@example.com>', 'From: Alice <sip:alice@example.org>;tag=1928301774', `${hdr}: ${cid}`, 'CSeq: 314159 INVITE',
    'Content-Length: 0', '', ''].join(eol);

test('SIP Call-ID: the header by its name or compact form, any case, CRLF/LF/CR lines; not in the start line, the body or a continuation; bounded and terminated', () => {
  assert.equal(callId(invite('a84b4c76e66710@pc33.example.org')), 'a84b4c76e66710@pc33.example.org');
  assert.equal(callId(invite('abc', 'i')), 'abc', 'compact form');
  assert.equal(callId(invite('abc', 'CALL-id')), 'abc', 'names are case-insensitive');
  assert.equal(callId(invite('abc', 'I')), 'abc');
  assert.equal(callId(invite('abc', 'Call-ID', '\n')), 'abc', 'LF lines');
  assert.equal(callId(invite('abc', 'Call-ID', '\r')), 'abc', 'CR lines (RFC 2543)');
  assert.equal(callId('OPTIONS sip:x SIP/2.0\r\nCall-ID \t:\t abc  \r\n\r\n'), 'abc', 'blanks around the colon, trailing blanks');
  assert.equal(callId('SIP/2.0 200 OK\r\nCall-ID: first\r\ni: second\r\n\r\n'), 'first', 'the first Call-ID');
  // Not a Call-ID header.
  assert.equal(callId('Call-ID: x\r\nVia: y\r\n\r\n'), undefined, 'the start line is no header');
  assert.equal(callId('INVITE sip:x SIP/2.0\r\nVia: y\r\n\r\nCall-ID: x\r\n'), undefined, 'the body is after the headers');
  assert.equal(callId('INVITE sip:x SIP/2.0\r\nSubject: a\r\n Call-ID: x\r\n\r\n'), undefined, 'a continuation line');
  assert.equal(callId('INVITE sip:x SIP/2.0\r\nCall-Info: <http://x>\r\nIf-Match: y\r\nin: z\r\n\r\n'), undefined, 'other headers');
  assert.equal(callId('INVITE sip:x SIP/2.0\r\nCall-ID: two words\r\n\r\n'), undefined, 'a blank inside');
  assert.equal(callId('INVITE sip:x SIP/2.0\r\nCall-ID: \r\n\r\n'), undefined, 'empty');
  assert.equal(callId('INVITE sip:x SIP/2.0\r\nCall-ID: abc'), undefined, 'no line break after it (a datagram cut short)');
  assert.equal(callId(invite('x'.repeat(CALLID_MAX))), 'x'.repeat(CALLID_MAX));
  assert.equal(callId(invite('x'.repeat(CALLID_MAX + 1))), undefined, `longer than ${CALLID_MAX}`);
  // Anything at all: false, or a value inside the message that is a header line's.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(20), (bytes, cut) => {
    const b = Uint8Array.from([...enc('REGISTER sip:x SIP/2.0\r\n'), ...bytes]);
    const end = Math.max(0, b.length - cut);
    const out = new Int32Array(2);
    if (!sipCallId(b, 0, end, out)) return true;
    return out[0] > 0 && out[1] >= 1 && out[1] <= CALLID_MAX && out[0] + out[1] < end && (b[out[0] + out[1]] === 13 || b[out[0] + out[1]] === 10 || b[out[0] + out[1]] === 32 || b[out[0] + out[1]] === 9);
  }), { numRuns: 3000, seed: 7 });
});

test('SIP Call-ID: a value after a continuation line is read, as the kernel\'s ct_sip_get_header follows it; a Call-ID header the kernel\'s callid_len reads nothing in (no word character first, no word after an @) is passed over for the next one, as its get_callid; before, a continued value was dropped (pe_no_callid) and a passed-over header\'s value taken', () => {
  assert.equal(callId('BYE sip:b@h SIP/2.0\r\nCall-ID:\r\n abc@host\r\n\r\n'), 'abc@host', 'CRLF and a space');
  assert.equal(callId('BYE sip:b@h SIP/2.0\nCall-ID: \n\t \n  abc@host\n\n'), 'abc@host', 'LF lines, two continuations, tabs');
  assert.equal(callId('BYE sip:b@h SIP/2.0\r\nCall-ID:\r\n\r\nabc@host\r\n'), undefined, 'an empty line is no continuation');
  assert.equal(callId('BYE sip:b@h SIP/2.0\r\ni: ;x\r\nCall-ID: abc@host\r\n\r\n'), 'abc@host', 'a value not starting with a word character: the next header');
  assert.equal(callId('BYE sip:b@h SIP/2.0\r\ni: abc@;x\r\nCall-ID: def@host\r\n\r\n'), 'def@host', 'no word after the @: the next header');
  assert.equal(callId("BYE sip:b@h SIP/2.0\r\nCall-ID: 'abc\r\n\r\n"), undefined, 'none after it: no Call-ID (the kernel has none either)');
  // On the datapath: the call's messages reach its server whichever way they write the header.
  const r = sipRig();
  const msg = (hdr: string): string => `BYE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10\r\n${hdr}\r\nCSeq: 1 BYE\r\n\r\n`;
  const first = send(r, '192.0.2.10', 5060, msg('Call-ID: abc@host'));
  assert.ok(first >= 0);
  for (let k = 0; k < 4; k++) send(r, '192.0.2.10', 5060, msg(`Call-ID: other${k}@host`)); // rr moves on
  assert.equal(send(r, '192.0.2.11', 5061, msg('Call-ID:\r\n abc@host')), first, 'continued: the call\'s server');
  assert.equal(send(r, '192.0.2.11', 5061, msg('i: ;x\r\nCall-ID: abc@host')), first, 'passed over: the call\'s server');
  assert.equal(r.counters()['drop.pe_no_callid'], 0);
});

/** A rig with UDP VIP:5060 rr -p 60 -M 0.0.0.0 --pe sip (and -o unless told) over RS 0 and 1. */
function sipRig(o: { oneShot?: boolean } = {}): Rig {
  const r = rig();
  r.ctl.addService({ ...SIP, sched: 'rr', persist: 60, netmask: '0.0.0.0', oneShot: o.oneShot ?? true, pe: 'sip' });
  for (let i = 0; i < 2; i++) r.ctl.addDest({ service: SIP, addr: RS[i].ip, port: 5060, fwd: 'dr' });
  for (let i = 0; i < 3; i++) r.learn(RS[i].ip, RS[i].mac);
  r.sink.take();
  return r;
}

/** Which RS the datagram went to (by destination MAC), -1 if nothing went out. */
function send(r: Rig, src: string, sport: number, msg: string): number {
  const out = r.run(udpFrame(IN, { src, dst: VIP, sport, dport: 5060, payload: enc(msg) }));
  if (out.length !== 1) return -1;
  const m = [...out[0]!.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return RS.findIndex((rs) => rs.mac === m);
}

const templates = (r: Rig): ConnInfo[] => r.ctl.connections().filter((c) => c.template === true);

test('--pe sip: a call keeps its server whoever sends it (the Call-ID, not the client); calls spread; no Call-ID is dropped; -Lnc --persistent-conn shows the Call-ID', () => {
  const r = sipRig();
  const a = send(r, '192.0.2.10', 5060, invite('call-a@192.0.2.10'));
  const b = send(r, '192.0.2.10', 5060, invite('call-b@192.0.2.10'));
  assert.ok(a >= 0 && b >= 0);
  assert.notEqual(a, b, 'a second call from the same socket is scheduled on its own (-o): rr moved on');
  // Every message of call A reaches A's server: from the client, from a proxy elsewhere, in the compact form.
  assert.equal(send(r, '192.0.2.10', 5060, invite('call-a@192.0.2.10').replace('INVITE sip:', 'ACK sip:')), a);
  assert.equal(send(r, '198.51.100.7', 5062, 'BYE sip:alice@192.0.2.10 SIP/2.0\r\ni: call-a@192.0.2.10\r\n\r\n'), a);
  assert.equal(send(r, '198.51.100.7', 5062, 'SIP/2.0 200 OK\r\nCall-ID: call-b@192.0.2.10\r\n\r\n'), b);
  // Without a Call-ID there is no call to keep it with: dropped and counted, no entry made.
  const before = r.dp.ct.count;
  assert.equal(send(r, '192.0.2.10', 5060, 'OPTIONS sip:x SIP/2.0\r\nVia: y\r\n\r\n'), -1);
  assert.equal(send(r, '192.0.2.10', 5060, ''), -1);
  assert.equal(r.counters()['drop.pe_no_callid'], 2);
  assert.equal(r.dp.ct.count, before);
  // One template per call (-M 0.0.0.0: every client shares it), with the Call-ID as its data.
  const t = templates(r);
  assert.deepEqual(t.map((c) => [c.caddr, c.cport, c.vport, c.daddr, c.pe, c.peData]).sort(), [
    ['0.0.0.0', 0, 5060, RS[a]!.ip, 'sip', 'call-a@192.0.2.10'],
    ['0.0.0.0', 0, 5060, RS[b]!.ip, 'sip', 'call-b@192.0.2.10'],
  ].sort());
  assert.equal(r.counters().templates_created, 2);
  // ipvsadm -Lnc --persistent-conn: print_conn's widths for a row with pe data; without the flag, plain rows.
  const text = formatConns(t.filter((c) => c.peData === 'call-a@192.0.2.10'), { numeric: true, persistentConn: true });
  assert.equal(text.split('\n')[2], `UDP 01:00  NONE        0.0.0.0:0          ${VIP}:5060    ${`${RS[a]!.ip}:5060`.padEnd(16)} sip                call-a@192.0.2.10`);
  assert.equal(formatConns(t.slice(0, 1), N).split('\n')[2]!.trimEnd().split(/ +/).length, 6);
  // Explain says what it can: the template depends on each datagram's Call-ID.
  assert.match((r.ctl.call('explain', { service: SIP, client: '192.0.2.10' }) as { why: string }).why, /persistence engine sip: a call with a template keeps its server; a new call \(Call-ID\) gets a template \(60 s\)/);
});

test('--pe sip: without -o a client socket\'s datagrams follow its connection entry (as the kernel: the Call-ID picks the server of a new entry only)', () => {
  const r = sipRig({ oneShot: false });
  const a = send(r, '192.0.2.10', 5060, invite('call-a'));
  assert.equal(send(r, '192.0.2.10', 5060, invite('call-b')), a, 'same entry');
  // A new socket with call B: a template of its own, scheduled by rr.
  assert.equal(send(r, '192.0.2.10', 5070, invite('call-b')), 1 - a);
  assert.equal(send(r, '192.0.2.11', 5080, invite('call-a')), a, 'call A from another client: its template');
});

test('--pe sip: two Call-IDs with one hash are two calls (the text decides); templates expire after their time and take their text with them', () => {
  // A birthday search finds two Call-IDs whose 32-bit hashes collide.
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; pair === undefined; i++) {
    const id = `c${i.toString(36)}`;
    const b = enc(id);
    const h = callIdHash(b, 0, b.length);
    const other = seen.get(h);
    if (other !== undefined) pair = [other, id];
    else seen.set(h, id);
  }
  const r = sipRig();
  const first = send(r, '192.0.2.10', 5060, invite(pair[0]));
  const second = send(r, '192.0.2.10', 5060, invite(pair[1]));
  assert.notEqual(first, second, `${pair[0]} and ${pair[1]}: two templates, rr gave them two servers`);
  for (let i = 0; i < 3; i++) {
    assert.equal(send(r, '198.51.100.7', 5060, invite(pair[0])), first);
    assert.equal(send(r, '198.51.100.7', 5060, invite(pair[1])), second);
  }
  assert.deepEqual(templates(r).map((c) => c.peData).sort(), [...pair].sort());
  // -p 60: gone a minute after the last datagram (-o leaves no connection to hold them).
  r.advance(61_000);
  r.dp.tick();
  assert.equal(templates(r).length, 0);
  assert.equal(r.dp.ct.peText.size, 0, 'no text kept for a freed entry');
  assert.equal(r.dp.ct.count, 0);
});

test('--pe sip with connection sync: the backup learns each call\'s template (its hash, not its text) and keeps every call on its server after takeover', () => {
  const m = sipRig();
  const b = sipRig();
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  b.ctl.call('setRole', { role: 'backup' });
  const calls = ['call-1', 'call-2', 'call-3', 'call-4'];
  const servers = calls.map((c) => send(m, '192.0.2.10', 5060, invite(c)));
  const buf = new Uint8Array(REC_LEN * 16);
  const n = m.dp.syncDrain(buf, 0, 16);
  assert.equal(n, 4, 'four templates (-o: no connection entries)');
  b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  assert.equal(b.counters().sync_refused ?? 0, 0);
  const rows = (r: Rig) => templates(r).map((c) => `${c.caddr}:${c.cport} ${c.daddr} ${c.pe}`).sort();
  assert.deepEqual(rows(b), rows(m));
  assert.deepEqual(templates(b).map((c) => c.peData), [undefined, undefined, undefined, undefined]);
  // A second dump updates them in place (no second template per call).
  b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  assert.equal(templates(b).length, 4);
  b.ctl.call('setRole', { role: 'master' });
  for (let i = 0; i < 3; i++) b.learn(RS[i].ip, RS[i].mac);
  b.sink.take();
  // Reversed, so rr alone would give other servers.
  for (let i = calls.length - 1; i >= 0; i--) assert.equal(send(b, '198.51.100.7', 5060, invite(calls[i]!)), servers[i], calls[i]);
  assert.equal(b.counters().templates_created, 0);
});

test('--pe through the verbs and ipvsadm\'s command line: refusals change nothing; -L shows pe, -S writes --pe, -R reads it back', () => {
  const r = sipRig();
  const before = JSON.stringify(r.ctl.list());
  const refused = (spec: ServiceSpec, code: string, text: RegExp): void => {
    assert.throws(() => r.ctl.addService(spec), (e: unknown) => e instanceof UvsError && e.code === code && text.test(e.message), JSON.stringify(spec));
  };
  refused({ ...SIP, port: 5061, pe: 'h323', persist: 60 }, 'BAD_SCHEDULER', /^Scheduler or persistence engine not found: persistence engine h323$/);
  refused({ ...SIP, port: 5061, pe: 'sip' }, 'PE_NOT_PERSISTENT', /needs a persistent service \(-p\): UDP 10\.0\.0\.100:5061 --pe sip/);
  refused({ ...SIP, proto: 'tcp', pe: 'sip', persist: 60 }, 'PE_NOT_UDP', /only for UDP virtual services: TCP 10\.0\.0\.100:5060 --pe sip/);
  assert.throws(() => r.ctl.call('editService', { ...SIP, persist: 0 }), (e: unknown) => e instanceof UvsError && e.code === 'PE_NOT_PERSISTENT');
  assert.equal(JSON.stringify(r.ctl.list()), before, 'nothing changed');
  const list = r.ctl.list();
  assert.equal(formatList(list, N).split('\n')[3], `UDP  ${VIP}:5060 rr persistent 60 mask 0.0.0.0 pe sip ops`);
  const save = formatRules(list, N);
  assert.equal(save.split('\n')[0], `-A -u ${VIP}:5060 -s rr -p 60 -M 0.0.0.0 --pe sip -o`);
  r.ctl.clear();
  r.ctl.call('batch', { items: parseRules(save).calls });
  assert.equal(formatRules(r.ctl.list(), N), save);
  // -E replaces the whole service, as ipvsadm: without --pe the engine goes.
  const edit = parseArgs(['-E', '-u', `${VIP}:5060`, '-s', 'rr', '-p', '60'], { env: {} }) as { call: { verb: string; args: unknown } };
  r.ctl.call(edit.call.verb, edit.call.args);
  assert.equal(formatList(r.ctl.list(), N).split('\n')[3], `UDP  ${VIP}:5060 rr persistent 60`);
  // The command line: --pe takes a name, only with -A/-E.
  const add = parseArgs(['-A', '-u', `${VIP}:5060`, '-p', '--pe', 'sip'], { env: {} }) as { call: { args: ServiceSpec } };
  assert.equal(add.call.args.pe, 'sip');
  for (const [argv, msg] of [
    [['-a', '-u', `${VIP}:5060`, '-r', '10.0.0.11', '--pe', 'sip'], "Illegal 'pe' option with the 'add-server' command"],
    [['-A', '-u', `${VIP}:5060`, '--pe'], '--pe: missing argument'],
  ] as Array<[string[], string]>) {
    assert.throws(() => parseArgs(argv, { env: {} }), (e: unknown) => e instanceof UsageError && e.message === msg, argv.join(' '));
  }
});

test('--pe in the config file (pe: sip) and keepalived.conf (persistence_engine sip): loaded, dumped back, refused or ignored with the line', () => {
  const conf = `services:
  - proto: udp
    address: 192.168.8.200
    port: 5060
    scheduler: rr
    persistent: 60
    netmask: 0.0.0.0
    pe: sip
    ops: true
    servers:
      - { address: 192.168.8.20 }
`;
  const { r, cm } = configRig();
  cm.apply(parseConfig(conf, 'f.yaml'), false);
  assert.equal(formatRules(r.ctl.list(), N).split('\n')[0], '-A -u 192.168.8.200:5060 -s rr -p 60 -M 0.0.0.0 --pe sip -o');
  const dumped = cm.dump();
  assert.match(dumped, /\n {4}pe: sip\n/);
  assert.deepEqual(cm.apply(parseConfig(dumped, 'dump.yaml'), true), [], 'the dump loads back as the same table');
  assert.deepEqual(cm.apply(parseConfig(conf.replace('    pe: sip\n', ''), 'f.yaml'), true), ['edit service UDP 192.168.8.200:5060: pe sip -> none']);
  assert.throws(() => cm.apply(parseConfig(conf.replace('pe: sip', 'pe: xyz'), 'f.yaml'), true), /f\.yaml:2: .*persistence engine xyz/);

  const kconf = (body: string) => `virtual_server 192.168.8.200 5060 {\n  protocol UDP\n  lb_algo rr\n${body}  lb_kind NAT\n  real_server 192.168.8.20 5060 {\n  }\n}\n`;
  const k = parseKeepalived(kconf('  persistence_timeout 60\n  persistence_engine sip\n'), 'k.conf');
  assert.equal(k.config.services[0]!.pe, 'sip');
  assert.deepEqual(k.warnings, []);
  const noTimeout = parseKeepalived(kconf('  persistence_engine sip\n'), 'k.conf');
  assert.equal(noTimeout.config.services[0]!.pe, undefined);
  assert.deepEqual(noTimeout.warnings, ['k.conf:4: persistence_engine ignored: virtual_server 192.168.8.200 5060 has no persistence_timeout']);
  const tcp = parseKeepalived(kconf('  persistence_timeout 60\n  persistence_engine sip\n').replace('protocol UDP', 'protocol TCP'), 'k.conf');
  assert.match(tcp.warnings[0]!, /^k\.conf:5: persistence_engine ignored: the SIP engine reads UDP datagrams/);
  assert.throws(() => parseKeepalived(kconf('  persistence_timeout 60\n  persistence_engine h323\n'), 'k.conf'), /: k\.conf:5: persistence_engine: "h323" is not a persistence engine \(uvs has sip\)$/);
});

test('fuzz: 30,000 hostile frames through a --pe sip service (mutated SIP messages, fragments, random): nothing throws, each frame one outcome, the table consistent; calls still keep their servers', () => {
  const r = sipRig();
  const a = send(r, '192.0.2.10', 5060, invite('kept@x'));
  const big = enc(invite('frag@x').replace('Content-Length: 0', `Content-Length: 1500\r\n\r\n${'v=0 '.repeat(375)}`));
  const dgram = udp({ src: '192.0.2.10', dst: VIP, sport: 5060, dport: 5060, payload: big });
  const v4 = (o: Parameters<typeof ipv4>[0], p: Uint8Array) => eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4(o, p));
  const seeds = [
    udpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 5060, dport: 5060, payload: enc(invite('kept@x')) }),
    udpFrame(IN, { src: '198.51.100.7', dst: VIP, sport: 5070, dport: 5060, payload: enc('BYE sip:a SIP/2.0\r\ni: other@y\r\n\r\n') }),
    udpFrame(IN, { src: '198.51.100.7', dst: VIP, sport: 5070, dport: 5060, payload: enc('SIP/2.0 200 OK\nCall-ID:x\n\n') }),
    udpFrame(IN, { src: '192.0.2.11', dst: VIP, sport: 5060, dport: 5060, payload: enc('OPTIONS sip:x SIP/2.0\r\n\r\n') }),
    v4({ src: '192.0.2.10', dst: VIP, proto: 17, id: 7, df: false, mf: true }, dgram.subarray(0, 1000)),
    v4({ src: '192.0.2.10', dst: VIP, proto: 17, id: 7, df: false, fragOffset: 125 }, dgram.subarray(1000)),
  ];
  const fed = fuzzFrames('sip frames', r, seeds, 30_000, fuzzSeed(5060));
  assert.ok(fed >= 30_000, `${fed} frames`);
  r.advance(1000);
  for (let i = 0; i < 3; i++) r.learn(RS[i].ip, RS[i].mac);
  assert.equal(send(r, '203.0.113.9', 5060, invite('kept@x')), a, 'the first call keeps its server');
});
