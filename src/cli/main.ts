/**
 * The `aloft` command. Commands are `aloft <noun> <verb>` as in flyctl; every command takes
 * `--data-dir`, `--json` and `-a/--app`. Exit codes: 0 ok, 1 platform fault, 2 bad request or
 * config, 3 the app failed, 4 no capacity.
 */
import { Command, CommanderError } from 'commander';
import { appsCommands } from './commands/apps.ts';
import { certsCommands } from './commands/certs.ts';
import { authCommands } from './commands/auth.ts';
import { fleetCommands } from './commands/fleet.ts';
import { hostsCommands } from './commands/hosts.ts';
import { buildCommand } from './commands/build.ts';
import { deployCommands } from './commands/deploy.ts';
import { launchCommand } from './commands/launch.ts';
import { registryCommands } from './commands/registry.ts';
import { secretsCommands } from './commands/secrets.ts';
import { statusCommands } from './commands/status.ts';
import { imagesCommands } from './commands/images.ts';
import { logsCommand } from './commands/logs.ts';
import { machineCommands } from './commands/machine.ts';
import { tokensCommands } from './commands/tokens.ts';
import { upCommand } from './commands/up.ts';
import { defaultDataDir } from './endpoints.ts';
import { reportError, useIo, type CliIo } from './output.ts';

export function buildProgram(): Command {
  const program = new Command('aloft')
    .description('Aloft: run apps as machines on your own fleet')
    .option('--data-dir <dir>', 'where the local platform keeps its data and endpoints.json', process.env.ALOFT_DATA_DIR ?? defaultDataDir)
    .option('--json', 'machine-readable output')
    // Repeatable for commands that take several apps (`aloft tokens create --app a --app b`); others use the last.
    .option('-a, --app <name>', 'the app to act on', (value: string, previous?: string | string[]) => (previous === undefined ? value : [previous, value].flat()))
    .option('--api-url <url>', 'the Aloft API (beats ALOFT_API_URL, the login config and endpoints.json)')
    .option('--access-token <token>', 'the token to use (beats ALOFT_API_TOKEN, the login config and endpoints.json)')
    .showSuggestionAfterError()
    .exitOverride();
  upCommand(program);
  fleetCommands(program);
  hostsCommands(program);
  appsCommands(program);
  machineCommands(program);
  certsCommands(program);
  logsCommand(program);
  imagesCommands(program);
  registryCommands(program);
  buildCommand(program);
  launchCommand(program);
  deployCommands(program);
  statusCommands(program);
  secretsCommands(program);
  authCommands(program);
  tokensCommands(program);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[], io?: CliIo): Promise<number> {
  const restore = io === undefined ? undefined : useIo(io);
  const program = buildProgram();
  if (io !== undefined) program.configureOutput({ writeOut: io.out, writeErr: io.err });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportError(err, argv.includes('--json'));
  } finally {
    restore?.();
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
