/**
 * The control host's roles: the image registry and the API gateway with its central store.
 * `aloft up` runs them beside one host in one process; `aloft fleet up` runs them as the
 * control host's process (control-main.ts). Nothing here is needed to keep machines serving.
 */
import { join } from 'node:path';
import { AcmeIssuer, awaitServedBy, createApiServer, CentralStore, CertificateStore, recordToken, republishSecrets, stateMachineRecords, stateSecretsPublisher, type SecretsPublisher } from '../api/index.ts';
import { PlatformError, systemClock, type Logger } from '../lib/index.ts';
import type { MasterKey } from '../secrets/index.ts';
import { createRegistryServer, tokenAuth } from '../registry/index.ts';
import { RevocationList, type Keyring, type RevocationSource } from '../tokens/index.ts';
import { openState, type StateHandle, type StateTiming } from '../state/index.ts';
import { followHosts } from './host-directory.ts';
import { createPlatformKeys } from './platform-keys.ts';

export interface ControlOptions {
  /** Holds the registry's blobs, the central store and the platform's secrets. */
  dataDir: string;
  bindHost: string;
  ports: { api: number; registry: number };
  /** Region used when a create names none. */
  defaultRegion: string;
  logger: Logger;
  /**
   * For a fleet: join the hosts' state cluster and learn the hosts from the rows they publish.
   * Without it (`aloft up`) the caller records its one host in `store` itself.
   */
  state?: {
    clusterKey: Uint8Array;
    /** Gossip address; default `bindHost` (as root, the control host's 6PN address). */
    host?: string;
    timing?: Partial<StateTiming>;
  };
  /** Certificates: names under `domain` are the internal CA's; `acme` obtains the others. */
  certificates?: { domain: string; acme?: AcmeSettings; proxyUrls: () => readonly string[] };
}

export interface AcmeSettings {
  directoryUrl: string;
  email?: string;
  /** CA (PEM) to trust for the ACME server's HTTPS, for a private one such as Pebble. */
  caPem?: string;
}

export interface RunningControl {
  apiUrl: string;
  registryUrl: string;
  /** The organization-admin token of `personal` that `aloft up` hands to the CLI. */
  token: string;
  /** The platform's root keys, for the hosts' agents. */
  keyring: Keyring;
  /** Where the keyring is on disk, for agents started as their own processes. */
  keyringPath: string;
  /** Revoked token ids straight from the central store, for verifiers in this process. */
  revocationSource: RevocationSource;
  store: CentralStore;
  /** Gossip address of the control host's state node, the hosts' seed; undefined without `state`. */
  stateAddress: string | undefined;
  /** The control host's state node, when it runs one. */
  state: StateHandle | undefined;
  /** The secrets master keys, for hosts in this process; `secretKeysPath` for hosts started apart. */
  secretKeys: MasterKey[];
  secretKeysPath: string;
  /**
   * Where sealed secrets are published for the hosts. A fleet's control host uses its own state
   * node; `aloft up` hands over its one host's node once it runs. Every bundle is republished.
   */
  publishSecretsTo(state: StateHandle): void;
  stop(): Promise<void>;
}

/** Starts the registry, then the API; if one fails, what started is stopped. */
export async function startControl(opts: ControlOptions): Promise<RunningControl> {
  const stops: Array<() => Promise<void> | void> = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s();
  };
  try {
    const store = new CentralStore(join(opts.dataDir, 'central.sqlite'));
    stops.push(() => store.close());
    store.ensureOrg('personal', 'Personal');
    const keys = await createPlatformKeys(opts.dataDir, { isRevoked: (id) => store.tokens.isRevoked(id) });
    recordToken(store, keys.keyring, keys.adminToken, 'organization admin token made by aloft up', systemClock.now());
    const revocationSource: RevocationSource = { revokedIds: async () => store.tokens.revokedIds(systemClock.now()) };
    // The registry keeps its own list, like a registry in another process would: the API pushes to it and it refreshes.
    const registryRevocations = new RevocationList();
    stops.push(() => registryRevocations.stop());
    await registryRevocations.follow(revocationSource, opts.logger.child({ component: 'registry' }));
    const auth = tokenAuth({ keyring: keys.keyring, revocations: registryRevocations, clock: systemClock });
    const registry = await createRegistryServer({
      dataDir: join(opts.dataDir, 'registry'),
      authorize: auth.authorize,
      issueToken: auth.issueToken,
      logger: opts.logger.child({ component: 'registry' }),
    });
    stops.push(() => registry.close());
    const registryUrl = await registry.listen(opts.ports.registry, opts.bindHost);

    let certificates: CertificateStore | undefined;
    if (opts.certificates !== undefined) {
      certificates = new CertificateStore(join(opts.dataDir, 'central.sqlite'));
      stops.push(() => certificates?.close());
    }
    const acme = opts.certificates?.acme;
    let secretsState: StateHandle | undefined;
    const secretsPublisher: SecretsPublisher = {
      publish(row) {
        if (secretsState === undefined) throw new PlatformError('secrets_unpublished', 'no state node to publish secrets to yet; they are stored and go out when one is up');
        stateSecretsPublisher(secretsState).publish(row);
      },
    };
    const publishSecretsTo = (state: StateHandle): void => {
      secretsState = state;
      republishSecrets(store.secrets, secretsPublisher, opts.logger.child({ component: 'api' }));
    };
    // Opened after the API listens (below); until then the API knows its machines only from their hosts.
    let state: StateHandle | undefined;
    const api = createApiServer({
      store,
      keyring: keys.keyring,
      onRevoked: (ids) => registryRevocations.add(ids),
      defaultRegion: opts.defaultRegion,
      registryHost: new URL(registryUrl).host,
      logger: opts.logger.child({ component: 'api' }),
      secrets: { masterKeys: keys.secretKeys, publisher: secretsPublisher },
      registryGc: () => registry.gc(),
      machineRecords: stateMachineRecords(() => state),
      ...(certificates === undefined || opts.certificates === undefined
        ? {}
        : {
            certificates: {
              store: certificates,
              platformDomain: opts.certificates.domain,
              ...(acme === undefined
                ? {}
                : {
                    issuer: new AcmeIssuer({
                      ...acme,
                      store: certificates,
                      logger: opts.logger.child({ component: 'acme' }),
                      awaitServed: awaitServedBy(opts.certificates.proxyUrls),
                    }),
                  }),
            },
          }),
    });
    stops.push(() => api.close());
    const apiUrl = await api.listen({ port: opts.ports.api, host: opts.bindHost });

    if (opts.state !== undefined) {
      state = await openState({
        dataDir: join(opts.dataDir, 'control-state'),
        clusterKey: opts.state.clusterKey,
        host: opts.state.host ?? opts.bindHost,
        ...(opts.state.timing === undefined ? {} : { timing: opts.state.timing }),
        log: opts.logger.child({ component: 'state' }),
      });
      const opened = state;
      stops.push(() => opened.close());
      const following = new AbortController();
      stops.push(() => following.abort());
      void followHosts(state, store, opts.logger, following.signal);
      publishSecretsTo(state);
    }
    return {
      apiUrl,
      registryUrl,
      token: keys.adminToken,
      keyring: keys.keyring,
      keyringPath: keys.keyringPath,
      revocationSource,
      state,
      stateAddress: state?.address,
      store,
      secretKeys: keys.secretKeys,
      secretKeysPath: keys.secretKeysPath,
      publishSecretsTo,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
