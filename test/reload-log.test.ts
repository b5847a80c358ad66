// uvsd's log lines that carry a list growing with the table (src/cli/reload-log.ts): one line stays
// small, so it is serialised in a short piece and written (LogOutput drops a line past its 1 MB queue).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LogOutput } from '../src/cli/logout.js';
import { fileWarner, listFields, LOG_LINE_CHARS_MAX, LOG_LIST_MAX, pieceEnd, reloadLogFields, reloadLogger } from '../src/cli/reload-log.js';

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
  assert.deepEqual(rec.changes, changes.slice(0, LOG_LIST_MAX));
  assert.equal(rec.changeCount, 60_000);
  assert.equal(rec.changesFollowing, 60_000 - LOG_LIST_MAX);
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

test('a SIGHUP reload of 60,000 changes logs them all: the first line, then lines of 1,000 (under 1 MB each), one per turn of the loop once the log output wrote the one before; none dropped', async () => {
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
  assert.equal(recs.length, 60);
  assert.deepEqual(before, Array.from({ length: 59 }, (_, i) => i + 1), 'one line per turn');
  assert.deepEqual(recs.flatMap((r) => r.changes), changes, 'every change, in order');
  assert.equal(recs[0]!.changesFollowing, 59_000);
  for (const [i, l] of lines().entries()) assert.ok(Buffer.byteLength(l) < 1 << 20 && recs[i]!.changes.length <= LOG_LIST_MAX, `line ${i}: ${Buffer.byteLength(l)} bytes`);
  assert.deepEqual([recs[1]!.msg, recs[1]!.changesFrom, recs[59]!.msg], ['configuration reloaded: changes 1001-2000 of 60000', 1001, 'configuration reloaded: changes 59001-60000 of 60000']);
  assert.ok(recs.every((r) => r.reload === 1 && r.via === 'SIGHUP' && r.changeCount === 60_000));
  // The next reload is number 2 in all its lines; a short one is one line.
  await logReload('uvsadm --reload', { changes: ['add service TCP 10.0.0.1:80 scheduler wlc'], ignored: [] });
  assert.deepEqual(lines().slice(60).map((l) => JSON.parse(l).reload), [2]);
});

test('a line of a list carries at most LOG_LIST_MAX entries and LOG_LINE_CHARS_MAX characters of them, one entry at least', () => {
  const long = Array.from({ length: 3_000 }, (_, i) => `${i} ${'x'.repeat(999)}`);
  const end = pieceEnd(long, 0);
  const chars = long.slice(0, end).join('').length;
  assert.ok(end < LOG_LIST_MAX && chars <= LOG_LINE_CHARS_MAX && chars + long[end]!.length > LOG_LINE_CHARS_MAX, `${end} entries, ${chars} characters: the chars bound before the count`);
  assert.equal(pieceEnd(['y'.repeat(LOG_LINE_CHARS_MAX + 1), 'z'], 0), 1, 'one entry at least');
  assert.equal(pieceEnd(Array.from({ length: 2_500 }, () => 'short'), 2_000), 2_500);
  assert.equal(pieceEnd(Array.from({ length: 2_500 }, () => 'short'), 0), LOG_LIST_MAX);
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
