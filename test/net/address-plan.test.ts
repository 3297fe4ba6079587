import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandIpv6, formatIpv6, machineAddresses, orgHostPrefix, orgPrefix, parseSixpn, slotCountMax, slotOfIpv4 } from '../../src/net/index.ts';

test('a machine gets a /30 in 172.19.0.0/16 and a 6PN /80, both from its slot', () => {
  assert.deepEqual(machineAddresses(0x1234, 7, 0), {
    slot: 0,
    ipv4: '172.19.0.2',
    hostIpv4: '172.19.0.1',
    ipv6: 'fdaa:0:1234:7::2',
    hostIpv6: 'fdaa:0:1234:7::1',
  });
  const last = machineAddresses(65535, 65535, slotCountMax - 1);
  assert.equal(last.ipv4, '172.19.255.254');
  assert.equal(last.hostIpv4, '172.19.255.253');
  assert.equal(last.ipv6, 'fdaa:0:ffff:ffff:3fff::2');
});

test('6PN addresses decode back to org, host and slot', () => {
  for (const [org, host, slot] of [[1, 2, 3], [65535, 0, 16383], [0, 65535, 0]] as const) {
    const a = machineAddresses(org, host, slot);
    assert.deepEqual(parseSixpn(a.ipv6), { org, hostNum: host, slot, end: 2 });
    assert.deepEqual(parseSixpn(a.hostIpv6), { org, hostNum: host, slot, end: 1 });
    assert.equal(slotOfIpv4(a.ipv4), slot);
    assert.equal(slotOfIpv4(a.hostIpv4), slot);
  }
  assert.equal(parseSixpn('fd00::1'), null);
  assert.equal(parseSixpn('not an address'), null);
  assert.equal(slotOfIpv4('10.0.0.1'), null);
});

test('distinct slots never share an address', () => {
  const seen = new Set<string>();
  for (let slot = 0; slot < slotCountMax; slot += 1) {
    const a = machineAddresses(9, 9, slot);
    for (const addr of [a.ipv4, a.hostIpv4, a.ipv6, a.hostIpv6]) {
      assert.ok(!seen.has(addr), addr);
      seen.add(addr);
    }
  }
});

test('prefixes for isolation and routing', () => {
  assert.equal(orgPrefix(0xabc), 'fdaa:0:abc::/48');
  assert.equal(orgHostPrefix(0xabc, 2), 'fdaa:0:abc:2::/64');
});

test('out-of-range numbers are refused', () => {
  assert.throws(() => machineAddresses(65536, 0, 0), /org must be/);
  assert.throws(() => machineAddresses(0, -1, 0), /hostNum must be/);
  assert.throws(() => machineAddresses(0, 0, slotCountMax), /slot must be/);
  assert.throws(() => machineAddresses(0, 0, 1.5), /slot must be/);
});

test('IPv6 expansion', () => {
  assert.deepEqual(expandIpv6('fdaa:0:1::2'), [0xfdaa, 0, 1, 0, 0, 0, 0, 2]);
  assert.deepEqual(expandIpv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(expandIpv6('1:2:3:4:5:6:7:8:9'), null);
  assert.equal(expandIpv6('1::2::3'), null);
});

test('IPv6 text form is canonical, as ip prints it', () => {
  assert.equal(formatIpv6([0xfdaa, 0, 1, 0, 0, 0, 0, 2]), 'fdaa:0:1::2');
  assert.equal(formatIpv6([1, 0, 0, 2, 0, 0, 0, 3]), '1:0:0:2::3');
  assert.equal(formatIpv6([1, 2, 3, 4, 5, 6, 0, 8]), '1:2:3:4:5:6:0:8');
  assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
});
