/**
 * The example app `aloft up --example` serves, as app `hello`: where this host can build (root,
 * buildah, debootstrap), the Node.js app in examples/hello-node, built on the Debian and Node.js
 * base images `aloft images bootstrap debian` makes (made here first when the registry lacks
 * them; a cold bootstrap takes about a minute); elsewhere the busybox web server image, built
 * from Debian's busybox-static without any build tools.
 */
import { join } from 'node:path';
import { bootstrapDebian, buildExampleImage, buildImage, examplePort, missingBuildTools, nodeAppPort, type BootstrapProgress } from '../build/index.ts';
import { RegistryClient } from '../registry/index.ts';
import { requestJson, type Machine } from '../lib/index.ts';
import type { Endpoints } from './local-platform.ts';

export const exampleApp = 'hello';
export const exampleRepository = 'personal/hello';
const nodeExampleDir = join(import.meta.dirname, '..', '..', 'examples', 'hello-node');

export interface ExampleOptions {
  /** The platform's data directory (build storage). */
  dataDir: string;
  /** Bootstrap and build progress, and why the busybox example was chosen instead. */
  onProgress?: (event: BootstrapProgress) => void;
}

export async function deployExample(endpoints: Endpoints, options: ExampleOptions): Promise<{ machine: Machine; url: string }> {
  const port = await pushExampleImage(endpoints, options);
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
        services: [{ protocol: 'tcp', internal_port: port, ports: [{ port: 80, handlers: ['http'] }] }],
        restart: { policy: 'always' },
      },
    });
  }
  await call('GET', `/v1/apps/${exampleApp}/machines/${machine.id}/wait?state=started&timeout=60`);
  return { machine, url: `http://${exampleApp}.${endpoints.domain}:${new URL(endpoints.proxy).port}/` };
}

/** Pushes `personal/hello:latest`; resolves with the port the image listens on. */
async function pushExampleImage(endpoints: Endpoints, options: ExampleOptions): Promise<number> {
  const onProgress = options.onProgress ?? (() => undefined);
  const registry = new RegistryClient({ url: endpoints.registry, credentials: { password: endpoints.token } });
  try {
    const missing = await missingBuildTools();
    if (missing !== null) {
      onProgress({ kind: 'phase', text: `serving the busybox example instead of the Node.js one: ${missing}` });
      await buildExampleImage(registry, exampleRepository, 'latest');
      return examplePort;
    }
    const target = { url: endpoints.registry, token: endpoints.token };
    const haveBase = await registry.getManifest('personal/node', '24').then(
      () => true,
      () => false,
    );
    if (!haveBase) await bootstrapDebian({ registry: target, dataDir: options.dataDir, onProgress });
    await buildImage({ dir: nodeExampleDir, image: `${exampleRepository}:latest`, registry: target, dataDir: options.dataDir, onProgress });
    return nodeAppPort;
  } finally {
    await registry.close();
  }
}
