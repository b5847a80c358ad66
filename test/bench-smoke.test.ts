// test-class: lab
// A seconds-long smoke run of the benchmark's NAT row (bench/run.ts): uvsd and the kernel with
// nftables DNAT + conntrack each forward the generator's small UDP in the lab, and the results
// table divides one by the other; uvsd answers the control probe meanwhile. Only that it works,
// never how fast (no timing assertions).
// Needs root, netns, cc, nft and conntrack (.ci/run installs nftables and conntrack for it).
// A small --conn-max: uvsd prefaults its table at start, and 8 M entries take long under load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './lab/dr-lab.js';
import { childEnv, hasCommand } from './lab/netns.js';
import { skipIf } from './lab/itest.js';

test('bench smoke: --rows nat --workloads steady forwards through uvsd and nftables and prints their ratio', { timeout: 180_000 }, (t) => {
  if (skipIf(t)) return;
  for (const bin of ['nft', 'conntrack', 'cc']) {
    assert.ok(hasCommand(bin), `${bin} is not installed (apt-get install -y --no-install-recommends nftables conntrack gcc)`);
  }
  const out = execFileSync(process.execPath, [join(repoRoot, 'dist/bench/run.js'), '--rows', 'nat', '--workloads', 'steady', '--seconds', '1', '--warmup', '1', '--conn-max', '65536', '--no-save'], {
    encoding: 'utf8',
    env: childEnv(),
    timeout: 150_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const f of ['nft', 'uvsd']) {
    const m = new RegExp(`nat\\s+steady\\s+${f}\\s+#1: sent [\\d.]+k? pps, delivered ([\\d.]+)(k?) pps`).exec(out);
    assert.ok(m, `no ${f} run in:\n${out}`);
    const pps = Number(m[1]) * (m[2] ? 1000 : 1);
    assert.ok(pps > 0, `${f} delivered nothing:\n${out}`);
  }
  // The control probe (a child process on the generator's CPU) answered: uvsd's row has its round trips.
  assert.match(out, /\| nat \| steady 64[^|]*\| uvsd \|.*\| \d[\d.]*\/\d[\d.]*\/\d[\d.]* \| /, `no control round trips in:\n${out}`);
  // ... with their parts from uvsd's reply timing, and how long uvsd waited for its CPU.
  assert.match(out, /uvsd +#1: .*control RTT p50 [\d.]+ p99 [\d.]+ ms \(to uvsd [\d.]+\/[\d.]+, in uvsd [\d.]+\/[\d.]+, back [\d.]+\/[\d.]+\)/, `no round trip parts in:\n${out}`);
  assert.doesNotMatch(out, /error:/);
  assert.match(out, /\| NAT small UDP, steady 64 flows: uvsd ÷ nftables DNAT \| [\d.]+k? pps \| [\d.]+k? pps \(nft\) \| \d+\.\d{3} \(1 pair/);
});
