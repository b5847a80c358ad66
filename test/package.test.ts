// test-class: lab
// What `npm pack` puts in the tarball that `npm install -g ./uvs-VERSION.tgz` installs
// (docs/uvsd.md#installing): package.json's `files`. Without it npm packed by .gitignore, which
// lists dist/: the tarball held the tests and benchmarks but no dist/, and the installed uvsadm
// and uvsd failed with ERR_MODULE_NOT_FOUND. Read from `npm pack --dry-run` (no scripts: the
// build is dist/ as npm test has it), checked against what the commands and the install load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { repoRoot } from './lab/dr-lab.js';

test('npm pack: the tarball holds bin/ and everything it loads from dist/src, the addon\'s sources and binding.gyp, contrib/ and docs/; no test, bench or CI file', (t) => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set<string>((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  for (const f of ['dist/src/cli/uvsadm.js', 'dist/src/cli/uvsd.js', 'binding.gyp', 'contrib/uvsd.service', 'contrib/uvsd-check', 'docs/uvsd.md', 'README.md']) {
    assert.ok(files.has(f), `${f} in the tarball`);
  }
  const strays = [...files].filter((f) => /^(test|bench|dist\/test|dist\/bench|src|\.ci|build|node_modules)\//.test(f));
  assert.deepEqual(strays, [], 'no tests, benchmarks, TypeScript sources, CI or build output');

  // The install script builds the addon (node-gyp rebuild): binding.gyp's sources and headers are there.
  const gyp = readFileSync(join(repoRoot, 'binding.gyp'), 'utf8');
  for (const src of gyp.match(/native\/[\w.]+/g)!) assert.ok(files.has(src), `${src} (binding.gyp) in the tarball`);
  for (const h of readFileSync(join(repoRoot, 'native', 'addon.cc'), 'utf8').match(/#include "[\w.]+"/g) ?? []) {
    assert.ok(files.has(`native/${h.slice(10, -1)}`), `native/${h.slice(10, -1)} in the tarball`);
  }
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string> };
  assert.ok(pkg.dependencies['node-addon-api'], 'binding.gyp\'s node-addon-api is a dependency, not a dev one');

  // Every command, and every module it loads by a relative path, is in the tarball (the addon,
  // build/Release/, is built by the install). Followed from bin/: import/export ... from,
  // import(), and Worker URLs.
  const seen = new Set<string>();
  const follow = (file: string, from: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    if (file.startsWith('build/Release/')) return;
    assert.ok(files.has(file), `${file} (loaded by ${from}) in the tarball`);
    const text = readFileSync(join(repoRoot, file), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\(\s*|new URL\(\s*)['"](\.\.?\/[^'"]+)['"]/g)) {
      follow(posix.normalize(posix.join(dirname(file), m[1]!)), file);
    }
  };
  for (const [name, bin] of Object.entries(pkg.bin)) {
    assert.ok(files.has(bin), `bin ${name}: ${bin} in the tarball`);
    follow(bin, `bin ${name}`);
  }
  t.diagnostic(`${files.size} files; ${seen.size} loaded from bin/`);
  assert.ok(seen.has('dist/src/cli/uvsd.js') && seen.has('dist/src/cli/uvsadm.js') && seen.has('build/Release/uvs_native.node'), [...seen].join(' '));
});
