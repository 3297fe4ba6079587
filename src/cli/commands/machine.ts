import type { Command } from 'commander';
import type { Machine, MachineConfigInput } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { waitUntilRunning } from '../machine-health.ts';
import { printJson, printTable, progress, success, out } from '../output.ts';
import { envFromPairs, servicesFromPorts } from '../ports.ts';
import { confirm, intOption, requireApp, stateWithHost } from './common.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface RunOptions {
  port: string[];
  env: string[];
  memory?: string;
  cpus?: string;
  name?: string;
  region?: string;
  restart?: string;
  entrypoint?: string;
  detach?: boolean;
  metadata: string[];
}

function configFrom(image: string, opts: RunOptions, command: string[], base?: Machine['config']): MachineConfigInput {
  const config: MachineConfigInput = base === undefined ? { image } : { ...base, image };
  if (opts.env.length > 0) config.env = { ...(base?.env ?? {}), ...envFromPairs(opts.env) };
  if (opts.port.length > 0) config.services = servicesFromPorts(opts.port);
  const memory = intOption('memory', opts.memory);
  const cpus = intOption('cpus', opts.cpus);
  if (memory !== undefined || cpus !== undefined) {
    config.guest = { ...(base?.guest ?? {}), ...(memory === undefined ? {} : { memory_mb: memory }), ...(cpus === undefined ? {} : { cpus }) };
  }
  if (opts.restart !== undefined) config.restart = { policy: opts.restart as 'no' };
  if (command.length > 0 || opts.entrypoint !== undefined) {
    config.init = {
      ...(base?.init ?? {}),
      ...(command.length > 0 ? { cmd: command } : {}),
      ...(opts.entrypoint === undefined ? {} : { entrypoint: opts.entrypoint.split(' ') }),
    };
  }
  if (opts.metadata.length > 0) config.metadata = { ...(base?.metadata ?? {}), ...envFromPairs(opts.metadata) };
  return config;
}

function withRunOptions(cmd: Command): Command {
  return cmd
    .option('-p, --port <mapping>', 'expose a port: [public:]internal[/tcp|udp][:handlers], e.g. 80:8080/tcp:http', collect, [])
    .option('-e, --env <NAME=VALUE>', 'set an environment variable', collect, [])
    .option('--memory <MB>', 'memory in MB (multiples of 256)')
    .option('--cpus <N>', 'number of CPUs')
    .option('--restart <policy>', 'restart policy: no, always, on-failure')
    .option('--entrypoint <cmd>', 'override the image entrypoint')
    .option('-m, --metadata <KEY=VALUE>', 'set metadata', collect, [])
    .option('-d, --detach', 'return without waiting for the machine to start');
}

export function machineCommands(program: Command): void {
  const machine = program.command('machine').alias('machines').description('run and manage machines');

  withRunOptions(machine.command('run <image> [command...]').description('create and start a machine from an image'))
    .option('--name <name>', 'machine name (unique in the app)')
    .option('-r, --region <region>', 'region to run in')
    .action(async (image: string, command: string[], opts: RunOptions, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const client = ctx.client();
      const done = progress(`creating a machine of ${app} from ${image}`);
      const body: Record<string, unknown> = { config: configFrom(image, opts, command) };
      if (opts.name !== undefined) body.name = opts.name;
      if (opts.region !== undefined) body.region = opts.region;
      let m = await client.createMachine(app, body);
      done(`created machine ${m.id} on host ${m.host_id} (${m.region})`);
      if (opts.detach !== true) {
        const started = progress(`waiting for ${m.id} to start`);
        m = await waitUntilRunning(client, app, m);
        started(`machine ${m.id} is started`);
      }
      if (ctx.options.json) printJson(m);
      else describe(m);
    });

  machine
    .command('list')
    .alias('ls')
    .description('list the machines of an app')
    .option('--all', 'include destroyed machines')
    .action(async (opts: { all?: boolean }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const list = await ctx.client().listMachines(requireApp(ctx.options.app), opts.all === true);
      if (ctx.options.json) printJson(list);
      else printTable(['ID', 'NAME', 'STATE', 'REGION', 'IMAGE', 'PRIVATE IP', 'UPDATED'], list.map((m) => [m.id, m.name, stateWithHost(m), m.region, m.config.image, m.private_ip, m.updated_at]));
    });

  machine
    .command('status <id>')
    .description('show a machine, its config and its recent events')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const m = await ctx.client().getMachine(requireApp(ctx.options.app), id);
      if (ctx.options.json) printJson(m);
      else describe(m, true);
    });

  for (const [action, verb, done, description] of [
    ['start', 'starting', 'is started', 'start a stopped machine'],
    ['restart', 'restarting', 'restarted', 'restart a machine'],
  ] as const) {
    machine
      .command(`${action} <id>`)
      .description(description)
      .action(async (id: string, _opts: unknown, cmd: Command) => {
        const ctx = new CliContext(cmd);
        const app = requireApp(ctx.options.app);
        const client = ctx.client();
        const before = await client.getMachine(app, id);
        const finished = progress(`${verb} ${id}`);
        await client.machineAction(app, id, action);
        const m = await waitUntilRunning(client, app, before);
        finished(`machine ${id} ${done}`);
        if (ctx.options.json) printJson(m);
      });
  }

  machine
    .command('stop <id>')
    .description('stop a machine (SIGTERM, then SIGKILL after the timeout)')
    .option('-s, --signal <signal>', 'signal to send', 'SIGTERM')
    .option('--timeout <duration>', 'time to wait before killing, e.g. 10s')
    .action(async (id: string, opts: { signal: string; timeout?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const client = ctx.client();
      const done = progress(`stopping ${id}`);
      await client.machineAction(app, id, 'stop', { signal: opts.signal, ...(opts.timeout === undefined ? {} : { timeout: opts.timeout }) });
      await client.wait(app, id, 'stopped', 60);
      done(`machine ${id} is stopped`);
      if (ctx.options.json) printJson(await client.getMachine(app, id));
    });

  withRunOptions(machine.command('update <id> [command...]').description('change a machine\'s config (a new instance replaces the old)'))
    .option('-i, --image <image>', 'new image')
    .action(async (id: string, command: string[], opts: RunOptions & { image?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const client = ctx.client();
      const current = await client.getMachine(app, id);
      const config = configFrom(opts.image ?? current.config.image, opts, command, current.config);
      const done = progress(`updating ${id}`);
      let m = await client.updateMachine(app, id, config);
      if (opts.detach !== true && current.state === 'started') m = await waitUntilRunning(client, app, m);
      done(`machine ${id} updated`);
      if (ctx.options.json) printJson(m);
      else describe(m);
    });

  machine
    .command('destroy <id>')
    .alias('rm')
    .description('destroy a machine')
    .option('-f, --force', 'kill it if it is running')
    .option('-y, --yes', 'do not ask')
    .action(async (id: string, opts: { force?: boolean; yes?: boolean }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      await confirm(`Destroy machine ${id}?`, opts.yes === true || opts.force === true);
      await ctx.client().destroyMachine(app, id, opts.force === true);
      if (ctx.options.json) printJson({ destroyed: id });
      else success(`machine ${id} destroyed`);
    });
}

function describe(m: Machine, withEvents = false): void {
  const lines = [
    `Machine   ${m.id} (${m.name})`,
    `App       ${m.app_name}`,
    `State     ${m.state}`,
    `Region    ${m.region} on host ${m.host_id}`,
    `Image     ${m.config.image}${m.image_ref.digest === '' ? '' : ` @ ${m.image_ref.digest.slice(0, 19)}`}`,
    `Instance  ${m.instance_id}`,
    `Private   ${m.private_ip}`,
    `Guest     ${m.config.guest.cpus} CPU, ${m.config.guest.memory_mb} MB`,
  ];
  out(`${lines.join('\n')}\n`);
  if (withEvents && m.checks.length > 0) {
    printTable(['CHECK', 'STATUS', 'OUTPUT', 'UPDATED'], m.checks.map((c) => [c.name, c.status, c.output, c.updated_at]));
  }
  if (withEvents) {
    printTable(
      ['TIME', 'TYPE', 'STATUS', 'SOURCE', 'DETAIL'],
      m.events.slice(0, 10).map((e) => [new Date(e.timestamp).toISOString(), e.type, e.status, e.source, eventDetail(e)]),
    );
  }
}

function eventDetail(e: Machine['events'][number]): string {
  const exit = e.request?.exit_event;
  if (exit !== undefined) return `exit code ${exit.exit_code}${exit.signal > 0 ? `, signal ${exit.signal}` : ''}${exit.oom_killed ? ', OOM' : ''}`;
  if (e.request?.error !== undefined) return e.request.error.message;
  return '';
}
