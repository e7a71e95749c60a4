/**
 * What the service needs of vCenter, in its own words, by area (VcenterGateway is all of them), with
 * its types and errors. The implementation (vsphere-gateway.ts and its parts) speaks vim25.
 */
import type { AttributeValue } from '../domain/attributes.js'
import type { ParentFacts } from '../domain/plan.js'
import type { DatastoreSpace } from '../domain/space.js'
import type { HostCandidate } from '../domain/placement.js'
import type { ObservedVm } from '../domain/drift.js'
import type { SnapshotNode } from '../domain/snapshots.js'
import type { DiskChain } from '../domain/linked.js'
import type { GuestCustomization } from '../domain/guest.js'

/** A VM that may be a parent, with its snapshot tree (parent preparation, snapshot protection). */
export interface ParentVm {
  moref: string
  name: string
  instanceUuid?: string
  powerState: string
  currentSnapshot?: string
  snapshots: SnapshotNode[]
}

export interface PlanInventory {
  /** Undefined when no VM has the parent's name, or several have (see ambiguousParent). */
  parent?: ParentFacts
  /** The morefs of the VMs with the parent's name, when there are several. */
  ambiguousParent?: string[]
  /** Whether the named customization spec exists; undefined when there was no name to look up. */
  customizationSpecExists?: boolean
  /** Of the names asked about, those some VM in vCenter already has. */
  existingNames: string[]
  /** The hosts of the parent's cluster (or its standalone host), for placement. */
  hosts: HostCandidate[]
  /** The free space where the clones' files would go (the parent's home datastore), when known. */
  space?: VmDatastoreSpace
}

export interface CloneRequest {
  parentMoref: string
  snapshotMoref: string
  folderMoref: string
  resourcePoolMoref?: string | null
  hostMoref?: string | null
  name: string
  instanceUuid: string
}

export interface VmState {
  moref: string
  name: string
  powerState: 'poweredOn' | 'poweredOff' | 'suspended'
  /** Set while a customization is pending (applied at next power-on). */
  pendingCustomization: boolean
  attributes: Map<string, string>
  host?: string
}

/**
 * vCenter refused an operation (a task that ended in error, or a method fault): its vSphere fault type
 * and message, as vCenter gave them. Not worth retrying as is.
 */
export class TaskFailed extends Error {
  constructor(
    readonly faultType: string,
    message: string,
    readonly taskMoref?: string,
  ) {
    super(message)
    this.name = 'TaskFailed'
  }
}

/** vCenter could not be reached or answered with a server error: worth trying again later. */
export class VcenterUnreachable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VcenterUnreachable'
  }
}

/** What became of a task whose answer was lost. */
export type TaskOutcome =
  | { state: 'success'; result?: string }
  | { state: 'error'; faultType: string; message: string }
  /** vCenter no longer knows the task (restarted, or the task expired): settle by other means. */
  | { state: 'unknown' }

/** The session itself, and tasks of any kind recorded earlier (connection.ts). */
export interface ConnectionGateway {
  /** Waits for a task recorded earlier to end, and says how it ended. */
  followTask(taskMoref: string): Promise<TaskOutcome>
  /** True when vCenter answers a cheap call. */
  ping(): Promise<boolean>
  /** Resolves once vCenter answers again (checking with backoff), or when the signal aborts. */
  waitUntilReachable(signal?: AbortSignal): Promise<void>
  close(): Promise<void>
}

/** Bulk reads for plans, placement, parents and drift (inventory.ts). */
export interface InventoryGateway {
  /** Everything a deployment's plan needs, read in bulk with read-only calls. */
  /** `namePrefix`: every VM name starting with it is also listed in existingNames (to choose a startNumber). */
  readPlanInventory(parentName: string, customizationAttribute: string, names: string[], namePrefix?: string): Promise<PlanInventory>
  /** The host each VM runs on, as vCenter reports it, in one call; VMs that vanished are left out. */
  readHosts(vmMorefs: string[]): Promise<Map<string, string>>
  /**
   * The VMs that can serve as parents, read in bulk: those naming a customization spec in their
   * `customizationAttribute` that are not clones themselves (no `Template` attribute), by name, each
   * with whether its spec exists.
   */
  listParents(customizationAttribute: string): Promise<{ parent: ParentFacts; customizationSpecExists: boolean }[]>
  /** Name, power state and host of many VMs in one bulk read; VMs that vanished are left out. */
  readVmStates(vmMorefs: string[]): Promise<Map<string, ObservedVm>>
}

/** A clone's life: clone, customize, power, rename, destroy, and finding it again by UUID (vms.ts). */
export interface VmGateway {
  /** CloneVM_Task from the snapshot as a linked clone; `onTask` runs as soon as vCenter returns the task. */
  cloneFromSnapshot(request: CloneRequest, onTask: (taskMoref: string) => Promise<void>): Promise<string>
  customize(vmMoref: string, specName: string, onTask: (taskMoref: string) => Promise<void>): Promise<void>
  powerOn(vmMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void>
  powerOff(vmMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void>
  rename(vmMoref: string, newName: string, onTask: (taskMoref: string) => Promise<void>): Promise<void>
  findByInstanceUuid(instanceUuid: string): Promise<string | undefined>
  readVmState(vmMoref: string): Promise<VmState | undefined>
  /**
   * The clone's disks with their backing chains (file, then each `parent`'s file) and the files of the
   * snapshot's disks, read after CloneVM_Task to prove the clone is linked (domain/linked.ts).
   */
  readDiskChains(vmMoref: string, snapshotMoref: string): Promise<{ disks: DiskChain[]; snapshotFiles: string[] }>
  /**
   * Waits for the end of the VM's guest customization (its events from `since`, the power-on), through
   * the session's one event collector; no vCenter operation is in progress meanwhile.
   */
  waitForGuestCustomization(vmMoref: string, since: Date, timeoutMs: number, signal?: AbortSignal): Promise<GuestCustomization>
  /** The guest's host name and IP addresses as VMware Tools report them (guest.hostName, guest.ipAddress, guest.net). */
  readGuestIdentity(vmMoref: string): Promise<{ hostName: string | null; ipAddresses: string[] }>
  /**
   * Powers off and destroys the VM with this instance UUID, only when it is the VM we recorded
   * (`expectedMoref`): `absent` when no VM has the UUID, `not-owned` when another VM answers to it.
   */
  destroyOwnedVm(instanceUuid: string, expectedMoref: string | null, onTask: (taskMoref: string) => Promise<void>): Promise<DestroyOutcome>
}

/** Parents and their snapshot trees: list, take, remove, revert (snapshots.ts). */
export interface SnapshotGateway {
  /**
   * Every VM with this name (more than one: ambiguous), with its power state and snapshot tree; of
   * the VMs inside PARENT_FOLDERS only, when set (so does readPlanInventory and listParents).
   */
  findVmsByName(name: string): Promise<ParentVm[]>
  /** The same facts of one VM by moref; undefined when it no longer exists. */
  readParentVm(vmMoref: string): Promise<ParentVm | undefined>
  /** Whether the VM is inside PARENT_FOLDERS (always true when they are not set). */
  mayBeParent(vmMoref: string): Promise<boolean>
  /** CreateSnapshot_Task without memory or quiescing; the new snapshot's moref. */
  createSnapshot(vmMoref: string, name: string, description: string | undefined, onTask: (taskMoref: string) => Promise<void>): Promise<string>
  /** RemoveSnapshot_Task of this snapshot only (its children are kept). */
  removeSnapshot(snapshotMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void>
  revertToSnapshot(snapshotMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void>
}

/** Custom attributes and space figures of VMs (attributes.ts; used by src/modules/clones and reports). */
export interface AttributeGateway {
  /**
   * Sets the values (creating missing field definitions). With `current` (the VM's values now; a
   * field missing from it has none, which reads as empty), only values that differ are written.
   */
  setAttributes(vmMoref: string, values: AttributeValue[], current?: Map<string, string>): Promise<void>
  /** Custom attributes of many VMs (name -> value) in one bulk read; VMs that vanished are left out. */
  readAttributes(vmMorefs: string[]): Promise<Map<string, Map<string, string>>>
  /** summary.storage and disk capacities of many VMs in one bulk read; VMs that vanished are left out. */
  readStorage(vmMorefs: string[]): Promise<VmStorage[]>
}

/** Everything the service needs of vCenter; callers may depend on only the part they use. */
export interface VcenterGateway extends ConnectionGateway, InventoryGateway, VmGateway, SnapshotGateway, AttributeGateway {}

/** What destroying a clone found. */
export type DestroyOutcome = 'destroyed' | 'absent' | 'not-owned'

/** A VM's space as vCenter reports it (summary.storage), in bytes. */
export interface VmStorage {
  moref: string
  name: string
  /** Space its files take, including a linked clone's shared base disks. */
  committedBytes: number
  /** Space its thin disks may still grow by. */
  uncommittedBytes: number
  /** Space no other VM shares: a linked clone's own delta. */
  unsharedBytes: number
  /** Sum of its virtual disks' capacities. */
  diskCapacityBytes: number
}

export interface VmDatastoreSpace {
  datastore: DatastoreSpace
  /** The VM's memory: a powered-on copy of it needs a swap file this size. */
  memoryMB: number
}
