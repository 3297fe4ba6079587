/** App secrets: envelope encryption with per-app data keys wrapped by the platform's master key. */
export {
  describeSecrets,
  emptySecrets,
  openSecrets,
  secretNamePattern,
  secretsPerAppMax,
  secretValueBytesMax,
  SecretsError,
  updateSecrets,
  type MasterKey,
  type SealedSecrets,
  type SealedValue,
} from './envelope.ts';
export { loadMasterKeys, loadOrCreateMasterKeys } from './master-key.ts';
