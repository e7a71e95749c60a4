/**
 * Parents and their snapshot trees: finding a parent by name or moref with its snapshots, and taking,
 * removing and reverting to a snapshot.
 */
import { flattenSnapshots, type SnapshotTreeInput } from '../domain/snapshots.js'
import { decodeSnapshotInfo, type MoRef, type VirtualMachineSnapshotTree } from '../vim25/index.js'
import { vm, type VsphereConnection } from './connection.js'
import { TaskFailed, type ParentVm, type SnapshotGateway } from './gateway.js'
import type { ParentFolders } from './parent-folders.js'
import type { VmNameView } from './vm-names.js'

export class VsphereSnapshots implements SnapshotGateway {
  constructor(
    private readonly connection: VsphereConnection,
    private readonly vmNames: VmNameView,
    private readonly parentFolders: ParentFolders,
  ) {}

  async findVmsByName(name: string): Promise<ParentVm[]> {
    return this.connection.use(async (client) => {
      const named = (await this.vmNames.readVmNames(client)).filter((o) => o.props.name === name).map((o) => o.obj)
      const allowed = await this.parentFolders.allowed(client, named)
      const refs = named.filter((r) => allowed.has(r.value))
      if (refs.length === 0) return []
      const found = await client.property.retrieveMany(refs, PARENT_VM_PATHS)
      return found.map((o) => toParentVm(o.obj, o.props))
    })
  }

  async readParentVm(vmMoref: string): Promise<ParentVm | undefined> {
    return this.connection.use(async (client) => {
      const [found] = await client.property.retrieveMany([vm(vmMoref)], PARENT_VM_PATHS)
      return found && found.props.name !== undefined ? toParentVm(found.obj, found.props) : undefined
    })
  }

  async mayBeParent(vmMoref: string): Promise<boolean> {
    if (!this.parentFolders.restricted) return true
    return this.connection.use(async (client) => (await this.parentFolders.allowed(client, [vm(vmMoref)])).has(vmMoref))
  }

  async createSnapshot(
    vmMoref: string,
    name: string,
    description: string | undefined,
    onTask: (taskMoref: string) => Promise<void>,
  ): Promise<string> {
    return this.connection.use(async (client) => {
      const task = await client.createSnapshot(vm(vmMoref), name, { description, memory: false, quiesce: false })
      await onTask(task.value)
      const info = await client.tasks.watch(task)
      const result = info.result as MoRef | undefined
      if (!result?.value) throw new TaskFailed('UnexpectedResult', `CreateSnapshot_Task ${task.value} succeeded without a snapshot`, task.value)
      return result.value
    })
  }

  async removeSnapshot(snapshotMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.connection.use(async (client) => {
      const task = await client.removeSnapshot({ type: 'VirtualMachineSnapshot', value: snapshotMoref })
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async revertToSnapshot(snapshotMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.connection.use(async (client) => {
      const task = await client.revertToSnapshot({ type: 'VirtualMachineSnapshot', value: snapshotMoref })
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }
}

const PARENT_VM_PATHS = ['name', 'runtime.powerState', 'config.instanceUuid', 'snapshot']

function toParentVm(ref: MoRef, props: Record<string, unknown>): ParentVm {
  const info = decodeSnapshotInfo(props.snapshot)
  const toInput = (tree: VirtualMachineSnapshotTree): SnapshotTreeInput => ({
    moref: tree.snapshot.value,
    name: tree.name,
    description: tree.description,
    createdAt: tree.createTime,
    children: tree.childSnapshotList.map(toInput),
  })
  return {
    moref: ref.value,
    name: String(props.name ?? ''),
    instanceUuid: props['config.instanceUuid'] as string | undefined,
    powerState: String(props['runtime.powerState'] ?? 'poweredOff'),
    currentSnapshot: info?.currentSnapshot?.value,
    snapshots: flattenSnapshots((info?.rootSnapshotList ?? []).map(toInput), info?.currentSnapshot?.value),
  }
}
