// uvsd's log lines that carry a list growing with the table (src/cli/reload-log.ts): one line stays
// small, so it is serialised in a short piece and written (LogOutput drops a line past its 1 MB queue).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LogOutput } from '../src/cli/logout.js';
import { fileWarner, jsonBytes, listFields, LOG_LIST_BYTES_MAX, LOG_LIST_MAX, piece, reloadLogFields, reloadLogger, STATUS_LIST_MAX, statusForLog } from '../src/cli/reload-log.js';

/** A pino logger into uvsd's LogOutput, its writes kept. */
function logger(): { log: pino.Logger; out: LogOutput; lines: () => string[] } {
  const written: string[] = [];
  const out = new LogOutput(99, () => {}, (_fd, buf, cb) => {
    written.push(buf.toString());
    cb(null, buf.length);
  });
  return { log: pino({ base: { name: 'uvsd' } }, out), out, lines: () => written.join('').split('\n').filter((l) => l !== '') };
}

/** A replace-all reload's changes at 10,000 services x 4 servers: 60,000. */
function replaceAll(): string[] {
  const changes: string[] = [];
  for (let i = 0; i < 10_000; i++) changes.push(`delete service TCP 10.1.${i >> 8}.${i & 255}:80`);
  for (let i = 0; i < 10_000; i++) {
    changes.push(`add service TCP 10.1.${i >> 8}.${i & 255}:81 scheduler wlc`);
    for (let j = 0; j < 4; j++) changes.push(`add server TCP 10.1.${i >> 8}.${i & 255}:81 -> 10.8.${(4 * i + j) >> 8 & 255}.${(4 * i + j) & 255}:81 weight 1`);
  }
  return changes;
}

test('a replace-all reload at 10,000 x 4 (60,000 changes) is logged in one short line: the first changes, their count, how many the lines after it carry', () => {
  const changes = replaceAll();
  const { log, out, lines } = logger();
  log.info(reloadLogFields('SIGHUP', { changes, ignored: ['ignored daemon.tap x -> y'] }), 'configuration reloaded');
  assert.equal(out.state().dropped, 0, 'the line is written, not dropped');
  const [line] = lines();
  assert.ok(line!.length < 100_000, `one line of ${line!.length} characters`);
  const rec = JSON.parse(line!);
  assert.equal(rec.msg, 'configuration reloaded');
  assert.equal(rec.via, 'SIGHUP');
  const first = piece(changes, 0).to;
  assert.ok(first > 500 && first < LOG_LIST_MAX, `${first} changes: the bytes bound before the count`);
  assert.deepEqual(rec.changes, changes.slice(0, first));
  assert.ok(Buffer.byteLength(line!) < 33 * 1024, `${Buffer.byteLength(line!)} bytes`);
  assert.equal(rec.changeCount, 60_000);
  assert.equal(rec.changesFollowing, 60_000 - first);
  assert.deepEqual(rec.ignored, ['ignored daemon.tap x -> y']);
});

test('a short list is logged whole, with its count and nothing said left out', () => {
  const { log, lines } = logger();
  log.info(reloadLogFields('uvsadm --reload', { changes: ['edit service TCP 10.0.0.1:80: scheduler rr -> wlc'], ignored: [] }), 'configuration reloaded');
  const rec = JSON.parse(lines()[0]!);
  assert.deepEqual(rec.changes, ['edit service TCP 10.0.0.1:80: scheduler rr -> wlc']);
  assert.equal(rec.changeCount, 1);
  assert.equal('changesFollowing' in rec, false);
  const f = listFields('leftOut', 'leftOutCount', Array.from({ length: LOG_LIST_MAX + 1 }, (_, i) => `s:${i}: why`), 'the file kept as s.bad');
  assert.deepEqual([(f.leftOut as string[]).length, f.leftOutCount, f.leftOutNotLogged, f.leftOutAll], [LOG_LIST_MAX, LOG_LIST_MAX + 1, 1, 'the file kept as s.bad']);
});

test('a SIGHUP reload of 60,000 changes logs them all: the first line, then lines of at most 1,000 changes and 32 KiB of them, one per turn of the loop once the log output wrote the one before; none dropped', async () => {
  const changes = replaceAll();
  const { log, out, lines } = logger();
  // As uvsd's: the output drained, then a turn of the loop; each call notes the lines written so far.
  const before: number[] = [];
  const logReload = reloadLogger(log, async () => {
    before.push(lines().length);
    await out.drained(2_000);
    await new Promise((resolve) => setImmediate(resolve));
  });
  const done = logReload('SIGHUP', { changes, ignored: [] });
  assert.equal(lines().length, 1, 'the first line at once, the rest later');
  await done;
  const recs = lines().map((l) => JSON.parse(l) as { reload: number; via: string; msg: string; changes: string[]; changeCount: number; changesFrom?: number; changesFollowing?: number });
  assert.equal(out.state().dropped, 0);
  const n = recs.length;
  assert.ok(n > 60 && n < 120, `${n} lines`);
  assert.deepEqual(before, Array.from({ length: n - 1 }, (_, i) => i + 1), 'one line per turn');
  assert.deepEqual(recs.flatMap((r) => r.changes), changes, 'every change, in order');
  assert.equal(recs[0]!.changesFollowing, 60_000 - recs[0]!.changes.length);
  for (const [i, l] of lines().entries()) assert.ok(Buffer.byteLength(l) < 33 * 1024 && recs[i]!.changes.length <= LOG_LIST_MAX, `line ${i}: ${Buffer.byteLength(l)} bytes`);
  const [a, b] = [recs[0]!.changes.length, recs[0]!.changes.length + recs[1]!.changes.length];
  assert.deepEqual([recs[1]!.msg, recs[1]!.changesFrom, recs[n - 1]!.msg], [`configuration reloaded: changes ${a + 1}-${b} of 60000`, a + 1,
    `configuration reloaded: changes ${60_000 - recs[n - 1]!.changes.length + 1}-60000 of 60000`]);
  assert.ok(recs.every((r) => r.reload === 1 && r.via === 'SIGHUP' && r.changeCount === 60_000));
  // The next reload is number 2 in all its lines; a short one is one line.
  await logReload('uvsadm --reload', { changes: ['add service TCP 10.0.0.1:80 scheduler wlc'], ignored: [] });
  assert.deepEqual(lines().slice(n).map((l) => JSON.parse(l).reload), [2]);
});

test('a line of a list carries at most LOG_LIST_MAX entries and LOG_LIST_BYTES_MAX bytes of their JSON, whole entries, one at least (cut when it alone is longer)', () => {
  const long = Array.from({ length: 3_000 }, (_, i) => `${i} ${'x'.repeat(999)}`);
  const { to: end, entries } = piece(long, 0);
  const bytes = Buffer.byteLength(JSON.stringify(entries));
  assert.deepEqual(entries, long.slice(0, end));
  assert.ok(end < LOG_LIST_MAX && bytes <= LOG_LIST_BYTES_MAX && bytes + jsonBytes(long[end]!) + 1 > LOG_LIST_BYTES_MAX, `${end} entries, ${bytes} bytes: the bytes bound before the count`);
  assert.equal(piece(Array.from({ length: 2_500 }, () => 'short'), 2_000).to, 2_500);
  assert.equal(piece(Array.from({ length: 2_500 }, () => 'short'), 0).to, LOG_LIST_MAX);
  // As JSON writes them: escapes (\", \\, \t, \u0001), 2-, 3- and 4-byte UTF-8, a lone surrogate.
  for (const s of ['plain', 'a "q" \\ b', 'tab\there \u0001', 'caf\u00e9 \u20ac \u{1f600}', 'lone \ud800 x']) assert.equal(jsonBytes(s), Buffer.byteLength(JSON.stringify(s)), s);
  // One entry longer than a line: cut to fit, its line saying how much of it is not logged.
  for (const big of ['y'.repeat(LOG_LIST_BYTES_MAX * 3), '\u0001\u20ac\u{1f600}"'.repeat(LOG_LIST_BYTES_MAX)]) {
    const p = piece([big, 'z'], 0);
    assert.equal(p.to, 1, 'one entry at least');
    assert.ok(Buffer.byteLength(JSON.stringify(p.entries)) <= LOG_LIST_BYTES_MAX, `${Buffer.byteLength(JSON.stringify(p.entries))} bytes`);
    const kept = p.entries[0]!.replace(/\.\.\. \((\d+) more characters of (\d+) not logged\)$/, '');
    assert.ok(big.startsWith(kept) && kept.length > LOG_LIST_BYTES_MAX / 8, `${kept.length} characters kept`);
    assert.match(p.entries[0]!, new RegExp(`\\(${big.length - kept.length} more characters of ${big.length} not logged\\)$`));
    assert.deepEqual(piece([big, 'z'], 1), { to: 2, entries: ['z'] });
  }
});

test('a reload of long change texts: every line under journald\'s LineMax (48 KiB), whole changes, `changes N-M of T` saying which; one change longer than a line is cut to fit', async () => {
  // Changes of 100 to 2,000 characters, with escapes and non-ASCII; one of 200 KB.
  const changes = Array.from({ length: 3_000 }, (_, i) =>
    `edit health of service TCP 10.1.${i >> 8}.${i & 255}:80: misc_path "/usr/lib/uvs/check\t--name \\"caf\u00e9 \u20ac\u{1f600}\\" ${'x'.repeat(100 + (i * 37) % 1_900)}"`);
  changes[1_500] = `edit health of service TCP 10.9.9.9:80: misc_path "${'w'.repeat(200_000)}"`;
  const { log, out, lines } = logger();
  await reloadLogger(log, async () => {
    await out.drained(2_000);
    await new Promise((resolve) => setImmediate(resolve));
  })('SIGHUP', { changes, ignored: [] });
  assert.equal(out.state().dropped, 0);
  const recs = lines().map((l) => JSON.parse(l) as { msg: string; changes: string[]; changesFrom?: number; changeCount: number });
  for (const [i, l] of lines().entries()) {
    assert.ok(Buffer.byteLength(l) < 48 * 1024, `line ${i} of ${recs.length}: ${Buffer.byteLength(l)} bytes`);
    assert.ok(Buffer.byteLength(JSON.stringify(recs[i]!.changes)) <= LOG_LIST_BYTES_MAX);
  }
  const logged = recs.flatMap((r) => r.changes);
  assert.equal(logged.length, 3_000, 'each change in one line, whole');
  assert.deepEqual(logged.filter((_c, i) => i !== 1_500), changes.filter((_c, i) => i !== 1_500), 'every change, in order');
  const kept = logged[1_500]!.replace(new RegExp(`\\.\\.\\. \\(\\d+ more characters of ${changes[1_500]!.length} not logged\\)$`), '');
  assert.ok(kept.length > 30_000 && changes[1_500]!.startsWith(kept), logged[1_500]!.slice(-60));
  let from = 1;
  for (const r of recs.slice(1)) {
    from += recs[recs.indexOf(r) - 1]!.changes.length;
    assert.deepEqual([r.msg, r.changesFrom, r.changeCount], [`configuration reloaded: changes ${from}-${from + r.changes.length - 1} of 3000`, from, 3_000]);
  }
});

test('10,000 warnings of one reload (a keepalived.conf of IPv6 virtual servers): 20 lines, then one line with how many more and where they are', async () => {
  const { log, out, lines } = logger();
  const warn = fileWarner(log);
  for (let i = 0; i < 10_000; i++) warn('/etc/keepalived/keepalived.conf', `keepalived.conf: /etc/keepalived/keepalived.conf:${7 * i}: virtual_server 2001:db8::${i.toString(16)} 80 skipped: uvs does not support IPv6`);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(out.state().dropped, 0, 'no line dropped');
  const recs = lines().map((l) => JSON.parse(l) as { msg: string; file: string; notLogged?: number });
  assert.equal(recs.length, 21, `${recs.length} lines`);
  assert.match(recs[19]!.msg, /keepalived\.conf:133: virtual_server 2001:db8::13 80 skipped/);
  assert.equal(recs[20]!.notLogged, 9_980);
  assert.match(recs[20]!.msg, /^9980 more warnings of the configuration files not logged/);
  warn('f', 'a later one');
  assert.equal(lines().length, 22, 'the next turn logs again');
});

test('statusForLog (SIGUSR1\'s status line): each list longer than 16, at the top or in an object in it, is cut to its first 16 with its length beside it; 2,000 VIPs of the ARP watch make a line well under journald\'s 48K (98.7 KB until 2026-12-07)', () => {
  const addresses = Array.from({ length: 2000 }, (_v, i) => ({ addr: `10.77.${i >> 8}.${i & 255}`, vip: true, conflicts: 0 }));
  const status = { role: 'master', addrs: ['192.168.8.12'], arpWatch: { lapS: 60, addrs: 2001, probes: 3, addresses, answeredBy: [] }, unclaimed: addresses.map((a) => ({ addr: a.addr, by: 'x' })) };
  const out = statusForLog(status);
  assert.deepEqual(Object.keys(out), ['role', 'addrs', 'arpWatch', 'unclaimed', 'unclaimedCount']);
  assert.deepEqual(out['arpWatch'], { lapS: 60, addrs: 2001, probes: 3, addresses: addresses.slice(0, STATUS_LIST_MAX), addressesCount: 2000, answeredBy: [] });
  assert.equal((out['unclaimed'] as unknown[]).length, STATUS_LIST_MAX);
  assert.equal(out['unclaimedCount'], 2000);
  assert.ok(JSON.stringify(out).length < 8 * 1024, `${JSON.stringify(out).length} bytes`);
  assert.ok(JSON.stringify(status).length > 48 * 1024, 'the whole status would not fit a line');
  assert.deepEqual(statusForLog({ a: [1, 2], b: { c: [3] }, d: null }), { a: [1, 2], b: { c: [3] }, d: null }, 'short lists as they are');
});
