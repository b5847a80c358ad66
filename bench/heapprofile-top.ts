// Summarise a V8 sampling heap profile (from `npm run bench -- --heap-sample DIR`): the sampled
// bytes allocated per place, each with the calls that led there, largest first.
//
//   node dist/bench/heapprofile-top.js FILE.heapprofile [--top 15] [--depth 6]
import { readFileSync } from 'node:fs';
import { benchArgs, usageError } from './lib/args.js';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

const { values, positionals } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: { top: { type: 'string', default: '15' }, depth: { type: 'string', default: '6' } },
});
if (positionals.length !== 1) usageError(import.meta.url, 'one FILE.heapprofile to read');
const prof = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as { head: HeapNode };
const depth = Number(values.depth);

const frame = (n: HeapNode): string => {
  const f = n.callFrame;
  const file = f.url ? f.url.split('/').slice(-2).join('/') : '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
};
const places: Array<{ bytes: number; stack: string[] }> = [];
let total = 0;
const walk = (n: HeapNode, stack: string[]): void => {
  const here = [...stack, frame(n)];
  if (n.selfSize > 0) {
    total += n.selfSize;
    places.push({ bytes: n.selfSize, stack: here.slice(-depth).reverse() });
  }
  for (const c of n.children) walk(c, here);
};
walk(prof.head, []);
places.sort((a, b) => b.bytes - a.bytes);
console.log(`${(total / 1024).toFixed(0)} KiB sampled`);
for (const p of places.slice(0, Number(values.top))) {
  console.log(`${(p.bytes / 1024).toFixed(1).padStart(9)} KiB ${((100 * p.bytes) / total).toFixed(1).padStart(5)} %  ${p.stack[0]}`);
  for (const f of p.stack.slice(1)) console.log(`${' '.repeat(26)}< ${f}`);
}
