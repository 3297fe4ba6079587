/**
 * What a driver keeps per machine on disk: the instance spec it was prepared with (file contents
 * left out: they are secrets and are already in the root) and the status directory. Everything a
 * restarted agent needs to operate an instance is here or in the system, never only in memory.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import { randomHex } from '../../lib/ids.ts';
import type { InstanceSpec } from './driver.ts';
import { StatusDir } from './status-dir.ts';

export type StoredSpec = Omit<InstanceSpec, 'files'>;

const machineIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class InstanceDirs {
  private readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  dir(machineId: string): string {
    if (!machineIdPattern.test(machineId)) throw new ValidationError(`machine id '${machineId.slice(0, 80)}' is not valid`, { field: 'machineId' });
    return join(this.root, machineId);
  }

  status(machineId: string): StatusDir {
    return new StatusDir(join(this.dir(machineId), 'status'));
  }

  async writeSpec(spec: InstanceSpec): Promise<void> {
    const { files: _files, ...stored } = spec;
    const dir = this.dir(spec.machineId);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.instance.json.${randomHex(4)}`);
    // 0600: the process environment in it holds the app's secrets.
    await writeFile(tmp, JSON.stringify(stored), { mode: 0o600 });
    await rename(tmp, join(dir, 'instance.json'));
  }

  /** The stored spec, or null if the machine has no prepared instance. */
  async readSpec(machineId: string): Promise<StoredSpec | null> {
    try {
      return JSON.parse(await readFile(join(this.dir(machineId), 'instance.json'), 'utf8')) as StoredSpec;
    } catch {
      return null;
    }
  }

  async mustReadSpec(machineId: string): Promise<StoredSpec> {
    const spec = await this.readSpec(machineId);
    if (spec === null) throw new NotFoundError('instance', machineId, { hint: 'prepare the instance before starting it' });
    return spec;
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }
}
