// A config file of a large health-checked table (the state file's and --dump-config's tests, and
// bench/statefile-slices.ts --checks): services 10.1.X.Y:80/tcp (wlc), each with one check and
// `servers` NAT servers 10.(2+i).X.Y.

/** n services of `servers` servers each, server i at weight(i), every service checked by `check` (a YAML flow mapping). */
export function checkedConfig(n: number, servers: number, weight: (i: number) => number, check = '{ type: tcp }'): string {
  const lines = ['services:'];
  for (let s = 0; s < n; s++) {
    lines.push(`  - { proto: tcp, address: 10.1.${s >> 8}.${s & 255}, port: 80, scheduler: wlc, health: { checks: [${check}] }, servers: [`);
    for (let i = 0; i < servers; i++) lines.push(`      { address: 10.${2 + i}.${s >> 8}.${s & 255}, method: nat, weight: ${weight(i)} },`);
    lines.push('    ] }');
  }
  return `${lines.join('\n')}\n`;
}
