/**
 * pkijs does its crypto through WebCrypto. Node has it built in, but pkijs must be told to use it
 * once per process; every module that calls pkijs goes through `pkijsReady()` first.
 */
import { webcrypto } from 'node:crypto'
import * as pkijs from 'pkijs'

let installed = false

export function pkijsReady(): void {
  if (installed) return
  pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never }))
  installed = true
}
