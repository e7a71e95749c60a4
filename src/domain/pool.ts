/**
 * A pool's numbers: which to add when it grows (the next free ones), which to remove when it shrinks
 * (the highest first), and whether two pools' name ranges meet. Pure.
 */

/** The largest pool. */
export const MAX_POOL_SIZE = 2000

/** The `count` lowest numbers at or above `start` that no live clone of the pool holds. */
export function nextFreeNumbers(taken: readonly number[], start: number, count: number): number[] {
  const used = new Set(taken)
  const out: number[] = []
  for (let n = start; out.length < count; n++) if (!used.has(n)) out.push(n)
  return out
}

/** Numbers as contiguous runs (each becomes one deployment: a start number and a count). */
export function contiguousRuns(numbers: readonly number[]): { startNumber: number; count: number }[] {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b)
  const runs: { startNumber: number; count: number }[] = []
  for (const n of sorted) {
    const last = runs.at(-1)
    if (last && last.startNumber + last.count === n) last.count += 1
    else runs.push({ startNumber: n, count: 1 })
  }
  return runs
}

/** The `count` highest numbers, highest first: what a scale down removes. */
export function numbersToRemove(live: readonly number[], count: number): number[] {
  if (count <= 0) return []
  return [...new Set(live)].sort((a, b) => b - a).slice(0, count)
}

export interface NumberRange {
  prefix: string
  first: number
  last: number
}

/** A pool's range: from its start number to the higher of its desired last number and its highest live clone. */
export function poolRange(prefix: string, startNumber: number, size: number, live: readonly number[] = []): NumberRange {
  return { prefix, first: Math.min(startNumber, ...live), last: Math.max(startNumber + size - 1, ...live) }
}

/** Two ranges meet when they share a prefix (VM names are case-insensitive) and a number. */
export function rangesOverlap(a: NumberRange, b: NumberRange): boolean {
  return a.prefix.toLowerCase() === b.prefix.toLowerCase() && a.first <= b.last && b.first <= a.last
}
