/** The API gateway (flaps + central API): Machines API, apps, placement, central store. */
export { createApiServer, type ApiServerOptions } from './server.ts';
export { CentralStore, type AppRow, type HostRow, type OrgRow, type PinRow } from './store.ts';
export { checkScope, staticAdminAuthenticator, type AccessRequest, type Action, type Authenticator, type Principal } from './auth.ts';
export { appNamePattern } from './routes-apps.ts';
