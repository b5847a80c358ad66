// test-class: shared
// The control model and its verbs: the batch verb is all or nothing; -S | -R round trips on
// random tables; a file in real `ipvsadm -S -n` format restores to the expected table; and a
// model-based property: random ipvsadm command sequences run through the parser and the daemon's
// Control give the same -Ln and the same refusals as a small reference model of IPVS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { UvsError } from '../src/control/errors.js';
import { parseArgs, parseRules, UsageError, type Call } from '../src/control/ipvsadm.js';
import { formatList, formatRules, parseServices } from '../src/control/printers.js';
import type { DestInfo, ListResult, ServiceInfo } from '../src/control/protocol.js';
import { FORWARDERS, FWD_IDS } from '../src/modes/index.js';
import { rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { serviceKeyOf } from '../src/control/model.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/ipvsadm/', import.meta.url));
const ports = parseServices('http 80/tcp\ndomain 53/udp\n');
const N = { numeric: true, ports };
const mkRig = (): Rig => rig({ addrs: ['192.168.8.10/24'], connMax: 4096, destMax: 20_000 });

function restore(r: Rig, text: string): void {
  const { calls } = parseRules(text, { ports });
  r.ctl.call('batch', { items: calls });
}

/** The UvsError f throws. */
function thrown(f: () => unknown): UvsError {
  try {
    f();
  } catch (e) {
    if (e instanceof UvsError) return e;
    throw e;
  }
  assert.fail('expected a refusal');
}

function refusal(f: () => unknown): { code: string; index: number | undefined } {
  const e = thrown(f);
  return { code: e.code, index: e.index };
}

test('batch: a refused item changes nothing (model, datapath, listing); a good batch applies all', () => {
  const r = mkRig();
  restore(r, '-A -t 192.168.8.200:80 -s rr\n-a -t 192.168.8.200:80 -r 192.168.8.20\n');
  const before = formatList(r.ctl.list(), N);
  const dpBefore = JSON.stringify(r.dp.services.map((s) => s && { id: s.id, vip: s.vip, dests: s.dests, sched: s.scheduler.name }));
  const items: Call[] = [
    { verb: 'addService', args: { proto: 'tcp', addr: '192.168.8.201', port: 80, sched: 'wrr' } },
    { verb: 'addDest', args: { service: { proto: 'tcp', addr: '192.168.8.201', port: 80 }, addr: '192.168.8.21', port: 80 } },
    { verb: 'deleteService', args: { proto: 'tcp', addr: '192.168.8.200', port: 80 } },
    { verb: 'editDest', args: { service: { proto: 'tcp', addr: '192.168.8.200', port: 80 }, addr: '192.168.8.20', port: 80, weight: 9 } },
  ];
  // The fourth item refers to a service the third deleted: refused, index 3.
  assert.deepEqual(refusal(() => r.ctl.call('batch', { items })), { code: 'SERVICE_NOT_FOUND', index: 3 });
  assert.equal(formatList(r.ctl.list(), N), before);
  assert.equal(JSON.stringify(r.dp.services.map((s) => s && { id: s.id, vip: s.vip, dests: s.dests, sched: s.scheduler.name })), dpBefore);
  // Malformed items are refused the same way.
  assert.deepEqual(refusal(() => r.ctl.call('batch', { items: [items[0], { verb: 'list' }] })), { code: 'BAD_REQUEST', index: 1 });
  assert.deepEqual(refusal(() => r.ctl.call('batch', { items: [items[0], 7] })), { code: 'BAD_REQUEST', index: 1 });
  assert.equal(formatList(r.ctl.list(), N), before);
  // dryRun validates only.
  assert.deepEqual(r.ctl.call('batch', { items: items.slice(0, 3), dryRun: true }), { applied: 0 });
  assert.equal(formatList(r.ctl.list(), N), before);
  // Without the bad item: everything at once.
  assert.deepEqual(r.ctl.call('batch', { items: items.slice(0, 3) }), { applied: 3 });
  const after = r.ctl.list();
  assert.deepEqual(after.services.map((s) => `${s.addr}:${s.port} ${s.sched} ${s.dests.map((d) => d.addr).join(',')}`), ['192.168.8.201:80 wrr 192.168.8.21']);
  assert.equal(r.dp.services.filter((s) => s !== undefined).length, 1);
});

test('batch: a one-item batch copies the service it touches and nothing else, at 100 and 1,000 services alike (no copy of the table); one bad item still changes nothing', () => {
  const svc = (i: number) => ({ proto: 'tcp' as const, addr: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 80 });
  /** Services copied (a new object) and Map entries written (Map.prototype.set) by one batch. */
  const cost = (r: Rig, items: Call[]): { copied: number; mapWrites: number } => {
    const before = new Map(r.ctl.model.services);
    const set = Map.prototype.set;
    let mapWrites = 0;
    Map.prototype.set = function (this: Map<unknown, unknown>, k: unknown, v: unknown) {
      mapWrites++;
      return set.call(this, k, v);
    };
    try {
      r.ctl.call('batch', { items });
    } finally {
      Map.prototype.set = set;
    }
    let copied = 0;
    for (const [k, s] of r.ctl.model.services) if (before.has(k) && before.get(k) !== s) copied++;
    return { copied, mapWrites };
  };
  const seen: string[] = [];
  for (const n of [100, 1000]) {
    const r = mkRig();
    const table: Call[] = [];
    for (let i = 0; i < n; i++) {
      table.push({ verb: 'addService', args: { ...svc(i), sched: 'rr' } });
      table.push({ verb: 'addDest', args: { service: svc(i), addr: `192.168.8.${20 + (i % 200)}`, port: 80 } });
    }
    r.ctl.call('batch', { items: table });
    const addDest = cost(r, [{ verb: 'addDest', args: { service: svc(7), addr: '192.168.8.250', port: 80 } }]);
    assert.equal(addDest.copied, 1, `${n} services: -a copied ${addDest.copied} services, only the one it changed`);
    const addService = cost(r, [{ verb: 'addService', args: { ...svc(n), sched: 'wlc' } }]);
    assert.equal(addService.copied, 0, `${n} services: -A copied ${addService.copied} services`);
    seen.push(`-a ${addDest.mapWrites}, -A ${addService.mapWrites} Map entries written`);
    // All or nothing still: a good item, then a refused one.
    const dpServices = r.dp.services.filter((x) => x !== undefined).length;
    const bad: Call[] = [
      { verb: 'addDest', args: { service: svc(8), addr: '192.168.8.251', port: 80 } },
      { verb: 'addDest', args: { service: svc(n + 1), addr: '192.168.8.251', port: 80 } },
    ];
    assert.deepEqual(refusal(() => cost(r, bad)), { code: 'SERVICE_NOT_FOUND', index: 1 });
    const before = new Map(r.ctl.model.services);
    assert.deepEqual(refusal(() => r.ctl.call('batch', { items: bad })), { code: 'SERVICE_NOT_FOUND', index: 1 });
    assert.ok([...r.ctl.model.services].every(([k, x]) => before.get(k) === x), 'no service replaced');
    assert.equal(r.ctl.model.services.size, n + 1);
    assert.equal(r.dp.services.filter((x) => x !== undefined).length, dpServices);
    assert.deepEqual(r.ctl.model.services.get(serviceKeyOf('tcp', parseIp(svc(8).addr), 80))?.dests.map((d) => d.addr), [parseIp('192.168.8.28') >>> 0]);
  }
  assert.equal(seen[1], seen[0], 'the same work at 1,000 services as at 100');
});

test('batch: 10,000 services with a server each (control side timed; reported, not asserted)', (t) => {
  const r = mkRig();
  const items: Call[] = [];
  for (let i = 0; i < 10_000; i++) {
    const service = { proto: 'tcp' as const, addr: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 80 };
    items.push({ verb: 'addService', args: { ...service, sched: 'rr' } });
    items.push({ verb: 'addDest', args: { service, addr: `192.168.8.${20 + (i % 200)}`, port: 80 } });
  }
  // Control side alone: validation against a copy of the model (dryRun applies nothing).
  let t0 = performance.now();
  r.ctl.call('batch', { items, dryRun: true });
  const controlMs = performance.now() - t0;
  t0 = performance.now();
  r.ctl.call('batch', { items });
  const totalMs = performance.now() - t0;
  t.diagnostic(`10,000 services + 10,000 servers: control side ${controlMs.toFixed(0)} ms, with dp.apply ${totalMs.toFixed(0)} ms`);
  assert.equal(r.ctl.list().services.length, 10_000);
  assert.equal(r.dp.services.filter((s) => s !== undefined).length, 10_000);
});

test('a file in real `ipvsadm -S -n` format restores to the expected table, and saves back unchanged', () => {
  const r = mkRig();
  const saved = readFileSync(FIXTURES + 'real-save-dr.txt', 'utf8');
  restore(r, saved);
  assert.equal(formatList(r.ctl.list(), N), readFileSync(FIXTURES + 'real-save-dr.list.txt', 'utf8'));
  // ipvsadm -S sorts like -L, so the saved order is its own order: the round trip is exact.
  assert.equal(formatRules(r.ctl.list(), N), saved);
});

test('real -S -n with -m and -i: restored, and saved back as ipvsadm 1.31 saves it (-i lines with --tun-type); refused at the first such line while a forwarder is missing', () => {
  // NAT and TUN servers off the link need a gateway.
  const r = rig({ addrs: ['192.168.8.10/24'], connMax: 4096, gateway: '192.168.8.1' });
  // Saved by an ipvsadm before 1.31, which had no tunnel types: -i lines without --tun-type.
  const text = readFileSync(FIXTURES + 'real-save-mixed.txt', 'utf8');
  const have = (f: string): boolean => FORWARDERS[FWD_IDS[f]!] !== undefined;
  if (have('nat') && have('tun')) {
    restore(r, text);
    const saved = text.replace(/( -i -w \d+)$/m, '$1 --tun-type ipip');
    assert.equal(formatRules(r.ctl.list(), N), saved);
    // 1.31's own form restores to the same table.
    const again = rig({ addrs: ['192.168.8.10/24'], connMax: 4096, gateway: '192.168.8.1' });
    restore(again, saved);
    assert.equal(formatRules(again.ctl.list(), N), saved);
    return;
  }
  const { calls, lines } = parseRules(text, { ports });
  const e = refusal(() => r.ctl.call('batch', { items: calls }));
  assert.equal(e.code, 'FWD_UNSUPPORTED');
  assert.equal(lines[e.index!], have('nat') ? 4 : 3);
  assert.equal(r.ctl.list().services.length, 0);
});

// ---- random tables: -S | -R ------------------------------------------------------------------

const octet = fc.integer({ min: 1, max: 254 });
const svcArb = fc.record({
  proto: fc.constantFrom('tcp', 'udp'),
  // Never in 192.168.8.0/24: not the director's own address 192.168.8.10, not a real server's
  // address (a VIP that is a real server, or the other way round, is refused, as it must be).
  vip: fc.tuple(fc.constantFrom(10, 172, 192, 203), octet, octet, octet).map((o) => o.join('.')).filter((v) => !v.startsWith('192.168.8.')),
  port: fc.integer({ min: 1, max: 65535 }),
  sched: fc.constantFrom('rr', 'wrr', 'wlc', 'lc', 'sed', 'nq', 'fo', 'ovf', 'lblc', 'lblcr', 'dh', 'sh', 'mh', 'twos'),
  flags: fc.subarray(['fallback', 'port']),
  persist: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 86400 * 31 })),
  mask: fc.constantFrom('255.255.255.255', '255.255.255.0', '255.255.0.0'),
  ops: fc.boolean(),
  dests: fc.uniqueArray(
    fc.record({ host: octet.filter((h) => h !== 10), weight: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2147483647 })), upper: fc.nat(1000), lowerFrac: fc.nat(100) }),
    { selector: (d) => d.host, maxLength: 4 },
  ),
});

type SvcGen = typeof svcArb extends fc.Arbitrary<infer T> ? T : never;
function tableCommands(svcs: SvcGen[]): string {
  let out = '';
  for (const s of svcs) {
    const t = `${s.proto === 'tcp' ? '-t' : '-u'} ${s.vip}:${s.port}`;
    const flags = s.sched === 'sh' || s.sched === 'mh' ? s.flags.map((f) => `${s.sched}-${f}`) : [];
    out += `-A ${t} -s ${s.sched}${flags.length > 0 ? ` -b ${flags.join(',')}` : ''}${s.persist > 0 ? ` -p ${s.persist} -M ${s.mask}` : ''}${s.ops && s.proto === 'udp' ? ' -o' : ''}\n`;
    for (const d of s.dests) {
      const lower = Math.floor((d.upper * d.lowerFrac) / 100);
      out += `-a ${t} -r 192.168.8.${d.host} -g -w ${d.weight} -x ${d.upper} -y ${lower}\n`;
    }
  }
  return out;
}

test('property: -S -n output restored with -R into an empty table gives the identical table', () => {
  fc.assert(
    fc.property(fc.uniqueArray(svcArb, { selector: (s) => `${s.proto}${s.vip}${s.port}`, maxLength: 6 }), (svcs) => {
      const a = mkRig();
      restore(a, tableCommands(svcs));
      const saved = formatRules(a.ctl.list(), N);
      const b = mkRig();
      restore(b, saved);
      assert.equal(formatRules(b.ctl.list(), N), saved);
      assert.equal(formatList(b.ctl.list(), N), formatList(a.ctl.list(), N));
      assert.equal(formatList(b.ctl.list(), { ...N, thresholds: true }), formatList(a.ctl.list(), { ...N, thresholds: true }));
    }),
    { numRuns: 150 },
  );
});

// ---- model-based: the daemon vs a reference model ------------------------------------------------

interface RefDest { addr: string; port: number; weight: number; upper: number; lower: number }
interface RefSvc { proto: 'tcp' | 'udp'; addr: string; port: number; sched: string; persist: number; mask: string; ops: boolean; dests: RefDest[] }

/** What IPVS does with each command, written independently of src/control (kernel semantics). */
class Reference {
  svcs: RefSvc[] = [];
  timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
  private find(k: { proto: string; addr: string; port: number }): RefSvc | undefined {
    return this.svcs.find((s) => s.proto === k.proto && s.addr === k.addr && s.port === k.port);
  }
  run(c: Call): string | undefined {
    const a = c.args as Record<string, never>;
    const known = (x: string) => ['rr', 'wrr', 'wlc'].includes(x);
    switch (c.verb) {
      case 'addService': {
        const s = a as unknown as RefSvc & { netmask: string; oneShot: boolean };
        if (this.find(s)) return 'Service already exists';
        if (!known(s.sched)) return 'Scheduler or persistence engine not found';
        this.svcs.push({ proto: s.proto, addr: s.addr, port: s.port, sched: s.sched, persist: s.persist, mask: s.netmask, ops: s.oneShot, dests: [] });
        return undefined;
      }
      case 'editService': {
        const s = a as unknown as RefSvc & { netmask: string; oneShot: boolean };
        const cur = this.find(s);
        if (!cur) return 'No such service';
        if (!known(s.sched)) return 'Scheduler or persistence engine not found';
        Object.assign(cur, { sched: s.sched, persist: s.persist, mask: s.netmask, ops: s.oneShot });
        return undefined;
      }
      case 'deleteService': {
        const cur = this.find(a as unknown as RefSvc);
        if (!cur) return 'No such service';
        this.svcs = this.svcs.filter((s) => s !== cur);
        return undefined;
      }
      case 'clear':
        this.svcs = [];
        return undefined;
      case 'addDest': case 'editDest': case 'deleteDest': {
        const d = a as unknown as RefDest & { service: RefSvc };
        const cur = this.find(d.service);
        if (!cur) return 'Service not defined';
        const i = cur.dests.findIndex((x) => x.addr === d.addr && x.port === d.port);
        if (c.verb === 'deleteDest') {
          if (i < 0) return 'No such destination';
          cur.dests.splice(i, 1);
          return undefined;
        }
        if (d.lower > d.upper) return 'Numerical result out of range';
        if (c.verb === 'editDest' && i < 0) return 'No such destination';
        if (!d.addr.startsWith('192.168.8.')) return 'Real server is not on a directly connected network (direct routing needs one)';
        if (c.verb === 'addDest') {
          if (i >= 0) return 'Destination already exists';
          cur.dests.push({ addr: d.addr, port: d.port, weight: d.weight, upper: d.upper, lower: d.lower });
        } else {
          Object.assign(cur.dests[i]!, { weight: d.weight, upper: d.upper, lower: d.lower });
        }
        return undefined;
      }
      case 'setTimeouts': {
        const t = a as unknown as { tcp: number; tcpfin: number; udp: number };
        if (t.tcp) this.timeouts.tcp = t.tcp;
        if (t.tcpfin) this.timeouts.tcpfin = t.tcpfin;
        if (t.udp) this.timeouts.udp = t.udp;
        return undefined;
      }
      default:
        throw new Error(`reference has no ${c.verb}`);
    }
  }
  list(): ListResult {
    const z = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
    const rz = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
    return {
      size: 4096,
      services: this.svcs.map((s): ServiceInfo => ({
        proto: s.proto, addr: s.addr, port: s.port, sched: s.sched, flags: [], persist: s.persist, netmask: s.mask, oneShot: s.ops, synproxy: false,
        laddrs: [], stats: z, rate: rz,
        dests: s.dests.map((d): DestInfo => ({ ...d, fwd: 'dr', active: 0, inactive: 0, persistConns: 0, stats: z, rate: rz })),
      })),
    };
  }
}

const VIPS = ['192.168.8.200', '192.168.8.201'];
const RIPS = ['192.168.8.20', '192.168.8.21', '10.99.0.1'];
const cmdArb = fc.oneof(
  fc.tuple(fc.constantFrom('-A', '-E'), fc.constantFrom('-t', '-u'), fc.constantFrom(...VIPS), fc.constantFrom(80, 53),
    fc.constantFrom('rr', 'wrr', 'wlc', 'nosuch'), fc.constantFrom([], ['-p'], ['-p', '60', '-M', '255.255.255.0'], ['-o']))
    .map(([c, p, v, port, s, extra]) => [c, p, `${v}:${port}`, '-s', s, ...extra]),
  fc.tuple(fc.constantFrom('-D'), fc.constantFrom('-t', '-u'), fc.constantFrom(...VIPS), fc.constantFrom(80, 53))
    .map(([c, p, v, port]) => [c, p, `${v}:${port}`]),
  fc.tuple(fc.constantFrom('-a', '-e', '-d'), fc.constantFrom('-t', '-u'), fc.constantFrom(...VIPS), fc.constantFrom(80, 53),
    fc.constantFrom(...RIPS), fc.nat(5), fc.constantFrom([], ['-x', '10'], ['-x', '10', '-y', '5'], ['-x', '3', '-y', '9']))
    .map(([c, p, v, port, rip, w, th]) => (c === '-d' ? [c, p, `${v}:${port}`, '-r', rip] : [c, p, `${v}:${port}`, '-r', rip, '-w', String(w), ...th])),
  fc.constant(['-C']),
  fc.tuple(fc.nat(1000), fc.nat(1000), fc.nat(1000)).map(([a, b, c]) => ['--set', String(a), String(b), String(c)]),
);

test('model-based: random ipvsadm command sequences give the daemon and the reference the same -Ln and the same refusals', () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 30 }), (argvs) => {
      const r = mkRig();
      const ref = new Reference();
      for (const argv of argvs) {
        let cmd;
        try {
          cmd = parseArgs(argv, { env: {}, ports });
        } catch (e) {
          assert.ok(e instanceof UsageError, String(e)); // e.g. -o on a TCP service: never reaches either
          continue;
        }
        assert.equal(cmd.kind, 'call');
        if (cmd.kind !== 'call') return;
        const want = ref.run(cmd.call);
        let got: string | undefined;
        try {
          r.ctl.call(cmd.call.verb, cmd.call.args);
        } catch (e) {
          assert.ok(e instanceof UvsError, String(e));
          got = e.text;
        }
        assert.equal(got, want, argv.join(' '));
        assert.equal(formatList(r.ctl.list(), { ...N, thresholds: false }), formatList(ref.list(), N), argv.join(' '));
      }
      assert.equal(formatList(r.ctl.list(), { ...N, thresholds: true }), formatList(ref.list(), { ...N, thresholds: true }));
      assert.deepEqual(r.ctl.call('timeouts', {}), ref.timeouts);
    }),
    { numRuns: 1000 },
  );
});

// ---- -d and -e name the real server at its own port ---------------------------------------------

const run = (r: Rig, line: string): void => {
  const c = parseArgs(line.split(' '), { ports, env: {} });
  assert.equal(c.kind, 'call');
  if (c.kind === 'call') r.ctl.call(c.call.verb, c.call.args);
};
const servers = (r: Rig): string[] => r.ctl.list().services.flatMap((s) => s.dests.map((d) => `${d.addr}:${d.port} ${d.fwd} ${d.weight}`));

test('-d VIP -r RIP:9090 deletes RIP:9090, not RIP:80; a port-mapped server alone is found; also through -R', () => {
  const r = mkRig();
  restore(r, '-A -t 192.168.8.200:80 -s rr\n-a -t 192.168.8.200:80 -r 192.168.8.40:9090 -m\n-a -t 192.168.8.200:80 -r 192.168.8.40:80 -m\n');
  run(r, '-d -t 192.168.8.200:80 -r 192.168.8.40:9090');
  assert.deepEqual(servers(r), ['192.168.8.40:80 nat 1']);
  // Only a port-mapped server (the README's NAT :8080, FULLNAT servers).
  restore(r, '-a -t 192.168.8.200:80 -r 192.168.8.41:8080 --fullnat\n');
  restore(r, '-d -t 192.168.8.200:80 -r 192.168.8.41:8080\n');
  assert.deepEqual(servers(r), ['192.168.8.40:80 nat 1']);
  // Without a port: the service port, as ipvsadm.
  run(r, '-d -t 192.168.8.200:80 -r 192.168.8.40');
  assert.deepEqual(servers(r), []);
  // A port that no server has: "No such destination", nothing changed.
  restore(r, '-a -t 192.168.8.200:80 -r 192.168.8.40:9090 -m\n');
  assert.deepEqual(refusal(() => run(r, '-d -t 192.168.8.200:80 -r 192.168.8.40:9091')), { code: 'DEST_NOT_FOUND', index: undefined });
  assert.deepEqual(servers(r), ['192.168.8.40:9090 nat 1']);
  // -e with the server's method edits it at its port.
  run(r, '-e -t 192.168.8.200:80 -r 192.168.8.40:9090 -m -w 7');
  assert.deepEqual(servers(r), ['192.168.8.40:9090 nat 7']);
});

test('a real server that is a VIP of uvsd (its own service or another) is refused, one line naming it, nothing changed', () => {
  const r = mkRig();
  restore(r, '-A -t 192.168.8.240:80 -s rr\n-A -u 192.168.8.241:53 -s rr\n-a -t 192.168.8.240:80 -r 192.168.8.20\n');
  const before = formatRules(r.ctl.list(), N);
  const conflict = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      if (e instanceof UvsError) return `${e.code} ${e.message}`;
      throw e;
    }
    return assert.fail('expected a refusal');
  };
  assert.equal(conflict(() => run(r, '-a -t 192.168.8.240:80 -r 192.168.8.240')),
    'ADDRESS_CONFLICT Address already used in the table in another role: real server 192.168.8.240 is a virtual address (TCP 192.168.8.240:80)');
  assert.equal(conflict(() => run(r, '-a -t 192.168.8.240:80 -r 192.168.8.241:53 -m')),
    'ADDRESS_CONFLICT Address already used in the table in another role: real server 192.168.8.241 is a virtual address (UDP 192.168.8.241:53)');
  assert.equal(conflict(() => restore(r, '-a -t 192.168.8.240:80 -r 192.168.8.21\n-a -t 192.168.8.240:80 -r 192.168.8.241 -g\n')),
    'ADDRESS_CONFLICT Address already used in the table in another role: real server 192.168.8.241 is a virtual address (UDP 192.168.8.241:53)');
  // The other way round: a VIP that is a real server's address.
  assert.equal(conflict(() => run(r, '-A -t 192.168.8.20:443')),
    'ADDRESS_CONFLICT Address already used in the table in another role: virtual address 192.168.8.20 is a real server (TCP 192.168.8.240:80)');
  assert.equal(formatRules(r.ctl.list(), N), before);
  // The address is free again once its last service or server is gone.
  run(r, '-D -u 192.168.8.241:53');
  run(r, '-a -t 192.168.8.240:80 -r 192.168.8.241');
  run(r, '-d -t 192.168.8.240:80 -r 192.168.8.20');
  run(r, '-A -t 192.168.8.20:443');
  assert.deepEqual(r.ctl.list().services.map((s) => `${s.addr}:${s.port} ${s.dests.map((d) => d.addr).join(',')}`), ['192.168.8.240:80 192.168.8.241', '192.168.8.20:443 ']);
});

test('a real server at port 0 through the verbs (any control client) is stored, listed and deleted at the service port; a port-zero service keeps 0', () => {
  const r = mkRig();
  const web = { proto: 'tcp' as const, addr: '192.168.8.200', port: 80 };
  r.ctl.call('addService', { ...web, sched: 'rr' });
  r.ctl.call('addDest', { service: web, addr: '192.168.8.41', port: 0, fwd: 'nat', weight: 1 });
  assert.deepEqual(r.ctl.list().services[0]!.dests.map((d) => [d.addr, d.port]), [['192.168.8.41', 80]]);
  assert.equal(refusal(() => r.ctl.call('addDest', { service: web, addr: '192.168.8.41', port: 80, fwd: 'nat', weight: 1 })).code, 'DEST_EXISTS');
  r.ctl.call('editDest', { service: web, addr: '192.168.8.41', port: 0, fwd: 'nat', weight: 4 });
  assert.equal(r.ctl.list().services[0]!.dests[0]!.weight, 4);
  r.ctl.call('deleteDest', { service: web, addr: '192.168.8.41', port: 0 });
  assert.deepEqual(r.ctl.list().services[0]!.dests, []);
  const any = { proto: 'tcp' as const, addr: '192.168.8.201', port: 0 };
  r.ctl.call('addService', { ...any, sched: 'rr', persist: 60 });
  r.ctl.call('addDest', { service: any, addr: '192.168.8.42', port: 0, fwd: 'nat', weight: 1 });
  assert.deepEqual(r.ctl.list().services.find((s) => s.port === 0)!.dests.map((d) => d.port), [0]);
});

test('every verb refuses an argument it does not take (misspelt, or the config file\'s word), naming it and those it takes; nothing changes, in a batch nothing of it', () => {
  const r = mkRig();
  restore(r, '-A -t 192.168.8.200:80 -s rr\n-a -t 192.168.8.200:80 -r 192.168.8.20 -w 2\n');
  const before = formatList(r.ctl.list(), N);
  const svc = { proto: 'tcp', addr: '192.168.8.200', port: 80 };
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['addService', { proto: 'tcp', addr: '192.168.8.201', port: 80, sheduler: 'rr' }, 'sheduler'],
    ['addService', { proto: 'tcp', addr: '192.168.8.201', port: 80, persistent: 300 }, 'persistent'],
    ['editService', { ...svc, scheduler: 'wlc' }, 'scheduler'],
    ['editDest', { service: svc, addr: '192.168.8.20', port: 80, wieght: 0 }, 'wieght'],
    ['addDest', { service: svc, addr: '192.168.8.21', port: 80, method: 'nat' }, 'method'],
    // In a service key: a misspelt fwmark would name the TCP service instead of the mark's.
    ['deleteDest', { service: { ...svc, fwmrk: 5 }, addr: '192.168.8.20', port: 80 }, 'fwmrk'],
    ['deleteService', { ...svc, sched: 'rr' }, 'sched'],
    ['setTimeouts', { tcp: 900, tcpfin: 0, udp: 0, sctp: 10 }, 'sctp'],
    ['zero', { servcie: svc }, 'servcie'],
    ['clear', { force: true }, 'force'],
    ['list', { verbose: true }, 'verbose'],
    ['batch', { items: [{ verb: 'deleteService', args: svc }], dryrun: true }, 'dryrun'],
  ];
  for (const [verb, args, key] of bad) {
    const e = thrown(() => r.ctl.call(verb, args));
    assert.equal(e.code, 'BAD_REQUEST', `${verb} ${key}`);
    assert.match(e.detail!, new RegExp(`^unknown argument "${key}" of (${verb}|service) \\(it takes `), e.detail);
    assert.equal(formatList(r.ctl.list(), N), before, `${verb} ${key}`);
    if (verb === 'list' || verb === 'batch') continue;
    // In a batch after a good item: refused with its index, and the good item is not applied either.
    const items = [{ verb: 'addService', args: { proto: 'tcp', addr: '192.168.8.202', port: 80 } }, { verb, args }];
    const b = thrown(() => r.ctl.call('batch', { items }));
    assert.deepEqual([b.code, b.index], ['BAD_REQUEST', 1], `batch ${verb} ${key}`);
    assert.match(b.detail!, new RegExp(`"${key}"`));
    assert.equal(formatList(r.ctl.list(), N), before, `batch ${verb} ${key}`);
  }
  assert.equal(thrown(() => r.ctl.call('addService', { proto: 'tcp', addr: '192.168.8.201', port: 80, sheduler: 'rr' })).detail,
    'unknown argument "sheduler" of addService (it takes proto, addr, port, fwmark, sched, flags, persist, netmask, oneShot, pe, synproxy)');
  assert.equal(thrown(() => r.ctl.call('clear', { force: true })).detail, 'unknown argument "force" of clear (it takes none)');
  // A batch item is {verb, args}: a misspelt "args" would run the verb without them.
  const e = thrown(() => r.ctl.call('batch', { items: [{ verb: 'deleteService', arg: svc }] }));
  assert.deepEqual([e.code, e.index, e.detail], ['BAD_REQUEST', 0, 'unknown argument "arg" of batch item 0 (it takes verb, args)']);
  assert.equal(formatList(r.ctl.list(), N), before);
  // What every in-process sender sends is taken: uvsadm's parser (-R), the config's reload plan.
  restore(r, '-A -u 192.168.8.200:53 -s wrr -p 60 -M 255.255.255.0 -o\n-a -u 192.168.8.200:53 -r 192.168.8.21:53 -g -w 3 -x 10 -y 5\n');
  assert.equal(r.ctl.list().services.length, 2);
});

test('batch: a dryRun that is not true or false is refused, naming it, and nothing is applied', () => {
  const r = mkRig();
  const items = [{ verb: 'addService', args: { proto: 'tcp', addr: '192.168.8.200', port: 80 } }];
  for (const dryRun of ['true', 'yes', 1, 0, null, {}]) {
    const e = thrown(() => r.ctl.call('batch', { items, dryRun }));
    assert.deepEqual([e.code, e.detail], ['BAD_REQUEST', `dryRun must be true or false, got ${JSON.stringify(dryRun)}`]);
    assert.equal(r.ctl.list().services.length, 0, JSON.stringify(dryRun));
  }
  assert.deepEqual(r.ctl.call('batch', { items, dryRun: true }), { applied: 0 });
  assert.equal(r.ctl.list().services.length, 0);
  assert.deepEqual(r.ctl.call('batch', { items, dryRun: false }), { applied: 1 });
  assert.equal(r.ctl.list().services.length, 1);
});
