import { readFileSync } from 'node:fs';
/**
 * The runc bundle's config.json for one instance: the machine's program under our init, its
 * own pid/mount/uts/ipc namespaces, the network namespace it was given, cgroup limits, and the
 * default mounts a Linux program expects. Capabilities are Docker's default set, so images that
 * work under Docker work here.
 */
import type { InstanceSpec } from './driver.ts';

/** Where our init and its status directory appear inside the machine. */
export const guestInitDir = '/.aloft';
export const guestBusybox = `${guestInitDir}/busybox`;
export const guestInitScript = `${guestInitDir}/init.sh`;
export const guestStatusDir = `${guestInitDir}/status`;

const cpuPeriodUs = 100_000;
const mib = 1024 * 1024;
/**
 * Open files a machine may have. Raising a hard limit needs CAP_SYS_RESOURCE, which a sandboxed
 * host may not grant, so never ask for more than this agent's own hard limit.
 */
const openFilesMax = Math.min(65_536, ownHardLimit('Max open files'));

function ownHardLimit(name: string): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name));
    const hard = line?.slice(name.length).trim().split(/\s+/)[1];
    return hard === undefined || hard === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(hard);
  } catch {
    return 1024;
  }
}
const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const capabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export interface BundlePaths {
  hostBusybox: string;
  hostInitScript: string;
  hostStatusDir: string;
  cgroupsPath: string;
}

export function ociConfig(spec: InstanceSpec, paths: BundlePaths): object {
  const env = Object.entries(spec.process.env).map(([k, v]) => `${k}=${v}`);
  if (spec.process.env.PATH === undefined) env.push(`PATH=${defaultPath}`);
  const bind = (source: string, destination: string, readOnly: boolean): object => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', 'nosuid', 'nodev', readOnly ? 'ro' : 'rw'],
  });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: spec.process.uid, gid: spec.process.gid },
      args: [guestBusybox, 'sh', guestInitScript, ...spec.process.args],
      env,
      cwd: spec.process.cwd === '' ? '/' : spec.process.cwd,
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: openFilesMax, soft: openFilesMax }],
      noNewPrivileges: false,
    },
    root: { path: spec.rootfsPath, readonly: false },
    hostname: spec.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      bind(paths.hostBusybox, guestBusybox, true),
      bind(paths.hostInitScript, guestInitScript, true),
      bind(paths.hostStatusDir, guestStatusDir, false),
      ...spec.mounts.map((m) => bind(m.hostPath, m.guestPath, false)),
    ],
    linux: {
      cgroupsPath: paths.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: Math.round(spec.limits.memoryMb * mib) },
        cpu: { quota: Math.round(spec.limits.cpus * cpuPeriodUs), period: cpuPeriodUs },
        pids: { limit: spec.limits.pidsMax },
      },
      // Without a path the machine gets a fresh network namespace with nothing in it: isolated, never the host's.
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, spec.netnsPath === undefined ? { type: 'network' } : { type: 'network', path: spec.netnsPath }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
