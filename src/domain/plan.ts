/**
 * The deployment plan: what the seed's script checks before cloning, as a pure function of the
 * request and the facts read from vCenter. Refusals are thrown as service errors, so that a refused
 * request never reaches the part that changes anything.
 */
import {
  CustomizationSpecNotFound,
  NameConflict,
  NoHostAvailable,
  SnapshotMissing,
  ValidationFailed,
  type ServiceError,
} from '../errors.js'
import {
  DEFAULT_COPIED_ATTRIBUTES,
  DEFAULT_CUSTOMIZATION_ATTRIBUTE,
  attributesForClone,
  type AttributeValue,
} from './attributes.js'
import { invalidVmNameReason, plannedNames, prefixFromParentName } from './naming.js'
import { DEFAULT_HOST_LIMIT, chooseHosts, placeClones, type HostCandidate } from './placement.js'

/** The most clones one deployment makes. */
export const MAX_CLONES_PER_DEPLOYMENT = 2000

export interface DeploymentRequest {
  parent: string
  /** The team that owns it, when the caller is in several (domain/teams.ts). */
  team?: string
  count: number
  /** Default: the lowest number from which every requested name is free (lowestFreeStart). */
  startNumber?: number
  prefix?: string
  attributes?: string[]
  customizationAttribute?: string
  ticket?: string
  /** At most this many hosts for the parent's clones (default 8; 32 for VMFS5/NFS). */
  hostLimit?: number
  /** This deployment's operations at once, under the service-wide limits. */
  maxConcurrent?: number
  /** Clone from this snapshot of the parent (a pool's recorded one) instead of its current snapshot. */
  snapshotMoref?: string
  /** Clone from the parent's snapshot of this name (a recompose's request). */
  snapshotName?: string
  /** The snapshot asked for: a moref or a name of the parent's snapshots (default: its current one). */
  snapshot?: string
  /** Minutes each clone waits for its guest's customization (default CUSTOMIZATION_TIMEOUT_MINUTES). */
  customizationTimeoutMinutes?: number
}

export interface SnapshotFacts {
  moref: string
  name: string
  createdAt?: string
}

/** What the plan needs to know about the parent, read from vCenter in bulk. */
export interface ParentFacts {
  name: string
  moref: string
  instanceUuid?: string
  folder: string
  resourcePool?: string
  host?: string
  /** The datastore holding the parent's base disk: where its linked clones' deltas go. */
  datastore?: string
  currentSnapshot?: SnapshotFacts
  /** Every snapshot in the parent's tree (the current one included), depth first; absent when not read. */
  snapshots?: SnapshotFacts[]
  attributes: ReadonlyMap<string, string>
  hasNonPersistentDisk: boolean
}

export interface Warning {
  code: string
  message: string
}

export interface DeploymentPlan {
  parent: ParentFacts
  snapshot: SnapshotFacts
  prefix: string
  startNumber: number
  /** True when the request gave no startNumber and the plan chose the lowest free one. */
  startNumberChosen?: boolean
  count: number
  names: string[]
  customizationAttribute: string
  customizationSpec: string
  copiedAttributes: string[]
  /** Values each clone receives, Template included. */
  attributeValues: AttributeValue[]
  warnings: Warning[]
  hostLimit: number
  maxConcurrent?: number
  customizationTimeoutMinutes?: number
  /** The hosts chosen for this parent's clones, and each planned clone's host (same order as names). */
  hosts: HostCandidate[]
  placement: string[]
  /** What each clone counts against its team's provisioned-GB quota (domain/quota.ts), when known. */
  provisionedGBPerClone?: number
}

export interface NormalizedRequest extends DeploymentRequest {
  startNumber: number
  prefix: string
  names: string[]
  attributes: string[]
  customizationAttribute: string
  hostLimit: number
}

/**
 * Checks that need no vCenter: the prefix and every name it produces. Runs before any call to
 * vCenter, so malformed requests cost nothing there.
 */
export function normalizeRequest(request: DeploymentRequest & { startNumber: number }): NormalizedRequest {
  const prefix = request.prefix ?? prefixFromParentName(request.parent)
  if (prefix === undefined) {
    throw new ValidationFailed(
      { field: 'prefix' },
      `the parent name "${request.parent}" has no second word to name clones after; give a "prefix"`,
    )
  }
  const names = plannedNames(prefix, request.startNumber, request.count)
  for (const name of [names[0], names[names.length - 1]]) {
    const reason = name === undefined ? undefined : invalidVmNameReason(name)
    if (reason) throw new ValidationFailed({ field: 'prefix', name }, `the clone name "${name}" ${reason}`)
  }
  const attributes = [...new Set(request.attributes ?? DEFAULT_COPIED_ATTRIBUTES)]
  return {
    ...request,
    prefix,
    names,
    attributes,
    customizationAttribute: request.customizationAttribute ?? DEFAULT_CUSTOMIZATION_ATTRIBUTE,
    hostLimit: request.hostLimit ?? DEFAULT_HOST_LIMIT,
  }
}

export interface PlanFacts {
  parent: ParentFacts
  /** Whether the customization spec named by the parent's attribute exists (undefined: no name to look up). */
  customizationSpecExists: boolean | undefined
  /** Planned names that already exist, in vCenter or among the service's own pending clones. */
  takenNames: readonly string[]
  /** The hosts of the parent's cluster; empty when unknown (the parent's own host is then used). */
  hosts?: readonly HostCandidate[]
  /** Live clones of this parent per host, from earlier deployments. */
  parentClonesByHost?: ReadonlyMap<string, number>
}

export function buildPlan(request: NormalizedRequest, facts: PlanFacts): DeploymentPlan {
  const { parent } = facts
  const { customizationSpec, problems, warnings } = checkParent(parent, request.customizationAttribute, facts.customizationSpecExists)
  const snapshot = parent.currentSnapshot
  if (problems[0]) throw problems[0]
  // Unreachable (checkParent reports both), but it tells the type checker they are set.
  if (!snapshot || !customizationSpec) throw new SnapshotMissing({ parent: parent.name }, parent.name)

  const taken = new Set(facts.takenNames)
  const conflicts = request.names.filter((name) => taken.has(name))
  if (conflicts.length > 0) throw new NameConflict({ names: conflicts }, conflicts.join(', '))

  const byHost = facts.parentClonesByHost ?? new Map<string, number>()
  const candidates = facts.hosts?.length
    ? facts.hosts
    : parent.host
      ? [{ moref: parent.host, name: parent.host, usable: true }]
      : []
  const hosts = chooseHosts(candidates, request.hostLimit, byHost)
  if (hosts.length === 0) {
    throw new NoHostAvailable({ parent: parent.name }, parent.name)
  }

  return {
    parent,
    snapshot,
    prefix: request.prefix,
    startNumber: request.startNumber,
    count: request.count,
    names: request.names,
    customizationAttribute: request.customizationAttribute,
    customizationSpec,
    copiedAttributes: request.attributes,
    attributeValues: attributesForClone(request.attributes, parent.attributes, parent.name),
    warnings,
    hostLimit: request.hostLimit,
    maxConcurrent: request.maxConcurrent,
    customizationTimeoutMinutes: request.customizationTimeoutMinutes,
    hosts,
    placement: placeClones(request.names.length, hosts, byHost),
  }
}

/** What the checks of a parent found: the refusals a deployment would meet, in order, and its warnings. */
export interface ParentCheck {
  /** The spec named by the parent's customization attribute, if it names one. */
  customizationSpec?: string
  problems: ServiceError[]
  warnings: Warning[]
}

/**
 * The checks a deployment makes of its parent (a current snapshot; a customization spec named by the
 * attribute, and existing), each as the error the deployment would be refused with. A plan throws the
 * first; a parent's readiness lists them all.
 */
export function checkParent(parent: ParentFacts, customizationAttribute: string, customizationSpecExists: boolean | undefined): ParentCheck {
  const problems: ServiceError[] = []
  if (!parent.currentSnapshot) problems.push(new SnapshotMissing({ parent: parent.name }, parent.name))
  const customizationSpec = parent.attributes.get(customizationAttribute)?.trim() || undefined
  if (!customizationSpec) {
    problems.push(
      new CustomizationSpecNotFound(
        { parent: parent.name, attribute: customizationAttribute },
        `The parent "${parent.name}" has no value in its "${customizationAttribute}" attribute, so no customization spec can be chosen`,
      ),
    )
  } else if (!customizationSpecExists) {
    problems.push(
      new CustomizationSpecNotFound(
        { parent: parent.name, attribute: customizationAttribute, spec: customizationSpec },
        `The customization spec "${customizationSpec}" named in the parent's "${customizationAttribute}" attribute does not exist in vCenter`,
      ),
    )
  }
  const warnings: Warning[] = []
  if (parent.hasNonPersistentDisk) {
    warnings.push({
      code: 'PARENT_HAS_NONPERSISTENT_DISK',
      message: `The parent "${parent.name}" has an independent-nonpersistent disk; its clones reset to the parent's disk state at each power-off`,
    })
  }
  return { customizationSpec, problems, warnings }
}
