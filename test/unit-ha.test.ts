// test-class: shared
// High availability in process (docs/ha.md): the backup role (no ARP for VIPs, LIPs or floating
// addresses, nothing forwarded, nothing announced), the takeover (gratuitous ARP for all of them at
// once), connection sync records from a master's datapath installed into a backup whose slots
// differ, a takeover that forwards the synced NAT/FULLNAT replies exactly as the master would, and
// the sync datagram's authentication (a forged message is counted and ignored); a SYN proxy
// connection's translation and an FTP control connection's seq shift carried to the backup, and
// the datagram type an older backup ignores them in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arpFrame, eth, ipv4, tcpFrame, TCP_FLAGS, decode, udpFrame } from './helpers/frames.js';
import { DIR_IP, DIR_MAC, ROUTER_MAC, RS, VIP, drRig, rig, type Rig } from './helpers/harness.js';
import { SyncProducer } from '../src/sync/producer.js';
import { SyncDaemon } from '../src/sync/daemon.js';
import { DatapathGroup, type Workers } from '../src/datapath/group.js';
import type { DpOp } from '../src/datapath/ops.js';
import { ExtHold, REC_CONN, REC_EXPIRE, REC_FTPSEQ, REC_LEN, REC_SYNPROXY, RF_ASSURED, RF_FTPDATA, RF_HAS_TPL, syncDatagrams, writeConnRecord } from '../src/datapath/syncrec.js';
import { open, seal, HDR_LEN, MAC_LEN, MSG_DATA, MSG_DATA_EXT, MSG_DUMP_REQUEST, SF_ANSWERS, SF_DUMP_ANSWER, type Opened } from '../src/sync/codec.js';
import { stepClock } from './helpers/step-clock.js';
import { parseIp, parseMac } from '../src/datapath/addr.js';
import type { ConnInfo, DaemonResult, StatusResult } from '../src/control/protocol.js';
import { formatDaemon, formatStatus } from '../src/control/printers.js';
import { refusalLine, type UvsError } from '../src/control/errors.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { startRoleOps } from '../src/cli/settings.js';
import { parseExposition } from './helpers/prom.js';
import { SYNC_KEY_MAX, syncKeyOf } from '../src/control/verbs.js';
import { synproxyHandshake, tsOption } from './helpers/synproxy.js';
import { F_CONFIRMED, F_SYNPROXY, F_TEMPLATE, PROTO_TPL } from '../src/datapath/conntable.js';
import { setLaddrStart } from '../src/modes/laddr.js';
import { controlDispatch } from '../src/control/dispatch.js';

// These tests name the local ports a LIP hands out: allocation from the first port of the range
// (uvsd begins at a random one: Laddr's constructor; its own test in unit-fullnat.test.ts).
setLaddrStart(0);

const CLIENT = '10.0.0.50';
const CLIENT_MAC = '02:00:00:00:00:50';
const FLOAT = '10.0.0.2';
const LIP = '10.0.0.5';
const VIP2 = '10.0.0.101';
const VIP3 = '10.0.0.102';
const NAT80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
const FNAT80 = { proto: 'tcp' as const, addr: VIP2, port: 80 };
const DR80 = { proto: 'tcp' as const, addr: VIP3, port: 80 };
const IN = { ethDst: DIR_MAC, ethSrc: CLIENT_MAC };

/** The same table on both directors; `reverse` adds the servers in the other order (other slots). */
function director(reverse: boolean, worker?: { index: number; count: number }): Rig {
  const r = rig({ addrs: [`${DIR_IP}/24`, `${FLOAT}/24,floating`], connMax: 4096, worker });
  r.ctl.addService({ ...NAT80, sched: 'rr' });
  r.ctl.addService({ ...FNAT80, sched: 'rr' });
  r.ctl.addService({ ...DR80, sched: 'rr', persist: 300 });
  const rs = reverse ? [...RS].reverse() : [...RS];
  for (const s of rs) {
    r.ctl.addDest({ service: NAT80, addr: s.ip, port: 8080, fwd: 'nat', weight: 1 });
    r.ctl.addDest({ service: FNAT80, addr: s.ip, port: 80, fwd: 'fullnat', weight: 1 });
    r.ctl.addDest({ service: DR80, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
  }
  r.ctl.addLaddr({ service: FNAT80, addr: LIP });
  for (const s of RS) r.learn(s.ip, s.mac);
  r.dp.resolve(parseIp(CLIENT)); // replies go to the on-link client: its MAC must be known
  r.learn(CLIENT, CLIENT_MAC);
  r.sink.take();
  return r;
}

function rows(r: Rig): string[] {
  return (r.ctl.call('connections', {}) as ConnInfo[])
    .map((c) => `${c.proto} ${c.state} ${c.caddr}:${c.cport} ${c.vaddr}:${c.vport} ${c.daddr}:${c.dport} ${c.laddr}:${c.lport} ${c.fwd}${c.template ? ' tpl' : ''}`)
    .sort();
}

/** Move every pending sync record of `from` into `to` (as the daemons would). */
function sync(from: Rig, to: Rig): number {
  const buf = new Uint8Array(REC_LEN * 256);
  let total = 0;
  for (;;) {
    const n = from.dp.syncDrain(buf, 0, 256);
    if (n === 0) return total;
    to.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
    total += n;
  }
}

const arpWho = (tpa: string) => arpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: CLIENT_MAC }, { op: 1, sha: CLIENT_MAC, spa: CLIENT, tha: '00:00:00:00:00:00', tpa });

/** A master with its sync marks on and a backup: the two ends of most tests here. */
function haPair(m: Rig, b: Rig): [Rig, Rig] {
  b.ctl.call('setRole', { role: 'backup' });
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  return [m, b];
}

test('a backup answers ARP only for its fixed address, forwards nothing, and takes everything over at once as master', () => {
  const r = director(false);
  r.ctl.call('setRole', { role: 'backup' });
  for (const a of [VIP, VIP2, LIP, FLOAT]) assert.deepEqual(r.run(arpWho(a)), [], `no ARP answer for ${a}`);
  assert.equal(r.run(arpWho(DIR_IP)).length, 1, 'the fixed address still answers');
  const syn = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN });
  assert.deepEqual(r.run(syn), []);
  assert.equal(r.counters()['drop.backup'], 1);
  assert.equal(r.dp.ct.count, 0);
  // Adding a VIP while backup announces nothing.
  r.ctl.addService({ proto: 'udp', addr: '10.0.0.103', port: 53 });
  assert.deepEqual(r.sink.take(), []);
  // Takeover: one gratuitous ARP per VIP, LIP and floating address, at once.
  r.ctl.call('setRole', { role: 'master' });
  const garps = r.sink.take();
  // Gratuitous: sender address = target address (bytes 28 and 38 of the frame).
  assert.ok(garps.every((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(28) === f.readUInt32BE(38)));
  const announced = garps.map((f) => `${f[38]}.${f[39]}.${f[40]}.${f[41]}`).sort();
  assert.deepEqual(announced, [FLOAT, LIP, VIP, VIP2, VIP3, '10.0.0.103'].sort());
  assert.equal(r.run(arpWho(VIP)).length, 1);
  assert.equal(r.run(syn).length, 1, 'the master forwards');
  assert.equal(r.counters().role_changes, 2);
  assert.throws(() => r.ctl.call('setRole', { role: 'primary' }), /role must be master or backup, got "primary"/);
});

test('role_changes counts switches, not the role uvsd starts with (role: backup): 0 after the start, 1 after a takeover', async () => {
  const r = director(false);
  const groups = [{ name: 'web', addrs: [parseIp(VIP)] }];
  r.dp.apply(startRoleOps({ role: 'backup', haGroup: groups }));
  assert.equal(r.dp.link.anyMaster, false);
  assert.deepEqual(r.dp.link.groupNames, ['default', 'web']);
  const metric = async () => parseExposition(await createMetrics(r.dp, { process: false }).text()).get('uvs_role_changes_total');
  assert.equal(r.counters().role_changes, 0);
  assert.equal(await metric(), 0);
  r.ctl.call('setRole', { role: 'master' });
  assert.equal(r.counters().role_changes, 1);
  assert.equal(await metric(), 1);
  assert.deepEqual(startRoleOps({ role: 'master' }), [], 'a master starts as a datapath does');
});

test('a takeover\'s gratuitous ARP is sent again 1 s and 5 s later; a master told again announces again; a backup stops the repeats', () => {
  const r = director(false);
  const announced = (): string[] => r.sink.take().filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(28) === f.readUInt32BE(38))
    .map((f) => `${f[38]}.${f[39]}.${f[40]}.${f[41]}`).sort();
  const all = [FLOAT, LIP, VIP, VIP2, VIP3].sort();
  const after = (ms: number): string[] => {
    r.advance(ms);
    r.dp.tick();
    return announced();
  };
  r.ctl.call('setRole', { role: 'backup' });
  r.ctl.call('setRole', { role: 'master' });
  assert.deepEqual(announced(), all, 'at once');
  assert.deepEqual(after(500), []);
  assert.deepEqual(after(500), all, 'again after 1 s');
  assert.deepEqual(after(3000), []);
  assert.deepEqual(after(1000), all, 'again after 5 s');
  assert.deepEqual(after(10_000), [], 'then no more');
  // Already master (keepalived's notify_master after a split brain healed): announced again, no role change.
  r.ctl.call('setRole', { role: 'master' });
  assert.deepEqual(announced(), all);
  assert.deepEqual(after(1000), all);
  assert.equal(r.counters().role_changes, 2);
  // Backup within the repeats: nothing more is announced.
  r.ctl.call('setRole', { role: 'backup' });
  assert.deepEqual(after(5000), []);
  r.ctl.call('setRole', { role: 'backup' });
  assert.deepEqual(after(5000), [], 'a backup told again announces nothing');
});

/** Two directors of a pair on one LAN (their own MACs and fixed addresses; the same VIPs, LIP and floating address); d2 backup. */
function switchPair(): { d1: Rig; d2: Rig } {
  const one = (mac: string, fixed: string): Rig => {
    const r = rig({ addrs: [`${fixed}/24`, `${FLOAT}/24,floating`] });
    r.dp.link.mac.set(parseMac(mac));
    r.ctl.addService({ ...NAT80, sched: 'rr' });
    r.ctl.addService({ ...FNAT80, sched: 'rr' });
    r.ctl.addLaddr({ service: FNAT80, addr: LIP });
    r.sink.take();
    return r;
  };
  const d1 = one(DIR_MAC, DIR_IP);
  const d2 = one('02:00:00:00:0d:02', '10.0.0.3');
  d2.ctl.call('setRole', { role: 'backup' });
  d2.sink.take();
  return { d1, d2 };
}

test('a planned switch whose new master announces first (its gratuitous ARP reaches the old master before that one\'s --role backup) is a takeover, counted arp_takeovers_seen, not a conflict, and not defended, in either order; a master still master 3 s later counts the conflict and defends (a split brain)', async () => {
  // Before: the old master counted 4 conflicts (UvsAddressConflict, critical) and announced every address back.
  const garps = (fs: Buffer[]) => fs.filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(28) === f.readUInt32BE(38));
  const both = (ms: number, d1: Rig, d2: Rig): void => {
    for (const r of [d1, d2]) {
      r.advance(ms);
      r.dp.tick();
    }
  };
  const conflicts = async (r: Rig) => parseExposition(await createMetrics(r.dp, { process: false }).text()).all('uvs_arp_conflicts_total').map((x) => `${x.labels.addr}=${x.value}`).sort();
  for (const order of ['promote-first', 'demote-first'] as const) {
    const { d1, d2 } = switchPair();
    if (order === 'demote-first') d1.ctl.call('setRole', { role: 'backup' });
    d2.ctl.call('setRole', { role: 'master' });
    const sent = garps(d2.sink.take());
    assert.equal(sent.length, 4, 'd2 announces FLOAT, LIP and both VIPs');
    assert.deepEqual(garps(d1.run(...sent)), [], `${order}: d1 does not announce them back`);
    both(50, d1, d2); // keepalived's notify_backup on d1 lands 50 ms later
    d1.ctl.call('setRole', { role: 'backup' });
    for (let t = 0; t < 6; t++) {
      both(1000, d1, d2);
      d1.feed(...garps(d2.sink.take())); // d2's repeats 1 s and 5 s later
    }
    assert.deepEqual(garps(d1.sink.take()), [], order);
    const c = d1.counters();
    assert.deepEqual([c.arp_conflicts ?? 0, c.arp_takeovers_seen ?? 0], [0, order === 'promote-first' ? 4 : 0], order);
    assert.deepEqual(await conflicts(d1), [], order);
    assert.equal(parseExposition(await createMetrics(d1.dp, { process: false }).text()).get('uvs_arp_takeovers_seen_total'), order === 'promote-first' ? 4 : 0);
  }
  // A split brain: d1 stays master. Held for 3 s, then counted (the repeat 1 s later too) and defended.
  const { d1, d2 } = switchPair();
  d2.ctl.call('setRole', { role: 'master' });
  d1.feed(...garps(d2.sink.take()));
  both(1000, d1, d2);
  d1.feed(...garps(d2.sink.take()));
  assert.deepEqual(garps(d1.sink.take()), []);
  both(1900, d1, d2);
  assert.equal(d1.counters().arp_conflicts ?? 0, 0, 'not yet at 2.9 s');
  both(100, d1, d2);
  assert.deepEqual(garps(d1.sink.take()).map((f) => `${f[28]}.${f[29]}.${f[30]}.${f[31]}`).sort(), [FLOAT, LIP, VIP, VIP2].sort(), 'defended at 3 s');
  assert.deepEqual([d1.counters().arp_conflicts, d1.counters().arp_takeovers_seen ?? 0], [8, 0]);
  assert.deepEqual(await conflicts(d1), [`${FLOAT}=2`, `${LIP}=2`, `${VIP}=2`, `${VIP2}=2`].sort());
  // The fixed --addr never moves: another station's gratuitous ARP for it is a conflict at once.
  const other = '02:00:00:00:0d:09';
  d1.run(arpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: other }, { op: 1, sha: other, spa: DIR_IP, tpa: DIR_IP }));
  assert.equal(d1.counters().arp_conflicts, 9);
});

test('--garp-refresh N: a master announces every VIP, LIP and floating address again every N seconds; a backup does not; 0 never', () => {
  const r = director(false);
  const announced = (): number => r.sink.take().filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(28) === f.readUInt32BE(38)).length;
  const after = (ms: number): number => {
    r.advance(ms);
    r.dp.tick();
    return announced();
  };
  r.ctl.setDefense({ ...r.dp.defense, garpRefresh: 30 });
  assert.equal(after(29_000), 0);
  assert.equal(after(1_000), 5, 'after 30 s: the five held addresses');
  assert.equal(after(29_000), 0);
  assert.equal(after(1_000), 5, 'and again 30 s later');
  r.ctl.call('setRole', { role: 'backup' });
  assert.equal(after(60_000), 0, 'a backup announces nothing');
  r.ctl.call('setRole', { role: 'master' });
  assert.equal(announced(), 5, 'the takeover');
  assert.equal(after(1_000) + after(4_000), 10, 'its repeats at 1 s and 5 s');
  assert.equal(after(25_000), 5, '30 s after the takeover, the refresh');
  r.ctl.setDefense({ ...r.dp.defense, garpRefresh: 0 });
  assert.equal(after(120_000), 0, '0: never');
});

test('synced NAT, FULLNAT and DR connections (with templates) are installed exactly (in the servers\' active/inactive counts, not in their Conns), and the backup forwards them after takeover', () => {
  const [m, b] = haPair(director(false), director(true));
  const syn = (dst: string, sport: number) => tcpFrame(IN, { src: CLIENT, dst, sport, dport: 80, flags: TCP_FLAGS.SYN });
  const out = m.run(...[0, 1, 2].flatMap((i) => [syn(VIP, 41000 + i), syn(VIP2, 42000 + i), syn(VIP3, 43000 + i)]));
  assert.equal(out.length, 9);
  // The servers' SYN|ACKs come back through the master for NAT and FULLNAT (state SYN_RECV there).
  const natOut = out.filter((f) => f.readUInt16BE(36) === 8080);
  const fnatOut = out.filter((f) => f.readUInt32BE(26) === parseIp(LIP) >>> 0);
  assert.equal(natOut.length, 3);
  assert.equal(fnatOut.length, 3);
  const synack = (f: Buffer) => tcpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, {
    src: `${f[30]}.${f[31]}.${f[32]}.${f[33]}`, dst: `${f[26]}.${f[27]}.${f[28]}.${f[29]}`,
    sport: f.readUInt16BE(36), dport: f.readUInt16BE(34), flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK,
  });
  const replies = [...natOut, ...fnatOut].map(synack);
  const masterReplies = m.run(...replies);
  assert.equal(masterReplies.length, 6, JSON.stringify(m.counters()) + replies.map((f) => decode(f)).join('\n'));
  const n = sync(m, b);
  assert.equal(n, 10, "records sent: 9 connections and the one template of the DR client"); // marked once each however often they changed
  assert.deepEqual(rows(b), rows(m), 'the backup holds the same connections, templates and translations');
  assert.equal(b.dp.laddrs.inUse(parseIp(LIP)), 3, 'the FULLNAT local ports are reserved on the backup');
  assert.equal(b.counters().sync_refused ?? 0, 0);
  // Server counters on the backup follow (same per address, though the slots differ).
  const conns = (r: Rig) => (r.ctl.call('list', {}) as { services: { dests: { addr: string; inactive: number }[] }[] }).services
    .flatMap((s) => s.dests.map((d) => `${d.addr}=${d.inactive}`)).sort();
  assert.deepEqual(conns(b), conns(m));
  // ... but not Conns: the connections were scheduled on the master (ip_vs_conn_stats), the
  // backup only binds them (ip_vs_bind_dest); summed over both directors each counts once.
  const scheduled = (r: Rig) => (r.ctl.call('list', {}) as { services: { stats: { conns: number } }[] }).services.reduce((t, s) => t + s.stats.conns, 0);
  assert.equal(scheduled(m), 9);
  assert.equal(scheduled(b), 0, 'synced connections are not in the backup\'s Conns');

  // Takeover: the backup now answers the servers' replies exactly as the master did.
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  const backupReplies = b.run(...replies);
  assert.deepEqual(backupReplies.map((f) => decode(f)), masterReplies.map((f) => decode(f)));
  // A template the backup learnt keeps the client on the same DR server for a new connection.
  const drFirst = out.find((f) => f.readUInt32BE(30) === parseIp(VIP3) >>> 0)!;
  const next = b.run(syn(VIP3, 43999));
  assert.equal(next.length, 1);
  assert.equal(next[0]!.subarray(0, 6).toString('hex'), drFirst.subarray(0, 6).toString('hex'), 'same DR server through the synced template');
});

test('expiries reach the backup; a record for an unknown service is refused and counted', () => {
  const [m, b] = haPair(director(false), director(false));
  m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 45000, dport: 80, flags: TCP_FLAGS.SYN }));
  sync(m, b);
  assert.equal(b.dp.ct.count, 1);
  m.advance(61_000); // SYN_RECV: 60 s
  m.dp.tick();
  assert.equal(m.dp.ct.count, 0);
  sync(m, b);
  assert.equal(b.dp.ct.count, 0, 'the expire record removed it');
  assert.ok(b.counters().sync_expired >= 1);
  // A service the backup lacks: refused, nothing installed.
  m.ctl.addService({ proto: 'tcp', addr: '10.0.0.110', port: 80, sched: 'rr' });
  m.ctl.addDest({ service: { proto: 'tcp', addr: '10.0.0.110', port: 80 }, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  m.run(tcpFrame(IN, { src: CLIENT, dst: '10.0.0.110', sport: 45001, dport: 80, flags: TCP_FLAGS.SYN }));
  sync(m, b);
  assert.equal(b.dp.ct.count, 0);
  assert.equal(b.counters().sync_refused, 1);
});

test('a connection busy for less than half its timeout after its last record, then idle, is on the backup as long as on the master (a synced connection has 1.5 times its state\'s timeout there) and forwarded after a takeover; the master\'s expiry still removes it at once (until 2026-12-07 the backup\'s copy went at 900 s, the master\'s at 1,340 s)', () => {
  const DR81 = { proto: 'tcp' as const, addr: '10.0.0.103', port: 80 };
  const [m, b] = haPair(director(false), director(false));
  for (const r of [m, b]) {
    r.ctl.addService({ ...DR81, sched: 'rr' });
    r.ctl.addDest({ service: DR81, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  }
  const seg = (flags: number) => tcpFrame(IN, { src: CLIENT, dst: DR81.addr, sport: 47000, dport: 80, flags });
  const both = (ms: number) => {
    for (const r of [m, b]) {
      r.advance(ms);
      r.dp.tick();
      for (const s of RS) r.learn(s.ip, s.mac); // the servers answer uvsd's re-probes
      r.sink.take();
    }
    sync(m, b);
  };
  m.run(seg(TCP_FLAGS.SYN));
  m.run(seg(TCP_FLAGS.ACK)); // ESTABLISHED (900 s): synced now
  sync(m, b);
  // Traffic for 440 s (never half the timeout after that record: not sent again), then quiet.
  for (let t = 10; t <= 440; t += 10) {
    both(10_000);
    m.run(seg(TCP_FLAGS.ACK));
  }
  const held = (r: Rig) => r.ctl.connections().filter((c) => c.vaddr === DR81.addr).length;
  both(898_000); // 1,338 s after the record, 898 s after the last packet
  assert.equal(held(m), 1, 'the master still has it');
  assert.equal(held(b), 1, 'so does the backup');
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  assert.equal(b.run(seg(TCP_FLAGS.ACK)).length, 1, 'the new master forwards the client\'s next segment');
  b.ctl.call('setRole', { role: 'backup' });
  both(3_000); // the master's entry expires (it had no packet since 440 s): its expiry reaches the backup
  assert.equal(held(m), 0);
  assert.equal(held(b), 0, 'removed by the master\'s expiry record, not left for another half timeout');
});

test('a synced record wins over an entry of the same client that goes elsewhere (another server, another FULLNAT local port) and over a stale entry holding its local port, as the kernel\'s ip_vs_proc_conn', () => {
  const m = director(false);
  const b = director(true); // rr over the servers in the other order: b picks other servers than m
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  const syn = (dst: string, sport: number) => tcpFrame(IN, { src: CLIENT, dst, sport, dport: 80, flags: TCP_FLAGS.SYN });
  // b, master for a while (a split brain): its own entries. Its first FULLNAT connection (47100)
  // takes the local port m gives 47000 later; b's own 47000 ones go to other servers, and the
  // FULLNAT one has b's second port.
  assert.equal(b.run(syn(VIP2, 47100), syn(VIP, 47000), syn(VIP2, 47000)).length, 3);
  assert.equal(m.run(syn(VIP, 47000), syn(VIP2, 47000)).length, 2);
  const mine = rows(b);
  b.ctl.call('setRole', { role: 'backup' });
  sync(m, b);
  assert.deepEqual(rows(b), rows(m), `the master's connections replace b's: before ${mine.join(' | ')}`);
  assert.equal(b.dp.laddrs.inUse(parseIp(LIP)), 1, 'b\'s local ports went back with its entries; the master\'s is reserved');
  const counts = (r: Rig) => (r.ctl.call('list', {}) as { services: { dests: { addr: string; active: number; inactive: number }[] }[] }).services
    .flatMap((s) => s.dests.map((d) => `${d.addr}=${d.active}/${d.inactive}`)).sort();
  assert.deepEqual(counts(b), counts(m), 'the servers\' active/inactive counts follow');
  assert.equal(b.counters().sync_refused ?? 0, 0);
  // An update naming the same server and port is still an update (state and timer).
  m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 47000, dport: 80, flags: TCP_FLAGS.RST }));
  sync(m, b);
  assert.deepEqual(rows(b), rows(m));
});

// Sync datagrams reordered on the way (each group of records drained every 50 ms goes out as its
// own datagram; a late one inside the anti-replay window is taken once): the handshake's record
// (SYN_RECV) arriving after the one of the completed connection (ESTABLISHED) put the backup's
// copy back to SYN_RECV with 60 s, gone long before the master sent it again (7.5 min), so a
// takeover after that reset the connection.
test('a late sync record of a connection\'s handshake (datagrams reordered) leaves the backup\'s ESTABLISHED copy as it is, and the backup forwards it after a takeover', () => {
  const [m, b] = haPair(director(false), director(true));
  const drain = (): Uint8Array => {
    const buf = new Uint8Array(REC_LEN * 64);
    return buf.slice(0, m.dp.syncDrain(buf, 0, 64) * REC_LEN);
  };
  const seg = (flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 41500, dport: 80, flags });
  const [toServer] = m.run(seg(TCP_FLAGS.SYN));
  assert.ok(toServer);
  const rip = `${toServer[30]}.${toServer[31]}.${toServer[32]}.${toServer[33]}`;
  const mac = RS.find((s) => s.ip === rip)!.mac;
  assert.equal(m.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: mac }, { src: rip, dst: CLIENT, sport: 8080, dport: 41500, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK })).length, 1);
  const handshake = drain();
  assert.equal(m.run(seg(TCP_FLAGS.ACK)).length, 1);
  const established = drain();
  assert.equal(handshake.length, REC_LEN);
  assert.equal(established.length, REC_LEN);
  const mine = (r: Rig) => (r.ctl.call('connections', {}) as ConnInfo[]).filter((c) => c.cport === 41500);
  assert.equal(mine(m)[0]?.state, 'ESTABLISHED');
  b.dp.apply([{ op: 'syncInstall', records: established }]);
  b.dp.apply([{ op: 'syncInstall', records: handshake }]); // the late one
  assert.deepEqual(rows(b), rows(m), 'the backup\'s copy stays ESTABLISHED');
  assert.ok(mine(b)[0]!.expires > 60, `its ESTABLISHED timer, not SYN_RECV's 60 s: ${mine(b)[0]!.expires}`);
  const counts = (r: Rig) => (r.ctl.call('list', {}) as { services: { dests: { addr: string; active: number; inactive: number }[] }[] }).services
    .flatMap((s) => s.dests.map((d) => `${d.addr}=${d.active}/${d.inactive}`)).sort();
  assert.deepEqual(counts(b), counts(m));
  // 61 s later (past SYN_RECV's 60 s), a takeover: the client's next segment reaches its server.
  b.advance(61_000);
  b.dp.tick();
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  // (An ARP request may go along: the server's MAC was confirmed over a minute ago.)
  const next = b.run(seg(TCP_FLAGS.ACK | TCP_FLAGS.PSH)).filter((f) => f.readUInt16BE(12) === 0x0800);
  assert.equal(next.length, 1, JSON.stringify(b.counters()));
  assert.equal(next[0]!.readUInt32BE(30), parseIp(rip) >>> 0, 'to the connection\'s server');
});

test('a template the master keeps past its -p for a live connection has 60 s from then on (expire_later) and is synced so: the backup\'s copy has 1.5 times that (90 s), as every synced entry', () => {
  const [m, b] = haPair(director(false), director(false));
  const seg = (flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP3, sport: 44000, dport: 80, flags });
  m.run(seg(TCP_FLAGS.SYN), seg(TCP_FLAGS.ACK)); // ESTABLISHED (DR: 15 minutes), through a -p 300 template
  sync(m, b);
  const tpl = (r: Rig): ConnInfo => (r.ctl.call('connections', {}) as ConnInfo[]).find((c) => c.template === true && c.vaddr === VIP3)!;
  assert.ok(tpl(b).expires > 290, `the backup's copy: ${tpl(b).expires} s`);
  for (const r of [m, b]) {
    r.advance(301_000);
    r.dp.tick();
  }
  sync(m, b);
  assert.ok(tpl(m).expires <= 60, `the master's: ${tpl(m).expires} s`);
  assert.ok(tpl(b).expires <= 90, `the backup's copy: ${tpl(b).expires} s (the master's ${tpl(m).expires} s)`);
});

test('a persistence template used by new connections for less than half its -p after its last record, then idle, is on the backup as long as on the master (1.5 times its timeout there): a takeover keeps the client on its server (until 2026-12-07 the backup\'s copy went one -p after the record, the master\'s up to half a -p later)', () => {
  const [m, b] = haPair(director(false), director(false));
  const seg = (sport: number, flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP3, sport, dport: 80, flags });
  const both = (ms: number) => {
    for (const r of [m, b]) {
      r.advance(ms);
      r.dp.tick();
      for (const s of RS) r.learn(s.ip, s.mac);
      r.sink.take();
    }
    sync(m, b);
  };
  // A connection every 10 s for 140 s (SYN then RST: its template refreshed, -p 300), then none.
  for (let t = 0; t <= 140; t += 10) {
    m.run(seg(45000 + t, TCP_FLAGS.SYN), seg(45000 + t, TCP_FLAGS.RST));
    sync(m, b);
    both(10_000);
  }
  both(270_000); // 420 s after the first record, 270 s after the last connection
  const tpl = (r: Rig) => r.ctl.connections().filter((c) => c.template === true && c.vaddr === VIP3);
  assert.equal(tpl(m).length, 1, 'the master still has the template');
  assert.equal(tpl(b).length, 1, 'so does the backup');
  assert.equal(tpl(b)[0]!.daddr, tpl(m)[0]!.daddr, 'pointing at the same server');
});

test('a template synced to a backup whose service is not persistent yet (between the two directors\' reloads that make it so) keeps the master\'s timeout (until 2026-12-07 a tick, then 60 s: a takeover lost the client\'s server)', () => {
  const [m, b] = haPair(director(false), director(false));
  b.ctl.editService({ ...DR80, sched: 'rr', persist: 0 });
  const seg = (flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP3, sport: 44100, dport: 80, flags });
  m.run(seg(TCP_FLAGS.SYN), seg(TCP_FLAGS.ACK));
  sync(m, b);
  const tpl = (r: Rig): ConnInfo => (r.ctl.call('connections', {}) as ConnInfo[]).find((c) => c.template === true && c.vaddr === VIP3)!;
  assert.ok(tpl(b).expires > 290, `the backup's copy: ${tpl(b).expires} s (the master's ${tpl(m).expires} s)`);
  b.ctl.editService({ ...DR80, sched: 'rr', persist: 300 }); // its reload
  assert.ok(tpl(b).expires > 290, `after the backup's reload: ${tpl(b).expires} s`);
});

test('a persistent FTP service\'s template (virtual port 0) and its DR data connection are synced: the backup holds them as the master and, after a takeover, sends the client\'s next data connection to the same server', () => {
  const FTP = { proto: 'tcp' as const, addr: VIP3, port: 21 };
  const ftpDr = (reverse: boolean): Rig => {
    const r = rig({ addrs: [`${DIR_IP}/24`], connMax: 4096 });
    r.ctl.addService({ ...FTP, sched: 'rr', persist: 300 });
    for (const x of reverse ? [...RS].reverse() : RS) r.ctl.addDest({ service: FTP, addr: x.ip, port: 21, fwd: 'dr', weight: 1 });
    for (const x of RS) r.learn(x.ip, x.mac);
    r.sink.take();
    return r;
  };
  const [m, b] = haPair(ftpDr(false), ftpDr(true));
  const syn = (r: Rig, sport: number, dport: number): string => {
    const out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP3, sport, dport, flags: TCP_FLAGS.SYN }));
    return out.length === 1 ? out[0]!.subarray(0, 6).toString('hex') : 'none';
  };
  const server = syn(m, 47000, 21);
  assert.equal(syn(m, 47001, 40000), server, 'the passive data connection on the master');
  sync(m, b);
  assert.equal(b.counters().sync_refused ?? 0, 0);
  assert.deepEqual(rows(b), rows(m), 'the same template (VIP:0 -> RIP:0) and connections');
  assert.ok(rows(b).some((x) => x.includes(`${VIP3}:0 `) && x.endsWith(' tpl')), rows(b).join('\n'));
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  assert.equal(syn(b, 47002, 40001), server, 'the next data connection through the synced template');
});

test('a synced template whose server never comes is counted sync_unbound_expired when a new connection of its client replaces it (as its connections are)', () => {
  const [m, b] = haPair(director(false), director(false));
  const syn = (sport: number) => tcpFrame(IN, { src: CLIENT, dst: VIP3, sport, dport: 80, flags: TCP_FLAGS.SYN });
  const first = m.run(syn(49000));
  const mac = first[0]!.subarray(0, 6).toString('hex').replace(/(..)(?!$)/g, '$1:');
  const server = RS.find((s) => s.mac === mac)!.ip;
  b.ctl.deleteDest({ service: DR80, addr: server, port: 80 });
  sync(m, b);
  assert.equal(b.counters().sync_unbound, 2, 'the connection and its template');
  b.ctl.call('setRole', { role: 'master' });
  const next = b.run(syn(49001)).filter((f) => f.readUInt16BE(12) === 0x0800);
  assert.equal(next.length, 1, 'the new connection goes to a server this director has');
  assert.notEqual(next[0]!.subarray(0, 6).toString('hex').replace(/(..)(?!$)/g, '$1:'), mac);
  assert.equal(b.counters().sync_unbound_expired, 1, 'the template replaced is counted');
});

test('a synced connection or template whose server the backup lacks is installed unbound (in -Lnc, in no server\'s counts, expiring on its timer), bound when the server has come (by a later record or its next packet), and expired at a packet while it still has not', () => {
  const [m, b] = haPair(director(false), director(false));
  const from = (sport: number, flags: number, dst = VIP) => tcpFrame(IN, { src: CLIENT, dst, sport, dport: 80, flags });
  // Three NAT connections (rr: one per server), ESTABLISHED on the master.
  const syns = m.run(from(48000, TCP_FLAGS.SYN), from(48001, TCP_FLAGS.SYN), from(48002, TCP_FLAGS.SYN));
  const server = syns.map((f) => `${f[30]}.${f[31]}.${f[32]}.${f[33]}`);
  assert.equal(new Set(server).size, 3, 'each connection to another server');
  m.run(...syns.map((f) => tcpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, {
    src: `${f[30]}.${f[31]}.${f[32]}.${f[33]}`, dst: CLIENT, sport: 8080, dport: f.readUInt16BE(34), flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK,
  })));
  m.run(from(48000, TCP_FLAGS.ACK), from(48001, TCP_FLAGS.ACK), from(48002, TCP_FLAGS.ACK));
  // A DR connection through a persistence template, and a NAT one left half-open (expires in 60 s).
  const dr = m.run(from(48100, TCP_FLAGS.SYN, VIP3), from(48003, TCP_FLAGS.SYN));
  const drServer = RS.find((s) => s.mac === dr[0]!.subarray(0, 6).toString('hex').replace(/(..)(?!$)/g, '$1:'))!.ip;
  // The backup lacks every NAT server and the DR one (keepalived has not added them yet).
  for (const ip of server) b.ctl.deleteDest({ service: NAT80, addr: ip, port: 8080 });
  b.ctl.deleteDest({ service: DR80, addr: drServer, port: 80 });
  sync(m, b);
  assert.deepEqual(rows(b), rows(m), 'every connection and the template installed, with its real server');
  assert.equal(b.counters().sync_refused ?? 0, 0, 'none refused');
  assert.equal(b.counters().sync_unbound, 6, '4 NAT connections, the DR one and its template');
  const counts = () => b.ctl.list().services.flatMap((s) => s.dests.map((d) => d.active + d.inactive + d.persistConns)).reduce((x, y) => x + y, 0);
  assert.equal(counts(), 0, 'unbound: in no server\'s counts');
  b.advance(91_000); // a synced connection has 1.5 times its state's timeout on the backup
  b.dp.tick();
  assert.equal(b.dp.ct.count, 4, 'the half-open ones (NAT, DR: SYN_RECV, 60 s, 90 s here) expired on their timers');

  // keepalived catches up with two of the NAT servers and the DR one.
  const nat = (ip: string) => ({ service: NAT80, addr: ip, port: 8080, fwd: 'nat' as const, weight: 1 });
  b.ctl.addDest(nat(server[0]!));
  b.ctl.addDest(nat(server[2]!));
  b.ctl.addDest({ service: DR80, addr: drServer, port: 80, fwd: 'dr', weight: 1 });
  // Their neighbour entries went with them a minute ago (unpinned, unused 60 s), and so did the
  // client's: they answer the probes.
  for (const ip of [server[0]!, server[2]!, drServer]) b.learn(ip, RS.find((s) => s.ip === ip)!.mac);
  b.dp.resolve(parseIp(CLIENT));
  b.learn(CLIENT, CLIENT_MAC);
  // The master's next record of the third connection binds it (the kernel's ip_vs_try_bind_dest).
  m.run(from(48002, TCP_FLAGS.FIN | TCP_FLAGS.ACK));
  sync(m, b);
  assert.equal(b.counters().sync_bound, 1);
  const dest = (ip: string) => b.ctl.list().services[0]!.dests.find((d) => d.addr === ip)!;
  assert.equal(dest(server[2]!).active + dest(server[2]!).inactive, 1, 'bound: in its server\'s counts');
  assert.equal(dest(server[0]!).active, 0, 'the first one waits for its next record or packet');

  // Takeover: the first connection's next segment binds it and goes to its server; the second's
  // server is still missing: expired (as a deleted server's connection), the client reset.
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  const ip4 = (out: Buffer[]) => out.filter((f) => f.readUInt16BE(12) === 0x0800); // not the ARP probes of the servers' aged entries
  const fwd = ip4(b.run(from(48000, TCP_FLAGS.ACK | TCP_FLAGS.PSH)));
  assert.equal(fwd.length, 1);
  assert.equal(decode(fwd[0]!).includes(`${server[0]}`), true, decode(fwd[0]!));
  assert.equal(dest(server[0]!).active, 1, 'bound at its packet: active on its server');
  assert.equal(b.counters().sync_bound, 2);
  const rst = ip4(b.run(from(48001, TCP_FLAGS.ACK | TCP_FLAGS.PSH)));
  assert.equal(b.counters().sync_unbound_expired, 1);
  assert.equal(b.counters().tcp_rst_sent, 1, decode(rst[0]!));
  // A new connection of the DR client goes to its server through the synced template, bound now.
  const next = ip4(b.run(from(48101, TCP_FLAGS.SYN, VIP3)));
  assert.equal(next[0]!.subarray(0, 6).toString('hex'), dr[0]!.subarray(0, 6).toString('hex'), 'same DR server through the template');
  assert.equal(b.counters().sync_bound, 3);
  assert.equal(b.ctl.list().services[2]!.dests.find((d) => d.addr === drServer)!.persistConns, 1);
  // Everything expires on its timer; no count goes below zero.
  b.advance(16 * 60_000);
  b.dp.tick();
  assert.equal(b.dp.ct.count, 0);
  assert.equal(counts(), 0);
});

test('sync datagrams: a wrong key or a changed byte fails authentication', () => {
  const key = Buffer.from('0123456789abcdef-key');
  const buf = Buffer.alloc(2048);
  buf.fill(7, HDR_LEN, HDR_LEN + 2 * REC_LEN);
  const len = seal(buf, MSG_DATA, 2, 5, 0xdeadbeef, 42, key);
  const msg = buf.subarray(0, len);
  const ok = open(msg, key);
  assert.ok(typeof ok === 'object');
  assert.deepEqual([ok.type, ok.count, ok.syncid, ok.sender, ok.seq, ok.records.length], [MSG_DATA, 2, 5, 0xdeadbeef, 42, 2 * REC_LEN]);
  assert.equal(open(msg, Buffer.from('another-key-of-16+bytes')), 'auth');
  const tampered = Buffer.from(msg);
  tampered[HDR_LEN + 5] ^= 1;
  assert.equal(open(tampered, key), 'auth');
  assert.equal(open(msg.subarray(0, 20), key), 'malformed');
});

/** A datagram buffer holding one connection record at HDR_LEN, as a master's drain fills it. */
function masterRecord(sport = 46000): Buffer {
  const m = director(false);
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN }));
  const dg = Buffer.alloc(1472);
  assert.equal(m.dp.syncDrain(dg, HDR_LEN, 30), 1);
  return dg;
}

const PAIR_KEY = 'shared-secret-of-the-pair';

interface SyncLab {
  /** A director in the backup role. */
  b: Rig;
  /** Its sync port (start its daemons there, with syncPeer 127.0.0.1). */
  port: number;
  dir: string;
  /** The key file written for each name given. */
  keyFile: Record<string, string>;
  /** Seal dg's one record as data (a dump request: in a buffer of its own) from `sender` (77) with key (and header flags) and send it to b. */
  send: (dg: Buffer, type: number, syncid: number, seq: number, key: string, sender?: number, flags?: number) => Promise<void>;
}

/** Run body against a backup director with key files of the given secrets; its daemons, socket and files are gone after. */
async function withSyncLab(secrets: Record<string, string>, body: (l: SyncLab) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-ha-'));
  const keyFile: Record<string, string> = {};
  for (const [name, secret] of Object.entries(secrets)) {
    keyFile[name] = join(dir, name);
    writeFileSync(keyFile[name]!, `${secret}\n`, { mode: 0o600 });
  }
  const b = director(false);
  b.ctl.call('setRole', { role: 'backup' });
  const port = 20000 + Math.floor(Math.random() * 20000);
  const sock = dgram.createSocket('udp4');
  const send = (dg: Buffer, type: number, syncid: number, seq: number, key: string, sender = 77, flags = 0): Promise<void> => {
    if (type !== MSG_DATA) dg = Buffer.alloc(HDR_LEN + MAC_LEN);
    const len = seal(dg, type, type === MSG_DATA ? 1 : 0, syncid, sender, seq, Buffer.from(key), flags);
    return new Promise<void>((res) => sock.send(dg.subarray(0, len), port, '127.0.0.1', () => res()));
  };
  try {
    await body({ b, port, dir, keyFile, send });
  } finally {
    sock.close();
    b.ctl.sync.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
}

test('a backup sync daemon counts a forged datagram and installs nothing; a real one is installed and gaps are counted', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, dir, keyFile: { key: keyFile }, send: sendSealed }) => {
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  // libipvs's words (ipvs_strerror), printed alone by uvsadm as by ipvsadm.
  assert.throws(() => b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port }), (e: UvsError) =>
    e.message === 'Daemon has already run: backup' && refusalLine(e.code, e.text, e.detail) === 'Daemon has already run');
  assert.throws(() => b.ctl.call('startDaemon', { state: 'master', keyFile: join(dir, 'nope') }), /sync-key-file .*nope: ENOENT/);
  const dg = masterRecord();
  const send = (key: string, seq: number) => sendSealed(dg, MSG_DATA, 3, seq, key);
  const warnings: string[] = [];
  const fields: unknown[] = [];
  b.ctl.sync.setLog((msg, extra) => (warnings.push(msg), fields.push(extra)));
  await send('forged-by-someone-else', 1);
  await until(() => b.ctl.sync.stats.authFailed > 0);
  assert.equal(b.ctl.sync.stats.authFailed, 1);
  for (let i = 0; i < 5; i++) await send('forged-by-someone-else', 1);
  await until(() => b.ctl.sync.stats.authFailed >= 6);
  assert.deepEqual(warnings, ['sync message refused: bad HMAC (forged or another key)'], 'six forged datagrams: counted each, said once a minute');
  assert.deepEqual(fields, [{ from: '127.0.0.1', authFailed: 1 }], 'the line has the count so far (auth_failed), as other_syncid\'s has its');
  assert.equal(b.dp.ct.count, 0, 'nothing installed from the forged message');
  await send(PAIR_KEY, 1);
  await send(PAIR_KEY, 4); // 2 and 3 missing
  await until(() => b.ctl.sync.stats.received >= 2);
  assert.equal(b.dp.ct.count, 1);
  assert.equal(b.ctl.sync.stats.lost, 2);
  const d = b.ctl.call('daemon', {}) as { role: string; daemons: { state: string; syncid: number; peer?: string }[] };
  assert.equal(d.role, 'backup');
  assert.deepEqual(d.daemons.map((x) => [x.state, x.syncid, x.peer]), [['backup', 3, '127.0.0.1']]);
  // -L --daemon: ipvsadm's line, uvs's fields after ipvsadm's, then the role and the counters.
  assert.match(formatDaemon(b.ctl.call('daemon', {}) as DaemonResult),
    new RegExp(`^backup sync daemon \\(mcast=\\S*, syncid=3, maxlen=1472, group=224\\.0\\.0\\.81, port=${port}, ttl=1, peer=127\\.0\\.0\\.1, auth=hmac-sha256\\)\nrole backup \\(sync sent=\\d+ received=2 lost=2 auth_failed=6 other_syncid=0 from_master=0 replayed=0 old=0\\)\n$`));
  b.ctl.call('stopDaemon', { state: 'backup' });
  assert.throws(() => b.ctl.call('stopDaemon', { state: 'backup' }), (e: UvsError) =>
    e.message === 'No daemon is running: backup' && refusalLine(e.code, e.text, e.detail) === 'No daemon is running');
}));

test('a sync key file is read only when it is a small regular file no other user could have set: a FIFO, a device, a file another user owns or may write, or one in a directory others may change is refused at once, unread (before: a FIFO held the event loop until written to, and the others were taken)', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, dir, keyFile: { key: keyFile } }) => {
  const start = (path: string): unknown => b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile: path, port });
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  // Someone writes a key into the FIFO 1.5 s later: read with readFileSync, the call waited for it.
  const writer = spawn('sh', ['-c', `sleep 1.5; printf '%s' '${PAIR_KEY}' > '${fifo}'`], { stdio: 'ignore', detached: true });
  try {
    const t0 = performance.now();
    assert.throws(() => start(fifo), /^Error: .*sync-key-file .*fifo: is a FIFO, not a regular file: not read$/);
    assert.ok(performance.now() - t0 < 1000, `refused at once (${Math.round(performance.now() - t0)} ms)`);
  } finally {
    try {
      process.kill(-writer.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  assert.throws(() => start('/dev/zero'), /sync-key-file \/dev\/zero: is a character device, not a regular file: not read/);
  const big = join(dir, 'big');
  writeFileSync(big, 'k'.repeat(SYNC_KEY_MAX + 1), { mode: 0o600 });
  assert.throws(() => start(big), new RegExp(`holds ${SYNC_KEY_MAX + 1} bytes, more than the ${SYNC_KEY_MAX} such a file may: not read`));
  const open = join(dir, 'open');
  writeFileSync(open, PAIR_KEY);
  chmodSync(open, 0o662);
  assert.throws(() => start(open), /sync-key-file .*open: writable by group or others \(mode 0662\): another user could set the key/);
  if (process.getuid?.() === 0) {
    const theirs = join(dir, 'theirs');
    writeFileSync(theirs, PAIR_KEY, { mode: 0o600 });
    chownSync(theirs, 65534, 65534);
    assert.throws(() => start(theirs), /sync-key-file .*theirs: owned by uid 65534 \(not root\)/);
    const shared = join(dir, 'shared');
    mkdirSync(shared, { mode: 0o700 });
    chmodSync(shared, 0o777);
    writeFileSync(join(shared, 'key'), PAIR_KEY, { mode: 0o600 });
    assert.throws(() => start(join(shared, 'key')), /sync-key-file .*shared\/key: directory .*shared is writable by group or others \(mode 0777, not sticky\): another user could replace the key/);
  }
  assert.equal(b.ctl.sync.info().length, 0, 'no daemon started');
  const warnings: string[] = [];
  b.ctl.sync.setLog((msg) => warnings.push(msg));
  await start(keyFile); // the lab's own 0600 file in its 0700 directory
  assert.equal(b.ctl.sync.info().length, 1);
  assert.deepEqual(warnings, [], 'a 0600 key: nothing to say');
}));

test('a sync key file others may read is taken, and the daemon\'s start warns that a local user who reads it can forge sync messages (before: taken without a word)', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile } }) => {
  const warnings: string[] = [];
  b.ctl.sync.setLog((msg) => warnings.push(msg));
  chmodSync(keyFile, 0o644);
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  assert.equal(b.ctl.sync.info().length, 1, 'started');
  assert.deepEqual(warnings, [`sync-key-file ${keyFile} is readable by group or others (mode 0644): a local user who reads it can forge sync messages; chmod 600 it`]);
  assert.ok(!('keyMode' in b.ctl.sync.info()[0]!), 'not in -L --daemon');
}));

test('the unicast sync socket (--sync-peer) is uvsd\'s alone: another user\'s bind of its port fails, with SO_REUSEADDR too, and the datagrams still reach uvsd (before: user nobody bound it with SO_REUSEADDR and took them)', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const bind = (address: string) => `new Promise((ok) => { const s = dgram.createSocket({ type: 'udp4', reuseAddr: true }); s.on('error', (e) => ok(e.code)); s.bind(${port}, '${address}', () => ok('bound')); })`;
  const script = `const dgram = require('node:dgram'); Promise.all([${bind('0.0.0.0')}, ${bind('127.0.0.1')}]).then((r) => { console.log(r.join(' ')); process.exit(0); });`;
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', ...asNobody }).trim(), 'EADDRINUSE EADDRINUSE');
  await send(masterRecord(), MSG_DATA, 3, 1, PAIR_KEY);
  await until(() => b.ctl.sync.stats.received > 0);
  assert.equal(b.ctl.sync.stats.received, 1);
}));

test('the local master daemon\'s key opens dump requests only: data sealed with it is refused by a backup daemon with another key', () => {
  // The user's case: the backup daemon started with a wrong --sync-key-file, the master daemon and
  // the peer with the right one; the peer's data must not be installed.
  const A = 'the-backup-daemons-own-key';
  const B = 'the-master-daemons-other-key';
  return withSyncLab({ a: A, b: B }, async ({ b, port, keyFile, send }) => {
    await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile: keyFile.a, port });
    await b.ctl.call('startDaemon', { state: 'master', syncid: 3, syncPeer: '127.0.0.1', keyFile: keyFile.b, port });
    const st = b.ctl.sync.stats;
    const dg = masterRecord();
    await send(dg, MSG_DATA, 3, 1, B);
    await until(() => st.authFailed > 0);
    assert.equal(st.authFailed, 1, 'data under the master\'s key is refused');
    assert.equal(st.received, 0);
    assert.equal(b.dp.ct.count, 0, 'nothing installed');
    await send(dg, MSG_DUMP_REQUEST, 3, 2, B);
    await until(() => st.received > 0);
    assert.deepEqual([st.received, st.authFailed], [1, 1], 'a dump request under the master\'s key is taken');
    await send(dg, MSG_DATA, 3, 3, A);
    await until(() => st.received > 1);
    assert.deepEqual([st.received, st.authFailed, b.dp.ct.count], [2, 1, 1], 'data under the backup\'s key is installed');
    // As master, the dump request starts a dump.
    b.ctl.call('setRole', { role: 'master' });
    await send(dg, MSG_DUMP_REQUEST, 3, 4, B);
    await until(() => st.dumps > 0);
    assert.deepEqual([st.dumps, st.authFailed], [1, 1]);
  });
});

test('a datagram for another syncid is counted other_syncid, not received (-L --daemon, /metrics), and warned about naming both syncids and the sender, once a minute per daemon; a backup with syncid 0 takes every syncid', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  const st = b.ctl.sync.stats;
  const warnings: string[] = [];
  b.ctl.sync.setLog((msg) => warnings.push(msg));
  const metric = async () => parseExposition(await createMetrics(b.dp, { process: false, sync: st }).text()).get('uvs_sync_messages_other_syncid_total');
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  await b.ctl.call('startDaemon', { state: 'master', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const dg = masterRecord();
  await send(dg, MSG_DATA, 4, 1, PAIR_KEY);
  await send(dg, MSG_DUMP_REQUEST, 5, 2, PAIR_KEY);
  await until(() => st.otherSyncid >= 2);
  assert.deepEqual([st.otherSyncid, st.received, st.lost, b.dp.ct.count], [2, 0, 0, 0], 'ignored, counted apart, nothing installed');
  assert.deepEqual(warnings, [
    'sync data from 127.0.0.1 for syncid 4 ignored: this director\'s backup daemon has syncid 3',
    'sync a dump request from 127.0.0.1 for syncid 5 ignored: this director\'s master daemon has syncid 3',
  ]);
  await send(dg, MSG_DATA, 4, 3, PAIR_KEY);
  await until(() => st.otherSyncid >= 3);
  assert.equal(warnings.length, 2, 'not again within the minute');
  assert.match(formatDaemon(b.ctl.call('daemon', {}) as DaemonResult), /^role backup \(sync sent=\d+ received=0 lost=0 auth_failed=0 other_syncid=3 from_master=0 replayed=0 old=0\)$/m);
  assert.equal(await metric(), 3);
  await send(dg, MSG_DATA, 3, 4, PAIR_KEY);
  await until(() => st.received > 0);
  assert.deepEqual([st.otherSyncid, st.received, st.lost, b.dp.ct.count], [3, 1, 0, 1], 'its own syncid is installed');
  // ipvsadm: a backup with syncid 0 takes any master's syncid.
  b.ctl.call('stopDaemon', { state: 'backup' });
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 0, syncPeer: '127.0.0.1', keyFile, port });
  await send(masterRecord(46001), MSG_DATA, 7, 5, PAIR_KEY);
  await until(() => b.dp.ct.count > 1);
  assert.deepEqual([st.otherSyncid, b.dp.ct.count], [3, 2]);
}));

/** The sync datagrams b's daemon sends from now on (its socket's send, opened with key), each as `get` takes it. */
function sentBy<T>(b: Rig, key: string, get: (r: Opened) => T): T[] {
  const got: T[] = [];
  const sock = (b.ctl.sync as unknown as { sock: dgram.Socket }).sock;
  const send = sock.send.bind(sock) as (msg: Buffer, port: number, addr: string) => void;
  (sock as unknown as { send: typeof send }).send = (msg, port, addr) => {
    const r = open(msg, Buffer.from(key));
    if (typeof r === 'object') got.push(get(r));
    send(msg, port, addr);
  };
  return got;
}

/** The types of the sync datagrams b's daemon sends from now on. */
const sentTypes = (b: Rig, key: string): number[] => sentBy(b, key, (r) => r.type);

test('a director whose sync daemons stop and start again (the socket closed meanwhile) counts nothing lost for what the peer sent meanwhile; a gap while it listens still counts', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  const st = b.ctl.sync.stats;
  const start = () => b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  await start();
  const dg = masterRecord();
  await send(dg, MSG_DATA, 3, 1, PAIR_KEY);
  await until(() => st.received === 1);
  b.ctl.call('stopDaemon', { state: 'backup' });
  await send(dg, MSG_DATA, 3, 2, PAIR_KEY); // nobody listens: not lost to the daemon started next (it asks for the table)
  await start();
  await send(dg, MSG_DATA, 3, 3, PAIR_KEY);
  await until(() => st.received === 2);
  assert.equal(st.lost, 0, 'a restart is not a loss');
  await send(dg, MSG_DATA, 3, 5, PAIR_KEY);
  await until(() => st.received === 3);
  assert.equal(st.lost, 1, 'a gap while listening is');
  await send(dg, MSG_DATA, 3, 4, PAIR_KEY); // late (reordered): neither lost nor a step back
  await send(dg, MSG_DATA, 3, 6, PAIR_KEY);
  await until(() => st.received === 5);
  assert.equal(st.lost, 1);
}));

test('a replayed or duplicated sync datagram is refused and counted replayed, one older than the 1024-datagram window counted old (-L --daemon, /metrics): an expired connection does not come back; a late one inside the window is taken once; a restarted master (a new sender id) is heard from its first datagram', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  const st = b.ctl.sync.stats;
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const conn = masterRecord();
  const expire = Buffer.from(conn);
  expire[HDR_LEN] = REC_EXPIRE;
  const heard = () => st.received + st.replayed + st.old;
  const sendAll = async (list: [Buffer, number][], sender = 77): Promise<void> => {
    const n = heard() + list.length;
    for (const [dg, seq] of list) await send(dg, MSG_DATA, 3, seq, PAIR_KEY, sender);
    await until(() => heard() === n);
  };
  await sendAll([[conn, 1], [expire, 2], [conn, 1]]);
  assert.deepEqual([b.dp.ct.count, b.counters().sync_installed, b.counters().sync_expired], [0, 1, 1], 'seq 1 again (byte for byte): not installed again');
  assert.deepEqual([st.received, st.replayed, st.old, st.lost], [2, 1, 0, 0]);
  await sendAll([[expire, 2], [conn, 4], [expire, 3], [expire, 3]]);
  assert.deepEqual([st.received, st.replayed, st.lost], [4, 3, 1], 'late 3 is taken once (still counted lost: it was, when 4 came)');
  // At 1029, 5 and below are out of the window (6..1029): old, whether heard or not.
  await sendAll([[expire, 1029], [conn, 4], [conn, 5]]);
  assert.deepEqual([st.received, st.replayed, st.old], [5, 3, 2]);
  assert.equal(b.dp.ct.count, 0);
  // The master restarted: a new sender id, its sequence from 0 again.
  await sendAll([[conn, 0]], 78);
  assert.deepEqual([st.received, b.dp.ct.count], [6, 1]);
  assert.match(formatDaemon(b.ctl.call('daemon', {}) as DaemonResult), / replayed=3 old=2\)$/m);
  const m = parseExposition(await createMetrics(b.dp, { process: false, sync: st }).text());
  assert.deepEqual([m.get('uvs_sync_messages_replayed_total'), m.get('uvs_sync_messages_old_total')], [3, 2]);
}));

test('a master whose sequence reaches 2^31 takes a new sender id from 0 (the numbers never wrap, RFC 4303 3.3.3): the backup goes on taking its data, counts nothing lost, and refuses a datagram recorded at the start of the old id (before: numbers went on past 2^31 under one id; that datagram was taken as new, 2,147,483,646 counted lost, every genuine datagram after it refused as old: sync stopped)', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile } }) => {
  const st = b.ctl.sync.stats;
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const m = director(false);
  m.ctl.call('setRole', { role: 'master' });
  const logs: string[] = [];
  m.ctl.sync.setLog((msg) => logs.push(msg));
  await m.ctl.call('startDaemon', { state: 'master', syncid: 3, syncPeer: '127.0.0.1', keyFile, port: port + 1 });
  const fwd = dgram.createSocket('udp4');
  try {
    // The master's datagrams, recorded; sent on to the backup's port once `on`.
    const sent: Buffer[] = [];
    let on = false;
    const sock = (m.ctl.sync as unknown as { sock: dgram.Socket }).sock;
    (sock as unknown as { send: (msg: Buffer) => void }).send = (msg) => {
      sent.push(msg);
      if (on) fwd.send(msg, port, '127.0.0.1');
    };
    const heard = () => st.received + st.replayed + st.old;
    const conn = async (sport: number): Promise<void> => {
      const n = sent.length;
      const h = heard();
      m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN }));
      await until(() => sent.length > n && (!on || heard() > h));
    };
    await conn(46000); // recorded off the wire, seq 0: the backup does not hear it now
    on = true;
    (m.ctl.sync as unknown as { seq: number }).seq = 2 ** 31 - 2; // 2^31 - 2 datagrams later (38.8 days at the rate bound)
    for (let sport = 46001; sport <= 46004; sport++) await conn(sport);
    assert.deepEqual([st.received, st.lost, b.dp.ct.count], [4, 0, 4], 'the new id is a new sender: nothing lost');
    // The datagram recorded at seq 0 of the old id, sent again: out of its window.
    const h = heard();
    await new Promise<void>((res) => fwd.send(sent[0]!, port, '127.0.0.1', () => res()));
    await until(() => heard() > h);
    assert.deepEqual([st.received, st.old, st.lost], [4, 1, 0], 'refused as old, nothing counted lost');
    await conn(46005);
    assert.deepEqual([st.received, st.lost, b.dp.ct.count], [5, 0, 5], 'the next genuine datagram is taken');
    assert.equal(rows(b).some((r) => r.includes(':46000 ')), false, 'the replayed connection is not installed');
    const opened = sent.map((x) => open(x, Buffer.from(PAIR_KEY)) as Opened);
    const [a, z] = [opened[0]!.sender, opened[3]!.sender];
    assert.deepEqual(opened.map((r) => [r.sender, r.seq]), [[a, 0], [a, 2 ** 31 - 2], [a, 2 ** 31 - 1], [z, 0], [z, 1], [z, 2]]);
    assert.notEqual(z, a);
    assert.deepEqual(logs, ['sync: 2^31 datagrams sent under one sender id: a new sender id, numbered from 0 (the numbers never wrap)']);
  } finally {
    fwd.close();
    m.ctl.sync.close();
  }
}));

test('a gap counts lost no more than the sender could have sent since it was last heard (4 × 32 datagrams per 50 ms): a jump of 2^31 - 2 right after seq 0 (a replay under an older master\'s wrapped numbers) is not 2,147,483,646 lost', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  const st = b.ctl.sync.stats;
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const dg = masterRecord();
  await send(dg, MSG_DATA, 3, 0, PAIR_KEY);
  await send(dg, MSG_DATA, 3, 2 ** 31 - 1, PAIR_KEY);
  await until(() => st.received === 2);
  assert.equal(st.received, 2);
  assert.ok(st.lost > 0 && st.lost <= 3 * 128, `lost ${st.lost}`);
}));

test('a dump request sent again (replayed) makes no dump: 5 times the same sealed request, 1 dump of the table', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  const st = b.ctl.sync.stats;
  b.ctl.call('setRole', { role: 'master' });
  await b.ctl.call('startDaemon', { state: 'master', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  for (let i = 0; i < 200; i++) b.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 30000 + i, dport: 80, flags: TCP_FLAGS.SYN }));
  await until(() => st.records >= 200);
  const marks = st.records;
  for (let i = 0; i < 5; i++) {
    const n = st.received + st.replayed;
    await send(Buffer.alloc(0), MSG_DUMP_REQUEST, 3, 1, PAIR_KEY);
    await until(() => st.received + st.replayed > n);
    await new Promise((r) => setTimeout(r, 150)); // a dump of 200 records takes one 50 ms round
  }
  assert.deepEqual([st.received, st.replayed, st.dumps, st.records - marks], [1, 4, 1, 200]);
}));

test('--start-daemon calls at once (the control socket does not wait for one to end): master and backup share one socket, none left bound after both stop; a second backup start is refused Daemon has already run; a stop while the socket opens stops it', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile } }) => {
  const spec = (state: string) => ({ state, syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const start = async (state: string): Promise<unknown> => b.ctl.callAsync('startDaemon', spec(state));
  /** Whether port is free for a socket without SO_REUSEADDR (a sync socket left bound holds it). */
  const free = (): Promise<boolean> => new Promise((res) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => res(false));
    s.bind(port, () => s.close(() => res(true)));
  });
  const both = await Promise.allSettled([start('master'), start('backup')]);
  assert.deepEqual(both.map((x) => x.status), ['fulfilled', 'fulfilled']);
  b.ctl.call('stopDaemon', { state: 'master' });
  b.ctl.call('stopDaemon', { state: 'backup' });
  assert.equal(await free(), true, 'no socket left bound');
  const twice = await Promise.allSettled([start('backup'), start('backup')]);
  assert.equal(twice[0]!.status, 'fulfilled');
  assert.equal(twice[1]!.status === 'rejected' && (twice[1].reason as Error).message, 'Daemon has already run: backup');
  b.ctl.call('stopDaemon', { state: 'backup' });
  const stopped = start('backup');
  b.ctl.call('stopDaemon', { state: 'backup' });
  await assert.rejects(stopped, /stopped while/);
  assert.deepEqual([b.ctl.sync.running('backup'), await free()], [false, true]);
}));

test('--workers N: each worker posts at most floor(32 / N) groups per 50 ms, so the main thread keeps up (3 workers marking all they may: no backlog after 4 s); a backlog past 8 rounds is dropped and every worker dumps its table instead (counted in dumps)', async (t) => {
  const clock = stepClock(t, ['setInterval']);
  const b = director(false);
  b.ctl.call('setRole', { role: 'master' });
  let asked = { per: 0, groups: 0 };
  let dumps = 0;
  const workers = {
    count: 3, onSyncRecords: null, post: () => {},
    syncMaster: (on: boolean, per: number, groups: number) => { if (on) asked = { per, groups }; },
    syncDump: () => { dumps++; },
  } as unknown as Workers;
  const d = new SyncDaemon(b.dp, workers);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await d.start('master', { syncid: 3, mcastInterface: 'lo', peer: '127.0.0.1', group: '224.0.0.81', port, ttl: 1, maxlen: 1472, key: Buffer.from(PAIR_KEY) });
  try {
    assert.deepEqual(asked, { per: 39, groups: 10 }, 'floor(32 / 3): 30 groups together (ceil: 33 of the 32 sent)');
    const queued = (): number => (d as unknown as { queued: number }).queued / REC_LEN / asked.per;
    for (let round = 0; round < 80; round++) {
      for (let k = 0; k < 3; k++) workers.onSyncRecords?.(new Uint8Array(asked.groups * asked.per * REC_LEN), k, 0, b.dp.syncTurn);
      clock.tick(50);
    }
    assert.deepEqual([queued(), dumps, d.stats.dumps], [0, 0, 0], 'no backlog after 80 rounds');
    // A backlog (timers late): up to 8 rounds of the rate bound are kept; past that, a dump instead.
    workers.onSyncRecords?.(new Uint8Array(8 * 32 * 39 * REC_LEN), 0, 0, b.dp.syncTurn);
    assert.deepEqual([queued(), dumps], [8 * 32, 0]);
    workers.onSyncRecords?.(new Uint8Array(REC_LEN), 1, 0, b.dp.syncTurn);
    assert.deepEqual([queued(), dumps, d.stats.dumps], [0, 1, 1]);
  } finally {
    d.close();
  }
});

/** Poll pred on the event loop's check phase (setImmediate): for tests whose timers are mocked. */
async function untilIo(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 20_000 && !pred(); i++) await new Promise((r) => setImmediate(r));
}

test('a backup that missed data (the sync link down) asks for the whole table as soon as data comes again, at most once per 10 s; so does one whose dump requests went unanswered', (t) => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  stepClock(t);
  const st = b.ctl.sync.stats;
  const start = () => b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  await start();
  let types = sentTypes(b, PAIR_KEY);
  const asks = () => types.filter((x) => x === MSG_DUMP_REQUEST).length;
  const dg = masterRecord();
  await send(dg, MSG_DATA, 3, 1, PAIR_KEY);
  await untilIo(() => st.received === 1);
  t.mock.timers.tick(20_000);
  assert.equal(asks(), 0, 'data came: the start\'s request is not repeated');
  // Datagrams 2 and 3 never arrive (the link was down); the next one makes the backup ask at once.
  await send(dg, MSG_DATA, 3, 4, PAIR_KEY);
  await untilIo(() => st.received === 2);
  assert.deepEqual([st.lost, asks()], [2, 1]);
  // Another gap within 10 s of that request: asked when the 10 s have passed, not before.
  await send(dg, MSG_DATA, 3, 6, PAIR_KEY);
  await untilIo(() => st.received === 3);
  assert.deepEqual([st.lost, asks()], [3, 1]);
  t.mock.timers.tick(9_999);
  assert.equal(asks(), 1);
  t.mock.timers.tick(1);
  assert.equal(asks(), 2);
  await send(dg, MSG_DATA, 3, 7, PAIR_KEY);
  await untilIo(() => st.received === 4);
  t.mock.timers.tick(20_000);
  assert.deepEqual([st.lost, asks()], [3, 2], 'no gap: no request');
  // Started while the master cannot hear it: 10 requests a second apart, unanswered. The first
  // data afterwards asks again at once (unanswered requests cost the master nothing).
  b.ctl.call('stopDaemon', { state: 'backup' });
  await start();
  types = sentTypes(b, PAIR_KEY);
  for (let i = 0; i < 12; i++) t.mock.timers.tick(1_000);
  assert.equal(asks(), 9, 'the start\'s request, then 9 more');
  await send(dg, MSG_DATA, 3, 8, PAIR_KEY);
  await untilIo(() => st.received === 5);
  assert.deepEqual([st.lost, asks()], [3, 10]);
}));

test('a backup asks for the table until the master answers the request (a header flag an older uvsd ignores), not until any data: a lost request is asked again while marks flow; from an older master (no flags) any data ends the requests; a master flags the next datagram after a request, alone when it has nothing to send', (t) => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  stepClock(t);
  const st = b.ctl.sync.stats;
  const start = () => b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  await start();
  const types = sentTypes(b, PAIR_KEY);
  const asks = () => types.filter((x) => x === MSG_DUMP_REQUEST).length;
  const dg = masterRecord();
  let seq = 0;
  const data = async (flags: number): Promise<void> => {
    const n = st.received + 1;
    await send(dg, MSG_DATA, 3, ++seq, PAIR_KEY, 77, flags);
    await untilIo(() => st.received === n);
  };
  await data(SF_ANSWERS); // a mark: the request (lost) is not answered
  t.mock.timers.tick(1_000);
  assert.equal(asks(), 1, 'asked again a second after the start');
  await data(SF_ANSWERS | SF_DUMP_ANSWER);
  t.mock.timers.tick(20_000);
  assert.equal(asks(), 1, 'answered: not asked again');
  b.ctl.call('stopDaemon', { state: 'backup' });
  await start();
  types.length = 0;
  await data(0); // an older master's data
  t.mock.timers.tick(20_000);
  assert.equal(asks(), 0);
  // The master side: an empty table answers with an empty datagram, flagged; then its marks are not.
  b.ctl.call('stopDaemon', { state: 'backup' });
  b.ctl.call('setRole', { role: 'master' });
  b.dp.ct.expireNow(b.dp.ct.lookup(6, parseIp(CLIENT) | 0, 46000, parseIp(VIP) | 0, 80) >>> 1); // the synced one
  assert.equal(b.dp.ct.count, 0);
  await b.ctl.call('startDaemon', { state: 'master', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const sent = sentBy(b, PAIR_KEY, (r) => [r.type, r.count, r.flags]);
  await send(dg, MSG_DUMP_REQUEST, 3, ++seq, PAIR_KEY);
  await untilIo(() => st.dumps === 1);
  t.mock.timers.tick(50);
  b.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 30000, dport: 80, flags: TCP_FLAGS.SYN }));
  t.mock.timers.tick(50);
  assert.deepEqual(sent, [[MSG_DATA, 0, SF_ANSWERS | SF_DUMP_ANSWER], [MSG_DATA, 1, SF_ANSWERS]]);
}));

test('a backup behind the master after a step of the wall clock (NTP) asks again 10 s after its last request: an hour back does not hold the request for an hour, an hour forward does not send it early', (t) => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  const clock = stepClock(t);
  const st = b.ctl.sync.stats;
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const types = sentTypes(b, PAIR_KEY);
  const asks = () => types.filter((x) => x === MSG_DUMP_REQUEST).length;
  const dg = masterRecord();
  let seq = 1;
  /** Data after a gap of one datagram: the backup is behind. */
  const gap = async (): Promise<void> => {
    seq += 2;
    const n = st.received + 1;
    await send(dg, MSG_DATA, 3, seq, PAIR_KEY);
    await untilIo(() => st.received === n);
  };
  await send(dg, MSG_DATA, 3, seq, PAIR_KEY);
  await untilIo(() => st.received === 1);
  clock.tick(20_000); // past the start's request
  await gap();
  assert.equal(asks(), 1, 'behind: asked at once');
  // An hour back: the next gap within 10 s waits for the 10 s, not for an hour and 10 s.
  clock.step(-3_600_000);
  await gap();
  assert.equal(asks(), 1);
  clock.tick(9_999);
  assert.equal(asks(), 1);
  clock.tick(1);
  assert.equal(asks(), 2, 'stepped back: asked 10 s after the last request (before: an hour later)');
  // An hour forward: the next gap within 10 s of that request waits too (before: asked at once).
  clock.step(3_600_000);
  await gap();
  assert.equal(asks(), 2, 'stepped forward: not asked again within 10 s');
  clock.tick(10_000);
  assert.equal(asks(), 3);
}));

test('a split brain: sync data received while master is dropped, counted from_master (not received; -L --daemon, /metrics) and warned about once a minute', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  const st = b.ctl.sync.stats;
  const warnings: string[] = [];
  b.ctl.sync.setLog((msg) => warnings.push(msg));
  b.ctl.call('setRole', { role: 'master' });
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const dg = masterRecord();
  await send(dg, MSG_DATA, 3, 1, PAIR_KEY);
  await send(dg, MSG_DATA, 3, 2, PAIR_KEY);
  await until(() => st.fromMaster >= 2);
  assert.deepEqual([st.fromMaster, st.received, b.dp.ct.count], [2, 0, 0], 'dropped, counted apart, nothing installed');
  assert.deepEqual(warnings, ['sync data from another master (127.0.0.1) while master: split brain?'], 'one warning for both');
  assert.match(formatDaemon(b.ctl.call('daemon', {}) as DaemonResult), /^role master \(sync sent=\d+ received=0 lost=0 auth_failed=0 other_syncid=0 from_master=2 replayed=0 old=0\)$/m);
  assert.equal(parseExposition(await createMetrics(b.dp, { process: false, sync: st }).text()).get('uvs_sync_messages_from_master_total'), 2);
}));

test('a director going from master to backup (a split brain healed) asks the master for its whole table at once, as a starting backup daemon does', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile }, send }) => {
  b.ctl.call('setRole', { role: 'master' });
  await b.ctl.call('startDaemon', { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  await b.ctl.call('startDaemon', { state: 'master', syncid: 3, syncPeer: '127.0.0.1', keyFile, port });
  const types = sentTypes(b, PAIR_KEY);
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(types.filter((t) => t === MSG_DUMP_REQUEST), [], 'a master asks for nothing');
  b.ctl.call('setRole', { role: 'backup' });
  await until(() => types.includes(MSG_DUMP_REQUEST));
  assert.deepEqual(types.filter((t) => t === MSG_DUMP_REQUEST), [MSG_DUMP_REQUEST], 'one request within a tick of the switch');
  // The master's dump is installed now.
  await send(masterRecord(), MSG_DATA, 3, 1, PAIR_KEY);
  await until(() => b.dp.ct.count > 0);
  assert.equal(b.dp.ct.count, 1);
  // With HA groups: one group going backup asks too.
  b.dp.apply([{ op: 'haGroups', groups: [{ name: 'web', addrs: [parseIp(VIP)] }] }]);
  b.ctl.call('setRole', { role: 'master', group: 'web' });
  await new Promise((r) => setTimeout(r, 150));
  types.length = 0;
  b.ctl.call('setRole', { role: 'backup', group: 'web' });
  await until(() => types.includes(MSG_DUMP_REQUEST));
  assert.ok(types.includes(MSG_DUMP_REQUEST));
}));

test('SyncProducer: marks lost to a full ring start a full dump (counted as an overflow dump); a dump is asked only of a master; groups of at most `per` records', () => {
  const r = drRig({ weights: [1], udp: true, connMax: 64 });
  r.ctl.call('setRole', { role: 'master' });
  const p = new SyncProducer(r.dp);
  p.start();
  const buf = new Uint8Array(64 * REC_LEN);
  let records = 0;
  let groups = 0;
  const produce = (): void => p.produce(buf, 0, 10, 1000, (n) => {
    assert.ok(n > 0 && n <= 10, `a group of ${n}`);
    records += n;
    groups++;
  });
  // New flows until a mark or an expiry finds its ring (63 places) full: the table (64) evicts early.
  let sport = 10000;
  while (r.dp.sync?.overflows === 0 && sport < 11000) r.run(udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: sport++, dport: 53 }));
  assert.equal(r.dp.sync?.overflows, 1, `a ring overflowed after ${sport - 10000} flows`);
  produce();
  assert.equal(p.overflowDumps, 1, 'a dump, because a mark was lost');
  assert.ok(records >= r.dp.ct.count, `the dump's ${r.dp.ct.count} entries and the marks: ${records} records in ${groups} groups`);
  records = 0;
  produce();
  assert.equal(records, 0, 'nothing left');
  assert.equal(p.requestDump(), true);
  produce();
  assert.equal(records, r.dp.ct.count, 'a requested dump: every entry');
  r.ctl.call('setRole', { role: 'backup' });
  assert.equal(p.requestDump(), false, 'a backup sends nothing');
  p.stop();
});

test('a dump asked for while one runs is sent whole after it (not only that one\'s rest); asks meanwhile join it; a demoted director drops the dumps due', () => {
  const r = drRig({ weights: [1], udp: true, connMax: 4096 });
  r.ctl.call('setRole', { role: 'master' });
  const p = new SyncProducer(r.dp);
  p.start();
  for (let i = 0; i < 100; i++) r.run(udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 10000 + i, dport: 53 }));
  const buf = new Uint8Array(64 * REC_LEN);
  const sent: number[] = [];
  /** Up to `groups` groups of 10 records; the client ports of the connection records. */
  const produce = (groups: number): void => p.produce(buf, 0, 10, groups, (n) => {
    for (let i = 0; i < n; i++) if (buf[i * REC_LEN] === REC_CONN) sent.push((buf[i * REC_LEN + 6] << 8) | buf[i * REC_LEN + 7]);
  });
  produce(1000);
  sent.length = 0;
  assert.equal(p.requestDump(), true);
  produce(3);
  assert.equal(sent.length, 30, 'a dump under way');
  assert.equal(p.requestDump(), true, 'another backup asks: a whole dump is due after this one');
  assert.equal(p.requestDump(), false, 'a third ask joins it');
  produce(1000);
  produce(1000); // the next round
  assert.equal(sent.length, 30 + 70 + 100, 'the rest of the first, then all 100 from the beginning');
  assert.equal(new Set(sent.slice(100)).size, 100);
  // Demoted in the middle of a dump with another due; then master again.
  sent.length = 0;
  p.requestDump();
  produce(3);
  p.requestDump();
  r.ctl.call('setRole', { role: 'backup' });
  produce(1000);
  r.ctl.call('setRole', { role: 'master' });
  produce(1000);
  assert.equal(sent.length, 30, 'nothing resumed after the promotion');
  p.stop();
});

test('a planned demotion sends the marks still waiting once (the connections of the master\'s last sync interval reach the peer, still backup), then nothing more; after the switch the new master carries all of them', () => {
  // Before: the demotion dropped them, and 5 of these 25 connections were reset after the switch.
  const [m, b] = haPair(director(false), director(true));
  const prod = new SyncProducer(m.dp);
  prod.start();
  const buf = new Uint8Array(REC_LEN * 64 * 8);
  /** One round of the master daemon (every 50 ms): what it sends is installed on the backup. */
  const round = (): number => {
    let sent = 0;
    prod.produce(buf, 0, 32, 8, (n) => {
      b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
      sent += n;
    });
    return sent;
  };
  const open = (sport: number): void => {
    const [f] = m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN, seq: 1000 }));
    const rs = RS.find((s) => s.ip === `${f![30]}.${f![31]}.${f![32]}.${f![33]}`)!;
    m.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: rs.mac }, { src: rs.ip, dst: CLIENT, sport: 8080, dport: sport, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, seq: 5000, ack: 1001 }));
    m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.ACK, seq: 1001, ack: 5001 }));
  };
  for (let i = 0; i < 20; i++) open(40000 + i);
  assert.equal(round(), 20);
  for (let i = 20; i < 25; i++) open(40000 + i); // within the next 50 ms
  m.ctl.call('setRole', { role: 'backup' }); // uvsadm --role backup on the master
  assert.equal(round(), 5, 'the last interval\'s connections, sent once');
  assert.deepEqual(m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40100, dport: 80, flags: TCP_FLAGS.SYN })), [], 'a backup forwards nothing, marks nothing');
  assert.deepEqual([round(), m.dp.sync?.pending()], [0, 0], 'then nothing more');
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  const carried = Array.from({ length: 25 }, (_, i) => b.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: 1001, ack: 5001, payload: Buffer.from('hello') })))
    .filter((out) => out.some((f) => f.readUInt16BE(12) === 0x0800 && f.readUInt16BE(36) === 8080)).length;
  assert.equal(carried, 25);
  assert.equal(b.counters().tcp_rst_sent ?? 0, 0);
});

test('--workers 2: a planned demotion sends the marks each worker still holds once too (what a worker posted before the demotion reached it, and its last send after); then nothing more; a worker\'s last send still on its way at a later promotion is dropped', async (t) => {
  // Before: the main thread's daemon dropped what the workers posted once the director was backup.
  const clock = stepClock(t, ['setInterval']);
  const [m, b] = haPair(director(false), director(true));
  m.dp.apply([{ op: 'syncMarks', on: false }]); // the shadow marks nothing: its workers do
  const w = [0, 1].map((index) => director(false, { index, count: 2 }));
  // The group's links as its constructor makes them for threads, the worker's side (worker.ts) in
  // this thread: ops applied when the test delivers them, a SyncProducer per worker.
  const group = new DatapathGroup([], { io: 'syscalls', stride: 2048, batch: 64, headroom: 0, budget: 64 }, { mac: parseMac(DIR_MAC), addrs: [], connMax: 4096 });
  (group as unknown as { count: number }).count = 2;
  group.shadow = m.dp;
  m.ctl.info.workers = group;
  const inbox: DpOp[][][] = [[], []];
  const prod: SyncProducer[] = [];
  let asked = { per: 0, groups: 0 };
  const links = (group as unknown as { links: unknown[] }).links;
  for (const k of [0, 1]) {
    links.push({
      w: {
        postMessage: (x: { t: string; ops: DpOp[]; per: number; groups: number }) => {
          if (x.t === 'ops') inbox[k]!.push(x.ops);
          if (x.t === 'syncMaster') {
            asked = x;
            prod[k] = new SyncProducer(w[k]!.dp);
            prod[k]!.start();
          }
        },
      },
      shared: undefined, acked: 0, svcNext: [],
    });
  }
  const deliver = (k: number): void => {
    for (const ops of inbox[k]!) w[k]!.dp.apply(ops);
    inbox[k] = [];
  };
  const buf = new Uint8Array(65536);
  /** Worker k's sync interval (worker.ts): what it produced reaches the main thread's daemon. */
  const post = (k: number): void => {
    const x = prod[k]!.collect(buf, asked.per, asked.groups);
    if (x !== null) (group as unknown as { onMessage(l: unknown, x: unknown): void }).onMessage(links[k], x);
  };
  const d = new SyncDaemon(m.dp, group);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await d.start('master', { syncid: 3, mcastInterface: 'lo', peer: '127.0.0.1', group: '224.0.0.81', port, ttl: 1, maxlen: 1472, key: Buffer.from(PAIR_KEY) });
  try {
    assert.deepEqual(asked, { t: 'syncMaster', on: true, per: 39, groups: 16 });
    let sent = 0;
    // What the daemon sends is installed on the backup.
    t.mock.method((d as unknown as { sock: dgram.Socket }).sock, 'send', (dg: Buffer) => {
      const r = open(dg, Buffer.from(PAIR_KEY)) as Opened;
      b.dp.apply([{ op: 'syncInstall', records: new Uint8Array(r.records) }]);
      sent += r.count;
    });
    /** One round of the main thread's daemon (every 50 ms): the records it sent. */
    const round = (): number => {
      sent = 0;
      clock.tick(50);
      return sent;
    };
    const open3 = (k: number, sport: number): void => {
      const [f] = w[k]!.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN, seq: 1000 }));
      const rs = RS.find((s) => s.ip === `${f![30]}.${f![31]}.${f![32]}.${f![33]}`)!;
      w[k]!.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: rs.mac }, { src: rs.ip, dst: CLIENT, sport: 8080, dport: sport, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, seq: 5000, ack: 1001 }));
      w[k]!.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.ACK, seq: 1001, ack: 5001 }));
    };
    for (let i = 0; i < 20; i++) open3(i % 2, 40000 + i);
    post(0);
    post(1);
    assert.equal(round(), 20);
    for (let i = 20; i < 25; i++) open3(i % 2, 40000 + i); // the last interval: 3 on worker 0, 2 on worker 1
    post(0); // worker 0's interval ends before the demotion reaches it
    m.ctl.call('setRole', { role: 'backup' }); // uvsadm --role backup on the master
    assert.equal(round(), 3, 'worker 0\'s records of the last interval, posted before the demotion reached it');
    deliver(0);
    deliver(1);
    post(0);
    post(1); // worker 1's last send of its marks
    assert.equal(round(), 2, 'worker 1\'s last interval, its one last send');
    post(0);
    post(1);
    assert.deepEqual([round(), w[0]!.dp.sync?.pending(), w[1]!.dp.sync?.pending()], [0, 0, 0], 'then nothing more');
    b.ctl.call('setRole', { role: 'master' });
    b.sink.take();
    const carried = Array.from({ length: 25 }, (_, i) => b.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: 1001, ack: 5001, payload: Buffer.from('hello') })))
      .filter((out) => out.some((f) => f.readUInt16BE(12) === 0x0800 && f.readUInt16BE(36) === 8080)).length;
    assert.deepEqual([carried, b.counters().tcp_rst_sent ?? 0], [25, 0], 'the new master carries all 25');
    // Promoted again, demoted, and promoted before worker 0's last send reaches the daemon: it is old.
    m.ctl.call('setRole', { role: 'master' });
    deliver(0);
    open3(0, 41000);
    m.ctl.call('setRole', { role: 'backup' });
    deliver(0);
    post(0);
    m.ctl.call('setRole', { role: 'master' });
    assert.equal(round(), 0, 'a last send that came after the next promotion is not sent');
    deliver(0);
    open3(0, 41001);
    post(0);
    assert.equal(round(), 1, 'the new master period\'s records are');
  } finally {
    d.close();
  }
});

test('marks waiting when a master is demoted are dropped: an old expiry is not sent at its next promotion (it would expire the peer\'s copy of a newer connection of that tuple)', () => {
  const r = drRig({ weights: [1], udp: true, connMax: 4096 });
  r.ctl.call('setRole', { role: 'master' });
  r.dp.apply([{ op: 'syncMarks', on: true }]);
  r.run(udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 10000, dport: 53 }));
  const buf = new Uint8Array(64 * REC_LEN);
  assert.equal(r.dp.syncDrain(buf, 0, 64), 1);
  r.dp.ct.expireNow(r.dp.ct.lookup(17, parseIp(CLIENT) | 0, 10000, parseIp(VIP) | 0, 53) >>> 1);
  r.run(udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 10001, dport: 53 }));
  assert.equal(r.dp.sync?.pending(), 2, 'an expiry and a mark waiting');
  r.ctl.call('setRole', { role: 'backup' });
  r.ctl.call('setRole', { role: 'master' });
  assert.deepEqual([r.dp.sync?.pending(), r.dp.syncDrain(buf, 0, 64)], [0, 0]);
  r.run(udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 10002, dport: 53 }));
  assert.equal(r.dp.sync?.pending(), 1, 'marks after the promotion are taken');
  r.dp.apply([{ op: 'syncMarks', on: false }]);
  assert.equal(r.dp.sync?.pending(), 0, 'the master daemon stopped: dropped too');
});

/**
 * Active/active (uvsd --ha-group): d1 is master of "web" (the NAT VIP) and of the default group
 * (the DR VIP, the floating address), d2 of "api" (the FULLNAT VIP and its local address).
 */
function activeActive(): { d1: Rig; d2: Rig } {
  const groups = [{ name: 'web', addrs: [parseIp(VIP)] }, { name: 'api', addrs: [parseIp(VIP2), parseIp(LIP)] }];
  const d1 = director(false);
  const d2 = director(true);
  for (const d of [d1, d2]) d.dp.apply([{ op: 'haGroups', groups }, { op: 'syncMarks', on: true }]);
  d1.ctl.call('setRole', { role: 'backup', group: 'api' });
  d2.ctl.call('setRole', { role: 'backup' });
  d2.ctl.call('setRole', { role: 'master', group: 'api' });
  for (const d of [d1, d2]) {
    for (const ms of [1000, 4000]) { // past the takeover's repeats
      d.advance(ms);
      d.dp.tick();
    }
    d.sink.take();
  }
  return { d1, d2 };
}

test('active/active (HA groups): each director answers ARP for and forwards only its groups\' addresses; --role --ha-group moves one group', async () => {
  const { d1, d2 } = activeActive();
  const answers = (r: Rig): string[] => [VIP, VIP2, VIP3, LIP, FLOAT, DIR_IP].filter((a) => r.run(arpWho(a)).length === 1);
  assert.deepEqual(answers(d1), [VIP, VIP3, FLOAT, DIR_IP]);
  assert.deepEqual(answers(d2), [VIP2, LIP, DIR_IP]);
  const syn = (dst: string, sport: number) => tcpFrame(IN, { src: CLIENT, dst, sport, dport: 80, flags: TCP_FLAGS.SYN });
  assert.equal(d1.run(syn(VIP, 41000)).length, 1);
  assert.deepEqual(d1.run(syn(VIP2, 42000)), []);
  assert.equal(d2.run(syn(VIP2, 42000)).length, 1);
  assert.deepEqual(d2.run(syn(VIP, 41000)), []);
  assert.deepEqual(d2.run(syn(VIP3, 43000)), [], 'the default group is d1\'s');
  assert.equal(d1.counters()['drop.backup'], 1);
  assert.equal(d2.counters()['drop.backup'], 2);
  const st = d1.ctl.call('status', {}) as StatusResult;
  assert.equal(st.role, 'backup', 'not master of every group');
  assert.deepEqual(st.haGroups, [{ name: 'default', role: 'master' }, { name: 'web', role: 'master' }, { name: 'api', role: 'backup' }]);
  assert.match(formatStatus(st), /^role mixed default=master,web=master,api=backup$/m);
  assert.throws(() => d1.ctl.call('setRole', { role: 'master', group: 'www' }), (e: UvsError) =>
    e.code === 'NO_HA_GROUP' && /"www" \(uvsd --ha-group: web, api; "default": the addresses of no group\)/.test(e.message));

  // d2 takes "web" over (d1's keepalived instance for it failed): one gratuitous ARP, for web's VIP only.
  d2.ctl.call('setRole', { role: 'master', group: 'web' });
  const garps = d2.sink.take().map((f) => `${f[38]}.${f[39]}.${f[40]}.${f[41]}`);
  assert.deepEqual(garps, [VIP]);
  d2.advance(1000);
  d2.dp.tick();
  assert.deepEqual(d2.sink.take().map((f) => `${f[38]}.${f[39]}.${f[40]}.${f[41]}`), [VIP], 'the repeat 1 s later: web\'s VIP again');
  assert.equal(d2.run(syn(VIP, 41001)).length, 1);
  assert.deepEqual(answers(d2), [VIP, VIP2, LIP, DIR_IP]);
  assert.equal(d2.counters().role_changes, 3, 'backup, api master, web master');
  const m = parseExposition(await createMetrics(d1.dp, { process: false }).text());
  assert.deepEqual(['default', 'web', 'api'].map((group) => m.get('uvs_ha_group_master', { group })), [1, 1, 0]);
  assert.equal(m.get('uvs_ha_master'), 0, 'master of every group: no');
});

test('active/active sync: both directors send; each installs only the groups it is backup for, and forwards them after taking the group over', () => {
  const { d1, d2 } = activeActive();
  const syn = (dst: string, sport: number) => tcpFrame(IN, { src: CLIENT, dst, sport, dport: 80, flags: TCP_FLAGS.SYN });
  const web = d1.run(syn(VIP, 41000), syn(VIP, 41001));
  const api = d2.run(syn(VIP2, 42000));
  assert.equal(web.length + api.length, 3);
  // The NAT server's SYN|ACK: d1 (web's master) forwards it; d2 drops it while backup of web.
  const synack = (f: Buffer) => tcpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, {
    src: `${f[30]}.${f[31]}.${f[32]}.${f[33]}`, dst: `${f[26]}.${f[27]}.${f[28]}.${f[29]}`,
    sport: f.readUInt16BE(36), dport: f.readUInt16BE(34), flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK,
  });
  const webReplies = d1.run(...web.map(synack));
  assert.equal(webReplies.length, 2);
  assert.equal(sync(d1, d2), 2, 'web\'s two connections');
  assert.equal(sync(d2, d1), 1, 'api\'s one');
  assert.deepEqual(rows(d1), rows(d2), 'both hold every connection');
  assert.equal(d1.dp.ct.count, 3);
  // A record of a group the receiver is master of is not installed over its own entry.
  const own = d2.dp.ct.count;
  d2.run(syn(VIP2, 42001));
  const buf = new Uint8Array(REC_LEN * 4);
  const n = d2.dp.syncDrain(buf, 0, 4);
  assert.equal(n, 1);
  const third = director(false);
  third.dp.apply([{ op: 'haGroups', groups: [{ name: 'web', addrs: [parseIp(VIP)] }, { name: 'api', addrs: [parseIp(VIP2), parseIp(LIP)] }] }]);
  third.ctl.call('setRole', { role: 'backup', group: 'web' });
  third.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  assert.equal(third.dp.ct.count, 0, 'third is master of api: d2\'s api record is not installed');
  assert.equal(d2.dp.ct.count, own + 1);
  assert.deepEqual(d2.run(...web.map(synack)), [], 'd2 is backup of web: the replies of web\'s connections are dropped');
  // d2 takes web over and answers the NAT server's replies exactly as d1 did.
  d2.ctl.call('setRole', { role: 'master', group: 'web' });
  assert.deepEqual(d2.run(...web.map(synack)).map((f) => decode(f)), webReplies.map((f) => decode(f)));
});

test('HA groups set again (a reload): a group keeps its role, a new one and the addresses of a removed one take the default group\'s; addresses now held are announced', () => {
  const { d1 } = activeActive(); // default and web master, api (VIP2, LIP) backup
  const held = (r: Rig): string[] => [VIP, VIP2, VIP3, LIP, FLOAT].filter((a) => r.run(arpWho(a)).length === 1);
  assert.deepEqual(held(d1), [VIP, VIP3, FLOAT]);
  d1.sink.take();
  // web kept; api gone (its VIP2 back in default: master here); db new with LIP (default's role: master).
  d1.ctl.setHaGroups([{ name: 'web', addrs: [parseIp(VIP)] }, { name: 'db', addrs: [parseIp(LIP)] }]);
  const garps = d1.sink.take().map((f) => `${f[38]}.${f[39]}.${f[40]}.${f[41]}`).sort();
  assert.deepEqual(garps, [LIP, VIP2].sort(), 'the two addresses this director now holds, announced');
  assert.deepEqual(d1.dp.link.groupNames, ['default', 'web', 'db']);
  assert.deepEqual(d1.dp.link.roles(), [true, true, true]);
  assert.equal(d1.dp.link.active, true);
  assert.deepEqual(held(d1), [VIP, VIP2, VIP3, LIP, FLOAT]);
  // As backup of default, a new group is born backup too.
  d1.ctl.call('setRole', { role: 'backup', group: 'default' });
  d1.ctl.setHaGroups([{ name: 'web', addrs: [parseIp(VIP)] }, { name: 'db', addrs: [parseIp(LIP)] }, { name: 'new', addrs: [parseIp(VIP3)] }]);
  assert.deepEqual(d1.dp.link.roles(), [false, true, true, false]);
  assert.deepEqual(held(d1), [VIP, LIP]);
});

test('a sync key file is a text key without its surrounding whitespace, or binary bytes as they are (read as text, 32 random bytes lost half their distinct values)', () => {
  assert.deepEqual(syncKeyOf(Buffer.from('  s3cret-s3cret-s3cret\n')), Buffer.from('s3cret-s3cret-s3cret'));
  const bin = Buffer.from('8f00ff10fe80c3a0e2e28ba5d4ffffff0a0d20e0b09080c0c1f5f8fcfd7f0a20', 'hex');
  assert.deepEqual(syncKeyOf(bin), bin, 'byte for byte, its 0x0a and 0x20 kept');
  const a = Buffer.from(bin);
  const b = Buffer.from(bin);
  b[3] ^= 0x40; // 0x10 -> 0x50: still distinct, as every byte must be
  assert.notDeepEqual(syncKeyOf(a), syncKeyOf(b));
  const c = Buffer.from(bin);
  c[1] = 0xfe; // one invalid byte for another: the old reading made both U+FFFD
  assert.notDeepEqual(syncKeyOf(bin), syncKeyOf(c), 'two keys differing in an invalid UTF-8 byte are different keys');
});

// FTP (uvsd --ftp-ports, src/modes/ftp.ts): the data connections' VIP:port (a passive port,
// VIP:20) has no service; the backup binds them through their VIP's FTP service.
const FTP_NAT = { proto: 'tcp' as const, addr: VIP, port: 21 };
const FTP_FNAT = { proto: 'tcp' as const, addr: VIP2, port: 21 };
const { SYN, ACK, PSH } = TCP_FLAGS;

function ftpDirector(reverse: boolean): Rig {
  const r = rig({ addrs: [`${DIR_IP}/24`], connMax: 4096 });
  r.dp.setDefense({ ftpPorts: [21] });
  r.ctl.addService({ ...FTP_NAT, sched: 'rr' });
  r.ctl.addService({ ...FTP_FNAT, sched: 'rr' });
  for (const s of reverse ? [...RS].reverse() : RS) {
    r.ctl.addDest({ service: FTP_NAT, addr: s.ip, port: 21, fwd: 'nat', weight: 1 });
    r.ctl.addDest({ service: FTP_FNAT, addr: s.ip, port: 21, fwd: 'fullnat', weight: 1 });
  }
  r.ctl.addLaddr({ service: FTP_FNAT, addr: LIP });
  for (const s of RS) r.learn(s.ip, s.mac);
  r.dp.resolve(parseIp(CLIENT));
  r.learn(CLIENT, CLIENT_MAC);
  r.sink.take();
  return r;
}

const ipOf = (f: Buffer, at: number): string => `${f[at]}.${f[at + 1]}.${f[at + 2]}.${f[at + 3]}`;

/**
 * An FTP session through director m to vip: a passive or (NAT) active data connection set up;
 * returns a client and a server data segment, and (passive) the control connection's next
 * exchange after the 227 reply (the VIP's text one longer than the server's): the server's "226"
 * and the client's "QUIT", which acks it in its own numbering.
 */
function ftpSession(m: Rig, vip: string, cport: number, active: boolean): { client: Buffer; server: Buffer; rs: string; control?: { server: Buffer; client: Buffer } } {
  const first = m.run(tcpFrame(IN, { src: CLIENT, dst: vip, sport: cport, dport: 21, seq: 100, flags: SYN }))[0]!;
  const rs = RS.find((s) => s.ip === ipOf(first, 30))!;
  const fromRs = { ethDst: DIR_MAC, ethSrc: rs.mac };
  const peer = { addr: ipOf(first, 26), port: first.readUInt16BE(34) };
  m.run(tcpFrame(fromRs, { src: rs.ip, dst: peer.addr, sport: 21, dport: peer.port, seq: 500, ack: 101, flags: SYN | ACK }));
  m.run(tcpFrame(IN, { src: CLIENT, dst: vip, sport: cport, dport: 21, seq: 101, ack: 501, flags: ACK }));
  const text = (s: string): Buffer => Buffer.from(s, 'latin1');
  const dport = cport + 1;
  if (active) {
    m.run(tcpFrame(IN, { src: CLIENT, dst: vip, sport: cport, dport: 21, seq: 101, ack: 501, flags: PSH | ACK, payload: text(`PORT ${CLIENT.replaceAll('.', ',')},${dport >> 8},${dport & 255}\r\n`) }));
    const toClient = { src: rs.ip, dst: CLIENT, sport: 20, dport };
    assert.equal(m.run(tcpFrame(fromRs, { ...toClient, seq: 7000, flags: SYN })).length, 1, 'the server\'s data SYN');
    m.run(tcpFrame(IN, { src: CLIENT, dst: vip, sport: dport, dport: 20, seq: 9000, ack: 7001, flags: SYN | ACK }));
    m.run(tcpFrame(fromRs, { ...toClient, seq: 7001, ack: 9001, flags: ACK }));
    return {
      rs: rs.ip,
      client: tcpFrame(IN, { src: CLIENT, dst: vip, sport: dport, dport: 20, seq: 9001, ack: 8001, flags: ACK }),
      server: tcpFrame(fromRs, { ...toClient, seq: 7001, ack: 9001, flags: PSH | ACK, payload: Buffer.alloc(1000, 1) }),
    };
  }
  m.run(tcpFrame(IN, { src: CLIENT, dst: vip, sport: cport, dport: 21, seq: 101, ack: 501, flags: PSH | ACK, payload: text('PASV\r\n') }));
  const pasv = text(`227 Entering Passive Mode (${rs.ip.replaceAll('.', ',')},195,80).\r\n`);
  const reply = m.run(tcpFrame(fromRs, { src: rs.ip, dst: peer.addr, sport: 21, dport: peer.port, seq: 501, ack: 107, flags: PSH | ACK, payload: pasv }));
  assert.match(reply[0]!.subarray(54).toString('latin1'), new RegExp(vip.replaceAll('.', ',')), 'the reply names the VIP');
  const syn = m.run(tcpFrame(IN, { src: CLIENT, dst: vip, sport: dport, dport: 50000, seq: 1000, flags: SYN }))[0]!;
  assert.equal(ipOf(syn, 30), rs.ip, 'the data connection goes to the control connection\'s server');
  const dpeer = { addr: ipOf(syn, 26), port: syn.readUInt16BE(34) };
  m.run(tcpFrame(fromRs, { src: rs.ip, dst: dpeer.addr, sport: 50000, dport: dpeer.port, seq: 5000, ack: 1001, flags: SYN | ACK }));
  m.run(tcpFrame(IN, { src: CLIENT, dst: vip, sport: dport, dport: 50000, seq: 1001, ack: 5001, flags: ACK }));
  const done = text('226 Transfer complete.\r\n');
  const next = 501 + pasv.length; // the server's next byte
  return {
    rs: rs.ip,
    client: tcpFrame(IN, { src: CLIENT, dst: vip, sport: dport, dport: 50000, seq: 1001, ack: 6001, flags: ACK }),
    server: tcpFrame(fromRs, { src: rs.ip, dst: dpeer.addr, sport: 50000, dport: dpeer.port, seq: 5001, ack: 1001, flags: PSH | ACK, payload: Buffer.alloc(1000, 2) }),
    control: {
      server: tcpFrame(fromRs, { src: rs.ip, dst: peer.addr, sport: 21, dport: peer.port, seq: next, ack: 107, flags: PSH | ACK, payload: done }),
      client: tcpFrame(IN, { src: CLIENT, dst: vip, sport: cport, dport: 21, seq: 107, ack: next + 1 + done.length, flags: PSH | ACK, payload: text('QUIT\r\n') }),
    },
  };
}

test('FTP data connections (passive through NAT and FULLNAT, active through NAT) are synced, bound to their control connection\'s server, and a takeover carries the transfers on', () => {
  const [m, b] = haPair(ftpDirector(false), ftpDirector(true));
  const sessions = [ftpSession(m, VIP, 40001, false), ftpSession(m, VIP2, 40011, false), ftpSession(m, VIP, 40021, true)];
  sync(m, b);
  assert.equal(b.counters().sync_refused ?? 0, 0, 'no data connection refused');
  assert.equal(m.dp.ct.count, 6);
  assert.deepEqual(rows(b), rows(m), 'the backup holds the data connections, to the same servers (FULLNAT: the same local port)');
  assert.equal(b.dp.laddrs.inUse(parseIp(LIP)), 2, 'the FULLNAT control and data connections\' local ports are reserved on the backup');
  const active = (r: Rig) => (r.ctl.call('list', {}) as { services: { dests: { addr: string; active: number }[] }[] }).services
    .flatMap((s) => s.dests.map((d) => `${d.addr}=${d.active}`)).sort();
  assert.deepEqual(active(b), active(m), 'counted in their servers\' active connections');
  const conns = (r: Rig) => r.ctl.list().services.reduce((n, s) => n + s.stats.conns, 0);
  assert.deepEqual([conns(m), m.counters().conns_created, m.counters().ftp_data_conns], [3, 3, 3], 'the master\'s Conns and conns_created: the 3 control connections; its data connections not scheduled (ftp_data_conns)');
  assert.deepEqual([conns(b), b.counters().ftp_data_conns], [0, 0], 'the backup counts none (synced, not scheduled there)');
  const frames = sessions.flatMap((s) => [s.client, s.server]);
  const masterOut = m.run(...frames).map((f) => decode(f));
  assert.equal(masterOut.length, 6);
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  assert.deepEqual(b.run(...frames).map((f) => decode(f)), masterOut, 'the new master forwards both directions of every data connection as the old one');
  assert.equal(b.counters()['drop.no_service'] ?? 0, 0);
  assert.equal(b.counters()['drop.ip_not_local'] ?? 0, 0);
});

test('a synced FTP data connection is refused (as by an older uvsd) where the FTP port is not an --ftp-ports one, or where the FTP service lacks its server', () => {
  const m = ftpDirector(false);
  const noPorts = ftpDirector(false);
  noPorts.dp.setDefense({ ftpPorts: [] });
  const noServer = ftpDirector(false);
  for (const b of [noPorts, noServer]) b.ctl.call('setRole', { role: 'backup' });
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  const { rs } = ftpSession(m, VIP, 40001, false);
  noServer.ctl.deleteDest({ service: FTP_NAT, addr: rs, port: 21 });
  const buf = new Uint8Array(REC_LEN * 16);
  const n = m.dp.syncDrain(buf, 0, 16);
  assert.equal(n, 3, 'the control connection, its seq shift (the 227 reply grew), the data connection');
  for (const b of [noPorts, noServer]) {
    b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
    assert.equal(b.counters().sync_refused, b === noPorts ? 2 : 1, b === noPorts ? 'the data connection and the seq shift of a control connection not helped here refused' : 'the data connection refused');
    assert.equal(b.counters().sync_installed, 1, 'the control connection installed');
  }
});

test('a synced FTP data connection whose record also says "made through a template" (no uvsd sends that) keeps its control connection (held, then let go when it expires), and no template is held by it', () => {
  const [m, b] = haPair(ftpDirector(false), ftpDirector(true));
  ftpSession(m, VIP, 40001, false);
  const buf = new Uint8Array(REC_LEN * 16);
  const n = m.dp.syncDrain(buf, 0, 16);
  const at = Array.from({ length: n }, (_, i) => i).find((i) => (buf[i * REC_LEN + 3]! & RF_FTPDATA) !== 0)!;
  buf[at * REC_LEN + 3] |= RF_HAS_TPL;
  const vport = (buf[at * REC_LEN + 8]! << 8) | buf[at * REC_LEN + 9]!;
  // The template such a flag would find (the key a -f service's would have).
  const ct = b.dp.ct;
  const tpl = ct.insert(6 | PROTO_TPL, parseIp(CLIENT) | 0, 0, parseIp(VIP) | 0, 0, parseIp(RS[0].ip) | 0, 0, 0, 0, b.dp.nowTick + 1000, false);
  ct.flags[tpl] |= F_TEMPLATE;
  ct.ctl[tpl] = 0;
  b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  const control = ct.lookup(6, parseIp(CLIENT) | 0, 40001, parseIp(VIP) | 0, 21) >>> 1;
  const data = ct.lookup(6, parseIp(CLIENT) | 0, (buf[at * REC_LEN + 6]! << 8) | buf[at * REC_LEN + 7]!, parseIp(VIP) | 0, vport) >>> 1;
  assert.deepEqual([ct.ctl[data], ct.ctl[tpl]], [control, 0], 'linked to its control connection, not to the template');
  assert.equal(ct.controls(control), true, 'held while its data connection lives');
  ct.expireNow(data);
  assert.equal(ct.controls(control), false, 'let go when it expires');
});

test('an FTP control connection the master holds for its data connection (idle past its timeout) stays on the backup too: its renewals are synced', () => {
  const [m, b] = haPair(ftpDirector(false), ftpDirector(true));
  const s = ftpSession(m, VIP, 40001, false);
  sync(m, b);
  const control = (r: Rig) => r.dp.ct.lookup(6, parseIp(CLIENT), 40001, parseIp(VIP), 21);
  // A 20-minute download, nothing on the control connection (ESTABLISHED: 15 minutes).
  for (let min = 0; min < 20; min++) {
    for (const r of [m, b]) {
      r.advance(60_000);
      r.dp.tick();
      for (const x of RS) r.learn(x.ip, x.mac);
      r.learn(CLIENT, CLIENT_MAC);
    }
    m.run(s.server, s.client);
    sync(m, b);
  }
  assert.ok(control(m) >= 0, 'the master holds it');
  assert.ok(control(b) >= 0, 'so does the backup');
  // A record of its tuple to another server does not replace it while it is held (refused).
  const rec = new Uint8Array(REC_LEN);
  writeConnRecord(m.dp.ct, control(m) >>> 1, rec, 0, true);
  Buffer.from(rec.buffer).writeUInt32BE(parseIp(RS.find((x) => x.ip !== s.rs)!.ip) >>> 0, 24);
  b.dp.apply([{ op: 'syncInstall', records: rec }]);
  assert.equal(b.counters().sync_refused, 1);
  assert.equal(b.dp.ct.count, 2, 'no second entry of the tuple');
  // Takeover: the new master helps the control connection and its data connection holds it.
  b.ctl.call('setRole', { role: 'master' });
  assert.equal(b.dp.ftp.controls, 1, 'helped on the new master');
  for (let min = 0; min < 20; min++) {
    b.advance(60_000);
    b.dp.tick();
    for (const x of RS) b.learn(x.ip, x.mac);
    b.learn(CLIENT, CLIENT_MAC);
    assert.equal(b.run(s.server).length, 1, `minute ${min + 1} after the takeover: data forwarded`);
    b.run(s.client);
  }
  assert.ok(control(b) >= 0, 'the new master holds it through 20 more minutes');
});

test('a resized 227 reply\'s seq shift is synced (REC_FTPSEQ after the control connection\'s REC_CONN): after a takeover the next reply and command on that control connection (NAT and FULLNAT) go out exactly as from the master', () => {
  const [m, b] = haPair(ftpDirector(false), ftpDirector(true));
  const controls = [ftpSession(m, VIP, 40001, false), ftpSession(m, VIP2, 40011, false)].map((x) => x.control!);
  const buf = new Uint8Array(REC_LEN * 16);
  let lookups = 0;
  const seqShift = m.dp.ftp.seqShift.bind(m.dp.ftp);
  m.dp.ftp.seqShift = (e, out) => {
    lookups++;
    return seqShift(e, out);
  };
  const n = m.dp.syncDrain(buf, 0, 16);
  assert.equal(lookups, 2, 'each control connection\'s seq shift looked up once (was twice: counted, then written)');
  const types = Array.from({ length: n }, (_, i) => buf[i * REC_LEN]);
  assert.equal(types.filter((t) => t === REC_FTPSEQ).length, 2, `record types ${types.join(' ')}`);
  for (let i = 0; i < n; i++) {
    if (buf[i * REC_LEN] !== REC_FTPSEQ) continue;
    assert.equal(buf[(i - 1) * REC_LEN], REC_CONN, 'right after its control connection\'s REC_CONN');
    assert.deepEqual(buf.subarray(i * REC_LEN + 1, i * REC_LEN + 24), buf.subarray((i - 1) * REC_LEN + 1, (i - 1) * REC_LEN + 24), 'with its tuple');
    assert.equal(Buffer.from(buf.buffer).readInt32BE(i * REC_LEN + 28), 1, 'delta: the VIP\'s text one byte longer');
  }
  b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  assert.equal(b.counters().sync_refused ?? 0, 0);
  const frames = controls.flatMap((c) => [c.server, c.client]);
  const masterOut = m.run(...frames);
  assert.equal(masterOut.length, 4);
  assert.equal(masterOut[0]!.readUInt32BE(38), controls[0]!.server.readUInt32BE(38) + 1, 'the master moves the 226\'s seq by the shift');
  assert.equal(masterOut[1]!.readUInt32BE(42), controls[0]!.client.readUInt32BE(42) - 1, 'and the QUIT\'s ack back');
  b.ctl.call('setRole', { role: 'master' });
  b.sink.take();
  assert.deepEqual(b.run(...frames).map((f) => f.toString('hex')), masterOut.map((f) => f.toString('hex')), 'the same bytes from the new master');
});

const SP_FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const SP_CISN = 0x90000000;
const SP_SISN = 0x12345678;
/** The client's and the server's timestamp clocks (the offset between them wraps). */
const SP_TS = { tsc: 0x90000100, sts: 0x00001000 };

/** A director with SYN proxy NAT and FULLNAT services, one server each (RS[0]). */
function spDirector(): Rig {
  const r = rig({ addrs: [`${DIR_IP}/24`], connMax: 4096 });
  r.ctl.addService({ ...NAT80, sched: 'rr', synproxy: true });
  r.ctl.addService({ ...FNAT80, sched: 'rr', synproxy: true });
  r.ctl.addDest({ service: NAT80, addr: RS[0].ip, port: 8080, fwd: 'nat', weight: 1 });
  r.ctl.addDest({ service: FNAT80, addr: RS[0].ip, port: 80, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: FNAT80, addr: LIP });
  r.learn(RS[0].ip, RS[0].mac);
  r.dp.resolve(parseIp(CLIENT));
  r.learn(CLIENT, CLIENT_MAC);
  r.sink.take();
  return r;
}

/** A SYN proxy connection (timestamps, SACK, window scale 7 on both sides) opened through m; returns a server data segment and the client's ACK of it (timestamps, a SACK block). */
function spConnection(m: Rig, vip: string, cport: number): { server: Buffer; client: Buffer } {
  const rport = vip === VIP ? 8080 : 80;
  const h = synproxyHandshake((f) => m.run(f), IN, SP_FROM_RS, { client: CLIENT, vip, cport, cisn: SP_CISN, sisn: SP_SISN, rs: RS[0].ip, rport, ts: SP_TS });
  const data = Buffer.alloc(300, 0x41);
  const cack = (h.cookie + 1 + data.length) >>> 0;
  const sack = Buffer.from([1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
  sack.writeUInt32BE((cack + 1000) >>> 0, 4);
  sack.writeUInt32BE((cack + 2000) >>> 0, 8);
  return {
    server: tcpFrame(SP_FROM_RS, { src: RS[0].ip, dst: h.peer, sport: rport, dport: h.pport, seq: SP_SISN + 1, ack: SP_CISN + 1, flags: PSH | ACK, window: 1000, options: tsOption(SP_TS.sts + 40, SP_TS.tsc + 1), payload: data }),
    client: tcpFrame(IN, { src: CLIENT, dst: vip, sport: cport, dport: 80, seq: SP_CISN + 1, ack: cack, flags: ACK, window: 500, options: Buffer.concat([tsOption(SP_TS.tsc + 2, h.tsval + 40), sack]) }),
  };
}

const spState = (r: Rig, cport: number, vip = VIP): number[] => {
  const ct = r.dp.ct;
  const e = ct.lookup(6, parseIp(CLIENT), cport, parseIp(vip), 80) >>> 1;
  return [ct.flags[e]! & (F_SYNPROXY | F_CONFIRMED), ct.seqd[e]!, ct.tsoff[e]!, ct.spwin[e]!];
};

test('SYN proxy connections are synced with their translation (REC_SYNPROXY after their REC_CONN, in marks and dumps): a backup that takes over translates a later segment\'s seq, ack, timestamps, SACK edges and window byte for byte as the master; one whose server has not answered is not synced until it has', () => {
  const [m, b] = haPair(spDirector(), spDirector());
  const conns = [spConnection(m, VIP, 40001), spConnection(m, VIP2, 40002)];
  // A third client whose server has not answered yet: its seqd is a held-segment slot of m's.
  const synack = m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40003, dport: 80, seq: SP_CISN, flags: SYN }))[0]!;
  const toRs = m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40003, dport: 80, seq: SP_CISN + 1, ack: synack.readUInt32BE(38) + 1, flags: ACK }))[0]!;
  assert.equal(m.dp.ct.count, 3);
  const buf = new Uint8Array(REC_LEN * 16);
  const n = m.dp.syncDrain(buf, 0, 16);
  assert.deepEqual(Array.from({ length: n }, (_, i) => buf[i * REC_LEN]), [REC_CONN, REC_SYNPROXY, REC_CONN, REC_SYNPROXY], 'the waiting one is not sent');
  for (const i of [1, 3]) assert.deepEqual(buf.subarray(i * REC_LEN + 1, i * REC_LEN + 24), buf.subarray((i - 1) * REC_LEN + 1, (i - 1) * REC_LEN + 24), 'REC_SYNPROXY carries its REC_CONN\'s tuple');
  b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  assert.equal(b.dp.ct.count, 2);
  assert.equal(b.counters().sync_refused ?? 0, 0);
  for (const [cport, vip] of [[40001, VIP], [40002, VIP2]] as const) {
    const s = spState(m, cport, vip);
    assert.ok(s[1] !== 0 && s[2] !== 0 && s[3] !== 0, `delta, timestamp offset and rescaling all in use: ${s.join(' ')}`);
    assert.deepEqual(spState(b, cport, vip), s, 'installed as the master has them');
  }
  // The server answers the third: it is synced now.
  m.run(tcpFrame(SP_FROM_RS, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: 40003, seq: SP_SISN, ack: toRs.readUInt32BE(38) + 1, flags: SYN | ACK }));
  sync(m, b);
  assert.deepEqual(spState(b, 40003), spState(m, 40003));
  // A dump (a backup that starts) in groups of 3 records: a REC_SYNPROXY never leaves its REC_CONN's group.
  const b2 = spDirector();
  b2.ctl.call('setRole', { role: 'backup' });
  const p = new SyncProducer(m.dp);
  p.start();
  assert.equal(p.requestDump(), true);
  const groups: number[][] = [];
  p.produce(buf, 0, 3, 100, (k) => {
    groups.push(Array.from({ length: k }, (_, i) => buf[i * REC_LEN]!));
    b2.dp.apply([{ op: 'syncInstall', records: buf.slice(0, k * REC_LEN) }]);
  });
  assert.deepEqual(groups, [[REC_CONN, REC_SYNPROXY], [REC_CONN, REC_SYNPROXY], [REC_CONN, REC_SYNPROXY]]);
  p.stop();
  const frames = conns.flatMap((c) => [c.server, c.client]);
  const masterOut = m.run(...frames);
  assert.equal(masterOut.length, 4);
  assert.equal(masterOut[0]!.readUInt16BE(48), 125, 'the master rescales the server\'s window (1000 × 2^7 in units of 2^10)');
  for (const d of [b, b2]) {
    d.ctl.call('setRole', { role: 'master' });
    d.sink.take();
    assert.deepEqual(d.run(...frames).map((f) => f.toString('hex')), masterOut.map((f) => f.toString('hex')), 'the same bytes from the new master');
  }
});

test('the rate bound counts datagrams as they are sent: a SYN proxy connection\'s group is two (its REC_SYNPROXY goes in a MSG_DATA_EXT of its own), at one record per datagram a group of two records two; a budget of 4 sends no more than 4', () => {
  const m = spDirector();
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  for (let i = 0; i < 10; i++) spConnection(m, VIP, 41000 + i);
  const buf = new Uint8Array(REC_LEN * 16);
  const p = new SyncProducer(m.dp);
  p.start();
  const produce = (per: number): number[] => {
    const groups: number[] = [];
    p.produce(buf, 0, per, 4, (k) => groups.push(syncDatagrams(buf, 0, k, per)));
    return groups;
  };
  assert.deepEqual(produce(1), [2, 2], 'one record per datagram: two connections, four datagrams (was four connections, eight)');
  assert.deepEqual(produce(16), [2], 'the other 8 in one group: one MSG_DATA and one MSG_DATA_EXT');
  p.stop();
});

test('a SYN proxy connection given up before its server answered was never synced: its expiry sends no REC_EXPIRE (it could expire a backup\'s copy of an earlier connection of that tuple)', () => {
  const m = spDirector();
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  const synack = m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40003, dport: 80, seq: SP_CISN, flags: SYN }))[0]!;
  m.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40003, dport: 80, seq: SP_CISN + 1, ack: synack.readUInt32BE(38) + 1, flags: ACK }));
  assert.equal(m.dp.ct.count, 1, 'waiting for its server');
  for (let i = 0; i < 20; i++) {
    m.advance(1000);
    m.dp.tick();
  }
  assert.equal(m.dp.ct.count, 0, 'given up (the client reset)');
  const buf = new Uint8Array(REC_LEN * 16);
  assert.equal(m.dp.syncDrain(buf, 0, 16), 0, 'nothing to send: no REC_CONN was, so no REC_EXPIRE');
});

test('a REC_SYNPROXY that comes before its REC_CONN (its MSG_DATA_EXT datagram overtook the MSG_DATA) is held and taken by the connection when it comes (counted sync_ext_held); one whose connection never comes is dropped after 2 s (sync_ext_dropped)', () => {
  const [m, b] = haPair(spDirector(), spDirector());
  spConnection(m, VIP, 40001);
  const buf = new Uint8Array(REC_LEN * 16);
  assert.equal(m.dp.syncDrain(buf, 0, 16), 2);
  const install = (i: number): void => b.dp.apply([{ op: 'syncInstall', records: buf.slice(i * REC_LEN, (i + 1) * REC_LEN) }]);
  install(1);
  install(0);
  assert.deepEqual(spState(b, 40001), spState(m, 40001), 'the translation installed as the master has it');
  assert.deepEqual([b.counters().sync_ext_held, b.counters().sync_ext_dropped, b.counters().sync_refused ?? 0], [1, 0, 0]);
  // Another connection's REC_SYNPROXY whose REC_CONN never comes.
  buf[REC_LEN + 7] ^= 1; // its client port
  install(1);
  b.advance(1_999);
  b.dp.tick();
  assert.equal(b.counters().sync_ext_dropped, 0);
  b.advance(1);
  b.dp.tick();
  assert.deepEqual([b.counters().sync_ext_held, b.counters().sync_ext_dropped], [2, 1]);
});

test('held extension records are copies (the datagram\'s buffer may be overwritten after), taken one slot at a time: every one of the REC_CONN\'s connection (two here), not another\'s', () => {
  const [m] = haPair(spDirector(), spDirector());
  spConnection(m, VIP, 40001);
  spConnection(m, VIP, 40002);
  const buf = new Uint8Array(REC_LEN * 16);
  assert.equal(m.dp.syncDrain(buf, 0, 16), 4);
  assert.deepEqual([0, 1, 2, 3].map((i) => buf[i * REC_LEN]), [REC_CONN, REC_SYNPROXY, REC_CONN, REC_SYNPROXY]);
  const [conn1, ext1, , ext2] = [0, 1, 2, 3].map((i) => buf.slice(i * REC_LEN, (i + 1) * REC_LEN));
  const h = new ExtHold();
  const dgram = new Uint8Array(3 * REC_LEN);
  dgram.set(ext1!, 0);
  dgram.set(ext2!, REC_LEN);
  dgram.set(ext1!, 2 * REC_LEN);
  dgram[2 * REC_LEN + 30] ^= 0xff; // the same connection's again, another value
  for (let i = 0; i < 3; i++) h.hold(dgram, i * REC_LEN, 0);
  const again = dgram.slice(2 * REC_LEN);
  dgram.fill(0); // the receive buffer reused
  const taken: Uint8Array[] = [];
  for (let k = h.take(conn1!, 0, 0); k >= 0; k = h.take(conn1!, 0, k + 1)) taken.push(h.recs.slice(k * REC_LEN, (k + 1) * REC_LEN));
  assert.deepEqual(taken, [ext1, again], 'both of the first connection, as they came');
  assert.equal(h.count, 1, 'the other connection\'s still held');
  assert.equal(h.take(conn1!, 0, 0), -1);
});

test('a --sync-maxlen too small for an entry\'s records (92-163: one or two per datagram) still sends them all: REC_SYNPROXY at one record per datagram, REC_FTPSEQ after both at two', () => withSyncLab({ key: PAIR_KEY }, async ({ port, keyFile: { key: keyFile } }) => {
  // Two records per group: an FTP control connection with a seq shift that is a SYN proxy one too.
  const f = ftpDirector(false);
  f.dp.apply([{ op: 'syncMarks', on: true }]);
  ftpSession(f, VIP, 40001, false);
  const buf = new Uint8Array(REC_LEN * 16);
  f.dp.syncDrain(buf, 0, 16);
  const e = f.dp.ct.lookup(6, parseIp(CLIENT) | 0, 40001, parseIp(VIP) | 0, 21) >>> 1;
  f.dp.ct.flags[e] |= F_SYNPROXY | F_CONFIRMED;
  const p = new SyncProducer(f.dp);
  p.start();
  p.requestDump();
  const groups: number[][] = [];
  p.produce(buf, 0, 2, 100, (k) => groups.push(Array.from({ length: k }, (_, i) => buf[i * REC_LEN]!)));
  p.stop();
  assert.ok(groups.some((g) => g.join() === [REC_CONN, REC_SYNPROXY, REC_FTPSEQ].join()), `groups ${JSON.stringify(groups)}`);
  // One record per datagram (maxlen 100): a SYN proxy connection's REC_CONN, then its REC_SYNPROXY.
  const m = spDirector();
  m.ctl.call('setRole', { role: 'master' });
  await m.ctl.call('startDaemon', { state: 'master', syncid: 3, syncPeer: '127.0.0.1', keyFile, port, maxlen: 100 });
  try {
    const sent = sentBy(m, PAIR_KEY, (r) => [r.type, r.count, r.records[0]]);
    spConnection(m, VIP, 40001);
    await until(() => sent.length >= 2);
    assert.deepEqual(sent, [[MSG_DATA, 1, REC_CONN], [MSG_DATA_EXT, 1, REC_SYNPROXY]]);
  } finally {
    m.ctl.sync.close();
  }
}));

test('mixed versions: the new records go in MSG_DATA_EXT datagrams after their MSG_DATA; MSG_DATA holds only what an older uvsd knows, so an older backup (which takes MSG_DATA alone) installs the same connections as before and refuses nothing', () => withSyncLab({ key: PAIR_KEY }, async ({ port, keyFile: { key: keyFile } }) => {
  const m = spDirector();
  try {
    await m.ctl.call('startDaemon', { state: 'master', syncid: 1, syncPeer: '127.0.0.1', keyFile, port });
    const sent = sentBy(m, PAIR_KEY, (r) => ({ type: r.type, records: Buffer.from(r.records) }));
    spConnection(m, VIP, 40001);
    spConnection(m, VIP2, 40002);
    await until(() => sent.some((x) => x.type === MSG_DATA_EXT));
    const typesIn = (t: number) => sent.filter((x) => x.type === t).flatMap((x) => Array.from({ length: x.records.length / REC_LEN }, (_, i) => x.records[i * REC_LEN]!));
    assert.deepEqual(sent.map((x) => x.type), [MSG_DATA, MSG_DATA_EXT], 'one group: its MSG_DATA, then its MSG_DATA_EXT');
    assert.ok(typesIn(MSG_DATA).every((t) => t === REC_CONN || t === REC_EXPIRE), `MSG_DATA: ${typesIn(MSG_DATA).join(' ')}`);
    assert.deepEqual(typesIn(MSG_DATA_EXT), [REC_SYNPROXY, REC_SYNPROXY]);
    const install = (d: Rig, types: number[]) => {
      for (const x of sent) if (types.includes(x.type)) d.dp.apply([{ op: 'syncInstall', records: new Uint8Array(x.records) }]);
    };
    const older = spDirector();
    const newer = spDirector();
    for (const d of [older, newer]) d.ctl.call('setRole', { role: 'backup' });
    install(older, [MSG_DATA]);
    install(newer, [MSG_DATA, MSG_DATA_EXT]);
    assert.deepEqual(rows(older), rows(m), 'the older backup holds every connection');
    assert.equal(older.counters().sync_refused ?? 0, 0, 'and refuses nothing');
    assert.deepEqual(spState(older, 40001), [F_CONFIRMED, 0, 0, 0], 'without the translation (as before)');
    assert.deepEqual(spState(newer, 40001), spState(m, 40001));
  } finally {
    m.ctl.sync.close();
  }
}));

test('a template\'s ASSURED is synced (a record flag an older uvsd ignores): the backup\'s copy is assured once the master\'s is, by the template\'s record then or by a dump, so after a takeover eviction spares it as the master would', () => {
  const [m, b] = haPair(director(false), director(true));
  const seg = (flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP3, sport: 44000, dport: 80, flags });
  const tpl = (r: Rig) => rows(r).filter((l) => l.endsWith(' tpl'));
  const entry = (r: Rig) => r.dp.ct.lookup(6 | PROTO_TPL, parseIp(CLIENT), 0, parseIp(VIP3), 80) >>> 1;
  assert.equal(m.run(seg(TCP_FLAGS.SYN)).length, 1);
  sync(m, b);
  assert.match(tpl(b).join('\n'), /^tcp NONE 10\.0\.0\.50:0 /);
  assert.equal(m.run(seg(TCP_FLAGS.ACK)).length, 1); // DR: ESTABLISHED, the template assured
  assert.equal(sync(m, b), 2, 'the connection\'s new state and the template');
  assert.match(tpl(b).join('\n'), /^tcp ASSURED 10\.0\.0\.50:0 /);
  assert.deepEqual(tpl(b), tpl(m));
  // A backup that starts later: the master's dump.
  const fresh = director(true);
  fresh.ctl.call('setRole', { role: 'backup' });
  const buf = new Uint8Array(REC_LEN * 64);
  const out = new Int32Array(2);
  m.dp.syncDump(buf, 0, 64, 0, 2 * m.dp.ct.max, out);
  fresh.dp.apply([{ op: 'syncInstall', records: buf.slice(0, out[1]! * REC_LEN) }]);
  assert.deepEqual(tpl(fresh), tpl(m));
  // Taken over, the client's connection gone: the template controls nothing, and is still not evictable.
  for (const r of [b, fresh]) {
    r.ctl.call('setRole', { role: 'master' });
    r.dp.ct.expireNow(r.dp.ct.lookup(6, parseIp(CLIENT), 44000, parseIp(VIP3), 80) >>> 1);
    assert.equal(r.dp.ct.ctl[entry(r)], 0);
    assert.equal(r.dp.ct.evictable(entry(r)), false);
  }
  // Without the flag (an older master) the copy is NONE: evictable once it controls nothing.
  const old = director(true);
  old.ctl.call('setRole', { role: 'backup' });
  const recs = buf.slice(0, out[1]! * REC_LEN);
  for (let o = 0; o < recs.length; o += REC_LEN) recs[o + 3]! &= ~RF_ASSURED;
  old.dp.apply([{ op: 'syncInstall', records: recs }]);
  assert.match(tpl(old).join('\n'), /^tcp NONE 10\.0\.0\.50:0 /);
  old.dp.ct.expireNow(old.dp.ct.lookup(6, parseIp(CLIENT), 44000, parseIp(VIP3), 80) >>> 1);
  assert.equal(old.dp.ct.evictable(entry(old)), true);
});

test('IPsec ESP that keeps a client\'s IKE connection (UDP 500) alive on the master renews the backup\'s copy too: after a takeover past the IKE packet\'s 300 s the backup still carries the tunnel (the kernel syncs on ESP packets as well)', () => {
  const IKE = { proto: 'udp' as const, addr: VIP, port: 500 };
  const pair = [rig(), rig()].map((r) => {
    r.ctl.addService({ ...IKE, sched: 'rr' });
    r.ctl.addDest({ service: IKE, addr: RS[0].ip, port: 500, fwd: 'nat', weight: 1 });
    r.learn(RS[0].ip, RS[0].mac);
    r.dp.resolve(parseIp(CLIENT));
    r.learn(CLIENT, CLIENT_MAC);
    r.sink.take();
    return r;
  });
  const [m, b] = haPair(pair[0]!, pair[1]!);
  const esp = eth({ dst: DIR_MAC, src: CLIENT_MAC, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 50 }, new Uint8Array(48)));
  // What a director sent of it (an ARP re-probe of the server may go out beside it).
  const espOut = (frames: Buffer[]) => frames.filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 50);
  const both = (ms: number) => {
    for (const r of [m, b]) {
      r.advance(ms);
      r.dp.tick();
      r.learn(RS[0].ip, RS[0].mac); // the server answers uvsd's re-probes
    }
  };
  assert.equal(m.run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 500, dport: 500, payload: new Uint8Array(28) })).length, 1);
  assert.equal(sync(m, b), 1);
  // ESP every 100 s, IKE quiet: the master's entry lives on, and so must the backup's.
  for (let t = 100; t <= 500; t += 100) {
    both(100_000);
    assert.equal(espOut(m.run(esp)).length, 1, `ESP carried at ${t} s`);
    sync(m, b);
  }
  assert.equal(b.ctl.connections().filter((c) => c.proto === 'udp' && c.vport === 500).length, 1, 'the backup still has the IKE connection 500 s after its last IKE packet');
  b.ctl.call('setRole', { role: 'master' });
  const [out] = espOut(b.run(esp));
  assert.ok(out, 'the new master carries the tunnel');
  assert.equal(out.readUInt32BE(30), parseIp(RS[0].ip) >>> 0, 'to the IKE connection\'s server');
});

test('uvsadm --start-daemon / --stop-daemon through uvsd\'s dispatch log one info line each once done (the key file named, never its secret); refused ones none', () => withSyncLab({ key: PAIR_KEY }, async ({ b, port, keyFile: { key: keyFile } }) => {
  const logged: [object, string][] = [];
  const dispatch = controlDispatch({ control: b.ctl, dp: b.dp, probeMs: 0, log: { info: (f, m) => logged.push([f, m]) } });
  const args = { state: 'backup', syncid: 3, syncPeer: '127.0.0.1', keyFile, port };
  await dispatch('startDaemon', args);
  assert.deepEqual(logged, [[{ verb: 'startDaemon', args }, 'sync daemon started: backup']]);
  await assert.rejects(Promise.resolve().then(() => dispatch('startDaemon', args)), /Daemon has already run/);
  await dispatch('stopDaemon', { state: 'backup' });
  assert.throws(() => dispatch('stopDaemon', { state: 'backup' }), /No daemon is running/);
  assert.deepEqual(logged.slice(1), [[{ verb: 'stopDaemon', args: { state: 'backup' } }, 'sync daemon stopped: backup']], 'the refusals: no line');
  assert.doesNotMatch(JSON.stringify(logged), new RegExp(PAIR_KEY));
}));
