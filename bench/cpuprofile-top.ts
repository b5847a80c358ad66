// Summarise a V8 .cpuprofile (from `npm run bench -- --prof DIR`, i.e. uvsd under
// `node --cpu-prof`): self and inclusive time per function, over the whole profile or only
// the seconds [--from, --to) after the profile started (to skip start-up and shutdown).
//
//   node dist/bench/cpuprofile-top.js FILE.cpuprofile [--top 25] [--from 3] [--to 13]
import { readFileSync } from 'node:fs';
import { benchArgs, usageError } from './lib/args.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    from: { type: 'string', default: '0' },
    to: { type: 'string', default: '1e9' },
  },
});
if (positionals.length !== 1) usageError(import.meta.url, 'one FILE.cpuprofile to read');
const prof = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
const from = Number(values.from) * 1e6;
const to = Number(values.to) * 1e6;
const top = Number(values.top);

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n: ProfNode): string => {
  const f = n.callFrame;
  const file = f.url ? f.url.split('/').slice(-2).join('/') : '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
};

const self = new Map<string, number>();
const incl = new Map<string, number>();
let total = 0;
let t = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const d = prof.timeDeltas[i] ?? 0;
  t += d;
  if (t < from || t >= to) continue;
  total += d;
  const id = prof.samples[i]!;
  const k = name(byId.get(id)!);
  self.set(k, (self.get(k) ?? 0) + d);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = name(byId.get(cur)!);
    if (seen.has(kk)) continue;
    seen.add(kk);
    incl.set(kk, (incl.get(kk) ?? 0) + d);
  }
}

const show = (title: string, m: Map<string, number>): void => {
  console.log(`-- ${title} (% of ${(total / 1e6).toFixed(2)} s sampled)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * v) / total).toFixed(1).padStart(6)}%  ${k}`);
  }
};
show('self', self);
show('inclusive', incl);
