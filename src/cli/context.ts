import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { defaultDataDir, resolveEndpoints, type Endpoints } from './endpoints.ts';

export interface GlobalOptions {
  dataDir: string;
  json: boolean;
  app?: string;
}

/** Options of the command plus the global ones, and lazily the API client. */
export class CliContext {
  readonly options: GlobalOptions;

  constructor(command: Command) {
    const o = command.optsWithGlobals() as Partial<GlobalOptions>;
    this.options = { dataDir: o.dataDir ?? defaultDataDir, json: o.json === true, ...(o.app === undefined ? {} : { app: o.app }) };
  }

  get endpoints(): Endpoints {
    return resolveEndpoints(this.options.dataDir);
  }

  client(): ApiClient {
    return new ApiClient(this.endpoints);
  }
}
