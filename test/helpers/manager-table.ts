// A large table whose health checks are a HealthManager's (src/health/manager.ts), in process (no
// uvsd): what the /status.json allocation test (status-health-alloc-child.ts) and
// bench/status-scrapes.ts --manager write. `services` TCP services of `servers` DR servers, each
// server watched by one TCP_CHECK that never runs (a day's delay_loop), each service with a sorry
// server; every 5th service starts with its servers failed (alpha): its quorum lost, its sorry
// server in the table. The addresses are past 2^30 as int32 (services 172.16.0.0/12, servers and
// sorry servers 100.64.0.0/10), the servers' counters past 2^32: numbers a call not inlined boxes.
import { rig, type Rig } from './harness.js';
import { HealthManager } from '../../src/health/manager.js';
import type { CheckSpec, VirtualServerSpec } from '../../src/health/types.js';
import { formatIp } from '../../src/datapath/addr.js';

const DAY = 86_400_000;

export async function managerTable(services: number, servers: number): Promise<{ r: Rig; mgr: HealthManager }> {
  const checker = { type: 'TCP_CHECK', connectTimeoutMs: 1000, delayLoopMs: DAY, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1 } as CheckSpec;
  const r = rig({ addrs: ['100.64.0.1/10'], destMax: (servers + 1) * services + 8 });
  const specs: VirtualServerSpec[] = Array.from({ length: services }, (_, i) => ({
    proto: 'tcp', addr: formatIp(0xac100000 + i), port: 80, sched: 'rr', fwd: 'dr', persistence: 0, delayLoopMs: DAY, quorum: 1, hysteresis: 0,
    alpha: i % 5 === 0, omega: false,
    sorryServer: { addr: formatIp(0x64600000 + i), port: 80 },
    realServers: Array.from({ length: servers }, (_, j) => ({ addr: formatIp(0x64400010 + i * servers + j), port: 80, weight: 1, inhibitOnFailure: false, checkers: [checker] })),
  }));
  const mgr = new HealthManager({ services: specs }, {
    call: (verb, args) => r.ctl.call(verb, args),
    run: () => new Promise(() => {}),
    exec: () => Promise.resolve(),
    log: { info: () => {}, warn: () => {} },
  });
  await mgr.start();
  const dt = r.dp.dt;
  for (const s of r.dp.services) {
    for (const d of s?.dests ?? []) {
      dt.conns[d] = 3e9 + d;
      dt.inPkts[d] = 1e10 + d;
      dt.inBytes[d] = 2 ** 40 + 3 * d;
      dt.outPkts[d] = 7e9 + d;
      dt.outBytes[d] = 2 ** 45 + d;
    }
  }
  return { r, mgr };
}
