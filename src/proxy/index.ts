/** The edge proxy (fly-proxy's role): HTTP routing to the nearest healthy machine. */
export { EdgeProxy, attemptsPerRequestMax, type ProxyOptions, type ProxyTls } from './server.ts';
export { RouteTable, httpServicePort, type Endpoint, type MachineRoute } from './route-table.ts';
