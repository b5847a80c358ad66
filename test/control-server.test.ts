// test-class: shared
// The control socket's hardening, against the real Control in this process: ids of any JSON type
// echoed, malformed requests answered without changes, a last request without a newline
// answered, size limits, clients that never read their replies (reading stops), idle clients
// (closed), many clients at once, a --socket path that is not a socket (refused, kept), and a
// --socket directory another user owns or may write (refused).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import net, { connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleLine, listenControl, refusals, SLICED_PARSE_MIN, type Peer, type ServerLimits } from '../src/control/server.js';
import { PEER_CMD_MAX, peerFields } from '../src/control/dispatch.js';
import { hasLongArray, jsonStringBytes, streamedText, stringifySliced } from '../src/control/slices.js';
import { DIR_MAC, rig, ROUTER_MAC, RS, VIP, type Rig } from './helpers/harness.js';
import { udpFrame } from './helpers/frames.js';
import { ERRORS } from '../src/control/errors.js';
import { ControlClient, ControlError } from '../src/control/client.js';
import { CONNS_MAX_DEFAULT, monoMs, type ConnInfo, type ConnsResult } from '../src/control/protocol.js';
import { fuzzSeed, mutateText, Rand } from './helpers/fuzz.js';
import type { DpOp } from '../src/datapath/ops.js';
import { snapshotConns, type Workers } from '../src/datapath/group.js';
import { CONNS_PAGE_ROWS } from '../src/control/verbs.js';
import { ConfigManager, parseConfig } from '../src/control/config.js';
import { largeAllocations, largestAllocated } from './helpers/alloc.js';
import { checkedConfig } from './helpers/checked-config.js';
import { connRig, lineOf, queuedWhenStill, turnsUntilReply } from './helpers/control-socket.js';

let dir: string;
let r: Rig;
const servers: Server[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'uvs-ctl-'));
  r = rig({ addrs: ['192.168.8.10/24'] });
});
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function serve(limits: Partial<ServerLimits> = {}): Promise<string> {
  const path = join(dir, `s${n++}.sock`);
  servers.push(await listenControl(path, (v, a) => r.ctl.call(v, a), (e) => { throw e; }, limits));
  return path;
}

/** Send raw text, optionally half-close, collect reply lines until `want` lines or close. */
function exchange(path: string, text: string, want: number, end = false): Promise<{ lines: unknown[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    const lines: unknown[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timeout: got ${lines.length} of ${want} replies`));
    }, 10_000);
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ lines, closed });
    };
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
      if (lines.length >= want && !end) done(false);
    });
    s.on('end', () => done(true));
    s.on('error', reject);
    s.write(text);
    if (end) s.end();
  });
}

test('ids of any JSON type come back unchanged; a missing id is null', async () => {
  const path = await serve();
  const ids = [7, 'seven', { a: [1, 2] }, [1, 'x'], null, true, 1.5];
  const text = ids.map((id) => JSON.stringify({ id, verb: 'timeouts' })).join('\n') + '\n' + JSON.stringify({ verb: 'timeouts' }) + '\n';
  const { lines } = await exchange(path, text, ids.length + 1);
  assert.deepEqual(lines.map((l) => (l as { id: unknown }).id), [...ids, null]);
  assert.ok(lines.every((l) => (l as { ok: boolean }).ok === true));
});

test('a request with "timing": true gets when uvsd handled it (CLOCK_MONOTONIC ms, the client\'s clock too); others get no timing', async () => {
  const path = await serve();
  const t0 = monoMs();
  const { lines } = await exchange(path, `${JSON.stringify({ id: 1, verb: 'list', timing: true })}\n${JSON.stringify({ id: 2, verb: 'list' })}\n${JSON.stringify({ id: 3, verb: 'nosuch', timing: true })}\n`, 3);
  const t1 = monoMs();
  const [a, b, c] = lines as { ok: boolean; timing?: { recv: number; sent: number } }[];
  assert.ok(a!.ok && a!.timing !== undefined);
  assert.ok(t0 <= a!.timing.recv && a!.timing.recv <= a!.timing.sent && a!.timing.sent <= t1, JSON.stringify({ t0, t1, timing: a!.timing }));
  assert.equal(b!.timing, undefined);
  assert.ok(!c!.ok && c!.timing !== undefined, 'a refused request is timed too');
  // The project's client hands it over.
  const client = await ControlClient.connect(path);
  let got: { recv: number; sent: number } | undefined;
  await client.call('timeouts', {}, (t) => (got = t));
  client.close();
  assert.ok(got !== undefined && got.recv <= got.sent);
  // "timing" is a boolean as every other (before 2026-12-07 "yes" and 1 were taken as false); null,
  // as args null, is not given. A number JSON cannot write (1e400: Infinity) is named as such, not as null.
  const odd = await exchange(path, ['"yes"', '1', 'null'].map((v, i) => `{"id":${i},"verb":"timeouts","timing":${v}}\n`).join('') +
    '{"id":9,"verb":"timeouts","args":null}\n{"id":10,"verb":"addService","args":{"proto":"tcp","addr":"192.168.8.203","port":1e400}}\n', 5);
  assert.deepEqual(odd.lines.map((l) => { const r = l as { ok: boolean; error?: { code: string; detail: string } }; return r.ok ? 'ok' : `${r.error!.code}: ${r.error!.detail}`; }), [
    'BAD_REQUEST: "timing" must be true or false, got "yes"', 'BAD_REQUEST: "timing" must be true or false, got 1', 'ok', 'ok',
    'BAD_PORT: virtual port Infinity',
  ]);
});

test('malformed requests are answered with an error and change nothing; 1,000 of them leave the socket serving', async () => {
  const path = await serve();
  r.ctl.clear();
  r.ctl.addService({ proto: 'tcp', addr: '192.168.8.200', port: 80 });
  const before = JSON.stringify(r.ctl.list());
  const bad = [
    'not json', '[1,2]', '42', '{"id":1}', '{"id":2,"verb":"nope"}', '{"id":3,"verb":"addService","args":[1]}',
    '{"id":4,"verb":"addService","args":{"proto":"dccp","addr":"1.2.3.4","port":1}}', '{"id":5,"verb":"addDest","args":{"service":7}}',
    '{"id":6,"verb":"batch","args":{"items":"x"}}', '{"id":7,"verb":"__proto__"}', '{"id":8,"verb":"toString"}', '{"id":9,"verb":"addService","args":{"proto":"tcp","addr":"1.2.3.4","port":1,"persist":-1}}',
  ];
  const lines = Array.from({ length: 1000 }, (_v, i) => bad[i % bad.length]).join('\n') + '\n{"id":"last","verb":"list"}\n';
  const res = await exchange(path, lines, 1001);
  assert.equal(res.lines.length, 1001);
  const replies = res.lines as Array<{ id: unknown; ok: boolean; error?: { code: string; message: string } }>;
  assert.ok(replies.slice(0, 1000).every((x) => x.ok === false && typeof x.error?.message === 'string' && !x.error.message.includes('\n')));
  assert.deepEqual(new Set(replies.slice(0, 1000).map((x) => x.error!.code)), new Set(['BAD_REQUEST', 'UNKNOWN_VERB', 'BAD_PROTO', 'BAD_TIMEOUT']));
  assert.equal(replies[1000]!.id, 'last');
  assert.equal(JSON.stringify(r.ctl.list()), before);
});

test('a "verb" that is not a string is named as such; a request field other than id, verb, args, timing is refused; nothing changes', async () => {
  const path = await serve();
  r.ctl.clear();
  const { lines } = await exchange(path, [
    '{"id":1,"verb":7,"args":{}}', '{"id":2,"verb":["list"]}', '{"id":3,"args":{}}',
    // A misspelt "args": the verb would run without them (zero: of every service).
    '{"id":4,"verb":"addService","arg":{"proto":"tcp","addr":"192.168.8.200","port":80}}',
  ].join('\n') + '\n', 4);
  assert.deepEqual(lines.map((l) => (l as { error: { detail: string } }).error.detail), [
    '"verb" must be a string, got 7', '"verb" must be a string, got a list', 'missing "verb"',
    'unknown request field "arg" (a request has id, verb, args, timing)',
  ]);
  assert.equal(r.ctl.list().services.length, 0);
});

test('more connections than maxClients: the refused one gets one error line naming the limit (the client says it, not EPIPE), uvsd is told at most once per 10 s; a place that frees up is taken', async () => {
  const path = join(dir, `s${n++}.sock`);
  const told: Array<[string, number]> = [];
  servers.push(await listenControl(path, (v, a) => r.ctl.call(v, a), (e) => { throw e; }, { maxClients: 2 }, (reason, refused) => told.push([reason, refused])));
  const held = [connect(path), connect(path)];
  await Promise.all(held.map((s) => new Promise((res) => s.once('connect', res))));
  for (let i = 0; i < 3; i++) {
    const c = await ControlClient.connect(path);
    await assert.rejects(c.call('list', {}), (e: ControlError) => {
      assert.deepEqual([e.code, e.message, e.detail], ['TOO_MANY_CLIENTS', ERRORS.TOO_MANY_CLIENTS, "2 open (uvsd's limit)"]);
      return true;
    });
    c.close();
  }
  // The raw line, in the protocol's error format.
  const raw = await exchange(path, '{"id":1,"verb":"list"}\n', 1);
  assert.deepEqual(raw.lines, [{ id: null, ok: false, error: { code: 'TOO_MANY_CLIENTS', message: ERRORS.TOO_MANY_CLIENTS, detail: "2 open (uvsd's limit)" } }]);
  assert.deepEqual(told, [[`${ERRORS.TOO_MANY_CLIENTS}: 2 open (uvsd's limit)`, 1]]);
  held[0]!.destroy();
  await new Promise((res) => setTimeout(res, 50));
  const c = await ControlClient.connect(path);
  assert.equal((await c.call('list', {})).services.length, r.ctl.list().services.length);
  c.close();
  held[1]!.destroy();
});

test('unfinished request lines of all connections together are bounded: the connection that would pass maxBuffered gets BUSY and is closed; the others go on', async () => {
  const path = await serve({ maxLine: 800, maxBuffered: 1000 });
  const a = connect(path);
  await new Promise((res) => a.once('connect', res));
  const req = '{"id":"a","verb":"timeouts"}';
  a.write(req + ' '.repeat(600 - req.length));
  await new Promise((res) => setTimeout(res, 50));
  const b = await exchange(path, 'x'.repeat(600), 1, true);
  assert.equal(b.closed, true);
  assert.deepEqual(b.lines, [{ id: null, ok: false, error: { code: 'BUSY', message: ERRORS.BUSY, detail: 'unfinished requests of all connections over 1000 bytes' } }]);
  const got = new Promise<string>((res) => a.once('data', (d) => res(String(d))));
  a.write('\n');
  assert.equal((JSON.parse(await got) as { id: string; ok: boolean }).ok, true);
  // Its line done, a's share is given back: another client fits again.
  const c = await exchange(path, `{"id":"c","verb":"timeouts"}${' '.repeat(500)}\n`, 1);
  assert.equal((c.lines[0] as { ok: boolean }).ok, true);
  a.destroy();
});

test('a long line whose client is gone is not parsed further (nor run): its parse stops at the next slice', async () => {
  const items: unknown[] = [];
  for (let i = 0; i < 20_000; i++) items.push({ verb: 'addService', args: { proto: 'udp', addr: '192.168.8.200', port: 1 + i } });
  const line = JSON.stringify({ id: 1, verb: 'batch', args: { items } });
  let dispatched = 0;
  let internal = 0;
  const reply = await handleLine(line, () => ++dispatched, () => internal++, () => true);
  assert.deepEqual([dispatched, internal], [0, 0]);
  assert.equal(reply.ok, false);
});

test('a value nested deeper than 1000 levels is refused as not JSON (BAD_REQUEST, its position), short line or long, inside a string or not: no INTERNAL reply, nothing run', async () => {
  let dispatched = 0;
  let internal = 0;
  const nested = (n: number) => `{"id":1,"verb":"addService","args":{"proto":"tcp","addr":"192.168.8.200","port":${'['.repeat(n)}${']'.repeat(n)}}}`;
  // 60,000 levels fit a short line; JSON.stringify of such a value (an error's detail) overflows the stack.
  for (const line of [nested(60_000), `${nested(60_000)}${' '.repeat(SLICED_PARSE_MIN)}`]) {
    const reply = (await handleLine(line, () => ++dispatched, () => internal++)) as { ok: boolean; error: { code: string; detail: string } };
    assert.equal(reply.ok, false);
    assert.equal(reply.error.code, 'BAD_REQUEST');
    assert.match(reply.error.detail, /^not JSON: JSON nested deeper than 1000 levels at position \d+/);
  }
  // Brackets inside strings are text; 1000 levels (two objects and 998 lists) are fine.
  const ok = (await handleLine(`{"id":2,"verb":"x","args":{"s":"${'['.repeat(5000)}","v":${'['.repeat(998)}${']'.repeat(998)}}}`, () => ++dispatched, () => internal++)) as { ok: boolean };
  assert.equal(ok.ok, true);
  assert.deepEqual([dispatched, internal], [1, 0]);
});

test('a last request without a newline is answered before the server closes', async () => {
  const path = await serve();
  const res = await exchange(path, '{"id":1,"verb":"timeouts"}\n{"id":2,"verb":"timeouts"}', 2, true);
  assert.deepEqual(res.lines.map((l) => (l as { id: number }).id), [1, 2]);
  assert.equal(res.closed, true);
});

test('pipelined requests from a client that half-closes at once (nc -q, a script calling end()): each answered once, in request order, one at a time, also behind verbs that wait (before, the lines after a waiting one ran as one "last request": merged, refused, answered early or not at all)', async () => {
  const path = join(dir, `s${n++}.sock`);
  const running: number[] = [];
  const ran: number[] = [];
  const slow = (id: number) => new Promise((res) => setTimeout(() => {
    running.splice(running.indexOf(id), 1);
    res({ slow: id });
  }, 15));
  servers.push(await listenControl(path, (v, a) => {
    const id = (a as { n: number }).n;
    assert.equal(running.length, 0, `request ${id} ran while ${running.join(",")} still ran`);
    ran.push(id);
    if (v !== 'slow') return { fast: id };
    running.push(id);
    return slow(id);
  }, (e) => { throw e; }));
  const req = (id: number, verb: string) => `{"id":${id},"verb":"${verb}","args":{"n":${id}}}`;
  const verbs = ['slow', 'fast', 'slow', 'fast', 'fast', 'slow', 'fast'];
  const text = verbs.map((v, i) => req(i + 1, v)).join('\n') + '\n' + req(8, 'fast'); // the last without a newline
  const res = await exchange(path, text, 8, true);
  assert.deepEqual(res.lines.map((l) => (l as { id: number }).id), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(res.lines.every((l) => (l as { ok: boolean }).ok), JSON.stringify(res.lines));
  assert.deepEqual(ran, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(res.closed, true);
});

test('a request line over SLICED_PARSE_MIN (parsed in slices) arriving in many chunks is answered as a short one; a broken one is refused', async () => {
  const path = await serve();
  r.ctl.clear();
  const items: unknown[] = [];
  for (let i = 0; i < 1500; i++) items.push({ verb: 'addService', args: { proto: 'udp', addr: '192.168.8.200', port: 1 + i, sched: 'rr' } });
  const line = JSON.stringify({ id: 'big', verb: 'batch', args: { items } });
  assert.ok(line.length > SLICED_PARSE_MIN);
  // Small writes: the server sees the line in many pieces before its newline.
  const s = connect(path);
  await new Promise((res) => s.once('connect', res));
  const got = new Promise<string>((res) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      buf += c;
      if (buf.split('\n').length >= 4) res(buf);
    });
  });
  for (let i = 0; i < line.length; i += 4096) {
    s.write(line.slice(i, i + 4096));
    if (i % (16 * 4096) === 0) await new Promise((res) => setImmediate(res));
  }
  // A broken long line, then a short request: answered in order.
  s.write('\n' + line.slice(0, -2) + '\n{"id":"after","verb":"timeouts"}\n');
  const replies = (await got).trim().split('\n').map((l) => JSON.parse(l) as { id: unknown; ok: boolean; result?: unknown; error?: { code: string; detail?: string } });
  s.destroy();
  assert.deepEqual(replies[0], { id: 'big', ok: true, result: { applied: 1500 } });
  assert.equal(replies[1]!.ok, false);
  assert.equal(replies[1]!.error!.code, 'BAD_REQUEST');
  assert.match(replies[1]!.error!.detail!, /^not JSON: /);
  assert.deepEqual([replies[2]!.id, replies[2]!.ok], ['after', true]);
  assert.equal(r.ctl.list().services.length, 1500);
  r.ctl.clear();
});

test('a long request line arriving in many chunks is parsed as the parts it came in, never made into one string (before: the joined chunks, then the text with the last chunk flattened by the newline\'s search, each a large object of new pages: 13-17 ms of the loop\'s CPU in one piece for a 2 MB batch)', async () => {
  const path = await serve();
  // 1 MiB of whitespace between two fields: parsed in slices, no value made of it.
  const line = `{"id":"pad",${' '.repeat(1 << 20)}"verb":"timeouts"}`;
  line.indexOf('\n'); // made one string here (flattened), not at its first slice below
  const s = connect(path);
  await new Promise((res) => s.once('connect', res));
  const { result: reply, sizes } = await largeAllocations(async () => {
    const got = new Promise<string>((res) => {
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        buf += c;
        if (buf.includes('\n')) res(buf);
      });
    });
    for (let i = 0; i < line.length; i += 16_384) {
      s.write(line.slice(i, i + 16_384));
      await new Promise((res) => setImmediate(res));
    }
    s.write('\n');
    return got;
  }, line.length);
  s.destroy();
  assert.deepEqual(JSON.parse(reply) as unknown, { id: 'pad', ok: true, result: r.ctl.call('timeouts', {}) });
  assert.equal(sizes.length, 0, `objects of the line's length or more made while it was read: ${sizes.join(', ')} bytes (the line: ${line.length})`);
});

test('a line over the size limit gets an error and the connection is closed', async () => {
  const path = await serve({ maxLine: 1000 });
  const res = await exchange(path, 'x'.repeat(5000), 1);
  const reply = res.lines[0] as { ok: boolean; error: { code: string; detail: string } };
  assert.equal(reply.ok, false);
  assert.equal(reply.error.code, 'BAD_REQUEST');
  assert.match(reply.error.detail, /longer than 1000 bytes/);
});

test('a client that never reads its replies: the server stops reading its requests (bounded), then catches up', async () => {
  const path = await serve({ writeHigh: 64 * 1024 });
  const s: Socket = connect(path);
  await new Promise<void>((res) => s.once('connect', () => res()));
  s.pause(); // never read
  const req = '{"id":1,"verb":"list"}\n';
  const total = 20_000; // ~460 KB of requests, ~4 MB of replies
  s.write(req.repeat(total));
  await new Promise((res) => setTimeout(res, 500));
  // The server answered only until its unread output passed the limit, so most requests are
  // still unread on our side of the socket.
  assert.ok(s.writableLength > 100 * 1024, `only ${s.writableLength} bytes still unsent: the server kept reading`);
  let got = 0;
  let buf = '';
  s.setEncoding('utf8');
  const done = new Promise<void>((res) => {
    s.on('data', (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        buf = buf.slice(i + 1);
        if (++got === total) res();
      }
    });
  });
  s.resume();
  await done;
  s.destroy();
  assert.equal(got, total);
});

test('accept() failing (EMFILE: out of file descriptors) is no uncaught error, however often: uvsd is told (at most once per 10 s), the socket keeps serving', async () => {
  const path = join(dir, `s${n++}.sock`);
  const told: Array<[string, number]> = [];
  const server = await listenControl(path, (v, a) => r.ctl.call(v, a), (e) => { throw e; }, {}, (reason, refused) => told.push([reason, refused]));
  servers.push(server);
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
  for (let i = 0; i < 3; i++) server.emit('error', emfile);
  assert.deepEqual(told, [['accept failed: accept EMFILE', 1]]);
  const c = await ControlClient.connect(path);
  assert.equal((await c.call('list', {})).services.length, r.ctl.list().services.length);
  c.close();
});

test('idle connections are closed after the idle timeout', async () => {
  const path = await serve({ idleMs: 200 });
  const s = connect(path);
  const t0 = Date.now();
  await new Promise<void>((res) => s.on('close', () => res()));
  assert.ok(Date.now() - t0 >= 150);
});

test('many clients at once each get their own answers', async () => {
  const path = await serve();
  const results = await Promise.all(Array.from({ length: 50 }, (_v, c) =>
    exchange(path, Array.from({ length: 20 }, (_w, i) => JSON.stringify({ id: `${c}-${i}`, verb: 'timeouts' })).join('\n') + '\n', 20)));
  results.forEach((res, c) => assert.deepEqual(res.lines.map((l) => (l as { id: string }).id), Array.from({ length: 20 }, (_w, i) => `${c}-${i}`)));
});

test('--socket pointing at a regular file is refused and the file is kept', async () => {
  const path = join(dir, 'precious.txt');
  writeFileSync(path, 'keep me');
  await assert.rejects(listenControl(path, () => null, () => {}), /exists and is not a socket/);
  assert.equal(readFileSync(path, 'utf8'), 'keep me');
  // A regular file where the socket's directory should be: said so, not mkdir's EEXIST.
  await assert.rejects(listenControl(join(path, 'uvsd.sock'), () => null, () => {}), new RegExp(`^Error: ${path.replaceAll('.', '\\.')} is not a directory$`));
  assert.equal(readFileSync(path, 'utf8'), 'keep me');
});

test('--socket in a directory another user owns or may write is refused (that user could move uvsd\'s socket aside and listen at the path); in a sticky one (/tmp) it is not', { skip: process.getuid?.() !== 0 ? 'chown needs root' : false }, async () => {
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const why = `directory ${open} is writable by group or others (mode 0777, not sticky): another user could put a socket of its own at the path`;
  await assert.rejects(listenControl(join(open, 'uvsd.sock'), () => null, () => {}), { message: why });
  await assert.rejects(listenControl(join(open, 'run', 'uvsd.sock'), () => null, () => {}), { message: why }, 'a directory above it too');
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs, { mode: 0o700 });
  chownSync(theirs, 65534, 65534);
  await assert.rejects(listenControl(join(theirs, 'uvsd.sock'), () => null, () => {}), { message: `directory ${theirs} is owned by uid 65534 (not root): another user could put a socket of its own at the path` });
  chmodSync(open, 0o1777);
  servers.push(await listenControl(join(open, 'uvsd.sock'), () => null, () => {}));
  assert.equal(statSync(join(open, 'uvsd.sock')).mode & 0o777, 0o600);
});

test('another user\'s socket at the --socket path (put in a sticky directory while uvsd was stopped) is named as such by uvsd, not taken for another uvsd, and uvsadm sends it nothing (before: uvsd said "another uvsd is already listening", uvsadm -A went to that user\'s program and its -L printed that program\'s table)', { skip: process.getuid?.() !== 0 ? 'chown needs root' : false }, async () => {
  const sticky = join(dir, 'sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  const path = join(sticky, 'uvsd.sock');
  // The other user's listener: bound here, then handed to uid 65534 (as that user's bind would make it).
  const got: string[] = [];
  const squat = net.createServer((s) => s.setEncoding('utf8').on('data', (d: string) => {
    got.push(d);
    s.end('{"id":1,"ok":true,"result":null}\n');
  }));
  await new Promise<void>((res) => squat.listen(path, res));
  chownSync(path, 65534, 65534);
  try {
    const why = 'the socket there is owned by uid 65534 (not root): not a uvsd\'s, another user\'s program may listen there';
    await assert.rejects(listenControl(path, () => null, () => {}), { message: `${path}: ${why}; remove it, or give --socket a path in a directory only root may write (the default /run/uvs)` });
    await assert.rejects(ControlClient.connect(path), (e: ControlError) => e.code === 'NO_DAEMON' && e.message === `${ERRORS.NO_DAEMON} at ${path}: ${why}; refusing to send it commands`);
    assert.deepEqual(got, [], 'nothing sent to it: not even the probe\'s connection carried a request');
  } finally {
    await new Promise((res) => squat.close(res));
  }
  // Once it is gone, uvsd listens at the path and uvsadm connects.
  servers.push(await listenControl(path, () => null, () => {}));
  const c = await ControlClient.connect(path);
  c.close();
});

test('the socket is made 0600 by bind(), and no path is chmod\'ed after listen (before: a link put at the path meanwhile had root chmod the file it named)', async () => {
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'x');
  chmodSync(victim, 0o644);
  const path = join(dir, 'swapped.sock');
  const listen = net.Server.prototype.listen;
  // The swap, as soon as the socket listens (before listenControl goes on).
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]): net.Server {
    this.prependOnceListener('listening', () => {
      renameSync(path, `${path}.moved`);
      symlinkSync(victim, path);
    });
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
  try {
    servers.push(await listenControl(path, () => null, () => {}));
  } finally {
    net.Server.prototype.listen = listen;
  }
  assert.equal(statSync(victim).mode & 0o777, 0o644, 'the file the link names is left as it was');
  assert.equal(statSync(`${path}.moved`).mode & 0o777, 0o600);
});

test('a socket whose listener does not accept (stopped or busy: its backlog full, connect says EAGAIN) is no stale socket: refused naming the code, the socket file kept', async () => {
  const path = join(dir, 'busy.sock');
  // A listener with a backlog of 1 that does not accept for a while: its event loop is held.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen({ path: ${JSON.stringify(path)}, backlog: 1 }, () => {
    console.log('up'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const held: Socket[] = [];
    let code: string | undefined;
    for (let i = 0; i < 64 && code === undefined; i++) {
      const c = connect(path);
      held.push(c);
      code = await new Promise<string | undefined>((resolve) => {
        c.once('connect', () => resolve(undefined));
        c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
      });
    }
    assert.equal(code, 'EAGAIN', 'the backlog filled up');
    const made = statSync(path).ino;
    await assert.rejects(listenControl(path, () => null, () => {}), new RegExp(`^Error: another uvsd may be listening on ${path.replaceAll('.', '\\.')} \\(connect: EAGAIN\\)$`));
    assert.equal(statSync(path).ino, made, 'the socket file is the listener\'s still');
    for (const c of held) c.destroy();
  } finally {
    child.kill();
  }
});

test('release() removes the socket file only while it is this server\'s: one put there by another uvsd (ours removed by hand) is left, and that uvsd keeps answering', async () => {
  const path = join(dir, 'shared.sock');
  const first = await listenControl(path, () => 'first', () => {});
  unlinkSync(path);
  const second = await listenControl(path, () => 'second', () => {});
  assert.equal(first.release(), false);
  assert.deepEqual((await exchange(path, '{"verb":"x"}\n', 1)).lines, [{ id: null, ok: true, result: 'second' }]);
  first.close(); // the test's own cleanup: closing unlinks the path, whatever file is there
  assert.equal(existsSync(path), false, 'what release() avoids');
  assert.equal(second.release(), false, 'gone: nothing to remove');
  second.close();
  const third = await listenControl(path, () => 'third', () => {});
  assert.equal(third.release(), true);
  assert.equal(existsSync(path), false);
});

const PROTO_CASES = 100_000;

/** One request line: a mutated valid request, a JSON value of the wrong shape, or noise. */
function requestLine(g: Rand, i: number): string {
  const svc = { proto: g.pick(['tcp', 'udp']), addr: `192.168.8.${g.range(200, 203)}`, port: g.pick([80, 53, 0]) };
  const templates: unknown[] = [
    { id: i, verb: 'addService', args: { ...svc, sched: g.pick(['rr', 'wlc', 'mh', 'nosuch']) } },
    { id: i, verb: 'addDest', args: { service: svc, addr: `192.168.8.${g.range(20, 23)}`, port: svc.port, fwd: 'dr', weight: g.int(5) } },
    { id: i, verb: 'editDest', args: { service: svc, addr: '192.168.8.20', port: svc.port, weight: -1 } },
    { id: i, verb: 'deleteService', args: svc },
    { id: i, verb: 'setTimeouts', args: { tcp: g.int(1000), tcpfin: 0, udp: 5 } },
    { id: i, verb: 'zero', args: {} },
    { id: i, verb: 'timeouts' },
    { id: i, verb: 'explain', args: { proto: 'tcp', client: '1.2.3.4', vip: svc.addr, port: 80 } },
    { id: i, verb: 'batch', args: { items: [{ verb: 'addService', args: { ...svc, sched: 'rr' } }, { verb: 'list' }], dryRun: g.chance(0.5) } },
    { id: { nested: [i] }, verb: 'clear' },
  ];
  switch (g.int(8)) {
    case 0: return JSON.stringify(g.pick<unknown>([null, 1, 'verb', [1, 2], true, { verb: 7 }, { verb: 'addService', args: 'x' }, { verb: ['list'] }, { id: i }]));
    case 1: return g.bytes(g.int(80)).toString('latin1').replace(/\n/g, ' ');
    case 2: return ' '.repeat(g.int(3));
    default: return mutateText(JSON.stringify(g.pick(templates)), g, ['verb', 'args', 'id', '"list"', '"status"', 'null', '{}', '[]', '"tcp"', '-1', '1e400', '"\\u0000"']);
  }
}

test(`fuzz: ${PROTO_CASES.toLocaleString('en')} random request lines, sent in random pieces, are each answered with one line (an error unless valid); the socket keeps serving`, async () => {
  const path = await serve();
  const lines = [];
  const g = new Rand(fuzzSeed(1340));
  for (let i = 0; i < PROTO_CASES; i++) lines.push(requestLine(g, i));
  // A few huge lines (1 MB) within the size limit.
  for (let i = 0; i < 3; i++) lines.splice(g.int(lines.length), 0, `{"verb":"addService","args":{"sched":"${'x'.repeat(1 << 20)}"}}`);
  const text = lines.join('\n') + '\n';
  const want = text.split('\n').filter((l) => l.trim() !== '').length;
  // Cut the stream anywhere, lines and UTF-8 characters included: the server must reassemble.
  const bytes = Buffer.from(text, 'utf8');
  const s = connect(path);
  let buf = '';
  let got = 0;
  const codes = new Map<string, number>();
  let bad: string | undefined;
  const answered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout (seed ${g.seed}): ${got} of ${want} replies`)), 120_000);
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        got++;
        const rep = JSON.parse(line) as { ok: boolean; error?: { code: string; message: string } };
        if (rep.ok === false) {
          const code = rep.error?.code ?? '?';
          codes.set(code, (codes.get(code) ?? 0) + 1);
          if (!(code in ERRORS) || code === 'INTERNAL' || rep.error!.message.includes('\n')) bad ??= line.slice(0, 300);
        } else if (rep.ok !== true) bad ??= line.slice(0, 300);
      }
      if (got >= want) {
        clearTimeout(timer);
        resolve();
      }
    });
    s.on('error', reject);
  });
  for (let at = 0; at < bytes.length;) {
    const n = g.chance(0.5) ? g.range(1, 64) : g.range(1, 256 << 10);
    if (!s.write(bytes.subarray(at, at + n))) await new Promise((r) => s.once('drain', r));
    at += n;
  }
  await answered;
  s.destroy();
  assert.equal(bad, undefined, `a reply that is not a proper one-line error (seed ${g.seed}): ${bad}`);
  assert.equal(got, want);
  assert.ok((codes.get('BAD_REQUEST') ?? 0) > 1000 && codes.size >= 4, `error codes seen: ${JSON.stringify([...codes])}`);
  // Still serving, on a new connection too.
  const { lines: after } = await exchange(path, '{"id":"last","verb":"timeouts"}\n', 1);
  assert.equal((after[0] as { id: string; ok: boolean }).ok, true);
});

/** uvsadm -Lc's requests: listConns pages from cursor 0 on, asking for the rows it may still print. */
async function allPages(call: (args: { cursor: number; max: number }) => unknown, max = CONNS_MAX_DEFAULT): Promise<{ rows: ConnInfo[]; truncated: boolean; pages: Array<{ cursor: number; rows: number }> }> {
  const pages: Array<{ cursor: number; rows: number }> = [];
  const rows: ConnInfo[] = [];
  let r: ConnsResult = { conns: [], truncated: false, next: 0 };
  while (r.next !== undefined) {
    const cursor = r.next;
    r = (await call({ cursor, max: max - rows.length })) as ConnsResult;
    pages.push({ cursor, rows: r.conns.length });
    rows.push(...r.conns);
  }
  return { rows, truncated: r.truncated, pages };
}

test('listConns with a cursor (uvsadm -Lc) answers a page of at most 1,000 rows and the next page\'s cursor: the pages are the one-piece rows in order, cut at max where they were; a sparse table looks at most 65,536 entries a page; a bad cursor is refused naming it', async (t) => {
  const big = connRig(100_005, 131_072);
  const path = join(dir, `s${n++}.sock`);
  servers.push(await listenControl(path, (v, a) => big.ctl.callAsync(v, a), (e) => { throw e; }));
  const client = await ControlClient.connect(path);
  try {
    big.ctl.resetSlowest();
    const all = await allPages((a) => client.call('listConns', a));
    t.diagnostic(`the busiest page: ${big.ctl.busiest.verb} ${big.ctl.busiest.ms.toFixed(2)} ms of CPU; slowest ${big.ctl.slowest.ms.toFixed(2)} ms`);
    const whole = big.ctl.call('listConns', {}) as ConnsResult;
    assert.deepEqual([all.rows.length, all.truncated], [100_000, true]);
    assert.deepEqual(all.rows, whole.conns, 'the rows of the reply without a cursor, in its order');
    assert.ok(all.pages.every((p) => p.rows <= CONNS_PAGE_ROWS), 'no page over 1,000 rows');
    assert.equal(all.pages.length, 100, '100 pages of 1,000, the last one finding the entry left out');
    const few = await allPages((a) => client.call('listConns', a), 2500);
    assert.deepEqual([few.rows.length, few.truncated, few.pages.map((p) => p.rows)], [2500, true, [1000, 1000, 500]]);
    assert.deepEqual(few.rows, (big.ctl.call('listConns', { max: 2500 }) as ConnsResult).conns);
    for (const cursor of [-1, 1.5, '0', null]) {
      await assert.rejects(client.call('listConns', { cursor: cursor as number }), (e: ControlError) => e.code === 'BAD_REQUEST' && /cursor/.test(`${e.message} ${e.detail}`), String(cursor));
    }
    assert.deepEqual(await client.call('listConns', { cursor: 10_000_000 }), { conns: [], truncated: false }, 'past the table: an empty last page');
  } finally {
    client.close();
  }
  // Four entries 50,000 slots apart: every page looks at 65,536 entries at most.
  const sparse = connRig(200_000, 262_144);
  for (let e = 0; e < 200_000; e++) if (e % 50_000 !== 49_999) sparse.dp.ct.discard(e);
  const pages = await allPages((a) => sparse.ctl.call('listConns', a));
  assert.deepEqual(pages.rows, (sparse.ctl.call('listConns', {}) as ConnsResult).conns);
  assert.deepEqual([pages.rows.length, pages.truncated], [4, false]);
  assert.deepEqual(pages.pages, [{ cursor: 0, rows: 1 }, { cursor: 65_536, rows: 1 }, { cursor: 131_072, rows: 1 }, { cursor: 196_608, rows: 1 }]);
});

test('dumpConfig (uvsadm --dump-config) from the socket at 4,000 services x 4 checked servers: the reply is the dump\'s text as JSON.stringify writes it, made while written: uvsd makes no object of 256 KiB or more while answering (before: the text as one string, the reply as another, ~2.4 MB each), and a client that reads nothing holds about a MiB of it in uvsd; for one that closes no more of it is made', async (t) => {
  const count = 4000;
  const big = rig({ addrs: ['10.0.0.1/8'], destMax: 4 * count + 8 });
  const cm = new ConfigManager(big.ctl, undefined, { drainTimeout: 0 });
  big.ctl.config = cm;
  cm.apply(parseConfig(checkedConfig(count, 4, (i) => 1 + i, '{ type: tcp, connect-timeout: 2 }'), 'uvsd.yaml'), false);
  const want = `${JSON.stringify({ id: 1, ok: true, result: { yaml: cm.dump() } })}\n`;
  const path = join(dir, `s${n++}.sock`);
  const server = await listenControl(path, (v, a) => big.ctl.callAsync(v, a), (e) => { throw e; });
  servers.push(server);
  const request = '{"id":1,"verb":"dumpConfig","args":{}}\n';
  /** The reply to one dumpConfig: its bytes as they came (no string made of them in this process while they come). */
  const ask = (): Promise<Buffer[]> => new Promise((resolve, reject) => {
    const s = connect(path);
    const bufs: Buffer[] = [];
    s.on('data', (b: Buffer) => {
      bufs.push(b);
      if (b[b.length - 1] !== 0x0a) return;
      s.destroy();
      resolve(bufs);
    });
    s.on('error', reject);
    s.write(request);
  });
  await ask(); // the code compiled
  big.ctl.resetSlowest();
  const { result, largest } = await largestAllocated(ask);
  t.diagnostic(`largest object made while answering: ${largest} bytes; reply ${want.length} bytes; busiest slice ${big.ctl.busiest.ms.toFixed(2)} ms of CPU`);
  assert.equal(Buffer.concat(result).toString(), want);
  assert.ok(largest < 256 * 1024, `uvsd made an object of ${largest} bytes`);
  // A client that reads nothing: uvsd holds writeHigh (1 MiB) and a part (64 KiB, escaped) past it at most.
  const still = queuedWhenStill(server);
  const s = connect(path);
  try {
    s.pause();
    s.write(request);
    const queued = await still;
    t.diagnostic(`unread in uvsd while the client reads nothing: ${queued} bytes of the ${want.length}-byte reply`);
    assert.ok(want.length > 2 * 2 ** 20 && queued < 1.5 * 2 ** 20, `uvsd holds ${queued} bytes of the reply`);
    const line = lineOf(s);
    s.resume();
    assert.equal(await line, want);
  } finally {
    s.destroy();
  }
  // A client that reads nothing and closes: no more of the dump is made.
  let made = 0;
  const parts = cm.dumpParts.bind(cm);
  cm.dumpParts = async function* (pause, header) {
    for await (const p of parts(pause, header)) {
      made++;
      yield p;
    }
  };
  const stillAgain = queuedWhenStill(server);
  const gone = connect(path);
  gone.pause();
  gone.write(request);
  await stillAgain;
  gone.destroy();
  await new Promise((res) => setTimeout(res, 200));
  const atClose = made;
  await new Promise((res) => setTimeout(res, 300));
  t.diagnostic(`parts made for a client that read nothing and closed: ${atClose} of ~${Math.ceil(want.length / 65536)}`);
  assert.equal(made, atClose, 'no part made after the client closed');
  assert.ok(atClose < 0.75 * want.length / 65536, `${atClose} parts made`);
});

test('listConns with a cursor under --workers: worker 0\'s table, then worker 1\'s, each page one question to one worker; the pages are the rows of the reply without a cursor', async () => {
  const shadow = connRig(0, 1024);
  const parts = [connRig(1500, 4096), connRig(700, 4096)];
  const asked: string[] = [];
  const workers: Workers = {
    count: 2, apply: () => {}, pull: () => {},
    connsPage: (k, from, max, scan) => {
      asked.push(`${k}@${from}`);
      return Promise.resolve(snapshotConns(parts[k]!.dp.ct, parts[k]!.dp.nowTick, max, from, scan));
    },
    laddrs: () => Promise.resolve([]), neigh: () => Promise.resolve([]), status: () => [], steering: () => 'automq',
    syncMaster: () => {}, syncDump: () => {}, onSyncRecords: null, post: () => {}, trace: () => {},
    explain: () => Promise.reject(new Error('not here')),
  };
  shadow.ctl.info.workers = workers;
  const whole = (await shadow.ctl.call('listConns', {})) as ConnsResult;
  assert.deepEqual(asked, ['0@0', '0@1000', `1@0`], 'the whole listing is asked for page by page too');
  asked.length = 0;
  const all = await allPages((a) => shadow.ctl.callAsync('listConns', a));
  assert.deepEqual([all.rows.length, all.truncated], [2200, false]);
  assert.deepEqual(all.rows, whole.conns);
  assert.deepEqual(all.pages.map((p) => p.rows), [1000, 500, 700]);
  assert.deepEqual(asked, ['0@0', '0@1000', `1@0`]);
  const cut = await allPages((a) => shadow.ctl.callAsync('listConns', a), 1800);
  assert.deepEqual([cut.rows.length, cut.truncated], [1800, true]);
  assert.deepEqual(cut.rows, ((await shadow.ctl.call('listConns', { max: 1800 })) as ConnsResult).conns);
});

test('stringifySliced writes what JSON.stringify does (plus a newline), in chunks: long arrays, undefined and nested values', async () => {
  const long = Array.from({ length: 700 }, (_v, i) => (i % 7 === 0 ? undefined : { i, s: `x${i}`, a: [i, null, undefined], u: undefined }));
  for (const v of [long, { id: 1, ok: true, result: { size: 3, services: long, u: undefined, f: () => 1 } }, { a: 1 }, [1, 2], 'x', null]) {
    const chunks: string[] = [];
    await stringifySliced(v, (s) => chunks.push(s), 1000);
    assert.equal(chunks.join(''), JSON.stringify(v) + '\n');
    if (hasLongArray(v)) assert.ok(chunks.length > 10, `${chunks.length} chunks`);
  }
});

test('stringifySliced writes a text made while written (StreamedText: --dump-config\'s) as JSON.stringify writes the string, every character below 0x80 and others in UTF-8, its parts as bytes after the characters before them (or as text without a byte sink); a part\'s bytes may be written into again once the next is asked for', async () => {
  const text = Array.from({ length: 0x80 }, (_v, c) => String.fromCharCode(c)).join('') + 'ü日本語🙂\u2028\u2029 "q" \\ \u007f'.repeat(3);
  const reused = Buffer.alloc(64);
  /** text's UTF-8 bytes in parts of 1 to 9 bytes (no character split), each in the same buffer. */
  async function* parts(): AsyncGenerator<Uint8Array> {
    const b = Buffer.from(text);
    for (let at = 0; at < b.length;) {
      let end = Math.min(b.length, at + 1 + (at % 9));
      while (end < b.length && (b[end]! & 0xc0) === 0x80) end++;
      b.copy(reused, 0, at, end);
      yield reused.subarray(0, end - at);
      reused.fill(0x41);
      at = end;
    }
  }
  const reply = (): unknown => ({ id: 7, ok: true, result: { yaml: streamedText(parts()) } });
  const want = `${JSON.stringify({ id: 7, ok: true, result: { yaml: text } })}\n`;
  const out: Array<string | Buffer> = [];
  await stringifySliced(reply(), (s) => out.push(s), 8, { bytes: (b) => out.push(Buffer.from(b)) });
  assert.equal(Buffer.concat(out.map((x) => (typeof x === 'string' ? Buffer.from(x) : x))).toString(), want);
  assert.ok(out.filter((x) => typeof x !== 'string').length > 20, 'the parts as bytes');
  const chars: string[] = [];
  await stringifySliced(reply(), (s) => chars.push(s));
  assert.equal(chars.join(''), want);
  assert.equal(jsonStringBytes(Buffer.from(text)).toString(), JSON.stringify(text).slice(1, -1));
});

test('list of a large table (8,000 services) is built and written in slices: the same reply, and the event loop runs between the slices', async (t) => {
  const big = rig({ addrs: ['192.168.0.10/16'], destMax: 16384 });
  for (let i = 0; i < 8000; i++) {
    const service = { proto: 'tcp' as const, addr: `192.168.100.${1 + (i >> 6)}`, port: 1000 + (i & 63) };
    big.ctl.addService({ ...service, sched: 'wlc' });
    for (let j = 0; j < 2; j++) big.ctl.addDest({ service, addr: `192.168.${1 + ((i * 2 + j) >> 8)}.${(i * 2 + j) & 255}`, port: service.port, fwd: 'dr', weight: 1 });
  }
  const path = join(dir, `s${n++}.sock`);
  servers.push(await listenControl(path, (v, a) => big.ctl.callAsync(v, a), (e) => { throw e; }));
  big.ctl.resetSlowest();
  // In one piece the list is built within one turn (3 turns before the first byte, a 100 ms hold
  // here). Made while it is written (listParts), its first byte comes a few turns in.
  const { text, first, all } = await turnsUntilReply(path, '{"id":1,"verb":"list"}\n');
  t.diagnostic(`loop turns before the reply's first byte: ${first}, before all of it: ${all}; longest slice ${big.ctl.slowest.ms.toFixed(1)} ms (a slice may include a garbage collection)`);
  assert.ok(all >= 10, `the event loop turned ${all} times while the list was made and written`);
  assert.ok(first < all, `the first byte came at turn ${first}, the last at ${all}`);
  const r = JSON.parse(text) as { ok: boolean; result: unknown };
  assert.equal(r.ok, true);
  assert.deepEqual(r.result, big.ctl.list(), 'the sliced reply is the one-piece list');
});

test('-Z and -C of a large table (8,000 services) run in slices: every service zeroed, then every service gone, the event loop running between the slices', async (t) => {
  const big = rig({ addrs: ['192.168.0.10/16'], destMax: 16384 });
  const items: unknown[] = [];
  for (let i = 0; i < 8000; i++) {
    const service = { proto: 'udp' as const, addr: `192.168.100.${1 + (i >> 6)}`, port: 1000 + (i & 63) };
    items.push({ verb: 'addService', args: { ...service, sched: 'rr' } });
    for (let j = 0; j < 2; j++) items.push({ verb: 'addDest', args: { service, addr: `192.168.${1 + ((i * 2 + j) >> 8)}.${(i * 2 + j) & 255}`, port: service.port, fwd: 'dr', weight: 1 } });
  }
  big.ctl.call('batch', { items });
  const dt = big.dp.dt;
  // Statistics to zero: a count on every server.
  for (const svc of big.dp.services) for (const d of svc!.dests) dt.conns[d] = 7;
  const path = join(dir, `s${n++}.sock`);
  servers.push(await listenControl(path, (v, a) => big.ctl.callAsync(v, a), (e) => { throw e; }));
  // In one piece each reply comes after 3 turns (-C of 10,000 services held the loop ~50 ms, -Z 6-13 ms).
  const zero = await turnsUntilReply(path, '{"id":1,"verb":"zero"}\n');
  t.diagnostic(`-Z: loop turns before the reply: ${zero.first}`);
  assert.deepEqual(JSON.parse(zero.text), { id: 1, ok: true, result: null });
  // More turns than in one piece: -Z of 8,000 services takes 6-13 ms, three or more 2 ms slices
  // (6 or more turns on a busy host; 5 on a quiet one, where it ran in 8 ms).
  assert.ok(zero.first >= 5, `the event loop turned ${zero.first} times while -Z ran`);
  let left = 0;
  for (const svc of big.dp.services) for (const d of svc!.dests) left += dt.conns[d]!;
  assert.equal(left, 0, 'every server of every service zeroed');
  assert.equal(big.ctl.slowest.verb, '', '-Z of all starts the slowest-verb record again');
  big.ctl.resetSlowest();
  const clear = await turnsUntilReply(path, '{"id":2,"verb":"clear"}\n');
  t.diagnostic(`-C: loop turns before the reply: ${clear.first}; longest slice ${big.ctl.slowest.ms.toFixed(1)} ms`);
  assert.deepEqual(JSON.parse(clear.text), { id: 2, ok: true, result: null });
  assert.ok(clear.first >= 6, `the event loop turned ${clear.first} times while -C ran`);
  assert.equal(big.ctl.slowest.verb, 'clear');
  assert.equal(big.ctl.model.services.size, 0);
  assert.equal(big.dp.services.filter((s) => s !== undefined).length, 0, 'the datapath has no service left');
  assert.equal(big.ctl.model.rips.size + big.ctl.model.vips.size, 0);
  assert.equal(big.ctl.model.slots.freeCount + big.ctl.model.slots.trashSize, 16384, 'every server slot free again (or in the trash, to be taken back by its server)');
});

test('-Z and -C of 600 services with worker threads: no slice sums the workers\' counters (none of their operations reads them; a whole-table pull per slice took 11-21 s at 10,000 services), and the workers get every change the shadow does', async () => {
  const big = rig({ addrs: ['192.168.0.10/16'], destMax: 2048 });
  const items: unknown[] = [];
  for (let i = 0; i < 600; i++) {
    const service = { proto: 'udp' as const, addr: `192.168.100.${1 + (i >> 6)}`, port: 1000 + (i & 63) };
    items.push({ verb: 'addService', args: { ...service, sched: 'rr' } });
    items.push({ verb: 'addDest', args: { service, addr: `192.168.1.${1 + (i % 200)}`, port: service.port, fwd: 'dr', weight: 1 } });
  }
  big.ctl.call('batch', { items });
  const log: string[] = [];
  const sent: DpOp[] = [];
  const workers: Workers = {
    count: 2,
    apply: (ops) => {
      log.push('apply');
      sent.push(...ops);
    },
    pull: () => log.push('pull'),
    connsPage: () => Promise.reject(new Error('not here')),
    laddrs: () => Promise.resolve([]),
    neigh: () => Promise.resolve([]),
    status: () => [],
    steering: () => 'automq',
    syncMaster: () => {},
    syncDump: () => {},
    onSyncRecords: null,
    post: () => {},
    trace: () => {},
    explain: () => Promise.reject(new Error('not here')),
  };
  big.ctl.info.workers = workers;
  const shadow: DpOp[] = [];
  const apply = big.dp.apply.bind(big.dp);
  big.dp.apply = (ops) => {
    shadow.push(...ops);
    apply(ops);
  };
  for (const verb of ['zero', 'clear']) {
    log.length = 0;
    sent.length = 0;
    shadow.length = 0;
    assert.equal(await big.ctl.callAsync(verb, {}), null);
    assert.ok(log.filter((e) => e === 'apply').length > 1, `${verb} went in more than one piece`);
    const firstApply = log.indexOf('apply');
    assert.ok(!log.slice(firstApply).includes('pull'), `${verb}: a pull between its slices (${log.join(',')})`);
    assert.equal(sent.length, 600, `${verb}: one operation per service to the workers`);
    assert.deepEqual(sent, shadow, `${verb}: the workers get what the shadow got, in order`);
    assert.ok(sent.every((o) => o.op === (verb === 'zero' ? 'zero' : 'delService')));
  }
  assert.equal(big.ctl.model.services.size, 0);
});

test('listConns without a cursor of a large connection table (60,000 entries) is made and written a page at a time: the same rows, max honoured, the event loop runs between the pages', async (t) => {
  const big = rig({ connMax: 1 << 17 });
  big.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  big.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[0].ip, port: 53, fwd: 'dr', weight: 1 });
  big.learn(RS[0].ip, RS[0].mac);
  for (let b = 0; b < 60_000 / 100; b++) {
    big.feed(...Array.from({ length: 100 }, (_v, i) =>
      udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: `198.51.${b >> 2}.${1 + (b & 3) * 50 + (i >> 1)}`, dst: VIP, sport: 1024 + (i & 1), dport: 53 })));
  }
  assert.equal(big.dp.ct.count, 60_000);
  const path = join(dir, `s${n++}.sock`);
  servers.push(await listenControl(path, (v, a) => big.ctl.callAsync(v, a), (e) => { throw e; }));
  big.ctl.resetSlowest();
  // In one piece the rows are built within one turn (3 turns before the reply here; 100,000
  // rows are 140-250 ms of work).
  const { text, all } = await turnsUntilReply(path, '{"id":1,"verb":"listConns","args":{"max":100000}}\n');
  t.diagnostic(`loop turns before the whole reply: ${all}; longest slice ${big.ctl.slowest.ms.toFixed(1)} ms`);
  assert.ok(all >= 60, `the event loop turned ${all} times while the rows were made and written`);
  const r = JSON.parse(text) as { ok: boolean; result: { conns: unknown[]; truncated: boolean } };
  assert.equal(r.ok, true);
  assert.equal(r.result.conns.length, 60_000);
  assert.deepEqual(r.result, big.ctl.call('listConns', { max: 100_000 }), 'the sliced rows are the one-piece rows');
  // max stops it as in one piece, and says rows were left out.
  const few = JSON.parse((await turnsUntilReply(path, '{"id":2,"verb":"listConns","args":{"max":5000}}\n')).text) as typeof r;
  assert.equal(few.result.conns.length, 5000);
  assert.equal(few.result.truncated, true);
  const bad = JSON.parse((await turnsUntilReply(path, '{"id":3,"verb":"listConns","args":{"max":-1}}\n')).text) as { ok: boolean; error: { code: string } };
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, 'BAD_REQUEST');
  // Beyond 100,000 rows the reply would hold gigabytes of uvsd's memory: refused, naming the value.
  const huge = JSON.parse((await turnsUntilReply(path, '{"id":4,"verb":"listConns","args":{"max":100001}}\n')).text) as { ok: boolean; error: { code: string; detail: string } };
  assert.equal(huge.ok, false);
  assert.equal(huge.error.code, 'BAD_REQUEST');
  assert.match(huge.error.detail, /max 100001 \(0\.\.100000\)/);
});

test('the socket file removed under the server (rm, a cleanup of /run): bound again within 2 s and said once, a client is answered again, the connection made before goes on; another file put at the path is left alone (said once) and the socket bound again once it is gone', async () => {
  const path = join(dir, `s${n++}.sock`);
  const said: string[] = [];
  const srv = await listenControl(path, (v, a) => r.ctl.call(v, a), (e) => { throw e; }, {}, undefined, (m) => said.push(m));
  servers.push(srv);
  const before = await ControlClient.connect(path);
  try {
    unlinkSync(path);
    const t0 = performance.now();
    while (!existsSync(path) && performance.now() - t0 < 2500) await new Promise((res) => setTimeout(res, 20));
    assert.ok(existsSync(path), 'not bound again within 2.5 s');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const { lines } = await exchange(path, '{"id":1,"verb":"timeouts"}\n', 1);
    assert.equal((lines[0] as { ok: boolean }).ok, true);
    await before.call('timeouts', {}); // on the removed file's socket still
    assert.deepEqual(said, [`control socket ${path} was removed under uvsd: bound again, uvsadm reaches uvsd again`]);
    assert.deepEqual(srv.socketStatus(), { path, rebound: 1 });
    // Another file there: left as it is; gone, the socket is bound again.
    unlinkSync(path);
    writeFileSync(path, 'not a socket');
    while (said.length < 2) await new Promise((res) => setTimeout(res, 20));
    assert.equal(readFileSync(path, 'utf8'), 'not a socket');
    assert.match(said[1]!, /is not uvsd's any more \(another file is there now\): left as it is/);
    assert.match(srv.socketStatus().problem ?? '', /another file/);
    unlinkSync(path);
    while (said.length < 3) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(srv.socketStatus(), { path, rebound: 2 });
    assert.equal(srv.release(), true);
    assert.equal(existsSync(path), false, 'released: the socket bound last removed');
  } finally {
    before.close();
  }
});

test('refused connections are told at most once per period, the first at once and the rest of a burst in one call at the period\'s end (they were told only with a refusal after a quiet period)', async () => {
  const told: Array<[string, number]> = [];
  const refuse = refusals((reason, n) => told.push([reason, n]), 200);
  refuse('too many connections');
  assert.deepEqual(told, [['too many connections', 1]], 'the first at once');
  for (let i = 0; i < 70; i++) refuse('too many connections');
  refuse('accept failed: EMFILE');
  assert.equal(told.length, 1, 'within the period: counted');
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(told, [['too many connections', 1], ['accept failed: EMFILE', 71]], 'the burst told at the period\'s end, with the last reason');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(told.length, 2, 'nothing more to tell: no line');
  refuse('too many connections');
  assert.deepEqual(told.at(-1), ['too many connections', 1], 'after a quiet period: at once');
});

test('each request is dispatched with its sender, as the kernel saw it connect (SO_PEERCRED: pid, uid, gid); peerFields adds its command line for the audit line, and leaves it out for a process that is gone', async () => {
  const path = join(dir, `s${n++}.sock`);
  const seen: Array<Peer | undefined> = [];
  servers.push(await listenControl(path, (v, a, peer) => (seen.push(peer), r.ctl.call(v, a)), (e) => { throw e; }));
  const c = await ControlClient.connect(path);
  await c.call('timeouts', {});
  await c.call('list', {});
  c.close();
  assert.deepEqual(seen, [0, 1].map(() => ({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() })));
  const mine = peerFields(seen[0]!);
  assert.deepEqual([mine.pid, mine.uid], [process.pid, process.getuid!()]);
  assert.ok(mine.cmd !== undefined && mine.cmd.startsWith(`${process.execPath} `) && mine.cmd.length <= PEER_CMD_MAX, String(mine.cmd));
  // A pid above pid_max (4194304 at most) names no process: pid and uid only.
  assert.deepEqual(peerFields({ pid: 4_194_305, uid: 0, gid: 0 }), { pid: 4_194_305, uid: 0 });
});
