// uvsd --metrics ADDR:PORT, parsed apart from the metrics server (src/metrics/server.ts), so that
// checking the option (command line, config file) does not load prom-client: uvsd imports the
// server only when it serves metrics.

import { formatIp, parseIp } from '../datapath/addr.js';

export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** "a.b.c.d:port" or ":port"/"port" (127.0.0.1) → host and port; throws with the offending text. */
export function parseListen(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  const hostText = colon < 0 ? '' : text.slice(0, colon);
  const portText = colon < 0 ? text : text.slice(colon + 1);
  const ip = hostText === '' ? parseIp(DEFAULT_METRICS_HOST) : parseIp(hostText);
  if (ip < 0) throw new Error(`invalid --metrics address "${text}" (expected a.b.c.d:port, e.g. 127.0.0.1:9478)`);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new Error(`invalid --metrics port in "${text}" (expected a.b.c.d:port with port 0..65535)`);
  }
  return { host: formatIp(ip), port };
}
