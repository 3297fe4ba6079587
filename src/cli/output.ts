/**
 * One output style for every command: tables for people, `--json` for scripts, progress lines on
 * stderr (so stdout stays parseable), and errors that say what went wrong, whose fault it is and
 * what to do. Exit codes by fault, so scripts can branch on them.
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import { asAloftError, type Fault } from '../lib/index.ts';

export const exitCodes: Record<Fault, number> = { platform: 1, user: 2, config: 2, app: 3, capacity: 4 };

export interface Output {
  json: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(head: string[], rows: (string | number)[][]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const table = new Table({ head: head.map((h) => pc.bold(h)), style: { head: [], border: [] } });
  table.push(...rows.map((r) => r.map(String)));
  process.stdout.write(`${table.toString()}\n`);
}

/** A progress line on stderr; returns a function that marks it done. */
export function progress(message: string): (result?: string) => void {
  const started = performance.now();
  process.stderr.write(`${pc.dim('…')} ${message}\n`);
  return (result?: string) => {
    const ms = Math.round(performance.now() - started);
    process.stderr.write(`${pc.green('✓')} ${result ?? message} ${pc.dim(`(${ms} ms)`)}\n`);
  };
}

export function success(message: string): void {
  process.stderr.write(`${pc.green('✓')} ${message}\n`);
}

/** Prints an error for a person (or as JSON) and returns the exit code its fault maps to. */
export function reportError(err: unknown, json: boolean): number {
  const e = asAloftError(err);
  if (json) {
    process.stderr.write(`${JSON.stringify(e.toJSON())}\n`);
    return exitCodes[e.fault];
  }
  const whose: Record<Fault, string> = {
    user: 'request error',
    config: 'configuration error',
    app: 'your app failed',
    capacity: 'no capacity',
    platform: 'platform fault (not your app)',
  };
  process.stderr.write(`${pc.red('Error:')} ${e.message} ${pc.dim(`[${whose[e.fault]}; ${e.code}]`)}\n`);
  const tail = e.details.log_tail;
  if (Array.isArray(tail) && tail.length > 0) {
    process.stderr.write(`${pc.dim('Last log lines:')}\n${tail.map((l) => `  ${String(l)}`).join('\n')}\n`);
  }
  if (e.hint !== undefined) process.stderr.write(`${pc.yellow('Hint:')} ${e.hint}\n`);
  return exitCodes[e.fault];
}
