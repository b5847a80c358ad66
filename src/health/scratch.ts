// A HealthManager over a scratch table, for uvsd's /metrics warm-up at start (src/metrics/warmup.ts
// warmMetrics): a scrape walks the health checks through the view uvsd gives it (HealthManager's
// cursors, keys, quorums), so a warm-up through another view (plain objects) left the first real
// scrape's code without feedback for it: V8 deoptimised `gather` and `checkedNamesOf` there and
// compiled them again inside the scrape (docs/performance.md, 2026-12-06 16:45). Its services come
// from keepalived.conf text, as uvsd's do (parseKeepalived): checkers of four kinds (a server with
// two, one with none), sorry servers, quorums above one, alpha (servers starting failed), a -f
// service, UDP. No check ever runs (a day's delay_loop; stop() ends its timers) and nothing is
// sent; the table is the caller's scratch one. Documentation addresses (RFC 5737).

import { parseKeepalived } from './keepalived.js';
import { HealthManager } from './manager.js';

const DAY_S = 86_400;

/** keepalived.conf of `services` virtual servers of four real servers each (see the file's head). */
function scratchConf(services: number): string {
  const out: string[] = [];
  for (let i = 0; i < services; i++) {
    const fwm = i === services - 1;
    const udp = i % 7 === 3;
    out.push(`virtual_server ${fwm ? 'fwmark 7' : `192.0.2.${100 + i} ${udp ? 53 : 80}`} {`,
      `  delay_loop ${DAY_S}`, '  lb_algo wlc', `  lb_kind ${i % 2 === 0 ? 'DR' : 'NAT'}`, `  protocol ${udp ? 'UDP' : 'TCP'}`);
    if (i % 2 === 0) out.push(`  sorry_server 198.51.100.${200 + (i % 50)} 80`);
    if (i % 3 === 0) out.push('  quorum 2', '  hysteresis 1');
    if (i % 5 === 0) out.push('  alpha');
    for (let j = 0; j < 4; j++) {
      out.push(`  real_server 198.51.100.${10 + j + 4 * (i % 40)} ${udp ? 53 : 80} {`, `    weight ${1 + (j % 2)}`);
      if (j === 1) out.push('    inhibit_on_failure');
      const kind = (i + j) % 4;
      if (j === 3 && i % 4 === 1) {
        // unchecked: no checker
      } else if (udp) out.push('    UDP_CHECK {', '      payload 0102', '    }');
      else if (kind === 0) out.push('    TCP_CHECK {', '      connect_timeout 3', '    }');
      else if (kind === 1) out.push('    HTTP_GET {', '      url {', '        path /', '        status_code 200', '      }', '    }');
      else if (kind === 2) out.push('    PING_CHECK {', '    }');
      else out.push('    TCP_CHECK {', '    }', '    HTTP_GET {', '      url {', '        path /health', '      }', '    }');
      out.push('  }');
    }
    out.push('}');
  }
  return out.join('\n');
}

/**
 * A started HealthManager of `services` scratch virtual servers, its table put through `call` (a
 * scratch Control's); stop() ends it. Throws only on a bug (the scratch text refused).
 */
export async function scratchHealth(call: (verb: string, args: unknown) => unknown, services: number): Promise<{ view: HealthManager; stop(): Promise<void> }> {
  const { config } = parseKeepalived(scratchConf(services), 'uvsd-warm-up.conf', { configId: 'warm-up' });
  const mgr = new HealthManager(config, {
    call,
    run: () => new Promise(() => {}),
    exec: () => Promise.resolve(),
    log: { info: () => {}, warn: () => {} },
    random: () => 1,
    procStatus: () => '',
    openFiles: 1 << 20,
  });
  await mgr.start();
  return { view: mgr, stop: () => mgr.stop() };
}
