// The results chart as SVG (bench/chart.ts renders it to PNG): one bar per comparison, uvs ÷
// its baseline (the median of adjacent pairs), or uvs's value ÷ the target where the target is
// absolute, a black tick at the target, green when met, red when not, grey without a target.
import type { ComparisonResult } from './rows.js';

export interface Latest {
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
  // Room for the longest title (~7.2 px a character at 13 px), at least the 560 px it always had.
  const left = Math.max(560, Math.ceil(Math.max(...rows.map((c) => c.title.length)) * 7.2) + 24);
  const right = 250;
  const W = left + 690;
  const rowH = 26;
  const top = 92;
  const H = top + rows.length * rowH + 66;
  const max = Math.max(2, ...rows.map((c) => Math.min(4, bar(c).v)));
  const x = (v: number): number => left + (Math.min(v, max) / max) * (W - left - right);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">uvs beside its baselines: ratios (medians of adjacent pairs)</text>`,
    `<text x="16" y="48" fill="#444">${esc(`${d.date.slice(0, 16).replace('T', ' ')} UTC · ${d.machine.nproc} × ${d.machine.cpu} · kernel ${d.machine.kernel}${d.load ? ` · load average ${d.load.before[0]} → ${d.load.after[0]}` : ''}`)}</text>`,
    `<text x="16" y="68" fill="#444">${esc(d.command)}</text>`,
  ];
  for (let g = 0; g <= max; g += 0.5) {
    out.push(`<line x1="${x(g)}" y1="${top - 6}" x2="${x(g)}" y2="${H - 42}" stroke="${g === 1 ? '#999' : '#eee'}"/>`);
    out.push(`<text x="${x(g)}" y="${H - 26}" text-anchor="middle" fill="#666">${g}</text>`);
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
  out.push(`<text x="16" y="${H - 6}" fill="#666">black tick: the target · absolute targets (Gbit/s, MB) drawn as value ÷ target · bars end at ${max} · green met, red not met, grey no target</text>`);
  out.push('</svg>');
  return out.join('\n');
}

