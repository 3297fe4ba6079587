/**
 * The registry component's public surface: the OCI distribution server, its auth hook, the
 * client the agent and CLI use, and image import.
 */
export { createRegistryServer, type RegistryServer, type RegistryServerOptions } from './server.ts';
export {
  tokenAuth,
  type Authorize,
  type AuthorizeRequest,
  type AuthorizeResult,
  type IssueToken,
  type RegistryAction,
  type TokenAuthOptions,
  type TokenRequest,
  type TokenResult,
} from './auth.ts';
export { RegistryError, type OciErrorCode } from './errors.ts';
export type { GcResult } from './gc.ts';
export { manifestBytesMax, type Descriptor } from './manifest.ts';
export { mediaTypes, manifestMediaTypes } from './media-types.ts';
export { digestOf, isDigest } from './digest.ts';
export { isValidRepositoryName, organizationOf } from './names.ts';
export { RegistryClient, type RegistryClientOptions, type RegistryCredentials } from './client.ts';
export type { ImageSink, PushedBlob } from './image-sink.ts';
export { OciLayoutWriter } from './import/oci-layout-writer.ts';
export { importImage, detectKind, type ImportKind, type ImportOptions, type ImportResult } from './import/import-image.ts';
export type { RunConfig } from './import/image-config.ts';
