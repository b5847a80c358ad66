// test-class: lab
// SCTP services end to end in network namespaces. This kernel has no SCTP, so the client and the
// real servers speak it over raw sockets (test/lab/sctp-peer.ts: the association setup, DATA
// answered with the server's name, every CRC32c checked). uvsd forwards by DR (the packet
// untouched) and by NAT (ports mapped 3868 -> 3869, the CRC computed again both ways); -Lnc
// follows the kernel's SCTP states; a client's ABORT closes the associations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { uvsadmCall, withDrLab } from './lab/itest.js';
import { labDir, VIP, type DrLab } from './lab/dr-lab.js';

const OPTS = { timeout: 120_000 };
const PEER = join(labDir, 'sctp-peer.js');

async function associations(lab: DrLab, fwd: '-g' | '-m', rport: number): Promise<void> {
  for (const s of lab.servers) {
    const p = lab.lab.spawn(s.ns, [process.execPath, PEER, '--serve', s.name]);
    await p.waitForLine(/^ready$/);
  }
  await uvsadmCall(lab, ['-A', '--sctp-service', `${VIP}:3868`, '-s', 'rr']);
  for (const s of lab.servers) await uvsadmCall(lab, ['-a', '--sctp-service', `${VIP}:3868`, '-r', `${s.addr}:${rport}`, fwd, '-w', '1']);
  assert.match(await lab.uvsadmMust(['-Ln']), new RegExp(`^SCTP ${VIP.replace(/\./g, '\\.')}:3868 rr$`, 'm'));

  const client = lab.lab.spawn(lab.ns.cli, [process.execPath, PEER, '--client', `${VIP}:3868`, '--assocs', '6', '--sport', '45000', '--abort']);
  const tally = JSON.parse(await client.waitForLine(/^\{"servers"/, 30_000)) as { servers: string[]; errors: number; errorSamples: string[]; badChecksums: number; notFromVip: number };
  assert.equal(tally.errors, 0, tally.errorSamples.join('; '));
  assert.deepEqual(tally.servers, ['rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2'], 'each association on its rr server, DATA answered from there');
  assert.equal(tally.badChecksums, 0, 'every packet the client got had a right CRC32c');
  assert.equal(tally.notFromVip, 0, 'every answer came from VIP:3868');

  const rows = (await lab.uvsadmMust(['-Lnc'])).split('\n').filter((l) => l.startsWith('SCTP'));
  assert.equal(rows.length, 6, rows.join('\n'));
  assert.ok(rows.every((l) => /^SCTP \d\d:\d\d  ESTABLISHED /.test(l)), rows.join('\n'));
  assert.match(await lab.uvsadmMust(['-Ln']), new RegExp(`${fwd === '-m' ? 'Masq' : 'Route'}\\s+1\\s+3\\s+0`), 'three active associations per server');

  client.child.stdin!.write('abort\n');
  await client.waitForLine(/^\{"aborted":6\}$/);
  let closed: string[] = [];
  for (let i = 0; i < 50; i++) {
    closed = (await lab.uvsadmMust(['-Lnc'])).split('\n').filter((l) => / CLOSED /.test(l));
    if (closed.length === 6) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(closed.length, 6, 'the ABORTs closed every association');
  const st = await lab.status();
  assert.equal(st.counters['drop.sctp_bad_checksum'] ?? 0, 0);
}

test('SCTP, NAT: six associations (INIT, COOKIE ECHO, DATA) split by rr over two servers with port mapping 3868 -> 3869; every answer from VIP:3868 with a right CRC32c; -Lnc ESTABLISHED, then CLOSED after the client\'s ABORTs', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'nat', httpPorts: [8080] }, (lab) => associations(lab, '-m', 3869));
});

test('SCTP, DR: the same six associations through DR (the packets untouched, the servers answer from the VIP)', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'dr', httpPorts: [8080] }, (lab) => associations(lab, '-g', 3868));
});
