// `npm run build`, also npm's `prepare` (after `npm ci` or `npm install` in a checkout, and before
// `npm pack`): dist/ compiled afresh from the TypeScript. TypeScript is a dev dependency: without
// it (`npm ci --omit=dev` in a checkout) one line says how to install instead, rather than npm's
// "tsc: not found" (exit 127). A tarball made by `npm pack` carries dist/src and runs no prepare
// when installed (docs/uvsd.md#installing).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('uvs: building dist/ needs TypeScript, a dev dependency: in a checkout run `npm ci` without --omit=dev '
    + '(`npm prune --omit=dev` drops the dev dependencies afterwards), or install the tarball `npm pack` makes (docs/uvsd.md#installing)');
  process.exit(1);
}
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
