// The commands that load the native addon (uvsd, uvs-decap): an addon that cannot be loaded (never
// built, or built for another Node.js: node upgraded since) is one line and exit 2, which the
// systemd unit does not restart (RestartPreventExitStatus=2), not a stack trace and exit 1.
// Imported by bin/ after the import failed; it must not load the addon itself.

/** If `err` is the addon's load failure: say so on stderr as `prog` and exit 2. Else return. */
export function exitIfAddonMissing(prog: string, err: unknown): void {
  const e = err as { code?: string; message?: string } | null;
  const msg = String(e?.message ?? err);
  if ((e?.code !== 'MODULE_NOT_FOUND' && e?.code !== 'ERR_DLOPEN_FAILED') || !msg.includes('uvs_native.node')) return;
  const why = e.code === 'MODULE_NOT_FOUND' ? 'is missing' : `cannot be loaded (${msg.split('\n')[0]!.replace(/^.*uvs_native\.node: /, '')})`;
  console.error(`${prog}: its native addon build/Release/uvs_native.node ${why}: build it again for this Node.js ${process.version}: ` +
    '`npm run install` in uvs\'s directory, the checkout or $(npm root -g)/uvs (needs make, g++, python3; docs/uvsd.md#installing)');
  process.exit(2);
}
