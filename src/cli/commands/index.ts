import type { CAC } from 'cac'
import build from './build.js'
import upload from './upload.js'
import verify from './verify.js'
import keys from './keys.js'
import install from './install.js'
import sandbox from './sandbox.js'
import audit from './audit.js'
import clean from './clean.js'
import doctor from './doctor.js'
import init from './init.js'
import add from './add.js'

/** A command registers itself on the cac instance and reports its exit code through `setExit`. */
export interface CliCommand {
  register(cli: CAC, setExit: (code: number) => void): void
}

// One line per command; keep the order of `pxp --help`.
export const commands: CliCommand[] = [build, upload, verify, keys, install, sandbox, audit, clean, doctor, init, add]
