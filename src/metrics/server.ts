// uvsd --metrics ADDR:PORT: one HTTP listener serving /metrics (Prometheus text format),
// /status.json and the status page at /. Timers here (rate estimates every 2 s, the
// connection-state census every 250 ms) run beside the datapath, never inside it.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Datapath } from '../datapath/pipeline.js';
import { createMetrics, type MetricsOptions } from './collectors.js';
import { STATUS_PAGE } from './page.js';
import { EST_INTERVAL_MS, RateEstimator } from './rates.js';
import { statusJson } from './status.js';

const CENSUS_MS = 250;

export interface MetricsServer {
  server: http.Server;
  /** The address actually bound ("127.0.0.1:9478"; port 0 picks a free one). */
  address: string;
  close(): void;
}

export async function startMetricsServer(dp: Datapath, listen: { host: string; port: number }, opts: MetricsOptions = {}): Promise<MetricsServer> {
  const metrics = createMetrics(dp, opts);
  const { registry, census } = metrics;
  const pull = opts.pull ?? (() => {});
  pull();
  const rates = new RateEstimator(dp, opts.portDrops);
  rates.sample(performance.now());
  census.full();
  const timers = [
    setInterval(() => {
      pull();
      rates.sample(performance.now());
    }, EST_INTERVAL_MS),
    setInterval(() => census.step(), CENSUS_MS),
  ];
  for (const t of timers) t.unref();

  const server = http.createServer((req, res) => {
    res.on('error', () => {}); // a client that went away
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    pull();
    if (path === '/metrics') {
      metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
    } else if (path === '/status.json') {
      let body: string;
      try {
        body = JSON.stringify(statusJson(dp, rates, opts));
      } catch (err) {
        // A bug here must cost a 500, never the daemon (an exception in a request handler is uncaught).
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`status failed: ${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STATUS_PAGE);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /, /metrics or /status.json\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    address: `${a.address}:${a.port}`,
    close() {
      for (const t of timers) clearInterval(t);
      server.close();
    },
  };
}
