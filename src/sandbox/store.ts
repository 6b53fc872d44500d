/**
 * Crash-safe state. `state.json` is a snapshot written atomically (tmp, fsync, rename) after every
 * change; `journal.log` is the append-only write-ahead log: each change is appended (fsync) before
 * the snapshot is replaced, so a `kill -9` between the two loses nothing — on open, journal lines
 * newer than the snapshot's `seq` are replayed. The journal starts afresh after each open.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { PxpError } from '../errors.js'
import { appendLineSync, writeFileAtomic } from './fsutil.js'
import type { InstallRecord, PluginRecord, Reservation } from './types.js'

interface Snapshot {
  seq: number
  installs: Record<string, InstallRecord>
  plugins: Record<string, PluginRecord>
  reservations: Record<string, Reservation>
}

type Kind = 'installs' | 'plugins' | 'reservations'
interface JournalLine { seq: number; kind: Kind; key: string; value: unknown }

export const pluginKey = (tenant: string, id: string) => `${tenant}/${id}`

export class Store {
  private state: Snapshot
  readonly stateFile: string
  readonly journalFile: string

  constructor(readonly dataDir: string) {
    this.stateFile = join(dataDir, 'state.json')
    this.journalFile = join(dataDir, 'journal.log')
    this.state = { seq: 0, installs: {}, plugins: {}, reservations: {} }
    if (existsSync(this.stateFile)) {
      try {
        this.state = JSON.parse(readFileSync(this.stateFile, 'utf8')) as Snapshot
      } catch (cause) {
        throw new PxpError('SANDBOX_STATE_CORRUPT', `${this.stateFile} is not valid JSON.`, { cause, hint: 'Restore it from backup or move the data directory away to start empty.' })
      }
    }
    if (existsSync(this.journalFile)) {
      for (const line of readFileSync(this.journalFile, 'utf8').split('\n')) {
        if (!line.trim()) continue
        let entry: JournalLine
        try {
          entry = JSON.parse(line) as JournalLine
        } catch {
          break // a torn last line: the change never completed
        }
        if (entry.seq <= this.state.seq) continue
        this.applyLine(entry)
      }
      writeFileAtomic(this.stateFile, JSON.stringify(this.state))
      renameSync(this.journalFile, `${this.journalFile}.prev`)
    }
  }

  private applyLine(entry: JournalLine): void {
    const table = this.state[entry.kind] as Record<string, unknown>
    if (entry.value === null) delete table[entry.key]
    else table[entry.key] = entry.value
    this.state.seq = entry.seq
  }

  private commit(kind: Kind, key: string, value: unknown): void {
    const entry: JournalLine = { seq: this.state.seq + 1, kind, key, value: value === null ? null : structuredClone(value) }
    appendLineSync(this.journalFile, JSON.stringify(entry))
    this.applyLine(entry)
    writeFileAtomic(this.stateFile, JSON.stringify(this.state))
  }

  install(id: string): InstallRecord | undefined {
    const rec = this.state.installs[id]
    return rec ? structuredClone(rec) : undefined
  }
  installs(): InstallRecord[] {
    return Object.values(this.state.installs).map((r) => structuredClone(r))
  }
  putInstall(rec: InstallRecord): void {
    this.commit('installs', rec.id, rec)
  }

  plugin(tenant: string, id: string): PluginRecord | undefined {
    const rec = this.state.plugins[pluginKey(tenant, id)]
    return rec ? structuredClone(rec) : undefined
  }
  plugins(tenant?: string): PluginRecord[] {
    return Object.values(this.state.plugins).filter((p) => tenant === undefined || p.tenant === tenant).map((r) => structuredClone(r))
  }
  putPlugin(rec: PluginRecord): void {
    this.commit('plugins', pluginKey(rec.tenant, rec.id), rec)
  }
  deletePlugin(tenant: string, id: string): void {
    this.commit('plugins', pluginKey(tenant, id), null)
  }

  reservations(tenant: string): Array<[string, Reservation]> {
    return Object.entries(this.state.reservations).filter(([, r]) => r.tenant === tenant)
  }
  reserve(installId: string, reservation: Reservation): void {
    this.commit('reservations', installId, reservation)
  }
  release(installId: string): void {
    if (this.state.reservations[installId]) this.commit('reservations', installId, null)
  }
}
