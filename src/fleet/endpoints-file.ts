import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes endpoints.json, where the CLI finds the platform; readable by its owner only (it holds the token). */
export async function writeEndpoints(dataDir: string, endpoints: object): Promise<void> {
  await writeFile(join(dataDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
}
