// npm run bench: pxp against baseline tools on the same data, in one run, on this machine.
// Prints medians of several runs, ratios and peak RSS; writes bench/results.json.
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeFixture } from './fixture.mjs'

const here = fileURLToPath(new URL('.', import.meta.url))
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const work = join(here, 'fixtures')
const scratch = join(tmpdir(), 'pxp-bench')
mkdirSync(scratch, { recursive: true })

for (const tool of ['tar', 'gzip', 'pigz', 'sha256sum']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench needs ${tool} (Debian: apt-get install ${tool === 'sha256sum' ? 'coreutils' : tool})`)
    process.exit(2)
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function sh(command, cwd) {
  const start = performance.now()
  const run = spawnSync('sh', ['-c', command], { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
  if (run.status !== 0) throw new Error(`${command}: ${run.stderr}`)
  return performance.now() - start
}

function pxp(args, env = {}) {
  const rssFile = join(scratch, 'rss')
  const start = performance.now()
  const run = spawnSync(process.execPath, [join(here, 'measure.mjs'), ...args], {
    env: { ...process.env, CI: '1', NO_COLOR: '1', PXP_BENCH_RSS_FILE: rssFile, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const ms = performance.now() - start
  if (run.status !== 0) throw new Error(`pxp ${args.join(' ')}: ${run.stderr}`)
  return { ms, rssMiB: Number(readFileSync(rssFile, 'utf8')) / 1024 }
}

function repeat(fn) {
  const samples = Array.from({ length: RUNS }, fn)
  return typeof samples[0] === 'number' ? { ms: median(samples) } : { ms: median(samples.map((s) => s.ms)), rssMiB: Math.max(...samples.map((s) => s.rssMiB)) }
}

const keys = join(scratch, 'keys')
if (!existsSync(join(keys, 'dev-signing.pem'))) pxp(['keys', 'dev', '--out', keys])
const sign = ['--sign', join(keys, 'dev-signing.pem'), '--key', join(keys, 'dev-signing.key')]

async function benchFixture(name, shape) {
  console.error(`\n== ${name}: generating fixture…`)
  const dir = makeFixture(join(work, name), shape)
  const sizeMiB = Number(spawnSync('du', ['-sm', '--exclude=.complete', dir], { encoding: 'utf8' }).stdout.split('\t')[0])
  const out = join(scratch, `${name}-out`)
  const base = ['build', '--cwd', dir, '--os', 'linux', '--arch', 'amd64', '--no-upload', '--no-install', ...sign]
  const tgz = join(scratch, `${name}.tgz`)
  const hashEvery = 'find . -type f -print0 | xargs -0 sha256sum > /dev/null'

  console.error('   cold pxp build…')
  const cold = repeat(() => {
    rmSync(out, { recursive: true, force: true })
    return pxp([...base, '--out', out], { PXP_NO_CACHE: '1' })
  })
  console.error('   tar -czf + sha256sum…')
  const tarGz = repeat(() => sh(`${hashEvery} && tar -czf "${tgz}" . && sha256sum "${tgz}" > /dev/null`, dir))
  console.error('   tar | pigz + sha256sum…')
  const tarPigz = repeat(() => sh(`${hashEvery} && tar -cf - . | pigz > "${tgz}" && sha256sum "${tgz}" > /dev/null`, dir))

  console.error('   incremental rebuild after one small file changes…')
  const warmOut = join(scratch, `${name}-warm`)
  rmSync(warmOut, { recursive: true, force: true })
  pxp([...base, '--out', warmOut])
  const changed = join(dir, 'web-admin/.output/public/_nuxt/d7/chunk-7.js')
  const original = readFileSync(changed)
  let n = 0
  const incremental = repeat(() => {
    appendFileSync(changed, `\n// edit ${++n}\n`)
    // Let the edit age past the cache's racy window, as a real edit-then-build would.
    spawnSync('sleep', ['1.1'])
    return pxp([...base, '--out', warmOut])
  })
  console.error('   the same edits under pxp build --watch…')
  const watched = await watchRebuilds([...base, '--out', warmOut], changed)
  writeFileSync(changed, original)

  const bundle = join(out, 'com.powerx.plugins.hello/1.2.0/linux-amd64/com.powerx.plugins.hello-1.2.0-linux-amd64.pxp')
  const bundleMiB = readFileSync(bundle).length / 1024 / 1024
  console.error('   pxp verify vs gzip -dc | sha256sum…')
  const verify = repeat(() => pxp(['verify', bundle, '--trust', join(keys, 'dev-root-ca.pem')]))
  const gunzip = repeat(() => sh(`gzip -dc "${bundle}" | sha256sum > /dev/null`, scratch))

  return {
    fixture: { name, inputMiB: sizeMiB, bundleMiB: Number(bundleMiB.toFixed(1)) },
    ms: { coldBuild: cold.ms, tarGzPipeline: tarGz.ms, tarPigzPipeline: tarPigz.ms, incrementalBuild: incremental.ms, watchRebuild: watched.ms, watchRebuildBuildOnly: watched.buildMs, verify: verify.ms, gunzipSha256: gunzip.ms },
    peakRssMiB: { coldBuild: cold.rssMiB, incrementalBuild: incremental.rssMiB, watch: watched.rssMiB, verify: verify.rssMiB },
    ratios: {
      coldVsPigz: cold.ms / tarPigz.ms,
      coldVsTarGz: cold.ms / tarGz.ms,
      incrementalVsCold: incremental.ms / cold.ms,
      watchRebuildVsCold: watched.ms / cold.ms,
      verifyVsGunzip: verify.ms / gunzip.ms,
    },
  }
}

/**
 * `pxp build --watch`: the same one-file edits, timed from the write to the rebuilt bundle's JSON
 * line (change detection and the quiet period included), plus the build's own duration.
 */
async function watchRebuilds(args, changed) {
  const rssFile = join(scratch, 'rss-watch')
  const child = spawn(process.execPath, [join(here, 'measure.mjs'), ...args, '--watch', '--json'], {
    env: { ...process.env, CI: '1', NO_COLOR: '1', PXP_BENCH_RSS_FILE: rssFile },
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async () => {
    const { value, done } = await lines.next()
    if (done) throw new Error('pxp build --watch ended early')
    const build = JSON.parse(value)
    if (!build.ok) throw new Error(`pxp build --watch: ${JSON.stringify(build.errors ?? build.error)}`)
    return build
  }
  await next()
  const latency = []
  const buildMs = []
  // Edits are cheap here, so a few more samples than BENCH_RUNS steady the median.
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    // A pause between edits, as between a developer's saves.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const start = performance.now()
    appendFileSync(changed, `\n// watched edit ${i}\n`)
    const build = await next()
    latency.push(performance.now() - start)
    buildMs.push(build.durationMs)
  }
  const exited = new Promise((resolve) => child.on('close', resolve))
  child.kill('SIGINT')
  await exited
  return { ms: median(latency), buildMs: median(buildMs), rssMiB: Number(readFileSync(rssFile, 'utf8')) / 1024 }
}

/** Playground install into the embedded sandbox: the whole `pxp install` command, server already up. */
async function benchSandboxInstall() {
  console.error('\n== sandbox install of the playground…')
  const { spawn } = await import('node:child_process')
  const root = fileURLToPath(new URL('..', import.meta.url))
  const out = join(scratch, 'playground-out')
  rmSync(out, { recursive: true, force: true })
  pxp(['build', '--cwd', join(root, 'playground'), '--out', out, '--no-upload', '--no-install', ...sign])
  const target = `${process.platform}-${{ x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch}`
  const bundle = join(out, `com.powerx.plugins.hello/1.2.0/${target}/com.powerx.plugins.hello-1.2.0-${target}.pxp`)
  const token = 'bench-sandbox-token'
  const dataDir = join(scratch, 'sandbox-data')
  rmSync(dataDir, { recursive: true, force: true })
  const server = spawn(process.execPath, [join(root, 'bin/pxp.mjs'), 'sandbox', '--port', '0', '--data-dir', dataDir, '--trust', join(keys, 'dev-root-ca.pem')], {
    env: { ...process.env, PXP_SANDBOX_TOKEN: token, CI: '1', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  try {
    const url = await new Promise((resolve, reject) => {
      let text = ''
      server.stdout.on('data', (d) => {
        text += d
        const m = /PXP_SANDBOX_URL=(\S+)/.exec(text)
        if (m) resolve(m[1])
      })
      server.on('exit', () => reject(new Error('sandbox exited early')))
    })
    const serverMs = []
    const wallMs = []
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now()
      const run = spawnSync(process.execPath, [join(root, 'bin/pxp.mjs'), 'install', bundle, '--sandbox', url, '--tenant', 'dev', '--token', token, '--set', 'HELLO_BOARD_NAME=Bench', '--yes', '--json'], { encoding: 'utf8', env: { ...process.env, CI: '1' } })
      wallMs.push(performance.now() - start)
      if (run.status !== 0) throw new Error(`pxp install: ${run.stdout}${run.stderr}`)
      serverMs.push(JSON.parse(run.stdout).durationMs)
      // Each run is a first install: uninstall before the next one.
      const removed = await fetch(`${url}/api/tenants/dev/plugins/com.powerx.plugins.hello`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
      if (!removed.ok) throw new Error(`uninstall: HTTP ${removed.status}`)
    }
    return { commandMs: median(wallMs), serverInstallMs: median(serverMs) }
  } finally {
    server.kill('SIGTERM')
  }
}

const results = {
  date: new Date().toISOString(),
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, zlib: process.versions.zlib },
  runs: RUNS,
  fixtures: [
    await benchFixture('realistic-170', { binaryMiB: 60 }),
    await benchFixture('large-225', { binaryMiB: 90 }),
  ],
  sandboxInstall: await benchSandboxInstall(),
}

const targets = { coldVsPigz: 1.0, coldVsTarGz: 0.5, incrementalVsCold: 0.15, watchRebuildVsCold: 0.15, verifyVsGunzip: 1.5 }
console.log(`\npxp benchmark — ${results.machine.cores} cores, ${results.machine.cpu}, Node ${process.version}, medians of ${RUNS} runs`)
for (const f of results.fixtures) {
  console.log(`\n${f.fixture.name}: ${f.fixture.inputMiB} MiB in, ${f.fixture.bundleMiB} MiB bundle`)
  const row = (label, ms) => console.log(`  ${label.padEnd(38)} ${(ms / 1000).toFixed(2).padStart(7)} s`)
  row('pxp build (cold, signed)', f.ms.coldBuild)
  row('tar -czf + sha256sum', f.ms.tarGzPipeline)
  row('tar | pigz + sha256sum', f.ms.tarPigzPipeline)
  row('pxp build (one small file changed)', f.ms.incrementalBuild)
  row('same edit under --watch, edit → bundle', f.ms.watchRebuild)
  row('  of which the rebuild itself', f.ms.watchRebuildBuildOnly)
  row('pxp verify', f.ms.verify)
  row('gzip -dc | sha256sum', f.ms.gunzipSha256)
  for (const [key, value] of Object.entries(f.ratios)) {
    console.log(`  ${key.padEnd(38)} ${value.toFixed(2).padStart(7)}×  (target ≤ ${targets[key]}×) ${value <= targets[key] ? 'ok' : 'MISSED'}`)
  }
  for (const [key, value] of Object.entries(f.peakRssMiB)) {
    console.log(`  peak RSS ${key.padEnd(29)} ${value.toFixed(0).padStart(7)} MiB (target ≤ 200) ${value <= 200 ? 'ok' : 'MISSED'}`)
  }
}
const si = results.sandboxInstall
console.log(`\nplayground install into the embedded sandbox: ${(si.commandMs / 1000).toFixed(2)} s for the whole pxp install command (server-side ${(si.serverInstallMs / 1000).toFixed(2)} s) (target ≤ 3 s) ${si.commandMs <= 3000 ? 'ok' : 'MISSED'}`)
writeFileSync(join(here, 'results.json'), JSON.stringify({ ...results, targets }, null, 2) + '\n')
console.log(`\nwrote ${join(here, 'results.json')}`)
