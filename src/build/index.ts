/** The build component's public surface. */
export { buildExampleImage, writeExampleRootfs, examplePort } from './example-image.ts';
export { buildImage, parseImageName, type BuildImageOptions, type BuildProgress, type BuiltImage, type RegistryTarget } from './build-image.ts';
export { bootstrapDebian, debianSuite, type BootstrapOptions, type BootstrapProgress, type BootstrapResult } from './bootstrap.ts';
export { defaultCacheDir } from './paths.ts';
export { nodeAppPort } from './node-app.ts';
export { missingBuildTools } from './tools.ts';
export { detectSource, type DetectedSource } from './detect.ts';
