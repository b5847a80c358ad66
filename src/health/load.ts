// Reading keepalived.conf from disk: the file, its includes (glob patterns, relative to the
// including file's directory), then the pure parser (keepalived.ts).
import { readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { KeepalivedError, parseKeepalived, type ParseResult } from './keepalived.js';
import { readConfigText } from '../control/config.js';
import { tlsFilesProblem } from './checkers/http.js';
import { commandProblem, scriptInsecurity } from './exec.js';

function globRegex(part: string): RegExp {
  let re = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = part.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = part.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Expand a glob (*, ?, [...] in any path component); sorted, like glob(3). Hidden files need an explicit dot. */
export function expandGlob(pattern: string): string[] {
  const abs = pattern.startsWith(sep);
  const parts = pattern.split(sep).filter((p) => p !== '');
  let paths = [abs ? sep : '.'];
  for (const part of parts) {
    const next: string[] = [];
    if (!/[*?[]/.test(part)) {
      for (const p of paths) next.push(join(p, part));
    } else {
      const re = globRegex(part);
      for (const p of paths) {
        let names: string[];
        try {
          names = readdirSync(p);
        } catch {
          continue;
        }
        for (const n of names.sort()) if (re.test(n) && (n[0] !== '.' || part[0] === '.')) next.push(join(p, n));
      }
    }
    paths = next;
  }
  return paths.filter((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

/** The SSL block's files must be readable, as keepalived refuses to start without them. */
function checkTlsFiles(r: ParseResult): ParseResult {
  const c = r.config.services.flatMap((vs) => vs.realServers.flatMap((rs) => rs.checkers)).find((x) => x.type === 'SSL_GET' && x.tls !== undefined);
  const tls = c?.type === 'SSL_GET' ? c.tls : undefined;
  const problem = tls === undefined ? undefined : tlsFilesProblem(tls);
  if (problem !== undefined) throw new KeepalivedError(tls!.origin ?? { file: '?', line: 0 }, problem);
  return r;
}

/** Read keepalived.conf at path (configId: keepalived's -i, default the short host name). */
export function loadKeepalivedFile(path: string, configId?: string): ParseResult {
  return checkTlsFiles(parseKeepalived(readConfigText(path), path, {
    readInclude: (pattern, fromFile) => {
      const full = isAbsolute(pattern) ? pattern : join(dirname(fromFile), pattern);
      // keepalived warns and goes on when a pattern or a plain name matches nothing (parseKeepalived warns).
      return expandGlob(full).map((f) => ({ file: f, text: readConfigText(f) }));
    },
    commandProblem,
    scriptInsecurity,
    configId,
  }));
}
