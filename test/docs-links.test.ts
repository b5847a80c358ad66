// The documentation's links: every relative link of README.md and docs/*.md names a file of the
// repository, and every #anchor a heading of its file, as GitHub spells a heading's anchor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { repoRoot } from './lab/dr-lab.js';

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

const docs = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

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
