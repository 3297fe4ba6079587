/**
 * The app config file (`aloft.toml`, and `fly.toml` read as-is): the same keys and shapes as
 * Fly's, validated strictly so a wrong type fails with its key. Unknown keys are not errors
 * here — `load.ts` turns them into warnings — because configs written for a newer Fly often
 * carry keys Aloft does not act on yet.
 */
import { parse as parseShellWords } from 'shell-quote';
import { z } from 'zod';
import { durationStringSchema, memoryStepMb, signalNameSchema } from '../../lib/index.ts';

/** The API's rule for app names (DNS labels: they become `<app>.<domain>` and `<app>.internal`). */
export const appNamePattern = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
export const deployStrategies = ['rolling', 'immediate', 'canary', 'bluegreen'] as const;
export type DeployStrategy = (typeof deployStrategies)[number];
/** The process group of an app that declares no `[processes]`. */
export const defaultProcessGroup = 'app';

const port = z.number().int().min(1).max(65535);
/** A duration: a Go duration string ("10s", "1m30s"), or a bare number of seconds. */
const duration = z.union([durationStringSchema, z.number().int().min(0)]);
/**
 * A check's interval, timeout or grace period. flyctl reads a bare number here as milliseconds
 * (a legacy of the Nomad-era config), so it does too, written out as a duration string.
 */
const checkDuration = z.union([durationStringSchema, z.number().int().min(0).transform((ms) => `${ms}ms`)]);
const processList = z.array(z.string().min(1)).optional();
const autostop = z.union([z.boolean(), z.enum(['off', 'stop', 'suspend'])]);

const concurrency = z.strictObject({
  type: z.enum(['connections', 'requests']).default('connections'),
  soft_limit: z.number().int().min(1).optional(),
  hard_limit: z.number().int().min(1).optional(),
});

const headerMap = z.record(z.string(), z.string());

/** `[[http_service.checks]]` and `[[services.http_checks]]`. */
const httpServiceCheck = z.strictObject({
  grace_period: checkDuration.optional(),
  interval: checkDuration.optional(),
  timeout: checkDuration.optional(),
  method: z.string().optional(),
  path: z.string().startsWith('/', 'a path starting with /').optional(),
  protocol: z.enum(['http', 'https']).optional(),
  tls_skip_verify: z.boolean().optional(),
  headers: headerMap.optional(),
});

/** `[[services.tcp_checks]]`. */
const tcpServiceCheck = z.strictObject({
  grace_period: checkDuration.optional(),
  interval: checkDuration.optional(),
  timeout: checkDuration.optional(),
});

const httpService = z.strictObject({
  internal_port: port.default(8080),
  force_https: z.boolean().default(false),
  auto_stop_machines: autostop.optional(),
  auto_start_machines: z.boolean().optional(),
  min_machines_running: z.number().int().min(0).default(0),
  processes: processList,
  concurrency: concurrency.optional(),
  checks: z.array(httpServiceCheck).default([]),
});

const servicePort = z.strictObject({
  port: port.optional(),
  start_port: port.optional(),
  end_port: port.optional(),
  handlers: z.array(z.enum(['http', 'tls', 'pg_tls', 'proxy_proto', 'edge_http'])).default([]),
  force_https: z.boolean().optional(),
  proxy_proto_options: z.strictObject({ version: z.enum(['v1', 'v2']) }).optional(),
});

const service = z.strictObject({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  internal_port: port,
  processes: processList,
  auto_stop_machines: autostop.optional(),
  auto_start_machines: z.boolean().optional(),
  min_machines_running: z.number().int().min(0).default(0),
  ports: z.array(servicePort).default([]),
  concurrency: concurrency.optional(),
  http_checks: z.array(httpServiceCheck).default([]),
  tcp_checks: z.array(tcpServiceCheck).default([]),
});

/** `[checks.NAME]`: top-level machine checks. */
const namedCheck = z.strictObject({
  type: z.enum(['tcp', 'http']),
  port: port,
  interval: checkDuration.optional(),
  timeout: checkDuration.optional(),
  grace_period: checkDuration.optional(),
  method: z.string().optional(),
  path: z.string().startsWith('/', 'a path starting with /').optional(),
  protocol: z.enum(['http', 'https']).optional(),
  headers: headerMap.optional(),
  processes: processList,
});

const mount = z.strictObject({
  source: z.string().min(1),
  destination: z.string().startsWith('/', 'an absolute path inside the machine'),
  processes: processList,
  initial_size: z.union([z.string().regex(/^\d+\s*(gb|GB|g|G)?$/, 'a size such as "10gb"'), z.number().int().min(1)]).optional(),
  auto_extend_size_threshold: z.number().int().min(1).max(99).optional(),
  auto_extend_size_increment: z.string().optional(),
  auto_extend_size_limit: z.string().optional(),
});

const memoryPattern = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])i?b?)?$/i;
const megabytesPer: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };

function memoryStringMb(text: string): number {
  const [, amount, unit] = memoryPattern.exec(text)!;
  return Math.ceil(Number(amount) * megabytesPer[unit?.toLowerCase() ?? 'm']!);
}

/**
 * A memory amount in megabytes, read as flyctl reads it: a number of megabytes, or a string with
 * an optional binary unit ("2048", "512mb", "2gb", "1GiB"; no unit means megabytes).
 */
const memory = z
  .union([z.number().int(), z.string().regex(memoryPattern, 'a size such as "512mb", "2gb" or "2048"').transform(memoryStringMb)])
  .pipe(z.number().min(memoryStepMb, `at least ${memoryStepMb} MB`));

/** Fly's preset machine sizes: cpu kind, cpus, memory. */
export const vmSizes: Readonly<Record<string, { cpu_kind: 'shared' | 'performance'; cpus: number; memory_mb: number }>> = {
  'shared-cpu-1x': { cpu_kind: 'shared', cpus: 1, memory_mb: 256 },
  'shared-cpu-2x': { cpu_kind: 'shared', cpus: 2, memory_mb: 512 },
  'shared-cpu-4x': { cpu_kind: 'shared', cpus: 4, memory_mb: 1024 },
  'shared-cpu-8x': { cpu_kind: 'shared', cpus: 8, memory_mb: 2048 },
  'performance-1x': { cpu_kind: 'performance', cpus: 1, memory_mb: 2048 },
  'performance-2x': { cpu_kind: 'performance', cpus: 2, memory_mb: 4096 },
  'performance-4x': { cpu_kind: 'performance', cpus: 4, memory_mb: 8192 },
  'performance-8x': { cpu_kind: 'performance', cpus: 8, memory_mb: 16384 },
  'performance-16x': { cpu_kind: 'performance', cpus: 16, memory_mb: 32768 },
};

const vm = z.strictObject({
  size: z.string().refine((size) => size in vmSizes, { message: `one of ${Object.keys(vmSizes).join(', ')}` }).optional(),
  memory: memory.optional(),
  memory_mb: z.number().int().min(memoryStepMb).optional(),
  cpus: z.number().int().min(1).max(16).optional(),
  cpu_kind: z.enum(['shared', 'performance']).optional(),
  processes: processList,
});

const restart = z.strictObject({
  policy: z.enum(['no', 'always', 'on-failure']),
  retries: z.number().int().min(0).max(100).optional(),
  processes: processList,
});

const file = z.strictObject({
  guest_path: z.string().startsWith('/', 'an absolute path inside the machine'),
  local_path: z.string().optional(),
  raw_value: z.string().optional(),
  secret_name: z.string().optional(),
  processes: processList,
});

const build = z.strictObject({
  image: z.string().min(1).optional(),
  dockerfile: z.string().min(1).optional(),
  args: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
  'build-target': z.string().min(1).optional(),
  ignorefile: z.string().min(1).optional(),
  builder: z.string().optional(),
  buildpacks: z.array(z.string()).optional(),
});

const deploy = z.strictObject({
  strategy: z.enum(deployStrategies).default('rolling'),
  max_unavailable: z.number().positive().default(0.33),
  wait_timeout: duration.optional(),
  release_command: z.string().min(1).optional(),
  release_command_timeout: duration.optional(),
});

/**
 * A `[processes]` command, split into argv as a shell would split words. Shell operators
 * (pipes, `&&`, redirects) are refused: no shell runs the command, so they would not work.
 * An already-split argv (a stored release's config read back) is taken as it is.
 */
const processCommand = z.union([z.string(), z.array(z.string().min(1)).min(1)]).transform((command, ctx) => {
  if (Array.isArray(command)) return command;
  const words = parseShellWords(command);
  if (words.length === 0 || words.some((w) => typeof w !== 'string')) {
    ctx.addIssue({
      code: 'custom',
      message: words.length === 0 ? 'the command that starts this process group' : `'${command}' uses shell syntax, but process commands run without a shell: write "sh -c '...'"`,
    });
    return z.NEVER;
  }
  return words as string[];
});

/**
 * A table given once (`[mounts]`, `[vm]`, `[services]`) or as an array (`[[mounts]]`) means
 * the same, as flyctl reads it. The single table is wrapped before validation, so a problem
 * inside it keeps its key path (a union would report only "invalid input" at the table).
 */
function oneOrMany<T extends z.ZodType>(item: T) {
  return z.preprocess((value) => (value !== null && typeof value === 'object' && !Array.isArray(value) ? [value] : value), z.array(item));
}

export const appConfigSchema = z.strictObject({
  app: z.string().regex(appNamePattern, 'lowercase letters, digits and dashes, 2 to 63 characters, starting with a letter').optional(),
  primary_region: z.string().regex(/^[a-z][a-z0-9-]{1,15}$/, 'a region code such as "ams"').optional(),
  kill_signal: signalNameSchema.optional(),
  kill_timeout: duration.optional(),
  console_command: z.string().optional(),
  swap_size_mb: z.number().int().min(0).optional(),
  build: build.optional(),
  deploy: deploy.default({ strategy: 'rolling', max_unavailable: 0.33 }),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _'), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
  processes: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'a process group name: lowercase letters, digits, _ and -'), processCommand).default({}),
  http_service: httpService.optional(),
  services: oneOrMany(service).default([]),
  checks: z.record(z.string(), namedCheck).default({}),
  mounts: oneOrMany(mount).default([]),
  vm: oneOrMany(vm).default([]),
  restart: z.array(restart).default([]),
  files: z.array(file).default([]),
}).superRefine(processesExist);

/** Every `processes = [...]` names a group the app has: a typo would silently apply a section to no machine. */
function processesExist(app: AppSections, ctx: z.RefinementCtx): void {
  const groups = Object.keys(app.processes);
  const known = groups.length === 0 ? [defaultProcessGroup] : groups;
  const sections: { path: (string | number)[]; processes: string[] | undefined }[] = [];
  if (app.http_service !== undefined) sections.push({ path: ['http_service'], processes: app.http_service.processes });
  for (const key of ['services', 'mounts', 'vm', 'restart', 'files'] as const) {
    for (const [i, entry] of app[key].entries()) sections.push({ path: [key, i], processes: entry.processes });
  }
  for (const [name, check] of Object.entries(app.checks)) sections.push({ path: ['checks', name], processes: check.processes });
  for (const { path, processes } of sections) {
    for (const [j, group] of (processes ?? []).entries()) {
      if (known.includes(group)) continue;
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'processes', j],
        message: groups.length === 0 ? `no process group '${group}': without [processes] the app has one group, '${defaultProcessGroup}'` : `no process group '${group}': [processes] defines ${groups.join(', ')}`,
      });
    }
  }
}

type WithProcesses = { processes?: string[] | undefined };
type AppSections = {
  processes: Record<string, unknown>;
  http_service?: WithProcesses | undefined;
  checks: Record<string, WithProcesses>;
} & Record<'services' | 'mounts' | 'vm' | 'restart' | 'files', WithProcesses[]>;

export type AppConfig = z.output<typeof appConfigSchema>;
export type HttpServiceConfig = z.output<typeof httpService>;
export type AppServiceConfig = z.output<typeof service>;
export type VmConfig = z.output<typeof vm>;
