/** Boots platforms on one computer: `aloft up` (one host, every role in one process). */
export { LocalPlatform, defaultPorts, type Endpoints, type LocalPlatformOptions } from './local-platform.ts';
export { deployExample, exampleApp } from './example.ts';
