/**
 * A registry client for the agent and the CLI. It reads images (implementing the agent's
 * ImageSource) and writes them (implementing ImageSink), speaks bearer and basic auth including
 * the docker token dance, and verifies every digest it reads: a blob stream fails rather than
 * end with bytes that do not match, and a manifest is checked against the digest asked for.
 *
 * Methods may be called concurrently; tokens are cached per scope.
 */
import { pipeline, Readable, Transform } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { FetchedManifest, ImageSource } from '../agent/image/types.ts';
import { PlatformError } from '../lib/errors.ts';
import { answerChallenge, parseChallenge, type RegistryCredentials } from './client-auth.ts';
import { DigestVerifier, digestFromHash, digestOf, isDigest, newDigester } from './digest.ts';
import { RegistryError, registryErrorFromBody } from './errors.ts';
import type { ImageSink, PushedBlob } from './image-sink.ts';
import { manifestBytesMax } from './manifest.ts';
import { manifestMediaTypes } from './media-types.ts';

export type { RegistryCredentials } from './client-auth.ts';

export interface RegistryClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:5000`. */
  url: string;
  credentials?: RegistryCredentials;
  /** An undici dispatcher to share connections; the client makes (and closes) its own otherwise. */
  dispatcher?: Dispatcher;
}

/** Redirects followed for one blob read (registries may send blobs from elsewhere). */
const redirectsMax = 5;
/** Error bodies are read up to this for their OCI error code, then dropped. */
const errorBodyBytesMax = 64 * 1024;

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Call {
  method: Method;
  url: URL;
  /** The scope to authenticate for, e.g. `repository:org/app:pull`. */
  scope: string;
  headers?: Record<string, string>;
  /** Streams cannot be replayed after a 401; callers authenticate first with a bodiless call. */
  body?: Buffer | Readable;
}

export class RegistryClient implements ImageSource, ImageSink {
  readonly baseUrl: URL;
  readonly #credentials: RegistryCredentials | undefined;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  /** Authorization header per scope, from earlier challenges. */
  readonly #auth = new Map<string, string>();

  constructor(options: RegistryClientOptions) {
    this.baseUrl = new URL(options.url);
    this.#credentials = options.credentials;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000 });
  }

  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const response = await this.#call({
      method: 'GET',
      url: this.#url(`/v2/${repository}/manifests/${reference}`),
      scope: pullScope(repository),
      headers: { accept: manifestMediaTypes.join(', ') },
    });
    await expectStatus(response, [200]);
    const body = await readLimited(response.body, manifestBytesMax);
    const digest = digestOf(body);
    const expected = isDigest(reference) ? reference : headerOf(response, 'docker-content-digest');
    if (expected !== null && expected !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest ${repository}:${reference} has digest ${digest}, expected ${expected}`, {
        detail: { expected, actual: digest },
        fault: 'platform',
      });
    }
    const mediaType = (headerOf(response, 'content-type') ?? '').split(';')[0]!.trim();
    return { mediaType, digest, body };
  }

  /** The blob's bytes; the stream errors with DIGEST_INVALID at its end if they do not match. */
  async getBlob(repository: string, digest: string): Promise<Readable> {
    let url = this.#url(`/v2/${repository}/blobs/${digest}`);
    for (let redirect = 0; redirect <= redirectsMax; redirect++) {
      const sameOrigin = url.origin === this.baseUrl.origin;
      const response = sameOrigin
        ? await this.#call({ method: 'GET', url, scope: pullScope(repository) })
        : await request(url, { method: 'GET', dispatcher: this.#dispatcher });
      const location = headerOf(response, 'location');
      if ([301, 302, 303, 307, 308].includes(response.statusCode) && location !== null) {
        await response.body.dump();
        url = new URL(location, url);
        continue;
      }
      await expectStatus(response, [200]);
      const verifier = new DigestVerifier(digest);
      return pipeline(response.body, verifier, () => {
        // Errors reach the consumer through `verifier`; nothing else to do here.
      });
    }
    throw new PlatformError('registry_redirects', `more than ${redirectsMax} redirects fetching ${digest}`);
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    return (await this.#statBlob(repository, digest)) !== null;
  }

  async pushBlob(repository: string, data: Readable | Buffer, digest?: string): Promise<PushedBlob> {
    if (digest !== undefined) {
      const sizeBytes = await this.#statBlob(repository, digest);
      if (sizeBytes !== null) {
        if (data instanceof Readable) data.destroy();
        return { digest, sizeBytes };
      }
    }
    const location = await this.#startUpload(repository);
    if (Buffer.isBuffer(data)) {
      const actual = digest ?? digestOf(data);
      await this.#finishUpload(repository, location, actual, data);
      return { digest: actual, sizeBytes: data.length };
    }
    // Stream the bytes in one PATCH while hashing them, then complete with the digest.
    const hash = newDigester();
    let sizeBytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        sizeBytes += chunk.length;
        callback(null, chunk);
      },
    });
    const response = await this.#call({
      method: 'PATCH',
      url: location,
      scope: pushScope(repository),
      headers: { 'content-type': 'application/octet-stream' },
      body: pipeline(data, counter, () => {}),
    });
    await expectStatus(response, [202]);
    await response.body.dump();
    const actual = digestFromHash(hash);
    const next = new URL(headerOf(response, 'location') ?? location.href, location);
    await this.#finishUpload(repository, next, digest ?? actual, undefined);
    return { digest: digest ?? actual, sizeBytes };
  }

  /** Links a blob from another repository; false when the registry declined (then nothing was started). */
  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    const url = this.#url(`/v2/${repository}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const response = await this.#call({ method: 'POST', url, scope: `${pushScope(repository)} ${pullScope(from)}` });
    await expectStatus(response, [201, 202]);
    await response.body.dump();
    if (response.statusCode === 201) return true;
    const location = headerOf(response, 'location');
    if (location !== null) await (await this.#call({ method: 'DELETE', url: new URL(location, this.baseUrl), scope: pushScope(repository) })).body.dump();
    return false;
  }

  async pushManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    const digest = digestOf(body);
    const response = await this.#call({
      method: 'PUT',
      url: this.#url(`/v2/${repository}/manifests/${reference}`),
      scope: pushScope(repository),
      headers: { 'content-type': mediaType },
      body,
    });
    await expectStatus(response, [201]);
    await response.body.dump();
    const returned = headerOf(response, 'docker-content-digest');
    if (returned !== null && returned !== digest) {
      throw new RegistryError('DIGEST_INVALID', `registry stored manifest as ${returned}, expected ${digest}`, { fault: 'platform' });
    }
    return digest;
  }

  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let url: URL | null = this.#url(`/v2/${repository}/tags/list`);
    while (url !== null) {
      const response = await this.#call({ method: 'GET', url, scope: pullScope(repository) });
      await expectStatus(response, [200]);
      const page = (await response.body.json()) as { tags?: string[] | null };
      tags.push(...(page.tags ?? []));
      const next = /<([^>]+)>;\s*rel="next"/.exec(headerOf(response, 'link') ?? '');
      url = next === null ? null : new URL(next[1]!, this.baseUrl);
    }
    return tags;
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    const response = await this.#call({ method: 'DELETE', url: this.#url(`/v2/${repository}/manifests/${reference}`), scope: deleteScope(repository) });
    await expectStatus(response, [202]);
    await response.body.dump();
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  async #statBlob(repository: string, digest: string): Promise<number | null> {
    const response = await this.#call({ method: 'HEAD', url: this.#url(`/v2/${repository}/blobs/${digest}`), scope: pullScope(repository) });
    await response.body.dump();
    if (response.statusCode === 404) return null;
    await expectStatus(response, [200]);
    return Number(headerOf(response, 'content-length') ?? '0');
  }

  async #startUpload(repository: string): Promise<URL> {
    const response = await this.#call({ method: 'POST', url: this.#url(`/v2/${repository}/blobs/uploads/`), scope: pushScope(repository) });
    await expectStatus(response, [202]);
    await response.body.dump();
    const location = headerOf(response, 'location');
    if (location === null) throw new PlatformError('registry_protocol', 'upload started without a Location');
    return new URL(location, this.baseUrl);
  }

  async #finishUpload(repository: string, location: URL, digest: string, body: Buffer | undefined): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const response = await this.#call({
      method: 'PUT',
      url,
      scope: pushScope(repository),
      headers: { 'content-type': 'application/octet-stream' },
      ...(body === undefined ? {} : { body }),
    });
    await expectStatus(response, [201]);
    await response.body.dump();
  }

  #url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  /** One request, answering a 401 challenge once (only when the body can be sent again). */
  async #call(call: Call): Promise<Dispatcher.ResponseData> {
    const send = (): Promise<Dispatcher.ResponseData> => {
      const auth = this.#auth.get(call.scope);
      return request(call.url, {
        method: call.method,
        dispatcher: this.#dispatcher,
        headers: { ...call.headers, ...(auth === undefined ? {} : { authorization: auth }) },
        ...(call.body === undefined ? {} : { body: call.body }),
      });
    };
    const response = await send();
    const challenge = parseChallenge(headerOf(response, 'www-authenticate') ?? '');
    if (response.statusCode !== 401 || challenge === null || call.body instanceof Readable) return response;
    await response.body.dump();
    this.#auth.set(call.scope, await answerChallenge(challenge, call.scope, this.#credentials, this.#dispatcher));
    return send();
  }
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function deleteScope(repository: string): string {
  return `repository:${repository}:delete`;
}

function headerOf(response: Dispatcher.ResponseData, name: string): string | null {
  const value = response.headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Throws the registry's own error (parsed from its OCI body) unless the status is expected. */
async function expectStatus(response: Dispatcher.ResponseData, expected: number[]): Promise<void> {
  if (expected.includes(response.statusCode)) return;
  let text = '';
  try {
    text = (await readLimited(response.body, errorBodyBytesMax)).toString('utf8');
  } catch {
    await response.body.dump();
  }
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: reported below as text.
  }
  const error = registryErrorFromBody(response.statusCode, parsed);
  if (error !== null) throw error;
  throw new PlatformError('registry_http', `registry answered HTTP ${response.statusCode}: ${text.slice(0, 200)}`, { status: response.statusCode });
}

async function readLimited(body: AsyncIterable<Buffer>, bytesMax: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > bytesMax) throw new PlatformError('registry_response_too_large', `response exceeds ${bytesMax} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
