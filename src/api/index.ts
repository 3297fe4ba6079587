/** The API gateway (flaps + central API): Machines API, apps, placement, central store. */
export { createApiServer, type ApiServerOptions } from './server.ts';
export { CentralStore, type AppRow, type HostRow, type OrgRow, type PinRow } from './store.ts';
export { tokenAuthenticator, type AccessRequest, type Action, type Authenticator, type Principal } from './auth.ts';
export { recordToken } from './routes-tokens.ts';
export type { TokenRow } from './token-store.ts';
export { appNamePattern } from './routes-apps.ts';
export { CertificateStore } from './cert-store.ts';
export { AcmeIssuer, awaitServedBy, type AcmeIssuerOptions, type CertificateIssuer } from './acme-issuer.ts';
export type { CertificateRoutesOptions } from './routes-certs.ts';
export { republishSecrets, stateSecretsPublisher, type SecretsPublisher } from './secrets-publisher.ts';
export type { SecretRoutesOptions } from './routes-secrets.ts';
export { stateMachineRecords, type MachineRecords } from './machine-records.ts';
