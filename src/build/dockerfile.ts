/**
 * `FROM` short names mean the organization's images on the Aloft registry: `node:24` is
 * `<registry>/<org>/node:24`, `team/base:v1` is `<registry>/team/base:v1` (the registry still
 * decides whether the caller may read it). The Dockerfile is rewritten rather than configuring
 * buildah's short-name resolution, because the system's short-name aliases (`debian` →
 * docker.io) would win over a search registry, and a rewritten line says plainly in the build
 * output which image was used. References that name a registry host, stage names, `scratch`
 * and references built from `ARG`s are left as written.
 */

/** `FROM [--flag=value ...] image [AS name]`, case-insensitive as Dockerfiles are. */
const fromLine = /^(\s*FROM\s+(?:--\S+\s+)*)(\S+)(\s+AS\s+(\S+))?(\s*)$/i;

/** Whether `ref` already names a registry host (`host.tld/…`, `host:port/…`, `localhost/…`). */
export function namesRegistry(ref: string): boolean {
  const slash = ref.indexOf('/');
  if (slash < 0) return false;
  const first = ref.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** The full reference for a short name on the registry at `registryHost`, in `org` unless it names its own. */
export function qualifyImage(ref: string, registryHost: string, org: string): string {
  if (namesRegistry(ref)) return ref;
  return ref.includes('/') ? `${registryHost}/${ref}` : `${registryHost}/${org}/${ref}`;
}

/** Rewrites every `FROM` short name in `dockerfile` to its full reference on the Aloft registry. */
export function qualifyFromLines(dockerfile: string, registryHost: string, org: string): string {
  const stages = new Set<string>();
  return dockerfile
    .split('\n')
    .map((line) => {
      const m = fromLine.exec(line);
      if (m === null) return line;
      const [, head, ref, as = '', stage, rest = ''] = m;
      const keep = ref === undefined || ref.toLowerCase() === 'scratch' || ref.includes('$') || stages.has(ref.toLowerCase());
      if (stage !== undefined) stages.add(stage.toLowerCase());
      return keep ? line : `${head}${qualifyImage(ref, registryHost, org)}${as}${rest}`;
    })
    .join('\n');
}
