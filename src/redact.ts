/**
 * Secrets must never reach a log, a report or an error message. Anything that reads a secret
 * (an env var named by a `*Env` key, a store secret, a token) registers the value here, and every
 * writer of human or machine output passes its text through `redactText`.
 */
const secrets = new Set<string>()

/** Query strings of signed URLs are credentials too. */
const SIGNED_QUERY = /([?&](?:X-Amz-[A-Za-z-]+|Signature|OSSAccessKeyId|Expires|x-oss-[a-z-]+|sig|token|access_token|X-Goog-[A-Za-z-]+|GoogleAccessId|Policy|Key-Pair-Id|security-token|SecurityToken|AWSAccessKeyId)=)[^&\s"'<>]+/gi

export function registerSecret(value: string | undefined | null): void {
  // Very short values would mask ordinary words; they are not credentials anyway.
  if (value && value.length >= 6) secrets.add(value)
}

export function redactText(text: string): string {
  let out = text
  for (const secret of secrets) out = out.split(secret).join('***')
  return out.replace(SIGNED_QUERY, '$1***')
}

/** Deep-redacts a JSON-able value (for report.json, audit metadata, dist.log). */
export function redactValue<T>(value: T): T {
  return JSON.parse(redactText(JSON.stringify(value))) as T
}
