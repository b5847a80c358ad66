// test-class: shared
// Hostile configuration files (issue 13): at least 100,000 mutations each of a valid uvsd YAML
// config (daemon settings with the defenses, timeouts, services, servers, health checks:
// src/control/config.ts, config-health.ts; mutated as a document tree, plus text mutations
// through the yaml parser) and of a valid keepalived.conf (src/health/keepalived.ts). A mutated file either reads, or is refused with one line
// "FILE:LINE: ..." of the project's error type; a YAML file that reads also goes through the
// batch verb's dry run, which accepts it or refuses it with a UvsError naming file:line, and
// changes nothing either way. A failure names its seed: replay with UVS_FUZZ_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineCounter, parseDocument, visit, type Pair, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { checkConfigDocument, ConfigManager, parseConfig, type ConfigFile } from '../src/control/config.js';
import { UvsError } from '../src/control/errors.js';
import { KeepalivedError, parseKeepalived } from '../src/health/keepalived.js';
import { rig } from './helpers/harness.js';
import { fuzzSeed, mutateText, runCases } from './helpers/fuzz.js';

const CASES = 100_000;

const YAML = `daemon:
  conn-max: 4096
  drain-timeout: 5
  secure-tcp-above: 0.5
  evict-above: 0.9
  max-conn-rate-per-source: 100
  arp-accept-unsolicited: false
  sloppy-tcp: true
  state-file: /var/lib/uvs/state.yaml
  ha-groups: ["web=10.0.0.100,10.0.0.5", "api=10.0.0.101"]
  vrrp-fifo: /run/uvs/vrrp.fifo
timeouts: { tcp: 900, tcpfin: 120, udp: 300 }
services:
  - proto: tcp
    address: 10.0.0.100
    port: 80
    scheduler: wrr
    persistent: 300
    netmask: 255.255.255.0
    health:
      delay-loop: 5
      ha-suspend: true
      quorum: 1
      sorry-server: { address: 10.0.0.40, port: 80, inhibit: true }
      checks:
        - type: http_get
          url:
            - { path: /health, status-code: [200, "301-302"], digest: 9b3a0c85a887a256d6939da88aabd8cd }
    servers:
      - { address: 10.0.0.11, weight: 3 }
      - address: 10.0.0.12
        weight: 1
        upper: 100
        lower: 10
        health:
          checks:
            - { type: tcp, connect-port: 8080 }
            - { type: file, file: /run/uvs/maint-12, weight: 2, reverse: true, init-file: 0 }
  - proto: udp
    address: 10.0.0.100
    port: 53
    scheduler: rr
    ops: true
    servers:
      - { address: 10.0.0.13, port: 5353, method: nat, weight: 2 }
`;
const YAML_WORDS = [
  'proto', 'address', 'port', 'scheduler', 'servers', 'weight', 'method', 'health', 'checks', 'type', 'tcp', 'udp', 'nat', 'dr',
  'fullnat', 'tun', 'wlc', 'mh', 'nosuch', '10.0.0.300', '10.0.0.11', '255.255.255.255', 'secure-tcp-above', 'evict-above', 'sloppy-tcp',
  'conn-max', 'timeouts', 'daemon', 'services', '1.5', '-0.1', 'yes', '"80"', '[]', '{}', '*a', '&a', 'file', 'init-file', 'reverse', 'inhibit',
  'ha-groups', 'web=', 'default=10.0.0.1', 'vrrp-fifo', 'ha-suspend',
];

const KEEPALIVED = `! keepalived.conf
$VIP=192.168.8.200
$RS=real_server 192.168.8.40 80 { \\
    weight 2 \\
}
global_defs {
   router_id LVS_DEVEL
   script_user nobody
}
track_file maint {
    file /run/uvs/maint
    weight 0
    init_file 0 overwrite
}
SSL {
    certificate /etc/uvs/client.pem
    key /etc/uvs/client.key
    password secret
}
virtual_server $VIP 80 {
    protocol TCP
    $RS
    @lb1 real_server 192.168.8.41 80 {
    @lb1 }
    lb_kind DR
    lb_algo wlc
    delay_loop 10
    quorum 1
    hysteresis 1
    sorry_server 192.168.8.60 80
    sorry_server_inhibit
    ha_suspend
    quorum_down /usr/local/bin/down.sh
    real_server 192.168.8.20 80 {
        weight 3
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 3
            retry 2
            delay_before_retry 0.5
        }
    }
    real_server 192.168.8.30 80 {
        weight 1
        HTTP_GET {
            url {
              path /health
              digest 9b3a0c85a887a256d6939da88aabd8cd
              status_code 200 301-302
            }
            connect_port 8080
        }
        MISC_CHECK {
            misc_path "/bin/check 30"
            misc_dynamic
            user nobody nogroup
        }
        FILE_CHECK {
            track_file maint
            weight -2 reverse
        }
        SSL_GET {
            url {
              path /
            }
        }
    }
}
virtual_server 192.168.8.200 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 10.8.1.20 5353 {
        UDP_CHECK {
            payload 0001
            require_reply 0002
        }
    }
}
`;
const KEEPALIVED_WORDS = [
  'virtual_server', 'real_server', '{', '}', 'TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'PING_CHECK', 'url', 'path', 'weight', 'lb_kind', 'NAT',
  'TUN', 'lb_algo', 'include', 'retry', 'digest', 'status_code', '999', '1.2.3.4', 'fwmark', 'group', 'persistence_timeout', 'alpha',
  '"', '!', '#', 'vrrp_instance', 'FILE_CHECK', 'track_file', 'maint', 'init_file', 'reverse', 'overwrite', 'SSL', 'certificate', 'key',
  'sorry_server_inhibit', 'ha_suspend', '$VIP', '${VIP}', '$RS', '$X=', '$RS=', '\\', '@lb1', '@^lb1', '~SEQ', 'user', 'nobody', 'script_user',
];

/** A config file is refused with one line "uvsd.yaml:LINE: ..." of type UvsError BAD_CONFIG. */
function assertConfigError(e: unknown): void {
  assert.ok(e instanceof UvsError && e.code === 'BAD_CONFIG', `not a config error: ${String(e)}`);
  assert.match(e.message, /^uvsd\.yaml:\d+: [^\n]+$/);
}

/** Check a config (a parsed document, or text), dry-run it when it reads; returns [read, accepted]. */
function readAndDryRun(cm: ConfigManager, read: () => ConfigFile, dryRun: boolean): [number, number] {
  let cfg: ConfigFile;
  try {
    cfg = read();
  } catch (e) {
    assertConfigError(e);
    return [0, 0];
  }
  if (!dryRun) return [1, 0];
  try {
    cm.apply(cfg, true);
    return [1, 1];
  } catch (e) {
    assert.ok(e instanceof UvsError, `dry run threw ${String(e)}`);
    assert.match(e.message, /^uvsd\.yaml:\d+: [^\n]+$/);
    return [1, 0];
  }
}

const VALUE_POOL: unknown[] = [
  -1, 0, 1, 0.5, 1.5, 65535, 65536, 2147483647, 2147483648, 1e300, NaN, -0, '', 'x', 'tcp', 'udp', 'nat', 'fullnat', 'nosuch', '10.0.0.11',
  '10.0.0.300', '255.255.255.255', '0.0.0.0', true, false, null, '80', '/health', 'http_get', 'misc', '9b3a0c85a887a256d6939da88aabd8cd',
];

test(`fuzz: ${CASES.toLocaleString('en')} mutated YAML config documents are read or refused with FILE:LINE; those read pass or fail the dry run cleanly`, () => {
  // The text is parsed once by the yaml package (a well-tested parser, ~1 ms per file here);
  // each case changes the document tree (values, keys, whole nodes, items) and runs uvs's own
  // checks on it, then undoes the change. Text mutations through the whole parser: next test.
  const r = rig({ connMax: 64 });
  const cm = new ConfigManager(r.ctl, 'uvsd.yaml', {});
  const before = JSON.stringify(r.ctl.list());
  const lc = new LineCounter();
  const doc = parseDocument(YAML, { lineCounter: lc, uniqueKeys: true });
  const scalars: Scalar[] = [];
  const pairs: Pair[] = [];
  const colls: Array<YAMLMap | YAMLSeq> = [];
  visit(doc, {
    Scalar: (_k, n) => void scalars.push(n),
    Pair: (_k, n) => void pairs.push(n as Pair),
    Map: (_k, n) => void colls.push(n),
    Seq: (_k, n) => void colls.push(n),
  });
  let read = 0;
  let accepted = 0;
  runCases('YAML config document', CASES, fuzzSeed(1330), (g) => g, (g, i) => {
    const undo: Array<() => void> = [];
    for (let k = g.range(1, 3); k > 0; k--) {
      switch (g.int(5)) {
        case 0: {
          const n = g.pick(scalars);
          const old = n.value;
          n.value = g.pick(VALUE_POOL);
          undo.push(() => (n.value = old));
          break;
        }
        case 1: {
          const p = g.pick(pairs);
          const old = p.value;
          p.value = g.chance(0.8) ? g.pick([...scalars, ...colls]) : null;
          undo.push(() => (p.value = old));
          break;
        }
        case 2: {
          const p = g.pick(pairs);
          const key = p.key as Scalar;
          const old = key.value;
          key.value = g.pick([...YAML_WORDS, 'schedular', 'x']);
          undo.push(() => (key.value = old));
          break;
        }
        default: {
          const c = g.pick(colls);
          const items = c.items as unknown[];
          if (items.length === 0) break;
          const at = g.int(items.length);
          if (g.chance(0.5)) {
            const [gone] = items.splice(at, 1);
            undo.push(() => void items.splice(at, 0, gone));
          } else {
            items.splice(at, 0, items[g.int(items.length)]);
            undo.push(() => void items.splice(at, 1));
          }
        }
      }
    }
    try {
      const [rd, ok] = readAndDryRun(cm, () => checkConfigDocument(doc, lc, 'uvsd.yaml'), i % 16 === 0);
      read += rd;
      accepted += ok;
    } finally {
      for (const u of undo.reverse()) u();
    }
  }, () => doc.toString());
  assert.equal(JSON.stringify(r.ctl.list()), before, 'dry runs changed nothing');
  assert.ok(read > 10_000 && accepted > 500, `read ${read}, accepted ${accepted}: the mutations must reach the checks`);
});

const TEXT_CASES = 1000;

test(`fuzz: ${TEXT_CASES.toLocaleString('en')} mutated YAML config texts through the whole parser are read or refused with FILE:LINE`, () => {
  const r = rig({ connMax: 64 });
  const cm = new ConfigManager(r.ctl, 'uvsd.yaml', {});
  let read = 0;
  runCases('YAML config text', TEXT_CASES, fuzzSeed(1332), (g) => mutateText(YAML, g, YAML_WORDS), (text) => {
    read += readAndDryRun(cm, () => parseConfig(text, 'uvsd.yaml'), true)[0];
  }, (t) => t);
  assert.ok(read > 20, `only ${read} read`);
});

test(`fuzz: ${CASES.toLocaleString('en')} mutated keepalived.conf files parse or throw a KeepalivedError with file:line`, () => {
  let parsed = 0;
  runCases('keepalived.conf', CASES, fuzzSeed(1331), (g) => mutateText(KEEPALIVED, g, KEEPALIVED_WORDS), (text) => {
    try {
      const res = parseKeepalived(text, 'k.conf', { configId: 'lb1', lookupUser: (u, g) => (u === 'nobody' && (g ?? 'nogroup') === 'nogroup' ? { name: u, uid: 65534, gid: 65534 } : 'no such user') });
      parsed++;
      for (const vs of res.config.services) assert.ok(vs.port >= 0 && vs.port <= 65535 && vs.realServers.every((rs) => rs.weight >= 0));
    } catch (e) {
      assert.ok(e instanceof KeepalivedError, `not a KeepalivedError: ${String(e)}`);
      assert.match(e.message, /^k\.conf:\d+: [^\n]+$/);
    }
  }, (t) => t);
  assert.ok(parsed > 1000, `only ${parsed} parsed`);
});
