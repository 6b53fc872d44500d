/**
 * A small streaming multipart/form-data parser: file parts go straight to a sink while they arrive
 * (never buffered whole), text fields are kept up to a small limit. Only what the sandbox API needs.
 */
import type { IncomingMessage } from 'node:http'

export class MultipartError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message)
  }
}

export interface FileSink {
  write(chunk: Buffer): Promise<void>
}

export interface MultipartOptions {
  /** Called at the start of a file part; returns the sink, or undefined to refuse the field. */
  onFile(field: string, filename: string): FileSink | undefined
  maxFieldBytes?: number
  maxFields?: number
}

export function boundaryOf(contentType: string | undefined): string {
  const m = /^multipart\/form-data\s*;.*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '')
  if (!m) throw new MultipartError('invalid_arg', 'Expected a multipart/form-data body with a boundary.', 415)
  return (m[1] ?? m[2])!
}

export async function parseMultipart(req: AsyncIterable<Buffer> | IncomingMessage, boundary: string, options: MultipartOptions): Promise<Record<string, string>> {
  const maxField = options.maxFieldBytes ?? 1024 * 1024
  const maxFields = options.maxFields ?? 32
  const delimiter = Buffer.from(`\r\n--${boundary}`)
  const fields: Record<string, string> = {}
  let buf: Buffer = Buffer.from('\r\n')
  type State = 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'done'
  let state = 'preamble' as State
  let current: { field: string; sink?: FileSink; text?: Buffer[]; size: number } | undefined
  let count = 0

  const emitBody = async (data: Buffer) => {
    if (!current || data.length === 0) return
    current.size += data.length
    if (current.sink) await current.sink.write(data)
    else if (current.text) {
      if (current.size > maxField) throw new MultipartError('invalid_arg', `Form field "${current.field}" is larger than ${maxField} bytes.`, 413)
      current.text.push(data)
    }
  }

  const step = async (final: boolean): Promise<boolean> => {
    switch (state) {
      case 'preamble': {
        const i = buf.indexOf(delimiter)
        if (i < 0) {
          if (buf.length > 64 * 1024) throw new MultipartError('invalid_arg', 'Multipart body does not start with its boundary.')
          return false
        }
        buf = buf.subarray(i + delimiter.length)
        state = 'afterDelimiter'
        return true
      }
      case 'afterDelimiter': {
        if (buf.length < 2) return false
        if (buf[0] === 0x2d && buf[1] === 0x2d) {
          state = 'done'
          return false
        }
        const eol = buf.indexOf('\r\n')
        if (eol < 0) return false
        buf = buf.subarray(eol + 2)
        state = 'headers'
        return true
      }
      case 'headers': {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) {
          if (buf.length > 16 * 1024) throw new MultipartError('invalid_arg', 'Multipart part headers are too large.')
          return false
        }
        const headers = buf.subarray(0, end).toString('utf8')
        buf = buf.subarray(end + 4)
        const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? ''
        const name = /\bname="([^"]*)"/i.exec(disposition)?.[1]
        const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1]
        if (!name) throw new MultipartError('invalid_arg', 'A multipart part has no field name.')
        if (++count > maxFields) throw new MultipartError('invalid_arg', `More than ${maxFields} multipart fields.`)
        if (filename !== undefined) {
          const sink = options.onFile(name, filename)
          if (!sink) throw new MultipartError('invalid_arg', `Unexpected file field "${name}".`)
          current = { field: name, sink, size: 0 }
        } else current = { field: name, text: [], size: 0 }
        state = 'body'
        return true
      }
      case 'body': {
        const i = buf.indexOf(delimiter)
        if (i >= 0) {
          await emitBody(buf.subarray(0, i))
          if (current?.text) fields[current.field] = Buffer.concat(current.text).toString('utf8')
          current = undefined
          buf = buf.subarray(i + delimiter.length)
          state = 'afterDelimiter'
          return true
        }
        const keep = delimiter.length - 1
        if (buf.length > keep) {
          await emitBody(buf.subarray(0, buf.length - keep))
          buf = Buffer.from(buf.subarray(buf.length - keep))
        }
        if (final) throw new MultipartError('invalid_arg', 'The multipart body ended in the middle of a part (upload interrupted?).')
        return false
      }
      default:
        return false
    }
  }

  // Leave the stream open when we stop early (limit, bad form): the server still answers on it.
  const source = typeof (req as IncomingMessage).iterator === 'function' ? (req as IncomingMessage).iterator({ destroyOnReturn: false }) : (req as AsyncIterable<Buffer>)
  for await (const chunk of source as AsyncIterable<Buffer>) {
    if (state === 'done') continue
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    while (await step(false));
  }
  while (await step(true));
  if (state !== 'done') throw new MultipartError('invalid_arg', 'The multipart body ended before its closing boundary (upload interrupted?).')
  return fields
}
