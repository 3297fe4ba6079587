/**
 * The tiny init both drivers run the machine's program under. It runs the program in the
 * foreground (a background job would start with SIGINT and SIGQUIT ignored), waits, writes the
 * exit status to a status directory the host can read, and exits with the same status. So the
 * real exit code survives an agent crash: it is in a file, not in a parent that has gone away.
 *
 * Signals go to the program itself (the drivers find it as the init's only child), not through
 * the init: under runc the init is PID 1 of its namespace and the kernel drops signals it has no
 * handler for; under the process driver the no-op traps keep a stray signal from killing the
 * init and losing the status. Caught (not ignored) signals are reset on exec, so the program
 * starts with default dispositions.
 */

/** The status file holds the decimal exit status and a newline; a file without the newline is still being written. */
export const exitFileName = 'exit';

/** Shell source of the init; `statusDir` is where it writes, as the init sees it. */
export function initScript(statusDir: string): string {
  return [
    '# Aloft init: runs the machine program and records how it ended. Generated; do not edit.',
    "trap ':' HUP INT QUIT TERM USR1 USR2 ALRM PIPE",
    '"$@"',
    'code=$?',
    `echo "$code" > '${statusDir}/${exitFileName}'`,
    'exit "$code"',
    '',
  ].join('\n');
}

/** Exit info from a shell status: 128+N means killed by signal N. */
export function exitFromStatus(status: number): { exitCode: number; signal: number | null } {
  const signal = status > 128 && status <= 128 + 64 ? status - 128 : null;
  return { exitCode: status, signal };
}
