/**
 * A clone's life in vCenter: linked clone from a snapshot, customization, power, rename, its state,
 * finding it by instance UUID (how an unknown outcome is settled) and destroying it when it is ours.
 */
import {
  isFault,
  type CustomizationSpec,
  type MoRef,
  type VimClient,
  type VirtualMachineCloneSpec,
} from '../vim25/index.js'
import { attributeMap, type CustomFieldKeys } from './attributes.js'
import { vm, type VsphereConnection } from './connection.js'
import { TaskFailed, type CloneRequest, type DestroyOutcome, type VmGateway, type VmState } from './gateway.js'
import type { DiskChain } from '../domain/linked.js'
import type { GuestCustomization } from '../domain/guest.js'

/** Customization specs change rarely; re-read them after this long. */
const SPEC_CACHE_MS = 60_000

export class VsphereVms implements VmGateway {
  private readonly specs = new Map<string, { at: number; spec: Promise<CustomizationSpec> }>()

  constructor(
    private readonly connection: VsphereConnection,
    private readonly fields: CustomFieldKeys,
  ) {}

  async cloneFromSnapshot(request: CloneRequest, onTask: (taskMoref: string) => Promise<void>): Promise<string> {
    // Keys in WSDL order: vCenter validates the element sequence.
    const spec: VirtualMachineCloneSpec = {
      location: {
        // This is what makes it a linked clone: a child delta disk on the parent's snapshot.
        diskMoveType: 'createNewChildDiskBacking',
        ...(request.resourcePoolMoref ? { pool: { type: 'ResourcePool', value: request.resourcePoolMoref } } : {}),
        ...(request.hostMoref ? { host: { type: 'HostSystem', value: request.hostMoref } } : {}),
      },
      template: false,
      // Our instance UUID: how an unknown outcome is settled later (SearchIndex.FindByUuid).
      config: { instanceUuid: request.instanceUuid },
      powerOn: false,
      snapshot: { type: 'VirtualMachineSnapshot', value: request.snapshotMoref },
    }
    return this.connection.use(async (client) => {
      const task = await client.cloneVM(vm(request.parentMoref), { type: 'Folder', value: request.folderMoref }, request.name, spec)
      await onTask(task.value)
      const info = await client.tasks.watch(task)
      const result = info.result as MoRef | undefined
      if (!result?.value) throw new TaskFailed('UnexpectedResult', `CloneVM_Task ${task.value} succeeded without a VM`, task.value)
      return result.value
    })
  }

  async customize(vmMoref: string, specName: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.connection.use(async (client) => {
      const spec = await this.customizationSpec(client, specName)
      const task = await client.customizeVM(vm(vmMoref), spec)
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async powerOn(vmMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.connection.use(async (client) => {
      const task = await client.powerOnVM(vm(vmMoref))
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async powerOff(vmMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.connection.use(async (client) => {
      const task = await client.powerOffVM(vm(vmMoref))
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async rename(vmMoref: string, newName: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.connection.use(async (client) => {
      const task = await client.rename(vm(vmMoref), newName)
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async findByInstanceUuid(instanceUuid: string): Promise<string | undefined> {
    return this.connection.use(async (client) => (await client.findVmByInstanceUuid(instanceUuid))?.value)
  }

  async readVmState(vmMoref: string): Promise<VmState | undefined> {
    return this.connection.use(async (client) => {
      let props: Record<string, unknown>
      try {
        props = await client.property.retrieveOne(vm(vmMoref), [
          'name',
          'runtime.powerState',
          'runtime.host',
          'config.tools.pendingCustomization',
          'customValue',
        ])
      } catch (err) {
        if (isFault(err, 'ManagedObjectNotFound')) return undefined
        throw err
      }
      if (props.name === undefined) return undefined
      const keys = await this.fields.fieldKeysCovering(client, props.customValue, await this.fields.readFieldKeys(client))
      return {
        moref: vmMoref,
        name: String(props.name),
        powerState: String(props['runtime.powerState']) as VmState['powerState'],
        pendingCustomization: Boolean(props['config.tools.pendingCustomization']),
        attributes: attributeMap(props.customValue, keys),
        host: (props['runtime.host'] as MoRef | undefined)?.value,
      }
    })
  }

  async readDiskChains(vmMoref: string, snapshotMoref: string): Promise<{ disks: DiskChain[]; snapshotFiles: string[] }> {
    return this.connection.use(async (client) => {
      // Two reads: the clone's disks, and the snapshot's (what a linked clone's chain must reach).
      const [clone, snapshot] = await Promise.all([
        client.property.retrieveOne(vm(vmMoref), ['config.hardware.device']),
        client.property.retrieveOne({ type: 'VirtualMachineSnapshot', value: snapshotMoref }, ['config.hardware.device']),
      ])
      // The snapshot's own files only, not their parents: a clone of an older snapshot reaches those too.
      const snapshotFiles = virtualDisks(snapshot['config.hardware.device']).flatMap((d) => backingChain(d.backing).slice(0, 1))
      return {
        disks: virtualDisks(clone['config.hardware.device']).map((d) => ({ label: diskLabel(d), files: backingChain(d.backing) })),
        snapshotFiles,
      }
    })
  }

  async waitForGuestCustomization(vmMoref: string, since: Date, timeoutMs: number, signal?: AbortSignal): Promise<GuestCustomization> {
    return this.connection.use(async (client) => {
      const waitStarted = Date.now()
      const o = await client.customizations.wait(vmMoref, since, timeoutMs, signal)
      // The guest's own time, from its events; a timeout (or a wait stopped early) has no end event.
      if (o.startedAt && o.endedAt) this.connection.guestCustomizationEnded(o.outcome, o.endedAt.getTime() - o.startedAt.getTime())
      else if (o.outcome === 'timeout' && !signal?.aborted) this.connection.guestCustomizationEnded('timeout', Date.now() - waitStarted)
      return {
        outcome: o.outcome,
        eventType: o.eventType ?? null,
        startedAt: o.startedAt?.toISOString() ?? null,
        endedAt: o.endedAt?.toISOString() ?? null,
        message: o.message ?? null,
      }
    })
  }

  async readGuestIdentity(vmMoref: string): Promise<{ hostName: string | null; ipAddresses: string[] }> {
    return this.connection.use(async (client) => {
      const props = await client.property.retrieveOne(vm(vmMoref), ['guest.hostName', 'guest.ipAddress', 'guest.net'])
      const ips = new Set<string>()
      if (typeof props['guest.ipAddress'] === 'string' && props['guest.ipAddress']) ips.add(props['guest.ipAddress'])
      const nics = props['guest.net']
      for (const nic of (Array.isArray(nics) ? nics : nics ? [nics] : []) as { ipAddress?: unknown }[]) {
        const list = Array.isArray(nic.ipAddress) ? nic.ipAddress : nic.ipAddress === undefined ? [] : [nic.ipAddress]
        for (const ip of list) if (typeof ip === 'string' && ip) ips.add(ip)
      }
      const hostName = props['guest.hostName']
      return { hostName: typeof hostName === 'string' && hostName ? hostName : null, ipAddresses: [...ips] }
    })
  }

  async destroyOwnedVm(
    instanceUuid: string,
    expectedMoref: string | null,
    onTask: (taskMoref: string) => Promise<void>,
  ): Promise<DestroyOutcome> {
    return this.connection.use(async (client) => {
      const found = await client.findVmByInstanceUuid(instanceUuid)
      if (!found) return 'absent'
      // Only the VM we made: the recorded instance UUID must lead to the recorded moref.
      if (!expectedMoref || found.value !== expectedMoref) return 'not-owned'
      const props = await client.property.retrieveOne(found, ['runtime.powerState'])
      if (props['runtime.powerState'] !== 'poweredOff') {
        const off = await client.powerOffVM(found)
        await onTask(off.value)
        await client.tasks.watch(off)
      }
      const task = await client.destroy(found)
      await onTask(task.value)
      await client.tasks.watch(task)
      return 'destroyed'
    })
  }

  private customizationSpec(client: VimClient, name: string): Promise<CustomizationSpec> {
    const cached = this.specs.get(name)
    if (cached && Date.now() - cached.at < SPEC_CACHE_MS) return cached.spec
    const spec = client.getCustomizationSpec(name).then((item) => item.spec)
    spec.catch(() => this.specs.delete(name))
    this.specs.set(name, { at: Date.now(), spec })
    return spec
  }
}

type DeviceProps = Record<string, unknown>

function virtualDisks(devices: unknown): DeviceProps[] {
  const list = Array.isArray(devices) ? devices : devices === undefined || devices === null ? [] : [devices]
  return (list as DeviceProps[]).filter((d) => d._type === 'VirtualDisk')
}

function diskLabel(disk: DeviceProps): string {
  const info = disk.deviceInfo as { label?: unknown } | undefined
  return typeof info?.label === 'string' ? info.label : `disk ${String(disk.key)}`
}

/** A disk backing's file, then its parents' files, nearest first (VirtualDiskFlatVer2BackingInfo.parent). */
function backingChain(backing: unknown): string[] {
  const files: string[] = []
  let current = backing as { fileName?: unknown; parent?: unknown } | undefined
  // A chain is a few files long; the bound guards against a malformed answer.
  for (let depth = 0; current && depth < 256; depth++) {
    if (typeof current.fileName === 'string') files.push(current.fileName)
    current = current.parent as typeof current
  }
  return files
}
