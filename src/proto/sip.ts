// The SIP persistence engine (ipvsadm --pe sip, the kernel's ip_vs_pe_sip.c): a persistent UDP
// service keeps the datagrams of one SIP call on one real server by the call's Call-ID header,
// whatever client address and port they come from. This file finds the Call-ID in a datagram
// (RFC 3261 7.3 and 20.8: `Call-ID:` or its compact form `i:`, case-insensitive, on a header line
// after the start line) and hashes it; it allocates nothing.

/** Persistence engines (ServiceModel.pe names, SvcRuntime.pe numbers). */
export const PE_NONE = 0;
export const PE_SIP = 1;
export const PE_NAMES = ['', 'sip'] as const;
export type PeName = (typeof PE_NAMES)[number];

/** The longest Call-ID kept (the kernel's IP_VS_PEDATA_MAXLEN): a longer one is no Call-ID. */
export const CALLID_MAX = 255;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/** b[i..] starts `call-id` (any case). */
function isCallIdName(b: Uint8Array, i: number, end: number): boolean {
  if (end - i < 7) return false;
  return (b[i] | 0x20) === 0x63 && (b[i + 1] | 0x20) === 0x61 && (b[i + 2] | 0x20) === 0x6c && (b[i + 3] | 0x20) === 0x6c &&
    b[i + 4] === 0x2d && (b[i + 5] | 0x20) === 0x69 && (b[i + 6] | 0x20) === 0x64;
}

/** The kernel's iswordc (nf_conntrack_sip.c, RFC 3261's `word` but with `,` and without `'`):
 *  isalnum (ASCII and, as the kernel's ctype, the Latin-1 letters) and ! " % ( ) * + , - . / :
 *  < > ? [ \ ] _ ` { } ~. 1 for a word character. */
const WORD = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alnum = (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || (c >= 0xc0 && c !== 0xd7 && c !== 0xf7);
  if (alnum || '!"%()*+,-./:<>?[\\]_`{}~'.includes(String.fromCharCode(c))) WORD[c] = 1;
}

/** The kernel's callid_len is not 0 at b[p..end): a word, and after an `@` another. */
function kernelCallId(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end || WORD[b[p]] === 0) return false;
  while (p < end && WORD[b[p]] !== 0) p++;
  if (p >= end || b[p] !== 0x40) return true;
  return p + 1 < end && WORD[b[p + 1]] !== 0;
}

/**
 * Find the first Call-ID header's value in the SIP message at b[from..end) (a UDP payload).
 * On success out[0] is the value's offset in b and out[1] its length (1..CALLID_MAX) and the
 * result is true. No Call-ID (also: an empty value, one with a space inside, one longer than
 * CALLID_MAX, one not ended by a line break, as a datagram cut short would leave it) is false.
 * Lines may end in CRLF, LF or CR (RFC 2543 allowed all three, as the kernel does); a line
 * starting with a space or tab continues the previous header (also between the colon and the
 * value: `Call-ID:\r\n abc@host` is abc@host); an empty line ends the headers. As the kernel's
 * get_callid, a Call-ID header whose value does not start as its callid_len reads one (a word
 * character, and a word after an `@`) is passed over for the next one.
 */
export function sipCallId(b: Uint8Array, from: number, end: number, out: Int32Array): boolean {
  let i = from;
  // Skip the start line (request or status line): headers begin after its line break.
  while (i < end && b[i] !== CR && b[i] !== LF) i++;
  while (i < end) {
    // b[i] is a line break: step over it (CRLF counts once).
    if (b[i] === CR && i + 1 < end && b[i + 1] === LF) i += 2;
    else i++;
    if (i >= end || b[i] === CR || b[i] === LF) return false; // end of the datagram or of the headers
    const c = b[i];
    let p = -1;
    if (c !== SP && c !== HT) {
      if (isCallIdName(b, i, end)) p = i + 7;
      else if ((c | 0x20) === 0x69) p = i + 1; // compact form "i" (then only blanks before the colon)
    }
    if (p >= 0) {
      while (p < end && (b[p] === SP || b[p] === HT)) p++;
      if (p < end && b[p] === 0x3a) {
        const r = callIdValue(b, p + 1, end, out);
        if (r >= 0) return r === 1;
      }
    }
    while (i < end && b[i] !== CR && b[i] !== LF) i++;
  }
  return false;
}

/** The value after a Call-ID header's colon at b[p..): 1 read (out), 0 none (no Call-ID at all),
 *  -1 passed over (the next Call-ID header may have one). See sipCallId. */
function callIdValue(b: Uint8Array, p: number, end: number, out: Int32Array): number {
  // Blanks and continuation lines (a line break then a space or tab) before the value.
  for (;;) {
    while (p < end && (b[p] === SP || b[p] === HT)) p++;
    if (p >= end || (b[p] !== CR && b[p] !== LF)) break;
    const q = b[p] === CR && p + 1 < end && b[p + 1] === LF ? p + 2 : p + 1;
    if (q >= end || (b[q] !== SP && b[q] !== HT)) return 0; // an empty value
    p = q;
  }
  if (!kernelCallId(b, p, end)) return p < end ? -1 : 0;
  const start = p;
  while (p < end && b[p] > SP && b[p] < 0x7f) p++;
  const len = p - start;
  // Trailing blanks are allowed; anything else before the line break is not a Call-ID.
  while (p < end && (b[p] === SP || b[p] === HT)) p++;
  if (p >= end || (b[p] !== CR && b[p] !== LF) || len === 0 || len > CALLID_MAX) return 0;
  out[0] = start;
  out[1] = len;
  return 1;
}

/** FNV-1a of b[off..off+len) as an int32, never 0 (0 marks a template without engine data). */
export function callIdHash(b: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h === 0 ? 1 : h;
}

/** The client port of a call's template key (ConnTable): the hash's low bits, odd, so never a
 *  plain template's 0. */
export function callIdPort(tag: number): number {
  return (tag & 0xffff) | 1;
}

/** b[off..off+len) holds exactly the characters of s. */
export function callIdEquals(b: Uint8Array, off: number, len: number, s: string): boolean {
  if (s.length !== len) return false;
  for (let i = 0; i < len; i++) if (b[off + i] !== s.charCodeAt(i)) return false;
  return true;
}
