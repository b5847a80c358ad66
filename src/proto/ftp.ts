// FTP control text as the FTP application helper reads it (src/modes/ftp.ts; the kernel's
// ip_vs_ftp.c): the client's PASV/EPSV commands anywhere in a segment, and at a segment's start
// the server's "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)" and "229 Entering Extended Passive
// Mode (|||port|)" replies and the client's "PORT h1,h2,h3,h4,p1,p2" and "EPRT |1|a.b.c.d|port|"
// commands (RFC 959, RFC 2428). Like the kernel, nothing is reassembled: text split across
// segments is not found. Nothing here allocates.

/** What the client asked for last (the reply the helper waits for). */
export const FTP_NONE = 0;
export const FTP_PASV = 1;
export const FTP_EPSV = 2;

const CR = 13;
const SP = 32;
const COMMA = 44;

/** b[i..i+4) is `word` (4 upper-case letters; any case matches), within end. */
function word4(b: Uint8Array, i: number, end: number, w: number): boolean {
  return i + 4 <= end && ((b[i] & 0xdf) << 24 | (b[i + 1] & 0xdf) << 16 | (b[i + 2] & 0xdf) << 8 | (b[i + 3] & 0xdf)) === w;
}
const W_PASV = 0x50415356;
const W_EPSV = 0x45505356;
const W_PORT = 0x504f5254;
const W_EPRT = 0x45505254;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * A client segment asking for passive mode: "PASV\r\n" anywhere in b[from..end), or "EPSV\r" /
 * "EPSV 1\r" (IPv4; "EPSV 2" and "EPSV ALL" are not ours, as the kernel's). FTP_PASV, FTP_EPSV or
 * FTP_NONE.
 */
export function ftpPassiveAsked(b: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 6 <= end; i++) {
    if (word4(b, i, end, W_PASV) && b[i + 4] === CR && b[i + 5] === 10) return FTP_PASV;
    if (word4(b, i, end, W_EPSV)) {
      if (b[i + 4] === CR) return FTP_EPSV;
      if (b[i + 4] === SP) return i + 7 <= end && b[i + 5] === 49 && b[i + 6] === CR ? FTP_EPSV : FTP_NONE;
    }
  }
  return FTP_NONE;
}

/** byteList()'s numbers. */
const nums = new Int32Array(6);

/** n numbers 0..255 separated by `sep` from b[i..) into nums: the offset after the last, or -1
 *  when they are not all there before `end` or one is above 255 (the kernel keeps its low 8 bits
 *  of a PORT/227 number; such text is broken either way). */
function byteList(b: Uint8Array, i: number, end: number, n: number, sep: number): number {
  for (let k = 0; k < n; k++) {
    if (k > 0) {
      if (i >= end || b[i] !== sep) return -1;
      i++;
    }
    if (i >= end || !isDigit(b[i])) return -1;
    let v = 0;
    while (i < end && isDigit(b[i])) {
      v = v * 10 + b[i] - 48;
      if (v > 255) return -1;
      i++;
    }
    nums[k] = v;
  }
  return i;
}

/** The address (int32) in nums[0..3]. */
function numsAddr(): number {
  return (nums[0] << 24) | (nums[1] << 16) | (nums[2] << 8) | nums[3];
}

/**
 * "h1,h2,h3,h4,p1,p2" from b[i..): out[0] the address (int32), out[1] the port, out[2] i, out[3]
 * the end of the last number. False when it is not all there before `end`, its terminator
 * included (a reply or command cut by the segment's end: the kernel's -1), or a number is above 255.
 */
function sixNumbers(b: Uint8Array, i: number, end: number, out: Int32Array): boolean {
  const j = byteList(b, i, end, 6, COMMA);
  if (j < 0 || j >= end) return false;
  out[0] = numsAddr();
  out[1] = (nums[4] << 8) | nums[5];
  out[2] = i;
  out[3] = j;
  return true;
}

/** The offset after "22<last> " (a 227 or 229 reply) at b[from..end), or -1. */
function replyAt(b: Uint8Array, from: number, end: number, last: number): number {
  return from + 4 <= end && b[from] === 50 && b[from + 1] === 50 && b[from + 2] === last && b[from + 3] === SP ? from + 4 : -1;
}

/** The offset of the argument of the command `w` (then one space or more) at b[from..end), or -1. */
function commandArg(b: Uint8Array, from: number, end: number, w: number): number {
  if (!word4(b, from, end, w)) return -1;
  let i = from + 4;
  if (i >= end || b[i] !== SP) return -1;
  while (i < end && b[i] === SP) i++;
  return i;
}

/**
 * The server's "227 " reply at b[from..end) (only at the segment's start): its h1..p2 into out
 * (see sixNumbers: address, port, start and end of the text to replace). The "(" is optional, as
 * some servers leave it out (the kernel takes the first digit after "227 ").
 */
export function ftpParse227(b: Uint8Array, from: number, end: number, out: Int32Array): boolean {
  let i = replyAt(b, from, end, 55);
  if (i < 0) return false;
  while (i < end && b[i] !== 40 && !isDigit(b[i]) && b[i] !== CR) i++;
  if (i < end && b[i] === 40) i++;
  return sixNumbers(b, i, end, out);
}

/** The client's "PORT h1,h2,h3,h4,p1,p2" at the segment's start (sixNumbers' out). */
export function ftpParsePort(b: Uint8Array, from: number, end: number, out: Int32Array): boolean {
  const i = commandArg(b, from, end, W_PORT);
  return i >= 0 && sixNumbers(b, i, end, out);
}

/**
 * An RFC 2428 "<d>1<d>a.b.c.d<d>port<d>" (IPv4) or, when `noAddr` is allowed, "<d><d><d>port<d>"
 * at b[i..): out[0] the address (0 when absent), out[1] the port (1..65535), out[2] the first
 * delimiter, out[3] just past the last. False when it is not that or not whole before `end`.
 */
function extended(b: Uint8Array, i: number, end: number, noAddr: boolean, out: Int32Array): boolean {
  const start = i;
  if (i >= end) return false;
  const d = b[i++];
  if (d < 33 || d > 126 || isDigit(d)) return false;
  let addr = 0;
  if (i < end && b[i] === d) {
    if (!noAddr || i + 1 >= end || b[i + 1] !== d) return false;
    i += 2;
  } else {
    if (i + 1 >= end || b[i] !== 49 || b[i + 1] !== d) return false; // family 1: IPv4
    i = byteList(b, i + 2, end, 4, 46);
    if (i < 0 || i >= end || b[i] !== d) return false;
    addr = numsAddr();
    i++;
  }
  let port = 0;
  while (i < end && isDigit(b[i])) {
    port = port * 10 + b[i] - 48;
    if (port > 65535) return false;
    i++;
  }
  if (port === 0 || i >= end || b[i] !== d) return false;
  out[0] = addr | 0;
  out[1] = port;
  out[2] = start;
  out[3] = i + 1;
  return true;
}

/** The server's "229 ... (<d><d><d>port<d>)" reply at the segment's start (extended's out). */
export function ftpParse229(b: Uint8Array, from: number, end: number, out: Int32Array): boolean {
  let i = replyAt(b, from, end, 57);
  if (i < 0) return false;
  while (i < end && b[i] !== 40 && b[i] !== CR) i++;
  if (i >= end || b[i] !== 40) return false;
  return extended(b, i + 1, end, true, out);
}

/** The client's "EPRT <d>1<d>a.b.c.d<d>port<d>" at the segment's start (extended's out). */
export function ftpParseEprt(b: Uint8Array, from: number, end: number, out: Int32Array): boolean {
  const i = commandArg(b, from, end, W_EPRT);
  return i >= 0 && extended(b, i, end, false, out);
}

/** Decimal digits of v (0..65535). */
function digits(v: number): number {
  return v >= 10000 ? 5 : v >= 1000 ? 4 : v >= 100 ? 3 : v >= 10 ? 2 : 1;
}

/** Write v in decimal at b[i]; returns the offset after it. */
function writeDec(b: Uint8Array, i: number, v: number): number {
  const n = digits(v);
  for (let k = n - 1; k >= 0; k--) {
    b[i + k] = 48 + (v % 10);
    v = (v / 10) | 0;
  }
  return i + n;
}

/** Length of "h1,h2,h3,h4,p1,p2" for addr (int32) and port. */
export function ftpAddrPortLen(addr: number, port: number): number {
  return digits((addr >>> 24) & 255) + digits((addr >>> 16) & 255) + digits((addr >>> 8) & 255) + digits(addr & 255) +
    digits(port >>> 8) + digits(port & 255) + 5;
}

/** Write "h1,h2,h3,h4,p1,p2" at b[i]; returns the offset after it. */
export function ftpWriteAddrPort(b: Uint8Array, i: number, addr: number, port: number): number {
  i = writeDec(b, i, (addr >>> 24) & 255);
  b[i++] = COMMA;
  i = writeDec(b, i, (addr >>> 16) & 255);
  b[i++] = COMMA;
  i = writeDec(b, i, (addr >>> 8) & 255);
  b[i++] = COMMA;
  i = writeDec(b, i, addr & 255);
  b[i++] = COMMA;
  i = writeDec(b, i, port >>> 8);
  b[i++] = COMMA;
  return writeDec(b, i, port & 255);
}

/** Length of "<d><d><d>port<d>". */
export function ftpExtPortLen(port: number): number {
  return digits(port) + 4;
}

/** Write "<d><d><d>port<d>" (delimiter d) at b[i]: the client connects to the address it
 *  already uses, the VIP. Returns the offset after it. */
export function ftpWriteExtPort(b: Uint8Array, i: number, d: number, port: number): number {
  b[i++] = d;
  b[i++] = d;
  b[i++] = d;
  i = writeDec(b, i, port);
  b[i++] = d;
  return i;
}
