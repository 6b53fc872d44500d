import type { PxpPlugin } from 'pxp'

export interface ExampleSignerOptions {
  /** Env var holding the path of the PEM private key (default PXP_EXAMPLE_KEY_FILE). */
  keyFileEnv?: string
}

declare const exampleSigner: (options?: ExampleSignerOptions) => PxpPlugin
export default exampleSigner
