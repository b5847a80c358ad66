// uvsd's log lines that carry a list growing with the table (src/cli/reload-log.ts): one line stays
// small, so it is serialised in a short piece and written (LogOutput drops a line past its 1 MB queue).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LogOutput } from '../src/cli/logout.js';
import { fileWarner, listFields, LOG_LIST_MAX, reloadLogFields } from '../src/cli/reload-log.js';

/** A pino logger into uvsd's LogOutput, its writes kept. */
function logger(): { log: pino.Logger; out: LogOutput; lines: () => string[] } {
  const written: string[] = [];
  const out = new LogOutput(99, () => {}, (_fd, buf, cb) => {
    written.push(buf.toString());
    cb(null, buf.length);
  });
  return { log: pino({ base: { name: 'uvsd' } }, out), out, lines: () => written.join('').split('\n').filter((l) => l !== '') };
}

test('a replace-all reload at 10,000 x 4 (60,000 changes) is logged in one short line: the first changes, their count, where the rest are', () => {
  const changes: string[] = [];
  for (let i = 0; i < 10_000; i++) changes.push(`delete service TCP 10.1.${i >> 8}.${i & 255}:80`);
  for (let i = 0; i < 10_000; i++) {
    changes.push(`add service TCP 10.1.${i >> 8}.${i & 255}:81 scheduler wlc`);
    for (let j = 0; j < 4; j++) changes.push(`add server TCP 10.1.${i >> 8}.${i & 255}:81 -> 10.8.${(4 * i + j) >> 8 & 255}.${(4 * i + j) & 255}:81 weight 1`);
  }
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
  assert.equal(rec.changesNotLogged, 60_000 - LOG_LIST_MAX);
  assert.match(rec.changesAll, /reload's reply/);
  assert.deepEqual(rec.ignored, ['ignored daemon.tap x -> y']);
});

test('a short list is logged whole, with its count and nothing said left out', () => {
  const { log, lines } = logger();
  log.info(reloadLogFields('uvsadm --reload', { changes: ['edit service TCP 10.0.0.1:80: scheduler rr -> wlc'], ignored: [] }), 'configuration reloaded');
  const rec = JSON.parse(lines()[0]!);
  assert.deepEqual(rec.changes, ['edit service TCP 10.0.0.1:80: scheduler rr -> wlc']);
  assert.equal(rec.changeCount, 1);
  assert.equal('changesNotLogged' in rec, false);
  const f = listFields('leftOut', 'leftOutCount', Array.from({ length: LOG_LIST_MAX + 1 }, (_, i) => `s:${i}: why`), 'the file kept as s.bad');
  assert.deepEqual([(f.leftOut as string[]).length, f.leftOutCount, f.leftOutNotLogged, f.leftOutAll], [LOG_LIST_MAX, LOG_LIST_MAX + 1, 1, 'the file kept as s.bad']);
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
