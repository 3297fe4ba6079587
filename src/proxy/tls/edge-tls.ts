/**
 * The proxy's TLS termination (its `ProxyTls`): picks the certificate for each handshake by the
 * client's server name (SNI) from the certificates the platform issued, falls back to the
 * internal CA for names under the platform's own domain (`<app>.aloft.localhost`), and answers
 * ACME http-01 challenges on plain HTTP ports. Fed by a CertificateSource.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '../../lib/index.ts';
import type { CertificateSource, TlsMaterial } from './certificate-source.ts';
import type { InternalCa } from './internal-ca.ts';

export interface EdgeTlsOptions {
  /** Apps are served at `<app>.<domain>`; names under it get internal-CA certificates. */
  domain: string;
  /** Without it, names under the domain have no certificate unless one was issued for them. */
  internalCa?: InternalCa;
  logger: Logger;
}

/** The internal certificate is replaced when it has less than this left to live. */
export const internalRenewBeforeMs = 24 * 3600 * 1000;

interface Issued {
  hostname: string;
  certPem: string;
  context: SecureContext;
}

export class EdgeTls {
  readonly #opts: EdgeTlsOptions;
  #issued = new Map<string, Issued>();
  #challenges = new Map<string, { hostname: string; keyAuthorization: string }>();
  #apps = new Map<string, string>();
  /**
   * One wildcard certificate (`*.<domain>` and `<domain>`) for every app under the domain: a
   * client sending random names costs nothing to sign, and no per-name cache can grow.
   */
  #internal: Promise<SecureContext> | undefined;
  #internalRenewAtMs = 0;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: EdgeTlsOptions) {
    this.#opts = opts;
  }

  /** Follows `source` from now on (replacing any earlier one). */
  follow(source: CertificateSource): void {
    this.#unsubscribe?.();
    this.#unsubscribe = source.subscribe((material) => this.apply(material));
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Replaces the issued certificates and challenges with `material`; unchanged certificates keep their contexts. */
  apply(material: TlsMaterial): void {
    const next = new Map<string, Issued>();
    for (const cert of material.certificates) {
      const hostname = cert.hostname.toLowerCase();
      const kept = this.#issued.get(hostname);
      if (kept !== undefined && kept.certPem === cert.certPem) {
        next.set(hostname, kept);
        continue;
      }
      try {
        next.set(hostname, { hostname, certPem: cert.certPem, context: createSecureContext({ cert: cert.certPem, key: cert.keyPem }) });
      } catch (err) {
        // One bad certificate must not stop the others from being served.
        this.#opts.logger.error({ hostname, err: String(err) }, 'unusable certificate skipped');
      }
    }
    this.#issued = next;
    this.#apps = new Map(material.hostnames.map((h) => [h.hostname.toLowerCase(), h.app]));
    this.#challenges = new Map(material.challenges.map((c) => [c.token, { hostname: c.hostname.toLowerCase(), keyAuthorization: c.keyAuthorization }]));
  }

  /** node:tls's SNICallback: the context for `servername`, or an error that refuses the handshake. */
  readonly SNICallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const issued = this.#issued.get(name) ?? this.#issued.get(`*.${name.slice(name.indexOf('.') + 1)}`);
    if (issued !== undefined) {
      cb(null, issued.context);
      return;
    }
    if (!this.#isInternal(name)) {
      cb(new Error(`no certificate for '${servername}'`));
      return;
    }
    this.#internalContext().then(
      (context) => cb(null, context),
      (err: unknown) => {
        this.#opts.logger.error({ hostname: name, err: String(err) }, 'internal CA could not issue');
        cb(err instanceof Error ? err : new Error(String(err)));
      },
    );
  };

  /** The key authorization for an ACME http-01 `token`, if it is for `host`. */
  readonly httpChallenge = (token: string, host: string): string | undefined => {
    const challenge = this.#challenges.get(token);
    // The Host header may carry a port (the CA validates on port 80, a dev box maps it elsewhere).
    const name = host.toLowerCase().replace(/:\d+$/, '');
    return challenge !== undefined && challenge.hostname === name ? challenge.keyAuthorization : undefined;
  };

  /** The app a custom hostname belongs to (the proxy's `appFor`). */
  readonly appFor = (hostname: string): string | undefined => this.#apps.get(hostname.toLowerCase());

  /** Hostnames with an issued certificate, for status output. */
  hostnames(): string[] {
    return [...this.#issued.keys()].sort();
  }

  #isInternal(name: string): boolean {
    const { domain, internalCa } = this.#opts;
    if (internalCa === undefined) return false;
    if (name === domain) return true;
    // Exactly one label under the domain: what the wildcard covers, and all the proxy routes.
    return name.endsWith(`.${domain}`) && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name.slice(0, -domain.length - 1));
  }

  #internalContext(): Promise<SecureContext> {
    if (this.#internal === undefined || Date.now() > this.#internalRenewAtMs) {
      const { domain, internalCa } = this.#opts;
      // Decided synchronously, so concurrent handshakes share one issuance.
      this.#internalRenewAtMs = Infinity;
      this.#internal = internalCa!.issue([`*.${domain}`, domain]).then(
        (cert) => {
          this.#internalRenewAtMs = cert.notAfterMs - internalRenewBeforeMs;
          return createSecureContext({ cert: cert.certPem, key: cert.keyPem });
        },
        (err: unknown) => {
          this.#internal = undefined; // the next handshake tries again
          throw err;
        },
      );
    }
    return this.#internal;
  }
}
