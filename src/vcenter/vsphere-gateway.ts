/**
 * The VcenterGateway on vSphere's vim25 API (src/vim25): one logged-in session per process, shared
 * by the API's checks and the workers, with bulk reads (ContainerView + RetrievePropertiesEx) and one
 * task watcher for every task in flight. vim25 errors are translated at this boundary: a fault is
 * TaskFailed (vCenter said no), a transport problem is VcenterUnreachable (try again later).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { VcenterConfig } from '../config/config.js'
import { TEMPLATE_ATTRIBUTE, type AttributeValue } from '../domain/attributes.js'
import type { ParentFacts, SnapshotFacts } from '../domain/plan.js'
import type { DestroyOutcome, ParentVm } from './gateway.js'
import type { ObservedVm } from '../domain/drift.js'
import { flattenSnapshots, type SnapshotTreeInput } from '../domain/snapshots.js'
import {
  TaskFailedError,
  TaskVanishedError,
  TaskWatchTimeoutError,
  TaskWatcherClosedError,
  VimClient,
  VimConnectionError,
  VimFault,
  VimHttpError,
  asArray,
  decodeCustomFieldValues,
  decodeSnapshotInfo,
  isFault,
  methods,
  num,
  type CustomizationSpec,
  type MoRef,
  type ObjectProps,
  type PropertyFilterSpec,
  type VirtualMachineCloneSpec,
  type VirtualMachineSnapshotTree,
} from '../vim25/index.js'
import {
  TaskFailed,
  VcenterUnreachable,
  type CloneRequest,
  type PlanInventory,
  type TaskOutcome,
  type VcenterGateway,
  type VmDatastoreSpace,
  type VmState,
  type VmStorage,
} from './gateway.js'
import type { HostCandidate } from '../domain/placement.js'

const vm = (value: string): MoRef => ({ type: 'VirtualMachine', value })
/** Customization specs change rarely; re-read them after this long. */
const SPEC_CACHE_MS = 60_000
const PING_TIMEOUT_MS = 5_000

export class VsphereGateway implements VcenterGateway {
  private client?: Promise<VimClient>
  /** Custom field name -> key, for this vCenter. */
  private fieldKeys?: Promise<Map<string, number>>
  private readonly specs = new Map<string, { at: number; spec: Promise<CustomizationSpec> }>()
  /** Parents' morefs by name, from earlier plans (checked against the names read with them). */
  private readonly parentRefs = new Map<string, MoRef>()
  /** A ContainerView of every VM, kept for the session (see readVmNames). */
  private vmView?: { ref: MoRef; generation: number; client: VimClient }

  constructor(
    private readonly config: VcenterConfig,
    private readonly log: FastifyBaseLogger,
  ) {}

  /**
   * One call when the parent was planned before in this session: every VM's name (through the
   * session's ContainerView) together with the parent's facts, its cluster's hosts and its
   * datastores, by traversal from the parent. The parent's moref is remembered by name, and the
   * names read in the same call confirm it is still the VM of that name; otherwise (first plan, a
   * renamed or vanished VM) a second call reads the facts of the VM that now has the name. Then one
   * call for the customization spec, whose name is one of the parent's attributes.
   */
  async readPlanInventory(parentName: string, customizationAttribute: string, names: string[]): Promise<PlanInventory> {
    return this.use(async (client) => {
      const remembered = this.parentRefs.get(parentName)
      let objects: ObjectProps[]
      try {
        objects = await this.readVmNames(client, remembered ? [parentFactsSpec(remembered)] : [])
      } catch (err) {
        if (!remembered || !isFault(err, 'ManagedObjectNotFound')) throw err
        this.parentRefs.delete(parentName)
        objects = await this.readVmNames(client, [])
      }
      const vms = objects.filter((o) => o.obj.type === 'VirtualMachine')
      const wanted = new Set(names)
      const existingNames = [...new Set(vms.map((o) => String(o.props.name)).filter((n) => wanted.has(n)))]
      const named = vms.filter((o) => o.props.name === parentName).map((o) => o.obj)
      const parentRef = named[0]
      if (!parentRef || named.length > 1) {
        this.parentRefs.delete(parentName)
        return { existingNames, hosts: [], ...(named.length > 1 ? { ambiguousParent: named.map((r) => r.value) } : {}) }
      }
      if (remembered?.value !== parentRef.value) {
        objects = await client.property.retrieve([parentFactsSpec(parentRef)])
        this.parentRefs.set(parentName, parentRef)
      }
      const facts = mergeProps(objects.filter((o) => o.obj.type === 'VirtualMachine' && o.obj.value === parentRef.value))
      const fieldKeys = await this.readFieldKeys(client)
      const keys = await this.fieldKeysCovering(client, facts.customValue, fieldKeys)
      const parent = toParentFacts(parentName, parentRef, facts, keys)
      const specName = parent.attributes.get(customizationAttribute)?.trim()
      let hosts = objects.filter((o) => o.obj.type === 'HostSystem').map(toHostCandidate)
      const [customizationSpecExists, hostsOfHost] = await Promise.all([
        specName ? client.customizationSpecExists(specName) : undefined,
        // A parent without a resource pool (none to traverse): its host's cluster instead.
        hosts.length === 0 && parent.host ? this.clusterHosts(client, parent.host) : undefined,
      ])
      hosts = hostsOfHost ?? hosts
      const space = datastoreSpaceOf(facts, objects.filter((o) => o.obj.type === 'Datastore'))
      return { parent, customizationSpecExists, existingNames, hosts, ...(space ? { space } : {}) }
    })
  }

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
    return this.use(async (client) => {
      const task = await client.cloneVM(vm(request.parentMoref), { type: 'Folder', value: request.folderMoref }, request.name, spec)
      await onTask(task.value)
      const info = await client.tasks.watch(task)
      const result = info.result as MoRef | undefined
      if (!result?.value) throw new TaskFailed('UnexpectedResult', `CloneVM_Task ${task.value} succeeded without a VM`, task.value)
      return result.value
    })
  }

  async customize(vmMoref: string, specName: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.use(async (client) => {
      const spec = await this.customizationSpec(client, specName)
      const task = await client.customizeVM(vm(vmMoref), spec)
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async powerOn(vmMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.use(async (client) => {
      const task = await client.powerOnVM(vm(vmMoref))
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async setAttributes(vmMoref: string, values: AttributeValue[], current?: Map<string, string>): Promise<void> {
    // A field the VM has no value for reads as empty, so an empty value needs no write.
    const changed = current ? values.filter((v) => (current.get(v.name) ?? '') !== v.value) : values
    if (changed.length === 0) return
    await this.use(async (client) => {
      const keys = await this.ensureFields(
        client,
        changed.map((v) => v.name),
      )
      // Independent writes to one VM: send them together rather than one round trip after another.
      await Promise.all(changed.map((v) => client.setField(vm(vmMoref), keys.get(v.name)!, v.value)))
    })
  }

  async findByInstanceUuid(instanceUuid: string): Promise<string | undefined> {
    return this.use(async (client) => (await client.findVmByInstanceUuid(instanceUuid))?.value)
  }

  async readVmState(vmMoref: string): Promise<VmState | undefined> {
    return this.use(async (client) => {
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
      const keys = await this.fieldKeysCovering(client, props.customValue, await this.readFieldKeys(client))
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

  async readHosts(vmMorefs: string[]): Promise<Map<string, string>> {
    if (vmMorefs.length === 0) return new Map()
    return this.use(async (client) => {
      const found = await client.property.retrieveMany(vmMorefs.map(vm), ['runtime.host'])
      return new Map(
        found.flatMap((o) => {
          const host = (o.props['runtime.host'] as MoRef | undefined)?.value
          return host ? [[o.obj.value, host] as const] : []
        }),
      )
    })
  }

  async followTask(taskMoref: string): Promise<TaskOutcome> {
    try {
      const info = await this.use((client) => client.tasks.watch({ type: 'Task', value: taskMoref }))
      return { state: 'success', result: (info.result as MoRef | undefined)?.value }
    } catch (err) {
      if (err instanceof TaskFailed) return { state: 'error', faultType: err.faultType, message: err.message }
      if (err instanceof VcenterUnreachable && err.cause instanceof TaskVanishedError) return { state: 'unknown' }
      throw err
    }
  }

  async waitUntilReachable(signal?: AbortSignal): Promise<void> {
    for (let delay = 1_000; !signal?.aborted; delay = Math.min(delay * 2, 15_000)) {
      if (await this.ping()) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay)
        signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
      })
    }
  }

  async ping(): Promise<boolean> {
    try {
      const client = await this.connection()
      await client.currentTime({ timeoutMs: PING_TIMEOUT_MS })
      return true
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    const client = this.client
    this.client = undefined
    if (client) await client.then((c) => c.close()).catch(() => {})
  }

  /** SOAP calls this process has sent (for benchmarks and logs). */
  async callCount(): Promise<number> {
    return this.client ? (await this.client).callCount : 0
  }

  // ---- plumbing ------------------------------------------------------------------------------

  /**
   * Every VM's name, through one ContainerView kept for the session: one call per plan instead of
   * creating and destroying a view each time. Views belong to the session; after a new login (or if
   * the view is gone) it is made again.
   */
  private async readVmNames(client: VimClient, alongWith: PropertyFilterSpec[]): Promise<ObjectProps[]> {
    const spec = (view: MoRef): PropertyFilterSpec[] => [
      {
        propSet: [{ type: 'VirtualMachine', pathSet: ['name'] }],
        objectSet: [
          { obj: view, skip: true, selectSet: [{ _type: 'TraversalSpec' as const, type: 'ContainerView', path: 'view', skip: false }] },
        ],
      },
      ...alongWith,
    ]
    const generation = client.session.generation
    if (this.vmView && this.vmView.generation === generation && this.vmView.client === client) {
      try {
        return await client.property.retrieve(spec(this.vmView.ref))
      } catch (err) {
        if (!isFault(err, 'ManagedObjectNotFound') || !(await this.viewIsGone(client))) throw err
      }
    }
    const ref = await methods.CreateContainerView(client.rt, {
      _this: client.serviceContent.viewManager,
      container: client.serviceContent.rootFolder,
      type: ['VirtualMachine'],
      recursive: true,
    })
    this.vmView = { ref, generation, client }
    return client.property.retrieve(spec(ref))
  }

  /** Whether the session's view is the object vCenter no longer knows (rather than another one). */
  private async viewIsGone(client: VimClient): Promise<boolean> {
    if (!this.vmView) return true
    try {
      await client.property.retrieveOne(this.vmView.ref, ['type'])
      return false
    } catch (err) {
      if (isFault(err, 'ManagedObjectNotFound')) return true
      throw err
    }
  }

  /** The hosts of the cluster (compute resource) a host belongs to, in one call by traversal. */
  private async clusterHosts(client: VimClient, hostMoref: string): Promise<HostCandidate[]> {
    const objects = await client.property.retrieve([
      {
        propSet: [{ type: 'HostSystem', pathSet: HOST_PATHS }],
        objectSet: [
          {
            obj: { type: 'HostSystem', value: hostMoref },
            skip: true,
            selectSet: [
              {
                _type: 'TraversalSpec',
                type: 'HostSystem',
                path: 'parent',
                skip: true,
                selectSet: [{ _type: 'TraversalSpec', type: 'ComputeResource', path: 'host', skip: false }],
              },
            ],
          },
        ],
      },
    ])
    return objects.filter((o) => o.obj.type === 'HostSystem').map(toHostCandidate)
  }

  /** One session per process, made on first use and made again after a failed connect. */
  private connection(): Promise<VimClient> {
    if (!this.client) {
      const { url, username, password, insecure } = this.config
      this.client = VimClient.connect({
        url,
        username,
        password,
        insecure,
        logger: this.log,
        // Long-poll again as soon as an answer arrives (as govmomi does): vCenter itself batches
        // changes, and a floor between calls would add its length to every task's latency.
        tasks: { minWaitIntervalMs: 0, batchDelayMs: 10 },
      })
      this.client.catch(() => {
        this.client = undefined
      })
    }
    return this.client
  }

  private async use<T>(work: (client: VimClient) => Promise<T>): Promise<T> {
    try {
      return await work(await this.connection())
    } catch (err) {
      throw translate(err)
    }
  }

  private customizationSpec(client: VimClient, name: string): Promise<CustomizationSpec> {
    const cached = this.specs.get(name)
    if (cached && Date.now() - cached.at < SPEC_CACHE_MS) return cached.spec
    const spec = client.getCustomizationSpec(name).then((item) => item.spec)
    spec.catch(() => this.specs.delete(name))
    this.specs.set(name, { at: Date.now(), spec })
    return spec
  }

  private readFieldKeys(client: VimClient, refresh = false): Promise<Map<string, number>> {
    if (!this.fieldKeys || refresh) {
      this.fieldKeys = client.customFieldDefs().then((defs) => new Map(defs.map((d) => [d.name, d.key])))
      this.fieldKeys.catch(() => {
        this.fieldKeys = undefined
      })
    }
    return this.fieldKeys
  }

  /** The field keys, re-read when these values use a key defined since they were cached. */
  private async fieldKeysCovering(client: VimClient, customValue: unknown, keys: Map<string, number>): Promise<Map<string, number>> {
    const known = new Set(keys.values())
    const unknown = decodeCustomFieldValues(customValue).some((v) => !known.has(v.key))
    return unknown ? this.readFieldKeys(client, true) : keys
  }

  /** Keys of these fields, creating the definitions vCenter lacks (as VM fields). */
  private async ensureFields(client: VimClient, names: string[]): Promise<Map<string, number>> {
    let keys = await this.readFieldKeys(client)
    if (names.every((n) => keys.has(n))) return keys
    keys = await this.readFieldKeys(client, true)
    for (const name of names.filter((n) => !keys.has(n))) {
      try {
        const def = await client.addCustomFieldDef(name, 'VirtualMachine')
        keys.set(def.name, def.key)
      } catch (err) {
        // Another worker or replica created it meanwhile.
        if (!isFault(err, 'DuplicateName')) throw err
        keys = await this.readFieldKeys(client, true)
      }
    }
    return keys
  }

  // ---- asset records and space ---------------------------------------------------------------

  async readAttributes(vmMorefs: string[]): Promise<Map<string, Map<string, string>>> {
    if (vmMorefs.length === 0) return new Map()
    return this.use(async (client) => {
      // One RetrievePropertiesEx (paged by the server) for every VM, however many.
      const [found, cached] = await Promise.all([
        client.property.retrieveMany(vmMorefs.map(vm), ['customValue']),
        this.readFieldKeys(client),
      ])
      const keys = await this.fieldKeysCovering(client, found.flatMap((o) => asArray(o.props.customValue as unknown[])), cached)
      return new Map(found.map((o) => [o.obj.value, attributeMap(o.props.customValue, keys)]))
    })
  }

  async readStorage(vmMorefs: string[]): Promise<VmStorage[]> {
    if (vmMorefs.length === 0) return []
    return this.use(async (client) => {
      const found = await client.property.retrieveMany(vmMorefs.map(vm), ['name', 'summary.storage', 'config.hardware.device'])
      return found.map((o) => {
        const storage = (o.props['summary.storage'] ?? {}) as Record<string, unknown>
        const devices = asArray(o.props['config.hardware.device'] as unknown[] | undefined) as Record<string, unknown>[]
        return {
          moref: o.obj.value,
          name: String(o.props.name ?? o.obj.value),
          committedBytes: num(storage.committed) ?? 0,
          uncommittedBytes: num(storage.uncommitted) ?? 0,
          unsharedBytes: num(storage.unshared) ?? 0,
          diskCapacityBytes: devices
            .filter((d) => d._type === 'VirtualDisk')
            .reduce((n, d) => n + (num(d.capacityInBytes) ?? (num(d.capacityInKB) ?? 0) * 1024), 0),
        }
      })
    })
  }

  async listParents(customizationAttribute: string): Promise<{ parent: ParentFacts; customizationSpecExists: boolean }[]> {
    return this.use(async (client) => {
      // Every VM's name and attributes through one container view; the rest for the candidates only.
      const specManager = client.serviceContent.customizationSpecManager
      const [all, specInfo, cachedKeys] = await Promise.all([
        client.property.listByType(client.serviceContent.rootFolder, 'VirtualMachine', ['name', 'customValue']),
        specManager ? client.property.retrieveOne(specManager, ['info']) : Promise.resolve({} as Record<string, unknown>),
        this.readFieldKeys(client),
      ])
      const keys = await this.fieldKeysCovering(client, all.flatMap((o) => asArray(o.props.customValue as unknown[])), cachedKeys)
      const candidates = all.filter((o) => {
        const attributes = attributeMap(o.props.customValue, keys)
        return !!attributes.get(customizationAttribute)?.trim() && !attributes.get(TEMPLATE_ATTRIBUTE)
      })
      const details = await client.property.retrieveMany(
        candidates.map((o) => o.obj),
        ['name', 'snapshot', 'customValue', 'parent', 'resourcePool', 'runtime.host', 'config.hardware.device', 'config.instanceUuid'],
      )
      const specs = new Set(asArray(specInfo.info as unknown[]).map((info) => String((info as { name?: unknown }).name)))
      return details
        .map((o) => {
          const parent = toParentFacts(String(o.props.name), o.obj, o.props, keys)
          const spec = parent.attributes.get(customizationAttribute)?.trim()
          return { parent, customizationSpecExists: !!spec && specs.has(spec) }
        })
        .sort((a, b) => a.parent.name.localeCompare(b.parent.name))
    })
  }

  // ---- parents, snapshots and drift -------------------------------------------------------------

  async findVmsByName(name: string): Promise<ParentVm[]> {
    return this.use(async (client) => {
      const refs = (await this.readVmNames(client, [])).filter((o) => o.props.name === name).map((o) => o.obj)
      if (refs.length === 0) return []
      const found = await client.property.retrieveMany(refs, PARENT_VM_PATHS)
      return found.map((o) => toParentVm(o.obj, o.props))
    })
  }

  async readParentVm(vmMoref: string): Promise<ParentVm | undefined> {
    return this.use(async (client) => {
      const [found] = await client.property.retrieveMany([vm(vmMoref)], PARENT_VM_PATHS)
      return found && found.props.name !== undefined ? toParentVm(found.obj, found.props) : undefined
    })
  }

  async powerOff(vmMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.use(async (client) => {
      const task = await client.powerOffVM(vm(vmMoref))
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async createSnapshot(
    vmMoref: string,
    name: string,
    description: string | undefined,
    onTask: (taskMoref: string) => Promise<void>,
  ): Promise<string> {
    return this.use(async (client) => {
      const task = await client.createSnapshot(vm(vmMoref), name, { description, memory: false, quiesce: false })
      await onTask(task.value)
      const info = await client.tasks.watch(task)
      const result = info.result as MoRef | undefined
      if (!result?.value) throw new TaskFailed('UnexpectedResult', `CreateSnapshot_Task ${task.value} succeeded without a snapshot`, task.value)
      return result.value
    })
  }

  async removeSnapshot(snapshotMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.use(async (client) => {
      const task = await client.removeSnapshot({ type: 'VirtualMachineSnapshot', value: snapshotMoref })
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async revertToSnapshot(snapshotMoref: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.use(async (client) => {
      const task = await client.revertToSnapshot({ type: 'VirtualMachineSnapshot', value: snapshotMoref })
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async rename(vmMoref: string, newName: string, onTask: (taskMoref: string) => Promise<void>): Promise<void> {
    await this.use(async (client) => {
      const task = await client.rename(vm(vmMoref), newName)
      await onTask(task.value)
      await client.tasks.watch(task)
    })
  }

  async readVmStates(vmMorefs: string[]): Promise<Map<string, ObservedVm>> {
    if (vmMorefs.length === 0) return new Map()
    return this.use(async (client) => {
      // One RetrievePropertiesEx (paged by the server) for every VM, however many.
      const found = await client.property.retrieveMany(vmMorefs.map(vm), ['name', 'runtime.powerState', 'runtime.host'])
      return new Map(
        found
          .filter((o) => o.props.name !== undefined)
          .map((o) => [
            o.obj.value,
            {
              moref: o.obj.value,
              name: String(o.props.name),
              powerState: String(o.props['runtime.powerState'] ?? 'poweredOff'),
              host: (o.props['runtime.host'] as MoRef | undefined)?.value,
            },
          ]),
      )
    })
  }

  async destroyOwnedVm(
    instanceUuid: string,
    expectedMoref: string | null,
    onTask: (taskMoref: string) => Promise<void>,
  ): Promise<DestroyOutcome> {
    return this.use(async (client) => {
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
}

const HOST_PATHS = ['name', 'runtime.connectionState', 'runtime.inMaintenanceMode']

/** What a plan reads of a parent VM, with its datastores' space and its cluster's hosts. */
function parentFactsSpec(parent: MoRef): PropertyFilterSpec {
  return {
    propSet: [
      {
        type: 'VirtualMachine',
        pathSet: [
          'name',
          'snapshot',
          'customValue',
          'parent',
          'resourcePool',
          'runtime.host',
          'config.hardware.device',
          'config.instanceUuid',
          'config.files.vmPathName',
          'config.hardware.memoryMB',
          'datastore',
        ],
      },
      { type: 'HostSystem', pathSet: HOST_PATHS },
      { type: 'Datastore', pathSet: ['name', 'summary.capacity', 'summary.freeSpace'] },
    ],
    objectSet: [
      {
        obj: parent,
        skip: false,
        selectSet: [
          // VM -> its resource pool -> the pool's cluster (or standalone host) -> every host in it.
          {
            _type: 'TraversalSpec',
            type: 'VirtualMachine',
            path: 'resourcePool',
            skip: true,
            selectSet: [
              {
                _type: 'TraversalSpec',
                type: 'ResourcePool',
                path: 'owner',
                skip: true,
                selectSet: [{ _type: 'TraversalSpec', type: 'ComputeResource', path: 'host', skip: false }],
              },
            ],
          },
          { _type: 'TraversalSpec', type: 'VirtualMachine', path: 'datastore', skip: false },
        ],
      },
    ],
  }
}

/** One object's properties, from several results for it (one call may return it once per filter spec). */
function mergeProps(results: ObjectProps[]): Record<string, unknown> {
  return Object.assign({}, ...results.map((o) => o.props)) as Record<string, unknown>
}

function toHostCandidate(o: ObjectProps): HostCandidate {
  return {
    moref: o.obj.value,
    name: String(o.props.name ?? o.obj.value),
    usable: o.props['runtime.connectionState'] === 'connected' && o.props['runtime.inMaintenanceMode'] !== 'true',
  }
}

/** The space of the datastore a VM's files live on (its home: "[LocalDS_0] Capture01/Capture01.vmx"). */
function datastoreSpaceOf(vmProps: Record<string, unknown>, datastores: ObjectProps[]): VmDatastoreSpace | undefined {
  const home = /^\[([^\]]+)\]/.exec(String(vmProps['config.files.vmPathName'] ?? ''))?.[1]
  const chosen = datastores.find((d) => d.props.name === home) ?? datastores[0]
  if (!chosen) return undefined
  return {
    datastore: {
      moref: chosen.obj.value,
      name: String(chosen.props.name ?? chosen.obj.value),
      capacityBytes: num(chosen.props['summary.capacity']) ?? 0,
      freeSpaceBytes: num(chosen.props['summary.freeSpace']) ?? 0,
    },
    memoryMB: num(vmProps['config.hardware.memoryMB']) ?? 0,
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

function translate(err: unknown): unknown {
  if (err instanceof TaskFailed || err instanceof VcenterUnreachable) return err
  if (err instanceof TaskFailedError) return new TaskFailed(err.faultType, err.localizedMessage || err.message, err.task.value)
  if (err instanceof VimConnectionError || err instanceof TaskWatchTimeoutError || err instanceof TaskWatcherClosedError) {
    return new VcenterUnreachable(err.message, { cause: err })
  }
  // The task's outcome is unknown (vCenter restarted): the retry settles it by instance UUID.
  if (err instanceof TaskVanishedError) return new VcenterUnreachable(err.message, { cause: err })
  if (err instanceof VimHttpError) {
    return err.status >= 500 || err.status === 429 ? new VcenterUnreachable(err.message, { cause: err }) : new TaskFailed('HttpError', err.message)
  }
  if (err instanceof VimFault) {
    // Still not authenticated after the session layer's fresh login: a passing state of vCenter's
    // session service, not a refusal of the operation (which never ran).
    if (err.faultType === 'NotAuthenticated') return new VcenterUnreachable(`vCenter session: ${err.message}`, { cause: err })
    if (err.faultType === 'InvalidLogin') return new VcenterUnreachable('vCenter refused the login (InvalidLogin): check VCENTER_USERNAME and VCENTER_PASSWORD', { cause: err })
    return new TaskFailed(err.faultType, err.faultString || err.message)
  }
  return err
}

function toParentFacts(
  name: string,
  ref: MoRef,
  props: Record<string, unknown>,
  fieldKeys: Map<string, number>,
): ParentFacts {
  const snapshotInfo = decodeSnapshotInfo(props.snapshot)
  const devices = asArray(props['config.hardware.device'] as unknown[] | undefined) as Record<string, unknown>[]
  return {
    name,
    moref: ref.value,
    instanceUuid: props['config.instanceUuid'] as string | undefined,
    folder: (props.parent as MoRef | undefined)?.value ?? '',
    resourcePool: (props.resourcePool as MoRef | undefined)?.value,
    host: (props['runtime.host'] as MoRef | undefined)?.value,
    datastore: (asArray(props.datastore as MoRef[] | MoRef | undefined)[0] as MoRef | undefined)?.value,
    currentSnapshot: snapshotInfo?.currentSnapshot
      ? findSnapshot(snapshotInfo.rootSnapshotList, snapshotInfo.currentSnapshot.value)
      : undefined,
    snapshots: snapshotInfo ? snapshotList(snapshotInfo.rootSnapshotList) : [],
    attributes: attributeMap(props.customValue, fieldKeys),
    hasNonPersistentDisk: devices.some(
      (d) =>
        d._type === 'VirtualDisk' &&
        (d.backing as Record<string, unknown> | undefined)?.diskMode === 'independent_nonpersistent',
    ),
  }
}

function findSnapshot(trees: VirtualMachineSnapshotTree[], moref: string): SnapshotFacts | undefined {
  for (const tree of trees) {
    if (tree.snapshot.value === moref) {
      return { moref, name: tree.name, createdAt: tree.createTime?.toISOString() }
    }
    const found = findSnapshot(tree.childSnapshotList, moref)
    if (found) return found
  }
  return undefined
}

/** Every snapshot of the tree, depth first. */
function snapshotList(trees: VirtualMachineSnapshotTree[]): SnapshotFacts[] {
  return trees.flatMap((tree) => [
    { moref: tree.snapshot.value, name: tree.name, createdAt: tree.createTime?.toISOString() },
    ...snapshotList(tree.childSnapshotList),
  ])
}

/** customValue (keys) to a name -> value map; a key set twice keeps its last value. */
function attributeMap(customValue: unknown, fieldKeys: Map<string, number>): Map<string, string> {
  const names = new Map([...fieldKeys].map(([name, key]) => [key, name]))
  const values = new Map<string, string>()
  for (const { key, value } of decodeCustomFieldValues(customValue)) {
    const name = names.get(key)
    if (name !== undefined) values.set(name, value)
  }
  return values
}
