/**
 * Install metrics, computed from the persisted install records (so they survive restarts), per
 * tenant: `GET /metrics` answers JSON, or Prometheus text with `?format=prometheus` (dots become
 * underscores, the tenant is a label).
 */
import type { InstallRecord } from './types.js'

export interface InstallMetrics {
  'plugin.install.sandbox_duration_p95': number | null
  'plugin.install.sandbox_success_rate': number | null
  'plugin.install.rollback_total': number
  'plugin.install.signature_failure_total': number
  'plugin.install.completed_total': number
  'plugin.install.failed_total': number
}

export function computeMetrics(installs: InstallRecord[]): InstallMetrics {
  const done = installs.filter((r) => r.status === 'running' || r.status === 'failed')
  const ok = done.filter((r) => r.status === 'running')
  const durations = ok.map((r) => r.duration_ms ?? 0).sort((a, b) => a - b)
  const p95 = durations.length ? durations[Math.min(durations.length - 1, Math.ceil(0.95 * durations.length) - 1)]! : null
  return {
    'plugin.install.sandbox_duration_p95': p95,
    'plugin.install.sandbox_success_rate': done.length ? ok.length / done.length : null,
    'plugin.install.rollback_total': done.filter((r) => r.status === 'failed' && r.rolled_back).length,
    'plugin.install.signature_failure_total': installs.filter((r) => r.signature_failure).length,
    'plugin.install.completed_total': ok.length,
    'plugin.install.failed_total': done.length - ok.length,
  }
}

export function prometheusText(tenant: string, metrics: InstallMetrics): string {
  const lines: string[] = []
  for (const [name, value] of Object.entries(metrics)) {
    const metric = name.replace(/\./g, '_') + (name.endsWith('p95') ? '_ms' : '')
    lines.push(`# TYPE ${metric} ${name.endsWith('_total') ? 'counter' : 'gauge'}`)
    lines.push(`${metric}{tenant="${tenant}"} ${value === null ? 'NaN' : value}`)
  }
  return lines.join('\n') + '\n'
}
