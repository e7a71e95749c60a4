/**
 * PARENT_FOLDERS: only the VMs inside these folders (or their subfolders) may be parents. The
 * folders' paths are resolved to morefs once (SearchIndex.FindByInventoryPath, one call per path)
 * and kept; a VM is checked by reading its ancestor folders in one PropertyCollector call, never by
 * reading every VM's path. A VM found outside re-resolves the folders once before it is refused
 * (a folder renamed, moved or made again since). Listings read the VMs of each folder through a
 * ContainerView rooted at it.
 */
import type { MoRef, VimClient } from '../vim25/index.js'

export class ParentFolders {
  private morefs?: Set<string>

  /** `paths`: absolute inventory paths ("/DC0/vm/Templates"); undefined or empty: every VM may be a parent. */
  constructor(private readonly paths?: readonly string[]) {}

  get restricted(): boolean {
    return !!this.paths && this.paths.length > 0
  }

  /** The configured folders' morefs (a path that names nothing is left out). */
  async folders(client: VimClient, refresh = false): Promise<MoRef[]> {
    if (!this.paths) return []
    if (!this.morefs || refresh) {
      const found = await Promise.all(this.paths.map((p) => client.findByInventoryPath(p.replace(/^\/+/, ''))))
      this.morefs = new Set(found.filter((r): r is MoRef => !!r && r.type === 'Folder').map((r) => r.value))
    }
    return [...this.morefs].map((value) => ({ type: 'Folder', value }))
  }

  /** Of these VMs, the morefs of those that may be parents (all of them when unrestricted). */
  async allowed(client: VimClient, vms: readonly MoRef[]): Promise<Set<string>> {
    if (!this.restricted || vms.length === 0) return new Set(vms.map((v) => v.value))
    const ancestors = await this.ancestors(client, vms)
    const inside = () => new Set(vms.filter((v) => ancestors.get(v.value)?.some((f) => this.morefs!.has(f))).map((v) => v.value))
    await this.folders(client)
    let found = inside()
    if (found.size < vms.length) {
      await this.folders(client, true)
      found = inside()
    }
    return found
  }

  /** Each VM's folders, nearest first, read in one call: VM.parent, then each Folder.parent. */
  private async ancestors(client: VimClient, vms: readonly MoRef[]): Promise<Map<string, string[]>> {
    const objects = await client.property.retrieve([
      {
        propSet: [
          { type: 'VirtualMachine', pathSet: ['parent'] },
          { type: 'Folder', pathSet: ['parent'] },
        ],
        objectSet: vms.map((obj) => ({
          obj,
          skip: false,
          selectSet: [
            {
              _type: 'TraversalSpec' as const,
              type: 'VirtualMachine',
              path: 'parent',
              skip: false,
              selectSet: [{ _type: 'SelectionSpec' as const, name: 'folderUp' }],
            },
            { _type: 'TraversalSpec' as const, name: 'folderUp', type: 'Folder', path: 'parent', skip: false, selectSet: [{ _type: 'SelectionSpec' as const, name: 'folderUp' }] },
          ],
        })),
        reportMissingObjectsInResults: true,
      },
    ])
    const parentOf = new Map<string, MoRef | undefined>()
    for (const o of objects) parentOf.set(`${o.obj.type}:${o.obj.value}`, o.props.parent as MoRef | undefined)
    return new Map(
      vms.map((v) => {
        const chain: string[] = []
        let next = parentOf.get(`VirtualMachine:${v.value}`)
        while (next && next.type === 'Folder' && !chain.includes(next.value)) {
          chain.push(next.value)
          next = parentOf.get(`Folder:${next.value}`)
        }
        return [v.value, chain]
      }),
    )
  }
}
