// The sync datagram (docs/ha.md): a 24-byte header, REC_LEN-byte connection records
// (src/datapath/syncrec.ts), and an HMAC-SHA256 over everything before it with the shared key.
//
//   0 "UVSY"  4 version 1  5 type  6 record count (u16)  8 syncid (u32)
//   12 sender id (u32, random per start: a restarted master begins a new sequence)
//   16 sequence number (u32, per sender)  20 flags (SF_*; 0 from an older uvsd, which ignores
//   them)  21 reserved (3 bytes)  24 records ...  then 32 bytes HMAC

import { createHmac, timingSafeEqual } from 'node:crypto';
import { REC_LEN } from '../datapath/syncrec.js';
import { rd32, wr16, wr32 } from '../datapath/frame.js';

export const HDR_LEN = 24;
export const MAC_LEN = 32;
export const MSG_DATA = 1;
/** A backup asks the master for its whole table (at start: failback). */
export const MSG_DUMP_REQUEST = 2;
/** Data too, but only record types an older uvsd does not know (syncrec.ts isExtRecord): an older
 *  backup takes MSG_DATA alone and ignores this type, where it would count such a record in a
 *  MSG_DATA datagram as refused (docs/ha.md). */
export const MSG_DATA_EXT = 3;
/** Header flags. The sender marks its answers to dump requests (SF_DUMP_ANSWER): set on every datagram of a newer uvsd. */
export const SF_ANSWERS = 1;
/** A dump request was heard: a whole dump that began after it follows from here on in the sequence. */
export const SF_DUMP_ANSWER = 2;
const MAGIC = 0x55565359; // "UVSY"
const VERSION = 1;

/** Records that fit in a datagram of maxlen bytes (UDP payload). */
export function recordsPerDatagram(maxlen: number): number {
  return Math.floor((maxlen - HDR_LEN - MAC_LEN) / REC_LEN);
}

/** Fill in the header of buf (records already at HDR_LEN) and append the MAC; returns the length. */
export function seal(buf: Buffer, type: number, count: number, syncid: number, sender: number, seq: number, key: Buffer, flags = 0): number {
  wr32(buf, 0, MAGIC);
  buf[4] = VERSION;
  buf[5] = type;
  wr16(buf, 6, count);
  wr32(buf, 8, syncid);
  wr32(buf, 12, sender);
  wr32(buf, 16, seq);
  wr32(buf, 20, flags << 24);
  const end = HDR_LEN + count * REC_LEN;
  createHmac('sha256', key).update(buf.subarray(0, end)).digest().copy(buf, end);
  return end + MAC_LEN;
}

export interface Opened {
  type: number;
  count: number;
  syncid: number;
  sender: number;
  seq: number;
  flags: number;
  /** The records (a view into the datagram). */
  records: Buffer;
}

/** 'malformed' (not a uvs sync datagram), 'auth' (wrong MAC: forged or another key), or the message. */
export function open(msg: Buffer, key: Buffer): Opened | 'malformed' | 'auth' {
  if (msg.length < HDR_LEN + MAC_LEN || (rd32(msg, 0) >>> 0) !== MAGIC || msg[4] !== VERSION) return 'malformed';
  const count = (msg[6] << 8) | msg[7];
  const end = HDR_LEN + count * REC_LEN;
  if (msg.length !== end + MAC_LEN) return 'malformed';
  const mac = createHmac('sha256', key).update(msg.subarray(0, end)).digest();
  if (!timingSafeEqual(mac, msg.subarray(end))) return 'auth';
  return {
    type: msg[5], count, syncid: rd32(msg, 8) >>> 0, sender: rd32(msg, 12) >>> 0, seq: rd32(msg, 16) >>> 0, flags: msg[20],
    records: msg.subarray(HDR_LEN, end),
  };
}
