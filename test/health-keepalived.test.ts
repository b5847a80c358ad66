// test-class: lab
// keepalived.conf import (src/health/keepalived.ts, load.ts): two virtual servers (DR and NAT)
// with TCP_CHECK and HTTP_GET -> the expected services, servers and checkers; errors carry
// file:line; includes with globs; skipped sections warn once each; unknown keywords are named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { defaultConfigId, KEEPALIVED_PERSISTENCE_S, KEEPALIVED_UDP_MAX_REPLY, KeepalivedError, parseKeepalived, SMTP_DEFAULT_HELO } from '../src/health/keepalived.js';
import { REGEX_OPTIONS } from '../src/health/regex.js';
import { lookupScriptUser, runCommand, runNotifyScript } from '../src/health/exec.js';
import { checkMisc } from '../src/health/checkers/misc.js';
import { expandGlob, loadKeepalivedFile } from '../src/health/load.js';
import type { CheckSpec, ScriptUser, UdpCheck } from '../src/health/types.js';
import { vsServiceSpec } from '../src/control/config.js';
import { schedulerNames } from '../src/sched/index.js';

/**
 * Not the warnings keepalived's defaults give (no protocol: UDP, no lb_kind: NAT): most files here
 * leave them out, the tests that are about them assert them.
 */
const notDefault = (w: string) => !/: virtual_server .* has no (protocol|lb_kind|lb_algo): /.test(w);

const CONF = `! Configuration File for keepalived
global_defs {
   notification_email {
     admin@example.com
   }
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.8.200
    }
}

virtual_server 192.168.8.200 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    protocol TCP
    sorry_server 192.168.8.50 80
    quorum 2
    hysteresis 1
    quorum_up "/usr/local/bin/up.sh web"
    quorum_down /usr/local/bin/down.sh
    alpha
    omega

    real_server 192.168.8.20 80 {
        weight 3
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 3
            retry 2            # nb_get_retry in 1.x
            delay_before_retry 0.5
        }
    }
    real_server 192.168.8.30 80 {
        weight 1
        notify_down "/bin/echo down"
        HTTP_GET {
            url {
              path /health
              digest 9b3a0c85a887a256d6939da88aabd8cd
              status_code 200 301-302
            }
            url {
              path /
            }
            connect_port 8080
            connect_timeout 2
            nb_get_retry 4
        }
    }
}

virtual_server 10.1.1.1 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 10.1.1.20 5353 {
        UDP_CHECK {
            payload 0102ff
            require_reply 6f6b
        }
        PING_CHECK {
        }
        MISC_CHECK {
            misc_path "/usr/bin/dig @10.1.1.20 -p 5353 example.com"
            misc_timeout 4
            misc_dynamic
        }
    }
}
`;

/** A user database of nobody (65534) and nogroup (65533) alone, for parseKeepalived's lookupUser. */
function fakeUsers(user: string, group?: string): ScriptUser | string {
  if (user !== 'nobody') return `no user "${user}" in /etc/passwd`;
  if (group !== undefined && group !== 'nogroup') return `no group "${group}" in /etc/group`;
  return { name: user, ...(group !== undefined ? { group } : {}), uid: 65534, gid: group === undefined ? 65534 : 65533 };
}

test('two virtual servers (DR with TCP_CHECK and HTTP_GET, NAT with UDP/PING/MISC) -> services, servers, checkers', () => {
  const { config, warnings } = parseKeepalived(CONF, 'keepalived.conf', { lookupUser: fakeUsers });
  assert.equal(config.services.length, 2);
  const [web, dns] = config.services;
  assert.deepEqual(
    { ...web!, realServers: undefined },
    {
      proto: 'tcp', addr: '192.168.8.200', port: 80, sched: 'wrr', fwd: 'dr', persistence: 0, delayLoopMs: 6000,
      sorryServer: { addr: '192.168.8.50', port: 80, origin: { file: 'keepalived.conf', line: 24 } }, quorum: 2, hysteresis: 1, quorumUp: { command: '/usr/local/bin/up.sh web' }, quorumDown: { command: '/usr/local/bin/down.sh' },
      alpha: true, omega: true, realServers: undefined, origin: { file: 'keepalived.conf', line: 19 },
    },
  );
  const [rs1, rs2] = web!.realServers;
  assert.deepEqual(
    { ...rs1!, checkers: undefined },
    { addr: '192.168.8.20', port: 80, weight: 3, inhibitOnFailure: true, checkers: undefined, origin: { file: 'keepalived.conf', line: 32 } },
  );
  assert.deepEqual(rs1!.checkers, [{
    type: 'TCP_CHECK', origin: { file: 'keepalived.conf', line: 35 }, connectIp: undefined, connectPort: undefined, bindto: undefined,
    connectTimeoutMs: 3000, delayLoopMs: 6000, retry: 2, delayBeforeRetryMs: 500, rise: 1, fall: 1,
  }]);
  assert.deepEqual(rs2!.notifyDown, { command: '/bin/echo down' });
  assert.equal(rs2!.inhibitOnFailure, false);
  assert.deepEqual(rs2!.checkers, [{
    type: 'HTTP_GET', origin: { file: 'keepalived.conf', line: 44 }, connectIp: undefined, connectPort: 8080, bindto: undefined,
    connectTimeoutMs: 2000, delayLoopMs: 6000, retry: 4, delayBeforeRetryMs: 3000, rise: 1, fall: 1, virtualhost: undefined,
    urls: [
      { path: '/health', digest: '9b3a0c85a887a256d6939da88aabd8cd', status: [[200, 200], [301, 302]] },
      { path: '/' },
    ],
  }]);
  assert.deepEqual(
    { proto: dns!.proto, fwd: dns!.fwd, sched: dns!.sched, delayLoopMs: dns!.delayLoopMs, quorum: dns!.quorum, alpha: dns!.alpha },
    { proto: 'udp', fwd: 'nat', sched: 'rr', delayLoopMs: 60000, quorum: 1, alpha: false },
  );
  const dnsRs = dns!.realServers[0]!;
  assert.equal(dnsRs.port, 5353);
  assert.deepEqual(dnsRs.checkers.map((c) => c.type), ['UDP_CHECK', 'PING_CHECK', 'MISC_CHECK']);
  const udp = dnsRs.checkers[0]!;
  assert.ok(udp.type === 'UDP_CHECK');
  assert.deepEqual([udp.payload, udp.requireReply, udp.replyPrefix], [Buffer.from([1, 2, 255]), true, Buffer.from('ok')]);
  assert.equal(udp.connectTimeoutMs, 5000, 'keepalived default connect_timeout');
  const misc = dnsRs.checkers[2]!;
  assert.ok(misc.type === 'MISC_CHECK');
  assert.deepEqual([misc.command, misc.timeoutMs, misc.dynamic, misc.user], ['/usr/bin/dig @10.1.1.20 -p 5353 example.com', 4000, true, undefined]);
  // One warning per skipped section, listing what was in it, keepalived's for nb_get_retry, and one for the script run as root (no keepalived_script user); nothing else.
  assert.deepEqual(warnings.filter(notDefault), [
    'keepalived.conf:2: global_defs ignored (not a virtual_server); skipped: notification_email, router_id',
    'keepalived.conf:9: vrrp_instance VI_1 ignored (uvs does no VRRP); skipped: state, interface, virtual_router_id, priority, virtual_ipaddress',
    'keepalived.conf:55: nb_get_retry is deprecated: write retry (keepalived warns the same; taken as retry 4)',
    'keepalived.conf:27: scripts without a user run as root (uvsd\'s user): global_defs has no script_user and there is no keepalived_script user',
  ]);
});

test('nb_get_retry, virtualhost and a MISC_CHECK connect_timeout only where keepalived 2.x reads them: elsewhere warned and ignored, as keepalived does', () => {
  // keepalived 2.2.7 (keepalived -t) on this file: lines 5, 7, 17 "Unknown keyword 'nb_get_retry'", 12 "nb_get_retry is deprecated - please
  // use 'retry'", 18 "Unknown keyword 'virtualhost'", 22 "Unknown keyword 'connect_timeout'"; its other checkers keep their default retry.
  const conf = `virtual_server 192.168.8.200 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  nb_get_retry 5
  real_server 192.168.8.20 80 {
    nb_get_retry 4
    HTTP_GET {
      url {
        path /
      }
      nb_get_retry 3
    }
  }
  real_server 192.168.8.21 80 {
    TCP_CHECK {
      nb_get_retry 2
      virtualhost www.example.com
    }
    MISC_CHECK {
      misc_path /bin/true
      connect_timeout 3
      user nobody
    }
  }
}
`;
  const { config, warnings } = parseKeepalived(conf, 'k.conf', { lookupUser: fakeUsers });
  const [http, tcp, misc] = config.services[0]!.realServers.flatMap((r) => r.checkers);
  assert.deepEqual([http?.type, http?.retry, tcp?.type, tcp?.retry, misc?.type, misc?.retry], ['HTTP_GET', 3, 'TCP_CHECK', 1, 'MISC_CHECK', 0]);
  assert.ok(misc?.type === 'MISC_CHECK' && misc.timeoutMs === 60_000, 'misc_timeout stays its default (delay_loop)');
  const nb = '(keepalived 2.x reads nb_get_retry only in HTTP_GET and SSL_GET, as a deprecated retry: write retry)';
  assert.deepEqual(warnings, [
    `k.conf:5: unsupported keyword "nb_get_retry" in virtual_server 192.168.8.200 80 ignored ${nb}`,
    `k.conf:7: unsupported keyword "nb_get_retry" in real_server 192.168.8.20 80 ignored ${nb}`,
    'k.conf:12: nb_get_retry is deprecated: write retry (keepalived warns the same; taken as retry 3)',
    `k.conf:17: unsupported keyword "nb_get_retry" in TCP_CHECK ignored ${nb}`,
    'k.conf:18: unsupported keyword "virtualhost" in TCP_CHECK ignored',
    'k.conf:22: unsupported keyword "connect_timeout" in MISC_CHECK ignored',
  ]);
});

test('what keepalived 2.2.7 reads otherwise than the words say is imported as it reads it, with a warning at the line (keepalived -t on this file gives the lines 6, 8, 10 and 13 and then crashes; without the HTTP_GET, 21-25 and 32)', () => {
  // Until 2026-12-06: a virtual_server without a port, an HTTP_GET without a url, "alpha off", "inhibit_on_failure on|off" and
  // "helo_name" in a host block refused the file; a real_server's lb_kind, retry 0 and MISC_CHECK's connect options were taken silently.
  const conf = `virtual_server 192.168.8.200 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  alpha off
  retry 0
  real_server 192.168.8.20 80 {
    lb_kind DR
    inhibit_on_failure on
    retry 0
    HTTP_GET {
      connect_timeout 2
    }
    TCP_CHECK {
    }
  }
  real_server 192.168.8.21 80 {
    inhibit_on_failure off
    MISC_CHECK {
      misc_path /bin/true
      misc_timeout 2.5
      connect_ip 192.168.8.22
      connect_port 81
      bindto 192.168.8.1
      bind_port 1000
      user nobody
    }
    SMTP_CHECK {
      host {
        connect_ip 192.168.8.23
        retry 4
        helo_name x.example
      }
    }
  }
}
`;
  const { config, warnings } = parseKeepalived(conf, 'k.conf', { lookupUser: fakeUsers });
  const [vs] = config.services;
  assert.deepEqual([vs!.port, vs!.persistence, vs!.fwd, vs!.alpha], [0, KEEPALIVED_PERSISTENCE_S, 'nat', true]);
  const [a, b] = vs!.realServers;
  assert.deepEqual([a!.fwd, a!.inhibitOnFailure, a!.checkers.map((c) => `${c.type} retry ${c.retry}`)], [undefined, true, ['TCP_CHECK retry 1']]);
  assert.equal((b!.checkers[0] as { timeoutMs: number }).timeoutMs, 60_000, 'misc_timeout 2.5 ignored: delay_loop');
  assert.deepEqual([b!.inhibitOnFailure, b!.checkers.map((c) => `${c.type} retry ${c.retry} ${c.connectIp ?? '-'}:${c.connectPort ?? '-'} from ${c.bindto ?? '-'}`)],
    [false, ['MISC_CHECK retry 0 -:- from -', 'SMTP_CHECK retry 4 192.168.8.23:- from -']]);
  assert.equal((b!.checkers[1] as { helo: string }).helo, SMTP_DEFAULT_HELO);
  assert.deepEqual(warnings, [
    'k.conf:6: retry 0 ignored outside a checker, as keepalived ignores it ("retry value invalid - 0"): write it in the checker',
    'k.conf:5: alpha "off": keepalived reads no word after alpha and sets it: on, as there (without the line it is off)',
    'k.conf:10: retry 0 ignored outside a checker, as keepalived ignores it ("retry value invalid - 0"): write it in the checker',
    'k.conf:8: unsupported keyword "lb_kind" in real_server 192.168.8.20 80 ignored (keepalived 2.x reads a real_server\'s own method as lvs_method only: the server takes the virtual_server\'s)',
    'k.conf:11: HTTP_GET without a url { path ... } ignored, as keepalived ignores it: it would check nothing',
    'k.conf:21: misc_timeout 2.5 ignored: keepalived takes whole seconds there ("Invalid misc_timeout value"), so the limit stays delay_loop',
    'k.conf:22: unsupported keyword "connect_ip" in MISC_CHECK ignored',
    'k.conf:23: unsupported keyword "connect_port" in MISC_CHECK ignored',
    'k.conf:24: unsupported keyword "bindto" in MISC_CHECK ignored',
    'k.conf:25: unsupported keyword "bind_port" in MISC_CHECK ignored',
    'k.conf:29: the SMTP_CHECK host block is deprecated: write one SMTP_CHECK per host (keepalived warns the same); read as one check for this host',
    'k.conf:32: unsupported keyword "helo_name" in an SMTP_CHECK host block ignored',
    'k.conf:1: virtual_server 192.168.8.200 0: port 0 needs persistence: persistence_timeout 360, as keepalived sets it',
  ]);
});

test('ip_family: inet is read; inet6 skips a fwmark virtual_server (an IPv6 service), and against an IPv4 address or another word is ignored, as keepalived does (an "unsupported keyword" warning until 2026-12-06); a fwmark service\'s protocol is warned about', () => {
  const { config, warnings } = parseKeepalived(`virtual_server fwmark 7 {
  ip_family inet6
  lb_algo rr
  lb_kind DR
  real_server 192.168.8.20 80 {
  }
}
virtual_server fwmark 8 {
  ip_family inet
  lb_algo rr
  lb_kind DR
  real_server 192.168.8.20 80 {
  }
}
virtual_server 192.168.8.200 80 {
  ip_family inet6
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 192.168.8.20 80 {
  }
}
virtual_server 192.168.8.201 80 {
  ip_family ipx
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 192.168.8.20 80 {
  }
}
`, 'k.conf');
  assert.deepEqual(config.services.map((s) => (s.fwmark !== undefined ? `fwmark ${s.fwmark}` : `${s.addr}:${s.port}`)), ['fwmark 8', '192.168.8.200:80', '192.168.8.201:80']);
  assert.deepEqual(warnings.filter((w) => notDefault(w) && !w.includes('written with a port')), [
    'k.conf:2: virtual_server fwmark 7 skipped: ip_family inet6 makes it an IPv6 service, and uvs does not support IPv6',
    'k.conf:16: ip_family inet6 ignored: virtual_server 192.168.8.200 80 is IPv4, as keepalived ignores it',
    'k.conf:24: ip_family ipx ignored: not inet or inet6, as keepalived ignores it',
  ]);
  // A fwmark service's protocol: warned and ignored, as keepalived says (silent until 2026-12-06; the service was the same).
  const proto = parseKeepalived('virtual_server fwmark 7 {\n  protocol UDP\n  lb_algo rr\n  lb_kind DR\n  real_server 192.168.8.20 0 {\n  }\n}\n', 'k.conf');
  assert.deepEqual(proto.warnings, ['k.conf:2: protocol ignored: virtual_server fwmark 7 takes what its marks select, whatever the protocol, as keepalived says ("protocol will be ignored")']);
});

test('log_all_failures [on|off] in a checker, global_defs checker_log_all_failures for every checker without its own (an "unsupported keyword" warning until 2026-12-06)', () => {
  const conf = (global: string) => `global_defs {\n  router_id lb1\n${global}}\nvirtual_server 1.2.3.4 80 {\n  protocol TCP\n  lb_kind DR\n  real_server 1.2.3.5 80 {\n` +
    '    TCP_CHECK {\n      log_all_failures\n    }\n    TCP_CHECK {\n      log_all_failures off\n    }\n    TCP_CHECK {\n    }\n  }\n}\n';
  const checks = (global: string) => parseKeepalived(conf(global), 'k.conf');
  const without = checks('');
  assert.deepEqual(without.config.services[0]!.realServers[0]!.checkers.map((c) => c.logAllFailures), [true, undefined, undefined]);
  const withGlobal = checks('  checker_log_all_failures\n');
  assert.deepEqual(withGlobal.config.services[0]!.realServers[0]!.checkers.map((c) => c.logAllFailures), [true, undefined, true]);
  assert.deepEqual(withGlobal.warnings.filter(notDefault), ['k.conf:1: global_defs ignored (not a virtual_server); skipped: router_id'], 'read, so not in the skipped list');
});

test('UDP_CHECK payload and require_reply read as keepalived\'s HEX_STR (words, an odd last digit its own byte, x a nibble that matches anything); the reply\'s lengths bound it only with require_reply\'s bytes, at most 255 by default (keepalived\'s check_udp_reply)', () => {
  const udp = (body: string) => {
    const r = parseKeepalived(`virtual_server 1.2.3.4 53 {\n  protocol UDP\n  real_server 1.2.3.5 53 {\n    UDP_CHECK {\n${body}    }\n  }\n}\n`, 'k.conf');
    return { c: r.config.services[0]!.realServers[0]!.checkers[0] as UdpCheck, warnings: r.warnings.filter(notDefault) };
  };
  // keepalived.conf(5)'s example: "Ab12f 3 456 546443123" is AB 12 0F 03 45 06 54 64 43 12 03 (until 2026-12-06 one word of pairs only).
  const a = udp('      payload Ab12f 3 456 546443123\n      require_reply 0x6f6B 1x X\n');
  assert.deepEqual([a.c.payload?.toString('hex'), a.c.replyPrefix?.toString('hex'), a.c.replyMask?.toString('hex')], ['ab120f0345065464431203', '6f6b1000', 'fffff0f0']);
  assert.deepEqual([a.c.minReplyLength, a.c.maxReplyLength, a.warnings], [undefined, KEEPALIVED_UDP_MAX_REPLY, []]);
  assert.equal(udp('      require_reply 6f\n      max_reply_length 1000\n').c.maxReplyLength, 1000);
  const bare = udp('      require_reply\n      min_reply_length 3\n');
  assert.deepEqual([bare.c.requireReply, bare.c.minReplyLength, bare.c.replyPrefix], [true, undefined, undefined]);
  assert.deepEqual(bare.warnings, ['k.conf:6: min_reply_length ignored: keepalived bounds the reply\'s length only when require_reply gives the bytes to match']);
  assert.throws(() => udp('      payload 12 x3\n'), /^KeepalivedError: k\.conf:5: payload: "x3" is not hex bytes$/);
});

test('errors name file:line and the offending value', () => {
  const cases: Array<[string, RegExp]> = [
    ['virtual_server 192.168.8.300 80 {\n}\n', /^k\.conf:1: virtual_server: invalid IPv4 address "192\.168\.8\.300"$/],
    ['virtual_server 1.2.3.4 80 {\n  real_server 1.2.3.5 80 {\n    weight heavy\n  }\n}\n', /^k\.conf:3: weight: "heavy" is not an integer 0\.\.2147483647$/],
    ['virtual_server 1.2.3.4 80 {\n  protocol DCCP\n}\n', /^k\.conf:2: protocol: "DCCP" is not TCP, UDP or SCTP$/],
    ['virtual_server 1.2.3.4 80 {\n  real_server 1.2.3.5 80 {\n', /^k\.conf:2: '\{' is never closed$/],
    ['}\n', /^k\.conf:1: unexpected '\}'$/],
    ['virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 80 {\n  HTTP_GET {\n   url {\n    path /\n    digest xyz\n   }\n  }\n }\n}\n', /^k\.conf:6: digest: "xyz" is not an MD5 digest/],
    ['virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 80 {\n  TCP_CHECK {\n   connect_timeout -1\n  }\n }\n}\n', /^k\.conf:4: connect_timeout: "-1" is not a number of seconds 0\.001\.\.31536000 \(365 days\)$/],
    // Over a year: the message says the range (it was "is not a number of seconds" alone).
    ['virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 80 {\n  TCP_CHECK {\n   connect_timeout 100000000\n  }\n }\n}\n', /^k\.conf:4: connect_timeout: "100000000" is not a number of seconds 0\.001\.\.31536000 \(365 days\)$/],
    ['virtual_server 1.2.3.4 80 {\n delay_loop 0\n real_server 1.2.3.5 80 {\n  TCP_CHECK {\n  }\n }\n}\n', /^k\.conf:2: delay_loop: "0" is not a number of seconds 0\.01\.\.31536000 \(365 days\)$/],
    ['virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 80 {\n  MISC_CHECK {\n  }\n }\n}\n', /^k\.conf:3: MISC_CHECK needs misc_path$/],
    ['virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 80 {\n  UDP_CHECK {\n   payload 12z\n  }\n }\n}\n', /^k\.conf:4: payload: "12z" is not hex bytes$/],
    ['virtual_server 1.2.3.4 80 {\n quorum_up "/bin/x\n}\n', /^k\.conf:2: unterminated quoted string$/],
    ['virtual_server 1.2.3.4 80 8 {\n}\n', /^k\.conf:1: virtual_server: expected 1\.\.2 arguments, got 3$/],
    ['include other.conf\n', /^k\.conf:1: include is not available here$/],
  ];
  for (const [text, want] of cases) {
    assert.throws(() => parseKeepalived(text, 'k.conf'), (e: unknown) => {
      assert.ok(e instanceof KeepalivedError, String(e));
      assert.match(e.message, want);
      return true;
    }, text);
  }
});

test('unsupported keywords and checkers are named in a warning; the rest is imported', () => {
  const { config, warnings } = parseKeepalived(
    `virtual_server 1.2.3.4 80 {
  hashed
  persistence_timeout 60
  real_server 1.2.3.5 80 {
    smtp_alert
    TCP_CHECK {
      fwmark 5
    }
  }
}
virtual_server fwmark 1 {
  lb_kind DR
  real_server 1.2.3.5 80 {
  }
}
`, 'k.conf');
  // virtual_server fwmark 1 is a -f service (its marks come from uvsadm --add-mark or a --config file).
  assert.deepEqual(config.services.map((s) => s.fwmark), [undefined, 1]);
  assert.equal(config.services[0]!.persistence, 60);
  assert.deepEqual(config.services[0]!.realServers[0]!.checkers.map((c) => c.type), ['TCP_CHECK']);
  assert.deepEqual(warnings.filter(notDefault), [
    'k.conf:2: unsupported keyword "hashed" in virtual_server 1.2.3.4 80 ignored',
    'k.conf:5: unsupported keyword "smtp_alert" in real_server 1.2.3.5 80 ignored',
    'k.conf:7: unsupported keyword "fwmark" in TCP_CHECK ignored',
    'k.conf:13: a DR/TUN real_server of virtual_server fwmark written with a port (the first here): at port 0 in the table, as keepalived programs them (ipvsadm -r RIP: each flow keeps its own port); checks without connect_port use the port written',
  ]);
});

test('keepalived\'s lvs_sync_daemon (global_defs) and lvs_sync_daemon_interface (vrrp_instance) are ignored with a warning naming daemon.sync', () => {
  const { warnings } = parseKeepalived('global_defs {\n  router_id d1\n  lvs_sync_daemon eth0 VI_1 id 5\n}\nvrrp_instance VI_1 {\n  interface eth0\n  lvs_sync_daemon_interface eth0\n}\n', 'k.conf');
  assert.deepEqual(warnings.filter((w) => w.includes('daemon.sync')), [
    'k.conf:3: lvs_sync_daemon ignored: start uvs\'s sync daemons with daemon.sync in the --config file (or uvsadm --start-daemon), which also take the key file (docs/ha.md)',
    'k.conf:7: lvs_sync_daemon_interface ignored: start uvs\'s sync daemons with daemon.sync in the --config file (or uvsadm --start-daemon), which also take the key file (docs/ha.md)',
  ]);
});

test('ha_suspend is imported (no checks while the other director holds the VIP); a word after it is warned about and it is on, as keepalived reads none', () => {
  const { config, warnings } = parseKeepalived('virtual_server 1.2.3.4 80 {\n  ha_suspend\n  real_server 1.2.3.5 80 {\n  }\n}\nvirtual_server 1.2.3.4 81 {\n}\n', 'k.conf');
  assert.deepEqual(warnings.filter(notDefault), ['k.conf:6: virtual_server 1.2.3.4 81 skipped: it has no real servers (keepalived ignores it too, sorry_server or not)']);
  assert.deepEqual(config.services.map((s) => s.haSuspend), [true]);
  const word = parseKeepalived('virtual_server 1.2.3.4 80 {\n  ha_suspend off\n  real_server 1.2.3.5 80 {\n  }\n}\n', 'k.conf');
  assert.deepEqual(word.config.services.map((s) => s.haSuspend), [true]);
  assert.deepEqual(word.warnings.filter(notDefault), ['k.conf:2: ha_suspend "off": keepalived reads no word after ha_suspend and sets it: on, as there (without the line it is off)']);
  // keepalived: "cannot use ha_suspend with fwmarks - clearing ha_suspend" (the manager would not suspend one either).
  const fwm = parseKeepalived('virtual_server fwmark 7 {\n  ha_suspend\n  real_server 1.2.3.5 80 {\n  }\n}\n', 'k.conf');
  assert.deepEqual(fwm.config.services.map((s) => s.haSuspend), [undefined]);
  assert.deepEqual(fwm.warnings.filter(notDefault), ['k.conf:1: virtual_server fwmark 7: ha_suspend cleared, as keepalived clears it: a fwmark service has no VIP to hold, its checks always run']);
});

test('ha_suspend of a virtual_server group with a fwmark entry is cleared for every entry with one warning, as keepalived clears it for the virtual server (until 2026-12-07 the address entries kept it, and the fwmark entry\'s warning was dropped)', () => {
  const conf = (entries: string) => `virtual_server_group g {\n${entries}}\nvirtual_server group g {\n  lb_kind DR\n  protocol TCP\n  persistence_timeout 30\n  ha_suspend\n  real_server 1.2.3.5 {\n  }\n}\n`;
  const mixed = parseKeepalived(conf('  1.2.3.4 80\n  fwmark 7\n  1.2.3.6 80\n'), 'k.conf');
  assert.deepEqual(mixed.config.services.map((s) => `${s.fwmark ?? s.addr} ${s.haSuspend}`), ['1.2.3.4 undefined', '7 undefined', '1.2.3.6 undefined']);
  assert.deepEqual(mixed.warnings.filter((w) => w.includes('ha_suspend')),
    ['k.conf:6: virtual_server group g: ha_suspend cleared for all its entries, as keepalived clears it: the group has a fwmark entry, which has no VIP to hold, so its checks always run']);
  // Addresses alone: kept.
  const plain = parseKeepalived(conf('  1.2.3.4 80\n  1.2.3.6 80\n'), 'k.conf');
  assert.deepEqual(plain.config.services.map((s) => s.haSuspend), [true, true]);
  assert.deepEqual(plain.warnings.filter((w) => w.includes('ha_suspend')), []);
});

test('protocol of a virtual_server group with fwmark and address entries: needed by its address entries, so not warned about as ignored; missing, warned about whichever entry comes first (until 2026-12-07: "protocol ignored" when the fwmark entry came first, and no word of UDP)', () => {
  const conf = (proto: string) => `virtual_server_group g {\n  fwmark 7\n  1.2.3.4 80\n}\nvirtual_server group g {\n  lb_kind DR\n${proto}  persistence_timeout 30\n  real_server 1.2.3.5 {\n  }\n}\n`;
  const tcp = parseKeepalived(conf('  protocol TCP\n'), 'k.conf');
  assert.deepEqual(tcp.config.services.map((s) => `${s.fwmark ?? s.addr} ${s.proto}`), ['7 tcp', '1.2.3.4 tcp']);
  assert.deepEqual(tcp.warnings.filter((w) => w.includes('protocol')), []);
  const none = parseKeepalived(conf(''), 'k.conf');
  assert.deepEqual(none.config.services.map((s) => `${s.fwmark ?? s.addr} ${s.proto}`), ['7 tcp', '1.2.3.4 udp']);
  assert.deepEqual(none.warnings.filter((w) => w.includes('protocol')), ['k.conf:5: virtual_server group g has no protocol: its address entries are UDP, keepalived\'s default']);
  // Marks alone: the protocol is ignored, as for a virtual_server fwmark N.
  const marks = parseKeepalived(conf('  protocol TCP\n').replace('  1.2.3.4 80\n', '  fwmark 8\n'), 'k.conf');
  assert.equal(marks.warnings.filter((w) => w.includes('protocol ignored')).length, 1);
});

test('a one-line block: one statement on a "{" line works; two are refused with file:line and why (keepalived reads the rest of that line as the first statement\'s arguments and ignores them)', () => {
  const conf = (check: string) => `virtual_server 1.2.3.4 80 {\n  lb_kind DR\n  protocol TCP\n  real_server 1.2.3.5 80 {\n    ${check}\n  }\n}\n`;
  const one = parseKeepalived(conf('TCP_CHECK { connect_timeout 2 }'), 'k.conf').config.services[0]!.realServers[0]!.checkers[0]!;
  assert.equal(one.connectTimeoutMs, 2000);
  const hint = (key: string) => ` (one statement per line: after "{" the rest of the line is ${key}'s arguments, as keepalived reads it)`;
  assert.throws(() => parseKeepalived(conf('TCP_CHECK { connect_port 81 connect_timeout 2 }'), 'k.conf'),
    { message: `k.conf:5: connect_port: expected 1 argument, got 3${hint('connect_port')}` });
  assert.throws(() => parseKeepalived(conf('MISC_CHECK { misc_dynamic misc_path /bin/true }'), 'k.conf'),
    { message: `k.conf:5: misc_dynamic takes no argument, got "misc_path"${hint('misc_dynamic')}` });
  // Not on a "{" line: the plain message.
  assert.throws(() => parseKeepalived(conf('TCP_CHECK {\n connect_port 81 82\n }'), 'k.conf'), { message: 'k.conf:6: connect_port: expected 1 argument, got 2' });
});

test('virtual_server_group: one service per entry (an address, a range of the last byte, no port = every port, a fwmark), the block\'s servers and checks in each; an undefined or empty group is a warning; bad entries are errors with file:line', () => {
  const conf = (groups: string) => `virtual_server group web {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  persistence_timeout 30
  bogus_keyword
  real_server 10.0.0.5 {
    weight 3
    TCP_CHECK { connect_timeout 2 }
  }
  real_server 10.0.0.6 8080 {
  }
}
${groups}`;
  const { config, warnings } = parseKeepalived(conf(`virtual_server_group web {
  192.168.8.200 80
  192.168.8.210-212 443
  fwmark 7
  192.168.8.220
}
`), 'g.conf');
  assert.deepEqual(config.services.map((s) => `${s.fwmark !== undefined ? `fwmark ${s.fwmark}` : `${s.proto} ${s.addr}:${s.port}`} ${s.sched} ${s.fwd} p${s.persistence} ` +
    s.realServers.map((r) => `${r.addr}:${r.port}/${r.weight}/${r.checkers.map((c) => `${c.type}@${c.connectPort ?? r.port}`).join('+')}`).join(' ')), [
    'tcp 192.168.8.200:80 rr nat p30 10.0.0.5:80/3/TCP_CHECK@80 10.0.0.6:8080/1/',
    'tcp 192.168.8.210:443 rr nat p30 10.0.0.5:443/3/TCP_CHECK@443 10.0.0.6:8080/1/',
    'tcp 192.168.8.211:443 rr nat p30 10.0.0.5:443/3/TCP_CHECK@443 10.0.0.6:8080/1/',
    'tcp 192.168.8.212:443 rr nat p30 10.0.0.5:443/3/TCP_CHECK@443 10.0.0.6:8080/1/',
    'fwmark 7 rr nat p30 10.0.0.5:0/3/TCP_CHECK@0 10.0.0.6:8080/1/',
    'tcp 192.168.8.220:0 rr nat p30 10.0.0.5:0/3/TCP_CHECK@0 10.0.0.6:8080/1/',
  ]);
  // The block's own warning once, not once per entry. A fwmark entry is a -f service.
  assert.deepEqual(warnings.filter(notDefault), ['g.conf:6: unsupported keyword "bogus_keyword" in virtual_server 192.168.8.200 80 ignored']);
  assert.deepEqual(new Set(config.services.map((s) => s.group)), new Set(['web']));
  // DR: a real_server whose port is not an entry's takes that entry's port (keepalived programs
  // IPVS so and warns "ports don't match" for each such entry): said for every port it is set to,
  // once, also where the first entry matches (before 2026-12-06 only the first entry's were said).
  const dr = parseKeepalived(`virtual_server_group dr {
  192.168.8.200 80
  10.1.1.1-3 443
  10.1.2.1 8443
}
virtual_server group dr {
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 192.168.8.20 80 {
  }
  real_server 192.168.8.30 80 {
  }
  sorry_server 192.168.8.99 80
}
`, 'd.conf');
  assert.deepEqual(dr.config.services.map((s) => `${s.addr}:${s.port} ${s.realServers.map((r) => `${r.addr}:${r.port}`).join(' ')}`), [
    '192.168.8.200:80 192.168.8.20:80 192.168.8.30:80',
    '10.1.1.1:443 192.168.8.20:443 192.168.8.30:443',
    '10.1.1.2:443 192.168.8.20:443 192.168.8.30:443',
    '10.1.1.3:443 192.168.8.20:443 192.168.8.30:443',
    '10.1.2.1:8443 192.168.8.20:8443 192.168.8.30:8443',
  ]);
  const sorry = (p: number) => `d.conf:14: sorry_server 192.168.8.99 80: a DR server takes the virtual port: set to ${p}, as keepalived does (sorry_server_lvs_method NAT reaches another port)`;
  const real = (rs: number, p: number) => `d.conf:${rs === 20 ? 10 : 12}: real_server 192.168.8.${rs} 80: a DR server takes the virtual port: port set to ${p}, as keepalived does`;
  assert.deepEqual(dr.warnings, [real(20, 443), real(30, 443), sorry(443), real(20, 8443), real(30, 8443), sorry(8443)]);
  // Undefined, or empty: the virtual server is skipped with a warning (as keepalived).
  assert.deepEqual(parseKeepalived(conf(''), 'g.conf').warnings.filter(notDefault).at(-1), 'g.conf:1: virtual_server group web skipped: no virtual_server_group web is defined');
  assert.deepEqual(parseKeepalived(conf('virtual_server_group web {\n}\n'), 'g.conf').warnings.filter(notDefault).at(-1), 'g.conf:1: virtual_server group web skipped: virtual_server_group web has no entries');
  // Errors, with the line: a bad range, a bad address, an entry twice (also across a group and a plain virtual_server), a group twice.
  const msg = (groups: string): string => {
    try {
      parseKeepalived(conf(groups), 'g.conf');
      return '';
    } catch (e) {
      assert.ok(e instanceof KeepalivedError);
      return e.message;
    }
  };
  assert.equal(msg('virtual_server_group web {\n  192.168.8.9-3 80\n}\n'), 'g.conf:15: virtual_server_group web: "192.168.8.9-3": the range end must be above its start and at most 255');
  assert.equal(msg('virtual_server_group web {\n  192.168.8.250-256 80\n}\n'), 'g.conf:15: virtual_server_group web: "192.168.8.250-256": the range end must be above its start and at most 255');
  assert.equal(msg('virtual_server_group web {\n  www.example.com 80\n}\n'), 'g.conf:15: virtual_server_group web: "www.example.com" is not an IPv4 address or range (e.g. 192.168.1.1-10, 192.168.1.250-192.168.2.10, 192.168.1.8/29)');
  assert.equal(msg('virtual_server_group web {\n  192.168.9.2-192.168.8.250 80\n}\n'), 'g.conf:15: virtual_server_group web: "192.168.9.2-192.168.8.250": the range end must be above its start');
  assert.equal(msg('virtual_server_group web {\n  10.0.0.0/8 80\n}\n'), 'g.conf:15: virtual_server_group web: "10.0.0.0/8" is 16777216 addresses, more than 4096 in one entry');
  assert.equal(msg('virtual_server_group web {\n  fwmark 7 ipx\n}\n'), 'g.conf:15: virtual_server_group web: fwmark 7 "ipx": the family is inet or inet6');
  // keepalived.conf(5)'s other range forms (refused until 2026-12-06): across bytes, a prefix from the address written; fwmark N inet.
  const forms = parseKeepalived(conf('virtual_server_group web {\n  192.168.8.254-192.168.9.1 80\n  192.168.10.5/30 81\n  fwmark 7 inet\n  fwmark 8 inet6\n}\n'), 'g.conf');
  assert.deepEqual(forms.config.services.map((s) => (s.fwmark !== undefined ? `fwmark ${s.fwmark}` : `${s.addr}:${s.port}`)),
    ['192.168.8.254:80', '192.168.8.255:80', '192.168.9.0:80', '192.168.9.1:80', '192.168.10.5:81', '192.168.10.6:81', '192.168.10.7:81', 'fwmark 7']);
  assert.ok(forms.warnings.includes('g.conf:18: virtual_server_group web: fwmark 8 inet6 skipped: uvs does not support IPv6'), forms.warnings.join('\n'));
  assert.equal(msg('virtual_server_group web {\n  192.168.8.1-3 80\n  192.168.8.2 80\n}\n'), 'g.conf:16: virtual_server_group web: 192.168.8.2 80 is listed twice');
  assert.equal(msg('virtual_server_group web {\n  192.168.8.1 80\n}\nvirtual_server_group web {\n  192.168.8.2 80\n}\n'), 'g.conf:17: virtual_server_group web is defined twice');
  assert.equal(msg('virtual_server_group web {\n  192.168.8.1 80\n}\nvirtual_server 192.168.8.1 80 {\n  protocol TCP\n  real_server 1.2.3.5 80 {\n  }\n}\n'), 'g.conf:17: virtual_server 192.168.8.1 80 (tcp) is defined twice');
});

test('sorry_server_lvs_method sets the sorry server\'s method (tunnel words too) after a sorry_server; before one or without it is a warning and ignored, as keepalived does (taken anywhere until 2026-12-06)', () => {
  const vs = (body: string) => parseKeepalived(`virtual_server 1.2.3.4 80 {\n  lb_kind DR\n${body}  real_server 1.2.3.5 80 {\n  }\n}\n`, 'k.conf');
  const at = (line: number) => ({ origin: { file: 'k.conf', line } });
  const before = (key: string) => `k.conf:3: ${key} ignored: no sorry_server before it in virtual_server 1.2.3.4 80 (keepalived reads it only after one)`;
  const methodFirst = vs('  sorry_server_lvs_method NAT\n  sorry_server 1.2.3.9\n');
  assert.deepEqual(methodFirst.config.services[0]!.sorryServer, { addr: '1.2.3.9', port: 80, ...at(4) });
  assert.deepEqual(methodFirst.warnings.filter(notDefault), [before('sorry_server_lvs_method')]);
  assert.deepEqual(vs('  sorry_server 1.2.3.9 80\n  sorry_server_lvs_method TUN type gre csum\n').config.services[0]!.sorryServer,
    { addr: '1.2.3.9', port: 80, fwd: 'tun', tun: { tunType: 'gre', tunPort: 0, tunCsum: 'csum' }, ...at(3) });
  assert.deepEqual(vs('  sorry_server 1.2.3.9\n').config.services[0]!.sorryServer, { addr: '1.2.3.9', port: 80, ...at(3) });
  assert.deepEqual(vs('  sorry_server_lvs_method NAT\n').warnings.filter(notDefault), [before('sorry_server_lvs_method')]);
  assert.deepEqual(vs('  sorry_server 1.2.3.9\n  sorry_server_inhibit\n').config.services[0]!.sorryServer, { addr: '1.2.3.9', port: 80, inhibit: true, ...at(3) });
  const inhibitFirst = vs('  sorry_server_inhibit\n  sorry_server 1.2.3.9\n');
  assert.deepEqual(inhibitFirst.config.services[0]!.sorryServer, { addr: '1.2.3.9', port: 80, ...at(4) });
  assert.deepEqual(inhibitFirst.warnings.filter(notDefault), [before('sorry_server_inhibit')]);
  assert.deepEqual(vs('  sorry_server_inhibit\n').warnings.filter(notDefault), [before('sorry_server_inhibit')]);
  // An unknown method (refused until 2026-12-04): keepalived ignores it, the sorry server keeps the virtual server's.
  const magic = vs('  sorry_server 1.2.3.9\n  sorry_server_lvs_method MAGIC\n');
  assert.deepEqual([magic.config.services[0]!.sorryServer!.fwd, magic.warnings.filter(notDefault)],
    [undefined, ['k.conf:4: sorry_server_lvs_method "MAGIC" ignored: not NAT, DR, TUN or FNAT, so keepalived keeps the method it had (without one, NAT)']]);
});

test('bfd_instance and BFD_CHECK: the instance\'s neighbour and timers (keepalived\'s defaults otherwise), polled every 100 ms with no retry; passive/ttl/max_hops and a BFD_CHECK weight warned about; an undefined name, a missing neighbor_ip or an unknown keyword is an error', () => {
  const conf = (inst: string, check = 'name bfd1') => `bfd_instance bfd1 {
${inst}}
virtual_server 1.2.3.4 80 {
  real_server 1.2.3.5 80 {
    BFD_CHECK {
      ${check}
    }
  }
}
`;
  const { config, warnings } = parseKeepalived(conf('  neighbor_ip 1.2.3.5\n  source_ip 1.2.3.1\n  min_tx 50\n  min_rx 40\n  multiplier 3\n  passive\n'), 'k.conf');
  const [c] = config.services[0]!.realServers[0]!.checkers;
  assert.equal(c!.type, 'BFD_CHECK');
  if (c!.type !== 'BFD_CHECK') return;
  assert.deepEqual([c.instance, c.bfd, c.delayLoopMs, c.retry, c.rise, c.fall], [
    'bfd1', { neighbor: '1.2.3.5', source: '1.2.3.1', minRxMs: 40, minTxMs: 50, idleTxMs: 1000, multiplier: 3 }, 100, 0, 1, 1]);
  assert.deepEqual(warnings.filter(notDefault), ['k.conf:7: unsupported keyword "passive" in bfd_instance bfd1 ignored']);
  const defaults = parseKeepalived(conf('  neighbor_ip 1.2.3.5\n', 'name bfd1\n      weight 10'), 'k.conf');
  assert.deepEqual((defaults.config.services[0]!.realServers[0]!.checkers[0] as { bfd: unknown }).bfd,
    { neighbor: '1.2.3.5', minRxMs: 10, minTxMs: 10, idleTxMs: 1000, multiplier: 5 });
  assert.deepEqual(defaults.warnings.filter(notDefault), ['k.conf:8: unsupported keyword "weight" in BFD_CHECK ignored']);
  const bad = (text: string): string => {
    try {
      parseKeepalived(text, 'k.conf');
      return 'no error';
    } catch (e) {
      return (e as Error).message;
    }
  };
  assert.equal(bad(conf('  neighbor_ip 1.2.3.5\n', 'name bfd2')), 'k.conf:7: bfd_instance bfd2 is not defined (a top-level bfd_instance bfd2 { neighbor_ip IP } block)');
  assert.equal(bad(conf('  min_rx 50\n')), 'k.conf:1: bfd_instance bfd1 needs a neighbor_ip');
  // keepalived's "Unknown keyword" is a warning (an error until 2026-12-06); neighbour_ip is neighbor_ip; a BFD_CHECK takes alpha.
  const other = parseKeepalived(conf('  neighbour_ip 1.2.3.5\n  echo 1\n  hoplimit 1\n', 'name bfd1\n      alpha\n      nosuch'), 'k.conf');
  assert.deepEqual(other.warnings.filter(notDefault), ['k.conf:3: unsupported keyword "echo" in bfd_instance bfd1 ignored', 'k.conf:4: unsupported keyword "hoplimit" in bfd_instance bfd1 ignored',
    'k.conf:11: unsupported keyword "nosuch" in BFD_CHECK ignored']);
  const otherRs = other.config.services[0]!.realServers[0]!;
  assert.deepEqual([(otherRs.checkers[0] as { bfd: { neighbor: string } }).bfd.neighbor, otherRs.alpha], ['1.2.3.5', true], 'its alpha: the server starts failed');
  assert.equal(bad(conf('  neighbor_ip 1.2.3.5\n  multiplier 0\n')), 'k.conf:3: multiplier: "0" is not an integer 1..255');
  assert.equal(bad(conf('  neighbor_ip 1.2.3.5\n', '')), 'k.conf:6: BFD_CHECK needs the name of a bfd_instance');
});

test('DNS_CHECK and SMTP_CHECK: keepalived\'s defaults (SOA ".", retry 3 with delay_loop between; HELO smtpchecker.keepalived.org), their keywords, one SMTP check per host block', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 53 {
  protocol UDP
  delay_loop 20
  real_server 1.2.3.5 53 {
    DNS_CHECK {
    }
    DNS_CHECK {
      type aaaa
      name www.example.com.
      retry 1
      connect_port 5353
    }
    DNS_CHECK {
      type SRV
    }
  }
}
virtual_server 1.2.3.4 25 {
  real_server 1.2.3.5 25 {
    SMTP_CHECK {
    }
    SMTP_CHECK {
      helo_name lb1.example.com
      connect_timeout 3
      host {
        connect_ip 1.2.3.6
        connect_port 587
      }
      host {
        connect_ip 1.2.3.7
      }
    }
  }
}
`, 'k.conf');
  const [d1, d2, d3] = config.services[0]!.realServers[0]!.checkers;
  assert.deepEqual(pick(d1!), { type: 'DNS_CHECK', queryType: 'SOA', queryName: '.', retry: 3, delayBeforeRetryMs: 20_000, connectPort: undefined });
  assert.deepEqual(pick(d2!), { type: 'DNS_CHECK', queryType: 'AAAA', queryName: 'www.example.com.', retry: 1, delayBeforeRetryMs: 20_000, connectPort: 5353 });
  assert.equal((d3 as { queryType: string }).queryType, 'SOA');
  assert.deepEqual(warnings.filter(notDefault), ['k.conf:14: DNS_CHECK type "SRV" is not one of A, NS, CNAME, SOA, MX, TXT, AAAA: SOA is queried (as keepalived does)',
    'k.conf:25: the SMTP_CHECK host block is deprecated: write one SMTP_CHECK per host (keepalived warns the same); read as one check for this host', 'k.conf:29: the SMTP_CHECK host block is deprecated: write one SMTP_CHECK per host (keepalived warns the same); read as one check for this host']);
  const smtp = config.services[1]!.realServers[0]!.checkers.map((c) => ({ helo: (c as { helo: string }).helo, ip: c.connectIp, port: c.connectPort, to: c.connectTimeoutMs, retry: c.retry, dbr: c.delayBeforeRetryMs }));
  assert.deepEqual(smtp, [
    { helo: 'smtpchecker.keepalived.org', ip: undefined, port: undefined, to: 5000, retry: 1, dbr: 1000 },
    { helo: 'lb1.example.com', ip: '1.2.3.6', port: 587, to: 3000, retry: 1, dbr: 1000 },
    { helo: 'lb1.example.com', ip: '1.2.3.7', port: undefined, to: 3000, retry: 1, dbr: 1000 },
  ]);
  const bad: Array<[string, RegExp]> = [
    ['DNS_CHECK {\n name a..b\n }', /^k\.conf:4: DNS_CHECK name "a\.\.b" has an empty label$/],
    [`DNS_CHECK {\n name ${'x'.repeat(64)}.example\n }`, /^k\.conf:4: DNS_CHECK name "x{64}\.example" has a label longer than 63 characters$/],
  ];
  for (const [checker, want] of bad) {
    assert.throws(() => parseKeepalived(`virtual_server 1.2.3.4 53 {\n real_server 1.2.3.5 53 {\n ${checker}\n }\n}\n`, 'k.conf'), (e: Error) => {
      assert.match(e.message, want);
      return true;
    }, checker);
  }
});

test('warmup (virtual_server, real_server or checker level, as the other timing keywords) bounds the first check\'s random delay', () => {
  const { config, warnings } = parseKeepalived('virtual_server 1.2.3.4 80 {\n warmup 4\n real_server 1.2.3.5 80 {\n  TCP_CHECK {\n  }\n  TCP_CHECK {\n   warmup 0\n  }\n }\n real_server 1.2.3.6 80 {\n  TCP_CHECK {\n  }\n }\n}\nvirtual_server 1.2.3.4 81 {\n real_server 1.2.3.5 81 {\n  TCP_CHECK {\n  }\n }\n}\n', 'k.conf');
  assert.deepEqual(warnings.filter(notDefault), []);
  assert.deepEqual(config.services.map((v) => v.realServers.map((r) => r.checkers.map((c) => c.warmupMs))), [[[4000, 0], [4000]], [[undefined]]]);
});

test('lvs_method TUN with keepalived\'s tunnel words (type, port, nocsum|csum|remcsum), at the virtual or the real server; bad combinations refused with file:line', () => {
  const { config } = parseKeepalived('virtual_server 1.2.3.4 80 {\n lb_kind TUN type gue port 6080 remcsum\n real_server 1.2.3.5 80 {\n }\n real_server 1.2.3.6 80 {\n  lvs_method TUN type gre csum\n }\n real_server 1.2.3.7 80 {\n  lvs_method DR\n }\n}\n', 'k.conf');
  const vs = config.services[0]!;
  assert.deepEqual([vs.fwd, vs.tun], ['tun', { tunType: 'gue', tunPort: 6080, tunCsum: 'remcsum' }]);
  assert.deepEqual(vs.realServers.map((r) => [r.fwd, r.tun]), [[undefined, undefined], ['tun', { tunType: 'gre', tunPort: 0, tunCsum: 'csum' }], ['dr', undefined]]);
  const bad: Array<[string, RegExp]> = [
    ['lvs_method TUN type gue', /^k\.conf:2: lvs_method: gue tunnels require a port, and only they take one$/],
    ['lvs_method TUN type gre port 6080', /^k\.conf:2: lvs_method: gue tunnels require a port, and only they take one$/],
    ['lvs_method TUN csum', /^k\.conf:2: lvs_method: ipip tunnels have no checksum option$/],
    ['lvs_method TUN type gre remcsum', /^k\.conf:2: lvs_method: gre tunnels have no remote checksum option$/],
    ['lvs_method TUN type vxlan', /^k\.conf:2: lvs_method: unknown tunnel type "vxlan"/],
    ['lvs_method TUN type gue port 0', /^k\.conf:2: lvs_method: invalid gue tunnel port "0"/],
    ['lvs_method NAT type gre', /^k\.conf:2: lvs_method NAT: tunnel options \("type"\) are for TUN only$/],
  ];
  for (const [line, want] of bad) {
    assert.throws(() => parseKeepalived(`virtual_server 1.2.3.4 80 {\n ${line}\n}\n`, 'k.conf'), (e: Error) => {
      assert.match(e.message, want);
      return true;
    }, line);
  }
});

function pick(c: CheckSpec): Record<string, unknown> {
  const d = c as CheckSpec & { queryType?: string; queryName?: string };
  return { type: d.type, queryType: d.queryType, queryName: d.queryName, retry: d.retry, delayBeforeRetryMs: d.delayBeforeRetryMs, connectPort: d.connectPort };
}

test('real_server IP 0 (and sorry_server IP 0) take the virtual server\'s port, as keepalived sets it; so do its checks', () => {
  const { config, warnings } = parseKeepalived('virtual_server 1.2.3.4 80 {\n lb_kind NAT\n sorry_server 1.2.3.9 0\n real_server 1.2.3.5 0 {\n  TCP_CHECK {\n  }\n }\n real_server 1.2.3.6 00 {\n }\n real_server 1.2.3.7 8080 {\n }\n}\n', 'k.conf');
  assert.deepEqual(warnings.filter(notDefault), []);
  const vs = config.services[0]!;
  assert.deepEqual(vs.realServers.map((s) => [s.addr, s.port]), [['1.2.3.5', 80], ['1.2.3.6', 80], ['1.2.3.7', 8080]]);
  assert.deepEqual(vs.sorryServer, { addr: '1.2.3.9', port: 80, origin: { file: 'k.conf', line: 3 } });
  assert.equal(vs.realServers[0]!.checkers[0]!.connectPort, undefined, 'the check connects to the real server\'s port, 80');
  assert.throws(() => parseKeepalived('virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 65536 {\n }\n}\n', 'k.conf'), /k\.conf:2: real_server: invalid port "65536"/);
});

test('virtual_server IP 0 with persistence_timeout is a port-zero service (every port of the address), its real servers port 0', () => {
  const { config, warnings } = parseKeepalived('virtual_server 1.2.3.4 0 {\n persistence_timeout 300\n real_server 1.2.3.5 0 {\n }\n}\n', 'k.conf');
  assert.deepEqual(warnings.filter(notDefault), []);
  const vs = config.services[0]!;
  assert.deepEqual([vs.port, vs.persistence, vs.realServers.map((s) => s.port)], [0, 300, [0]]);
});

test('persistence_timeout and persistence_granularity: -p and -M; no value is keepalived\'s 360 s; 0 is a warning and not persistent; a bad mask is an error', () => {
  const one = (body: string) => parseKeepalived(`virtual_server 1.2.3.4 80 {\n${body}\n  real_server 1.2.3.5 80 {\n  }\n}\n`, 'k.conf');
  const a = one('  persistence_timeout 50\n  persistence_granularity 255.255.255.0');
  assert.deepEqual([a.config.services[0]!.persistence, a.config.services[0]!.netmask, a.warnings.filter(notDefault)], [50, '255.255.255.0', []]);
  assert.equal(one('  persistence_timeout').config.services[0]!.persistence, 360);
  const g = one('  persistence_granularity 255.255.0.0').config.services[0]!;
  assert.deepEqual([g.persistence, g.netmask], [360, '255.255.0.0'], 'a granularity alone makes the service persistent (keepalived pgr_handler)');
  const z = one('  persistence_timeout 0');
  assert.deepEqual([z.config.services[0]!.persistence, z.config.services[0]!.netmask], [0, undefined]);
  assert.deepEqual(z.warnings.filter(notDefault), ['k.conf:2: persistence_timeout 0 ignored (as keepalived does): virtual_server 1.2.3.4 80 is not persistent']);
  for (const [body, want] of [
    ['  persistence_granularity 24', /^k\.conf:2: persistence_granularity: "24" is not an IPv4 netmask \(e\.g\. 255\.255\.255\.0\)$/],
    ['  persistence_granularity 255.255.256.0', /^k\.conf:2: persistence_granularity: "255\.255\.256\.0" is not an IPv4 netmask/],
    ['  persistence_timeout soon', /^k\.conf:2: persistence_timeout: "soon" is not an integer 1\.\.2678400$/],
    ['  persistence_timeout 2678401', /^k\.conf:2: persistence_timeout: "2678401" is not an integer 1\.\.2678400$/],
  ] as Array<[string, RegExp]>) {
    assert.throws(() => one(body), (e: unknown) => e instanceof KeepalivedError && want.test(e.message), body);
  }
});

test('ops, sh-/mh- scheduler flags and uthreshold/lthreshold are imported; a flag for another scheduler or ops on TCP is a warning; lthreshold above uthreshold is an error', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 53 {
  sh-port
  ops
  sh-fallback
  mh-port
  lb_algo sh
  protocol UDP
  real_server 1.2.3.5 53 {
    uthreshold 100
    lthreshold 50
  }
  real_server 1.2.3.6 53 {
  }
}
virtual_server 1.2.3.4 80 {
  lb_algo mh
  mh-fallback
  ops
  protocol TCP
  real_server 1.2.3.5 80 { }
}
virtual_server 1.2.3.4 81 {
  flag-2
  flag-3
  lb_algo sh
  real_server 1.2.3.5 81 { }
}
virtual_server 1.2.3.4 82 {
  flag-1
  lb_algo wlc
  real_server 1.2.3.5 82 { }
}
virtual_server 1.2.3.4 83 {
  flag-1
  lb_algo mh
  real_server 1.2.3.5 83 { }
}
`, 'k.conf');
  const [u, t, g2, g1, g3] = config.services;
  assert.deepEqual([u!.schedFlags, u!.oneShot, t!.schedFlags, t!.oneShot], [['sh-port', 'sh-fallback'], true, ['mh-fallback'], undefined]);
  // keepalived's generic flag-1 / flag-2 are the sh and mh schedulers' -fallback / -port.
  assert.deepEqual([g2!.schedFlags, g1!.schedFlags, g3!.schedFlags], [['sh-port'], undefined, ['mh-fallback']]);
  assert.deepEqual(u!.realServers.map((r) => [r.upper, r.lower]), [[100, 50], [undefined, undefined]]);
  assert.deepEqual(warnings.filter(notDefault), [
    'k.conf:5: mh-port ignored: it applies to the mh scheduler only (lb_algo is sh)',
    'k.conf:18: ops ignored: one-packet scheduling applies to UDP services only (virtual_server 1.2.3.4 80 is TCP)',
    'k.conf:24: flag-3 ignored: no flag of the sh scheduler (flag-1 and flag-2 are sh-/mh-fallback and -port)',
    'k.conf:29: flag-1 ignored: no flag of the wlc scheduler (flag-1 and flag-2 are sh-/mh-fallback and -port)',
  ]);
  for (const [body, want] of [
    ['  real_server 1.2.3.5 80 {\n    uthreshold 10\n    lthreshold 20\n  }', /^k\.conf:4: lthreshold 20 is above uthreshold 10 in real_server 1\.2\.3\.5 80$/],
    ['  real_server 1.2.3.5 80 {\n    uthreshold many\n  }', /^k\.conf:3: uthreshold: "many" is not an integer 0\.\.2147483647$/],
  ] as Array<[string, RegExp]>) {
    assert.throws(() => parseKeepalived(`virtual_server 1.2.3.4 80 {\n${body}\n}\n`, 'k.conf'), (e: unknown) => e instanceof KeepalivedError && want.test(e.message), body);
  }
  // keepalived 2.2.7 sets a flag whatever words follow it (refused until 2026-12-06): so here, with a warning.
  const word = parseKeepalived('virtual_server 1.2.3.4 80 {\n  lb_algo sh\n  sh-port yes\n  real_server 1.2.3.5 80 {\n  }\n}\n', 'k.conf');
  assert.deepEqual(word.config.services[0]!.schedFlags, ['sh-port']);
  assert.deepEqual(word.warnings.filter(notDefault), ['k.conf:3: sh-port "yes": keepalived reads no word after sh-port and sets it: on, as there (without the line it is off)']);
});

test('SSL_GET (an HTTPS pool as keepalived users write it) is a checker: HTTP_GET\'s url blocks and options, enable_sni, no warning', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 192.168.8.200 443 {
  virtualhost www.example.com
  real_server 192.168.8.20 443 {
    SSL_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 3
    }
  }
  real_server 192.168.8.21 443 {
    SSL_GET {
      url {
        path /health
        digest 9B3A0C85A887A256D6939DA88AABD8CD
        status_code 200 301-302
      }
      url {
        path /
      }
      connect_ip 10.0.0.21
      connect_port 8443
      bindto 192.168.8.9
      retry 2
      delay_before_retry 0.5
      enable_sni
    }
  }
}
`, 'k.conf');
  assert.deepEqual(warnings.filter(notDefault), []);
  const [a, b] = config.services[0]!.realServers;
  assert.deepEqual(a!.checkers, [{
    type: 'SSL_GET', origin: { file: 'k.conf', line: 4 }, connectIp: undefined, connectPort: undefined, bindto: undefined,
    connectTimeoutMs: 3000, delayLoopMs: 60000, retry: 1, delayBeforeRetryMs: 3000, rise: 1, fall: 1,
    virtualhost: 'www.example.com', enableSni: false, urls: [{ path: '/health', status: [[200, 200]] }],
  }], 'keepalived\'s HTTP_GET defaults: retry 1, delay_before_retry 3 s; virtualhost inherited');
  assert.deepEqual(b!.checkers, [{
    type: 'SSL_GET', origin: { file: 'k.conf', line: 13 }, connectIp: '10.0.0.21', connectPort: 8443, bindto: '192.168.8.9',
    connectTimeoutMs: 5000, delayLoopMs: 60000, retry: 2, delayBeforeRetryMs: 500, rise: 1, fall: 1,
    virtualhost: 'www.example.com', enableSni: true,
    urls: [{ path: '/health', digest: '9b3a0c85a887a256d6939da88aabd8cd', status: [[200, 200], [301, 302]] }, { path: '/' }],
  }]);
  // As HTTP_GET: bad values are file:line errors; enable_sni [on|off] (keepalived's words) means nothing to HTTP_GET.
  const one = (checker: string) => parseKeepalived(`virtual_server 1.2.3.4 443 {\n  real_server 1.2.3.5 443 {\n${checker}\n  }\n}\n`, 'k.conf');
  assert.throws(() => one('    SSL_GET {\n      url {\n        path /\n        digest xyz\n      }\n    }'), /^KeepalivedError: k\.conf:6: digest: "xyz" is not an MD5 digest/);
  assert.throws(() => one('    SSL_GET {\n      url {\n        path /\n        status_code 2000\n      }\n    }'), /^KeepalivedError: k\.conf:6: status_code: "2000" is not a status/);
  const sni = (word: string) => one(`    SSL_GET {\n      url { path / }\n      enable_sni ${word}\n    }`);
  assert.deepEqual(['yes', 'off', 'bogus'].map((w) => (sni(w).config.services[0]!.realServers[0]!.checkers[0] as { enableSni: boolean }).enableSni), [true, false, false]);
  assert.deepEqual(sni('bogus').warnings.filter(notDefault), ['k.conf:5: enable_sni "bogus" ignored: not on/off, true/false or yes/no (keepalived: "Invalid enable_sni parameter")']);
  // fast_recovery: what every attempt does here (all urls at once), read without a warning (an "unsupported keyword" until 2026-12-06).
  assert.deepEqual(one('    SSL_GET {\n      url { path / }\n      fast_recovery\n    }').warnings.filter(notDefault), []);
  assert.deepEqual(one('    HTTP_GET {\n      url { path / }\n      fast_recovery off\n    }').warnings.filter(notDefault), []);
  assert.deepEqual(one('    HTTP_GET {\n      url { path / }\n      enable_sni\n    }').warnings.filter(notDefault), ['k.conf:5: unsupported keyword "enable_sni" in HTTP_GET ignored']);
});

test('url regex_no_match, regex_options, regex_min_offset, regex_max_offset are imported (before: "unsupported keyword" warnings, and the check ran without them); an option JavaScript cannot express is refused with its line; what keepalived ignores is warned about', () => {
  const urls = (url: string) => {
    const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  real_server 1.2.3.5 80 {\n    HTTP_GET {\n      url {\n        path /\n${url}\n      }\n    }\n  }\n}\n`, 'k.conf');
    const c = config.services[0]!.realServers[0]!.checkers[0]!;
    return { url: c.type === 'HTTP_GET' ? c.urls[0] : undefined, warnings };
  };
  assert.deepEqual(urls('        regex "maintenance"\n        regex_no_match\n        regex_options caseless\n        regex_options multiline dotall\n        regex_min_offset 2\n        regex_max_offset 100'), {
    url: { path: '/', regex: 'maintenance', regexNoMatch: true, regexOptions: ['caseless', 'multiline', 'dotall'], regexMinOffset: 2, regexMaxOffset: 100 }, warnings: [],
  });
  assert.deepEqual(urls('        regex x\n        regex_stack 32768 1048576\n        regex_options casless no_start_optimize'), {
    url: { path: '/', regex: 'x', regexOptions: ['no_start_optimize'] },
    warnings: [
      'k.conf:10: regex_stack ignored: uvs matches with JavaScript\'s regular expressions, which have no JIT stack to size',
      `k.conf:11: regex_options "casless" ignored: not one of keepalived's regex options (${Object.keys(REGEX_OPTIONS).join(', ')}) (keepalived ignores it too)`,
    ],
  });
  assert.deepEqual(urls('        regex_no_match\n        regex_options caseless'), {
    url: { path: '/' },
    warnings: ['k.conf:9: regex_no_match ignored: the url has no regex (keepalived ignores it too)', 'k.conf:10: regex_options ignored: the url has no regex (keepalived ignores it too)'],
  });
  assert.deepEqual(urls('        regex x\n        regex_min_offset 9\n        regex_max_offset 8'), {
    url: { path: '/', regex: 'x' }, warnings: ['k.conf:9: regex_min_offset 9 and regex_max_offset 8 ignored: the minimum is beyond the maximum (keepalived ignores both too)'],
  });
  assert.throws(() => urls('        regex "^VH"\n        regex_options caseless ungreedy'), /^KeepalivedError: k\.conf:10: regex_options ungreedy: uvs cannot match so: JavaScript's regular expressions have no such option \(uvs has caseless, multiline, dotall, dollar_endonly, utf, /);
  assert.throws(() => urls('        regex x\n        regex_options extended'), /^KeepalivedError: k\.conf:10: regex_options extended: uvs cannot match so/);
  assert.throws(() => urls('        regex x\n        regex_options'), /^KeepalivedError: k\.conf:10: regex_options: missing option$/);
  assert.throws(() => urls('        regex x\n        regex_max_offset -1'), /^KeepalivedError: k\.conf:10: regex_max_offset: "-1" is not an integer 0\.\.2147483647$/);
  assert.throws(() => urls('        regex "a(b"'), /^KeepalivedError: k\.conf:9: regex: Invalid regular expression: \/a\(b\/g: Unterminated group$/);
});

test('retry and delay_before_retry defaults are keepalived\'s per checker (MISC_CHECK retry 0, HTTP_GET 3 s, others 1 and 1 s); a value at any level replaces them', () => {
  const servers = (inner: string) => `  real_server 1.2.3.5 80 {
${inner}    TCP_CHECK { }
    UDP_CHECK { }
    PING_CHECK { }
    HTTP_GET { url { path / } }
    SSL_GET { url { path / } }
    MISC_CHECK { misc_path /bin/true }
  }`;
  const timings = (text: string) => parseKeepalived(text, 'k.conf').config.services[0]!.realServers[0]!.checkers.map((c) => `${c.type} ${c.retry} ${c.delayBeforeRetryMs}`);
  assert.deepEqual(timings(`virtual_server 1.2.3.4 80 {\n${servers('')}\n}\n`), [
    'TCP_CHECK 1 1000', 'UDP_CHECK 1 1000', 'PING_CHECK 1 1000', 'HTTP_GET 1 3000', 'SSL_GET 1 3000', 'MISC_CHECK 0 1000',
  ]);
  assert.deepEqual(timings(`virtual_server 1.2.3.4 80 {\n  retry 2\n${servers('    delay_before_retry 0.5\n')}\n}\n`), [
    'TCP_CHECK 2 500', 'UDP_CHECK 2 500', 'PING_CHECK 2 500', 'HTTP_GET 2 500', 'SSL_GET 2 500', 'MISC_CHECK 2 500',
  ], 'set at virtual_server / real_server, they apply to every checker type');
});

test('parameters given at virtual_server or real_server level reach the checkers; the checker level wins', () => {
  const { config } = parseKeepalived(
    `virtual_server 1.2.3.4 80 {
  real_server 1.2.3.5 80 {
    TCP_CHECK {
      retry 0
    }
  }
  connect_timeout 2
  delay_loop 3
  real_server 1.2.3.6 {
    delay_before_retry 7
    inhibit_on_failure
    PING_CHECK
    HTTP_GET {
      url { path /a }
      delay_loop 1.5
      rise 3
      fall 2
    }
  }
}
`, 'k.conf');
  const [a, b] = config.services[0]!.realServers;
  assert.deepEqual([a!.checkers[0]!.connectTimeoutMs, a!.checkers[0]!.delayLoopMs, a!.checkers[0]!.retry], [2000, 3000, 0]);
  assert.equal(b!.port, 80, 'real_server without a port takes the virtual port');
  assert.equal(b!.inhibitOnFailure, true);
  assert.deepEqual(b!.checkers.map((c) => [c.type, c.delayLoopMs, c.delayBeforeRetryMs, c.rise, c.fall]), [['PING_CHECK', 3000, 7000, 1, 1], ['HTTP_GET', 1500, 7000, 3, 2]]);
});

test('include with globs, relative to the including file; errors in an included file name that file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-kconf-'));
  try {
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'keepalived.conf'), '# main\ninclude conf.d/*.conf\nvirtual_server 1.2.3.4 80 {\n  include rs.inc\n}\n');
    writeFileSync(join(dir, 'rs.inc'), 'real_server 1.2.3.5 80 {\n  weight 2\n}\n');
    writeFileSync(join(dir, 'conf.d', 'b.conf'), 'virtual_server 1.2.3.4 82 {\n  real_server 1.2.3.6 82 {\n  }\n}\n');
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'virtual_server 1.2.3.4 81 {\n  real_server 1.2.3.6 81 {\n  }\n}\n');
    writeFileSync(join(dir, 'conf.d', 'a.conf.bak'), 'garbage {\n');
    writeFileSync(join(dir, 'conf.d', '.hidden.conf'), 'garbage {\n');
    assert.deepEqual(expandGlob(join(dir, 'conf.d', '*.conf')), [join(dir, 'conf.d', 'a.conf'), join(dir, 'conf.d', 'b.conf')]);
    const { config, warnings } = loadKeepalivedFile(join(dir, 'keepalived.conf'));
    assert.deepEqual(warnings.filter(notDefault), []);
    assert.deepEqual(config.services.map((s) => [s.port, s.realServers.map((r) => `${r.addr}/${r.weight}`)]), [[81, ['1.2.3.6/1']], [82, ['1.2.3.6/1']], [80, ['1.2.3.5/2']]]);
    assert.deepEqual(config.services[0]!.origin, { file: join(dir, 'conf.d', 'a.conf'), line: 1 });

    writeFileSync(join(dir, 'empty.conf'), 'include none.d/*.conf\n');
    assert.deepEqual(loadKeepalivedFile(join(dir, 'empty.conf')).warnings.filter(notDefault), [`${join(dir, 'empty.conf')}:1: include none.d/*.conf matched no file`]);

    writeFileSync(join(dir, 'rs.inc'), 'real_server 1.2.3.5 80 {\n  weight -3\n}\n');
    assert.throws(() => loadKeepalivedFile(join(dir, 'keepalived.conf')), new RegExp(`^KeepalivedError: ${join(dir, 'rs.inc').replace(/\./g, '\\.')}:2: weight: "-3"`));
    // A plain name that is not there: keepalived says "Config files missing" and goes on (an error until 2026-12-04).
    writeFileSync(join(dir, 'keepalived.conf'), 'include missing.conf\n');
    assert.deepEqual(loadKeepalivedFile(join(dir, 'keepalived.conf')).warnings,
      [`${join(dir, 'keepalived.conf')}:1: include missing.conf skipped: no such file (keepalived goes on without it too)`]);
    writeFileSync(join(dir, 'keepalived.conf'), 'include keepalived.conf\n');
    assert.throws(() => loadKeepalivedFile(join(dir, 'keepalived.conf')), /includes nested deeper than 8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('MISC_CHECK misc_path whose program is missing, not executable or no file: a warning at load with the misc_path line (keepalived drops the checker); found as spawn finds it (a path, or a name in PATH)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-kmisc-'));
  const path = process.env.PATH;
  try {
    writeFileSync(join(dir, 'ok.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    writeFileSync(join(dir, 'noexec.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    mkdirSync(join(dir, 'sub'));
    const conf = join(dir, 'keepalived.conf');
    const warnings = (miscPath: string) => {
      writeFileSync(conf, `virtual_server group web {\n  real_server 1.2.3.5 80 {\n    MISC_CHECK {\n      misc_path ${miscPath}\n    }\n  }\n}\nvirtual_server_group web {\n  1.2.3.4 80\n  1.2.3.4 81\n}\nglobal_defs {\n  script_user nobody\n}\n`);
      return loadKeepalivedFile(conf).warnings.filter(notDefault);
    };
    const warned = (why: string) => [`${conf}:4: MISC_CHECK misc_path: ${why}: the check fails (its real_server down) until it can run`];
    assert.deepEqual(warnings(join(dir, 'ok.sh')), []);
    assert.deepEqual(warnings(`"${join(dir, 'ok.sh')} --port 80"`), [], 'arguments after the program');
    assert.deepEqual(warnings('"/bin/sh -c \'exit 0\'"'), []);
    assert.deepEqual(warnings(join(dir, 'missing.sh')), warned(`${join(dir, 'missing.sh')} not found`), 'said once for the group\'s two services');
    assert.deepEqual(warnings(`"${join(dir, 'noexec.sh')} arg"`), warned(`${join(dir, 'noexec.sh')} is not executable`));
    assert.deepEqual(warnings(join(dir, 'sub')), warned(`${join(dir, 'sub')} is not a regular file`));
    assert.deepEqual(warnings('"\'unclosed"'), warned('unterminated \' quote in command "\'unclosed"'));
    // A name without a slash is looked up in uvsd's PATH, as spawn does.
    process.env.PATH = `/nonexistent:${dir}`;
    assert.deepEqual(warnings('ok.sh'), []);
    assert.deepEqual(warnings('missing.sh'), warned(`missing.sh not found in PATH (/nonexistent:${dir})`));
    assert.deepEqual(warnings('noexec.sh'), warned(`noexec.sh (${join(dir, 'noexec.sh')}) is not executable`));
    // parseKeepalived alone (no file system) says nothing about it.
    assert.deepEqual(parseKeepalived('virtual_server 1.2.3.4 80 {\n  real_server 1.2.3.5 80 {\n    MISC_CHECK { misc_path /no/such }\n  }\n}\nglobal_defs { script_user nobody }\n', 'k.conf', { lookupUser: fakeUsers }).warnings.filter(notDefault), []);
  } finally {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('syn_proxy (DPVS\'s keepalived) turns the service\'s SYN proxy on; refused with its line as uvsadm --synproxy is: not TCP, a fwmark service, a DR or TUN real or sorry server', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 80 {
  syn_proxy
  lb_kind NAT
  protocol TCP
  real_server 1.2.3.5 8080 {
  }
  sorry_server 1.2.3.9 8081
}
virtual_server 1.2.3.4 81 {
  lb_kind NAT
  protocol TCP
  real_server 1.2.3.5 8080 {
  }
}
`, 'k.conf');
  assert.deepEqual(warnings.filter(notDefault), []);
  const [sp, plain] = config.services;
  assert.equal(vsServiceSpec(sp!).synproxy, true);
  assert.equal(vsServiceSpec(plain!).synproxy, false);
  const conf = (head: string, servers: string) => `virtual_server ${head} {\n  syn_proxy\n  protocol TCP\n${servers}  real_server 1.2.3.6 80 {\n    lvs_method NAT\n  }\n}\n`;
  for (const [text, want] of [
    [conf('1.2.3.4 53', '  lb_kind NAT\n  protocol UDP\n'), /^k\.conf:2: syn_proxy: virtual_server 1\.2\.3\.4 53 is UDP; the SYN proxy is for TCP services only$/],
    [conf('fwmark 7', '  lb_kind NAT\n'), /^k\.conf:2: syn_proxy: virtual_server fwmark 7 is a fwmark service; the SYN proxy is for TCP services only$/],
    [conf('1.2.3.4 80', '  lb_kind DR\n  real_server 1.2.3.5 80 {\n  }\n'), /^k\.conf:2: syn_proxy: real_server 1\.2\.3\.5 80 is DR; a SYN proxy service's servers are NAT or FULLNAT \(lb_kind NAT or FNAT\)$/],
    [conf('1.2.3.4 80', '  lb_kind NAT\n  real_server 1.2.3.5 80 {\n    lvs_method TUN\n  }\n'), /^k\.conf:2: syn_proxy: real_server 1\.2\.3\.5 80 is TUN;/],
    [conf('1.2.3.4 80', '  lb_kind NAT\n  sorry_server 1.2.3.9 80\n  sorry_server_lvs_method DR\n'), /^k\.conf:2: syn_proxy: sorry_server 1\.2\.3\.9 80 is DR;/],
    ['virtual_server 1.2.3.4 80 {\n  lb_kind NAT\n  syn_proxy on\n}\n', /^k\.conf:3: syn_proxy takes no argument, got "on"$/],
  ] as Array<[string, RegExp]>) {
    assert.throws(() => parseKeepalived(text, 'k.conf'), (e: unknown) => e instanceof KeepalivedError && want.test(e.message), text);
  }
});

test('DPVS\'s FULLNAT: lb_kind FNAT with laddr_group_name and a top-level local_address_group (interface words read and not used, ranges of the last byte); refused with the line: FNAT without one, a group not defined, an address twice, a group twice', () => {
  const { config, warnings } = parseKeepalived(`local_address_group laddr_g1 {
    192.168.8.50 dpdk0
    192.168.8.51-52 dpdk0
}
virtual_server 192.168.8.200 80 {
  lb_algo rr
  lb_kind FNAT
  laddr_group_name laddr_g1
  syn_proxy
  protocol TCP
  real_server 192.168.8.20 8080 {
  }
}
virtual_server 192.168.8.200 53 {
  protocol UDP
  lb_kind NAT
  laddr_group_name laddr_g1
  real_server 192.168.8.21 53 {
    lvs_method FNAT
  }
}
`, 'k.conf');
  assert.deepEqual(warnings.filter(notDefault), []);
  const [web, dns] = config.services;
  assert.equal(web!.fwd, 'fullnat');
  assert.deepEqual(web!.laddrs, ['192.168.8.50', '192.168.8.51', '192.168.8.52']);
  assert.equal(vsServiceSpec(web!).synproxy, true);
  assert.equal(dns!.realServers[0]!.fwd, 'fullnat');
  assert.deepEqual(dns!.laddrs, web!.laddrs, 'two services may share a group (one LIP, several services, as uvsadm --add-laddr allows)');
  for (const [text, want] of [
    ['virtual_server 1.2.3.4 80 {\n  lb_kind FNAT\n  real_server 1.2.3.5 80 {\n  }\n}\n', /^k\.conf:1: virtual_server 1\.2\.3\.4 80: lb_kind FNAT needs local addresses: laddr_group_name NAME \(a top-level local_address_group NAME \{ IP \[IFACE\] \}\)$/],
    ['virtual_server 1.2.3.4 80 {\n  lb_kind NAT\n  sorry_server 1.2.3.9 80\n  sorry_server_lvs_method FNAT\n  real_server 1.2.3.5 80 {\n  }\n}\n', /^k\.conf:1: virtual_server 1\.2\.3\.4 80: lb_kind FNAT needs local addresses/],
    ['virtual_server 1.2.3.4 80 {\n  lb_kind FNAT\n  laddr_group_name nosuch\n}\n', /^k\.conf:3: local_address_group nosuch is not defined \(a top-level local_address_group nosuch \{ IP \[IFACE\] \} block\)$/],
    ['local_address_group g {\n  1.2.3.7 eth0\n  1.2.3.6-8 eth0\n}\n', /^k\.conf:3: local_address_group g: 1\.2\.3\.7 is listed twice$/],
    ['local_address_group g {\n  1.2.3.300 eth0\n}\n', /^k\.conf:2: local_address_group g: "1\.2\.3\.300" is not an IPv4 address or range \(e\.g\. 192\.168\.1\.1-10, /],
    ['local_address_group g {\n  1.2.3.7\n}\nlocal_address_group g {\n  1.2.3.8\n}\n', /^k\.conf:4: local_address_group g is defined twice$/],
  ] as Array<[string, RegExp]>) {
    assert.throws(() => parseKeepalived(text, 'k.conf'), (e: unknown) => e instanceof KeepalivedError && want.test(e.message), text);
  }
});

test('virtual_server fwmark N: a DR or TUN real_server\'s port is cleared to 0, as keepalived does (ipvsadm -r RIP), with one warning for the whole file naming no port (before 2026-12-05 one per server, naming the written port even to a check with connect_port); its port-checking checkers keep the port written unless they have connect_port; a NAT server keeps its port; a checker left with port 0 is warned about', () => {
  const { config, warnings } = parseKeepalived(`virtual_server fwmark 1 {
  lb_kind DR
  real_server 192.168.8.20 80 {
    TCP_CHECK { }
    MISC_CHECK { misc_path /bin/true }
  }
  real_server 192.168.8.21 80 {
    lvs_method TUN
    HTTP_GET { url { path / } connect_port 8081 }
  }
  real_server 10.8.1.20 8080 {
    lvs_method NAT
    TCP_CHECK { }
  }
}
virtual_server fwmark 7 {
  lb_kind NAT
  real_server 10.8.1.30 {
    HTTP_GET { url { path / } }
  }
}
global_defs { script_user nobody }
${Array.from({ length: 200 }, (_, i) => `virtual_server fwmark ${100 + i} {\n  lb_kind DR\n  real_server 192.168.9.${i} 443 {\n    TCP_CHECK { connect_port 80 }\n  }\n}\n`).join('')}`, 'k.conf', { lookupUser: fakeUsers });
  const [one, seven] = config.services;
  assert.deepEqual(one!.realServers.map((r) => `${r.addr}:${r.port} ${r.checkers.map((c) => `${c.type}@${c.connectPort ?? '-'}`).join(' ')}`), [
    '192.168.8.20:0 TCP_CHECK@80 MISC_CHECK@-', '192.168.8.21:0 HTTP_GET@8081', '10.8.1.20:8080 TCP_CHECK@-',
  ]);
  assert.equal(seven!.realServers[0]!.port, 0);
  // The 200 pools written as an operator writes an HTTPS pool checked on port 80: port 0, checked on 80.
  assert.deepEqual(new Set(config.services.slice(2).map((v) => `${v.realServers[0]!.port} ${v.realServers[0]!.checkers[0]!.connectPort}`)), new Set(['0 80']));
  assert.deepEqual(warnings.filter(notDefault), [
    'k.conf:18: real_server 10.8.1.30 0: its HTTP_GET has no port to check (port 0): it fails every attempt; give connect_port',
    'k.conf:3: 202 DR/TUN real_servers of virtual_server fwmark written with a port (the first here): at port 0 in the table, as keepalived programs them (ipvsadm -r RIP: each flow keeps its own port); checks without connect_port use the port written',
  ]);
});

test('sorry_server that is also a real_server is imported, as keepalived 2.2.7 takes it (refused until 2026-12-05): its inhibit follows the real server\'s inhibit_on_failure, with keepalived\'s warning at the sorry_server line', () => {
  const conf = (sorryInhibit: string, rsInhibit: string) =>
    `virtual_server 1.2.3.4 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  sorry_server 1.2.3.5 80\n${sorryInhibit}  real_server 1.2.3.5 80 {\n${rsInhibit}  }\n  real_server 1.2.3.6 80 {\n  }\n}\n`;
  const plain = parseKeepalived(conf('', ''), 'k.conf');
  assert.deepEqual([plain.config.services[0]!.sorryServer, plain.config.services[0]!.realServers.map((r) => `${r.addr}:${r.port}`), plain.warnings],
    [{ addr: '1.2.3.5', port: 80, origin: { file: 'k.conf', line: 5 } }, ['1.2.3.5:80', '1.2.3.6:80'], []]);
  // keepalived: "real server ... matches sorry server, but inhibit setting differs, setting|clearing on sorry server".
  const set = parseKeepalived(conf('', '    inhibit_on_failure\n'), 'k.conf');
  assert.deepEqual([set.config.services[0]!.sorryServer!.inhibit, set.warnings],
    [true, ['k.conf:5: sorry_server 1.2.3.5 80 is also a real_server: sorry_server_inhibit set to match its inhibit_on_failure, as keepalived does']]);
  const cleared = parseKeepalived(conf('  sorry_server_inhibit\n', ''), 'k.conf');
  assert.deepEqual([cleared.config.services[0]!.sorryServer!.inhibit, cleared.warnings],
    [undefined, ['k.conf:5: sorry_server 1.2.3.5 80 is also a real_server: sorry_server_inhibit cleared to match its inhibit_on_failure, as keepalived does']]);
  assert.deepEqual(parseKeepalived(conf('  sorry_server_inhibit\n', '    inhibit_on_failure\n'), 'k.conf').warnings, []);
});

test('a DR or TUN sorry_server or real_server on another port than the virtual server\'s is set to the virtual port with a warning at its line, as keepalived does (refused until 2026-12-04); its checks keep the port written; NAT, or a fwmark service\'s sorry server, may use another port', () => {
  const conf = (extra: string) => `virtual_server 1.2.3.4 80 {\n  lb_kind DR\n  sorry_server 1.2.3.9 8080\n${extra}  real_server 1.2.3.5 80 {\n  }\n}\n`;
  const dr = parseKeepalived(conf(''), 'k.conf');
  assert.deepEqual([dr.config.services[0]!.sorryServer!.port, dr.warnings.filter(notDefault)], [80,
    ['k.conf:3: sorry_server 1.2.3.9 8080: a DR server takes the virtual port: set to 80, as keepalived does (sorry_server_lvs_method NAT reaches another port)']]);
  assert.match(parseKeepalived(conf('  sorry_server_lvs_method TUN\n'), 'k.conf').warnings.join('\n'), /k\.conf:3: sorry_server 1\.2\.3\.9 8080: a TUN server takes the virtual port: set to 80/);
  const rs = parseKeepalived('virtual_server 1.2.3.4 80 {\n  lb_kind DR\n  protocol TCP\n  real_server 1.2.3.5 8080 {\n    TCP_CHECK {\n    }\n  }\n}\n', 'k.conf');
  const r = rs.config.services[0]!.realServers[0]!;
  assert.deepEqual([r.port, r.checkers[0]!.connectPort, rs.warnings.filter(notDefault)],
    [80, 8080, ['k.conf:4: real_server 1.2.3.5 8080: a DR server takes the virtual port: port set to 80, as keepalived does; its checks still use 8080']]);
  // With connect_port the checks do not use the port written: the warning does not name it.
  const cp = parseKeepalived('virtual_server 1.2.3.4 80 {\n  lb_kind DR\n  protocol TCP\n  real_server 1.2.3.5 8080 {\n    TCP_CHECK {\n      connect_port 9000\n    }\n  }\n}\n', 'k.conf');
  assert.deepEqual([cp.config.services[0]!.realServers[0]!.checkers[0]!.connectPort, cp.warnings.filter(notDefault)],
    [9000, ['k.conf:4: real_server 1.2.3.5 8080: a DR server takes the virtual port: port set to 80, as keepalived does']]);
  assert.equal(parseKeepalived(conf('  sorry_server_lvs_method NAT\n'), 'k.conf').config.services[0]!.sorryServer!.port, 8080);
  assert.equal(parseKeepalived('virtual_server fwmark 7 {\n  lb_kind DR\n  sorry_server 1.2.3.9 8080\n  real_server 1.2.3.5 80 {\n  }\n}\n', 'k.conf').config.services[0]!.sorryServer!.port, 8080);
});

test('fuzz: any text parses or throws a KeepalivedError with file:line, never anything else', () => {
  const words = ['virtual_server', 'real_server', '1.2.3.4', '80', '{', '}', '"', 'TCP_CHECK', 'HTTP_GET', 'url', 'path', '/', 'weight', '3', '#', '!', '\n', ' ', 'lb_kind', 'NAT', 'include', 'retry', 'digest', 'MISC_CHECK', 'misc_path', 'x'];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...words), { maxLength: 60 }), (ws) => {
      try {
        parseKeepalived(ws.join(' '), 'f.conf');
      } catch (e) {
        assert.ok(e instanceof KeepalivedError, `not a KeepalivedError: ${String(e)}`);
        assert.match(e.message, /^f\.conf:\d+: \S/);
      }
    }),
    { numRuns: 2000 },
  );
});

test('uvsd --keepalived-conf: a bad file, a missing file, a virtual server also in --config, a bad --health-concurrency, --health-process-concurrency or --keepalived-config-id exit 2 with one line, before the TAP is opened; --keepalived-config-id picks the @ID lines', async () => {
  const { spawnSync } = await import('node:child_process');
  const { uvsdArgv } = await import('./lab/dr-lab.js');
  const dir = mkdtempSync(join(tmpdir(), 'uvs-kconf-cli-'));
  try {
    const bad = join(dir, 'keepalived.conf');
    writeFileSync(bad, 'virtual_server 192.168.8.200 80 {\n  lb_algo rr\n  protocol SOMETIMES\n}\n');
    // The same virtual server in keepalived.conf and in the --config file.
    const dup = join(dir, 'dup.conf');
    const dupYaml = join(dir, 'dup.yaml');
    writeFileSync(dup, 'virtual_server 192.168.8.200 80 {\n  lb_algo rr\n  protocol TCP\n  real_server 192.168.8.20 80 {\n  }\n}\n');
    writeFileSync(dupYaml, 'services:\n  - { proto: tcp, address: 192.168.8.200, port: 80 }\n');
    const run = (args: string[]) => {
      const [node, ...argv] = uvsdArgv(['--tap', 'uvskconf0', '--socket', join(dir, 's.sock'), '--addr', '192.168.8.10/24', ...args]);
      return spawnSync(node!, argv, { encoding: 'utf8', timeout: 15_000 });
    };
    const cases: Array<[string[], string]> = [
      [['--keepalived-conf', bad], `uvsd: --keepalived-conf: ${bad}:3: protocol: "SOMETIMES" is not TCP, UDP or SCTP\n`],
      [['--keepalived-conf', join(dir, 'nope.conf')], `uvsd: --keepalived-conf: ${join(dir, 'nope.conf')}: cannot read: ENOENT\n`],
      [['--keepalived-conf', dup, '--config', dupYaml], `uvsd: --keepalived-conf: ${dup}:1: virtual_server TCP 192.168.8.200:80 is also in ${dupYaml}:2\n`],
    ];
    for (const [args, stderr] of cases) {
      const r = run(args);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr, stderr);
    }
    // The tester's file with parameters and @ID lines: accepted, the servers of this config id.
    const ids = join(dir, 'ids.conf');
    writeFileSync(ids, '$VIP=192.168.8.202\n$RS2=192.168.8.22\nvirtual_server $VIP 80 {\n  @lb1 real_server 192.168.8.21 80 {\n  @lb1 }\n  @^lb1 real_server $RS2 80 {\n  @^lb1 }\n}\n');
    for (const [id, server] of [['lb1', '192.168.8.21:80'], ['lb2', '192.168.8.22:80']]) {
      const r = run(['--check-config', '--keepalived-conf', ids, '--keepalived-config-id', id!]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual([...r.stdout.matchAll(/^  -> (\d\S*) /gm)].map((m) => m[1]), [server], r.stdout);
    }
    const badId = run(['--check-config', '--keepalived-conf', ids, '--keepalived-config-id', 'a b']);
    assert.equal(badId.status, 2);
    assert.match(badId.stderr, /--keepalived-config-id must be one word, got "a b"\n$/);
    const c = run(['--health-concurrency', '0']);
    assert.equal(c.status, 2);
    assert.match(c.stderr, /^[^\n]*--health-concurrency must be an integer 1\.\.10000, got "0"\n$/);
    const p = run(['--health-process-concurrency', 'lots']);
    assert.equal(p.status, 2);
    assert.match(p.stderr, /^[^\n]*--health-process-concurrency must be an integer 1\.\.10000, got "lots"\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bind_port: the source port of TCP_CHECK, HTTP_GET, SMTP_CHECK hosts, UDP_CHECK, DNS_CHECK; a warning on PING_CHECK (no port: MISC_CHECK alike); a bad port is an error with file:line', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 80 {
  real_server 1.2.3.5 80 {
    TCP_CHECK {
      bind_port 5000
    }
    HTTP_GET {
      url { path / }
      bindto 1.2.3.1
      bind_port 5001
    }
    SMTP_CHECK {
      host {
        connect_ip 1.2.3.9
        bind_port 5002
      }
    }
    UDP_CHECK {
      bind_port 5003
    }
    DNS_CHECK {
      bind_port 5004
    }
    PING_CHECK {
      bind_port 5005
    }
  }
}
`, 'k.conf');
  const checkers = config.services[0]!.realServers[0]!.checkers;
  assert.deepEqual(checkers.map((c) => [c.type, c.bindPort]), [
    ['TCP_CHECK', 5000], ['HTTP_GET', 5001], ['SMTP_CHECK', 5002], ['UDP_CHECK', 5003], ['DNS_CHECK', 5004], ['PING_CHECK', undefined],
  ]);
  assert.equal(checkers[1]!.bindto, '1.2.3.1');
  assert.deepEqual(warnings.filter((w) => notDefault(w) && !w.includes('host block is deprecated')), ['k.conf:24: bind_port ignored: PING_CHECK has no source port']);
  assert.throws(() => parseKeepalived('virtual_server 1.2.3.4 80 {\n  real_server 1.2.3.5 80 {\n    TCP_CHECK {\n      bind_port 70000\n    }\n  }\n}\n', 'k.conf'),
    (e: Error) => e.message === 'k.conf:4: bind_port: invalid port "70000"');
});

test('$NAME parameters (keepalived 2.x): `$NAME=value` lines define them, `$NAME` and `${NAME}` take their value (read again), a trailing backslash goes on over lines; definitions in an included file count; errors name the line that used them', () => {
  // The tester's file: keepalived -t accepts it; uvsd said 'real_server: invalid IPv4 address "$RS2"'.
  const { config, warnings } = parseKeepalived(`$VIP=192.168.8.202
$RS1=192.168.8.21   # a comment goes
$RS2=\${NET}.22
$NET=192.168.8
$PORT=80
$RS=real_server \${NET}.30 $PORT { \\
  weight 3 \\
  inhibit_on_failure \\
}
virtual_server $VIP $PORT {
  real_server $RS1 80 {
  }
  real_server $RS2 80 {
    weight 2
  }
  real_server \${NET}.23 80 {
  }
  $RS
}
`, 'at.conf');
  assert.deepEqual(warnings.filter(notDefault), []);
  const vs = config.services[0]!;
  assert.deepEqual([vs.addr, vs.port], ['192.168.8.202', 80]);
  assert.deepEqual(vs.realServers.map((r) => [r.addr, r.weight, r.inhibitOnFailure, r.origin!.line]), [
    ['192.168.8.21', 1, false, 11], ['192.168.8.22', 2, false, 13], ['192.168.8.23', 1, false, 16], ['192.168.8.30', 3, true, 18],
  ]);
  // As keepalived: $NAME must end at a blank, ',', ')' or the line's end (${NAME} anywhere); an
  // undefined one is left as it is written; a redefinition applies from its line on.
  const bad = (text: string) => {
    try {
      parseKeepalived(text, 'at.conf');
    } catch (e) {
      return (e as Error).message;
    }
    return 'parsed';
  };
  assert.equal(bad('$A=1.2.3.4\nvirtual_server $A:80 80 {\n}\n'), 'at.conf:2: virtual_server: invalid IPv4 address "$A:80"');
  assert.equal(bad('virtual_server $B 80 {\n}\n'), 'at.conf:1: virtual_server: invalid IPv4 address "$B"');
  assert.equal(bad('$W=300\n$W=7\nvirtual_server 1.2.3.4 80 {\n  real_server 1.2.3.5 80 {\n    weight $W\n  }\n}\n'), 'parsed');
  // An error inside a multi-line value names the line that used it.
  assert.equal(bad('$RS=real_server 1.2.3.5 80 { \\\n  weight -1 \\\n}\nvirtual_server 1.2.3.4 80 {\n  $RS\n}\n'), 'at.conf:5: weight: "-1" is not an integer 0..2147483647');
  // A multi-line value is used only at the end of a line (keepalived leaves it otherwise).
  assert.deepEqual(parseKeepalived('$RS=real_server 1.2.3.5 80 { \\\n}\nvirtual_server 1.2.3.4 80 {\n  $RS weight\n}\n', 'at.conf').warnings.filter(notDefault),
    ['at.conf:4: unsupported keyword "$RS" in virtual_server 1.2.3.4 80 ignored', 'at.conf:3: virtual_server 1.2.3.4 80 skipped: it has no real servers (keepalived ignores it too, sorry_server or not)']);
  assert.match(bad('$A=x $A\nvirtual_server $A 80 {\n}\n'), /^at\.conf:2: \$A: more than 1000 parameters replaced in one line \(a definition that uses itself\?\)$/);
  assert.equal(bad('~SEQ(N, 1, 3) virtual_server 10.0.0.$N 80 {\n}\n'), 'at.conf:1: ~SEQ is not supported: write the lines it would make');
  // keepalived's own: $_INSTANCE (the config id) and $_PWD (the file's directory); braces where no blank follows, as `$_PWD/x` is no parameter.
  const own = parseKeepalived('virtual_server 1.2.3.4 80 {\n  real_server 1.2.3.5 80 {\n    MISC_CHECK {\n      misc_path "${_PWD}/check.sh ${_INSTANCE}"\n      user nobody\n    }\n  }\n}\n', '/etc/keepalived/k.conf', { configId: 'lb1', lookupUser: fakeUsers });
  const misc = own.config.services[0]!.realServers[0]!.checkers[0]!;
  assert.ok(misc.type === 'MISC_CHECK');
  assert.equal(misc.command, '/etc/keepalived/check.sh lb1');

  const dir = mkdtempSync(join(tmpdir(), 'uvs-kparam-'));
  try {
    writeFileSync(join(dir, 'vars.conf'), '$VIP=10.9.9.9\n$BAD=10.9.9.300\n');
    writeFileSync(join(dir, 'keepalived.conf'), 'include vars.conf\nvirtual_server $VIP 443 {\n  real_server $BAD 443 {\n  }\n}\n');
    assert.throws(() => loadKeepalivedFile(join(dir, 'keepalived.conf')), (e: Error) => e.message === `${join(dir, 'keepalived.conf')}:3: real_server: invalid IPv4 address "10.9.9.300"`);
    writeFileSync(join(dir, 'keepalived.conf'), 'include vars.conf\nvirtual_server $VIP 443 {\n  real_server 10.9.9.10 443 {\n  }\n}\n');
    assert.equal(loadKeepalivedFile(join(dir, 'keepalived.conf')).config.services[0]!.addr, '10.9.9.9');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('@ID and @^ID lines (keepalived 2.x): used only where the config id is (is not) ID; the id is --keepalived-config-id, by default the host name up to its first dot', () => {
  const conf = 'virtual_server 1.2.3.4 80 {\n  @lb1 real_server 1.2.3.5 80 {\n  @lb1 }\n  @^lb1 real_server 1.2.3.6 80 {\n  @^lb1 }\n  @lb2 sorry_server 1.2.3.9 80\n  @lb1\n}\n';
  const servers = (configId?: string) => {
    const vs = parseKeepalived(conf, 'k.conf', configId === undefined ? {} : { configId }).config.services[0]!;
    return [...vs.realServers.map((r) => r.addr), vs.sorryServer?.addr];
  };
  assert.deepEqual(servers('lb1'), ['1.2.3.5', undefined]);
  assert.deepEqual(servers('lb2'), ['1.2.3.6', '1.2.3.9']);
  assert.equal(defaultConfigId(), hostname().split('.')[0]);
  assert.deepEqual(servers(), servers(defaultConfigId()));
  // A definition may be for one director only; a value may make an @ line.
  const vs = parseKeepalived('@lb1 $W=5\n@^lb1 $W=6\n$ONLY1=@lb1 quorum 2\nvirtual_server 1.2.3.4 80 {\n  $ONLY1\n  real_server 1.2.3.5 80 {\n    weight $W\n  }\n}\n', 'k.conf', { configId: 'lb1' }).config.services[0]!;
  assert.deepEqual([vs.realServers[0]!.weight, vs.quorum], [5, 2]);
});

test('MISC_CHECK user USER [GROUP]: the script runs with that uid and gid; an unknown user or group is an error at its line; without one, global_defs\' script_user, else keepalived_script, else root with one warning', async () => {
  const rs = (check: string, top = '') => `${top}virtual_server 1.2.3.4 80 {\n  real_server 1.2.3.5 80 {\n    MISC_CHECK {\n      misc_path /bin/true\n${check}    }\n  }\n}\n`;
  const userOf = (text: string, lookupUser: typeof fakeUsers = fakeUsers) => {
    const r = parseKeepalived(text, 'k.conf', { lookupUser });
    const c = r.config.services[0]!.realServers[0]!.checkers[0]!;
    assert.ok(c.type === 'MISC_CHECK');
    return [c.user, r.warnings.filter(notDefault)];
  };
  assert.deepEqual(userOf(rs('      user nobody\n')), [{ name: 'nobody', uid: 65534, gid: 65534 }, []]);
  assert.deepEqual(userOf(rs('      user nobody nogroup\n')), [{ name: 'nobody', group: 'nogroup', uid: 65534, gid: 65533 }, []]);
  assert.throws(() => parseKeepalived(rs('      user nobodyx\n'), 'k.conf', { lookupUser: fakeUsers }), (e: Error) => e.message === 'k.conf:5: user: no user "nobodyx" in /etc/passwd');
  assert.throws(() => parseKeepalived(rs('      user nobody nogroupx\n'), 'k.conf', { lookupUser: fakeUsers }), (e: Error) => e.message === 'k.conf:5: user: no group "nogroupx" in /etc/group');
  assert.throws(() => parseKeepalived(rs('      user\n'), 'k.conf', { lookupUser: fakeUsers }), /^KeepalivedError: k\.conf:5: user: expected 1\.\.2 arguments, got 0$/);
  // The default: global_defs' script_user (wherever the block is), then keepalived_script.
  assert.deepEqual(userOf(rs('', 'global_defs {\n  router_id lb1\n  script_user nobody nogroup\n}\n')), [{ name: 'nobody', group: 'nogroup', uid: 65534, gid: 65533 },
    ['k.conf:1: global_defs ignored (not a virtual_server); skipped: router_id']]);
  assert.deepEqual(userOf(rs('      user nobody\n', 'global_defs {\n  script_user nobody nogroup\n}\n'))[0], { name: 'nobody', uid: 65534, gid: 65534 }, 'the checker\'s own wins');
  assert.throws(() => parseKeepalived(rs('', 'global_defs {\n  script_user ghost\n}\n'), 'k.conf', { lookupUser: fakeUsers }), (e: Error) => e.message === 'k.conf:2: script_user: no user "ghost" in /etc/passwd');
  const withScriptUser = (u: string, g?: string) => (u === 'keepalived_script' ? { name: u, uid: 990, gid: 990 } : fakeUsers(u, g));
  assert.deepEqual(userOf(rs(''), withScriptUser), [{ name: 'keepalived_script', uid: 990, gid: 990 }, []]);
  assert.deepEqual(userOf(rs('')), [undefined,
    ['k.conf:3: scripts without a user run as root (uvsd\'s user): global_defs has no script_user and there is no keepalived_script user']]);

  // The names come from /etc/passwd and /etc/group (here: files of the test's own).
  const dir = mkdtempSync(join(tmpdir(), 'uvs-kuser-'));
  try {
    const db = { passwd: join(dir, 'passwd'), group: join(dir, 'group') };
    writeFileSync(db.passwd, 'root:x:0:0:root:/root:/bin/bash\nweb:x:1001:1002::/home/web:/bin/sh\n');
    writeFileSync(db.group, 'root:x:0:\nwww:x:33:web\n');
    assert.deepEqual(lookupScriptUser('web', undefined, db), { name: 'web', uid: 1001, gid: 1002 });
    assert.deepEqual(lookupScriptUser('web', 'www', db), { name: 'web', group: 'www', uid: 1001, gid: 33 });
    assert.equal(lookupScriptUser('www', undefined, db), `no user "www" in ${db.passwd}`);
    assert.equal(lookupScriptUser('web', 'wheel', db), `no group "wheel" in ${db.group}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // The script runs as that user (the tests run as root: uvsd's user).
  if (process.getuid?.() === 0) {
    const asNobody = "/bin/sh -c 'test $(id -u) = 65534 && test $(id -g) = 65533 && test \"$(id -G)\" = 65533'";
    assert.equal((await runCommand(asNobody, 5000, { uid: 65534, gid: 65533 })).code, 0);
    assert.equal((await runCommand(asNobody, 5000)).code, 1, 'without a user: uvsd\'s');
    assert.deepEqual(await checkMisc({ command: asNobody, timeoutMs: 5000, dynamic: false, user: { name: 'nobody', uid: 65534, gid: 65533 } }), { ok: true, reason: 'exit 0' });
  }
});

test('notify_up, notify_down, quorum_up, quorum_down LINE [USER [GROUP]]: run as that user, else as global_defs\' script_user, else keepalived_script, else root with the one warning; an unknown name is an error at its line; uvsd runs them so', async () => {
  const conf = (vsLines: string, rsLines: string, top = '') => `${top}virtual_server 1.2.3.4 80 {\n${vsLines}  real_server 1.2.3.5 80 {\n${rsLines}  }\n}\n`;
  const scripts = (text: string, lookupUser: typeof fakeUsers = fakeUsers) => {
    const r = parseKeepalived(text, 'k.conf', { lookupUser });
    const vs = r.config.services[0]!;
    const rs = vs.realServers[0]!;
    return [[vs.quorumUp, vs.quorumDown, rs.notifyUp, rs.notifyDown], r.warnings.filter(notDefault)];
  };
  const nobody = { name: 'nobody', uid: 65534, gid: 65534 };
  const nobodyNogroup = { name: 'nobody', group: 'nogroup', uid: 65534, gid: 65533 };
  // Its own user (the words after the command line), else global_defs' script_user.
  assert.deepEqual(scripts(conf('  quorum_up "/bin/q up" nobody\n  quorum_down /bin/q\n', '    notify_up /bin/n nobody\n    notify_down "/bin/n down"\n', 'global_defs {\n  script_user nobody nogroup\n}\n')), [[
    { command: '/bin/q up', user: nobody }, { command: '/bin/q', user: nobodyNogroup }, { command: '/bin/n', user: nobody }, { command: '/bin/n down', user: nobodyNogroup },
  ], []]);
  const withScriptUser = (u: string, g?: string) => (u === 'keepalived_script' ? { name: u, uid: 990, gid: 990 } : fakeUsers(u, g));
  assert.deepEqual(scripts(conf('  quorum_up /bin/q\n', ''), withScriptUser), [[{ command: '/bin/q', user: { name: 'keepalived_script', uid: 990, gid: 990 } }, undefined, undefined, undefined], []]);
  // None: root, warned once, at the first script that runs so (here a notify line before the MISC_CHECK).
  assert.deepEqual(scripts(conf('  quorum_down /bin/q nobody nogroup\n', '    notify_up /bin/n\n    MISC_CHECK {\n      misc_path /bin/true\n    }\n    notify_down /bin/n\n')), [
    [undefined, { command: '/bin/q', user: nobodyNogroup }, { command: '/bin/n' }, { command: '/bin/n' }],
    ['k.conf:4: scripts without a user run as root (uvsd\'s user): global_defs has no script_user and there is no keepalived_script user'],
  ]);
  const refused = (text: string) => {
    try {
      scripts(text);
    } catch (e) {
      return (e as Error).message;
    }
    return 'parsed';
  };
  assert.equal(refused(conf('  quorum_up /bin/q nobodyx\n', '')), 'k.conf:2: quorum_up: no user "nobodyx" in /etc/passwd');
  assert.equal(refused(conf('', '    notify_down /bin/n nobody nogroupx\n')), 'k.conf:3: notify_down: no group "nogroupx" in /etc/group');
  assert.equal(refused(conf('', '    notify_up /bin/n nobody nogroup x\n')), 'k.conf:3: notify_up: expected 1..3 arguments, got 4');

  // uvsd runs them (runNotifyScript, its HealthDeps.exec) with that uid and gid (the tests run as root: uvsd's user).
  if (process.getuid?.() === 0) {
    const u = lookupScriptUser('nobody');
    assert.ok(typeof u !== 'string', u as string);
    const idIs = `/bin/sh -c 'test $(id -u) = ${u.uid} && test $(id -g) = ${u.gid}'`;
    const hostUsers = (name: string, group?: string) => (name === 'keepalived_script' ? 'not here' : lookupScriptUser(name, group));
    const vs = parseKeepalived(conf(`  quorum_up "${idIs}" nobody\n  quorum_down "${idIs}"\n`, ''), 'k.conf', { lookupUser: hostUsers }).config.services[0]!;
    const warned: object[] = [];
    const log = { warn: (obj: object) => warned.push(obj) };
    await runNotifyScript(vs.quorumUp!, 5000, log);
    assert.deepEqual(warned, [], 'quorum_up ran as nobody');
    await runNotifyScript(vs.quorumDown!, 5000, log);
    assert.deepEqual(warned, [{ command: idIs, code: 1, problem: undefined }], 'quorum_down, without a user, ran as root');
  }
});

test('quorum above the real servers\' total weight is lowered to it with a warning, as keepalived does (kept as written until 2026-12-04: the real servers never served, only the sorry server); hysteresis not below the quorum is set to quorum - 1', () => {
  const conf = (extra: string) => `virtual_server 1.2.3.4 80 {\n  protocol TCP\n  lb_kind DR\n  sorry_server 1.2.3.9 80\n${extra}  real_server 1.2.3.5 80 {\n  }\n  real_server 1.2.3.6 80 {\n  }\n}\n`;
  const q3 = parseKeepalived(conf('  quorum 3\n'), 'k.conf');
  assert.deepEqual([q3.config.services[0]!.quorum, q3.config.services[0]!.hysteresis, q3.warnings.filter(notDefault)], [2, 0, [
    'k.conf:5: quorum 3 is above the total weight of virtual_server 1.2.3.4 80\'s real servers (2): lowered to 2, as keepalived does',
  ]]);
  const h = parseKeepalived(conf('  quorum 5\n  hysteresis 5\n'), 'k.conf');
  assert.deepEqual([h.config.services[0]!.quorum, h.config.services[0]!.hysteresis, h.warnings.filter(notDefault)], [2, 1, [
    'k.conf:5: quorum 5 is above the total weight of virtual_server 1.2.3.4 80\'s real servers (2): lowered to 2, as keepalived does',
    'k.conf:1: virtual_server 1.2.3.4 80: hysteresis 5 is not below quorum 2: set to 1, as keepalived does',
  ]]);
  // Weights count (the virtual server's `weight` too); a quorum they reach is kept.
  const ok = parseKeepalived(conf('  quorum 3\n  weight 2\n'), 'k.conf');
  assert.deepEqual([ok.config.services[0]!.quorum, ok.warnings.filter(notDefault)], [3, []]);
});

test('no protocol is UDP and no lb_kind NAT, with keepalived\'s warnings (uvs took TCP and DR, silently, until 2026-12-04); a fwmark service has no protocol to say; servers with their own lvs_method need no lb_kind; no lb_algo is wlc with keepalived\'s warning (silent until 2026-12-05)', () => {
  const { config, warnings } = parseKeepalived('virtual_server 1.2.3.4 53 {\n  real_server 1.2.3.5 53 {\n  }\n}\nvirtual_server fwmark 3 {\n  real_server 1.2.3.5 {\n    lvs_method DR\n  }\n}\n', 'k.conf');
  assert.deepEqual(config.services.map((s) => [s.proto, s.fwd, s.realServers[0]!.fwd]), [['udp', 'nat', undefined], ['tcp', 'nat', 'dr']]);
  assert.deepEqual(config.services.map((s) => s.sched), ['wlc', 'wlc']);
  assert.deepEqual(warnings, [
    'k.conf:1: virtual_server 1.2.3.4 53 has no lb_algo: wlc, keepalived\'s default',
    'k.conf:1: virtual_server 1.2.3.4 53 has no protocol: UDP, keepalived\'s default',
    'k.conf:1: virtual_server 1.2.3.4 53 has no lb_kind: NAT, keepalived\'s default',
    'k.conf:5: virtual_server fwmark 3 has no lb_algo: wlc, keepalived\'s default',
  ]);
  // One with lb_algo (or lvs_sched) says nothing of it.
  assert.deepEqual(parseKeepalived('virtual_server 1.2.3.4 80 {\n  protocol TCP\n  lb_kind DR\n  lvs_sched rr\n  real_server 1.2.3.5 80 {\n  }\n}\n', 'k.conf').warnings, []);
});

test('virtual_server weight N is the weight of its real servers without their own; real_server and checker alpha [on|off] (keepalived 2.x) say which servers start failed (the checker\'s, else its server\'s, else the virtual server\'s alpha); before 2026-12-04 both were "unsupported keyword"', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 80 {
  protocol TCP
  lb_kind DR
  weight 5
  alpha
  real_server 1.2.3.5 80 {
    TCP_CHECK { }
  }
  real_server 1.2.3.6 80 {
    weight 2
    alpha off
    TCP_CHECK { }
  }
  real_server 1.2.3.7 80 {
    alpha no
    TCP_CHECK { alpha }
    TCP_CHECK { connect_port 81 }
  }
  real_server 1.2.3.8 80 {
    TCP_CHECK { alpha false }
    FILE_CHECK { track_file f }
  }
  real_server 1.2.3.9 80 {
    alpha maybe
    TCP_CHECK { }
  }
}
track_file f {
  file /run/f
}
`, 'k.conf');
  assert.deepEqual(config.services[0]!.realServers.map((r) => [r.addr, r.weight, r.alpha]), [
    ['1.2.3.5', 5, undefined], ['1.2.3.6', 2, false], ['1.2.3.7', 5, undefined], ['1.2.3.8', 5, false], ['1.2.3.9', 5, undefined],
  ]);
  assert.deepEqual(warnings.filter(notDefault), ['k.conf:24: alpha "maybe" ignored: not on/off, true/false or yes/no (keepalived: "Invalid alpha parameter")']);
  assert.throws(() => parseKeepalived('virtual_server 1.2.3.4 80 {\n  weight 0\n}\n', 'k.conf'), /^KeepalivedError: k\.conf:2: weight: "0" is not an integer 1\.\.2147483647$/);
});

test('what keepalived accepts with a warning is imported so, no longer refusing the whole file (until 2026-12-04): port 0 without persistence, an unknown lb_algo or lb_kind word (lower case too), a real_server twice, IPv6 virtual, real and sorry servers and group entries (skipped: uvs is IPv4-only)', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 0 {
  protocol TCP
  lb_kind DR
  lb_algo foo
  real_server 1.2.3.5 8080 {
  }
  real_server 1.2.3.5 8080 {
  }
  real_server fd00::5 80 {
  }
  sorry_server fd00::9 80
}
virtual_server 1.2.3.4 80 {
  protocol TCP
  lb_kind dr
  real_server 1.2.3.5 80 {
  }
}
virtual_server fd00::1 80 {
  real_server fd00::5 80 {
  }
}
virtual_server_group g {
  fd00::1 80
  1.2.3.4 81
}
virtual_server group g {
  protocol TCP
  lb_kind NAT
  real_server 1.2.3.5 81 {
  }
}
`, 'k.conf');
  assert.deepEqual(config.services.map((s) => `${s.addr}:${s.port} ${s.sched} ${s.fwd} p${s.persistence} ${s.sorryServer?.addr ?? '-'} ${s.realServers.map((r) => `${r.addr}:${r.port}`).join(',')}`), [
    '1.2.3.4:0 wlc dr p360 - 1.2.3.5:0', '1.2.3.4:80 wlc nat p0 - 1.2.3.5:80', '1.2.3.4:81 wlc nat p0 - 1.2.3.5:81',
  ]);
  assert.deepEqual(warnings.filter((w) => !w.includes(' has no lb_algo: ')), [
    'k.conf:24: virtual_server_group g: fd00::1 skipped: uvs does not support IPv6',
    `k.conf:4: lb_algo "foo" ignored: no such scheduler (${schedulerNames().join(', ')}); virtual_server 1.2.3.4 0 keeps the scheduler it runs with (new: wlc)`,
    'k.conf:11: sorry_server fd00::9 ignored: uvs does not support IPv6',
    'k.conf:5: real_server 1.2.3.5 8080: a DR server takes the virtual port: port set to 0, as keepalived does',
    'k.conf:7: real_server 1.2.3.5 8080: a DR server takes the virtual port: port set to 0, as keepalived does',
    'k.conf:7: real_server 1.2.3.5 0 is already in virtual_server 1.2.3.4 0: this one is dropped, as keepalived does ("is duplicated - removing second rs")',
    'k.conf:9: real_server fd00::5 skipped: uvs does not support IPv6',
    'k.conf:1: virtual_server 1.2.3.4 0: port 0 needs persistence: persistence_timeout 360, as keepalived sets it',
    'k.conf:15: lb_kind "dr" ignored: not NAT, DR, TUN or FNAT, so keepalived keeps the method it had (without one, NAT); keepalived reads only capitals: write DR',
    'k.conf:13: virtual_server 1.2.3.4 80 has no lb_kind: NAT, keepalived\'s default',
    'k.conf:19: virtual_server fd00::1 80 skipped: uvs does not support IPv6',
  ]);
});

test('an IPv6 connect_ip or bindto in a checker of an IPv4 real_server (keepalived 2.2.7 takes both) is skipped with a warning, no longer refusing the whole file: the checker with an IPv6 connect_ip is left out (keepalived checks that address over IPv6), an IPv6 bindto is ignored as keepalived ignores it', () => {
  const { config, warnings } = parseKeepalived(`virtual_server 1.2.3.4 80 {
  protocol TCP
  lb_kind DR
  real_server 1.2.3.5 80 {
    TCP_CHECK {
      connect_ip 2001:db8::20
    }
  }
  real_server 1.2.3.6 80 {
    TCP_CHECK {
      bindto 2001:db8::9
    }
    HTTP_GET {
      connect_ip 2001:db8::21
      bindto 2001:db8::9
      url { path / }
    }
    SMTP_CHECK {
      host { connect_ip 2001:db8::22 }
      host { connect_ip 1.2.3.9 }
    }
    MISC_CHECK {
      misc_path /bin/true
      connect_ip 2001:db8::23
    }
  }
}
`, 'k.conf');
  const rs = config.services[0]!.realServers;
  assert.deepEqual(rs.map((r) => [r.addr, r.checkers.map((c) => `${c.type} ${c.connectIp ?? '-'} ${c.bindto ?? '-'}`)]), [
    ['1.2.3.5', []],
    ['1.2.3.6', ['TCP_CHECK - -', 'SMTP_CHECK 1.2.3.9 -', 'MISC_CHECK - -']],
  ]);
  assert.deepEqual(warnings.filter((w) => notDefault(w) && !w.includes('scripts without a user') && !w.includes('host block is deprecated')), [
    'k.conf:6: TCP_CHECK skipped: connect_ip 2001:db8::20 is IPv6 and uvs does not support IPv6 (keepalived checks that address); real_server 1.2.3.5 80 has no other checker: it stays in, unchecked',
    'k.conf:11: bindto 2001:db8::9 ignored: it is IPv6 and the check goes to an IPv4 address (keepalived: "does not match address family of connect_ip - skipping")',
    'k.conf:15: bindto 2001:db8::9 ignored: it is IPv6 and the check goes to an IPv4 address (keepalived: "does not match address family of connect_ip - skipping")',
    'k.conf:24: unsupported keyword "connect_ip" in MISC_CHECK ignored',
    'k.conf:14: HTTP_GET skipped: connect_ip 2001:db8::21 is IPv6 and uvs does not support IPv6 (keepalived checks that address); real_server 1.2.3.6 80 is checked by its other checkers',
    'k.conf:19: SMTP_CHECK skipped: connect_ip 2001:db8::22 is IPv6 and uvs does not support IPv6 (keepalived checks that address); real_server 1.2.3.6 80 is checked by its other checkers',
  ]);
});

test('a virtual_server without real servers is skipped with a warning, also with a sorry_server, as keepalived ignores it (uvs created it, and answered ARP for its VIP, until 2026-12-04)', () => {
  const { config, warnings } = parseKeepalived('virtual_server 1.2.3.4 80 {\n  protocol TCP\n  sorry_server 1.2.3.9 80\n}\nvirtual_server 1.2.3.4 81 {\n  protocol TCP\n  real_server fd00::5 81 {\n  }\n}\n', 'k.conf');
  assert.deepEqual(config.services, []);
  assert.deepEqual(warnings, [
    'k.conf:1: virtual_server 1.2.3.4 80 skipped: it has no real servers (keepalived ignores it too, sorry_server or not)',
    'k.conf:7: real_server fd00::5 skipped: uvs does not support IPv6',
    'k.conf:5: virtual_server 1.2.3.4 81 skipped: it has no real servers (keepalived ignores it too, sorry_server or not)',
  ]);
});

test('global_defs enable_script_security as keepalived\'s: a MISC_CHECK, notify or quorum command that runs as root and that another user could change (the file or a directory on its path writable by others, or not owned by root), or that has no user to run as, is refused at load with its line and left out; a script run as another user is not judged; without it, one SECURITY VIOLATION warning (before: "skipped: enable_script_security", and the script ran as root)', { skip: process.getuid?.() !== 0 ? 'needs root: the files must be root\'s' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-ksec-'));
  try {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const check = join(open, 'check.sh');
    writeFileSync(check, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const conf = join(dir, 'k.conf');
    /** The file's quorum_up, notify_up and MISC_CHECK (line 9, 11, 13 with its misc_path), and its warnings. */
    const load = (g1: string, g2: string, prog = check, miscUser = '') => {
      writeFileSync(conf, `global_defs {\n  ${g1}\n  ${g2}\n}\nvirtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_kind DR\n  lb_algo rr\n  quorum_up ${prog}\n` +
        `  real_server 10.0.0.2 80 {\n    notify_up /bin/true\n    MISC_CHECK {\n      misc_path ${prog}\n      ${miscUser}\n    }\n  }\n}\n`);
      const r = loadKeepalivedFile(conf);
      const vs = r.config.services[0]!;
      const rs = vs.realServers[0]!;
      return { quorumUp: vs.quorumUp, notifyUp: rs.notifyUp, misc: rs.checkers.map((c) => (c.type === 'MISC_CHECK' ? c.user?.name ?? 'uvsd' : c.type)), warnings: r.warnings };
    };
    const root = { name: 'root', uid: 0, gid: 0 };
    const refused = (line: number, key: string, prog: string, why: string) => `${conf}:${line}: ${key} ${prog} refused (enable_script_security): ${why}; ` +
      (key === 'misc_path' ? 'the MISC_CHECK is left out, as keepalived disables it (its real_server goes by its other checkers)' : 'it is not run (keepalived drops it too)');
    const openWhy = `it runs as root and ${open} is writable by everyone (mode 0777)`;
    assert.deepEqual(load('enable_script_security', 'script_user root'), {
      quorumUp: undefined, notifyUp: { command: '/bin/true', user: root }, misc: [],
      warnings: [refused(9, 'quorum_up', check, openWhy), refused(13, 'misc_path', check, openWhy)],
    });
    // A script run as another user (here nobody) cannot be used to gain root's: not judged, as in keepalived.
    assert.deepEqual(load('enable_script_security', 'script_user root', check, 'user nobody').misc, ['nobody']);
    // No user to run as (no script_user, no keepalived_script user on this host): keepalived refuses every script without its own.
    if (typeof lookupScriptUser('keepalived_script') === 'string') {
      const noUser = 'no user to run it as: global_defs has no script_user and there is no keepalived_script user (keepalived refuses it too)';
      assert.deepEqual(load('enable_script_security', 'router_id lb1', check, 'user nobody'), {
        quorumUp: undefined, notifyUp: undefined, misc: ['nobody'],
        warnings: [`${conf}:1: global_defs ignored (not a virtual_server); skipped: router_id`, refused(9, 'quorum_up', check, noUser), refused(11, 'notify_up', '/bin/true', noUser)],
      });
    }
    // The file itself, a directory owned by another user, a group's write: each refuses.
    chmodSync(open, 0o755);
    chmodSync(check, 0o757);
    assert.equal(load('enable_script_security', 'script_user root').warnings[0], refused(9, 'quorum_up', check, `it runs as root and ${check} is writable by everyone (mode 0757)`));
    chmodSync(check, 0o755);
    chownSync(open, 65534, 0);
    assert.equal(load('enable_script_security', 'script_user root').warnings[0], refused(9, 'quorum_up', check, `it runs as root and ${open} is owned by uid 65534, not root`));
    chownSync(open, 0, 65534);
    chmodSync(open, 0o775);
    assert.equal(load('enable_script_security', 'script_user root').warnings[0], refused(9, 'quorum_up', check, `it runs as root and ${open} is writable by group 65534 (mode 0775)`));
    // Through a link in a safe directory to the unsafe one: the real path is judged too.
    const safe = join(dir, 'safe');
    mkdirSync(safe, { mode: 0o755 });
    symlinkSync(check, join(safe, 'check.sh'));
    assert.equal(load('enable_script_security', 'script_user root', join(safe, 'check.sh')).warnings[0],
      refused(9, 'quorum_up', join(safe, 'check.sh'), `it runs as root and ${open} is writable by group 65534 (mode 0775)`));
    // Root's own files all the way (/tmp is sticky): run.
    chmodSync(open, 0o755);
    chownSync(open, 0, 0);
    assert.deepEqual(load('enable_script_security', 'script_user root'), { quorumUp: { command: check, user: root }, notifyUp: { command: '/bin/true', user: root }, misc: ['root'], warnings: [] });
    // Without enable_script_security: run, and keepalived's warning once.
    chmodSync(open, 0o777);
    assert.deepEqual(load('router_id lb1', 'script_user root'), {
      quorumUp: { command: check, user: root }, notifyUp: { command: '/bin/true', user: root }, misc: ['root'],
      warnings: [`${conf}:1: global_defs ignored (not a virtual_server); skipped: router_id`,
        `${conf}:9: SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts (keepalived's warning; 2, the first here: ${check}: ${open} is writable by everyone (mode 0777)): add enable_script_security to global_defs to refuse them`],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
