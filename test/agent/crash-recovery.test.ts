/**
 * Fault injection: the agent process is killed with SIGKILL at every step boundary of create and
 * of destroy in turn. After a restart the machine must end in the state that was asked for, and
 * once destroyed nothing may be left on the host: no runc container, network namespace, veth,
 * mount or cgroup.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { buildExampleImage } from '../../src/build/index.ts';
import { requestJson, silentLogger, newMachineId, systemClock, type Machine } from '../../src/lib/index.ts';
import { RegistryClient, createRegistryServer, tokenAuth, type RegistryServer } from '../../src/registry/index.ts';
import { Keyring, mintPlatformToken, mintToken, RevocationList } from '../../src/tokens/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { skipWithoutOciRuntime } from '../helpers/root-prerequisites.ts';

const skip = await skipWithoutOciRuntime();
const keyring = new Keyring(systemClock);
keyring.rotate();
/** Admin of `personal`, the org the test machines belong to; the agent verifies it with the keyring it is given. */
const token = mintToken({ keyring, org: 'personal' });
const createPoints = ['pull_image', 'attach_network', 'prepare_instance', 'launch'].flatMap((s) => [`create:${s}:before`, `create:${s}:after`]);
const destroyPoints = ['stop_instance', 'destroy_instance', 'detach_network', 'mark_destroyed'].flatMap((s) => [`destroy:${s}:before`, `destroy:${s}:after`]);

let registry: RegistryServer;
let registryUrl: string;
let workDir: string;
let keyringDir: string;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'aloft-crash-'));
  keyringDir = join(workDir, 'keyring');
  await keyring.save(keyringDir);
  const auth = tokenAuth({ keyring, revocations: new RevocationList(), clock: systemClock });
  registry = await createRegistryServer({ dataDir: join(workDir, 'registry'), authorize: auth.authorize, issueToken: auth.issueToken, logger: silentLogger() });
  registryUrl = await registry.listen(0, '127.0.0.1');
  const client = new RegistryClient({ url: registryUrl, credentials: { password: token } });
  await buildExampleImage(client, 'personal/crash', 'v1');
  await client.close();
});

after(async () => {
  await registry?.close();
  await rm(workDir, { recursive: true, force: true });
});

interface RunningAgent {
  child: ChildProcess;
  url: string;
  exited: Promise<NodeJS.Signals | number | null>;
}

async function startAgent(dataDir: string, crashAt?: string): Promise<RunningAgent> {
  const child = spawn(process.execPath, ['src/agent/main.ts', '--data-dir', dataDir, '--keyring', keyringDir, '--registry', registryUrl, '--name-prefix', 'act'], {
    env: { ...process.env, ALOFT_LOG_LEVEL: process.env.ALOFT_TEST_LOG ?? 'warn', ...(crashAt === undefined ? {} : { ALOFT_AGENT_CRASH_AT: crashAt }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', () => reject(new Error('agent exited before listening')));
  });
  return { child, url, exited };
}

async function stopAgent(agent: RunningAgent): Promise<void> {
  if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
  await agent.exited;
}

/** Calls the agent as the API does: the user's token, plus a platform token that vouches for a create's org and app. */
const call = <T>(agent: RunningAgent, method: string, path: string, body?: unknown): Promise<T> =>
  requestJson<T>(method, `${agent.url}${path}`, {
    token: `${token},${mintPlatformToken(keyring, ['read', 'write'], Date.now())}`,
    ...(body === undefined ? {} : { body }),
  });

async function createMachine(agent: RunningAgent, id: string): Promise<void> {
  await call(agent, 'POST', '/v1/machines', {
    id,
    app: 'crash',
    app_id: 'app-crash',
    org: 'personal',
    org_num: 1,
    config: { image: `${new URL(registryUrl).host}/personal/crash:v1`, restart: { policy: 'always' } },
  });
}

async function machineState(agent: RunningAgent, id: string): Promise<string> {
  return (await call<Machine>(agent, 'GET', `/v1/machines/${id}`)).state;
}

/** Everything on this computer that still names the machine. */
async function leftovers(id: string, dataDir: string): Promise<string[]> {
  const found: string[] = [];
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (netns.includes(id)) found.push(`netns: ${netns.split('\n').filter((l) => l.includes(id)).join(', ')}`);
  const mounts = await readFile('/proc/mounts', 'utf8');
  for (const line of mounts.split('\n')) if (line.includes(dataDir) && line.includes(id)) found.push(`mount: ${line}`);
  const cgroups = execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-name', `*${id}*`], { encoding: 'utf8' }).trim();
  if (cgroups !== '') found.push(`cgroups: ${cgroups.split('\n').join(', ')}`);
  const runcStates = execFileSync('find', [dataDir, '-path', `*${id}*`, '-name', 'state.json'], { encoding: 'utf8' }).trim();
  if (runcStates !== '') found.push(`runc containers: ${runcStates}`);
  const procs = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(id) && !l.includes('ps -eo'));
  if (procs.length > 0) found.push(`processes: ${procs.join('; ')}`);
  return found;
}

describe('agent crash recovery', { skip }, () => {
  for (const point of createPoints) {
    it(`create resumes after a kill at ${point}`, async () => {
      const dataDir = await mkdtemp(join(workDir, 'agent-'));
      const id = newMachineId();
      const crashing = await startAgent(dataDir, point);
      await createMachine(crashing, id).catch(() => undefined); // the kill may land before the answer
      assert.equal(await crashing.exited, 'SIGKILL', `the agent should have killed itself at ${point}`);

      const agent = await startAgent(dataDir);
      try {
        await eventually(`machine started after a crash at ${point}`, async () => (await machineState(agent, id)) === 'started', 30_000);
        const exec = await call<{ exit_code: number; stdout: string }>(agent, 'POST', `/v1/machines/${id}/exec`, { cmd: 'echo alive' });
        assert.equal(exec.stdout.trim(), 'alive');
        await call(agent, 'DELETE', `/v1/machines/${id}?force=true`);
        await eventually('destroyed', async () => (await machineState(agent, id)) === 'destroyed', 30_000);
      } finally {
        await stopAgent(agent);
      }
      assert.deepEqual(await leftovers(id, dataDir), []);
    });
  }

  for (const point of destroyPoints) {
    it(`destroy completes after a kill at ${point}`, async () => {
      const dataDir = await mkdtemp(join(workDir, 'agent-'));
      const id = newMachineId();
      const first = await startAgent(dataDir);
      await createMachine(first, id);
      await eventually('started', async () => (await machineState(first, id)) === 'started', 30_000);
      await stopAgent(first);

      const crashing = await startAgent(dataDir, point);
      await call(crashing, 'DELETE', `/v1/machines/${id}?force=true`).catch(() => undefined);
      assert.equal(await crashing.exited, 'SIGKILL', `the agent should have killed itself at ${point}`);

      const agent = await startAgent(dataDir);
      try {
        await eventually(`destroyed after a crash at ${point}`, async () => (await machineState(agent, id)) === 'destroyed', 30_000);
      } finally {
        await stopAgent(agent);
      }
      assert.deepEqual(await leftovers(id, dataDir), []);
    });
  }
});
