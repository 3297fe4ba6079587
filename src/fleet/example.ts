/**
 * The example app `aloft up --example` serves: the busybox web server image, built here from
 * Debian's busybox-static (no public registry), run as one machine of app `hello`.
 */
import { buildExampleImage, examplePort } from '../build/index.ts';
import { RegistryClient } from '../registry/index.ts';
import { requestJson, type Machine } from '../lib/index.ts';
import type { Endpoints } from './local-platform.ts';

export const exampleApp = 'hello';
export const exampleRepository = 'personal/hello';

export async function deployExample(endpoints: Endpoints): Promise<{ machine: Machine; url: string }> {
  const registry = new RegistryClient({ url: endpoints.registry, credentials: { password: endpoints.token } });
  try {
    await buildExampleImage(registry, exampleRepository, 'latest');
  } finally {
    await registry.close();
  }
  const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    requestJson<T>(method, `${endpoints.api}${path}`, { token: endpoints.token, target: 'the Aloft API', ...(body === undefined ? {} : { body }) });
  const { apps } = await call<{ apps: { name: string }[] }>('GET', '/v1/apps');
  if (!apps.some((a) => a.name === exampleApp)) await call('POST', '/v1/apps', { app_name: exampleApp, org_slug: 'personal' });
  const machines = await call<Machine[]>('GET', `/v1/apps/${exampleApp}/machines`);
  let machine = machines[0];
  if (machine === undefined) {
    machine = await call<Machine>('POST', `/v1/apps/${exampleApp}/machines`, {
      config: {
        image: `${exampleRepository}:latest`,
        services: [{ protocol: 'tcp', internal_port: examplePort, ports: [{ port: 80, handlers: ['http'] }] }],
        restart: { policy: 'always' },
      },
    });
  }
  await call('GET', `/v1/apps/${exampleApp}/machines/${machine.id}/wait?state=started&timeout=60`);
  return { machine, url: `http://${exampleApp}.${endpoints.domain}:${new URL(endpoints.proxy).port}/` };
}
