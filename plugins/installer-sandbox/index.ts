/**
 * installer-sandbox: the `install` hook. Installs the bundle this build emitted into the sandbox
 * named by the config's `sandbox` section (`mode: pxp`, the default, or `powerx-core`) through the
 * same client as `pxp install`, and fails the build (exit 1) when the install fails and is rolled
 * back. Builds are not interactive: every required wizard answer must come from `sandbox.values` /
 * `sandbox.secrets`, else the build fails listing the missing keys.
 */
import { callJson, definePlugin, installBundle, mergeAnswers, type InstallResult, type PluginContext } from '../../src/plugin-api.js'

/** The sandbox's `<os>-<arch>` from its /healthz (undefined when it does not say). */
async function sandboxPlatform(url: string): Promise<string | undefined> {
  const health = await callJson('GET', `${url.replace(/\/+$/, '')}/healthz`, {}, undefined, 'Sandbox health check', 10_000)
  return typeof health.data?.platform === 'string' ? health.data.platform : undefined
}

export interface InstallerSandboxOptions {
  /** Follow the install at most this long (ms). Default 300000. */
  timeoutMs?: number
}

export default definePlugin((options: InstallerSandboxOptions = {}) => ({
  name: 'installer-sandbox',
  apply: (config) => Boolean(config.sandbox),
  async install(this: PluginContext, artifacts): Promise<InstallResult | null> {
    const sandbox = this.config.sandbox
    if (!sandbox) return null
    const bundle = artifacts.find((a) => a.kind === 'bundle')
    if (!bundle) return null
    const tokenEnv = sandbox.tokenEnv ?? 'PXP_SANDBOX_TOKEN'
    const token = process.env[tokenEnv]
    if (!token) {
      this.error({ code: 'SANDBOX_TOKEN_MISSING', message: `No sandbox token: ${tokenEnv} is not set.`, hint: `Export ${tokenEnv}, or skip the install step with --no-install.`, exitCode: 2 })
    }
    this.redact(token)
    // One sandbox runs one platform: other targets of a multi-target build are skipped, not failed.
    const mode = sandbox.mode ?? 'pxp'
    const target = `${this.target.os}-${this.target.arch}`
    const platform = typeof sandbox.platform === 'string' ? sandbox.platform : mode === 'pxp' ? await sandboxPlatform(sandbox.url) : undefined
    if (platform && platform !== target) {
      this.logger.info(`Not installing ${target}: the sandbox runs ${platform} bundles.`)
      return { status: 'skipped', reason: `the sandbox runs ${platform}` }
    }
    const outcome = await installBundle({
      file: bundle.path,
      url: sandbox.url,
      tenant: sandbox.tenant,
      token: token!,
      mode,
      answers: mergeAnswers({ env: sandbox.values ?? {}, secrets: sandbox.secrets ?? {}, ...(sandbox.logLevel && { log_level: sandbox.logLevel }) }),
      trust: this.config.trust,
      progress: false,
      timeoutMs: options.timeoutMs,
      logger: { info: (m) => this.logger.info(m), warn: (m) => this.logger.warn(m) },
    })
    const result: InstallResult = {
      status: outcome.status,
      ...(outcome.entryUrl && { entryUrl: outcome.entryUrl }),
      ...(outcome.logsUrl && { logsUrl: outcome.logsUrl }),
      ...(outcome.installId && { installId: outcome.installId }),
      ...(!outcome.ok && { stage: outcome.stage, reason: outcome.reason, rolledBack: outcome.rolledBack }),
    }
    this.audit('sandbox.install', { tenant: sandbox.tenant, mode: sandbox.mode ?? 'pxp', ...result, durationMs: outcome.durationMs })
    if (outcome.durationMs !== undefined) this.metric('plugin.install.sandbox_duration', outcome.durationMs, { tenant: sandbox.tenant })
    if (!outcome.ok) {
      this.error({
        code: 'INSTALL_FAILED',
        message: `Install into ${sandbox.tenant} ${outcome.status} at stage ${outcome.stage}: [${outcome.errorCode ?? 'error'}] ${outcome.reason ?? ''} (rolled back: ${outcome.rolledBack ? 'yes' : 'no'}).`,
        hint: outcome.logsUrl ? `See ${outcome.logsUrl}` : 'See the sandbox audit trail.',
        exitCode: 1,
      })
    }
    this.logger.success(`Running in ${sandbox.tenant}: ${outcome.entryUrl}`)
    return result
  },
}))
