import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const testClusterKey = 'a1'.repeat(32);

export interface NodeProcess {
  child: ChildProcess;
  id: string;
  address: string;
  http: string;
}

/** Starts `src/state/main.ts` as its own OS process and waits for its "serving" line. */
export async function startNodeProcess(dataDir: string, seeds: string[], port = 0): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['src/state/main.ts', '--data', dataDir, '--key', testClusterKey, '--port', String(port), '--seeds', seeds.join(',')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ALOFT_LOG_LEVEL: 'warn' },
  });
  child.stderr!.resume();
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`state node exited with ${code} before serving`)));
  });
  const info = JSON.parse(first) as { id: string; address: string; http: string };
  return { child, ...info };
}

export async function stopProcess(p: NodeProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.kill(signal);
  await exited;
}

export async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Runs a query through the HTTP API and returns its rows (without row ids). */
export async function queryRows(http: string, sql: string): Promise<unknown[][]> {
  const res = await post(`${http}/v1/queries`, sql);
  if (res.status !== 200) throw new Error(`query failed: ${res.status} ${await res.text()}`);
  const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { row?: [number, unknown[]] });
  return lines.filter((l) => l.row !== undefined).map((l) => l.row![1]);
}
