/**
 * Boots platforms on one computer: `aloft up` (one host, every role in one process) and
 * `aloft fleet up` (a control host and hosts in several regions, one process each).
 */
export { LocalPlatform, defaultPorts, type Endpoints, type LocalPlatformOptions } from './local-platform.ts';
export { deployExample, exampleApp } from './example.ts';
export { fleetDown, fleetUp, readFleet, validateFleetOptions, type FleetEndpoints, type FleetHost, type FleetOptions, type FleetRecord } from './fleet.ts';
export { isFleetProcess } from './processes.ts';
