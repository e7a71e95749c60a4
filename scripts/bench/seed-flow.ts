/**
 * The seed's PowerShell flow, call for call as PowerCLI makes it, for comparison: one clone after
 * another; look the name up, CloneVM_Task and wait (polling the task), look the clone up,
 * CustomizeVM_Task and wait, PowerOnVM_Task and wait, then each custom attribute one by one.
 */
import { DEFAULT_COPIED_ATTRIBUTES, TEMPLATE_ATTRIBUTE } from '../../src/domain/attributes.js'
import { cloneName, prefixFromParentName } from '../../src/domain/naming.js'
import { decodeCustomFieldValues, type MoRef, type VimClient } from '../../src/vim25/index.js'

/** PowerCLI's Wait-Task checks the task's state about this often. */
const POLL_MS = 250

export async function runSeedFlow(client: VimClient, parentName: string, count: number, startNumber: number): Promise<void> {
  const root = client.serviceContent.rootFolder
  const findVm = async (name: string) =>
    (await client.property.listByType(root, 'VirtualMachine', ['name'])).find((o) => o.props.name === name)?.obj
  const parent = await findVm(parentName) // Get-VM
  if (!parent) throw new Error(`no parent ${parentName}`)
  const view = await client.property.retrieveOne(parent, ['parent', 'resourcePool', 'snapshot', 'customValue']) // Get-View
  const fields = new Map((await client.customFieldDefs()).map((d) => [d.key, d.name]))
  const values = new Map(decodeCustomFieldValues(view.customValue).map((v) => [fields.get(v.key)!, v.value]))
  const spec = (await client.getCustomizationSpec(values.get('Customisation')!)).spec // Get-OSCustomizationSpec
  await client.property.retrieveOne(parent, ['config.hardware.device']) // Get-HardDisk
  const prefix = `Seed${prefixFromParentName(parentName)}`

  for (let number = startNumber; number < startNumber + count; number++) {
    const name = cloneName(prefix, number)
    if (await findVm(name)) throw new Error(`${name} already exists`)
    const cloneTask = await client.cloneVM(parent, view.parent as MoRef, name, {
      location: { diskMoveType: 'createNewChildDiskBacking', pool: view.resourcePool as MoRef },
      template: false,
      powerOn: false,
      snapshot: (view.snapshot as { currentSnapshot: MoRef }).currentSnapshot,
    })
    await waitTask(client, cloneTask)
    const vm = (await findVm(name))! // Get-VM $name
    await waitTask(client, await client.customizeVM(vm, spec)) // Set-VM -OSCustomizationSpec
    await waitTask(client, await client.powerOnVM(vm)) // Start-VM
    await client.property.retrieveOne(vm, ['name']) // Get-View
    for (const attribute of DEFAULT_COPIED_ATTRIBUTES) await client.setCustomValue(vm, attribute, values.get(attribute) ?? '')
    await client.setCustomValue(vm, TEMPLATE_ATTRIBUTE, parentName)
  }
}

async function waitTask(client: VimClient, task: MoRef): Promise<void> {
  for (;;) {
    const info = await client.property.retrieveOne(task, ['info.state', 'info.error'])
    if (info['info.state'] === 'success') return
    if (info['info.state'] === 'error') throw new Error(`task ${task.value} failed`)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}
