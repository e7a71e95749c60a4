// Paging of RetrievePropertiesEx. vcsim 0.24 ignores maxObjects and never returns a token, so the
// continuation path is exercised with scripted pages here (bulk listing itself is tested against
// the simulator in client.integration.test.ts).
import t from 'tap'
import { PropertyHelper } from '../../src/vim25/index.js'
import type { RequestBody, RoundTripper, ServiceContent } from '../../src/vim25/index.js'

const content = {
  propertyCollector: { type: 'PropertyCollector', value: 'propertyCollector' },
  viewManager: { type: 'ViewManager', value: 'ViewManager' },
  rootFolder: { type: 'Folder', value: 'group-d1' },
} as ServiceContent

const vm = (n: number, extra: Record<string, unknown> = {}) => ({
  obj: { type: 'VirtualMachine', value: `vm-${n}` },
  propSet: [{ name: 'name', val: { _type: 'xsd:string', _value: `VM ${n}` } }],
  ...extra,
})

t.test('listByType follows continuation tokens and cleans up its view', async (t) => {
  const calls: { method: string; body: RequestBody }[] = []
  const rt: RoundTripper = {
    async invoke(method, body) {
      calls.push({ method, body })
      switch (method) {
        case 'CreateContainerView':
          return { type: 'ContainerView', value: 'session[x]1' }
        case 'RetrievePropertiesEx':
          return { token: 'page-2', objects: [vm(1), vm(2)] }
        case 'ContinueRetrievePropertiesEx':
          return body.token === 'page-2'
            ? { token: 'page-3', objects: vm(3) } // one object: not an array in XML
            : { objects: [vm(4, { missingSet: { path: 'name', fault: { fault: { _type: 'NoPermission' }, localizedMessage: 'no' } } })] }
        default:
          return undefined
      }
    },
  }
  const props = new PropertyHelper(rt, () => content)
  const all = await props.listByType(content.rootFolder, 'VirtualMachine', ['name'], true, { maxObjects: 2 })
  t.same(
    all.map((o) => [o.obj.value, o.props.name]),
    [
      ['vm-1', 'VM 1'],
      ['vm-2', 'VM 2'],
      ['vm-3', 'VM 3'],
      ['vm-4', 'VM 4'],
    ],
  )
  t.same(all[3]?.missing, [{ path: 'name', faultType: 'NoPermission', fault: { _type: 'NoPermission' } }])
  t.same(
    calls.map((c) => c.method),
    ['CreateContainerView', 'RetrievePropertiesEx', 'ContinueRetrievePropertiesEx', 'ContinueRetrievePropertiesEx', 'DestroyView'],
  )
  t.same(calls[1]?.body.options, { maxObjects: 2 })
  t.same(calls[3]?.body.token, 'page-3')
})

t.test('retrieveMany leaves out objects that no longer exist', async (t) => {
  const rt: RoundTripper = {
    async invoke() {
      return {
        objects: [
          vm(1),
          {
            obj: { type: 'VirtualMachine', value: 'vm-2' },
            missingSet: { path: 'name', fault: { fault: { _type: 'ManagedObjectNotFound' } } },
          },
        ],
      }
    },
  }
  const found = await new PropertyHelper(rt, () => content).retrieveMany(
    [
      { type: 'VirtualMachine', value: 'vm-1' },
      { type: 'VirtualMachine', value: 'vm-2' },
    ],
    ['name'],
  )
  t.same(found, [{ obj: { type: 'VirtualMachine', value: 'vm-1' }, props: { name: 'VM 1' } }])
})
