/** The Machines API calls a rollout makes, over the CLI's API client with the user's token. */
import type { DeployTarget } from '../deploy/index.ts';
import type { ApiClient } from './api-client.ts';

export function apiDeployTarget(client: ApiClient): DeployTarget {
  return {
    listMachines: (app) => client.listMachines(app),
    getMachine: (app, id) => client.getMachine(app, id),
    createMachine: (app, request) => client.createMachine(app, { ...request }),
    updateMachine: (app, id, config, options) => client.call('POST', `/v1/apps/${app}/machines/${id}`, { config, skip_launch: options.skipLaunch }),
    destroyMachine: (app, id) => client.destroyMachine(app, id, true),
    cordon: (app, id) => client.call('POST', `/v1/apps/${app}/machines/${id}/cordon`, {}),
    uncordon: (app, id) => client.call('POST', `/v1/apps/${app}/machines/${id}/uncordon`, {}),
    secretsVersion: async (app) => (await client.call<{ version: number }>('GET', `/v1/apps/${app}/secrets`)).version,
  };
}
