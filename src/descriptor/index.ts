export { parseDescriptor } from './parse.js'
export { validateDescriptor, assertValidDescriptor, bundlePath, type BundleView, type ValidationOutcome } from './validate.js'
export type { Descriptor, DescriptorIssue, ValidDescriptor } from './types.js'
