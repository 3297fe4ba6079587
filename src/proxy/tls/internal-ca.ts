/**
 * The platform's internal certificate authority: made once per platform data directory, it
 * signs certificates for names no public CA would (`<app>.aloft.localhost`), so the TLS port
 * works on a dev box as soon as a user trusts `ca.crt` (curl --cacert, or the system store).
 * Keys are ECDSA P-256 (fast to make and to handshake with); node:crypto cannot write X.509,
 * so @peculiar/x509 builds and signs the certificates over WebCrypto.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const dayMs = 24 * 3600 * 1000;
export const caValidityDays = 3650;
/** Leaf certificates are short-lived; a proxy makes a fresh one when its cached copy nears the end. */
export const leafValidityDays = 30;

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  notAfterMs: number;
}

export class InternalCa {
  readonly certPem: string;
  readonly #cert: x509.X509Certificate;
  readonly #key: CryptoKey;

  private constructor(certPem: string, key: CryptoKey) {
    this.certPem = certPem;
    this.#cert = new x509.X509Certificate(certPem);
    this.#key = key;
  }

  /**
   * The CA kept in `dir` (`ca.crt` to hand to clients; `ca.bundle.pem`, key and certificate,
   * readable by its owner only), made on first use.
   * Two processes racing to make it end up with the same one: the key and certificate are
   * written to one file and linked into place only if none exists yet.
   */
  static async loadOrCreate(dir: string, name = 'Aloft internal CA'): Promise<InternalCa> {
    const bundlePath = join(dir, 'ca.bundle.pem');
    try {
      return await InternalCa.#load(bundlePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keys = (await webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${name}, O=Aloft`,
      notBefore: new Date(now - dayMs),
      notAfter: new Date(now + caValidityDays * dayMs),
      signingAlgorithm,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const tmp = `${bundlePath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, `${await keyPem(keys.privateKey)}${cert.toString('pem')}\n`, { mode: 0o600 });
    // link() never replaces: if another process made the CA meanwhile, its CA wins and ours is dropped.
    await link(tmp, bundlePath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await unlink(tmp);
    const ca = await InternalCa.#load(bundlePath);
    await writeFile(join(dir, 'ca.crt'), `${ca.certPem}\n`);
    return ca;
  }

  static async #load(bundlePath: string): Promise<InternalCa> {
    const text = await readFile(bundlePath, 'utf8');
    const keyMatch = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text);
    const certMatch = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
    if (keyMatch === null || certMatch === null) throw new Error(`${bundlePath} does not hold a key and a certificate`);
    const der = Buffer.from(keyMatch[0].replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    const key = await webcrypto.subtle.importKey('pkcs8', der, keyAlgorithm, false, ['sign']);
    return new InternalCa(certMatch[0], key);
  }

  /** A fresh certificate and key for `names` (DNS names or IP addresses), signed by this CA. */
  async issue(names: readonly string[], validityDays = leafValidityDays): Promise<IssuedCertificate> {
    const keys = (await webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const notAfterMs = now + validityDays * dayMs;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${names[0] ?? 'aloft'}`,
      issuer: this.#cert.subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(notAfterMs),
      signingAlgorithm,
      publicKey: keys.publicKey,
      signingKey: this.#key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) === 0 ? { type: 'dns' as const, value: n } : { type: 'ip' as const, value: n }))),
        await x509.AuthorityKeyIdentifierExtension.create(this.#cert),
      ],
    });
    return { certPem: `${cert.toString('pem')}\n${this.certPem}\n`, keyPem: await keyPem(keys.privateKey), notAfterMs };
  }
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

/** A positive 128-bit serial (the top bit cleared so it is not read as negative). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
