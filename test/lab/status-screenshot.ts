// Takes docs/status-page.png: a DR lab with uvsd --metrics, two services with traffic running
// while headless chromium renders the status page. Run as root after `npm run build`:
//   node dist/test/lab/status-screenshot.js [out.png]
import { join } from 'node:path';
import { createDrLab, repoRoot, VIP, type DrLab } from './dr-lab.js';
import { delay } from './netns.js';

// `node --test dist/test/` (Node 20) runs every .js under a test/ directory, this script too.
if (process.env['NODE_TEST_CONTEXT']) process.exit(0);

const out = process.argv[2] ?? join(repoRoot, 'docs', 'status-page.png');
const METRICS = '127.0.0.1:9478';

async function main(): Promise<void> {
  let lab: DrLab | null = null;
  try {
    lab = await createDrLab({ base: 'uvsshot', servers: 3 });
    await lab.startUvsd(['--metrics', METRICS]);
    await lab.uvsadmMust(['-A', '-t', `${VIP}:80`, '-s', 'wrr']);
    await lab.uvsadmMust(['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    for (const [i, s] of lab.servers.entries()) {
      await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:80`, '-g', '-w', String(i + 1)]);
      await lab.uvsadmMust(['-a', '-u', `${VIP}:53`, '-r', `${s.addr}:53`, '-g', '-w', '1']);
    }
    // Traffic running while the page is rendered, for a few estimator rounds (2 s each) first.
    const held = await lab.hold();
    let stop = false;
    const load = (async () => {
      while (!stop) await Promise.all([lab!.http(60, { parallel: 2 }), lab!.udp(40)]);
    })();
    await lab.udp(2, { target: `${VIP}:54` }).catch(() => undefined); // two no_service drops
    await delay(6500);
    const r = await lab.lab.exec(lab.ns.dir, [
      'chromium', '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${lab.tmp}/chromium`,
      '--window-size=1180,760', '--virtual-time-budget=3000', `--screenshot=${out}`, `http://${METRICS}/`,
    ], { timeoutMs: 60_000 });
    stop = true;
    await load;
    if (r.code !== 0) throw new Error(`chromium failed: ${r.stderr}`);
    process.stdout.write(`wrote ${out}\n`);
    await held.close();
  } finally {
    if (lab) await lab.destroy();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
