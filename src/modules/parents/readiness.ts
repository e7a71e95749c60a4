/**
 * Whether a VM can serve as a parent now: the checks deployLinkedClones makes of a parent, each one
 * reported with the code (and message) the deployment would be refused with. Pure.
 */
import { CustomizationSpecNotFound, SnapshotMissing } from '../../errors.js'
import type { ParentFacts, Warning } from '../../domain/plan.js'

export interface Readiness {
  customizationSpec?: string
  /** True when a deployment of this parent would pass the parent's checks. */
  ready: boolean
  /** Why it is not ready: SNAPSHOT_MISSING, CUSTOMIZATION_SPEC_NOT_FOUND. */
  problems: Warning[]
  /** What a deployment would warn about: PARENT_HAS_NONPERSISTENT_DISK. */
  warnings: Warning[]
}

const asProblem = (err: { code: string; message: string }): Warning => ({ code: err.code, message: err.message })

export function parentReadiness(
  parent: ParentFacts,
  customizationAttribute: string,
  customizationSpecExists: boolean | undefined,
): Readiness {
  const problems: Warning[] = []
  const warnings: Warning[] = []
  if (!parent.currentSnapshot) problems.push(asProblem(new SnapshotMissing({ parent: parent.name }, parent.name)))

  const customizationSpec = parent.attributes.get(customizationAttribute)?.trim() || undefined
  if (!customizationSpec) {
    problems.push(
      asProblem(
        new CustomizationSpecNotFound(
          undefined,
          `The parent "${parent.name}" has no value in its "${customizationAttribute}" attribute, so no customization spec can be chosen`,
        ),
      ),
    )
  } else if (!customizationSpecExists) {
    problems.push(
      asProblem(
        new CustomizationSpecNotFound(
          undefined,
          `The customization spec "${customizationSpec}" named in the parent's "${customizationAttribute}" attribute does not exist in vCenter`,
        ),
      ),
    )
  }

  if (parent.hasNonPersistentDisk) {
    warnings.push({
      code: 'PARENT_HAS_NONPERSISTENT_DISK',
      message: `The parent "${parent.name}" has an independent-nonpersistent disk; its clones reset to the parent's disk state at each power-off`,
    })
  }
  return { customizationSpec, ready: problems.length === 0, problems, warnings }
}
