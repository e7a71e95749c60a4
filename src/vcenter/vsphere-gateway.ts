/**
 * The VcenterGateway on vSphere's vim25 API: its parts by area (inventory, VMs, snapshots, attributes)
 * composed over one session per process (connection.ts), one task watcher and shared caches.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { VcenterConfig } from '../config/config.js'
import type { AttributeValue } from '../domain/attributes.js'
import type { ObservedVm } from '../domain/drift.js'
import type { DiskChain } from '../domain/linked.js'
import type { GuestCustomization } from '../domain/guest.js'
import type { ParentFacts } from '../domain/plan.js'
import { CustomFieldKeys, VsphereAttributes } from './attributes.js'
import { VsphereConnection, type VcenterObserver } from './connection.js'
import type {
  CloneRequest,
  DestroyOutcome,
  ParentVm,
  PlanInventory,
  TaskOutcome,
  VcenterGateway,
  VmState,
  VmStorage,
} from './gateway.js'
import { VsphereInventory } from './inventory.js'
import { ParentFolders } from './parent-folders.js'
import { VsphereSnapshots } from './snapshots.js'
import { VmNameView } from './vm-names.js'
import { VsphereVms } from './vms.js'

type OnTask = (taskMoref: string) => Promise<void>

export class VsphereGateway implements VcenterGateway {
  private readonly connection: VsphereConnection
  private readonly inventory: VsphereInventory
  private readonly vms: VsphereVms
  private readonly snapshots: VsphereSnapshots
  private readonly attributes: VsphereAttributes

  constructor(config: VcenterConfig, log: FastifyBaseLogger, observer?: VcenterObserver) {
    this.connection = new VsphereConnection(config, log, observer)
    const fields = new CustomFieldKeys()
    const vmNames = new VmNameView()
    const parentFolders = new ParentFolders(config.parentFolders)
    this.inventory = new VsphereInventory(this.connection, fields, vmNames, parentFolders)
    this.vms = new VsphereVms(this.connection, fields)
    this.snapshots = new VsphereSnapshots(this.connection, vmNames, parentFolders)
    this.attributes = new VsphereAttributes(this.connection, fields)
  }

  // ---- the session ----------------------------------------------------------------------------

  followTask(taskMoref: string): Promise<TaskOutcome> {
    return this.connection.followTask(taskMoref)
  }

  waitUntilReachable(signal?: AbortSignal): Promise<void> {
    return this.connection.waitUntilReachable(signal)
  }

  ping(): Promise<boolean> {
    return this.connection.ping()
  }

  close(): Promise<void> {
    return this.connection.close()
  }

  /** SOAP calls this process has sent (for benchmarks and logs). */
  callCount(): Promise<number> {
    return this.connection.callCount()
  }

  // ---- inventory ------------------------------------------------------------------------------

  readPlanInventory(parentName: string, customizationAttribute: string, names: string[], namePrefix?: string): Promise<PlanInventory> {
    return this.inventory.readPlanInventory(parentName, customizationAttribute, names, namePrefix)
  }

  readHosts(vmMorefs: string[]): Promise<Map<string, string>> {
    return this.inventory.readHosts(vmMorefs)
  }

  listParents(customizationAttribute: string): Promise<{ parent: ParentFacts; customizationSpecExists: boolean }[]> {
    return this.inventory.listParents(customizationAttribute)
  }

  readVmStates(vmMorefs: string[]): Promise<Map<string, ObservedVm>> {
    return this.inventory.readVmStates(vmMorefs)
  }

  // ---- VMs ------------------------------------------------------------------------------------

  cloneFromSnapshot(request: CloneRequest, onTask: OnTask): Promise<string> {
    return this.vms.cloneFromSnapshot(request, onTask)
  }

  customize(vmMoref: string, specName: string, onTask: OnTask): Promise<void> {
    return this.vms.customize(vmMoref, specName, onTask)
  }

  powerOn(vmMoref: string, onTask: OnTask): Promise<void> {
    return this.vms.powerOn(vmMoref, onTask)
  }

  powerOff(vmMoref: string, onTask: OnTask): Promise<void> {
    return this.vms.powerOff(vmMoref, onTask)
  }

  rename(vmMoref: string, newName: string, onTask: OnTask): Promise<void> {
    return this.vms.rename(vmMoref, newName, onTask)
  }

  findByInstanceUuid(instanceUuid: string): Promise<string | undefined> {
    return this.vms.findByInstanceUuid(instanceUuid)
  }

  readVmState(vmMoref: string): Promise<VmState | undefined> {
    return this.vms.readVmState(vmMoref)
  }

  readDiskChains(vmMoref: string, snapshotMoref: string): Promise<{ disks: DiskChain[]; snapshotFiles: string[] }> {
    return this.vms.readDiskChains(vmMoref, snapshotMoref)
  }

  waitForGuestCustomization(vmMoref: string, since: Date, timeoutMs: number, signal?: AbortSignal): Promise<GuestCustomization> {
    return this.vms.waitForGuestCustomization(vmMoref, since, timeoutMs, signal)
  }

  readGuestIdentity(vmMoref: string): Promise<{ hostName: string | null; ipAddresses: string[] }> {
    return this.vms.readGuestIdentity(vmMoref)
  }

  destroyOwnedVm(instanceUuid: string, expectedMoref: string | null, onTask: OnTask): Promise<DestroyOutcome> {
    return this.vms.destroyOwnedVm(instanceUuid, expectedMoref, onTask)
  }

  // ---- parents' snapshots ---------------------------------------------------------------------

  findVmsByName(name: string): Promise<ParentVm[]> {
    return this.snapshots.findVmsByName(name)
  }

  readParentVm(vmMoref: string): Promise<ParentVm | undefined> {
    return this.snapshots.readParentVm(vmMoref)
  }

  mayBeParent(vmMoref: string): Promise<boolean> {
    return this.snapshots.mayBeParent(vmMoref)
  }

  createSnapshot(vmMoref: string, name: string, description: string | undefined, onTask: OnTask): Promise<string> {
    return this.snapshots.createSnapshot(vmMoref, name, description, onTask)
  }

  removeSnapshot(snapshotMoref: string, onTask: OnTask): Promise<void> {
    return this.snapshots.removeSnapshot(snapshotMoref, onTask)
  }

  revertToSnapshot(snapshotMoref: string, onTask: OnTask): Promise<void> {
    return this.snapshots.revertToSnapshot(snapshotMoref, onTask)
  }

  // ---- attributes and space -------------------------------------------------------------------

  setAttributes(vmMoref: string, values: AttributeValue[], current?: Map<string, string>): Promise<void> {
    return this.attributes.setAttributes(vmMoref, values, current)
  }

  readAttributes(vmMorefs: string[]): Promise<Map<string, Map<string, string>>> {
    return this.attributes.readAttributes(vmMorefs)
  }

  readStorage(vmMorefs: string[]): Promise<VmStorage[]> {
    return this.attributes.readStorage(vmMorefs)
  }
}
