/** `aloft registry gc`: operators free the registry's disk of blobs no manifest references. */
import type { Command } from 'commander';
import type { GcResult } from '../../registry/index.ts';
import { CliContext } from '../context.ts';
import { printJson, success } from '../output.ts';

export function registryCommands(program: Command): void {
  const registry = program.command('registry').description("the platform's image registry, for operators");
  registry
    .command('gc')
    .description('delete blobs no manifest references (safe while pushes run; blobs used in the last 15 minutes are kept)')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const result = await ctx.client().call<GcResult>('POST', '/v1/registry/gc', {}, 600_000);
      if (ctx.options.json) printJson(result);
      else
        success(
          `deleted ${result.blobsDeleted} blob${result.blobsDeleted === 1 ? '' : 's'} (${(result.bytesFreed / 1048576).toFixed(1)} MiB), kept ${result.blobsKept}, expired ${result.uploadsExpired} stale upload${result.uploadsExpired === 1 ? '' : 's'} in ${Math.round(result.durationMs)} ms`,
        );
    });
}
