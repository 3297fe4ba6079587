import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { defaultDataDir, resolveEndpoints, resolveToken, type EndpointFlags, type Endpoints } from './endpoints.ts';

export interface GlobalOptions {
  dataDir: string;
  json: boolean;
  app?: string;
  /** Every `-a/--app` given, for commands that take several. */
  apps: string[];
  /** `--api-url` and `--access-token`, which beat the environment and every config file. */
  flags: EndpointFlags;
}

/** Options of the command plus the global ones, and lazily the API client. */
export class CliContext {
  readonly options: GlobalOptions;

  constructor(command: Command) {
    const o = command.optsWithGlobals() as Partial<Omit<GlobalOptions, 'flags' | 'app' | 'apps'>> & EndpointFlags & { app?: string | string[] };
    const apps = o.app === undefined ? [] : [o.app].flat();
    this.options = {
      dataDir: o.dataDir ?? defaultDataDir,
      json: o.json === true,
      ...(apps.length === 0 ? {} : { app: apps.at(-1)! }),
      apps,
      flags: { ...(o.apiUrl === undefined ? {} : { apiUrl: o.apiUrl }), ...(o.accessToken === undefined ? {} : { accessToken: o.accessToken }) },
    };
  }

  get endpoints(): Endpoints {
    return resolveEndpoints(this.options.dataDir, this.options.flags);
  }

  /** The token alone, for commands that work offline; undefined when no source has one. */
  get token(): string | undefined {
    return resolveToken(this.options.dataDir, this.options.flags);
  }

  client(): ApiClient {
    return new ApiClient(this.endpoints);
  }

  /** The platform registry's URL: from the endpoints, or asked of the API when they do not say. */
  async registryUrl(): Promise<string> {
    const known = this.endpoints.registry;
    return known !== '' ? known : (await this.client().call<{ url: string }>('GET', '/v1/registry')).url;
  }
}
