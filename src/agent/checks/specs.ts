/**
 * The checks a machine's config asks for, resolved to what the runner needs: top-level `checks`
 * (by name) and each service's `checks` (named as Fly names them, `servicecheck-NN-TYPE-PORT`),
 * with durations in milliseconds and defaults filled in.
 */
import { durationToMs, serviceCheckNames, type MachineConfig } from '../../lib/index.ts';

type CheckConfig = MachineConfig['checks'][string];

export interface CheckSpec {
  name: string;
  type: 'tcp' | 'http';
  port: number;
  intervalMs: number;
  timeoutMs: number;
  gracePeriodMs: number;
  method: string;
  path: string;
  protocol: 'http' | 'https';
  tlsSkipVerify: boolean;
  headers: Record<string, string[]>;
}

export const checkIntervalDefaultMs = 15_000;
export const checkTimeoutDefaultMs = 2_000;
export const checkGracePeriodDefaultMs = 1_000;
/** Probing more often than this would let one machine's checks load its host. */
export const checkIntervalMinMs = 1_000;
export const checkTimeoutMinMs = 100;
/** Checks run per machine; the rest of a longer list is not run (each is a probe per interval and a row in gossip). */
export const checksPerMachineMax = 32;

/** The checks of `config` (at most checksPerMachineMax), top-level first; a check without a port uses the first service's. */
export function checkSpecsOf(config: MachineConfig): CheckSpec[] {
  const specs: CheckSpec[] = [];
  const fallbackPort = config.services[0]?.internal_port;
  for (const [name, check] of Object.entries(config.checks)) {
    const port = check.port ?? fallbackPort;
    if (port !== undefined) specs.push(specOf(name, check, port));
  }
  const names = serviceCheckNames(config.services);
  for (const [i, service] of config.services.entries()) {
    for (const [j, check] of (service.checks ?? []).entries()) specs.push(specOf(names[i]![j]!, check, check.port ?? service.internal_port));
  }
  return specs.slice(0, checksPerMachineMax);
}

function specOf(name: string, check: CheckConfig, port: number): CheckSpec {
  const intervalMs = Math.max(checkIntervalMinMs, durationToMs(check.interval, checkIntervalDefaultMs));
  const headers: Record<string, string[]> = {};
  for (const h of check.headers ?? []) headers[h.name] = h.values;
  return {
    name,
    type: check.type,
    port,
    intervalMs,
    // The next probe is scheduled when this one ends, so a long timeout never overlaps probes.
    timeoutMs: Math.max(checkTimeoutMinMs, durationToMs(check.timeout, checkTimeoutDefaultMs)),
    gracePeriodMs: durationToMs(check.grace_period, checkGracePeriodDefaultMs),
    method: (check.method ?? 'GET').toUpperCase(),
    path: check.path ?? '/',
    protocol: check.protocol ?? 'http',
    tlsSkipVerify: check.tls_skip_verify ?? false,
    headers,
  };
}
