/**
 * A deploy that meets a platform fault says so through the CLI: exit code 1, naming the host
 * whose agent could not be reached, and the release recorded as failed. On a fleet (two hosts,
 * process driver), because the fault is a host going away while the rest of the platform stays.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFleetProcess, readFleet } from '../../src/fleet/index.ts';
import type { Machine, Release } from '../../src/lib/index.ts';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestFleet, type TestFleet } from '../fleet/helpers.ts';

let t: TestFleet;
let work: string;
let machine: Machine;

/** The CLI as a user elsewhere runs it: the API's URL and a token, nothing else. */
const cli = (args: string[]) => runCli(['--data-dir', join(work, 'cli'), '--api-url', t.fleet.api, '--access-token', t.fleet.token, ...args]);

before(async () => {
  t = await startTestFleet(['dev'], 2);
  work = await mkdtemp(join(tmpdir(), 'aloft-deploy-fault-'));
  machine = await t.runMachine('dev');
});

after(async () => {
  await t?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('a deploy meeting a platform fault', () => {
  it('exits 1 naming the host whose agent is unreachable, and records the release as failed', async () => {
    const pinned = machine.host_id;
    const other = t.fleet.hosts.find((h) => h.id !== pinned)!.id;
    const pid = readFleet(t.dataDir)!.hosts.find((h) => h.id === pinned)!.pid;
    process.kill(pid, 'SIGKILL');
    await eventually('the host to be gone', () => !isFleetProcess(pid, t.dataDir));

    await writeFile(join(work, 'fly.toml'), `app = '${t.app}'\n\n[build]\n  image = '${t.app}:v1'\n\n[env]\n  GREETING = 'after the fault'\n`);
    const deployed = await cli(['deploy', work]);
    assert.equal(deployed.code, 1, deployed.stderr);
    assert.match(deployed.stderr, new RegExp(`the agent of host ${pinned}`));
    assert.doesNotMatch(deployed.stderr, new RegExp(`host ${other}`));
    assert.match(deployed.stderr, /platform/);

    const listed = await cli(['releases', '-a', t.app, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const [release] = JSON.parse(listed.stdout) as Release[];
    assert.equal(release!.status, 'failed');
    assert.match(String(release!.failure?.error), new RegExp(pinned));
  });
});
