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
import { parseArgs } from 'node:util';
import type { ComparisonResult } from './lib/rows.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opt } = parseArgs({
  options: {
    in: { type: 'string', default: path.join(ROOT, 'bench/results/latest.json') },
    out: { type: 'string', default: path.join(ROOT, 'docs/performance.png') },
    svg: { type: 'string' },
  },
});

interface Latest {
  date: string;
  command: string;
  machine: { cpu: string; nproc: number; kernel: string };
  load?: { before: number[]; after: number[] };
  comparisons: ComparisonResult[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The bar's length (1 = parity or the target) and its label. */
function bar(c: ComparisonResult): { v: number; t: number | null; label: string } {
  if (c.base === null) {
    const v = c.uvsValue ?? 0;
    return c.target ? { v: v / c.target, t: 1, label: `${v} ${c.unit} (target ${c.op} ${c.target} ${c.unit})` } : { v: 0, t: null, label: `${v} ${c.unit}` };
  }
  const r = c.ratio ?? 0;
  return { v: r, t: c.target, label: `${r.toFixed(3)} ×${c.target !== null ? ` (target ${c.op} ${c.target})` : ''}${c.flagged ? `, ${c.flagged} flagged` : ''}` };
}

export function svg(d: Latest): string {
  const rows = d.comparisons.filter((c) => c.base !== null || c.target !== null);
  const W = 1100;
  const left = 470;
  const right = 250;
  const rowH = 26;
  const top = 70;
  const H = top + rows.length * rowH + 50;
  const max = Math.max(2, ...rows.map((c) => Math.min(4, bar(c).v)));
  const x = (v: number): number => left + (Math.min(v, max) / max) * (W - left - right);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">uvs beside its baselines: ratios (medians of adjacent pairs)</text>`,
    `<text x="16" y="48" fill="#444">${esc(`${d.date.slice(0, 16).replace('T', ' ')} UTC · ${d.machine.nproc} × ${d.machine.cpu} · kernel ${d.machine.kernel}${d.load ? ` · load ${d.load.before[0]} → ${d.load.after[0]}` : ''} · ${d.command}`)}</text>`,
  ];
  for (let g = 0; g <= max; g += 0.5) {
    out.push(`<line x1="${x(g)}" y1="${top - 6}" x2="${x(g)}" y2="${H - 40}" stroke="${g === 1 ? '#999' : '#eee'}"/>`);
    out.push(`<text x="${x(g)}" y="${H - 24}" text-anchor="middle" fill="#666">${g}</text>`);
  }
  rows.forEach((c, i) => {
    const y = top + i * rowH;
    const b = bar(c);
    const colour = c.met === null ? '#9aa0a6' : c.met ? '#34a853' : '#ea4335';
    out.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(c.title)}</text>`);
    out.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(b.v) - left)}" height="${rowH - 9}" fill="${colour}"/>`);
    if (b.t !== null) out.push(`<line x1="${x(b.t)}" y1="${y + 1}" x2="${x(b.t)}" y2="${y + rowH - 2}" stroke="#000" stroke-width="2"/>`);
    out.push(`<text x="${Math.max(x(b.v), b.t !== null ? x(b.t) : 0) + 6}" y="${y + 16}" fill="#333">${esc(b.label)}</text>`);
  });
  out.push(`<text x="${left}" y="${H - 6}" fill="#666">black tick: the target · absolute targets (Gbit/s, MB) drawn as value ÷ target · green met, red not met, grey no target</text>`);
  out.push('</svg>');
  return out.join('\n');
}

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
