/**
 * Reads an app's config file: `aloft.toml`, or a `fly.toml` as-is. A syntax error or a wrong
 * type fails with the file, line and key; an unknown key is a warning (named, with its line)
 * and is ignored, so a config written for a newer Fly still deploys what Aloft understands.
 */
import { access, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { AloftError } from '../../lib/index.ts';
import { appConfigSchema, type AppConfig } from './schema.ts';
import { TomlLines, type KeyPath } from './toml-lines.ts';

/** Names looked for in a source directory, in order of preference. */
export const appConfigFileNames = ['aloft.toml', 'fly.toml'] as const;

/** Enough to list every problem a person would fix in one pass, without flooding a terminal. */
const problemsShownMax = 8;

export interface ConfigWarning {
  key: string;
  line: number | undefined;
  message: string;
}

export interface LoadedAppConfig {
  /** The file read, as given or found. */
  file: string;
  config: AppConfig;
  warnings: ConfigWarning[];
}

/** The app config file is wrong: names the file, line and key, and what is expected there. */
export class AppConfigError extends AloftError {
  constructor(message: string, details: { file: string; line?: number; key?: string; problems?: string[] }, hint: string) {
    super('invalid_app_config', 'config', message, { status: 422, hint, details });
  }
}

/** Finds the config file in `dir` (aloft.toml first, then fly.toml); undefined when there is none. */
export async function findAppConfigFile(dir: string): Promise<string | undefined> {
  for (const name of appConfigFileNames) {
    const path = join(dir, name);
    try {
      await access(path);
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return undefined;
}

export async function loadAppConfig(file: string): Promise<LoadedAppConfig> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AppConfigError(`cannot read ${file}: ${code ?? String(err)}`, { file }, code === 'ENOENT' ? `create it, or run \`aloft launch\` to write one` : 'check the file permissions');
  }
  return { file, ...parseAppConfig(source, file) };
}

/** Parses and validates config text; `file` is only used in messages. */
export function parseAppConfig(source: string, file: string): { config: AppConfig; warnings: ConfigWarning[] } {
  const name = basename(file);
  let document: unknown;
  try {
    document = parseToml(source);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
    throw new AppConfigError(`${name}:${err.line}:${err.column}: not valid TOML: ${reason}`, { file, line: err.line }, 'fix the syntax at that line (TOML: key = "value", [table], [[array of tables]])');
  }
  const lines = new TomlLines(source);
  const warnings: ConfigWarning[] = [];
  // Unknown keys are reported and removed, then the rest is validated again; two rounds at most
  // because removing keys cannot reveal new unknown ones.
  for (let round = 0; round < 2; round++) {
    const result = appConfigSchema.safeParse(document, { reportInput: true });
    if (result.success) {
      warnings.push(...notActedOn(result.data, name, lines));
      return { config: result.data, warnings: warnings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)) };
    }
    const unknown = result.error.issues.filter((issue) => issue.code === 'unrecognized_keys');
    const wrong = result.error.issues.filter((issue) => issue.code !== 'unrecognized_keys');
    if (wrong.length > 0) throw invalid(wrong, document, file, name, lines);
    for (const issue of unknown) {
      for (const key of issue.keys) {
        const path = [...inSource(document, issue.path as KeyPath), key];
        const line = lines.lineOf(path);
        warnings.push({ key: dotted(path), line, message: `${name}${line === undefined ? '' : `:${line}`}: unknown key '${dotted(path)}' is ignored` });
        removeKey(document, path);
      }
    }
  }
  throw new AppConfigError(`${name}: could not be validated`, { file }, 'report this: the config validator did not settle');
}

/**
 * Keys Aloft accepts, so a fly.toml carrying them deploys, but does not act on: each is said
 * plainly, rather than left to look as if it worked.
 */
function notActedOn(config: AppConfig, name: string, lines: TomlLines): ConfigWarning[] {
  const ignored: [KeyPath, boolean, string][] = [
    [['build', 'builder'], config.build?.builder !== undefined, 'Aloft builds with a Dockerfile (or a detected Node.js app), not buildpacks'],
    [['build', 'buildpacks'], config.build?.buildpacks !== undefined, 'Aloft builds with a Dockerfile (or a detected Node.js app), not buildpacks'],
    [['swap_size_mb'], config.swap_size_mb !== undefined, 'machines get no swap'],
    [['console_command'], config.console_command !== undefined, 'Aloft has no console command; use aloft machine exec'],
  ];
  return ignored
    .filter(([, present]) => present)
    .map(([path, , why]) => {
      const line = lines.lineOf(path);
      return { key: dotted(path), line, message: `${name}${line === undefined ? '' : `:${line}`}: '${dotted(path)}' is ignored: ${why}` };
    });
}

function invalid(issues: z.core.$ZodIssue[], document: unknown, file: string, name: string, lines: TomlLines): AppConfigError {
  const paths = issues.map((issue) => inSource(document, issue.path as KeyPath));
  const problems = issues.slice(0, problemsShownMax).map((issue, i) => {
    const line = lines.lineOf(paths[i]!);
    return `${name}${line === undefined ? '' : `:${line}`}: ${dotted(paths[i]!) || '(top level)'}: ${describe(issue)}`;
  });
  const firstLine = lines.lineOf(paths[0]!);
  return new AppConfigError(problems.join('\n'), { file, ...(firstLine === undefined ? {} : { line: firstLine }), key: dotted(paths[0]!), problems }, 'fix the named keys; the keys and types are those of fly.toml');
}

/**
 * The key path as the file writes it: the validator sees a single table (`[mounts]`) as a list
 * of one, so its `[0]` is dropped where the document has a table, not an array.
 */
function inSource(document: unknown, path: KeyPath): KeyPath {
  const out: (string | number)[] = [];
  let node: unknown = document;
  for (const part of path) {
    if (typeof part === 'number' && node !== null && typeof node === 'object' && !Array.isArray(node)) continue;
    out.push(part);
    node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[part] : undefined;
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `expected ${issue.expected}${'input' in issue && issue.input !== undefined ? `, got ${typeName(issue.input)}` : ''}`;
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // The alternative of the value's own type says what is wrong with it (a string not "10s"-shaped).
    const ofItsType = issue.errors.filter((branch) => branch.some((i) => i.code !== 'invalid_type'));
    if (ofItsType.length === 1) return describe(ofItsType[0]![0]!);
    const expected = issue.errors.flatMap((branch) => branch.flatMap((i) => (i.code === 'invalid_type' ? [i.expected] : [])));
    if (ofItsType.length === 0 && expected.length > 0) return `expected ${[...new Set(expected)].join(' or ')}${'input' in issue && issue.input !== undefined ? `, got ${typeName(issue.input)}` : ''}`;
  }
  return issue.message;
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a table';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function dotted(path: KeyPath): string {
  let out = '';
  for (const part of path) out = typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${part}`;
  return out;
}

function removeKey(document: unknown, path: KeyPath): void {
  let node: unknown = document;
  for (const part of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[part];
  if (typeof node === 'object' && node !== null) delete (node as Record<string, unknown>)[String(path[path.length - 1])];
}
