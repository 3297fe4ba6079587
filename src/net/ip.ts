/**
 * The `ip` command (iproute2), run with execFile. Several changes go through one `ip -batch`
 * process so attaching a machine costs a handful of processes, not dozens. A failure is a
 * platform fault naming the command and quoting its stderr.
 */
import { execFile } from 'node:child_process';
import { PlatformError } from '../lib/errors.ts';

/** An `ip` call that takes longer than this is hung (netlink answers in milliseconds). */
const ipTimeoutMs = 10_000;
const ipOutputBytesMax = 8 * 1024 * 1024;

export interface IpResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `ip args…`; resolves whatever the exit code (spawn failures reject). */
export function ip(args: string[], input?: string): Promise<IpResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', args, { timeout: ipTimeoutMs, maxBuffer: ipOutputBytesMax, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve({ exitCode: 0, stdout, stderr });
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number') return resolve({ exitCode: code, stdout, stderr });
      reject(new PlatformError('ip_failed', `ip ${args.join(' ')} could not run: ${err.message}`, { cause: err }));
    });
    // A command that exits without reading its input closes the pipe; its exit code tells what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** Runs `ip args…` and fails with a platform fault unless it exits 0; returns stdout. */
export async function mustIp(args: string[], input?: string): Promise<string> {
  const result = await ip(args, input);
  if (result.exitCode !== 0) {
    throw new PlatformError('ip_failed', `ip ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 500)}`, {
      details: { args, input, stderr: result.stderr.slice(0, 2000) },
    });
  }
  return result.stdout;
}

/** Runs several `ip` commands in one process, optionally inside network namespace `netns`. */
export function ipBatch(commands: string[], netns?: string): Promise<string> {
  return mustIp([...(netns === undefined ? [] : ['-n', netns]), '-batch', '-'], `${commands.join('\n')}\n`);
}
