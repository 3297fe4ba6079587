/**
 * `aloft secrets set|import|list|unset`: an app's secrets, sealed by the API and carried to its
 * hosts by the state layer. `list` shows names and digests, never values. A change restarts the
 * app's running machines one at a time so they read it, unless `--stage` (then the next deploy
 * or restart picks it up).
 */
import type { Command } from 'commander';
import { secretNamePattern } from '../../secrets/index.ts';
import { AloftError, sleep, ValidationError, type Machine } from '../../lib/index.ts';
import type { ApiClient } from '../api-client.ts';
import { CliContext } from '../context.ts';
import { waitUntilRunning } from '../machine-health.ts';
import { err, printJson, printTable, success } from '../output.ts';
import { requireApp } from './common.ts';

interface SecretsView {
  version: number;
  secrets: { name: string; digest: string; updated_at: string }[];
}

/** How long a restarted machine's host may take to receive the new secrets by gossip. */
const replicationWaitMs = 15_000;

export function secretsCommands(program: Command): void {
  const secrets = program.command('secrets').description("set and list an app's secrets (environment variables kept encrypted)");

  secrets
    .command('list')
    .description('names and digests of the secrets (never their values)')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const view = await ctx.client().call<SecretsView>('GET', `/v1/apps/${app}/secrets`);
      if (ctx.options.json) printJson(view.secrets);
      else printTable(['NAME', 'DIGEST', 'UPDATED'], view.secrets.map((s) => [s.name, s.digest, s.updated_at]));
    });

  secrets
    .command('set <pairs...>')
    .description('set NAME=VALUE pairs; running machines restart to read them unless --stage')
    .option('--stage', 'only store them; machines read them at their next deploy or restart')
    .action(async (pairs: string[], opts: { stage?: boolean }, cmd: Command) => {
      await change(new CliContext(cmd), parsePairs(pairs, 'argument'), opts.stage === true);
    });

  secrets
    .command('import')
    .description('set NAME=VALUE lines read from stdin (blank lines and # comments skipped)')
    .option('--stage', 'only store them; machines read them at their next deploy or restart')
    .action(async (opts: { stage?: boolean }, cmd: Command) => {
      const text = await readStdin();
      const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
      await change(new CliContext(cmd), parsePairs(lines, 'line'), opts.stage === true);
    });

  secrets
    .command('unset <names...>')
    .description('remove secrets; running machines restart unless --stage')
    .option('--stage', 'only remove them; machines drop them at their next deploy or restart')
    .action(async (names: string[], opts: { stage?: boolean }, cmd: Command) => {
      await change(new CliContext(cmd), Object.fromEntries(names.map((n) => [n, null])), opts.stage === true);
    });
}

async function change(ctx: CliContext, changes: Record<string, string | null>, stage: boolean): Promise<void> {
  const app = requireApp(ctx.options.app);
  const client = ctx.client();
  const view = await client.call<SecretsView>('POST', `/v1/apps/${app}/secrets`, changes);
  success(`secrets of ${app} are at version ${view.version} (${Object.keys(changes).join(', ')})`);
  const restarted: string[] = [];
  if (!stage) {
    const running = (await client.listMachines(app)).filter((m) => m.state === 'started');
    for (const machine of running) {
      await restartWithSecrets(client, app, machine, view.version);
      restarted.push(machine.id);
      success(`restarted ${machine.id} with the new secrets`);
    }
  }
  if (ctx.options.json) printJson({ version: view.version, secrets: view.secrets, restarted });
}

/**
 * Restarts the machine and checks it runs with `version` or newer. Its host learns of new
 * secrets by gossip; if the restart beat the gossip, it is restarted again once it has caught up.
 */
async function restartWithSecrets(client: ApiClient, app: string, machine: Machine, version: number): Promise<void> {
  const deadline = performance.now() + replicationWaitMs;
  let before = machine;
  for (;;) {
    await client.machineAction(app, before.id, 'restart');
    const after = await waitUntilRunning(client, app, before);
    if (after.secrets_version >= version) return;
    if (performance.now() > deadline) {
      throw new AloftError('secrets_not_replicated', 'platform', `host ${after.host_id} has not received version ${version} of the secrets within ${replicationWaitMs / 1000}s; machine ${after.id} runs version ${after.secrets_version}`, {
        hint: 'the host may be cut off from the others; see `aloft hosts list`. The secrets are stored and the host picks them up when it catches up',
      });
    }
    err(`  host ${after.host_id} has not received the new secrets yet; restarting ${after.id} again in a moment\n`);
    await sleep(1_000);
    before = after;
  }
}

function parsePairs(pairs: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !secretNamePattern.test(name)) {
      // Never echo the text: it may be a value.
      throw new ValidationError(`a ${what} is not NAME=VALUE${secretNamePattern.test(name) ? ` (secret ${name} has no '=')` : ''}`, {
        field: 'secrets',
        hint: 'give NAME=VALUE, with a name of letters, digits and _ not starting with a digit',
      });
    }
    out[name] = pair.slice(eq + 1);
  }
  if (Object.keys(out).length === 0) throw new ValidationError('no secrets given', { field: 'secrets', hint: 'give NAME=VALUE pairs' });
  return out;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new ValidationError('secrets import reads NAME=VALUE lines from stdin', { field: 'stdin', hint: 'aloft secrets import -a APP < .env' });
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
