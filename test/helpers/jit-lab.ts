// The datapath the JIT warm-up is judged on (test/helpers/deopt-child.ts, bench/warmup-micro.ts):
// a DR UDP service (wrr, two servers) and a NAT TCP service (lc) on 192.168.8.0/24 and
// 10.8.1.0/24, neighbours known, and 64 steady DR UDP flows to optimise it on.
import { Datapath, RX_HEADROOM } from '../../src/datapath/pipeline.js';
import { Control } from '../../src/control/model.js';
import { parseMac, parseIp, prefixMask } from '../../src/datapath/addr.js';
import { udpFrame } from './frames.js';
import { CountSink } from './alloc.js';

export const B = 64;
export const S = 2048;
export const DIR = '02:00:00:00:00:01';
export const CLI = '02:00:00:00:00:fe';
/** The NAT server's MAC (10.8.1.20). */
export const RS_NAT = '02:00:00:00:01:02';
export const VIP = '192.168.8.200';

export interface JitLab {
  dp: Datapath;
  /** Process one batch of the steady flows, frame 0 replaced by `extra`; returns its ns. */
  batch(extra: Buffer | null): number;
}

/** `clients`: addresses whose MAC the datapath knows (they get NAT replies). */
export function jitLab(clients: string[]): JitLab {
  const dp = new Datapath({ mac: parseMac(DIR), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }, { ip: parseIp('10.8.1.1'), mask: prefixMask(24) }], connMax: 1 << 16 }, new CountSink());
  const ctl = new Control(dp, { tap: 't' });
  ctl.addService({ proto: 'udp', addr: VIP, port: 80, sched: 'wrr' });
  for (const rs of ['192.168.8.20', '192.168.8.30']) ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 80 }, addr: rs, port: 80, fwd: 'dr', weight: 1 });
  ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'lc' });
  ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: '10.8.1.20', port: 80, fwd: 'nat', weight: 1 });
  ctl.addService({ proto: 'sctp', addr: VIP, port: 3868, sched: 'rr' });
  ctl.addDest({ service: { proto: 'sctp', addr: VIP, port: 3868 }, addr: '10.8.1.20', port: 3868, fwd: 'nat', weight: 1 });
  for (const [i, ip] of ['192.168.8.20', '192.168.8.30', '10.8.1.20', ...clients].entries()) {
    dp.neigh.learn(dp.neigh.obtain(parseIp(ip), 0), parseMac(`02:00:00:00:01:0${i}`), 0, performance.now());
  }
  const buf = Buffer.alloc(RX_HEADROOM + S * B);
  const lens = new Uint32Array(B);
  const clock = new Float64Array(2);
  const steady = Array.from({ length: B }, (_, i) =>
    udpFrame({ ethDst: DIR, ethSrc: CLI }, { src: '192.168.9.1', dst: VIP, sport: 10000 + i, dport: 80, payload: new Uint8Array(18) }));
  return {
    dp,
    batch(extra) {
      for (let i = 0; i < B; i++) {
        const f = i === 0 && extra !== null ? extra : steady[i]!;
        buf.set(f, RX_HEADROOM + i * S);
        lens[i] = f.length;
      }
      const t0 = process.hrtime.bigint();
      clock[0] = performance.now(); // as uvsd's port gives the batch's time (Port.rxClock)
      dp.processBatch(buf, S, lens, B, RX_HEADROOM, clock);
      return Number(process.hrtime.bigint() - t0);
    },
  };
}
