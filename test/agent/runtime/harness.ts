/**
 * Test harness for runtime drivers: a busybox image in an OCI layout, an image store, and (for
 * oci) a network namespace per machine; every machine made is torn down by `cleanup`, and
 * `leaks` lists anything left on the system.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalImageStore, ociLayoutSource, type ResolvedImage } from '../../../src/agent/image/index.ts';
import { OciDriver, ProcessDriver, type InstanceSpec, type RuntimeDriver } from '../../../src/agent/runtime/index.ts';
import { randomHex } from '../../../src/lib/ids.ts';
import { MachineNetworks } from '../../../src/net/index.ts';
import { buildBusyboxLayout } from '../image/oci-fixture.ts';

export type DriverKind = 'oci' | 'process';

export interface Machine {
  id: string;
  spec: InstanceSpec;
  ipv4: string | null;
  ipv6: string | null;
}

export class Harness {
  readonly kind: DriverKind;
  readonly work: string;
  readonly cgroupParent: string;
  readonly prefix: string;
  driver!: RuntimeDriver;
  private store!: LocalImageStore;
  private nets: MachineNetworks | null = null;
  private image!: ResolvedImage;
  private readonly made = new Set<string>();

  private constructor(kind: DriverKind, work: string) {
    this.kind = kind;
    this.work = work;
    this.cgroupParent = `aloft-test-${randomHex(3)}`;
    this.prefix = `rt${randomHex(3)}`;
  }

  static async create(kind: DriverKind): Promise<Harness> {
    const h = new Harness(kind, await mkdtemp(join(tmpdir(), `aloft-${kind}-`)));
    const layout = await buildBusyboxLayout(join(h.work, 'layout'));
    h.store = new LocalImageStore({ dataDir: join(h.work, 'data'), source: ociLayoutSource(layout.dir), root: kind === 'oci' });
    h.image = await h.store.pull('test/busybox:latest');
    h.driver = h.newDriver();
    if (kind === 'oci') h.nets = new MachineNetworks({ dataDir: join(h.work, 'data'), namePrefix: h.prefix });
    return h;
  }

  /** A driver over the same data directory, as a restarted agent would build. */
  newDriver(): RuntimeDriver {
    const dataDir = join(this.work, 'data');
    return this.kind === 'oci' ? new OciDriver({ dataDir, cgroupParent: this.cgroupParent }) : new ProcessDriver({ dataDir });
  }

  async machine(args: string[], overrides: Partial<InstanceSpec> = {}): Promise<Machine> {
    const id = randomHex(7);
    this.made.add(id);
    const rootfsPath = await this.store.prepareRootfs(id, this.image);
    const net = this.nets === null ? null : await this.nets.attachMachine(id, { org: 1, hostNum: 1 });
    const spec: InstanceSpec = {
      machineId: id,
      instanceId: randomHex(4),
      rootfsPath,
      process: { args, env: { PATH: '/bin', GREETING: 'hi' }, cwd: '/', uid: 0, gid: 0 },
      limits: { cpus: 1, memoryMb: 64, pidsMax: 64 },
      ...(net === null ? {} : { netnsPath: net.netnsPath }),
      hostname: `m-${id}`,
      logPath: join(this.work, 'logs', `${id}.log`),
      mounts: [],
      files: [{ guestPath: '/etc/aloft-secret', content: Buffer.from('s3cret'), mode: 0o600 }],
      ...overrides,
    };
    await this.driver.prepare(spec);
    return { id, spec, ipv4: net?.ipv4 ?? null, ipv6: net?.ipv6 ?? null };
  }

  log(m: Machine): Promise<string> {
    return readFile(m.spec.logPath, 'utf8').catch(() => '');
  }

  async destroy(id: string): Promise<void> {
    await this.driver.destroy(id);
    await this.nets?.detachMachine(id);
    await this.store.releaseRootfs(id);
    this.made.delete(id);
  }

  /** Tears down every machine made (even after a failed test). */
  async cleanup(): Promise<void> {
    for (const id of [...this.made]) await this.destroy(id).catch(() => undefined);
  }

  /** What is left on the system; empty when nothing leaked. */
  async leaks(): Promise<string[]> {
    const found: string[] = [];
    for (const id of await this.driver.list()) found.push(`driver instance ${id}`);
    for (const id of await this.store.listRootfs()) found.push(`rootfs ${id}`);
    if ((await readFile('/proc/self/mountinfo', 'utf8')).includes(this.work)) found.push('mount under the work dir');
    if (this.nets !== null) for (const n of await this.nets.listMachineNetworks()) found.push(`network ${n.machineId}`);
    if (this.kind === 'oci') {
      const { readdir } = await import('node:fs/promises');
      for (const h of await readdir('/sys/fs/cgroup')) {
        if ((await readdir(join('/sys/fs/cgroup', h, this.cgroupParent)).catch(() => null)) !== null) found.push(`cgroup ${h}/${this.cgroupParent}`);
      }
    }
    for (const pid of await processesUnder(this.work)) found.push(`process ${pid}`);
    return found;
  }

  async dispose(): Promise<void> {
    await this.cleanup();
    await rm(this.work, { recursive: true, force: true });
  }
}

/** Processes whose command line or working directory mentions `dir`. */
async function processesUnder(dir: string): Promise<number[]> {
  const { readdir, readlink } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
    if (cmdline.includes(dir) || cwd.startsWith(dir)) pids.push(Number(name));
  }
  return pids;
}

/** Polls until `check` returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
