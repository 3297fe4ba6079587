/**
 * One output style for every command: tables for people, `--json` for scripts, progress lines on
 * stderr (so stdout stays parseable), and errors that say what went wrong, whose fault it is and
 * what to do. Exit codes by fault, so scripts can branch on them.
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import { asAloftError, type Fault } from '../lib/index.ts';

export const exitCodes: Record<Fault, number> = { platform: 1, user: 2, config: 2, app: 3, capacity: 4 };

/** Where the CLI writes; tests that call `main` in-process hand their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};
let io: CliIo = processIo;

/** Sets where output goes until the returned function restores the previous target. */
export function useIo(next: CliIo): () => void {
  const previous = io;
  io = next;
  return () => {
    io = previous;
  };
}

export function out(text: string): void {
  io.out(text);
}

export function err(text: string): void {
  io.err(text);
}

export interface Output {
  json: boolean;
}

export function printJson(value: unknown): void {
  out(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(head: string[], rows: (string | number)[][]): void {
  if (rows.length === 0) {
    out('(none)\n');
    return;
  }
  const table = new Table({ head: head.map((h) => pc.bold(h)), style: { head: [], border: [] } });
  table.push(...rows.map((r) => r.map(String)));
  out(`${table.toString()}\n`);
}

/** A progress line on stderr; returns a function that marks it done. */
export function progress(message: string): (result?: string) => void {
  const started = performance.now();
  err(`${pc.dim('…')} ${message}\n`);
  return (result?: string) => {
    const ms = Math.round(performance.now() - started);
    err(`${pc.green('✓')} ${result ?? message} ${pc.dim(`(${ms} ms)`)}\n`);
  };
}

export function success(message: string): void {
  err(`${pc.green('✓')} ${message}\n`);
}

/** Prints an error for a person (or as JSON) and returns the exit code its fault maps to. */
export function reportError(error: unknown, json: boolean): number {
  const e = asAloftError(error);
  if (json) {
    err(`${JSON.stringify(e.toJSON())}\n`);
    return exitCodes[e.fault];
  }
  const whose: Record<Fault, string> = {
    user: 'request error',
    config: 'configuration error',
    app: 'your app failed',
    capacity: 'no capacity',
    platform: 'platform fault (not your app)',
  };
  err(`${pc.red('Error:')} ${e.message} ${pc.dim(`[${whose[e.fault]}; ${e.code}]`)}\n`);
  const tail = e.details.log_tail;
  if (Array.isArray(tail) && tail.length > 0) {
    err(`${pc.dim('Last log lines:')}\n${tail.map((l) => `  ${String(l)}`).join('\n')}\n`);
  }
  if (e.hint !== undefined) err(`${pc.yellow('Hint:')} ${e.hint}\n`);
  return exitCodes[e.fault];
}
