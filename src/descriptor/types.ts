/** The parts of PowerX's `plugin.yaml` that pxp reads (plugin-descriptor.md). Unknown keys pass through. */
export interface HealthSpec { http?: string; interval?: string; timeout?: string }

export interface Descriptor {
  id?: unknown
  name?: unknown
  description?: unknown
  version?: unknown
  corex_version?: unknown
  runtime?: {
    kind?: unknown
    entry?: unknown
    args?: unknown
    env?: Record<string, unknown>
    health?: HealthSpec
    [key: string]: unknown
  }
  backend?: { entry?: unknown; port?: unknown; health?: HealthSpec; [key: string]: unknown }
  endpoints?: { http_base_path?: unknown; [key: string]: unknown }
  frontend?: { admin?: { kind?: unknown; static_dir?: unknown; entry?: unknown; args?: unknown; [key: string]: unknown } }
  catalogs?: unknown
  permissions?: unknown
  rbac?: { resources?: unknown; [key: string]: unknown }
  migrations?: { driver?: unknown; entry?: unknown; args?: unknown; workdir?: unknown; once?: unknown; timeout?: unknown }
  dependencies?: unknown
  secrets?: unknown
  metadata?: Record<string, unknown>
  [key: string]: unknown
}

/** A descriptor that passed validation: the fields pxp relies on are known to be well-formed. */
export interface ValidDescriptor {
  id: string
  name: string
  version: string
  runtimeKind: 'process' | 'static' | 'remote'
  entry?: string
  corexVersion?: string
  permissions: string[]
  requires: Array<{ id: string; range: string }>
  conflicts: string[]
  secrets: string[]
  raw: Descriptor
}

export interface DescriptorIssue {
  /** Dotted field path, e.g. `runtime.health.interval`. */
  field: string
  message: string
}
