/**
 * An app's secrets as a host sees them when it prepares a machine: the sealed bundle the control
 * host published into the state layer, opened here with the platform's master keys. Reading
 * the local state node means a machine boots and restarts with the central API down — the
 * lesson of a secret store in one region that stopped machines from booting everywhere.
 */
import { PlatformError } from '../lib/index.ts';
import { openSecrets, type MasterKey, type SealedSecrets } from '../secrets/index.ts';
import type { StateHandle } from '../state/index.ts';

export interface AppSecrets {
  /** Bumped on every change; an instance prepared with an older version is prepared again. */
  version: number;
  values: Record<string, string>;
}

export interface AppSecretsSource {
  /** The app's current secrets; version 0 and no values when it has none. */
  get(appId: string): AppSecrets;
}

const none: AppSecrets = { version: 0, values: {} };

/** A host without secrets (tests of the agent alone, hosts not yet given the master keys). */
export const noSecrets: AppSecretsSource = { get: () => none };

/** Reads sealed bundles from the host's state node; opened bundles are cached per version. */
export function stateSecretsSource(state: StateHandle, masterKeys: readonly MasterKey[]): AppSecretsSource {
  const cache = new Map<string, AppSecrets>();
  return {
    get(appId) {
      const result = state.query('SELECT version, bundle FROM app_secrets WHERE app_id = ?', [appId]);
      const row = result.rows[0];
      if (row === undefined) return none;
      const version = Number(row[0]);
      const cached = cache.get(appId);
      if (cached?.version === version) return cached;
      let bundle: SealedSecrets;
      try {
        bundle = JSON.parse(String(row[1])) as SealedSecrets;
      } catch {
        throw new PlatformError('secrets_unreadable', `the sealed secrets of app ${appId} replicated to this host are not valid JSON`, {
          hint: 'set the secrets again (`aloft secrets set`) so a fresh copy replicates',
        });
      }
      const opened = { version, values: openSecrets(bundle, masterKeys) };
      cache.set(appId, opened);
      return opened;
    },
  };
}
