/**
 * The example image for tests, demos and the README, made without any public registry: a root
 * filesystem of Debian's static busybox (`/bin/busybox` and applet symlinks), a start script
 * that writes a page naming the machine and then runs `busybox httpd` in the foreground on
 * port 8080, and a CGI script answering the same live. Pushed through the importer.
 */
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../lib/errors.ts';
import { importImage, type ImageSink } from '../registry/index.ts';

/** Where Debian's busybox-static package puts its binary. */
export const busyboxPath = '/bin/busybox';
export const examplePort = 8080;

const applets = ['sh', 'httpd', 'ls', 'cat', 'echo', 'env', 'hostname', 'mkdir', 'printf', 'sleep', 'ps', 'uname', 'wget', 'id', 'date', 'true', 'false', 'test'];

const startScript = `#!/bin/sh
# Write the page before serving, so it names this machine even without CGI.
id="\${ALOFT_MACHINE_ID:-\${FLY_MACHINE_ID:-unknown}}"
region="\${ALOFT_REGION:-\${FLY_REGION:-unknown}}"
cat > /www/index.html <<PAGE
<!doctype html>
<html><head><title>Aloft example</title></head>
<body><h1>Hello from Aloft</h1><p>machine <code>$id</code> in region <code>$region</code></p></body></html>
PAGE
# -f: stay in the foreground, so the machine's main process is the server.
exec /bin/busybox httpd -f -p "\${PORT:-${examplePort}}" -h /www
`;

const cgiScript = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf 'machine %s\\n' "\${ALOFT_MACHINE_ID:-\${FLY_MACHINE_ID:-unknown}}"
`;

/** Lays the example root filesystem out in `dir` (which must exist and be empty). */
export async function writeExampleRootfs(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  try {
    await copyFile(busyboxPath, join(dir, 'bin', 'busybox'));
  } catch (err) {
    throw new ValidationError(`cannot read ${busyboxPath}`, { cause: err, hint: 'apt-get install busybox-static' });
  }
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of applets) await symlink('busybox', join(dir, 'bin', applet));
  await mkdir(join(dir, 'www', 'cgi-bin'), { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  await chmod(join(dir, 'tmp'), 0o1777);
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  await writeFile(join(dir, 'www', 'index.html'), '<!doctype html><p>Hello from Aloft (page written at start)</p>\n');
  await writeFile(join(dir, 'start.sh'), startScript, { mode: 0o755 });
  await writeFile(join(dir, 'www', 'cgi-bin', 'machine'), cgiScript, { mode: 0o755 });
}

/** Builds the example image and pushes it to `repository:tag`; resolves with the manifest digest. */
export async function buildExampleImage(sink: ImageSink, repository: string, tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'aloft-example-rootfs-'));
  try {
    await writeExampleRootfs(dir);
    const result = await importImage(sink, dir, {
      repository,
      tag,
      run: {
        entrypoint: ['/bin/sh', '/start.sh'],
        env: ['PATH=/bin', `PORT=${examplePort}`],
        workingDir: '/',
        exposedPorts: [examplePort],
        labels: { 'org.opencontainers.image.title': 'aloft-example' },
      },
    });
    return result.digest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
