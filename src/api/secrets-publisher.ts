/**
 * Sealed secrets go from the central store into the state layer, which carries them to every
 * host. The control host is the only writer of these rows; a bundle's version only grows, so a
 * republish of the same bundle changes nothing and a host never goes back to older values.
 */
import type { Logger } from '../lib/index.ts';
import type { StateHandle } from '../state/index.ts';
import type { SecretRow, SecretStore } from './secret-store.ts';

export interface SecretsPublisher {
  publish(row: SecretRow): void;
}

export function stateSecretsPublisher(state: StateHandle): SecretsPublisher {
  return {
    publish(row) {
      state.transaction([
        {
          sql: `INSERT INTO app_secrets (app_id, app, version, bundle, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (app_id) DO UPDATE SET app = excluded.app, version = excluded.version, bundle = excluded.bundle, updated_at = excluded.updated_at
                WHERE excluded.version > app_secrets.version`,
          params: [row.app_id, row.app, row.bundle.version, JSON.stringify(row.bundle), row.updated_at],
        },
      ]);
    },
  };
}

/** Publishes every app's bundle: at boot, so a state node that missed a change catches up. */
export function republishSecrets(store: SecretStore, publisher: SecretsPublisher, logger: Logger): void {
  for (const row of store.all()) {
    try {
      publisher.publish(row);
    } catch (err) {
      logger.error({ err, app: row.app }, 'could not publish sealed secrets to the state layer; hosts keep the previous copy');
    }
  }
}
