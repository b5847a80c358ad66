// test-class: shared
// The config dump's YAML writer (src/control/yaml-out.ts) against the yaml library it stands in
// for: the same text for the same data, strings the library quotes quoted the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, stringify } from 'yaml';
import { toYaml } from '../src/control/yaml-out.js';

const STRINGS = [
  'abc', 'wlc', 'TCP', 'sh-fallback', '/health', '/usr/local/bin/check 21', '192.168.8.200', '192.168.8.0/24', '1.2.3.4,floating',
  '127.0.0.1:9478', '2001:db8::1', '', ' lead', 'trail ', 'a b', 'a:b', 'a: b', '#x', 'a #b', '/x?y=1', '"q"', "it's", 'é', 'x\ty',
  '1', '0', '00', '09', '1.5', '.5', '5.', '+1', '-1', '1_000', '1e5', '1E5', '0x1f', '0o7', 'NaN', '.nan', '.inf',
  'true', 'True', 'FALSE', 'null', '~', 'yes', 'no', 'on', 'off', '-a', '*', '&a', '!t', '%p', '@x', '`b', '[x]', '{x}', 'a,b', '301-302',
];

test('toYaml writes what the yaml library writes (lineWidth 0) for mappings, sequences, scalars and every kind of string', () => {
  for (const s of STRINGS) {
    const v = { k: s, [s || 'empty']: 1, list: [s, { x: s, y: [s] }], none: {}, empty: [] };
    assert.equal(toYaml(v), stringify(v, { lineWidth: 0 }), JSON.stringify(s));
  }
  const mixed = { a: 0, b: -1, c: 0.9, d: 123456789, e: true, f: false, g: null, deep: { x: { y: [1, [2, 3], { z: [] }, {}] } }, seq: [[], {}, [[1]], [{ a: 1, b: { c: 2 } }]] };
  assert.equal(toYaml(mixed), stringify(mixed, { lineWidth: 0 }));
  assert.equal(toYaml([1, 'a']), stringify([1, 'a'], { lineWidth: 0 }));
});

test('toYaml: a string with a line break is double-quoted (the library writes a block scalar) and reads back the same', () => {
  const v = { k: 'a\nb', l: ['x\n', '\n\n'] };
  assert.equal(toYaml(v), 'k: "a\\nb"\nl:\n  - "x\\n"\n  - "\\n\\n"\n');
  assert.deepEqual(parse(toYaml(v)), v);
});
