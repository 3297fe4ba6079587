import { ValidationError, type ServiceConfig } from '../lib/index.ts';

/**
 * Parses `-p` values as flyctl does: `[public:]internal[/protocol][:handler,handler]`,
 * e.g. `80:8080/tcp:http` or `443:8080/tcp:http,tls`. Ports of one internal port share a service.
 */
export function servicesFromPorts(specs: string[]): ServiceConfig[] {
  const services = new Map<string, ServiceConfig>();
  for (const spec of specs) {
    const match = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?(?::([a-z_,]+))?$/.exec(spec);
    if (match === null) {
      throw new ValidationError(`bad port mapping '${spec}'`, {
        field: 'port',
        hint: 'use [public:]internal[/tcp|udp][:handlers], e.g. 80:8080/tcp:http',
      });
    }
    const internal = Number(match[2]);
    const pub = match[1] === undefined ? undefined : Number(match[1]);
    const protocol = (match[3] ?? 'tcp') as 'tcp' | 'udp';
    const handlers = (match[4]?.split(',') ?? []) as ServiceConfig['ports'][number]['handlers'];
    for (const p of [internal, pub]) {
      if (p !== undefined && (p < 1 || p > 65535)) {
        throw new ValidationError(`port ${p} in '${spec}' is out of range`, { field: 'port', hint: 'ports are 1–65535' });
      }
    }
    const key = `${protocol}/${internal}`;
    const service = services.get(key) ?? { protocol, internal_port: internal, ports: [] };
    if (pub !== undefined) service.ports.push({ port: pub, handlers });
    services.set(key, service);
  }
  return [...services.values()];
}

/** Parses `-e K=V` values. */
export function envFromPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ValidationError(`bad environment variable '${pair}'`, { field: 'env', hint: 'use -e NAME=value' });
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}
