import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatImageRef, parseImageRef } from '../../../src/agent/image/index.ts';

const digest = `sha256:${'ab'.repeat(32)}`;

test('a bare name gets the default registry, library/ and latest', () => {
  assert.deepEqual(parseImageRef('busybox'), { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', digest: null });
});

test('host:port, nested path and tag are split at the right colons', () => {
  assert.deepEqual(parseImageRef('registry.local:5000/acme/web/api:v1.2-rc'), {
    registry: 'registry.local:5000',
    repository: 'acme/web/api',
    tag: 'v1.2-rc',
    digest: null,
  });
  assert.deepEqual(parseImageRef('localhost/app'), { registry: 'localhost', repository: 'app', tag: 'latest', digest: null });
});

test('a digest reference has no default tag, and keeps an explicit one', () => {
  assert.deepEqual(parseImageRef(`acme/app@${digest}`), { registry: 'docker.io', repository: 'acme/app', tag: null, digest });
  assert.equal(parseImageRef(`r.io/acme/app:v1@${digest}`).tag, 'v1');
  assert.equal(formatImageRef(parseImageRef(`r.io/acme/app:v1@${digest}`)), `r.io/acme/app:v1@${digest}`);
});

test('the default registry can be ours', () => {
  assert.deepEqual(parseImageRef('acme/app', { registry: 'registry.aloft.internal' }), {
    registry: 'registry.aloft.internal',
    repository: 'acme/app',
    tag: 'latest',
    digest: null,
  });
});

test('bad references are user errors naming the bad part', () => {
  for (const bad of ['', 'UPPER/case', 'app:bad tag', 'app@sha256:short', 'a//b', `x${'/a'.repeat(300)}`, 'app:']) {
    assert.throws(() => parseImageRef(bad), (err: unknown) => (err as { code?: string; fault?: string }).code === 'invalid_request' && (err as { fault?: string }).fault === 'user', bad);
  }
});
