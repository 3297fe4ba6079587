/**
 * Repository names, tags and organizations. Names follow the OCI distribution spec's grammar,
 * with one Aloft rule on top: every repository lives under an organization, so a name has at
 * least two path components (`<org>/<name>`, possibly deeper) and the first one is the org.
 */
import { RegistryError } from './errors.ts';

/** The spec's limit on a name including a registry host; we apply it to the path alone. */
export const repositoryNameBytesMax = 255;

const componentPattern = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const namePattern = new RegExp(`^${componentPattern}(?:/${componentPattern})+$`);
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isValidRepositoryName(name: string): boolean {
  return name.length <= repositoryNameBytesMax && namePattern.test(name);
}

export function assertRepositoryName(name: string): void {
  if (isValidRepositoryName(name)) return;
  throw new RegistryError('NAME_INVALID', `invalid repository name '${name.slice(0, repositoryNameBytesMax)}'`, {
    detail: { name: name.slice(0, repositoryNameBytesMax) },
    hint: 'use <org>/<name>: lowercase letters, digits and separators (. _ __ -), at most 255 characters',
  });
}

export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}

/** The organization a repository belongs to: its first path component. */
export function organizationOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash < 0 ? repository : repository.slice(0, slash);
}

/**
 * The app whose images a repository holds: `<org>/<app>`. Deeper names belong to no app, so a
 * token limited to apps reaches exactly its apps' repositories and nothing nested under them.
 */
export function appOf(repository: string): string | undefined {
  const parts = repository.split('/');
  return parts.length === 2 ? parts[1] : undefined;
}
