// The sandbox's public API as the console uses it: JSON over fetch, uploads over XMLHttpRequest
// (for upload progress), and text/event-stream read from fetch (EventSource cannot send the
// Authorization header). Everything goes to this origin only.

const STORE = 'pxp.console.session'

/** The session lives in sessionStorage only: this tab, until sign-out or the tab closes. */
export const session = {
  get() {
    try {
      const s = JSON.parse(sessionStorage.getItem(STORE) ?? 'null')
      return s && typeof s.token === 'string' && typeof s.tenant === 'string' ? s : null
    } catch {
      return null
    }
  },
  set(token, tenant) {
    sessionStorage.setItem(STORE, JSON.stringify({ token, tenant }))
  },
  clear() {
    sessionStorage.removeItem(STORE)
  },
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message)
    this.status = status
    this.code = code
    this.details = details ?? {}
  }
}

function envelope(status, text) {
  let body
  try {
    body = JSON.parse(text)
  } catch {
    throw new ApiError(status, 'bad_response', `The sandbox answered ${status} with something that is not JSON.`)
  }
  if (status >= 400 || body.error_code) throw new ApiError(status, body.error_code ?? 'error', body.message ?? `HTTP ${status}`, body.details)
  return body.data
}

const authHeaders = (token) => ({ authorization: `Bearer ${token}` })

/** GET/POST/DELETE a JSON route; resolves with the envelope's `data`. */
export async function api(token, method, path, { signal } = {}) {
  let res
  try {
    res = await fetch(path, { method, headers: { accept: 'application/json', ...authHeaders(token) }, signal, cache: 'no-store' })
  } catch (error) {
    if (error.name === 'AbortError') throw error
    throw new ApiError(0, 'network', 'The sandbox cannot be reached. Is `pxp sandbox` still running?')
  }
  return envelope(res.status, await res.text())
}

/**
 * A multipart upload with progress. `fields` are sent before the file; resolves with the
 * envelope's `data` (and the HTTP status), rejects with an ApiError.
 */
export function upload(token, path, file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData()
    for (const [k, v] of Object.entries(fields)) form.append(k, v)
    form.append('package', file, file.name)
    const xhr = new XMLHttpRequest()
    xhr.open('POST', path)
    xhr.setRequestHeader('authorization', `Bearer ${token}`)
    xhr.setRequestHeader('accept', 'application/json')
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total)
    }
    xhr.upload.onload = () => onProgress(1, 1)
    xhr.onload = () => {
      try {
        resolve({ status: xhr.status, data: envelope(xhr.status, xhr.responseText) })
      } catch (error) {
        reject(error)
      }
    }
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload failed: the sandbox cannot be reached.'))
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'))
    xhr.send(form)
  })
}

/**
 * Reads a text/event-stream with fetch. Calls `onEvent({ id, event, data })` per frame (data parsed
 * as JSON when it is JSON). Resolves when the server closes the stream; rejects on HTTP errors.
 * Abort with `signal`.
 */
export async function stream(token, path, onEvent, { signal } = {}) {
  const res = await fetch(path, { headers: { accept: 'text/event-stream', ...authHeaders(token) }, signal, cache: 'no-store' })
  if (!res.ok || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) envelope(res.status, await res.text())
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    const frames = buffer.split(/\r?\n\r?\n/)
    buffer = frames.pop() ?? ''
    for (const frame of frames) {
      const msg = { id: undefined, event: 'message', data: '' }
      const data = []
      for (const line of frame.split(/\r?\n/)) {
        if (!line || line.startsWith(':')) continue
        const at = line.indexOf(':')
        const field = at < 0 ? line : line.slice(0, at)
        const val = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '')
        if (field === 'data') data.push(val)
        else if (field === 'event') msg.event = val
        else if (field === 'id') msg.id = val
      }
      if (data.length === 0) continue
      msg.data = data.join('\n')
      try {
        msg.data = JSON.parse(msg.data)
      } catch {
        // keep the text
      }
      onEvent(msg)
    }
  }
}

export const enc = encodeURIComponent
