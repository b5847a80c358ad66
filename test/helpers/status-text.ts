// /status.json's services as the metrics server writes them (StatusWalk.write) next to the
// JSON.stringify of the objects statusWalk makes: the tests check the two texts are the same.
import { runSteps } from '../../src/control/slices.js';
import type { Datapath } from '../../src/datapath/pipeline.js';
import type { MetricsOptions } from '../../src/metrics/collectors.js';
import type { RateEstimator } from '../../src/metrics/rates.js';
import { statusWalk } from '../../src/metrics/status.js';
import { ByteOut } from '../../src/metrics/bytes.js';

type Src = Pick<MetricsOptions, 'health'>;

/** The services' text as written (the list's brackets around it), and as JSON.stringify of the objects. */
export function statusTexts(dp: Datapath, rates: RateEstimator, src: Src = {}): { written: string; objects: string } {
  const blocks: Buffer[] = [];
  const out = new ByteOut((b) => blocks.push(Buffer.from(b)));
  for (const _ of runSteps(statusWalk(dp, rates, src)).write(out));
  out.end();
  return { written: `[${Buffer.concat(blocks).toString()}]`, objects: JSON.stringify([...runSteps(statusWalk(dp, rates, src)).services]) };
}
