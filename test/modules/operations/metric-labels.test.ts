import t from 'tap'
import { routeLabel, scopeLabel, taskKind } from '../../../src/modules/operations/metric-labels.js'

t.test('task kinds from vCenter\'s and vcsim\'s descriptionIds', async (t) => {
  t.equal(taskKind('VirtualMachine.clone'), 'clone')
  t.equal(taskKind('VirtualMachine.cloneVm'), 'clone')
  t.equal(taskKind('VirtualMachine.customize'), 'customize')
  t.equal(taskKind('VirtualMachine.customizeVm'), 'customize')
  t.equal(taskKind('VirtualMachine.powerOn'), 'power_on')
  t.equal(taskKind('VirtualMachine.powerOff'), 'power_off')
  t.equal(taskKind('VirtualMachine.destroy'), 'destroy')
  t.equal(taskKind('vm.Snapshot.remove'), 'remove_snapshot')
  t.equal(taskKind('VirtualMachine.createSnapshot'), 'create_snapshot')
  t.equal(taskKind('Something.unheardOf'), 'other', 'unknown kinds stay one label')
  t.equal(taskKind(undefined), 'other')
})

t.test('scopes and routes as labels', async (t) => {
  t.equal(scopeLabel('vcenter'), 'vcenter')
  t.equal(scopeLabel('host:host-21'), 'host:host-21')
  t.equal(scopeLabel('deployment:5b0c1d7e-0000-4000-8000-000000000000'), 'deployment', 'no deployment ids')
  t.equal(routeLabel('/v1/deployments/:id'), '/v1/deployments/:id')
  t.equal(routeLabel(undefined), 'unmatched')
})
