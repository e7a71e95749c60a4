/**
 * PostgreSQL's errors as the service tells them apart. drizzle wraps pg's error (DrizzleQueryError,
 * the original as `cause`), so the fields are looked for along the causes.
 */

/** The constraint of a unique violation (23505), if `err` is one. */
export function uniqueViolation(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, constraint } = e as { code?: string; constraint?: string }
    if (code === '23505') return constraint ?? ''
  }
  return undefined
}
