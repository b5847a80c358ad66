// A YAML writer for plain data (objects, arrays, strings, numbers, booleans, null) in the block
// style the `yaml` library writes with { lineWidth: 0 }, the same text, fast: the config dump
// (uvsadm --dump-config, and uvsd --state-file after every change) of 1,000 services took the
// library 70-120 ms (it builds a document tree first). A string that could need quoting is
// handed to the library alone, so its quoting is the library's; only a string with a line break
// is written differently (double-quoted, where the library writes a block scalar).

import { yaml } from './yaml-lazy.js';

/** Strings every YAML 1.2 reader takes as plain strings: no indicator, no number, bool or null. */
const PLAIN = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const NOT_STRING = /^(?:[-+]?(?:\d[\d_]*|\d*\.\d+|\d+\.\d*)(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|true|false|null|True|False|Null|TRUE|FALSE|NULL)$/;

/** A scalar as toYaml writes it (a string quoted only where YAML needs it). */
export function scalar(v: unknown): string {
  if (typeof v === 'string') {
    if (PLAIN.test(v) && !NOT_STRING.test(v)) return v;
    // A line break: double-quoted with escapes (the library would write a block scalar).
    return v.includes('\n') ? JSON.stringify(v) : yaml().stringify(v, { lineWidth: 0 }).replace(/\n$/, '');
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  throw new TypeError(`cannot write ${typeof v} as YAML`);
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `v` as a YAML document (block style, 2-space indents, sequences indented under their key). */
export function toYaml(v: unknown): string {
  const out: string[] = [];
  if (isMapping(v)) mapping(v, '', out, '');
  else if (Array.isArray(v)) sequence(v, '', out, '');
  else out.push(`${scalar(v)}\n`);
  return out.join('');
}

/** A mapping's lines at `indent`; the first one prefixed by `first` (a sequence item's dash) instead. */
function mapping(m: Record<string, unknown>, indent: string, out: string[], first: string): void {
  const keys = Object.keys(m).filter((k) => m[k] !== undefined);
  if (keys.length === 0) {
    out.push(`${first}{}\n`);
    return;
  }
  keys.forEach((k, i) => entry(k, m[k], i === 0 ? first : indent, indent, out));
}

/** One key of a mapping at `indent` and its value, as mapping() writes it there; its line begins with `lead`. */
function entry(k: string, val: unknown, lead: string, indent: string, out: string[]): void {
  const key = `${lead}${scalar(k)}:`;
  if (isMapping(val) && Object.keys(val).some((x) => val[x] !== undefined)) {
    out.push(`${key}\n`);
    mapping(val, `${indent}  `, out, `${indent}  `);
  } else if (Array.isArray(val) && val.length > 0) {
    out.push(`${key}\n`);
    sequence(val, `${indent}  `, out, `${indent}  `);
  } else {
    out.push(`${key} ${isMapping(val) ? '{}' : Array.isArray(val) ? '[]' : scalar(val)}\n`);
  }
}

function sequence(a: readonly unknown[], indent: string, out: string[], first: string): void {
  a.forEach((item, i) => {
    const dash = `${i === 0 ? first : indent}- `;
    if (isMapping(item)) mapping(item, `${indent}  `, out, dash);
    else if (Array.isArray(item) && item.length > 0) sequence(item, `${indent}  `, out, dash);
    else out.push(`${dash}${isMapping(item) ? '{}' : Array.isArray(item) ? '[]' : scalar(item)}\n`);
  });
}
