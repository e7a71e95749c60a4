/**
 * Whether a VM can serve as a parent now: the checks deployLinkedClones makes of a parent
 * (domain/plan.ts's checkParent), each reported with the code and message the deployment would be
 * refused with. Pure.
 */
import { checkParent, type ParentFacts, type Warning } from '../../domain/plan.js'

export interface Readiness {
  customizationSpec?: string
  /** True when a deployment of this parent would pass the parent's checks. */
  ready: boolean
  /** Why it is not ready: SNAPSHOT_MISSING, CUSTOMIZATION_SPEC_NOT_FOUND. */
  problems: Warning[]
  /** What a deployment would warn about: PARENT_HAS_NONPERSISTENT_DISK. */
  warnings: Warning[]
}

export function parentReadiness(parent: ParentFacts, customizationAttribute: string, customizationSpecExists: boolean | undefined): Readiness {
  const { customizationSpec, problems, warnings } = checkParent(parent, customizationAttribute, customizationSpecExists)
  return { customizationSpec, ready: problems.length === 0, problems: problems.map(({ code, message }) => ({ code, message })), warnings }
}
