/**
 * Runs host commands (runc, mount, setfattr) with execFile — never through a shell — and turns a
 * failure into a platform fault that names the command and quotes its stderr, so an operator
 * reading a machine's event sees which tool failed and why.
 */
import { execFile } from 'node:child_process';
import { PlatformError } from '../../lib/errors.ts';

/** Output kept from a command; more than this is a bug in how we call it. */
const commandOutputBytesMax = 16 * 1024 * 1024;
/** A host command that takes longer than this is hung; fail the step instead of hanging the FSM. */
export const commandTimeoutMsDefault = 30_000;

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface CommandOptions {
  timeoutMs?: number;
  input?: Buffer;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs `file args` and resolves with its output and exit code, whatever the exit code. */
export function runCommand(file: string, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? commandTimeoutMsDefault,
        maxBuffer: commandOutputBytesMax,
        encoding: 'utf8',
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.env === undefined ? {} : { env: options.env }),
      },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ stdout, stderr, exitCode: 0 });
          return;
        }
        const code = (err as NodeJS.ErrnoException & { code?: unknown }).code;
        if (typeof code === 'number') {
          resolve({ stdout, stderr, exitCode: code });
          return;
        }
        if (err.killed === true) {
          reject(
            new PlatformError('command_timeout', `${describe(file, args)} did not finish in ${options.timeoutMs ?? commandTimeoutMsDefault} ms`, {
              details: { command: file, args },
            }),
          );
          return;
        }
        reject(new PlatformError('command_failed', `${describe(file, args)} could not run: ${err.message}`, { cause: err, details: { command: file, args } }));
      },
    );
    // A command that exits without reading its input closes the pipe; its exit code tells what happened.
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Runs a command that must succeed; a non-zero exit is a platform fault carrying its stderr. */
export async function mustRun(file: string, args: string[], options: CommandOptions = {}): Promise<string> {
  const result = await runCommand(file, args, options);
  if (result.exitCode !== 0) {
    throw new PlatformError('command_failed', `${describe(file, args)} failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 500)}`, {
      details: { command: file, args, exitCode: result.exitCode, stderr: result.stderr.slice(0, 2000) },
    });
  }
  return result.stdout;
}

function describe(file: string, args: string[]): string {
  return [file, ...args].join(' ').slice(0, 300);
}
