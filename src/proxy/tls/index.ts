/** TLS at the edge: SNI certificate selection, the internal CA, and where certificates come from. */
export { EdgeTls, type EdgeTlsOptions } from './edge-tls.ts';
export { ApiCertificateSource, type ApiCertificateSourceOptions, type CertificateSource, type TlsMaterial } from './certificate-source.ts';
export { InternalCa, type IssuedCertificate } from './internal-ca.ts';
export { followApiCertificates, type HostTls, type HostTlsOptions } from './host-tls.ts';
