/**
 * A WireGuard interface run by `wireguard-go` (userspace; our kernels have no WireGuard module).
 * The daemon runs in the foreground as our child, inside the given network namespace, so the
 * TUN device it makes lives there and stopping the handle stops it. Configuration goes through
 * the UAPI socket; addresses and routes through `ip`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AloftError, PlatformError, ValidationError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import { ipBatch } from './ip.ts';
import { uapiSet, uapiSocketPath } from './uapi.ts';
import { wireguardKeyHex, wireguardPublicKey } from './wireguard-keys.ts';

const ifnameLengthMax = 15;
/** wireguard-go makes its socket within milliseconds; on a loaded machine, allow seconds. */
const startTimeoutMs = 10_000;
const stopTimeoutMs = 3_000;
const stderrTailBytes = 2_000;

export interface WireguardOptions {
  /** Interface name, at most 15 characters and unique on this computer (the UAPI socket is named after it). */
  ifname: string;
  /** Network namespace (`ip netns` name) to run in; the current one when omitted. */
  netns?: string;
  /** base64 private key. Secret: never logged. */
  privateKey: string;
  listenPort: number;
  /** Addresses with prefix length, e.g. `fdaa:0:0:3::1/128`. */
  addresses?: string[];
  /** Prefixes routed into the tunnel, e.g. `fdaa::/16`. */
  routes?: string[];
  /**
   * Run detached, logging to this file, so the daemon outlives this process (a fleet started
   * by a command that exits). Without it the daemon's output comes to us and it lives with us.
   */
  logFile?: string;
  logger?: Logger;
}

/** A running wireguard-go we own. `stop` may be called more than once. */
export class WireguardDevice {
  readonly ifname: string;
  readonly netns: string | undefined;
  readonly publicKey: string;
  readonly listenPort: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #logFile: string | undefined;
  #stderr = '';

  private constructor(options: WireguardOptions, child: ChildProcess) {
    this.ifname = options.ifname;
    this.netns = options.netns;
    this.publicKey = wireguardPublicKey(options.privateKey);
    this.listenPort = options.listenPort;
    this.#child = child;
    this.#logFile = options.logFile;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-stderrTailBytes);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Starts wireguard-go, waits for its UAPI socket, sets key, port, addresses and routes. */
  static async start(options: WireguardOptions): Promise<WireguardDevice> {
    checkIfname(options.ifname);
    const log = options.logger ?? silentLogger();
    await clearStaleSocket(options.ifname);
    const command = options.netns === undefined ? ['wireguard-go', '-f', options.ifname] : ['ip', 'netns', 'exec', options.netns, 'wireguard-go', '-f', options.ifname];
    const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
    const child = spawn(command[0]!, command.slice(1), { stdio: logFd === undefined ? ['ignore', 'ignore', 'pipe'] : ['ignore', logFd, logFd], detached: logFd !== undefined });
    if (logFd !== undefined) closeSync(logFd);
    const device = new WireguardDevice(options, child);
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    try {
      await device.waitForSocket(spawnError);
      await uapiSet(options.ifname, [`private_key=${wireguardKeyHex(options.privateKey, 'private key')}`, `listen_port=${options.listenPort}`]);
      const addresses = (options.addresses ?? []).map((a) => `addr replace ${a} dev ${options.ifname}${a.includes(':') ? ' nodad' : ''}`);
      const routes = (options.routes ?? []).map((r) => `route replace ${r} dev ${options.ifname}`);
      await ipBatch([...addresses, `link set ${options.ifname} up`, ...routes], options.netns);
    } catch (err) {
      await device.stop();
      throw err;
    }
    if (logFd !== undefined) child.unref();
    log.debug({ ifname: options.ifname, netns: options.netns, pid: child.pid, listenPort: options.listenPort }, 'wireguard-go started');
    return device;
  }

  /** Stops the daemon (SIGTERM, then SIGKILL) and removes a socket it left behind. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const exited = await Promise.race([this.#exited.then(() => true), sleep(stopTimeoutMs).then(() => false)]);
      if (!exited) {
        this.#child.kill('SIGKILL');
        await this.#exited;
      }
    }
    await unlink(uapiSocketPath(this.ifname)).catch(() => undefined);
  }

  /** The tail of what the daemon printed (from its log file when detached). */
  private output(): string {
    if (this.#logFile === undefined) return this.#stderr;
    try {
      return readFileSync(this.#logFile, 'utf8').slice(-stderrTailBytes);
    } catch {
      return '';
    }
  }

  private async waitForSocket(spawnError: Promise<Error>): Promise<void> {
    const deadline = performance.now() + startTimeoutMs;
    const failure = spawnError.then((err) => {
      throw (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? new AloftError('tool_missing', 'config', 'wireguard-go is not installed on this computer', { hint: 'run `bash scripts/setup.sh` as root (Debian package wireguard-go)' })
        : err;
    });
    while (!existsSync(uapiSocketPath(this.ifname))) {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
        throw new PlatformError('wireguard_start_failed', `wireguard-go for ${this.ifname} exited (${this.#child.exitCode ?? this.#child.signalCode}) before it was ready: ${this.output().trim().slice(-500)}`);
      }
      if (performance.now() > deadline) throw new PlatformError('wireguard_start_failed', `wireguard-go for ${this.ifname} made no UAPI socket within ${startTimeoutMs} ms`);
      await Promise.race([sleep(20), failure]);
    }
  }
}

function checkIfname(ifname: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(ifname) || ifname.length > ifnameLengthMax) {
    throw new ValidationError(`WireGuard interface name '${ifname.slice(0, 40)}' must be 1–${ifnameLengthMax} letters, digits, '-' or '_'`, { field: 'ifname' });
  }
}

/**
 * A socket left by a daemon that was killed is removed; one that answers belongs to a live
 * daemon, and since sockets are shared across namespaces, two interfaces of that name would fight.
 */
async function clearStaleSocket(ifname: string): Promise<void> {
  const path = uapiSocketPath(ifname);
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (alive) {
    throw new AloftError('wireguard_name_in_use', 'platform', `a wireguard-go already serves interface ${ifname} (${path}); interface names must be unique on this computer`, {
      hint: 'pick another name prefix, or remove the old topology with destroyTopology(prefix)',
    });
  }
  await unlink(path).catch(() => undefined);
}
