/**
 * One deploy from the CLI's seat: record a release, roll it out through the Machines API, and
 * record how it ended. Shared by `aloft deploy`, `aloft launch` and `aloft releases rollback`.
 * A failure is recorded on the release with its cause and evidence, then rethrown so the CLI
 * prints it and exits with its fault's code.
 */
import pc from 'picocolors';
import { asAloftError, type Release } from '../lib/index.ts';
import { rollout, type AppConfig, type DeployStrategy, type GroupOutcome } from '../deploy/index.ts';
import type { ApiClient } from './api-client.ts';
import { apiDeployTarget } from './deploy-target.ts';
import { err } from './output.ts';

export interface RunReleaseOptions {
  client: ApiClient;
  app: string;
  config: AppConfig;
  image: string;
  strategy?: DeployStrategy;
  description: string;
}

export async function runRelease(options: RunReleaseOptions): Promise<{ release: Release; outcomes: GroupOutcome[] }> {
  const { client, app, config } = options;
  const strategy = options.strategy ?? config.deploy.strategy;
  const release = await client.call<Release>('POST', `/v1/apps/${app}/releases`, { image: options.image, strategy, config, description: options.description });
  err(`${pc.cyan('==>')} release v${release.version} of ${app}: ${options.image} (${strategy})\n`);
  // Ctrl-C mid-deploy records the release as failed, so the next deploy is not blocked by it.
  const onInterrupt = (): void => {
    void client
      .call('POST', `/v1/apps/${app}/releases/${release.id}/finish`, { status: 'failed', failure: abortedFailure('by Ctrl-C') })
      .catch(() => undefined)
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  try {
    const outcomes = await rollout({
      target: apiDeployTarget(client),
      app,
      config,
      image: options.image,
      release: { id: release.id, version: release.version },
      strategy,
      progress: (event) => err(`  ${pc.dim(event.step.padEnd(15))} ${event.message}\n`),
    });
    const done = await client.call<Release>('POST', `/v1/apps/${app}/releases/${release.id}/finish`, { status: 'complete' });
    return { release: done, outcomes };
  } catch (error) {
    const failure = asAloftError(error);
    await client.call('POST', `/v1/apps/${app}/releases/${release.id}/finish`, { status: 'failed', failure: failure.toJSON() }).catch((finishError: unknown) => {
      err(`${pc.yellow('warning:')} could not record the failure on release v${release.version}: ${asAloftError(finishError).message}\n`);
    });
    throw failure;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** The failure recorded on a release whose deploy was cut short. */
export function abortedFailure(how: string): Record<string, unknown> {
  return { error: `the deploy was interrupted (${how}); machines may be on either release`, code: 'deploy_aborted', fault: 'user' };
}
