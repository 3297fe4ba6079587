/** The served OpenAPI document: paths of the Machines API subset, with the machine config schema. */
import { z } from 'zod';
import { machineConfigSchema } from '../lib/index.ts';

const op = (summary: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  summary,
  security: [{ bearer: [] }],
  responses: { '200': { description: 'OK' }, default: { $ref: '#/components/responses/Error' } },
  ...extra,
});
const jsonBody = (ref: string): Record<string, unknown> => ({
  requestBody: { required: true, content: { 'application/json': { schema: { $ref: ref } } } },
});

export function openApiDocument(): Record<string, unknown> {
  const machine = '/v1/apps/{app_name}/machines/{machine_id}';
  return {
    openapi: '3.1.0',
    info: { title: 'Aloft Machines API', version: '1', description: 'Compatible with the Fly Machines API v1 paths and JSON.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        MachineConfig: z.toJSONSchema(machineConfigSchema, { io: 'input', unrepresentable: 'any' }),
        CreateMachineRequest: {
          type: 'object',
          required: ['config'],
          properties: {
            name: { type: 'string' },
            region: { type: 'string' },
            config: { $ref: '#/components/schemas/MachineConfig' },
            skip_launch: { type: 'boolean' },
            lease_ttl: { type: 'integer' },
          },
        },
        CreateAppRequest: {
          type: 'object',
          required: ['app_name'],
          properties: { app_name: { type: 'string' }, org_slug: { type: 'string' }, network: { type: 'string' } },
        },
        Error: {
          type: 'object',
          required: ['error', 'code', 'fault'],
          properties: {
            error: { type: 'string', description: 'what went wrong' },
            code: { type: 'string', description: 'stable machine-readable code' },
            fault: { enum: ['user', 'config', 'app', 'capacity', 'platform'], description: 'whose fault it is' },
            hint: { type: 'string', description: 'what to do about it' },
            details: { type: 'object' },
          },
        },
      },
      responses: { Error: { description: 'An error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
    },
    paths: {
      '/v1/apps': {
        get: op('List apps (query org_slug)'),
        post: op('Create an app', jsonBody('#/components/schemas/CreateAppRequest')),
      },
      '/v1/apps/{app_name}': { get: op('Get an app'), delete: op('Destroy an app and its machines') },
      '/v1/apps/{app_name}/machines': {
        get: op('List machines (query include_deleted, region, metadata.KEY)'),
        post: op('Create a machine', jsonBody('#/components/schemas/CreateMachineRequest')),
      },
      [machine]: {
        get: op('Get a machine'),
        post: op('Update a machine (new instance_id)', jsonBody('#/components/schemas/CreateMachineRequest')),
        delete: op('Destroy a machine (force=true for a running one)'),
      },
      [`${machine}/start`]: { post: op('Start a machine') },
      [`${machine}/stop`]: { post: op('Stop a machine (body: signal, timeout)') },
      [`${machine}/restart`]: { post: op('Restart a machine (query: signal, timeout)') },
      [`${machine}/signal`]: { post: op('Send a signal (body: signal)') },
      [`${machine}/wait`]: { get: op('Wait for a state (query: state, timeout ≤ 60, instance_id); 408 on timeout') },
      [`${machine}/events`]: { get: op('Events of a machine, newest first') },
      [`${machine}/logs`]: { get: op('Logs of a machine from a byte offset (query: offset) — Aloft extension') },
      [`${machine}/exec`]: { post: op('Run a command in a machine (body: cmd, stdin, timeout)') },
      [`${machine}/lease`]: {
        get: op('The active lease'),
        post: op('Acquire or refresh a lease (body: ttl, description); 409 when held'),
        delete: op('Release a lease (header fly-machine-lease-nonce)'),
      },
      '/v1/apps/{app_name}/certificates': {
        get: op("List the app's certificates (status pending, ready or failed)"),
        post: op('Claim a hostname for the app and obtain its certificate by ACME http-01 (body: hostname) — Aloft extension'),
      },
      '/v1/apps/{app_name}/certificates/{hostname}': { get: op('A certificate and why it failed, if it did'), delete: op('Stop serving a certificate') },
      '/v1/platform/tls': { get: op("Proxies' feed of issued certificates and live ACME challenges (platform tokens; query after, wait ms)") },
      '/v1/tokens': {
        get: op("List the organization's tokens: id, description, caveats, created, expires, revoked — never the token (query org_slug)"),
        post: op('Make a token no wider than the caller\'s (body: org_slug, description, apps, actions, machines, regions, registry, expires_in_s); the token is returned once'),
      },
      '/v1/tokens/{token_id}': { delete: op('Revoke a token and every token made from it') },
      '/v1/revocations': { get: op('Revoked token ids that could still verify, for platform verifiers (platform tokens)') },
    },
  };
}
