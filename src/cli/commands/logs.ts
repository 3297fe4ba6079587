import type { Command } from 'commander';
import { sleep } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { out } from '../output.ts';
import { requireApp } from './common.ts';

/** How often `--follow` asks for new log bytes. */
export const followIntervalMs = 500;

export function logsCommand(program: Command): void {
  program
    .command('logs')
    .description('show the logs of an app\'s machines')
    .option('--machine <id>', 'only this machine')
    .option('-f, --follow', 'keep printing new lines')
    .option('--no-tail', 'with --follow, start at the end instead of printing what is there')
    .action(async (opts: { machine?: string; follow?: boolean; tail: boolean }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const client = ctx.client();
      const ids = opts.machine === undefined ? (await client.listMachines(app)).map((m) => m.id) : [opts.machine];
      const offsets = new Map<string, number>(ids.map((id) => [id, 0]));
      const prefix = ids.length > 1 && !ctx.options.json;
      const print = (id: string, data: string): void => {
        for (const line of data.split('\n')) {
          if (line === '') continue;
          out(ctx.options.json ? `${JSON.stringify({ machine: id, line })}\n` : prefix ? `[${id}] ${line}\n` : `${line}\n`);
        }
      };
      for (let round = 0; ; round++) {
        for (const id of ids) {
          // Read until caught up: one call returns at most a bounded chunk.
          for (;;) {
            const chunk = await client.logs(app, id, offsets.get(id)!);
            const fresh = chunk.next_offset > offsets.get(id)!;
            offsets.set(id, chunk.next_offset);
            if (round > 0 || opts.follow !== true || opts.tail) print(id, chunk.data);
            if (!fresh || chunk.data.length === 0) break;
          }
        }
        if (opts.follow !== true) return;
        await sleep(followIntervalMs);
      }
    });
}
