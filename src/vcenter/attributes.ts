/**
 * VMs' custom attributes (field definitions, SetField, bulk reads) and space figures (summary.storage),
 * and the cache of custom field keys that the other parts read attributes with.
 */
import type { AttributeValue } from '../domain/attributes.js'
import { asArray, decodeCustomFieldValues, isFault, num, type VimClient } from '../vim25/index.js'
import { vm, type VsphereConnection } from './connection.js'
import type { AttributeGateway, VmStorage } from './gateway.js'

/** Custom field name -> key, for this vCenter: read once, re-read when a value uses a newer key. */
export class CustomFieldKeys {
  private fieldKeys?: Promise<Map<string, number>>

  readFieldKeys(client: VimClient, refresh = false): Promise<Map<string, number>> {
    if (!this.fieldKeys || refresh) {
      this.fieldKeys = client.customFieldDefs().then((defs) => new Map(defs.map((d) => [d.name, d.key])))
      this.fieldKeys.catch(() => {
        this.fieldKeys = undefined
      })
    }
    return this.fieldKeys
  }

  /** The field keys, re-read when these values use a key defined since they were cached. */
  async fieldKeysCovering(client: VimClient, customValue: unknown, keys: Map<string, number>): Promise<Map<string, number>> {
    const known = new Set(keys.values())
    const unknown = decodeCustomFieldValues(customValue).some((v) => !known.has(v.key))
    return unknown ? this.readFieldKeys(client, true) : keys
  }

  /** Keys of these fields, creating the definitions vCenter lacks (as VM fields). */
  async ensureFields(client: VimClient, names: string[]): Promise<Map<string, number>> {
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
}

export class VsphereAttributes implements AttributeGateway {
  constructor(
    private readonly connection: VsphereConnection,
    private readonly fields: CustomFieldKeys,
  ) {}

  async setAttributes(vmMoref: string, values: AttributeValue[], current?: Map<string, string>): Promise<void> {
    // A field the VM has no value for reads as empty, so an empty value needs no write.
    const changed = current ? values.filter((v) => (current.get(v.name) ?? '') !== v.value) : values
    if (changed.length === 0) return
    await this.connection.use(async (client) => {
      const keys = await this.fields.ensureFields(
        client,
        changed.map((v) => v.name),
      )
      // Independent writes to one VM: send them together rather than one round trip after another.
      await Promise.all(changed.map((v) => client.setField(vm(vmMoref), keys.get(v.name)!, v.value)))
    })
  }

  async readAttributes(vmMorefs: string[]): Promise<Map<string, Map<string, string>>> {
    if (vmMorefs.length === 0) return new Map()
    return this.connection.use(async (client) => {
      // One RetrievePropertiesEx (paged by the server) for every VM, however many.
      const [found, cached] = await Promise.all([
        client.property.retrieveMany(vmMorefs.map(vm), ['customValue']),
        this.fields.readFieldKeys(client),
      ])
      const keys = await this.fields.fieldKeysCovering(client, found.flatMap((o) => asArray(o.props.customValue as unknown[])), cached)
      return new Map(found.map((o) => [o.obj.value, attributeMap(o.props.customValue, keys)]))
    })
  }

  async readStorage(vmMorefs: string[]): Promise<VmStorage[]> {
    if (vmMorefs.length === 0) return []
    return this.connection.use(async (client) => {
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
}

/** customValue (keys) to a name -> value map; a key set twice keeps its last value. */
export function attributeMap(customValue: unknown, fieldKeys: Map<string, number>): Map<string, string> {
  const names = new Map([...fieldKeys].map(([name, key]) => [key, name]))
  const values = new Map<string, string>()
  for (const { key, value } of decodeCustomFieldValues(customValue)) {
    const name = names.get(key)
    if (name !== undefined) values.set(name, value)
  }
  return values
}
