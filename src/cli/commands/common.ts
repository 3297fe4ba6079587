import { ValidationError, type Machine } from '../../lib/index.ts';

export function requireApp(app: string | undefined): string {
  if (app === undefined || app === '') {
    throw new ValidationError('which app? none was given', { field: 'app', hint: 'pass -a APP (or --app APP)' });
  }
  return app;
}

/** A machine's state, marked when its host did not answer the listing (the state is then its last known, or unknown). */
export function stateWithHost(machine: Machine): string {
  return machine.host_status === 'ok' ? machine.state : `${machine.state} (host ${machine.host_id} ${machine.host_status})`;
}

/** Parses a positive integer option, naming the option when it is not one. */
export function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ValidationError(`--${name} must be a whole number, not '${value}'`, { field: name });
  return Number(value);
}

/** Asks for a yes on a terminal; without one, `--yes` is required so scripts never hang on a prompt. */
export async function confirm(question: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new ValidationError(`${question} Refusing without confirmation`, { field: 'yes', hint: 'pass --yes to confirm' });
  }
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new ValidationError('cancelled', { field: 'yes' });
}
