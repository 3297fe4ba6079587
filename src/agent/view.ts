import type { ImageRefView, Machine } from '../lib/index.ts';
import type { MachineRecord } from './record.ts';

/** The Machines API JSON of a record (Fly's field names). */
export function machineView(record: MachineRecord): Machine {
  return {
    id: record.id,
    name: record.name,
    state: record.state,
    region: record.region,
    instance_id: record.instanceId,
    private_ip: record.network?.ipv6 ?? '',
    config: record.config,
    image_ref: imageRefView(record),
    created_at: new Date(record.createdAt).toISOString(),
    updated_at: new Date(record.updatedAt).toISOString(),
    // Newest first, as Fly returns them.
    events: [...record.events].reverse(),
    checks: record.checks ?? [],
    host_status: 'ok',
    app_name: record.app,
    host_id: record.hostId,
    secrets_version: record.secretsVersion ?? 0,
    cordoned: record.cordoned ?? false,
  };
}

function imageRefView(record: MachineRecord): ImageRefView {
  const ref = record.image?.ref;
  return {
    registry: ref?.registry ?? '',
    repository: ref?.repository ?? record.config.image,
    tag: ref?.tag ?? '',
    digest: record.image?.digest ?? '',
    labels: record.image?.config.labels ?? {},
  };
}
