// test-class: shared
// keepalived's notify FIFO read by uvsd (uvsd --vrrp-fifo, docs/ha.md): the line format, what each
// state asks for, and a real FIFO in a temporary directory driving a datapath's roles, including
// keepalived making the FIFO anew (a restart) and a path that is not a FIFO.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, constants, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VrrpFifo, fifoPathProblem, parseFifoLine, roleCallOf } from '../src/control/vrrpfifo.js';
import { parseIp } from '../src/datapath/addr.js';
import { formatStatus } from '../src/control/printers.js';
import type { StatusResult } from '../src/control/protocol.js';
import { rig } from './helpers/harness.js';
import { stepClock } from './helpers/step-clock.js';

test('keepalived FIFO lines: INSTANCE and GROUP lines parsed, other lines not; MASTER / MASTER_RX_LOWER_PRI make master, BACKUP / FAULT / STOP / DELETED backup, priority changes nothing', () => {
  assert.deepEqual(parseFifoLine('INSTANCE "VI_1" MASTER 100\n'), { type: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 100 });
  assert.deepEqual(parseFifoLine('GROUP "G web" BACKUP 0'), { type: 'GROUP', name: 'G web', state: 'BACKUP', priority: 0 });
  for (const l of ['VS [192.168.201.15]:tcp:80 UP', 'RS [1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80 DOWN', 'INSTANCE VI_1 MASTER 100', '', 'INSTANCE "a" master 1']) {
    assert.equal(parseFifoLine(l), undefined, l);
  }
  const ev = (name: string, state: string) => ({ type: 'INSTANCE' as const, name, state, priority: 100 });
  const none = ['default'];
  assert.deepEqual(roleCallOf(ev('VI_1', 'MASTER'), none), { role: 'master' }, 'no HA groups: any instance drives the director');
  assert.deepEqual(roleCallOf(ev('VI_1', 'MASTER_RX_LOWER_PRI'), none), { role: 'master' });
  for (const s of ['BACKUP', 'FAULT', 'STOP', 'DELETED']) assert.deepEqual(roleCallOf(ev('VI_1', s), none), { role: 'backup' }, s);
  for (const s of ['MASTER_PRIORITY', 'BACKUP_PRIORITY', 'INIT']) assert.equal(roleCallOf(ev('VI_1', s), none), undefined, s);
  const groups = ['default', 'web', 'api'];
  assert.deepEqual(roleCallOf(ev('web', 'MASTER'), groups), { role: 'master', group: 'web' });
  assert.deepEqual(roleCallOf(ev('default', 'FAULT'), groups), { role: 'backup', group: 'default' });
  assert.equal(roleCallOf(ev('VI_1', 'MASTER'), groups), undefined, 'with HA groups, a name of no group is not the whole director');
});

test('--vrrp-fifo: created 0600 when missing, lines drive the HA groups in order, a FIFO made anew by keepalived is read again, not a FIFO refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-fifo-'));
  const path = join(dir, 'vrrp.fifo');
  const r = rig({ addrs: ['10.0.0.1/24'] });
  r.dp.apply([{ op: 'haGroups', groups: [{ name: 'web', addrs: [parseIp('10.0.0.100')] }, { name: 'api', addrs: [parseIp('10.0.0.101')] }] }]);
  const warnings: string[] = [];
  const fifo = new VrrpFifo(path, (args) => r.ctl.call('setRole', args), () => r.dp.link.groupNames, (msg, extra) => warnings.push(`${msg} ${JSON.stringify(extra)}`));
  const roles = () => r.dp.link.roles().map((m, i) => `${r.dp.link.groupNames[i]}=${m ? 'master' : 'backup'}`).join(',');
  const write = (text: string): void => {
    const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK); // as keepalived writes
    writeSync(fd, text);
    closeSync(fd);
  };
  const until = async (ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((res) => setTimeout(res, 10));
  };
  try {
    fifo.open();
    const st = statSync(path);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o777, 0o600);
    // keepalived runs notify scripts concurrently; the FIFO keeps its order: web's BACKUP comes last.
    write('INSTANCE "web" MASTER 150\nINSTANCE "api" BACKUP 100\nVS [10.0.0.100]:tcp:80 UP\nINSTANCE "web" BACKUP 150\nINSTANCE "web" MASTER 150\nINSTANCE "web" FAULT 0\n');
    await until(() => fifo.status().events === 5);
    assert.equal(roles(), 'default=master,web=backup,api=backup');
    write('INSTANCE "api" MAST'); // a line in two writes
    write('ER 100\nINSTANCE "VI_OTHER" MASTER 100\nINSTANCE "api" MASTER_PRIORITY 120\n');
    await until(() => fifo.status().events === 8);
    assert.equal(roles(), 'default=master,web=backup,api=master');
    const s = fifo.status();
    assert.deepEqual([s.events, s.ignored, s.last], [8, 2, 'INSTANCE "api" MASTER_PRIORITY 120']);
    assert.equal(warnings.length, 1, 'one warning for the instance named after no group');
    assert.match(warnings[0]!, /VI_OTHER/);
    assert.match(formatStatus({ ...(r.ctl.call('status', {}) as StatusResult), vrrpFifo: s }),
      new RegExp(`^vrrp_fifo ${path} events 8 ignored 2, last INSTANCE "api" MASTER_PRIORITY 120 \\ds ago$`, 'm'));

    // A state uvsd does not act on is warned about as such (not as a name of no group), once;
    // the instance is named in a field of its own (pino's "name" is uvsd's).
    write('INSTANCE "web" WEIRD 100\nINSTANCE "api" WEIRD 100\n');
    await until(() => fifo.status().events === 10);
    assert.deepEqual(warnings.slice(1), ['vrrp fifo: state WEIRD is none uvsd acts on (MASTER, MASTER_RX_LOWER_PRI, BACKUP, FAULT, STOP, DELETED): ignored {"instance":"web","state":"WEIRD"}']);
    assert.equal(roles(), 'default=master,web=backup,api=master');
    // A line longer than any keepalived writes is dropped whole: its end is not read as a line.
    write('y'.repeat(5000));
    write('GROUP "api" BACKUP 0\nINSTANCE "web" MASTER 150\n');
    await until(() => fifo.status().events === 11);
    assert.equal(roles(), 'default=master,web=master,api=master', 'api not made backup by the tail of the long line');

    // keepalived exits (it removes a FIFO it made) and makes a new one: uvsd reads that one.
    unlinkSync(path);
    execFileSync('mkfifo', ['-m', '600', path]); // as keepalived makes it
    fifo.check();
    write('INSTANCE "web" BACKUP 150\nINSTANCE "web" MASTER 150\n');
    await until(() => fifo.status().events === 13);
    assert.equal(roles(), 'default=master,web=master,api=master');
    // Gone altogether: made again by uvsd.
    unlinkSync(path);
    fifo.check();
    assert.ok(statSync(path).isFIFO());
    write('INSTANCE "default" BACKUP 100\n');
    await until(() => fifo.status().events === 14);
    assert.equal(roles(), 'default=backup,web=master,api=master');
  } finally {
    fifo.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const plainDir = mkdtempSync(join(tmpdir(), 'uvs-fifo-'));
  const file = join(plainDir, 'plain');
  writeFileSync(file, 'x');
  assert.equal(fifoPathProblem(file), `${file} exists and is not a FIFO`);
  assert.throws(() => new VrrpFifo(file, () => {}, () => ['default'], () => {}).open(), /exists and is not a FIFO/);
  assert.equal(fifoPathProblem(join(tmpdir(), 'uvs-fifo-missing')), undefined, 'missing: created at open');
  const noDir = join(tmpdir(), 'uvs-no-such-dir-x', 'f');
  assert.equal(fifoPathProblem(noDir), `${noDir}: its directory ${join(tmpdir(), 'uvs-no-such-dir-x')} does not exist`);
  rmSync(plainDir, { recursive: true, force: true });
});

test('--vrrp-fifo: an HA group a reload adds takes keepalived\'s last state of the instance of its name, written before the reload (ignored then); without one it stays as it is (until 2026-12-07 it stayed backup while keepalived had it MASTER and wrote nothing more)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-fifo-'));
  const path = join(dir, 'vrrp.fifo');
  const r = rig({ addrs: ['10.0.0.1/24'] });
  const groups = (names: string[]) => r.dp.apply([{ op: 'haGroups', groups: names.map((name, i) => ({ name, addrs: [parseIp(`10.0.0.${100 + i}`)] })) }]);
  groups(['a', 'b']);
  const warnings: string[] = [];
  const fifo = new VrrpFifo(path, (args) => r.ctl.call('setRole', args), () => r.dp.link.groupNames, (msg) => warnings.push(msg));
  const roles = () => r.dp.link.roles().map((m, i) => `${r.dp.link.groupNames[i]}=${m ? 'master' : 'backup'}`).join(',');
  try {
    fifo.open();
    const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, 'INSTANCE "a" BACKUP 100\nINSTANCE "c" BACKUP 150\nINSTANCE "c" MASTER 150\nINSTANCE "d" BACKUP 100\n');
    closeSync(fd);
    for (let i = 0; i < 200 && fifo.status().events < 4; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(roles(), 'default=master,a=backup,b=master');
    // The reload adds c (keepalived last said MASTER), d (BACKUP) and e (nothing said).
    r.ctl.call('setRole', { role: 'master', group: 'b' });
    groups(['a', 'b', 'c', 'd', 'e']);
    fifo.groupsAdded(['c', 'd', 'e']);
    assert.equal(roles(), 'default=master,a=backup,b=master,c=master,d=backup,e=master');
    assert.ok(warnings.includes('vrrp fifo: HA group c added by the reload takes keepalived\'s last state of it, MASTER'), warnings.join('\n'));
    // Taken once: a later reload that drops and adds c again waits for keepalived's next line.
    r.ctl.call('setRole', { role: 'backup', group: 'c' });
    fifo.groupsAdded(['c']);
    assert.equal(roles(), 'default=master,a=backup,b=master,c=backup,d=backup,e=master');
  } finally {
    fifo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--vrrp-fifo after a step of the wall clock (NTP): the status says the last line came as long ago as it did (before: 3630 s ago after an hour forward)', async (t) => {
  const clock = stepClock(t, []);
  const dir = mkdtempSync(join(tmpdir(), 'uvs-fifo-'));
  const path = join(dir, 'vrrp.fifo');
  const r = rig();
  const fifo = new VrrpFifo(path, (args) => r.ctl.call('setRole', args), () => r.dp.link.groupNames, () => {});
  try {
    fifo.open();
    const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, 'INSTANCE "VI_1" MASTER 100\n');
    closeSync(fd);
    for (let i = 0; i < 10_000 && fifo.status().events === 0; i++) await new Promise((res) => setImmediate(res));
    clock.tick(30_000);
    clock.step(3_600_000);
    assert.match(formatStatus({ ...(r.ctl.call('status', {}) as StatusResult), vrrpFifo: fifo.status() }),
      new RegExp(`^vrrp_fifo ${path} events 1 ignored 0, last INSTANCE "VI_1" MASTER 100 30s ago$`, 'm'));
  } finally {
    fifo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--vrrp-fifo reads no FIFO another user could write: one another user made (nobody, in a sticky directory as /tmp) or group or others may write or read is refused, at open and when the path names a new one; so is a directory others may write unless sticky (before: nobody\'s 0666 FIFO was read and its line made uvsd master)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-fifo-'));
  chmodSync(dir, 0o1777);
  const path = join(dir, 'vrrp.fifo');
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const r = rig();
  r.ctl.call('setRole', { role: 'backup' });
  const warnings: string[] = [];
  const fifo = new VrrpFifo(path, (args) => r.ctl.call('setRole', args), () => r.dp.link.groupNames, (msg, extra) => warnings.push(`${msg}: ${String(extra.error)}`));
  /** Write a MASTER line as keepalived does; false when nobody reads the FIFO (ENXIO). */
  const masterLine = async (): Promise<boolean> => {
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENXIO') return false;
      throw e;
    }
    writeSync(fd, 'INSTANCE "VI_1" MASTER 100\n');
    closeSync(fd);
    for (let i = 0; i < 100 && !r.dp.link.active; i++) await new Promise((res) => setTimeout(res, 5));
    return true;
  };
  try {
    execFileSync('mkfifo', ['-m', '666', path], asNobody);
    const nobodys = `${path}: owned by uid 65534 (not root): another user could set uvsd's role through it`;
    assert.equal(fifoPathProblem(path), nobodys);
    assert.throws(() => fifo.open(), { message: nobodys });
    assert.equal(await masterLine(), false, 'uvsd does not read it');
    assert.equal(r.dp.link.active, false);
    unlinkSync(path);
    execFileSync('mkfifo', ['-m', '620', path]);
    assert.equal(fifoPathProblem(path), `${path}: writable by group or others (mode 0620): another user could set uvsd's role through it`);
    unlinkSync(path);
    execFileSync('mkfifo', ['-m', '604', path]);
    assert.equal(fifoPathProblem(path), `${path}: readable by group or others (mode 0604): another user could take keepalived's lines from it`);
    // The one uvsd makes is read; when the path names another user's FIFO, that one is not.
    unlinkSync(path);
    fifo.open();
    assert.equal(await masterLine(), true);
    assert.equal(r.dp.link.active, true);
    r.ctl.call('setRole', { role: 'backup' });
    unlinkSync(path);
    execFileSync('mkfifo', ['-m', '666', path], asNobody);
    fifo.check();
    assert.deepEqual(warnings, [`vrrp fifo cannot be opened again: ${nobodys}`]);
    assert.equal(await masterLine(), false);
    assert.equal(r.dp.link.active, false);
    unlinkSync(path);
    chmodSync(dir, 0o777); // not sticky: anyone may replace the FIFO uvsd made
    assert.equal(fifoPathProblem(path), `${path}: directory ${dir} is writable by group or others (mode 0777, not sticky): another user could put a FIFO of its own there`);
  } finally {
    fifo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
