/**
 * Where each key of a TOML document is written, so a validation error can name the file line.
 * The TOML parser gives values without positions; this scans the source's table headers and
 * `key =` lines and records the line of every key path it sees (array-of-tables entries get
 * their index, as the parsed value has them). Keys inside inline tables and multi-line arrays
 * resolve to the line of the key that holds them, which is where a person would look.
 */

export type KeyPath = readonly (string | number)[];

export class TomlLines {
  readonly #lines = new Map<string, number>();

  constructor(source: string) {
    this.#scan(source);
  }

  /** The 1-based line of `path`, or of its nearest enclosing key or table; undefined if none. */
  lineOf(path: KeyPath): number | undefined {
    for (let n = path.length; n > 0; n--) {
      const line = this.#lines.get(pathKey(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return undefined;
  }

  #scan(source: string): void {
    const arrayCounts = new Map<string, number>();
    let table: (string | number)[] = [];
    let inMultiline: '"""' | "'''" | undefined;
    const lines = source.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!;
      if (inMultiline !== undefined) {
        if (raw.includes(inMultiline)) inMultiline = undefined;
        continue;
      }
      const text = raw.trim();
      if (text === '' || text.startsWith('#')) continue;
      const arrayHeader = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(text);
      if (arrayHeader !== null) {
        const names = splitKey(arrayHeader[1]!);
        const parent = this.#resolve(names.slice(0, -1), arrayCounts);
        const arrayPath = [...parent, names[names.length - 1]!];
        const index = arrayCounts.get(pathKey(arrayPath)) ?? 0;
        arrayCounts.set(pathKey(arrayPath), index + 1);
        table = [...arrayPath, index];
        this.#record(arrayPath, i);
        this.#record(table, i);
        continue;
      }
      const tableHeader = /^\[\s*([^\]]+?)\s*\]/.exec(text);
      if (tableHeader !== null) {
        table = this.#resolve(splitKey(tableHeader[1]!), arrayCounts);
        this.#record(table, i);
        continue;
      }
      const assignment = /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=(.*)$/.exec(text);
      if (assignment === null) continue;
      this.#record([...table, ...splitKey(assignment[1]!)], i);
      const rest = assignment[2]!;
      const opener = /("""|''')/.exec(rest);
      if (opener !== null && rest.indexOf(opener[1]!, opener.index + 3) === -1) inMultiline = opener[1] as '"""' | "'''";
    }
  }

  /** A dotted header path with the latest index inserted after each array-of-tables name. */
  #resolve(names: string[], arrayCounts: Map<string, number>): (string | number)[] {
    const out: (string | number)[] = [];
    for (const name of names) {
      out.push(name);
      const count = arrayCounts.get(pathKey(out));
      if (count !== undefined) out.push(count - 1);
    }
    return out;
  }

  #record(path: KeyPath, lineIndex: number): void {
    const key = pathKey(path);
    if (!this.#lines.has(key)) this.#lines.set(key, lineIndex + 1);
  }
}

function splitKey(dotted: string): string[] {
  const parts: string[] = [];
  for (const match of dotted.matchAll(/"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)/g)) {
    parts.push(match[1] ?? match[2] ?? match[3]!);
  }
  return parts;
}

function pathKey(path: KeyPath): string {
  return JSON.stringify(path);
}
