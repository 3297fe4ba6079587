/**
 * An app's machines, asked of the hosts they are pinned to, in parallel and for a bounded time:
 * a host that is down, cut off or hung must neither fail nor hold the listing (and with it every
 * deploy and status of the app). Its pinned machines are still listed, with what is known of
 * them — the pin, and the row the host last published to the state layer — marked by
 * `host_status` as Fly's Machines API does.
 */
import { asAloftError, machineConfigSchema, type Machine } from '../lib/index.ts';
import type { ApiContext } from './context.ts';
import type { RecordedMachine } from './machine-records.ts';
import type { AppRow, HostRow, PinRow } from './store.ts';

/**
 * How long a listing waits for each host. An agent answers in milliseconds; this leaves room for
 * its connect timeout (agentConnectTimeoutMs, 1 s) and a loaded host, and no more.
 */
export const listingDeadlineMs = 2_000;

export interface ListingRequest {
  app: AppRow;
  /** Only machines in this region. */
  region: string | undefined;
  /** Destroyed machines too (their hosts still know them; their pins are gone). */
  includeDeleted: boolean;
}

type HostAnswer = { host: HostRow; machines: Machine[] } | { host: HostRow; status: 'unreachable' | 'unknown' };

export async function listAppMachines(ctx: ApiContext, { app, region, includeDeleted }: ListingRequest): Promise<Machine[]> {
  const pins = ctx.store.pins(app.name).filter((pin) => region === undefined || pin.region === region);
  const hostIds = new Set(pins.map((pin) => pin.host_id));
  if (includeDeleted) for (const host of ctx.store.hosts(region)) hostIds.add(host.id);
  const answers = await askWithinDeadline(ctx, [...hostIds].map((id) => ctx.store.host(id)), app.id, includeDeleted);
  const silent = answers.filter((a) => 'status' in a);
  const records = ctx.machineRecords.of(pins.filter((pin) => silent.some((a) => a.host.id === pin.host_id)).map((pin) => pin.machine_id));
  return answers.flatMap((answer) =>
    'machines' in answer ? answer.machines : pins.filter((pin) => pin.host_id === answer.host.id).map((pin) => lastKnown(app, pin, records.get(pin.machine_id), answer.status)),
  );
}

/** Each host's machines, or how it failed: not answering by the deadline or at all is `unreachable`; an error answer is `unknown`. */
async function askWithinDeadline(ctx: ApiContext, hosts: HostRow[], appId: string, includeDeleted: boolean): Promise<HostAnswer[]> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), listingDeadlineMs);
  });
  try {
    return await Promise.all(
      hosts.map(async (host): Promise<HostAnswer> => {
        try {
          const machines = await Promise.race([ctx.agentOf(host).list(appId, includeDeleted, listingDeadlineMs), deadline]);
          if (machines !== 'late') return { host, machines };
          ctx.logger.warn({ host: host.id }, `host did not answer a machine listing within ${listingDeadlineMs} ms; its machines are listed as last known`);
          return { host, status: 'unreachable' };
        } catch (err) {
          const error = asAloftError(err);
          ctx.logger.warn({ err: error, host: host.id }, 'host could not list its machines; they are listed as last known');
          return { host, status: error.code === 'unreachable' ? 'unreachable' : 'unknown' };
        }
      }),
    );
  } finally {
    clearTimeout(timer);
  }
}

// Everything but the image (which only the silent host knows) at its defaults.
const configWithoutImage = machineConfigSchema.omit({ image: true });

/** A machine its host did not list: the pin's facts, the state layer's last row if there is one, no config beyond its metadata. */
function lastKnown(app: AppRow, pin: PinRow, record: RecordedMachine | undefined, hostStatus: 'unreachable' | 'unknown'): Machine {
  return {
    id: pin.machine_id,
    name: pin.name,
    state: record?.state ?? 'unknown',
    region: pin.region,
    instance_id: record?.instance_id ?? '',
    private_ip: record?.private_ip ?? '',
    config: { image: '', ...configWithoutImage.parse({ metadata: record?.metadata ?? {} }) },
    image_ref: { registry: '', repository: '', tag: '', digest: '', labels: {} },
    created_at: '',
    updated_at: record === undefined ? '' : new Date(record.updated_at).toISOString(),
    events: [],
    checks: [],
    host_status: hostStatus,
    app_name: app.name,
    host_id: pin.host_id,
    secrets_version: 0,
    cordoned: false,
  };
}
