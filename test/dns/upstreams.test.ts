/** Which resolvers names outside `.internal` go to, read from a resolv.conf. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { upstreamsFromResolvConf } from '../../src/dns/forwarder.ts';

test('nameservers from resolv.conf, without this server itself or fdaa::3 (which would loop) and without junk', () => {
  const text = ['# generated', 'search example.org', 'nameserver 10.0.0.2', 'nameserver fdaa::3', '  nameserver 127.0.0.1', 'nameserver fe80::1%eth0', 'nameserver not-an-ip', 'options ndots:0', 'nameserver ::1'].join('\n');
  assert.deepEqual(upstreamsFromResolvConf(text, [{ host: '127.0.0.1', port: 53 }]), [
    { host: '10.0.0.2', port: 53 },
    { host: 'fe80::1%eth0', port: 53 },
    { host: '::1', port: 53 },
  ]);
  assert.deepEqual(upstreamsFromResolvConf(text, [{ host: '::1', port: 5353 }]).map((u) => u.host), ['10.0.0.2', '127.0.0.1', 'fe80::1%eth0', '::1'], 'on another port this server is not in the way');
});
