// HTTP_GET: every url must answer with an accepted status (default 2xx) and, when asked, a body
// whose MD5 equals `digest` (keepalived's genhash), that matches `regex` or contains a text.
// One connection per url, `Connection: close`; connect_timeout bounds each request as a whole
// (TLS handshake included). SSL_GET is the same check over TLS (a Transport): like keepalived,
// it does not verify the server's certificate, sends a server name (SNI) only with enable_sni
// and a virtualhost, and presents the client certificate of keepalived's SSL block when given.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { CheckResult, CheckTarget, HttpCheck, HttpUrl, TlsClient } from '../types.js';
import { closeCheckSocket } from './tcp.js';
import { notRunResult } from './resource.js';
import { clearLongTimeout, setAnswerTimeout } from '../../control/clock.js';
import { regexMatcher } from '../regex.js';

/** Bodies larger than this fail a check that reads them whole (regex, contains) instead of being
 *  buffered; a digest alone streams through MD5, whatever the size. */
const MAX_BODY = 16 << 20;

function statusOk(url: HttpUrl, status: number): boolean {
  if (url.status === undefined) return status >= 200 && status <= 299;
  return url.status.some(([lo, hi]) => status >= lo && status <= hi);
}

type HttpSpec = Pick<HttpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort' | 'virtualhost' | 'urls'>;

/** How a url is fetched: plain HTTP or TLS. */
interface Transport {
  /** The port left out of the default Host header. */
  defaultPort: number;
  /** virtualhost: the url's (else the checker's), for TLS's server name. */
  get(opts: http.RequestOptions, onResponse: (res: http.IncomingMessage) => void, virtualhost: string | undefined): http.ClientRequest;
}

const PLAIN: Transport = { defaultPort: 80, get: (opts, onResponse) => http.get(opts, onResponse) };

function tls(spec: Pick<HttpCheck, 'enableSni'>, client: ClientFiles): Transport {
  return {
    defaultPort: 443,
    // servername '' sends no SNI (node would otherwise take it from the Host header).
    get: (opts, onResponse, virtualhost) => https.get({ ...opts, ...client, rejectUnauthorized: false, servername: spec.enableSni ? (virtualhost ?? '') : '' }, onResponse),
  };
}

/** The SSL block's files as tls.connect takes them (cert, key, passphrase, ca). */
type ClientFiles = { cert?: Buffer; key?: Buffer; passphrase?: string; ca?: Buffer };

type TlsFile = { what: 'certificate' | 'key' | 'ca'; option: 'cert' | 'key' | 'ca'; path: string };

/** The SSL block's files given: its keyword, tls.connect's option, the path. */
function tlsFiles(t: TlsClient): TlsFile[] {
  const all: Array<Omit<TlsFile, 'path'> & { path: string | undefined }> = [
    { what: 'certificate', option: 'cert', path: t.certificate }, { what: 'key', option: 'key', path: t.key }, { what: 'ca', option: 'ca', path: t.ca },
  ];
  return all.filter((f): f is TlsFile => f.path !== undefined);
}

/** "SSL certificate /x: ENOENT": the file that cannot be read, and why. */
function tlsFileError(what: string, path: string, e: unknown): string {
  return `SSL ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
}

/** The first of the SSL block's files that cannot be read, checked when a configuration is
 *  loaded: keepalived refuses to start without them. */
export function tlsFilesProblem(t: TlsClient): string | undefined {
  for (const { what, path } of tlsFiles(t)) {
    try {
      accessSync(path, constants.R_OK);
    } catch (e) {
      return tlsFileError(what, path, e);
    }
  }
  return undefined;
}

/** Read the SSL block's files (at each check: a renewed certificate is taken without a reload). */
async function clientFiles(t: TlsClient | undefined): Promise<ClientFiles | CheckResult> {
  if (t === undefined) return {};
  const out: ClientFiles = t.password !== undefined ? { passphrase: t.password } : {};
  for (const { what, option, path } of tlsFiles(t)) {
    try {
      out[option] = await readFile(path);
    } catch (e) {
      return notRunResult(`SSL ${what} ${path}:`, e) ?? { ok: false, reason: tlsFileError(what, path, e) };
    }
  }
  return out;
}

/**
 * The error's code; with OpenSSL's reason when the message has one
 * ("write EPROTO ...:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:..." -> not TLS on that port).
 */
function errorText(e: NodeJS.ErrnoException): string {
  const ssl = /:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+)/.exec(e.message);
  return ssl ? `${e.code ?? 'TLS error'} (${ssl[1]})` : (e.code ?? e.message);
}

function getOnce(spec: HttpSpec, target: CheckTarget, url: HttpUrl, transport: Transport): Promise<CheckResult> {
  const needBody = url.digest !== undefined || url.regex !== undefined || url.contains !== undefined;
  return new Promise((resolve) => {
    let done = false;
    const gaveUp = url.regex !== undefined ? new AbortController() : undefined;
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      gaveUp?.abort();
      clearLongTimeout(timer);
      closeCheckSocket(req.socket, spec.bindPort !== undefined);
      req.destroy();
      resolve(r);
    };
    const vhost = url.virtualhost ?? spec.virtualhost;
    const host = vhost ?? (target.port === transport.defaultPort ? target.ip : `${target.ip}:${target.port}`);
    const req = transport.get(
      {
        host: target.ip, port: target.port, path: url.path, agent: false, localAddress: spec.bindto, localPort: spec.bindPort,
        // keepalived's request_template names its User-Agent so: rules written for its checks match them.
        headers: { Host: host, Connection: 'close', 'User-Agent': 'KeepAliveClient' },
        // keepalived reads a status line and looks for the end of the headers: a response with
        // both Content-Length and Transfer-Encoding: chunked passes there, as here (chunked wins).
        insecureHTTPParser: true,
      },
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
        const buffered = url.regex !== undefined || url.contains !== undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          md5.update(c);
          if (!buffered) return;
          size += c.length;
          if (size > MAX_BODY) {
            finish({ ok: false, reason: `${url.path}: body larger than ${MAX_BODY} bytes` });
            return;
          }
          chunks.push(c);
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
          const body = Buffer.concat(chunks);
          if (url.contains !== undefined && !body.toString('utf8').includes(url.contains)) {
            finish({ ok: false, reason: `${url.path}: body does not contain ${JSON.stringify(url.contains)}` });
            return;
          }
          const passed: CheckResult = { ok: true, reason: `${url.path}: HTTP status ${status}, body matches` };
          if (url.regex === undefined) {
            finish(passed);
            return;
          }
          // On the regex thread, within its time limit (regex.ts); given up with the check.
          void regexMatcher.match(url, body, gaveUp?.signal).then((m) => {
            if ('problem' in m) finish({ ok: false, ...(m.notRun ? { notRun: true } : {}), reason: `${url.path}: ${m.problem}` });
            // keepalived: "if (req->regex_matched == url->regex_no_match)" fails the check; a
            // match that stopped without an answer (m.error) is no match there (check_regex).
            else if (m.matched === (url.regexNoMatch === true)) {
              finish({
                ok: false,
                reason: url.regexNoMatch === true ? `${url.path}: body matches /${url.regex}/ (regex_no_match)`
                  : m.error !== undefined ? `${url.path}: ${m.error}: no match` : `${url.path}: body does not match /${url.regex}/`,
              });
            } else finish(m.error !== undefined ? { ok: true, reason: `${url.path}: HTTP status ${status}, ${m.error}: no match (regex_no_match)` } : passed);
          });
        });
      },
      vhost,
    );
    const timer = setAnswerTimeout(() => finish({ ok: false, reason: `${url.path}: timeout after ${spec.connectTimeoutMs} ms` }), spec.connectTimeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish(notRunResult(`${url.path}:`, e) ?? { ok: false, reason: `${url.path}: ${errorText(e)}` }));
  });
}

async function getAll(spec: HttpSpec, target: CheckTarget, transport: Transport): Promise<CheckResult> {
  let last: CheckResult = { ok: true, reason: 'no url' };
  for (const url of spec.urls) {
    last = await getOnce(spec, target, url, transport);
    if (!last.ok) return last;
  }
  return last;
}

/** HTTP_GET. */
export function checkHttp(spec: HttpSpec, target: CheckTarget): Promise<CheckResult> {
  return getAll(spec, target, PLAIN);
}

/** SSL_GET: HTTP_GET over TLS, presenting the SSL block's client certificate when there is one. */
export async function checkSsl(spec: HttpSpec & Pick<HttpCheck, 'enableSni' | 'tls'>, target: CheckTarget): Promise<CheckResult> {
  const client = await clientFiles(spec.tls);
  if ('reason' in client) return client;
  return getAll(spec, target, tls(spec, client));
}
