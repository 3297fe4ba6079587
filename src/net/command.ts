/**
 * Running the network tools (`ip`, `nft`, `wg`) with execFile. A failure is a platform fault
 * naming the command and quoting its stderr; a tool that is not installed says which package
 * to install.
 */
import { execFile } from 'node:child_process';
import { AloftError, PlatformError } from '../lib/errors.ts';

/** Netlink and nftables answer in milliseconds; a call taking longer than this is hung. */
const commandTimeoutMs = 10_000;
const commandOutputBytesMax = 8 * 1024 * 1024;

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `file args…` with `input` on stdin; resolves whatever the exit code (a missing tool rejects). */
export function runCommand(file: string, args: string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: commandTimeoutMs, maxBuffer: commandOutputBytesMax, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve({ exitCode: 0, stdout, stderr });
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number') return resolve({ exitCode: code, stdout, stderr });
      if (code === 'ENOENT') {
        return reject(
          new AloftError('tool_missing', 'config', `${file} is not installed on this computer`, { hint: 'run `bash scripts/setup.sh` as root; it installs the Debian packages in scripts/debian-packages.txt', cause: err }),
        );
      }
      reject(new PlatformError(`${file}_failed`, `${file} ${args.join(' ')} could not run: ${err.message}`, { cause: err }));
    });
    // A command that exits without reading its input closes the pipe; its exit code tells what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** Runs `file args…` and fails with a platform fault unless it exits 0; returns stdout. */
export async function mustRun(file: string, args: string[], input?: string): Promise<string> {
  const result = await runCommand(file, args, input);
  if (result.exitCode !== 0) {
    throw new PlatformError(`${file}_failed`, `${file} ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 500)}`, {
      details: { args, input: input?.slice(0, 2000), stderr: result.stderr.slice(0, 2000) },
    });
  }
  return result.stdout;
}
