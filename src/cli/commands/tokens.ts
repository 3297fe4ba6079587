import type { Command } from 'commander';
import { ValidationError } from '../../lib/index.ts';
import { attenuate, inspectToken, type Caveat } from '../../tokens/index.ts';
import { CliContext } from '../context.ts';
import { out, printJson, printTable, success } from '../output.ts';
import { addCaveatFlags, caveatsOf, durationMs, type CaveatFlags } from '../token-flags.ts';

interface TokenView {
  id: string;
  org_slug: string;
  description: string;
  caveats: string[];
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
  token?: string;
}

export function tokensCommands(program: Command): void {
  const tokens = program.command('tokens').description('create, attenuate, list and revoke tokens');

  addCaveatFlags(
    tokens
      .command('create')
      .description('create a token no wider than yours, narrowed by the flags; it is shown once')
      .option('--org <slug>', "organization (default: your token's)")
      .option('--description <text>', 'what the token is for, shown by `tokens list`'),
  ).action(async (flags: Omit<CaveatFlags, 'app'> & { org?: string; description?: string }, cmd: Command) => {
    const ctx = new CliContext(cmd);
    const opts = { ...flags, app: ctx.options.apps };
    const client = ctx.client();
    const org = opts.org ?? orgOf(ctx.endpoints.token);
    // Expiry is sent as a duration so the server's clock, not this computer's, starts it.
    const caveats = caveatsOf({ ...opts, expires: undefined }, org, Date.now());
    const created = await client.call<TokenView>('POST', '/v1/tokens', {
      org_slug: org,
      ...(opts.description === undefined ? {} : { description: opts.description }),
      ...bodyOf(caveats),
      ...(opts.expires === undefined ? {} : { expires_in_s: Math.ceil(durationMs(opts.expires) / 1000) }),
    });
    if (ctx.options.json) printJson(created);
    else {
      success(`created token ${created.id}: ${created.caveats.join('; ')}`);
      out(`${created.token ?? ''}\n`);
    }
  });

  addCaveatFlags(
    tokens
      .command('attenuate')
      .description('narrow a token offline (no API call): the result can never do more than the original')
      .option('--token <token>', 'the token to narrow (default: your current token)')
      .addHelpText(
        'after',
        '\nThe result is recorded nowhere, so it has no id of its own: it is not in `tokens list` and is revoked only\n' +
          'by revoking the token it was made from (which revokes every other token made from that one too).\n' +
          'For a token you may need to revoke by itself, use `tokens create`; keep attenuated ones short (--expires).',
      ),
  ).action(async (flags: Omit<CaveatFlags, 'app'> & { token?: string }, cmd: Command) => {
    const ctx = new CliContext(cmd);
    const opts = { ...flags, app: ctx.options.apps };
    const parent = opts.token ?? ctx.token;
    if (parent === undefined) throw new ValidationError('no token to attenuate', { field: 'token', hint: 'pass --token T, or log in with `aloft auth login`' });
    const caveats = caveatsOf(opts, orgOf(parent), Date.now());
    if (caveats.length === 0) throw new ValidationError('nothing to narrow: pass at least one of --app, --actions, --expires, --machine, --region, --registry');
    const token = attenuate(parent, caveats);
    if (ctx.options.json) printJson({ token });
    else out(`${token}\n`);
  });

  tokens
    .command('list')
    .description("list your organization's tokens (never their secrets)")
    .option('--org <slug>', "organization (default: your token's)")
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const query = opts.org === undefined ? '' : `?org_slug=${encodeURIComponent(opts.org)}`;
      const { tokens: list } = await ctx.client().call<{ tokens: TokenView[] }>('GET', `/v1/tokens${query}`);
      if (ctx.options.json) printJson(list);
      else {
        printTable(
          ['ID', 'DESCRIPTION', 'CAVEATS', 'CREATED', 'EXPIRES', 'REVOKED'],
          list.map((t) => [t.id, t.description, t.caveats.join('\n'), t.created_at, t.expires_at ?? 'never', t.revoked ? 'yes' : 'no']),
        );
      }
    });

  tokens
    .command('revoke <id>')
    .description('revoke a token (and every token made from it) everywhere')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const revoked = await ctx.client().call<TokenView>('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      if (ctx.options.json) printJson(revoked);
      else success(`revoked token ${revoked.id}`);
    });
}

/** The organization a token names (read without verifying: only for defaults). */
function orgOf(token: string): string {
  const org = inspectToken(token).caveats.find((c) => c.type === 'org');
  return org?.type === 'org' ? org.org : '';
}

/** The `POST /v1/tokens` fields for caveats made from the flags. */
function bodyOf(caveats: Caveat[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const c of caveats) {
    if (c.type === 'apps') body.apps = c.apps;
    else if (c.type === 'actions') body.actions = c.actions;
    else if (c.type === 'machines') body.machines = c.machines;
    else if (c.type === 'regions') body.regions = c.regions;
    else if (c.type === 'registry') body.registry = { repositories: c.repositories, actions: c.actions };
  }
  return body;
}
