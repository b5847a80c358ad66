// The yaml package, loaded on its first use: a uvsd without --config (and uvsadm) never pays the
// ~60 ms its loading takes at every start.
import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');
let loaded: Yaml | undefined;

export function yaml(): Yaml {
  return (loaded ??= createRequire(import.meta.url)('yaml') as Yaml);
}
