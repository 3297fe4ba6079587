/**
 * The `ip` command (iproute2). Several changes go through one `ip -batch` process so attaching a
 * machine costs a handful of processes, not dozens.
 */
import { mustRun, runCommand, type CommandResult } from './command.ts';

export type IpResult = CommandResult;

/** Runs `ip args…`; resolves whatever the exit code (spawn failures reject). */
export function ip(args: string[], input?: string): Promise<IpResult> {
  return runCommand('ip', args, input);
}

/** Runs `ip args…` and fails with a platform fault unless it exits 0; returns stdout. */
export function mustIp(args: string[], input?: string): Promise<string> {
  return mustRun('ip', args, input);
}

/** Runs several `ip` commands in one process, optionally inside network namespace `netns`. */
export function ipBatch(commands: string[], netns?: string): Promise<string> {
  return mustIp([...(netns === undefined ? [] : ['-n', netns]), '-batch', '-'], `${commands.join('\n')}\n`);
}
