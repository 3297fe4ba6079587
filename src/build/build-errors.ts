/**
 * Turns buildah's failure output into an error that says whose fault it is: a `RUN` step that
 * exited non-zero is the app's (exit code 3), a bad instruction, a missing file or a missing base
 * image is the Dockerfile's (config, 2), an unreachable registry or a broken buildah is ours (1).
 * The failing step (`STEP n/m: …`) and its last output lines travel in `details` (`step`,
 * `log_tail`), which the CLI prints under the message.
 */
import { AloftError, type Fault } from '../lib/index.ts';

/** Output lines of the failing step shown with the error. */
const stepTailLinesMax = 15;

const stepLine = /^(?:\[\d+\/\d+\] )?STEP \d+\/\d+: /;

/** buildah's own chatter that says nothing about the user's build. */
function isNoise(line: string): boolean {
  return line.startsWith('time=') || line.startsWith('subprocess exited') || line.startsWith('Error: ');
}

/** The last `Error: …` line buildah printed, without the prefix. */
function errorLine(tail: string[]): string {
  const line = [...tail].reverse().find((l) => l.startsWith('Error: '));
  return line === undefined ? 'buildah failed without saying why' : line.slice('Error: '.length);
}

/** The failing step's own output: the lines after the last STEP line, minus buildah's chatter. */
function stepOutput(tail: string[]): string[] {
  const lastStep = tail.findLastIndex((l) => stepLine.test(l));
  return tail.slice(lastStep + 1).filter((l) => !isNoise(l)).slice(-stepTailLinesMax);
}

/** The error for a failed `buildah bud`; `step` is the last STEP line it printed ('' if none). */
export function buildFailure(step: string, tail: string[], registryHost: string, org: string): AloftError {
  const reason = errorLine(tail);
  const details = { step, reason, log_tail: stepOutput(tail) };
  const fail = (code: string, fault: Fault, message: string, hint: string): AloftError => new AloftError(code, fault, message, { details, hint });
  const runExit = /^building at STEP "RUN .*": (?:while running runtime: )?exit status (\d+)$/.exec(reason);
  if (runExit !== null) {
    return fail('build_step_failed', 'app', `the build failed at ${step}: it exited with status ${runExit[1]}`, 'fix the command (its output is above) and build again');
  }
  if (/connection refused|no such host|i\/o timeout|pinging container registry/.test(reason)) {
    return fail('registry_unreachable', 'platform', `the build could not reach the registry ${registryHost}: ${reason}`, 'is the platform running? (`aloft up`)');
  }
  if (/unauthorized|denied|authentication required/i.test(reason)) {
    return fail('registry_denied', 'user', `the registry refused the build's credentials: ${reason}`, 'check the token (`aloft auth login`, or ALOFT_API_TOKEN)');
  }
  if (reason.startsWith('creating build container:') || /manifest unknown|name unknown|not found/.test(reason)) {
    return fail('base_image_not_found', 'config', `a FROM image is not on the registry: ${reason}`, `make the base images with \`aloft images bootstrap debian\` (debian:bookworm and node:24 in ${org}), or push the image first`);
  }
  return fail('build_failed', step === '' ? 'platform' : 'config', step === '' ? `the build failed: ${reason}` : `the build failed at ${step}: ${reason}`, 'fix the Dockerfile at this step and build again');
}

/** The error for a failed `buildah push`. */
export function pushFailure(reference: string, tail: string[]): AloftError {
  const reason = errorLine(tail);
  const denied = /unauthorized|denied|authentication required/i.test(reason);
  return new AloftError(denied ? 'registry_denied' : 'push_failed', denied ? 'user' : 'platform', `pushing ${reference} failed: ${reason}`, {
    details: { reason, log_tail: tail.filter((l) => !isNoise(l)).slice(-stepTailLinesMax) },
    hint: denied ? 'check the token (`aloft auth login`, or ALOFT_API_TOKEN) and that it may write this repository' : 'check that the registry is running and has disk space, then build again',
  });
}
