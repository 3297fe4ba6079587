import type { Command } from 'commander';
import { ValidationError } from '../../lib/index.ts';
import { describeCaveat, inspectToken, type TokenInfo } from '../../tokens/index.ts';
import { CliContext } from '../context.ts';
import { loginConfigPath, readEndpoints, readLoginConfig, writeLoginConfig } from '../endpoints.ts';
import { out, printJson, success } from '../output.ts';

/** Bounds what `auth login` reads from stdin. */
const stdinBytesMax = 64 * 1024;

export function authCommands(program: Command): void {
  const auth = program.command('auth').description('log in with a token and see what it allows');

  auth
    .command('login')
    .description('store a token and the API URL in the login config (token from --token or stdin)')
    .option('--token <token>', 'the token (default: read from stdin)')
    .option('--api <url>', 'the Aloft API URL (default: ALOFT_API_URL, or the local platform\'s)')
    .action(async (opts: { token?: string; api?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const token = (opts.token ?? (await readStdin())).trim();
      if (token === '') throw new ValidationError('no token given', { field: 'token', hint: 'pass --token T, or pipe it: `echo $TOKEN | aloft auth login`' });
      const info = inspectToken(token); // refuses what is not a token at all, before it is stored
      const api = opts.api ?? ctx.options.flags.apiUrl ?? process.env.ALOFT_API_URL ?? readLoginConfig().api_url ?? readEndpoints(ctx.options.dataDir)?.api;
      if (api === undefined) throw new ValidationError('which API? none was given', { field: 'api', hint: 'pass --api URL' });
      const path = writeLoginConfig({ api_url: api, token });
      if (ctx.options.json) printJson({ api_url: api, token_id: idOf(info), config: path });
      else success(`logged in to ${api} with token ${idOf(info) ?? '(unknown id)'}; saved in ${path}`);
    });

  auth
    .command('logout')
    .description('forget the token in the login config')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const { api_url } = readLoginConfig();
      writeLoginConfig(api_url === undefined ? {} : { api_url });
      if (ctx.options.json) printJson({ logged_out: true });
      else success(`removed the token from ${loginConfigPath()}`);
    });

  auth
    .command('whoami')
    .description("show the current token's id and caveats (read locally; nothing is verified)")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const token = ctx.token;
      if (token === undefined) throw new ValidationError('no token: you are not logged in', { hint: 'run `aloft auth login`, or start a platform with `aloft up`' });
      const info = inspectToken(token);
      const org = info.caveats.find((c) => c.type === 'org');
      const caveats = info.caveats.map(describeCaveat);
      if (ctx.options.json) printJson({ token_id: idOf(info), key_id: info.keyId, org: org?.type === 'org' ? org.org : null, caveats: info.caveats, summary: caveats });
      else out(`token ${idOf(info) ?? '(unreadable id)'}\n${caveats.map((c) => `  ${c}\n`).join('')}`);
    });
}

/** The id `aloft tokens list` and `revoke` know the token by: its last `token` caveat, else the minted id. */
function idOf(info: TokenInfo): string | undefined {
  const derived = info.caveats.flatMap((c) => (c.type === 'token' ? [c.tokenId] : []));
  return derived.at(-1) ?? info.tokenId;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new ValidationError('no token given', { field: 'token', hint: 'pass --token T, or pipe the token into `aloft auth login`' });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > stdinBytesMax) throw new ValidationError(`stdin is larger than ${stdinBytesMax} bytes; that is not a token`, { field: 'token' });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
