// `npm run demo [-- --mode dr|nat|fullnat|tun]`: a load balancer in network namespaces, start to finish.
// Builds the lab, starts uvsd, configures it with the real uvsadm binary, sends HTTP requests
// from a client, shows who answered, and tears everything down (also on Ctrl-C or failure).
import { parseArgs } from 'node:util';
import { Lab, labUnavailableReason } from './netns.js';
import { createDrLab, VIP, DIR_ADDR, LIP, NAT_DIR_ADDR, UVSD_MAC, type DrLab, type LabMode } from './dr-lab.js';

// `node --test dist/test/` (Node 20) runs every .js under a test/ directory, this script too:
// do nothing there. Lab code starts it with NODE_TEST_CONTEXT removed from the environment.
if (process.env['NODE_TEST_CONTEXT']) process.exit(0);

const REQUESTS = 20;
const MODES = ['dr', 'nat', 'fullnat', 'tun'] as const;
const USAGE = `usage: npm run demo [-- --mode ${MODES.join('|')}]   (root: builds network namespaces)\n`;
let values: { mode?: string; help?: boolean };
try {
  ({ values } = parseArgs({ options: { mode: { type: 'string', default: 'dr' }, help: { type: 'boolean', short: 'h' } } }));
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!(MODES as readonly string[]).includes(values.mode!)) {
  process.stderr.write(`demo: --mode must be one of ${MODES.join(', ')}, not "${values.mode}"\n`);
  process.exit(2);
}
const MODE = values.mode as LabMode;
const INTRO: Record<LabMode, string[]> = {
  dr: ['a userspace LVS load balancer with direct routing (DR)',
    'A client sends HTTP to the virtual IP; uvsd picks a real server and rewrites only the',
    'destination MAC; the real server answers the client directly.'],
  nat: ['a userspace LVS load balancer with NAT (masquerading, -m)',
    'uvsd rewrites the destination to the real server (port 80 -> 8080 here); the servers sit on',
    `their own network with uvsd (${NAT_DIR_ADDR}) as default route, so replies come back and get the VIP as source.`],
  fullnat: ['a userspace load balancer with FULLNAT (DPVS style)',
    `uvsd rewrites source (to its local address ${LIP} and a port of its pool) and destination;`,
    'the servers need nothing but a route to the local address, and answer uvsd, which undoes both.'],
  tun: ['a userspace LVS load balancer with IP-in-IP tunneling (TUN, -i)',
    'uvsd wraps each client packet in an outer IPv4 header to the real server; bin/uvs-decap there',
    'unwraps it into a TUN device holding the VIP; the server answers the client directly.'],
};
const FLAG: Record<LabMode, string> = { dr: '-g', nat: '-m', fullnat: '--fullnat', tun: '-i' };

function say(msg: string): void {
  process.stdout.write(`${msg}\n`);
}
function step(n: number, msg: string): void {
  say(`\n[${n}] ${msg}`);
}

let lab: DrLab | null = null;
// Created up front so Ctrl-C during the build still finds every namespace made so far.
let rawLab: Lab | null = null;
let tearingDown: Promise<void> | null = null;
let interrupted = false;

function teardown(): Promise<void> {
  if (!tearingDown) {
    tearingDown = (async () => {
      if (lab || rawLab) {
        say('\nTearing down (stopping uvsd, deleting namespaces) ...');
        if (lab) await lab.destroy();
        else await rawLab!.destroy();
        say('Done: nothing left behind.');
      }
    })();
  }
  return tearingDown;
}

function onSignal(sig: NodeJS.Signals): void {
  interrupted = true;
  say(`\nInterrupted (${sig}).`);
  void teardown().finally(() => process.exit(130));
}

async function uvsadm(args: string[]): Promise<void> {
  say(`  $ uvsadm ${args.join(' ')}`);
  const r = await lab!.uvsadm(args);
  if (r.stdout.trim()) say(r.stdout.replace(/\n$/, '').replace(/^/gm, '    '));
  if (r.code !== 0) throw new Error(`uvsadm ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

async function main(): Promise<void> {
  if (labUnavailableReason() !== null) {
    const reason = labUnavailableReason();
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      process.stderr.write('npm run demo needs root (network namespaces and a TAP device): run it as root\n');
    } else {
      process.stderr.write(`npm run demo cannot run here: ${reason}\n`);
    }
    process.exit(1);
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const [title, ...intro] = INTRO[MODE];
  say(`uvs demo: ${title}`);
  for (const l of intro) say(l);

  step(1, 'Building the lab: one network namespace per machine, joined by a bridge');
  await Lab.cleanupLeftovers();
  rawLab = new Lab();
  lab = await createDrLab({ servers: 2, lab: rawLab, mode: MODE });
  say(`  client     ${lab.clientAddr}         (namespace ${lab.ns.cli})`);
  // The director's addresses are uvsd's (on its TAP), not the namespace kernel's (docs/dr-setup.md).
  const extra = MODE === 'nat' ? ` + ${NAT_DIR_ADDR} (the servers' gateway)` : MODE === 'fullnat' ? ` + local address ${LIP}` : '';
  say(`  director   uvsd: ${DIR_ADDR} + VIP ${VIP}${extra}  (namespace ${lab.ns.dir}, bridge br0)`);
  const how: Record<LabMode, string> = { dr: 'VIP on lo', nat: `default via ${NAT_DIR_ADDR}`, fullnat: 'no VIP, no route change', tun: 'VIP on uvsdecap0 (uvs-decap)' };
  for (const s of lab.servers) say(`  ${s.name}        ${s.addr}, ${how[MODE]}  (namespace ${s.ns}, answers "${s.name}")`);

  step(2, 'Starting uvsd on TAP uvs0 in the director namespace');
  say(`  $ uvsd --tap uvs0 --bridge br0 --addr ${DIR_ADDR}/24${MODE === 'nat' ? ` --addr ${NAT_DIR_ADDR}/24` : ''} --mac ${UVSD_MAC} --socket ${lab.socketPath}`);
  // As the command above says: uvsd's own table size, not the test labs' LAB_CONN_MAX.
  await lab.startUvsd({ connMax: 'default' });
  say('  uvsd is up (it answered uvsadm -Ln)');

  step(3, 'Configuring a round-robin virtual service with two real servers');
  await uvsadm(['-A', '-t', `${VIP}:80`, '-s', 'rr']);
  const rport = MODE === 'nat' ? 8080 : 80;
  // FULLNAT: the local address the servers see as the client first (DPVS's laddr).
  if (MODE === 'fullnat') await uvsadm(['--add-laddr', '-t', `${VIP}:80`, '-z', LIP]);
  for (const s of lab.servers) await uvsadm(['-a', '-t', `${VIP}:80`, '-r', `${s.addr}:${rport}`, FLAG[MODE], '-w', '1']);

  step(4, `Sending ${REQUESTS} HTTP requests from the client to http://${VIP}/ (a new connection each)`);
  const r = await lab.http(REQUESTS);
  for (const s of lab.servers) say(`  ${s.name} answered ${r.counts[s.name] ?? 0}`);
  if (r.errors) say(`  failed: ${r.errors} (${r.errorSamples.join('; ')})`);

  step(5, 'The table as ipvsadm users know it');
  await uvsadm(['-Ln']);
  if (MODE === 'nat' || MODE === 'fullnat') {
    // FULLNAT's point is the rewritten source: --laddr-column shows it (plain -Lnc keeps ipvsadm's columns).
    const args = MODE === 'fullnat' ? ['-Lnc', '--laddr-column'] : ['-Lnc'];
    say(`  $ uvsadm ${args.join(' ')}   (the first entries)`);
    const lc = await lab.uvsadm(args);
    if (lc.code !== 0) throw new Error(`uvsadm ${args.join(' ')} failed (exit ${lc.code}): ${lc.stderr.trim()}`);
    say(lc.stdout.split('\n').slice(0, 4).map((l) => `    ${l}`).join('\n'));
  }

  step(6, "uvsd's own view (uvs extension; the full list has every counter and drop reason)");
  say('  $ uvsadm --status');
  const st = await lab.uvsadm(['--status']);
  if (st.code !== 0) throw new Error(`uvsadm --status failed (exit ${st.code}): ${st.stderr.trim()}`);
  const lines = st.stdout.replace(/\n$/, '').split('\n');
  const shown = lines.filter((l, i) => i < 4 || /^(fwd_packets|fwd_out_packets|conns_created) /.test(l) || /^drop_\S+ [1-9]/.test(l));
  say(shown.map((l) => `    ${l}`).join('\n'));
  say(`    ... (${lines.length - shown.length} more lines)`);
  if (MODE === 'dr' || MODE === 'tun') say("  (fwd_out_packets 0: the servers' replies go to the client directly, not through uvsd)");
  if (MODE === 'tun' && shown.some((l) => l.startsWith('drop_icmp_unhandled '))) {
    say("  (drop_icmp_unhandled: the servers' kernels answer IPIP with ICMP protocol unreachable, as");
    say('   they have no ipip module; uvs-decap takes the packets anyway: docs/tun-setup.md)');
  }

  if (r.errors > 0) throw new Error(`${r.errors} of ${REQUESTS} requests failed`);
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  exitCode = 1;
  if (interrupted) await new Promise(() => {}); // the signal handler tears down and exits
  process.stderr.write(`\ndemo failed: ${(e as Error).message}\n`);
  const uvsd = (lab as DrLab | null)?.uvsd;
  if (uvsd) {
    const tail = uvsd.stderr().trim().split('\n').slice(-10).join('\n');
    if (tail) process.stderr.write(`uvsd stderr (last lines):\n${tail}\n`);
  }
} finally {
  await teardown();
}
process.exit(exitCode);
