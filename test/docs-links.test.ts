// test-class: lab
// The documentation's links: every relative link of README.md and docs/*.md names a file of the
// repository, and every #anchor a heading of its file, as GitHub spells a heading's anchor; and
// every test title docs/features.md cites is a test of the file it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { repoRoot } from './lab/dr-lab.js';
import { markdownFiles } from './helpers/docs.js';

/** GitHub's anchor of a heading: lower case, only letters, marks, digits, "_", " " and "-" kept
 *  (so an en dash or a colon goes, leaving its neighbours joined), spaces to "-". */
function headingAnchor(text: string): string {
  const plain = text.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').trim().toLowerCase();
  return plain.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** A Markdown file's text without its fenced code blocks (no headings or links in there). */
function prose(file: string): string {
  return readFileSync(join(repoRoot, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
}

/** The anchors of a Markdown file's headings; a repeated one gets -1, -2, ... */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(file).matchAll(/^#{1,6} (.*)$/gm)) {
    const a = headingAnchor(m[1]!);
    const n = seen.get(a);
    seen.set(a, (n ?? -1) + 1);
    out.add(n === undefined ? a : `${a}-${n + 1}`);
  }
  return out;
}

const docs = markdownFiles();

test('headingAnchor spells anchors as GitHub does', () => {
  assert.equal(headingAnchor('2026-12-03 14:28–16:00 UTC: uvsd at nice −10 (the unit\'s `Nice=`)'), '2026-12-03-14281600-utc-uvsd-at-nice-10-the-units-nice');
  assert.equal(headingAnchor('Node\'s flags (`--no-memory-reducer`)'), 'nodes-flags---no-memory-reducer');
  assert.equal(headingAnchor('The ring backend (`--port af_packet:IFACE`)'), 'the-ring-backend---port-af_packetiface');
});

test('every relative link of README.md and docs/*.md names a file of the repository and, with #anchor, a heading of it', () => {
  const broken: string[] = [];
  const anchors = new Map<string, Set<string>>();
  for (const doc of docs) {
    for (const m of prose(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/.test(link)) continue; // http:, https:, mailto:
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file === '' ? doc : normalize(join(dirname(doc), file));
      if (!existsSync(join(repoRoot, target))) {
        broken.push(`${doc}: ${link} (no ${target})`);
        continue;
      }
      if (anchor === undefined || !target.endsWith('.md')) continue;
      if (!anchors.has(target)) anchors.set(target, anchorsOf(target));
      if (!anchors.get(target)!.has(anchor)) broken.push(`${doc}: ${link} (no such heading in ${target})`);
    }
  }
  assert.deepEqual(broken, []);
});

/** Test titles of a test file: test(), describe(), t.test() and it() with a literal or template title. */
function titlesOf(file: string): string[] {
  const text = readFileSync(join(repoRoot, 'test', file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:test|describe|it)\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)) out.push(m[2]!.replace(/\\(['"`\\])/g, '$1'));
  return out;
}

/** Whether a title cited in features.md ("a ... b": parts in this order) names a test of the file:
 *  a literal title holds the parts in order; a template title (`${...}`, one test per case) is
 *  taken when the quote starts as its text before the first substitution does (or with "..."). */
function cites(quote: string, title: string): boolean {
  const parts = quote.replace(/\\\|/g, '|').split(/\s*\.\.\.\s*/).map((p) => p.trim()).filter((p) => p !== '');
  const sub = title.indexOf('${');
  if (sub >= 0) {
    const head = title.slice(0, sub);
    return quote.trimStart().startsWith('...') || quote.startsWith(head) || head.startsWith(parts[0] ?? '');
  }
  let at = 0;
  for (const p of parts) {
    const i = title.indexOf(p, at);
    if (i < 0) return false;
    at = i + p.length;
  }
  return true;
}

test('every test title docs/features.md quotes after a test file (`file.test.ts` "title ...") is a test of that file', () => {
  const files = new Set(readdirSync(join(repoRoot, 'test')).filter((f) => f.endsWith('.test.ts')));
  const titles = new Map<string, string[]>();
  const wrong: string[] = [];
  let cited = 0;
  for (const line of readFileSync(join(repoRoot, 'docs/features.md'), 'utf8').split('\n')) {
    // A file's quotes run up to the next backtick (the next file, option or code span).
    for (const m of line.matchAll(/`([\w.-]+\.test\.ts)`([^`]*)/g)) {
      const file = m[1]!;
      if (!files.has(file)) {
        wrong.push(`${file}: no such test file`);
        continue;
      }
      if (!titles.has(file)) titles.set(file, titlesOf(file));
      for (const q of m[2]!.matchAll(/"((?:\\"|[^"])*)"/g)) {
        cited++;
        const quote = q[1]!.replace(/\\"/g, '"');
        if (!titles.get(file)!.some((t) => cites(quote, t))) wrong.push(`${file}: "${quote}"`);
      }
    }
  }
  assert.ok(cited > 300, `only ${cited} titles found: the pattern no longer reads features.md`);
  assert.deepEqual(wrong, []);
});

test('docs/control-protocol.md\'s verb table has one row per verb of the registry (src/control/verbs.ts), none twice, none joined to another\'s line', async () => {
  const { VERBS } = await import('../src/control/verbs.js');
  const text = readFileSync(join(repoRoot, 'docs/control-protocol.md'), 'utf8');
  const table = text.slice(text.indexOf('\n## Verbs\n')).split('\n\n')[1]!.split('\n').slice(2);
  const rows = table.map((line) => {
    assert.match(line, /^\| `\w+` \|/, `a row of one verb: ${line.slice(0, 80)}`);
    assert.equal(line.match(/\| *\|/), null, `one row per line: ${line.slice(0, 80)}`);
    return /^\| `(\w+)` \|/.exec(line)![1]!;
  });
  assert.deepEqual([...rows].sort(), Object.keys(VERBS).sort());
});
