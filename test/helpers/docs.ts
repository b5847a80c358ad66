// The project's Markdown documentation: README.md and every docs/*.md, as repository paths.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../lab/dr-lab.js';

export function markdownFiles(): string[] {
  return ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
}
