/**
 * The builder's pure parts: FROM rewriting, the generated Node.js Dockerfile, apt sources, image
 * names, and reading buildah's failures (lines as buildah 1.28 prints them).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseImageName } from '../../src/build/index.ts';
import { buildFailure, pushFailure } from '../../src/build/build-errors.ts';
import { mirrorFor, parseDeb822, parseSourcesList } from '../../src/build/debian-mirror.ts';
import { qualifyFromLines } from '../../src/build/dockerfile.ts';
import { nodeDockerfile } from '../../src/build/node-app.ts';
import { AloftError } from '../../src/lib/index.ts';

const reg = '127.0.0.1:7705';

describe('FROM short names', () => {
  it('become the org repositories on the Aloft registry; hosts, stages, scratch and ARGs stay', () => {
    const input = [
      'FROM node:24 AS deps',
      'RUN echo FROM nothing',
      'from --platform=linux/amd64 debian:bookworm as Build',
      'FROM team/base:v1',
      'FROM registry.example.com/x/y:1',
      'FROM localhost:5000/z',
      'FROM deps',
      'FROM build AS final',
      'FROM scratch',
      'FROM ${BASE}',
      'FROM node@sha256:' + 'a'.repeat(64),
    ].join('\n');
    assert.deepEqual(qualifyFromLines(input, reg, 'acme').split('\n'), [
      `FROM ${reg}/acme/node:24 AS deps`,
      'RUN echo FROM nothing',
      `from --platform=linux/amd64 ${reg}/acme/debian:bookworm as Build`,
      `FROM ${reg}/team/base:v1`,
      'FROM registry.example.com/x/y:1',
      'FROM localhost:5000/z',
      'FROM deps',
      'FROM build AS final',
      'FROM scratch',
      'FROM ${BASE}',
      `FROM ${reg}/acme/node@sha256:${'a'.repeat(64)}`,
    ]);
  });
});

describe('image names', () => {
  it('puts a bare name in the org, keeps a nested one, defaults the tag', () => {
    assert.deepEqual(parseImageName('web:v1', 'acme'), { repository: 'acme/web', tag: 'v1' });
    assert.deepEqual(parseImageName('other/web', 'acme'), { repository: 'other/web', tag: 'latest' });
  });
  it('refuses bad names with a hint', () => {
    for (const bad of ['Web:v1', 'web:', 'web:-x', '/web', 'a//b']) {
      assert.throws(() => parseImageName(bad, 'acme'), (e: AloftError) => e.fault === 'user' && e.hint !== undefined, bad);
    }
  });
});

describe('the generated Node.js Dockerfile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aloft-nodeapp-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));
  const app = async (pkg: unknown, files: Record<string, string> = {}): Promise<string> => {
    const d = await mkdtemp(join(dir, 'app-'));
    await writeFile(join(d, 'package.json'), typeof pkg === 'string' ? pkg : JSON.stringify(pkg));
    for (const [name, text] of Object.entries(files)) await writeFile(join(d, name), text);
    return d;
  };

  it('with no dependencies: no install step, CMD from a plain `node` start script', async () => {
    const text = (await nodeDockerfile(await app({ scripts: { start: 'node server.js --quiet' } })))!;
    assert.equal(text, ['FROM node:24', 'WORKDIR /app', 'ENV NODE_ENV=production PORT=8080', 'COPY . .', 'EXPOSE 8080', 'CMD ["node","server.js","--quiet"]', ''].join('\n'));
  });
  it('with dependencies and a lock: npm ci in its own layer before the source', async () => {
    const text = (await nodeDockerfile(await app({ dependencies: { x: '1' }, main: 'index.js' }, { 'package-lock.json': '{}' })))!;
    assert.match(text, /COPY package\*\.json \.\/\nRUN npm ci --omit=dev\nCOPY \. \.\n/);
    assert.match(text, /CMD \["node","index.js"\]/);
  });
  it('with dependencies and no lock: npm install; a start script with shell syntax runs through npm', async () => {
    const text = (await nodeDockerfile(await app({ dependencies: { x: '1' }, scripts: { start: 'PORT=1 node a.js && echo' } })))!;
    assert.match(text, /RUN npm install --omit=dev\n/);
    assert.match(text, /CMD \["npm","start"\]/);
  });
  it('falls back to server.js, and fails with a config fault when nothing says how to start', async () => {
    assert.match((await nodeDockerfile(await app({}, { 'server.js': '' })))!, /CMD \["node","server.js"\]/);
    await assert.rejects(nodeDockerfile(await app({ name: 'x' })), (e: AloftError) => e.code === 'no_start_command' && e.fault === 'config' && /scripts\.start/.test(e.message) && /Dockerfile/.test(e.hint ?? ''));
    await assert.rejects(nodeDockerfile(await app('{ not json')), (e: AloftError) => e.code === 'bad_package_json' && e.fault === 'config');
  });
  it('is null for a directory without package.json', async () => {
    assert.equal(await nodeDockerfile(dir), null);
  });
});

describe('the Debian mirror from apt sources', () => {
  it('reads deb822 and one-line sources and picks the one serving the suite itself', () => {
    const deb822 = parseDeb822(
      ['Types: deb', 'URIs: http://security.example/debian-security', 'Suites: bookworm-security', '', 'Types: deb-src', 'URIs: http://src.example/debian', 'Suites: bookworm', '', 'Types: deb', 'URIs: http://mirror.example/debian', 'Suites: bookworm bookworm-updates', 'Components: main'].join('\n'),
    );
    assert.equal(mirrorFor(deb822, 'bookworm'), 'http://mirror.example/debian');
    const list = parseSourcesList('# deb http://commented/ bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n');
    assert.equal(mirrorFor(list, 'bookworm'), 'http://one.example/debian');
    assert.equal(mirrorFor(list, 'trixie'), undefined);
  });
});

describe('buildah failures', () => {
  const fault = (step: string, tail: string[]): [string, string] => {
    const e = buildFailure(step, tail, reg, 'acme');
    return [e.code, e.fault];
  };
  it('a RUN that exits non-zero is the app, with only its own output as the tail', () => {
    const step = 'STEP 3/3: RUN make';
    const e = buildFailure(step, ['STEP 2/3: COPY . .', step, 'cc -o app', 'error: missing ;', 'subprocess exited with status 2', 'Error: building at STEP "RUN make": exit status 2'], reg, 'acme');
    assert.deepEqual([e.code, e.fault, e.details.log_tail], ['build_step_failed', 'app', ['cc -o app', 'error: missing ;']]);
    assert.match(e.message, /STEP 3\/3: RUN make.*status 2/);
  });
  it('an unreachable registry is ours, refused credentials the user\'s, a missing base the config\'s', () => {
    assert.deepEqual(
      fault('', ['Error: creating build container: initializing source docker://127.0.0.1:1/acme/x:1: pinging container registry 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused']),
      ['registry_unreachable', 'platform'],
    );
    assert.deepEqual(fault('STEP 1/2: FROM x', ['Error: creating build container: initializing source docker://r/acme/x:1: reading manifest 1 in r/acme/x: unauthorized: token expired']), ['registry_denied', 'user']);
    assert.deepEqual(fault('STEP 1/2: FROM x', ['Error: creating build container: initializing source docker://r/acme/x:1: reading manifest 1 in r/acme/x: manifest unknown']), ['base_image_not_found', 'config']);
    assert.deepEqual(fault('STEP 2/2: FROBNICATE x', ['Error: building at STEP "FROBNICATE ": Build error: Unknown instruction: "FROBNICATE"']), ['build_failed', 'config']);
    assert.deepEqual(fault('', []), ['build_failed', 'platform']);
  });
  it('a refused push is the user\'s, any other push failure ours', () => {
    assert.equal(pushFailure('r/acme/x:1', ['Error: writing blob: denied: requested access to the resource is denied']).fault, 'user');
    assert.equal(pushFailure('r/acme/x:1', ['Error: writing blob: no space left on device']).fault, 'platform');
  });
});
