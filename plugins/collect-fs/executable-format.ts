/**
 * Recognises ELF, Mach-O and PE executables from their first bytes and says which Go os/arch they
 * run on, so a linux/arm64 bundle cannot ship an amd64 binary by mistake. Scripts and data files
 * are not executables in this sense and pass.
 */
export interface Platform { os: string; arch: string; format: string }

const ELF_MACHINES: Record<number, string> = { 0x3e: 'amd64', 0xb7: 'arm64', 0x03: '386', 0x28: 'arm', 0xf3: 'riscv64', 0x15: 'ppc64le', 0x16: 's390x', 0x102: 'loong64' }
const MACHO_CPUS: Record<number, string> = { 0x01000007: 'amd64', 0x0100000c: 'arm64', 0x07: '386', 0x0c: 'arm' }
const PE_MACHINES: Record<number, string> = { 0x8664: 'amd64', 0xaa64: 'arm64', 0x14c: '386', 0x1c4: 'arm' }

/** The platforms a binary runs on (several for a universal Mach-O), or null when it is not an executable. */
export function detectPlatforms(head: Buffer): Platform[] | null {
  if (head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const le = head[5] !== 2
    const machine = le ? head.readUInt16LE(18) : head.readUInt16BE(18)
    const os = head[7] === 9 ? 'freebsd' : 'linux'
    return [{ os, arch: ELF_MACHINES[machine] ?? `elf-machine-${machine}`, format: 'ELF' }]
  }
  if (head.length >= 8) {
    const magicLE = head.readUInt32LE(0)
    if (magicLE === 0xfeedfacf || magicLE === 0xfeedface) {
      const cpu = head.readUInt32LE(4)
      return [{ os: 'darwin', arch: MACHO_CPUS[cpu] ?? `macho-cpu-${cpu}`, format: 'Mach-O' }]
    }
    // Universal binaries share 0xcafebabe with Java class files; a fat header has few archs.
    if (head.readUInt32BE(0) === 0xcafebabe) {
      const count = head.readUInt32BE(4)
      if (count > 0 && count < 20 && head.length >= 8 + count * 20) {
        return Array.from({ length: count }, (_, i) => {
          const cpu = head.readUInt32BE(8 + i * 20)
          return { os: 'darwin', arch: MACHO_CPUS[cpu] ?? `macho-cpu-${cpu}`, format: 'Mach-O universal' }
        })
      }
    }
  }
  if (head.length >= 0x40 && head[0] === 0x4d && head[1] === 0x5a) {
    const peOffset = head.readUInt32LE(0x3c)
    if (peOffset + 6 <= head.length && head.readUInt32BE(peOffset) === 0x50450000) {
      const machine = head.readUInt16LE(peOffset + 4)
      return [{ os: 'windows', arch: PE_MACHINES[machine] ?? `pe-machine-${machine}`, format: 'PE' }]
    }
  }
  return null
}
