/** The OCI image config and manifest documents the importers write. */
import { mediaTypes } from '../media-types.ts';
import type { PushedBlob } from '../image-sink.ts';

/** How a container from the image starts; what `aloft images import DIR` takes as flags. */
export interface RunConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** KEY=VALUE strings. */
  env?: string[];
  workingDir?: string;
  user?: string;
  exposedPorts?: number[];
  labels?: Record<string, string>;
}

const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A linux image config for this machine's architecture, with one layer per `diffIds` entry. */
export function imageConfig(run: RunConfig, diffIds: string[]): Buffer {
  const env = run.env ?? [];
  const config = {
    architecture: ociArchitecture(process.arch),
    os: 'linux',
    config: {
      ...(run.entrypoint === undefined ? {} : { Entrypoint: run.entrypoint }),
      ...(run.cmd === undefined ? {} : { Cmd: run.cmd }),
      Env: env.some((e) => e.startsWith('PATH=')) ? env : [defaultPath, ...env],
      ...(run.workingDir === undefined ? {} : { WorkingDir: run.workingDir }),
      ...(run.user === undefined ? {} : { User: run.user }),
      ...(run.exposedPorts === undefined ? {} : { ExposedPorts: Object.fromEntries(run.exposedPorts.map((p) => [`${p}/tcp`, {}])) }),
      ...(run.labels === undefined ? {} : { Labels: run.labels }),
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  return Buffer.from(JSON.stringify(config));
}

/** An OCI image manifest over a pushed config and layers. */
export function imageManifest(config: PushedBlob, configMediaType: string, layers: { blob: PushedBlob; mediaType: string }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: configMediaType, digest: config.digest, size: config.sizeBytes },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.blob.digest, size: l.blob.sizeBytes })),
    }),
  );
}

function ociArchitecture(arch: string): string {
  const names: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return names[arch] ?? arch;
}
