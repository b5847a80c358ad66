// The results chart: one bar per comparison of bench/results/latest.json (uvs ÷ its baseline, the
// median of adjacent pairs; rows with an absolute target show uvs's value ÷ the target), a tick
// at the target, green when met, red when not, grey without a target. Written as SVG inside an
// HTML page and rendered to PNG by headless chromium.
//
//   npm run bench:chart [-- --in bench/results/latest.json --out docs/performance.png [--svg FILE]]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { svg, type Latest } from './lib/chart-svg.js';
import { benchArgs } from './lib/args.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opt } = benchArgs(import.meta.url, {
  options: {
    in: { type: 'string', default: path.join(ROOT, 'bench/results/latest.json') },
    out: { type: 'string', default: path.join(ROOT, 'docs/performance.png') },
    svg: { type: 'string' },
  },
});

function main(): void {
  const d = JSON.parse(readFileSync(opt.in!, 'utf8')) as Latest;
  if (!Array.isArray(d.comparisons) || d.comparisons.length === 0) {
    console.error(`bench:chart: ${opt.in} has no comparisons (run npm run bench first)`);
    process.exit(1);
  }
  const s = svg(d);
  if (opt.svg) writeFileSync(opt.svg, s);
  const tmp = mkdtempSync(path.join(tmpdir(), 'uvs-chart-'));
  try {
    const html = path.join(tmp, 'chart.html');
    writeFileSync(html, `<!doctype html><html><body style="margin:0">${s}</body></html>`);
    const w = /width="(\d+)"/.exec(s)![1];
    const h = /height="(\d+)"/.exec(s)![1];
    execFileSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${tmp}/profile`, `--window-size=${w},${h}`, `--screenshot=${path.resolve(opt.out!)}`, `file://${html}`], { stdio: 'pipe', timeout: 60_000 });
    console.log(`wrote ${path.relative(process.cwd(), path.resolve(opt.out!))}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
