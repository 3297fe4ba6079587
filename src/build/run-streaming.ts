/** Runs a build tool (buildah, debootstrap, npm) as a child process, line by line. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PlatformError } from '../lib/index.ts';

/** Lines of output kept to explain a failure. */
export const outputTailLinesMax = 30;

export interface StreamedResult {
  exitCode: number;
  /** The last `outputTailLinesMax` lines of stdout and stderr together. */
  tail: string[];
}

export interface RunStreamingOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Every output line, as it arrives. */
  onLine?: (line: string) => void;
  /** What to install when the command does not exist, e.g. `apt-get install buildah`. */
  installHint: string;
}

/**
 * Runs `command args`. Resolves with the exit code (never rejects for a non-zero exit); rejects
 * with a PlatformError naming the command when it cannot be started at all.
 */
export async function runStreaming(command: string, args: string[], options: RunStreamingOptions): Promise<StreamedResult> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  const tail: string[] = [];
  const take = (line: string): void => {
    tail.push(line);
    if (tail.length > outputTailLinesMax) tail.shift();
    options.onLine?.(line);
  };
  const streams = [child.stdout, child.stderr].map(
    (stream) =>
      new Promise<void>((resolve) => {
        const lines = createInterface({ input: stream, crlfDelay: Infinity });
        lines.on('line', take);
        lines.on('close', resolve);
      }),
  );
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      const missing = err.code === 'ENOENT';
      reject(
        new PlatformError(missing ? `${command}_missing` : `${command}_failed`, missing ? `${command} is not installed on this host` : `cannot run ${command}: ${err.message}`, {
          cause: err,
          ...(missing ? { hint: options.installHint } : {}),
        }),
      );
    });
    child.on('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
  await Promise.all(streams);
  return { exitCode, tail };
}
