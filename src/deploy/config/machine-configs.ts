/**
 * From an app config to the machine config each process group's machines run: what `fly
 * deploy` derives from fly.toml. `[http_service]` becomes a service on ports 80 (http) and 443
 * (tls, http); `[[vm]]` sizes become guest resources; sections with `processes = [...]` apply
 * only to those groups. Volumes (`[mounts]`) are validated but not attached: they need volume
 * ids, which come with the volumes component.
 */
import { memoryStepMb, type MachineConfigInput } from '../../lib/index.ts';
import { defaultProcessGroup, vmSizes, type AppConfig, type AppServiceConfig, type HttpServiceConfig, type VmConfig } from './schema.ts';

export { defaultProcessGroup };

export interface ReleaseRef {
  id: string;
  version: number;
}

/** The app's process groups: the keys of `[processes]`, or the one default group. */
export function processGroups(app: AppConfig): string[] {
  const groups = Object.keys(app.processes);
  return groups.length === 0 ? [defaultProcessGroup] : groups;
}

/**
 * The machine config for one process group of `app`, running `image`. Without a `[[vm]]` entry
 * for the group, its machines keep `currentGuest` (what `aloft scale vm` set), as fly deploy
 * does, rather than going back to the default size at every deploy.
 */
export function machineConfigFor(app: AppConfig, group: string, image: string, release?: ReleaseRef, currentGuest?: MachineConfigInput['guest']): MachineConfigInput {
  const appliesHere = (processes: string[] | undefined): boolean => processes === undefined || processes.length === 0 || processes.includes(group);
  const services = [
    ...(app.http_service !== undefined && appliesHere(app.http_service.processes) ? [httpServiceToMachine(app.http_service)] : []),
    ...app.services.filter((s) => appliesHere(s.processes)).map(serviceToMachine),
  ];
  const checks: NonNullable<MachineConfigInput['checks']> = {};
  for (const [name, check] of Object.entries(app.checks)) {
    if (!appliesHere(check.processes)) continue;
    const { processes: _processes, headers, ...rest } = check;
    checks[name] = { ...rest, ...(headers === undefined ? {} : { headers: headerList(headers) }) };
  }
  const restart = app.restart.find((r) => appliesHere(r.processes));
  const vms = app.vm.filter((v) => appliesHere(v.processes));
  const command = app.processes[group];
  const metadata: Record<string, string> = { fly_process_group: group, fly_platform_version: 'v2' };
  if (release !== undefined) {
    metadata.fly_release_id = release.id;
    metadata.fly_release_version = String(release.version);
  }
  return {
    image,
    env: { ...app.env, ...(app.primary_region === undefined ? {} : { PRIMARY_REGION: app.primary_region }) },
    guest: vms.length === 0 && currentGuest !== undefined ? currentGuest : guestFor(vms),
    metadata,
    services,
    checks,
    ...(command === undefined ? {} : { init: { cmd: command } }),
    ...(restart === undefined ? {} : { restart: { policy: restart.policy, ...(restart.retries === undefined ? {} : { max_retries: restart.retries }) } }),
    ...(app.kill_signal === undefined && app.kill_timeout === undefined
      ? {}
      : { stop_config: { ...(app.kill_signal === undefined ? {} : { signal: app.kill_signal }), ...(app.kill_timeout === undefined ? {} : { timeout: app.kill_timeout }) } }),
    files: app.files
      .filter((f) => appliesHere(f.processes) && f.local_path === undefined)
      .map((f) => ({ guest_path: f.guest_path, ...(f.raw_value === undefined ? {} : { raw_value: f.raw_value }), ...(f.secret_name === undefined ? {} : { secret_name: f.secret_name }) })),
  };
}

function httpServiceToMachine(http: HttpServiceConfig): NonNullable<MachineConfigInput['services']>[number] {
  return {
    protocol: 'tcp',
    internal_port: http.internal_port,
    ports: [
      { port: 80, handlers: ['http'], force_https: http.force_https },
      { port: 443, handlers: ['tls', 'http'] },
    ],
    ...scaling(http),
    ...(http.concurrency === undefined ? {} : { concurrency: http.concurrency }),
    checks: http.checks.map(({ headers, ...check }) => ({
      type: 'http' as const,
      port: http.internal_port,
      ...check,
      ...(headers === undefined ? {} : { headers: headerList(headers) }),
    })),
  };
}

function serviceToMachine(service: AppServiceConfig): NonNullable<MachineConfigInput['services']>[number] {
  return {
    protocol: service.protocol,
    internal_port: service.internal_port,
    ports: service.ports,
    ...scaling(service),
    ...(service.concurrency === undefined ? {} : { concurrency: service.concurrency }),
    checks: [
      ...service.tcp_checks.map((check) => ({ type: 'tcp' as const, port: service.internal_port, ...check })),
      ...service.http_checks.map(({ headers, ...check }) => ({
        type: 'http' as const,
        port: service.internal_port,
        ...check,
        ...(headers === undefined ? {} : { headers: headerList(headers) }),
      })),
    ],
  };
}

function scaling(service: { auto_stop_machines?: boolean | 'off' | 'stop' | 'suspend' | undefined; auto_start_machines?: boolean | undefined; min_machines_running: number }) {
  const stop = service.auto_stop_machines;
  return {
    ...(stop === undefined ? {} : { autostop: stop === true ? ('stop' as const) : stop === false ? ('off' as const) : stop }),
    ...(service.auto_start_machines === undefined ? {} : { autostart: service.auto_start_machines }),
    min_machines_running: service.min_machines_running,
  };
}

function headerList(headers: Record<string, string>): { name: string; values: string[] }[] {
  return Object.entries(headers).map(([name, value]) => ({ name, values: [value] }));
}

/** Guest resources from the `[[vm]]` entries that apply: a preset size, then explicit overrides. */
function guestFor(vms: VmConfig[]): { cpu_kind: 'shared' | 'performance'; cpus: number; memory_mb: number } {
  let guest = { ...vmSizes['shared-cpu-1x']! };
  for (const vm of vms) {
    // The schema admits only known sizes.
    if (vm.size !== undefined) guest = { ...vmSizes[vm.size]! };
    if (vm.cpu_kind !== undefined) guest.cpu_kind = vm.cpu_kind;
    if (vm.cpus !== undefined) guest.cpus = vm.cpus;
    const memory = vm.memory_mb ?? vm.memory;
    if (memory !== undefined) guest.memory_mb = Math.ceil(memory / memoryStepMb) * memoryStepMb;
  }
  return guest;
}
