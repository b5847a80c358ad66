// HTTP_GET: every url must answer with an accepted status (default 2xx) and, when asked, a body
// whose MD5 equals `digest` (keepalived's genhash), that matches `regex` or contains a text.
// One connection per url, `Connection: close`; connect_timeout bounds each request as a whole.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { CheckResult, CheckTarget, HttpCheck, HttpUrl } from '../types.js';

/** Bodies larger than this fail the check instead of being buffered. */
const MAX_BODY = 16 << 20;

function statusOk(url: HttpUrl, status: number): boolean {
  if (url.status === undefined) return status >= 200 && status <= 299;
  return url.status.some(([lo, hi]) => status >= lo && status <= hi);
}

function getOnce(spec: Pick<HttpCheck, 'connectTimeoutMs' | 'bindto' | 'virtualhost'>, target: CheckTarget, url: HttpUrl): Promise<CheckResult> {
  const needBody = url.digest !== undefined || url.regex !== undefined || url.contains !== undefined;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const host = spec.virtualhost ?? (target.port === 80 ? target.ip : `${target.ip}:${target.port}`);
    const req = http.get(
      { host: target.ip, port: target.port, path: url.path, agent: false, localAddress: spec.bindto, headers: { Host: host, Connection: 'close', 'User-Agent': 'uvs-health' } },
      (res) => {
        const status = res.statusCode ?? 0;
        if (!statusOk(url, status)) {
          res.resume();
          finish({ ok: false, reason: `${url.path}: HTTP status ${status}` });
          return;
        }
        if (!needBody) {
          res.resume();
          finish({ ok: true, reason: `${url.path}: HTTP status ${status}` });
          return;
        }
        const md5 = createHash('md5');
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) {
            finish({ ok: false, reason: `${url.path}: body larger than ${MAX_BODY} bytes` });
            return;
          }
          md5.update(c);
          if (url.regex !== undefined || url.contains !== undefined) chunks.push(c);
        });
        res.on('error', (e) => finish({ ok: false, reason: `${url.path}: ${e.message}` }));
        res.on('end', () => {
          if (url.digest !== undefined) {
            const got = md5.digest('hex');
            if (got !== url.digest.toLowerCase()) {
              finish({ ok: false, reason: `${url.path}: MD5 digest ${got} differs from ${url.digest}` });
              return;
            }
          }
          const body = Buffer.concat(chunks).toString('utf8');
          if (url.contains !== undefined && !body.includes(url.contains)) {
            finish({ ok: false, reason: `${url.path}: body does not contain ${JSON.stringify(url.contains)}` });
            return;
          }
          if (url.regex !== undefined && !new RegExp(url.regex).test(body)) {
            finish({ ok: false, reason: `${url.path}: body does not match /${url.regex}/` });
            return;
          }
          finish({ ok: true, reason: `${url.path}: HTTP status ${status}, body matches` });
        });
      },
    );
    const timer = setTimeout(() => finish({ ok: false, reason: `${url.path}: timeout after ${spec.connectTimeoutMs} ms` }), spec.connectTimeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: `${url.path}: ${e.code ?? e.message}` }));
  });
}

export async function checkHttp(spec: Pick<HttpCheck, 'connectTimeoutMs' | 'bindto' | 'virtualhost' | 'urls'>, target: CheckTarget): Promise<CheckResult> {
  let last: CheckResult = { ok: true, reason: 'no url' };
  for (const url of spec.urls) {
    last = await getOnce(spec, target, url);
    if (!last.ok) return last;
  }
  return last;
}
