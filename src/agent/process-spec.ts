import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError, type MachineConfig } from '../lib/index.ts';
import type { ImageConfig } from './image/types.ts';
import type { ProcessSpec } from './runtime/driver.ts';

export interface MachineIdentity {
  id: string;
  app: string;
  region: string;
  privateIp: string;
  imageRef: string;
  instanceId: string;
}

/**
 * The machine's main process, following OCI/Docker rules: `init.exec` replaces everything;
 * an `init.entrypoint` drops the image's CMD unless `init.cmd` is given; env is the image's,
 * then the config's, then the app's secrets, then the platform's own variables (which a user
 * cannot override).
 */
export async function resolveProcess(
  config: MachineConfig,
  image: ImageConfig,
  rootfsPath: string,
  identity: MachineIdentity,
  secrets: Readonly<Record<string, string>>,
): Promise<ProcessSpec> {
  const args = config.init.exec ?? [
    ...(config.init.entrypoint ?? image.entrypoint),
    ...(config.init.cmd ?? (config.init.entrypoint === undefined ? image.cmd : [])),
  ];
  if (args.length === 0) {
    throw new ValidationError('nothing to run: the image has no entrypoint or cmd and config.init sets none', {
      field: 'config.init.cmd',
      hint: 'set config.init.cmd (e.g. ["/app/server"]) or give the image a CMD',
    });
  }
  const env: Record<string, string> = {};
  for (const kv of image.env) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  Object.assign(env, config.env, secrets, platformEnv(identity));
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  const { uid, gid } = await resolveUser(image.user, rootfsPath);
  return { args, env, cwd: image.workingDir || '/', uid, gid };
}

function platformEnv(m: MachineIdentity): Record<string, string> {
  // Fly's names, so apps written for Fly work unchanged, and Aloft's own.
  return {
    FLY_MACHINE_ID: m.id,
    FLY_APP_NAME: m.app,
    FLY_REGION: m.region,
    FLY_PRIVATE_IP: m.privateIp,
    FLY_IMAGE_REF: m.imageRef,
    FLY_MACHINE_VERSION: m.instanceId,
    FLY_ALLOC_ID: m.id,
    ALOFT_MACHINE_ID: m.id,
    ALOFT_APP_NAME: m.app,
    ALOFT_REGION: m.region,
    ALOFT_PRIVATE_IP: m.privateIp,
  };
}

/** `user` as in an OCI config: "", "uid", "uid:gid", "name" or "name:group" (looked up in the image). */
async function resolveUser(user: string, rootfsPath: string): Promise<{ uid: number; gid: number }> {
  if (user === '' || user === 'root') return { uid: 0, gid: 0 };
  const [u = '', g] = user.split(':');
  const passwd = /^\d+$/.test(u) ? [] : await readDb(join(rootfsPath, 'etc/passwd'));
  const entry = passwd.find((f) => f[0] === u);
  const uid = /^\d+$/.test(u) ? Number(u) : entry === undefined ? undefined : Number(entry[2]);
  if (uid === undefined) {
    throw new ValidationError(`the image runs as user '${u}', which its /etc/passwd does not define`, {
      field: 'image.config.User',
      hint: 'use a numeric user or add the user to the image',
    });
  }
  if (g === undefined) return { uid, gid: entry === undefined ? uid : Number(entry[3]) };
  if (/^\d+$/.test(g)) return { uid, gid: Number(g) };
  const group = (await readDb(join(rootfsPath, 'etc/group'))).find((f) => f[0] === g);
  if (group === undefined) {
    throw new ValidationError(`the image runs as group '${g}', which its /etc/group does not define`, {
      field: 'image.config.User',
    });
  }
  return { uid, gid: Number(group[2]) };
}

async function readDb(path: string): Promise<string[][]> {
  try {
    return (await readFile(path, 'utf8')).split('\n').map((line) => line.split(':'));
  } catch {
    return [];
  }
}
