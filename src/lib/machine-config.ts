/**
 * The machine config as the Machines API carries it (Fly-compatible field names and shapes).
 * Shared by the API, which validates what users send, and the agent, which runs it.
 * Objects are strict: an unknown field is refused by name rather than silently ignored, so a
 * typo in a config never deploys something other than what was meant. Fields Fly clients send
 * that Aloft accepts but does not act on yet are listed and kept as given.
 */
import { z } from 'zod';
import { ValidationError } from './errors.ts';

export const memoryMbMax = 65536;
export const cpusMax = 16;
/** Memory is allotted in steps of this size, as on Fly. */
export const memoryStepMb = 256;

const port = z.number().int().min(1).max(65535);
/** A Go duration, as flyctl and Fly's API write them: "10s", "500ms", "1m30s", "1.5h", or "0". */
const goDuration = /^(?:0|(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/;
const goDurationPart = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
export const durationStringSchema = z.string().regex(goDuration, 'a duration such as "10s", "500ms" or "1m30s"');
const duration = z.union([durationStringSchema, z.number().int().min(0)]);
const signalName = z.enum([
  'SIGABRT', 'SIGALRM', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINT', 'SIGKILL', 'SIGPIPE', 'SIGQUIT',
  'SIGSEGV', 'SIGTERM', 'SIGTRAP', 'SIGUSR1', 'SIGUSR2',
]);

export const guestSchema = z.strictObject({
  cpu_kind: z.enum(['shared', 'performance']).default('shared'),
  cpus: z.number().int().min(1).max(cpusMax).default(1),
  memory_mb: z
    .number()
    .int()
    .min(memoryStepMb)
    .max(memoryMbMax)
    .refine((mb) => mb % memoryStepMb === 0, `must be a multiple of ${memoryStepMb}`)
    .default(memoryStepMb),
  kernel_args: z.array(z.string()).optional(),
  gpus: z.number().int().min(0).optional(),
  gpu_kind: z.string().optional(),
});

export const initSchema = z.strictObject({
  exec: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  cmd: z.array(z.string()).optional(),
  tty: z.boolean().optional(),
  swap_size_mb: z.number().int().min(0).optional(),
  kernel_args: z.array(z.string()).optional(),
});

export const portSchema = z.strictObject({
  port: port.optional(),
  start_port: port.optional(),
  end_port: port.optional(),
  handlers: z.array(z.enum(['http', 'tls', 'pg_tls', 'proxy_proto', 'edge_http'])).default([]),
  force_https: z.boolean().optional(),
  tls_options: z.record(z.string(), z.unknown()).optional(),
  http_options: z.record(z.string(), z.unknown()).optional(),
  proxy_proto_options: z.strictObject({ version: z.enum(['v1', 'v2']) }).optional(),
});

export const concurrencySchema = z.strictObject({
  type: z.enum(['connections', 'requests']).default('connections'),
  soft_limit: z.number().int().min(1).default(20),
  hard_limit: z.number().int().min(1).default(25),
});

export const checkSchema = z.strictObject({
  name: z.string().optional(),
  type: z.enum(['tcp', 'http']),
  port: port.optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  grace_period: duration.optional(),
  method: z.string().optional(),
  path: z.string().optional(),
  protocol: z.enum(['http', 'https']).optional(),
  tls_skip_verify: z.boolean().optional(),
  headers: z.array(z.strictObject({ name: z.string(), values: z.array(z.string()) })).optional(),
});

export const serviceSchema = z.strictObject({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  internal_port: port,
  ports: z.array(portSchema).default([]),
  concurrency: concurrencySchema.optional(),
  autostop: z.union([z.boolean(), z.enum(['off', 'stop', 'suspend'])]).optional(),
  autostart: z.boolean().optional(),
  min_machines_running: z.number().int().min(0).optional(),
  checks: z.array(checkSchema).optional(),
  force_instance_key: z.string().nullable().optional(),
}).superRefine((service, ctx) => {
  for (const [i, p] of service.ports.entries()) {
    const problem = portProblem(service.protocol, p);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: ['ports', i] });
  }
});

/**
 * A public port served without host names (any UDP port; a TCP port with neither the http nor
 * the tls handler). The platform has one shared address, so such a port belongs to one app.
 */
export function isRawPort(protocol: 'tcp' | 'udp', p: { handlers: readonly string[] }): boolean {
  return protocol === 'udp' || !(p.handlers.includes('http') || p.handlers.includes('tls'));
}

/** What is wrong with one of a service's public ports, if anything. */
function portProblem(protocol: 'tcp' | 'udp', p: z.output<typeof portSchema>): string | undefined {
  const ranged = p.start_port !== undefined || p.end_port !== undefined;
  if (p.port !== undefined && ranged) return 'give either port or start_port and end_port, not both';
  if (p.port === undefined && (p.start_port === undefined || p.end_port === undefined)) return 'needs port, or start_port and end_port';
  const first = p.port ?? p.start_port!;
  const last = p.port ?? p.end_port!;
  if (first > last) return `start_port ${first} is above end_port ${last}`;
  if (protocol === 'udp' && p.handlers.length > 0) return `UDP ports take no handlers (they are for TCP): remove ${p.handlers.join(', ')}`;
  if (protocol === 'udp' && p.force_https === true) return 'force_https is for HTTP ports, not UDP';
  if (protocol === 'tcp' && isRawPort(protocol, p)) {
    for (const shared of [80, 443]) {
      if (first <= shared && shared <= last) return `port ${shared} is the platform's shared ${shared === 80 ? 'HTTP' : 'HTTPS'} port, routed by host name: list the ${shared === 80 ? 'http' : 'tls'} handler, or use another port for raw TCP`;
    }
  }
  if (protocol === 'tcp' && p.port === 80 && p.handlers.includes('tls')) return 'port 80 is served as plain HTTP; the tls handler belongs on 443 (or another port)';
  return undefined;
}

export const restartSchema = z.strictObject({
  policy: z.enum(['no', 'always', 'on-failure']).default('on-failure'),
  max_retries: z.number().int().min(0).max(100).optional(),
});

export const mountSchema = z.strictObject({
  volume: z.string(),
  path: z.string().startsWith('/'),
  name: z.string().optional(),
  size_gb: z.number().int().min(1).optional(),
  encrypted: z.boolean().optional(),
});

export const fileSchema = z.strictObject({
  guest_path: z.string().startsWith('/'),
  raw_value: z.string().optional(),
  secret_name: z.string().optional(),
  mode: z.number().int().min(0).max(0o7777).optional(),
});

export const machineConfigSchema = z.strictObject({
  image: z.string().min(1, 'image is required: the image reference to run, e.g. registry/org/app:tag'),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _'), z.string()).default({}),
  init: initSchema.default({}),
  guest: guestSchema.default({ cpu_kind: 'shared', cpus: 1, memory_mb: memoryStepMb }),
  metadata: z.record(z.string(), z.string()).default({}),
  services: z.array(serviceSchema).default([]),
  checks: z.record(z.string(), checkSchema).default({}),
  restart: restartSchema.default({ policy: 'on-failure' }),
  mounts: z.array(mountSchema).default([]),
  files: z.array(fileSchema).default([]),
  stop_config: z.strictObject({ signal: signalName.optional(), timeout: duration.optional() }).optional(),
  auto_destroy: z.boolean().optional(),
  schedule: z.enum(['hourly', 'daily', 'weekly', 'monthly']).optional(),
  // Accepted for compatibility with Fly clients; not acted on yet.
  dns: z.record(z.string(), z.unknown()).optional(),
  processes: z.array(z.record(z.string(), z.unknown())).optional(),
  standbys: z.array(z.string()).optional(),
  statics: z.array(z.record(z.string(), z.unknown())).optional(),
  size: z.string().optional(),
  disable_machine_autostart: z.boolean().optional(),
});

export type MachineConfig = z.output<typeof machineConfigSchema>;
export type MachineConfigInput = z.input<typeof machineConfigSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export { signalName as signalNameSchema };

/**
 * The names a machine's service checks are reported under, per service in order: the check's
 * `name`, else Fly's `servicecheck-NN-TYPE-PORT` (NN counts every service check before it).
 * The agent names the checks it runs with it and the proxy finds a service's checks with it.
 */
export function serviceCheckNames(services: readonly ServiceConfig[]): string[][] {
  let n = 0;
  return services.map((service) =>
    (service.checks ?? []).map((check) => {
      const nn = String(n++).padStart(2, '0');
      return check.name ?? `servicecheck-${nn}-${check.type}-${check.port ?? service.internal_port}`;
    }),
  );
}

/**
 * Parses `value` with `schema`, turning the first problems into one ValidationError that names
 * each offending field by its path (e.g. `config.guest.memory_mb`) and what it should be.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, pathPrefix: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 5).map((issue) => describeIssue(issue, pathPrefix));
  const first = result.error.issues[0];
  const field = first === undefined ? pathPrefix : joinPath(pathPrefix, first.path);
  return raise(problems, field);
}

function raise(problems: string[], field: string): never {
  throw new ValidationError(problems.join('; '), {
    field,
    hint: 'fix the named field and send the request again; see /openapi.json for the schema',
  });
}

function describeIssue(issue: z.core.$ZodIssue, prefix: string): string {
  const where = joinPath(prefix, issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `unknown field '${joinPath(where, [k])}'`).join('; ');
  }
  return `${where}: ${issue.message}`;
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) {
    out = typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`;
  }
  return out;
}

/** Parses a duration (a Go duration string such as "10s" or "1m30s", or a number of seconds) to milliseconds. */
export function durationToMs(value: string | number | undefined, defaultMs: number): number {
  if (value === undefined) return defaultMs;
  if (typeof value === 'number') return value * 1000;
  if (!goDuration.test(value)) return defaultMs;
  let ms = 0;
  for (const [, n, unit] of value.matchAll(goDurationPart)) ms += Number(n) * unitMs[unit!]!;
  return Math.round(ms);
}
