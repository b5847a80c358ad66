// test-class: lab
// TAP offload end to end (uvsd --offload on, the default): the TAP is opened with a
// virtio_net_hdr, checksum offload and TSO, so the client's and the servers' TCP stacks hand
// 64 KB super-segments with partial checksums to the bridge and on to uvsd uncut. For every
// forwarding method a 5 MB download and upload must arrive byte-identical (sha256) and frames
// larger than the MTU must really have crossed the TAP (rx_gso_frames > 0); TUN cuts them into
// segments itself (gso_segments_built). With --offload off nothing larger than the MTU arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDrLab } from './lab/itest.js';
import { LIP, VIP, type DrLab, type LabMode } from './lab/dr-lab.js';

const OPTS = { timeout: 60_000 };
const MB5 = 5 * 1024 * 1024;
const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };

async function service(lab: DrLab, mode: LabMode): Promise<void> {
  await lab.call('addService', { ...TCP80, sched: 'rr' });
  for (const s of lab.servers) await lab.call('addDest', { service: TCP80, addr: s.addr, port: 80, fwd: mode, weight: 1 });
  if (mode === 'fullnat') await lab.call('addLaddr', { service: TCP80, addr: LIP });
}

async function transfers(lab: DrLab): Promise<void> {
  const down = await lab.transfer(MB5);
  assert.equal(down.bytes, MB5, JSON.stringify(down));
  assert.equal(down.sha256, down.expected, 'download byte-identical');
  const up = await lab.transfer(MB5, { up: true });
  assert.equal(up.bytes, MB5, JSON.stringify(up));
  assert.equal(up.sha256, up.expected, 'upload byte-identical');
}

for (const mode of ['dr', 'nat', 'fullnat', 'tun'] as const) {
  test(`offload on, ${mode}: 5 MB down and up byte-identical; TCP super-segments larger than the MTU crossed the TAP`, OPTS, async (t) => {
    await withDrLab(t, { servers: 1, mode, httpPorts: [80] }, async (lab) => {
      await service(lab, mode);
      await transfers(lab);
      const st = await lab.status();
      t.diagnostic(`offload ${st.offload}; counters ${JSON.stringify({
        rx_gso_frames: st.counters['rx_gso_frames'], rx_csum_partial: st.counters['rx_csum_partial'],
        gso_segments_built: st.counters['gso_segments_built'], rx_frames: st.counters['rx_frames'],
      })}; drops ${JSON.stringify(Object.fromEntries(Object.entries(st.drops).filter(([, v]) => v > 0)))}`);
      assert.equal(st.offload, 'csum+tso');
      assert.ok(st.counters['rx_gso_frames']! > 0, 'frames larger than the MTU arrived (GSO)');
      assert.ok(st.counters['rx_csum_partial']! > 0, 'partial checksums arrived');
      if (mode === 'tun') assert.ok(st.counters['gso_segments_built']! > 0, 'TUN cut super-segments itself');
      assert.equal(st.drops['offload_unsupported'] ?? 0, 0);
    });
  });
}

test('offload off: the same transfer through NAT, no frame larger than the MTU, no partial checksum', OPTS, async (t) => {
  await withDrLab(t, { servers: 1, mode: 'nat', httpPorts: [80], uvsd: { extraArgs: ['--offload', 'off'] } }, async (lab) => {
    await service(lab, 'nat');
    await transfers(lab);
    const st = await lab.status();
    assert.equal(st.offload, 'off');
    assert.equal(st.counters['rx_gso_frames'], 0);
    assert.equal(st.counters['rx_csum_partial'], 0);
  });
});
