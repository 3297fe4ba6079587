/**
 * A host proxy's TLS, assembled: the platform's internal CA (from `caDir`, made there once) and
 * the certificates and challenges the API hands out, followed for as long as it runs. What
 * `aloft up` uses, and what a fleet host wires to its own proxy.
 */
import { join } from 'node:path';
import type { Logger } from '../../lib/index.ts';
import { ApiCertificateSource } from './certificate-source.ts';
import { EdgeTls } from './edge-tls.ts';
import { InternalCa } from './internal-ca.ts';

export interface HostTlsOptions {
  /** The platform's internal CA directory: every host of one platform must share it. */
  caDir: string;
  /** Apps are served at `<app>.<domain>`. */
  domain: string;
  apiUrl: string;
  /** A platform token with `read`, asked for before every poll. */
  token: () => string;
  logger: Logger;
}

export interface HostTls {
  /** The proxy's `tls` option. */
  edge: EdgeTls;
  /** The internal CA's certificate, for clients to trust. */
  caCertPath: string;
  close(): Promise<void>;
}

export async function followApiCertificates(opts: HostTlsOptions): Promise<HostTls> {
  const edge = new EdgeTls({ domain: opts.domain, internalCa: await InternalCa.loadOrCreate(opts.caDir), logger: opts.logger });
  const source = new ApiCertificateSource({ apiUrl: opts.apiUrl, token: opts.token, logger: opts.logger });
  edge.follow(source);
  return {
    edge,
    caCertPath: join(opts.caDir, 'ca.crt'),
    async close() {
      edge.stop();
      await source.close();
    },
  };
}
