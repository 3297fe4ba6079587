/**
 * The `skip` options root-only test files share: skipped with the reason where this computer
 * lacks what they run, a failed file in CI as root (prerequisites.ts).
 */
import { ociRuntimeAvailable } from '../../src/agent/runtime/index.ts';
import { missingBuildTools } from '../../src/build/index.ts';
import { hasRootNetworking } from '../../src/net/index.ts';
import { skipUnlessAvailable } from './prerequisites.ts';

/** Network namespaces, made and removed with `ip netns`. */
export async function skipWithoutNetworkNamespaces(): Promise<string | false> {
  return skipUnlessAvailable((await hasRootNetworking()) ? [] : ['root and a working `ip netns`']);
}

/** What the `oci` driver runs machines with: runc (with busybox and cgroup v1 limits) in network namespaces. */
export async function skipWithoutOciRuntime(): Promise<string | false> {
  const available = (await ociRuntimeAvailable()) && (await hasRootNetworking());
  return skipUnlessAvailable(available ? [] : ['root, runc and network namespaces']);
}

/** What image builds run: buildah and debootstrap, as root. */
export async function skipWithoutBuildTools(): Promise<string | false> {
  const missing = await missingBuildTools();
  return skipUnlessAvailable(missing === null ? [] : [`root, buildah and debootstrap (${missing})`]);
}
