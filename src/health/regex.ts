// HTTP_GET's body regex as keepalived 2.2 runs it (check_http.c): `regex` with `regex_options`
// (pcre2 options), `regex_no_match` (a match fails the check), `regex_min_offset` and
// `regex_max_offset` (where in the body the match may start). uvs matches with JavaScript's
// RegExp on the body read as UTF-8; offsets count bytes, as keepalived's.
import type { HttpUrl } from './types.js';

/** regex_min_offset and regex_max_offset at most. */
export const MAX_REGEX_OFFSET = 2 ** 31 - 1;

/**
 * keepalived's regex_options words: the RegExp flag each one is, '' for one that changes no
 * match (pcre2 optimisations, and utf: uvs reads the body as UTF-8 anyway) or that bodyRegex
 * handles (dollar_endonly), null for one JavaScript's RegExp cannot express (the configuration
 * is refused rather than matched otherwise).
 */
export const REGEX_OPTIONS: Readonly<Record<string, string | null>> = {
  caseless: 'i', multiline: 'm', dotall: 's', dollar_endonly: '',
  utf: '', no_auto_possess: '', no_start_optimize: '', no_dotstar_anchor: '', auto_callout: '', use_offset_limit: '',
  never_utf: '', never_ucp: '', never_backslash_c: '',
  allow_empty_class: null, alt_bsux: null, dupnames: null, extended: null, firstline: null,
  match_unset_backref: null, no_auto_capture: null, ucp: null, ungreedy: null, alt_circumflex: null, alt_verbnames: null,
};

/** Why a regex_options word cannot be used ("not a regex option", "uvs cannot match so ..."), or undefined when it can. */
export function regexOptionProblem(word: string): { known: boolean; problem: string } | undefined {
  if (!Object.hasOwn(REGEX_OPTIONS, word)) return { known: false, problem: `not one of keepalived's regex options (${Object.keys(REGEX_OPTIONS).join(', ')})` };
  if (REGEX_OPTIONS[word] === null) return { known: true, problem: `uvs cannot match so: JavaScript's regular expressions have no such option (uvs has ${Object.keys(REGEX_OPTIONS).filter((k) => REGEX_OPTIONS[k] !== null).join(', ')})` };
  return undefined;
}

/**
 * pcre2's `$` without multiline or dollar_endonly: the end of the body, or before a newline that
 * ends it (`^OK$` matches "OK\n"); JavaScript's `$` is the end only. Each `$` outside a character
 * class, unescaped, becomes `(?=\n?$)`.
 */
function pcreDollars(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += pattern.slice(i, i + 2);
      i++;
      continue;
    }
    if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    out += !inClass && c === '$' ? '(?=\\n?$)' : c;
  }
  return out;
}

/** The RegExp of a url's regex and regex_options; throws the RegExp's own error on a bad pattern. */
export function bodyRegex(url: Pick<HttpUrl, 'regex' | 'regexOptions'>): RegExp {
  const options = url.regexOptions ?? [];
  const flags = new Set(options.map((w) => REGEX_OPTIONS[w] ?? ''));
  const pattern = url.regex ?? '';
  const endOnly = flags.has('m') || options.includes('dollar_endonly');
  // 'g': exec starts at lastIndex (regex_min_offset), as pcre2's start offset does.
  return new RegExp(endOnly ? pattern : pcreDollars(pattern), `g${[...flags].join('')}`);
}

/** Does the body match the url's regex where its offsets allow (regex_no_match not applied)? */
export function bodyMatches(url: HttpUrl, body: Buffer): boolean {
  const text = body.toString('utf8');
  const re = bodyRegex(url);
  if (url.regexMinOffset !== undefined) re.lastIndex = body.subarray(0, url.regexMinOffset).toString('utf8').length;
  const m = re.exec(text);
  if (m === null) return false;
  return url.regexMaxOffset === undefined || Buffer.byteLength(text.slice(0, m.index)) <= url.regexMaxOffset;
}
