/** Records the sandbox persists (state.json + journal). Field names follow the API's snake_case. */
export const STAGES = ['receive', 'validate', 'dependencies', 'quota', 'configure', 'provision', 'start', 'expose'] as const
export type StageName = (typeof STAGES)[number]

export type InstallStatus = 'receiving' | 'pending' | 'installing' | 'rolling_back' | 'running' | 'failed'
export const FINAL_STATUSES: readonly InstallStatus[] = ['running', 'failed']

export interface StageRecord {
  name: StageName | 'rollback'
  status: 'running' | 'ok' | 'failed'
  started_at: string
  duration_ms?: number
  reason?: string
  error_code?: string
}

/** What the wizard answered. Secrets are references (`env:NAME`, `file:/path`), never values. */
export interface InstallConfig {
  env: Record<string, string>
  secrets: Record<string, string>
  log_level?: string
}

export interface InstallRecord {
  id: string
  tenant: string
  actor: string
  trace_id: string
  status: InstallStatus
  stage?: StageName
  stages: StageRecord[]
  created_at: string
  finished_at?: string
  duration_ms?: number
  plugin_id?: string
  version?: string
  package_bytes?: number
  package_sha256?: string
  force?: boolean
  config: InstallConfig
  /** Relative to the data dir. */
  staging?: string
  version_dir?: string
  /** The version that was running before this install (an upgrade). */
  previous_version?: string
  previous_was_running?: boolean
  /** Side effects done so far, undone in reverse order by a rollback. */
  effects: Array<'staged' | 'extracted' | 'reserved' | 'stopped_previous' | 'started'>
  error_code?: string
  failure_reason?: string
  rolled_back?: boolean
  rollback_duration_ms?: number
  signature_failure?: boolean
  entry_url?: string
  test_url?: string
  logs_url?: string
  pid?: number
  port?: number
}

export interface VersionRecord {
  version: string
  /** Relative to the data dir. */
  dir: string
  installed_at: string
  install_id: string
  config: InstallConfig
  memory_mb?: number
}

export interface PluginRecord {
  tenant: string
  id: string
  current_version: string
  /** `running`, `stopped` (uninstalled or rolled away), `crashed` (exited on its own), `killed` (limits). */
  status: 'running' | 'stopped' | 'crashed' | 'killed' | 'installing'
  versions: Record<string, VersionRecord>
  /** The version a manual rollback goes back to. */
  previous_version?: string
  port?: number
  pid?: number
  entry_url?: string
  test_url?: string
  last_exit?: { code: number | null; signal: string | null; reason?: string; at: string }
  updated_at: string
}

export interface Reservation { tenant: string; plugin_id: string; new_slot: boolean; memory_mb: number }

export interface SandboxEvent {
  seq: number
  type: string
  tenant_id: string
  timestamp: string
  install_id?: string
  plugin_id?: string
  version?: string
  data: Record<string, unknown>
}
