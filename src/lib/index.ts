export * from './errors.ts';
export * from './clock.ts';
export * from './ids.ts';
export * from './log.ts';
export * from './machine-config.ts';
export * from './machine.ts';
export * from './http-server.ts';
export * from './http-client.ts';
