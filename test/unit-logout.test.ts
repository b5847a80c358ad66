// test-class: shared
// uvsd's log output (src/cli/logout.ts), pino's destination: a write that fails (/dev/full gives
// ENOSPC, as a full disk does) drops its lines, counted, says so once on stderr, never throws and
// never blocks (pino's fatal included); writes that succeed again resume the log and say how many
// lines were lost. uvsd itself on a full disk: uvsd-cli.test.ts ("stdout is on a full disk").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { pino } from 'pino';
import { LogOutput } from '../src/cli/logout.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { formatStatus } from '../src/control/printers.js';
import type { StatusResult } from '../src/control/protocol.js';
import { parseExposition } from './helpers/prom.js';
import { rig } from './helpers/harness.js';

/** Until cond() holds (each turn of the loop's poll phase), at most ms. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    assert.ok(performance.now() < end, 'timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('log lines to /dev/full (ENOSPC): dropped and counted, one stderr line, nothing thrown; pino\'s fatal returns at once (before: its flushSync retried every 100 ms forever)', async () => {
  const fd = openSync('/dev/full', 'w');
  const said: string[] = [];
  const out = new LogOutput(fd, (line) => said.push(line));
  const log = pino({ base: { name: 'uvsd' } }, out);
  const uncaught: Error[] = [];
  const onUncaught = (e: Error) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    for (let i = 0; i < 100; i++) log.info({ i }, 'table changed');
    await until(() => out.state().dropped === 100);
    const t0 = performance.now();
    log.fatal('internal error'); // flushSync: one attempt
    assert.ok(performance.now() - t0 < 50, `fatal took ${performance.now() - t0} ms`);
    await until(() => out.state().dropped === 101);
    const st = out.state();
    assert.equal(st.error, 'ENOSPC: no space left on device');
    assert.ok(st.failingSince !== undefined && Date.now() - st.failingSince < 5000);
    assert.equal(said.length, 1, 'one stderr line for the whole spell');
    assert.match(said[0]!, /^uvsd: cannot write the log to file descriptor \d+ \(ENOSPC: no space left on device\): log lines are dropped and counted \(uvsadm --status log_lines_dropped\) until a write succeeds; uvsd goes on\n$/);
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    closeSync(fd);
  }
});

test('writes that succeed again resume the log: the lines after it are written in order, onBack told how many were lost; a later spell of failures is said on stderr again', async () => {
  let failing = true;
  const written: string[] = [];
  const said: string[] = [];
  const out = new LogOutput(9, (line) => said.push(line), (_fd, buf, cb) => setImmediate(() => {
    if (failing) return cb(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }), 0);
    written.push(buf.toString());
    cb(null, buf.length);
  }));
  const back: Array<[number, string]> = [];
  out.onBack = (n, error) => back.push([n, error]);
  for (const l of ['a\n', 'b\n', 'c\n']) out.write(l);
  await until(() => out.state().dropped === 3);
  failing = false;
  for (const l of ['d\n', 'e\n']) out.write(l);
  await until(() => written.join('') === 'd\ne\n');
  assert.deepEqual(back, [[3, 'EIO: i/o error']]);
  assert.deepEqual(out.state(), { dropped: 3 }, 'no longer failing');
  assert.equal(said.length, 1);
  failing = true;
  out.write('f\n');
  await until(() => out.state().dropped === 4);
  assert.equal(said.length, 2, 'a new spell of failures');
});

test('/metrics and uvsadm --status: uvs_log_lines_dropped_total, uvs_log_output_failing and log_lines_dropped / log_output; uvs_control_socket_rebound_total and control_socket', async () => {
  const r = rig({ addrs: ['192.168.8.10/24'] });
  const log = { dropped: 7, error: 'ENOSPC: no space left on device', failingSince: Date.now() - 12_000 };
  const sock = { path: '/run/uvs/uvsd.sock', rebound: 2 };
  const m = parseExposition(await createMetrics(r.dp, { process: false, logOutput: () => log, controlSocket: () => sock }).text());
  assert.deepEqual(['uvs_log_lines_dropped_total', 'uvs_log_output_failing', 'uvs_control_socket_rebound_total'].map((n) => m.get(n, {})), [7, 1, 2]);
  r.ctl.info.logOutput = () => log;
  r.ctl.info.controlSocket = () => sock;
  const text = formatStatus(r.ctl.call('status', {}) as StatusResult);
  assert.match(text, /^log_lines_dropped 7\nlog_output failing for 12s: ENOSPC: no space left on device\ncontrol_socket \/run\/uvs\/uvsd\.sock rebound 2$/m);
  r.ctl.info.logOutput = () => ({ dropped: 7 });
  assert.match(formatStatus(r.ctl.call('status', {}) as StatusResult), /^log_lines_dropped 7\ncontrol_socket /m, 'writes succeed again: no log_output line');
});

test('drained(): resolves once the lines queued and in flight are written (a write refused with EAGAIN tried again until it goes), or at its bound when they never go: uvsd\'s stop waits for its last line, bounded', async () => {
  let refuse = 2; // EAGAIN twice (a full pipe), then the reader is back
  const written: string[] = [];
  const out = new LogOutput(9, () => {}, (_fd, buf, cb) => setImmediate(() => {
    if (refuse > 0) {
      refuse--;
      return cb(Object.assign(new Error('EAGAIN: resource temporarily unavailable, write'), { code: 'EAGAIN' }), 0);
    }
    written.push(buf.toString());
    cb(null, buf.length);
  }));
  await out.drained(10); // nothing queued: at once
  out.write('a\n');
  out.write('uvsd stopped\n');
  const t0 = performance.now();
  await out.drained(2000);
  assert.equal(written.join(''), 'a\nuvsd stopped\n', 'both written before drained() resolved');
  assert.ok(performance.now() - t0 < 1000, 'not the bound: two retries 100 ms apart');
  const stuck = new LogOutput(9, () => {}, () => {}); // a write that never returns
  stuck.write('x\n');
  const t1 = performance.now();
  await stuck.drained(50);
  assert.ok(performance.now() - t1 >= 45, 'the bound');
});
