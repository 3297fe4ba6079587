// Authorization header forms: Bearer, Fly's FlyV1 and Basic, one or several comma-separated tokens.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseAuthorization } from '../../src/tokens/index.ts';
import { assertRefused } from './helpers.ts';

it('reads Bearer and FlyV1 headers, case-insensitively, with one or more tokens', () => {
  assert.deepEqual(parseAuthorization('Bearer aloft_abc'), ['aloft_abc']);
  assert.deepEqual(parseAuthorization('FlyV1 aloft_abc,aloft_def'), ['aloft_abc', 'aloft_def']);
  assert.deepEqual(parseAuthorization('  flyv1   aloft_abc , aloft_def ,'), ['aloft_abc', 'aloft_def']);
  assert.deepEqual(parseAuthorization('bearer aloft_abc'), ['aloft_abc']);
});

it('reads tokens from the password of Basic auth, as docker clients send them', () => {
  const basic = (userPass: string): string => `Basic ${Buffer.from(userPass).toString('base64')}`;
  assert.deepEqual(parseAuthorization(basic('x:aloft_abc')), ['aloft_abc']);
  assert.deepEqual(parseAuthorization(basic('x:aloft_abc,aloft_def')), ['aloft_abc', 'aloft_def']);
  assertRefused(() => parseAuthorization(basic('aloft_abc')), 'unauthorized', 'malformed');
  assertRefused(() => parseAuthorization(basic('x:')), 'unauthorized', 'malformed');
});

it('refuses missing, foreign-scheme, empty and oversized headers with 401', () => {
  assertRefused(() => parseAuthorization(undefined), 'unauthorized', 'missing');
  assertRefused(() => parseAuthorization('  '), 'unauthorized', 'missing');
  assertRefused(() => parseAuthorization('Digest username="x"'), 'unauthorized', 'malformed');
  assertRefused(() => parseAuthorization('aloft_abc'), 'unauthorized', 'malformed');
  assertRefused(() => parseAuthorization('Bearer ,,'), 'unauthorized', 'malformed');
  assertRefused(() => parseAuthorization(`Bearer ${Array(17).fill('aloft_x').join(',')}`), 'unauthorized', 'malformed');
  assertRefused(() => parseAuthorization(`Bearer aloft_${'a'.repeat(70_000)}`), 'unauthorized', 'malformed');
});
