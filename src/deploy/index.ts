/** Deploys: the app config file (aloft.toml / fly.toml) and what machines it asks for. */
export { appConfigSchema, appNamePattern, deployStrategies, vmSizes, type AppConfig, type DeployStrategy } from './config/schema.ts';
export { AppConfigError, appConfigFileNames, findAppConfigFile, loadAppConfig, parseAppConfig, type ConfigWarning, type LoadedAppConfig } from './config/load.ts';
export { defaultProcessGroup, machineConfigFor, processGroups, type ReleaseRef } from './config/machine-configs.ts';
export { DeployError, type DeployFailureCause, type RollbackReport } from './rollout/errors.ts';
export { rollout, type GroupOutcome, type RolloutOptions } from './rollout/rollout.ts';
export { batchSize } from './rollout/strategies.ts';
export { silentHostsRefusal, type SilentHostsRefusal } from './rollout/silent-hosts.ts';
export type { CreateMachineRequest, DeployProgress, DeployTarget } from './rollout/target.ts';
