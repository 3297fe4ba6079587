/** The distribution spec's endpoints over raw HTTP: uploads, ranges, mounts, manifests, tags, referrers, refusals. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../../src/lib/clock.ts';
import { after, before, test } from 'node:test';
import { digestOf, manifestBytesMax, mediaTypes } from '../../src/registry/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { errorCode, startRegistry, token, tokenFor, type Harness } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await startRegistry();
});
after(async () => h.stop());

const octet = { 'content-type': 'application/octet-stream' };

async function pushBlob(repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  const r = await h.call(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data, headers: octet });
  assert.equal(r.status, 201, await r.text());
  return digest;
}

function imageManifest(config: { digest: string; size: number }, layers: { digest: string; size: number }[], extra: object = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, ...config },
      layers: layers.map((l) => ({ mediaType: mediaTypes.ociLayerGzip, ...l })),
      ...extra,
    }),
  );
}

async function pushImage(repo: string, tag: string, extra: object = {}): Promise<{ digest: string; layer: string; body: Buffer }> {
  const configBody = Buffer.from(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":"${tag}"}`);
  const layerBody = randomBytes(1000);
  const config = await pushBlob(repo, configBody);
  const layer = await pushBlob(repo, layerBody);
  const body = imageManifest({ digest: config, size: configBody.length }, [{ digest: layer, size: layerBody.length }], extra);
  const r = await h.call(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', body, headers: { 'content-type': mediaTypes.ociManifest } });
  assert.equal(r.status, 201, await r.text());
  return { digest: r.headers.get('docker-content-digest')!, layer, body };
}

test('/v2/ answers 200 with a token and 401 with a bearer challenge without', async () => {
  assert.equal((await h.call('/v2/')).status, 200);
  const r = await fetch(`${h.url}/v2/`);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="aloft-registry"/);
  assert.equal(await errorCode(r), 'UNAUTHORIZED');
  const basic = await fetch(`${h.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`anyone:${token}`).toString('base64')}` } });
  assert.equal(basic.status, 200, 'the token works as a basic-auth password');
});

test('/token exchanges basic credentials for a bearer token and refuses wrong ones', async () => {
  const ok = await fetch(`${h.url}/token?service=aloft-registry&scope=repository:acme/app:pull,push`, {
    headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` },
  });
  assert.equal(ok.status, 200);
  const body = (await ok.json()) as { token: string };
  assert.equal((await fetch(`${h.url}/v2/`, { headers: { authorization: `Bearer ${body.token}` } })).status, 200);
  const bad = await fetch(`${h.url}/token`, { headers: { authorization: `Basic ${Buffer.from('x:nope').toString('base64')}` } });
  assert.equal(bad.status, 401);
});

test('a chunked upload in three PATCHes becomes one verified blob', async () => {
  const data = randomBytes(300_000);
  const digest = digestOf(data);
  let r = await h.call('/v2/acme/chunked/blobs/uploads/', { method: 'POST' });
  assert.equal(r.status, 202);
  let location = r.headers.get('location')!;
  const cuts = [0, 100_000, 250_000, data.length];
  for (let i = 0; i < 3; i++) {
    const chunk = data.subarray(cuts[i], cuts[i + 1]);
    r = await h.call(location, { method: 'PATCH', body: chunk, headers: { ...octet, 'content-range': `${cuts[i]}-${cuts[i + 1]! - 1}` } });
    assert.equal(r.status, 202);
    assert.equal(r.headers.get('range'), `0-${cuts[i + 1]! - 1}`);
    location = r.headers.get('location')!;
  }
  const status = await h.call(location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), `0-${data.length - 1}`);
  assert.equal((await h.call(`/v2/acme/chunked/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'not visible before completion');
  r = await h.call(`${location}?digest=${digest}`, { method: 'PUT' });
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('docker-content-digest'), digest);
  const got = await h.call(`/v2/acme/chunked/blobs/${digest}`);
  assert.deepEqual(Buffer.from(await got.arrayBuffer()), data);
});

test('an out-of-order chunk is refused with 416 and the offset to resume from', async () => {
  const r = await h.call('/v2/acme/chunked/blobs/uploads/', { method: 'POST' });
  const location = r.headers.get('location')!;
  await h.call(location, { method: 'PATCH', body: Buffer.alloc(10), headers: { ...octet, 'content-range': '0-9' } });
  const bad = await h.call(location, { method: 'PATCH', body: Buffer.alloc(10), headers: { ...octet, 'content-range': '20-29' } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get('range'), '0-9');
  assert.equal((await h.call(location, { method: 'DELETE' })).status, 204);
  assert.equal(await errorCode(await h.call(location)), 'BLOB_UPLOAD_UNKNOWN', 'a cancelled upload is gone');
});

test('a wrong digest or a truncated upload is refused and nothing becomes visible', async () => {
  const data = randomBytes(5000);
  const wrong = digestOf(Buffer.from('something else'));
  let r = await h.call(`/v2/acme/bad/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: data, headers: octet });
  assert.equal(r.status, 400);
  assert.equal(await errorCode(r), 'DIGEST_INVALID');
  assert.equal((await h.call(`/v2/acme/bad/blobs/${wrong}`, { method: 'HEAD' })).status, 404);
  assert.equal((await h.call(`/v2/acme/bad/blobs/${digestOf(data)}`, { method: 'HEAD' })).status, 404);

  // Truncated: the chunk stops short of the client's Content-Range; completing with the full digest fails.
  r = await h.call('/v2/acme/bad/blobs/uploads/', { method: 'POST' });
  const location = r.headers.get('location')!;
  r = await h.call(location, { method: 'PATCH', body: data.subarray(0, 4000), headers: { ...octet, 'content-range': '0-3999' } });
  assert.equal(r.status, 202);
  r = await h.call(`${location}?digest=${digestOf(data)}`, { method: 'PUT' });
  assert.equal(await errorCode(r), 'DIGEST_INVALID');
  assert.equal((await h.call(`/v2/acme/bad/blobs/${digestOf(data)}`, { method: 'HEAD' })).status, 404);

  r = await h.call('/v2/acme/bad/blobs/uploads/?digest=sha256:xyz', { method: 'POST', body: data, headers: octet });
  assert.equal(await errorCode(r), 'DIGEST_INVALID');
  r = await h.call(`/v2/acme/bad/blobs/uploads/?digest=sha512:${'a'.repeat(128)}`, { method: 'POST', body: data, headers: octet });
  assert.equal(await errorCode(r), 'UNSUPPORTED');
});

test('a client that disconnects mid-chunk loses the session and nothing becomes visible', async () => {
  const data = randomBytes(10_000);
  const r = await h.call('/v2/acme/cut/blobs/uploads/', { method: 'POST' });
  const location = r.headers.get('location')!;
  const url = new URL(h.url);
  const socket = connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  socket.write(
    `PATCH ${location} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${data.length}\r\n\r\n`,
  );
  socket.write(data.subarray(0, 4000));
  socket.destroy();
  const deadline = systemClock.monotonicMs() + 5000;
  let code = '';
  while (systemClock.monotonicMs() < deadline && code !== 'BLOB_UPLOAD_UNKNOWN') {
    code = await errorCode(await h.call(location)).catch(() => '');
    if (code !== 'BLOB_UPLOAD_UNKNOWN') await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(code, 'BLOB_UPLOAD_UNKNOWN');
  assert.equal((await h.call(`/v2/acme/cut/blobs/${digestOf(data)}`, { method: 'HEAD' })).status, 404);
  const id = location.split('/').at(-1)!;
  assert.ok(!(await readdir(join(h.dataDir, 'tmp'))).includes(`upload-${id}`), 'its temp file is removed');
});

test('completing an upload while a chunk is still arriving is refused; once the chunk is in, it completes whole', async () => {
  const data = randomBytes(200_000);
  const digest = digestOf(data);
  const r = await h.call('/v2/acme/racing/blobs/uploads/', { method: 'POST' });
  const location = r.headers.get('location')!;
  const url = new URL(h.url);
  const socket = connect(Number(url.port), url.hostname);
  try {
    await once(socket, 'connect');
    const response = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve(text);
      });
    });
    // A chunked PATCH whose body has arrived but not ended: the registry has hashed these bytes
    // and holds them in its write batch, not in the file yet.
    socket.write(
      `PATCH ${location} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n${data.length.toString(16)}\r\n`,
    );
    socket.write(data);
    socket.write('\r\n');
    await eventually('the chunk to be received', async () => (await h.call(location)).headers.get('range') === `0-${data.length - 1}`);

    const early = await h.call(`${location}?digest=${digest}`, { method: 'PUT' });
    assert.equal(early.status, 400);
    assert.equal(await errorCode(early), 'BLOB_UPLOAD_INVALID');
    assert.equal((await h.call(`/v2/acme/racing/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'no partial blob is visible');

    socket.write('0\r\n\r\n');
    assert.match(await response, /^HTTP\/1\.1 202 /);
    const done = await h.call(`${location}?digest=${digest}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    assert.ok(Buffer.from(await (await h.call(`/v2/acme/racing/blobs/${digest}`)).arrayBuffer()).equals(data));
  } finally {
    socket.destroy();
  }
});

test('an upload whose temp file lost bytes is refused at completion, though the hash matched', async () => {
  const data = randomBytes(5000);
  const r = await h.call('/v2/acme/short/blobs/uploads/', { method: 'POST' });
  const location = r.headers.get('location')!;
  assert.equal((await h.call(location, { method: 'PATCH', body: data, headers: octet })).status, 202);
  const id = location.split('/').at(-1)!;
  await truncate(join(h.dataDir, 'tmp', `upload-${id}`), 4000);
  const done = await h.call(`${location}?digest=${digestOf(data)}`, { method: 'PUT' });
  assert.equal(done.status, 500);
  assert.equal(await errorCode(done), 'BLOB_UPLOAD_INVALID');
  assert.equal((await h.call(`/v2/acme/short/blobs/${digestOf(data)}`, { method: 'HEAD' })).status, 404);
  assert.ok(!(await readdir(join(h.dataDir, 'tmp'))).includes(`upload-${id}`), 'its temp file is removed');
});

test('pushing a blob again replaces a damaged stored copy rather than trusting it', async () => {
  const data = randomBytes(5000);
  const digest = await pushBlob('acme/damaged', data);
  const hex = digest.slice('sha256:'.length);
  await writeFile(join(h.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex), data.subarray(0, 100));
  await pushBlob('acme/repaired', data);
  for (const repo of ['acme/damaged', 'acme/repaired']) {
    const got = Buffer.from(await (await h.call(`/v2/${repo}/blobs/${digest}`)).arrayBuffer());
    assert.ok(got.equals(data), `${repo} serves the verified copy`);
  }
});

test('idle upload sessions expire on their own, temp files and all', async () => {
  // The registry's clock stands still until the test moves it: a slow computer cannot make the
  // session idle before it is looked at, and only the server's own timer can expire it after.
  let now = Date.now();
  const quick = await startRegistry({ clock: { now: () => now, monotonicMs: () => performance.now() }, uploadLimits: { uploadIdleMsMax: 200 } });
  try {
    const r = await quick.call('/v2/acme/idle/blobs/uploads/', { method: 'POST' });
    const location = r.headers.get('location')!;
    assert.equal((await quick.call(location, { method: 'PATCH', body: randomBytes(1000), headers: octet })).status, 202);
    const id = location.split('/').at(-1)!;
    assert.ok((await readdir(join(quick.dataDir, 'tmp'))).includes(`upload-${id}`));
    assert.equal((await quick.call(location)).status, 204, 'not idle yet');
    now += 201;
    // The session leaves the table before its temp file is removed: both are awaited.
    await eventually('the idle session to expire', async () => (await errorCode(await quick.call(location))) === 'BLOB_UPLOAD_UNKNOWN', 5000);
    await eventually('its temp file to be removed', async () => !(await readdir(join(quick.dataDir, 'tmp'))).includes(`upload-${id}`), 5000);
  } finally {
    await quick.stop();
  }
});

test('one organization cannot take every upload session', async () => {
  const capped = await startRegistry({ uploadLimits: { uploadsMax: 4, uploadsPerOrgMax: 2 } });
  try {
    const start = (repo: string, t: string): Promise<Response> =>
      capped.call(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${t}` } });
    assert.equal((await start('acme/a', token)).status, 202);
    assert.equal((await start('acme/b', token)).status, 202);
    const refused = await start('acme/c', token);
    assert.equal(refused.status, 429);
    assert.equal(await errorCode(refused), 'TOOMANYREQUESTS');
    assert.equal((await start('other/a', tokenFor('other'))).status, 202, 'another organization still gets one');
  } finally {
    await capped.stop();
  }
});

test('blob GET honours Range', async () => {
  const data = Buffer.from('0123456789abcdefghij');
  const digest = await pushBlob('acme/range', data);
  let r = await h.call(`/v2/acme/range/blobs/${digest}`, { headers: { range: 'bytes=5-9' } });
  assert.equal(r.status, 206);
  assert.equal(r.headers.get('content-range'), `bytes 5-9/${data.length}`);
  assert.equal(await r.text(), '56789');
  r = await h.call(`/v2/acme/range/blobs/${digest}`, { headers: { range: 'bytes=15-' } });
  assert.equal(await r.text(), 'fghij');
  r = await h.call(`/v2/acme/range/blobs/${digest}`, { headers: { range: 'bytes=-3' } });
  assert.equal(await r.text(), 'hij');
  r = await h.call(`/v2/acme/range/blobs/${digest}`, { headers: { range: 'bytes=50-60' } });
  assert.equal(r.status, 416);
  assert.equal(r.headers.get('content-range'), `bytes */${data.length}`);
  r = await h.call(`/v2/acme/range/blobs/${digest}`, { method: 'HEAD' });
  assert.equal(r.headers.get('content-length'), String(data.length));
  assert.equal(r.headers.get('docker-content-digest'), digest);
});

test('blob GET serves blobs many read buffers long, whole and by range, and survives a client hanging up mid-blob', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 123);
  const digest = await pushBlob('acme/big', data);
  let r = await h.call(`/v2/acme/big/blobs/${digest}`);
  assert.equal(r.status, 200);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(data));
  r = await h.call(`/v2/acme/big/blobs/${digest}`, { headers: { range: 'bytes=524000-1600000' } });
  assert.equal(r.status, 206);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(data.subarray(524000, 1600001)));

  const abort = new AbortController();
  r = await h.call(`/v2/acme/big/blobs/${digest}`, { signal: abort.signal });
  const reader = r.body!.getReader();
  await reader.read();
  abort.abort();
  await reader.read().catch(() => undefined);
  r = await h.call(`/v2/acme/big/blobs/${digest}`, { headers: { range: 'bytes=-5' } });
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(data.subarray(-5)));
});

test('blobs are visible only in repositories that have them; mounts work within an org and not across', async () => {
  const data = randomBytes(2000);
  const digest = await pushBlob('acme/source', data);
  assert.equal((await h.call(`/v2/acme/other/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'no link, no access');
  let r = await h.call(`/v2/acme/target/blobs/uploads/?mount=${digest}&from=acme/source`, { method: 'POST' });
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('docker-content-digest'), digest);
  assert.equal((await h.call(`/v2/acme/target/blobs/${digest}`, { method: 'HEAD' })).status, 200);

  // Org evil's own token may push to evil/target but not read acme/source, so the mount is refused.
  const evil = { authorization: `Bearer ${tokenFor('evil')}` };
  r = await h.call(`/v2/evil/target/blobs/uploads/?mount=${digest}&from=acme/source`, { method: 'POST', headers: evil });
  assert.equal(r.status, 202, 'cross-org mount falls back to an upload session');
  assert.ok(r.headers.get('location')?.startsWith('/v2/evil/target/blobs/uploads/'));
  assert.equal((await h.call(`/v2/evil/target/blobs/${digest}`, { method: 'HEAD', headers: evil })).status, 404);
  r = await h.call(`/v2/evil/target/blobs/uploads/?mount=${digest}&from=acme/source`, { method: 'POST' });
  assert.equal(r.status, 403, "acme's token cannot push into evil's repositories");
});

test('a cross-organization mount is refused even when the caller may read both repositories', async () => {
  const everyone = await startRegistry({ authorize: async () => ({ ok: true, subject: 'anyone' }) });
  try {
    const data = randomBytes(2000);
    const digest = digestOf(data);
    assert.equal((await everyone.call(`/v2/acme/shared/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data, headers: octet })).status, 201);
    let r = await everyone.call(`/v2/acme/mounted/blobs/uploads/?mount=${digest}&from=acme/shared`, { method: 'POST' });
    assert.equal(r.status, 201, 'within the organization the mount happens');
    r = await everyone.call(`/v2/evil/stolen/blobs/uploads/?mount=${digest}&from=acme/shared`, { method: 'POST' });
    assert.equal(r.status, 202, 'across organizations the client gets an upload session instead');
    assert.ok(r.headers.get('location')?.startsWith('/v2/evil/stolen/blobs/uploads/'));
    assert.equal((await everyone.call(`/v2/evil/stolen/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'and the blob is not linked');
  } finally {
    await everyone.stop();
  }
});

test('a mount of something that is not a digest is refused with DIGEST_INVALID and touches no file', async () => {
  const digest = await pushBlob('acme/mount-src', randomBytes(100));
  const victim = join(h.dir, 'victim.txt');
  await writeFile(victim, 'precious');
  // Relative to the repository's link directory and to the blob store, enough `..` reach `/`.
  const traversal = `sha256:${'../'.repeat(40)}${victim.slice(1)}`;
  for (const mount of [traversal, 'sha256:..', `sha256:${digest.slice(7).toUpperCase()}`]) {
    const r = await h.call(`/v2/acme/mount-dst/blobs/uploads/?mount=${encodeURIComponent(mount)}&from=acme/mount-src`, { method: 'POST' });
    assert.equal(r.status, 400, mount);
    assert.equal(await errorCode(r), 'DIGEST_INVALID', mount);
  }
  assert.equal(await readFile(victim, 'utf8'), 'precious', 'the file the digest pointed at is untouched');
  assert.equal((await h.call(`/v2/acme/mount-dst/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'nothing was mounted');
});

test('manifests: push by tag, get by tag and digest with content negotiation, HEAD, and delete', async () => {
  const { digest, body } = await pushImage('acme/app', 'v1');
  assert.equal(digest, digestOf(body));
  let r = await h.call('/v2/acme/app/manifests/v1', { headers: { accept: mediaTypes.ociManifest } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), mediaTypes.ociManifest);
  assert.equal(r.headers.get('docker-content-digest'), digest);
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), body);
  r = await h.call(`/v2/acme/app/manifests/${digest}`, { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-length'), String(body.length));
  r = await h.call('/v2/acme/app/manifests/v1', { headers: { accept: mediaTypes.dockerManifest } });
  assert.equal(r.status, 404, 'a client that takes only Docker manifests is not handed an OCI one');
  assert.equal(await errorCode(r), 'MANIFEST_UNKNOWN');

  assert.equal((await h.call('/v2/acme/app/manifests/v1', { method: 'DELETE' })).status, 202, 'deleting a tag');
  assert.equal((await h.call('/v2/acme/app/manifests/v1')).status, 404);
  assert.equal((await h.call(`/v2/acme/app/manifests/${digest}`)).status, 200, 'the manifest outlives its tag');
  assert.equal((await h.call(`/v2/acme/app/manifests/${digest}`, { method: 'DELETE' })).status, 202);
  assert.equal(await errorCode(await h.call(`/v2/acme/app/manifests/${digest}`)), 'MANIFEST_UNKNOWN');
});

test('Docker schema 2 manifests and indexes are stored and served with their own media type', async () => {
  const image = await pushImage('acme/multi', 'amd64');
  const dockerBody = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.dockerManifest,
      config: { mediaType: mediaTypes.dockerConfig, digest: JSON.parse(image.body.toString()).config.digest, size: JSON.parse(image.body.toString()).config.size },
      layers: [{ mediaType: mediaTypes.dockerLayerGzip, digest: image.layer, size: 1000 }],
    }),
  );
  let r = await h.call('/v2/acme/multi/manifests/docker', { method: 'PUT', body: dockerBody, headers: { 'content-type': mediaTypes.dockerManifest } });
  assert.equal(r.status, 201);
  const list = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.dockerManifestList,
      manifests: [{ mediaType: mediaTypes.dockerManifest, digest: digestOf(dockerBody), size: dockerBody.length, platform: { architecture: 'amd64', os: 'linux' } }],
    }),
  );
  r = await h.call('/v2/acme/multi/manifests/list', { method: 'PUT', body: list, headers: { 'content-type': mediaTypes.dockerManifestList } });
  assert.equal(r.status, 201);
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [{ mediaType: mediaTypes.ociManifest, digest: image.digest, size: image.body.length }] }),
  );
  r = await h.call('/v2/acme/multi/manifests/index', { method: 'PUT', body: index, headers: { 'content-type': mediaTypes.ociIndex } });
  assert.equal(r.status, 201);
  const fetched = await h.client.getManifest('acme/multi', 'list');
  assert.equal(fetched.mediaType, mediaTypes.dockerManifestList);
  assert.equal((await h.client.getManifest('acme/multi', 'index')).mediaType, mediaTypes.ociIndex);
  assert.equal((await h.client.getManifest('acme/multi', 'docker')).mediaType, mediaTypes.dockerManifest);

  const orphanIndex = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [{ mediaType: mediaTypes.ociManifest, digest: digestOf('nope'), size: 4 }] }),
  );
  r = await h.call('/v2/acme/multi/manifests/orphan', { method: 'PUT', body: orphanIndex, headers: { 'content-type': mediaTypes.ociIndex } });
  assert.equal(await errorCode(r), 'MANIFEST_BLOB_UNKNOWN');
});

test('bad manifests are refused with the right code and leave nothing behind', async () => {
  const put = (ref: string, body: Buffer | string, type: string = mediaTypes.ociManifest): Promise<Response> =>
    h.call(`/v2/acme/strict/manifests/${ref}`, { method: 'PUT', body, headers: { 'content-type': type } });
  const missing = imageManifest({ digest: digestOf('no config'), size: 9 }, []);
  let r = await put('missing', missing);
  assert.equal(r.status, 400);
  assert.equal(await errorCode(r), 'MANIFEST_BLOB_UNKNOWN');
  assert.equal(await errorCode(await put('junk', '{not json')), 'MANIFEST_INVALID');
  assert.equal(await errorCode(await put('shape', '{"schemaVersion":2,"layers":[]}')), 'MANIFEST_INVALID');
  assert.equal(await errorCode(await put('type', '{}', 'text/plain')), 'MANIFEST_INVALID');
  r = await put('big', Buffer.alloc(manifestBytesMax + 1, 0x20));
  assert.equal(r.status, 413);
  assert.equal(await errorCode(r), 'SIZE_INVALID');
  const cfg = await pushBlob('acme/strict', Buffer.from('{}'));
  const good = imageManifest({ digest: cfg, size: 2 }, []);
  r = await put(digestOf('other bytes'), good);
  assert.equal(await errorCode(r), 'DIGEST_INVALID', 'push by digest must match the body');
  assert.equal(await errorCode(await put('sha256:zz', good)), 'DIGEST_INVALID');
  assert.equal(await errorCode(await put('md5:abc', good)), 'UNSUPPORTED');
  assert.equal(await errorCode(await put('-badtag', good)), 'MANIFEST_INVALID');
  r = await h.call('/v2/acme/strict/tags/list');
  assert.deepEqual(((await r.json()) as { tags: string[] }).tags, [], 'no refused push left a tag');
});

test('invalid repository names are refused with NAME_INVALID', async () => {
  for (const name of ['UPPER/case', 'noorg', 'acme/-dash', 'acme//double', `acme/${'a'.repeat(300)}`, 'acme/_meta']) {
    const r = await h.call(`/v2/${name}/tags/list`);
    assert.equal(r.status, 400, name);
    assert.equal(await errorCode(r), 'NAME_INVALID', name);
  }
  assert.equal(await errorCode(await h.call('/v2/acme/nothing-here/tags/list')), 'NAME_UNKNOWN');
});

test('tags list paginates with n, last and a Link header', async () => {
  for (const tag of ['c', 'a', 'e', 'b', 'd']) await pushImage('acme/paged', tag);
  let r = await h.call('/v2/acme/paged/tags/list?n=2');
  assert.deepEqual(await r.json(), { name: 'acme/paged', tags: ['a', 'b'] });
  assert.equal(r.headers.get('link'), '</v2/acme/paged/tags/list?n=2&last=b>; rel="next"');
  r = await h.call('/v2/acme/paged/tags/list?n=2&last=b');
  assert.deepEqual(((await r.json()) as { tags: string[] }).tags, ['c', 'd']);
  r = await h.call('/v2/acme/paged/tags/list?n=2&last=d');
  assert.deepEqual(((await r.json()) as { tags: string[] }).tags, ['e']);
  assert.equal(r.headers.get('link'), null);
  r = await h.call('/v2/acme/paged/tags/list');
  assert.deepEqual(((await r.json()) as { tags: string[] }).tags, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(await h.client.listTags('acme/paged'), ['a', 'b', 'c', 'd', 'e']);
});

test('referrers lists manifests whose subject is the digest, filtered by artifactType', async () => {
  const subject = await pushImage('acme/signed', 'v1');
  const subjectDescriptor = { mediaType: mediaTypes.ociManifest, digest: subject.digest, size: subject.body.length };
  const sig = await pushImage('acme/signed', 'sig', { artifactType: 'application/vnd.example.signature', subject: subjectDescriptor });
  await pushImage('acme/signed', 'sbom', { artifactType: 'application/vnd.example.sbom', subject: subjectDescriptor });
  let r = await h.call(`/v2/acme/signed/referrers/${subject.digest}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), mediaTypes.ociIndex);
  const all = (await r.json()) as { manifests: { artifactType: string; digest: string }[] };
  assert.deepEqual(all.manifests.map((m) => m.artifactType).sort(), ['application/vnd.example.sbom', 'application/vnd.example.signature']);
  r = await h.call(`/v2/acme/signed/referrers/${subject.digest}?artifactType=application/vnd.example.signature`);
  assert.equal(r.headers.get('oci-filters-applied'), 'artifactType');
  assert.deepEqual(((await r.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest), [sig.digest]);
  await h.call(`/v2/acme/signed/manifests/${sig.digest}`, { method: 'DELETE' });
  r = await h.call(`/v2/acme/signed/referrers/${subject.digest}`);
  assert.equal(((await r.json()) as { manifests: unknown[] }).manifests.length, 1, 'a deleted referrer is no longer listed');
  r = await h.call(`/v2/acme/signed/referrers/${digestOf('nothing')}`);
  assert.deepEqual(((await r.json()) as { manifests: unknown[] }).manifests, []);
});

test('the authorize hook sees repository and action, and a 403 becomes DENIED', async () => {
  const seen: string[] = [];
  const denying = await startRegistry({
    authorize: async (req) => {
      seen.push(`${req.action}:${req.repository ?? '-'}`);
      return req.action === 'push' ? { ok: false, status: 403 } : { ok: true, subject: 'reader' };
    },
  });
  try {
    const r = await denying.call('/v2/acme/ro/blobs/uploads/', { method: 'POST' });
    assert.equal(r.status, 403);
    assert.equal(await errorCode(r), 'DENIED');
    assert.equal((await denying.call('/v2/acme/ro/tags/list')).status, 404);
    assert.deepEqual(seen, ['push:acme/ro', 'pull:acme/ro']);
  } finally {
    await denying.stop();
  }
});
