/** The build component's public surface. */
export { buildExampleImage, writeExampleRootfs, examplePort } from './example-image.ts';
