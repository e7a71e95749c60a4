/**
 * Every VM's name through one ContainerView kept for the session: shared by the plan's inventory and
 * the lookup of parents by name. Only names: nothing else is read with them (see readPlanInventory).
 */
import { isFault, methods, type MoRef, type ObjectProps, type PropertyFilterSpec, type VimClient } from '../vim25/index.js'

export class VmNameView {
  /** A ContainerView of every VM, kept for the session (see readVmNames). */
  private vmView?: { ref: MoRef; generation: number; client: VimClient }

  /**
   * Every VM's name, through one ContainerView kept for the session: one call per plan instead of
   * creating and destroying a view each time. Views belong to the session; after a new login (or if
   * the view is gone) it is made again.
   */
  async readVmNames(client: VimClient): Promise<ObjectProps[]> {
    const spec = (view: MoRef): PropertyFilterSpec[] => [
      {
        propSet: [{ type: 'VirtualMachine', pathSet: ['name'] }],
        objectSet: [
          { obj: view, skip: true, selectSet: [{ _type: 'TraversalSpec' as const, type: 'ContainerView', path: 'view', skip: false }] },
        ],
      },
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
}
