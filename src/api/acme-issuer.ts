/**
 * Obtains certificates by ACME (RFC 8555) with the http-01 challenge, through `acme-client`.
 * The challenge answer is put in the central store, from where every proxy fetches it (like
 * certificates) and serves it at `/.well-known/acme-challenge/<token>` on its HTTP port; the
 * issuer tells the ACME server to validate only once the proxies answer (`awaitServed`).
 */
import { generateKeyPairSync } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
import { request } from 'undici';
import { AloftError, sleep, type Logger } from '../lib/index.ts';
import type { CertificateStore } from './cert-store.ts';

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  notAfterMs: number;
}

/** What the certificate routes need: something that turns a hostname into a certificate. */
export interface CertificateIssuer {
  /** Resolves with the certificate, or rejects with an AloftError saying what failed. */
  issue(hostname: string): Promise<IssuedCertificate>;
  /** Ends waits of issuances in flight (they then fail); later issuances fail at once. */
  close?(): void;
}

export interface AcmeIssuerOptions {
  directoryUrl: string;
  store: CertificateStore;
  logger: Logger;
  email?: string;
  /**
   * Extra CA (PEM) to trust for the ACME server's own HTTPS, for a private ACME server such as
   * Pebble or step-ca. It applies to every ACME request of this process (acme-client has one
   * HTTP client).
   */
  caPem?: string;
  /**
   * Resolves once the proxies answer `token` for `hostname`; rejects if they do not in time.
   * Without it the issuer waits `propagationDelayMs`.
   */
  awaitServed?: (hostname: string, token: string, keyAuthorization: string, signal: AbortSignal) => Promise<void>;
}

/** How long challenges get to reach every proxy when nobody can tell when they have. */
export const propagationDelayMs = 3_000;
/** Issuances in flight at once; more wait their turn (each holds an ACME order open). */
export const issuancesInFlightMax = 4;

export class AcmeIssuer implements CertificateIssuer {
  readonly #opts: AcmeIssuerOptions;
  #client: acme.Client | undefined;
  #inFlight = 0;
  readonly #queue: Array<() => void> = [];
  readonly #closed = new AbortController();

  constructor(opts: AcmeIssuerOptions) {
    this.#opts = opts;
    if (opts.caPem !== undefined) {
      acme.axios.defaults.httpsAgent = new HttpsAgent({ ca: [...rootCertificates, opts.caPem] });
    }
  }

  close(): void {
    this.#closed.abort(new Error('the platform is shutting down'));
    for (const wake of this.#queue.splice(0)) wake();
  }

  async issue(hostname: string): Promise<IssuedCertificate> {
    await this.#slot();
    try {
      this.#closed.signal.throwIfAborted();
      return await this.#issue(hostname);
    } catch (err) {
      // The CA could not reach us at the name, or the name's DNS is wrong: the hostname's owner fixes that.
      const fault = /connection|unauthorized|dns|rejectedIdentifier|caa/i.test(acmeType(err)) ? 'config' : 'platform';
      throw new AloftError('acme_failed', fault, `the ACME server did not issue a certificate for ${hostname}: ${acmeMessage(err)}`, {
        status: 502,
        cause: err,
        hint: `check that ${hostname} resolves to this platform's proxies and that port 80 reaches them, then add it again`,
      });
    } finally {
      this.#inFlight -= 1;
      this.#queue.shift()?.();
    }
  }

  async #issue(hostname: string): Promise<IssuedCertificate> {
    const { store, logger } = this.#opts;
    const [keyPem, csr] = await acme.crypto.createCsr({ commonName: hostname, altNames: [hostname] }, await acme.crypto.createPrivateEcdsaKey());
    const client = this.#acmeClient();
    await this.#ensureAccount(client);
    const certPem = await client.auto({
      csr,
      ...(this.#opts.email === undefined ? {} : { email: this.#opts.email }),
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // acme-client's own pre-check resolves the name through public DNS; ours asks the proxies.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        this.#closed.signal.throwIfAborted();
        store.putChallenge({ token: challenge.token, hostname, key_authorization: keyAuthorization }, Date.now());
        const signal = this.#closed.signal;
        if (this.#opts.awaitServed === undefined) await sleep(propagationDelayMs, signal);
        else await this.#opts.awaitServed(hostname, challenge.token, keyAuthorization, signal);
        logger.info({ hostname }, 'ACME challenge published');
      },
      challengeRemoveFn: async (_authz, challenge) => {
        // After close the store is closed too; the next start clears every challenge anyway.
        if (!this.#closed.signal.aborted) store.removeChallenge(challenge.token);
      },
    });
    const info = acme.crypto.readCertificateInfo(certPem);
    logger.info({ hostname, not_after: info.notAfter.toISOString() }, 'certificate issued');
    return { certPem, keyPem: keyPem.toString(), notAfterMs: info.notAfter.getTime() };
  }

  /**
   * Finds the account of our key, or registers it. acme-client's own registration would send an
   * existing account an update with nothing in it, which strict servers (Pebble) refuse.
   */
  async #ensureAccount(client: acme.Client): Promise<void> {
    try {
      client.getAccountUrl();
      return;
    } catch {
      // Not known yet in this process.
    }
    try {
      await client.createAccount({ onlyReturnExisting: true });
    } catch {
      const email = this.#opts.email;
      await client.createAccount({ termsOfServiceAgreed: true, ...(email === undefined ? {} : { contact: [`mailto:${email}`] }) });
    }
  }

  #acmeClient(): acme.Client {
    if (this.#client === undefined) {
      const { directoryUrl, store } = this.#opts;
      // The account key is made once per ACME directory and kept centrally, so every issuance uses one account.
      const accountKey = store.accountKey(directoryUrl, () => createEcdsaKeySync());
      this.#client = new acme.Client({ directoryUrl, accountKey, backoffAttempts: 10, backoffMin: 200, backoffMax: 2_000 });
    }
    return this.#client;
  }

  async #slot(): Promise<void> {
    if (this.#inFlight >= issuancesInFlightMax) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#inFlight += 1;
  }
}

function createEcdsaKeySync(): string {
  // node:crypto instead of acme-client's async helper: the key is needed inside a synchronous store call.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The RFC 8555 problem type of a failed request or challenge, or '' when there is none. */
function acmeType(err: unknown): string {
  const e = err as { type?: string; response?: { data?: { type?: string } } };
  return e.response?.data?.type ?? e.type ?? (String((err as Error).message ?? '').match(/urn:ietf:params:acme:error:\w+/)?.[0] ?? '');
}

function acmeMessage(err: unknown): string {
  const e = err as { message?: string; response?: { data?: { detail?: string } } };
  return e.response?.data?.detail ?? e.message ?? String(err);
}

/** Waits at most this long for the proxies to answer a new challenge. */
export const servedWaitMsMax = 15_000;

/**
 * An `awaitServed` that asks each proxy (base URLs of their plain HTTP ports) for the challenge
 * with the hostname as Host, as the ACME server will, until every one answers it.
 */
export function awaitServedBy(proxyUrls: () => readonly string[]): NonNullable<AcmeIssuerOptions['awaitServed']> {
  return async (hostname, token, keyAuthorization, signal) => {
    const deadline = performance.now() + servedWaitMsMax;
    // No proxy yet (the API starts first, and resumes issuances at once): wait for one.
    while (proxyUrls().length === 0) {
      if (performance.now() > deadline) throw new Error(`no proxy serves this platform yet, so the challenge for ${hostname} cannot be answered`);
      await sleep(100, signal);
    }
    for (const base of proxyUrls()) {
      for (;;) {
        // Host as the CA sends it: the name with the port it connects to.
        const host = `${hostname}:${new URL(base).port || '80'}`;
        const answer = await request(`${base.replace(/\/$/, '')}/.well-known/acme-challenge/${token}`, { headers: { host } })
          .then(async (res) => (res.statusCode === 200 ? res.body.text() : (await res.body.dump(), undefined)))
          .catch(() => undefined);
        if (answer === keyAuthorization) break;
        if (performance.now() > deadline) throw new Error(`the proxy at ${base} did not serve the challenge for ${hostname} within ${servedWaitMsMax} ms`);
        await sleep(100, signal);
      }
    }
  };
}
