/**
 * The Debian mirror this machine's apt already uses, so a bootstrap downloads from the same place
 * (often a local or snapshot mirror) rather than guessing. Reads one-line `deb URI suite …`
 * entries from sources.list and *.list, and deb822 stanzas from *.sources.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const fallbackDebianMirror = 'http://deb.debian.org/debian';

interface Source {
  uri: string;
  suites: string[];
}

/** Entries of a one-line-style sources.list. */
export function parseSourcesList(text: string): Source[] {
  const out: Source[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/, '').trim();
    const [type, uri, suite] = line.split(/\s+/);
    if (type === 'deb' && uri !== undefined && suite !== undefined) out.push({ uri, suites: [suite] });
  }
  return out;
}

/** Stanzas of a deb822-style .sources file. */
export function parseDeb822(text: string): Source[] {
  const out: Source[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m !== null) fields.set(m[1]!.toLowerCase(), m[2]!.trim());
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb') || fields.get('enabled') === 'no') continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) out.push({ uri, suites });
  }
  return out;
}

/** The first configured mirror that serves `suite` itself (not `suite-security` or `suite-updates`). */
export function mirrorFor(sources: Source[], suite: string): string | undefined {
  return sources.find((s) => s.suites.includes(suite))?.uri;
}

/** The mirror apt uses for `suite` on this machine, or deb.debian.org when none is configured. */
export async function debianMirror(suite: string, aptDir = '/etc/apt'): Promise<string> {
  const sources: Source[] = [];
  const read = (path: string): Promise<string> => readFile(path, 'utf8').catch(() => '');
  sources.push(...parseSourcesList(await read(join(aptDir, 'sources.list'))));
  const dir = join(aptDir, 'sources.list.d');
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.list')) sources.push(...parseSourcesList(await read(join(dir, name))));
    if (name.endsWith('.sources')) sources.push(...parseDeb822(await read(join(dir, name))));
  }
  return mirrorFor(sources, suite) ?? fallbackDebianMirror;
}
