/** Go's names for the host platform (cli.md: OS and arch use Go's names). */
export function hostTarget(): { os: string; arch: string } {
  const os = process.platform === 'win32' ? 'windows' : process.platform
  const arch = ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch
  return { os, arch }
}
