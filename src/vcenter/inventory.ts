/**
 * Bulk reads of the inventory: a plan's parent with its hosts, datastores and the names already
 * taken; the VMs that can be parents; and hosts, names and power states of many VMs.
 */
import { TEMPLATE_ATTRIBUTE } from '../domain/attributes.js'
import type { ObservedVm } from '../domain/drift.js'
import type { HostCandidate } from '../domain/placement.js'
import type { ParentFacts, SnapshotFacts } from '../domain/plan.js'
import {
  asArray,
  decodeSnapshotInfo,
  isFault,
  num,
  type MoRef,
  type ObjectProps,
  type PropertyFilterSpec,
  type VimClient,
  type VirtualMachineSnapshotTree,
} from '../vim25/index.js'
import { attributeMap, type CustomFieldKeys } from './attributes.js'
import { vm, type VsphereConnection } from './connection.js'
import type { InventoryGateway, PlanInventory, VmDatastoreSpace } from './gateway.js'
import type { ParentFolders } from './parent-folders.js'
import type { VmNameView } from './vm-names.js'

export class VsphereInventory implements InventoryGateway {
  /** Parents' morefs by name, from earlier plans (checked against the names read with them). */
  private readonly parentRefs = new Map<string, MoRef>()

  constructor(
    private readonly connection: VsphereConnection,
    private readonly fields: CustomFieldKeys,
    private readonly vmNames: VmNameView,
    private readonly parentFolders: ParentFolders,
  ) {}

  /**
   * Two calls at once when the parent was planned before in this session: every VM's name (through
   * the session's ContainerView), and the parent's facts, its cluster's hosts and its datastores, by
   * traversal from the parent. They are two calls, not two filter specs of one: a property collector
   * may apply every spec's property list to every object the call reaches (vcsim does), which made
   * each VM of the inventory cost the parent's eleven properties instead of its name. The parent's
   * moref is remembered by name, and the names read at the same time confirm it is still the VM of
   * that name; otherwise (first plan, a renamed or vanished VM) a third call reads the facts of the
   * VM that now has the name. Then one call for the customization spec, whose name is one of the
   * parent's attributes.
   */
  async readPlanInventory(parentName: string, customizationAttribute: string, names: string[], namePrefix?: string): Promise<PlanInventory> {
    return this.connection.use(async (client) => {
      const remembered = this.parentRefs.get(parentName)
      const [vms, rememberedFacts] = await Promise.all([
        this.vmNames.readVmNames(client),
        remembered
          ? client.property.retrieve([parentFactsSpec(remembered)]).catch((err: unknown) => {
              if (isFault(err, 'ManagedObjectNotFound')) return undefined
              throw err
            })
          : undefined,
      ])
      const wanted = new Set(names)
      const isWanted = (n: string) => wanted.has(n) || (namePrefix !== undefined && n.startsWith(namePrefix))
      const existingNames = [...new Set(vms.map((o) => String(o.props.name)).filter(isWanted))]
      // Outside PARENT_FOLDERS a VM is no parent: as if it did not exist.
      const allowed = await this.parentFolders.allowed(client, vms.filter((o) => o.props.name === parentName).map((o) => o.obj))
      const named = vms.filter((o) => o.props.name === parentName && allowed.has(o.obj.value)).map((o) => o.obj)
      const parentRef = named[0]
      if (!parentRef || named.length > 1) {
        this.parentRefs.delete(parentName)
        return { existingNames, hosts: [], ...(named.length > 1 ? { ambiguousParent: named.map((r) => r.value) } : {}) }
      }
      let objects = rememberedFacts
      if (!objects || remembered?.value !== parentRef.value) {
        objects = await client.property.retrieve([parentFactsSpec(parentRef)])
        this.parentRefs.set(parentName, parentRef)
      }
      const facts = mergeProps(objects.filter((o) => o.obj.type === 'VirtualMachine' && o.obj.value === parentRef.value))
      const fieldKeys = await this.fields.readFieldKeys(client)
      const keys = await this.fields.fieldKeysCovering(client, facts.customValue, fieldKeys)
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

  async readHosts(vmMorefs: string[]): Promise<Map<string, string>> {
    if (vmMorefs.length === 0) return new Map()
    return this.connection.use(async (client) => {
      const found = await client.property.retrieveMany(vmMorefs.map(vm), ['runtime.host'])
      return new Map(
        found.flatMap((o) => {
          const host = (o.props['runtime.host'] as MoRef | undefined)?.value
          return host ? [[o.obj.value, host] as const] : []
        }),
      )
    })
  }

  async listParents(customizationAttribute: string): Promise<{ parent: ParentFacts; customizationSpecExists: boolean }[]> {
    return this.connection.use(async (client) => {
      // Every VM's name and attributes through one container view; the rest for the candidates only.
      const specManager = client.serviceContent.customizationSpecManager
      // With PARENT_FOLDERS, only the VMs under them (a container view rooted at each, resolved afresh).
      const roots = this.parentFolders.restricted ? await this.parentFolders.folders(client, true) : [client.serviceContent.rootFolder]
      const [listed, specInfo, cachedKeys] = await Promise.all([
        Promise.all(roots.map((root) => client.property.listByType(root, 'VirtualMachine', ['name', 'customValue']))),
        specManager ? client.property.retrieveOne(specManager, ['info']) : Promise.resolve({} as Record<string, unknown>),
        this.fields.readFieldKeys(client),
      ])
      const all = [...new Map(listed.flat().map((o) => [o.obj.value, o])).values()]
      const keys = await this.fields.fieldKeysCovering(client, all.flatMap((o) => asArray(o.props.customValue as unknown[])), cachedKeys)
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

  async readVmStates(vmMorefs: string[]): Promise<Map<string, ObservedVm>> {
    if (vmMorefs.length === 0) return new Map()
    return this.connection.use(async (client) => {
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
