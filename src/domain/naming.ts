/**
 * Clone naming, as the seed's script does it: the prefix is the second word of the parent's name
 * ("Tmpl Capture 1.0" -> "Capture"), numbers have at least two digits ({0:0#}) from a start number.
 */

/** vCenter's limit on an inventory name. */
export const MAX_VM_NAME_LENGTH = 80

export function prefixFromParentName(parentName: string): string | undefined {
  const words = parentName.trim().split(/\s+/)
  return words.length >= 2 ? words[1] : undefined
}

export function cloneName(prefix: string, number: number): string {
  return prefix + String(number).padStart(2, '0')
}

/**
 * startNumber's default: the lowest number from which the `count` names prefix+number are all free of
 * `taken` (1 for a new prefix; 26 after Capture01..Capture25). Only the names this service would give
 * count: "Capture1" is not "Capture01".
 */
export function lowestFreeStart(prefix: string, count: number, taken: Iterable<string>, from = 1): number {
  const used = new Set<number>()
  for (const name of taken) {
    if (!name.startsWith(prefix)) continue
    const digits = name.slice(prefix.length)
    if (/^\d+$/.test(digits) && cloneName(prefix, Number(digits)) === name) used.add(Number(digits))
  }
  let start = from
  // Past the highest taken number every window is free: the loop ends after at most used.size + 1 steps.
  for (;;) {
    let blocked: number | undefined
    for (let n = start + count - 1; n >= start; n--) {
      if (used.has(n)) {
        blocked = n
        break
      }
    }
    if (blocked === undefined) return start
    start = blocked + 1
  }
}

export function plannedNames(prefix: string, startNumber: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => cloneName(prefix, startNumber + i))
}

/**
 * Why a name cannot be a VM name, or undefined when it can. Control characters are refused, and so
 * are `/`, `\` and `%`: vCenter stores those escaped (%2f, %5c, %25), so the VM would not carry
 * the name we recorded and later look-ups by name would miss it.
 */
export function invalidVmNameReason(name: string): string | undefined {
  if (name.length === 0) return 'is empty'
  if (name.trim() !== name) return 'starts or ends with white space'
  if (name.length > MAX_VM_NAME_LENGTH) return `is ${name.length} characters long; vCenter allows ${MAX_VM_NAME_LENGTH}`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'contains control characters'
  if (/[/\\%]/.test(name)) return 'contains "/", "\\" or "%", which vCenter escapes in names'
  return undefined
}
