import t from 'tap'
import type { Test } from 'tap'
import {
  buildRequest,
  isFault,
  methods,
  parseResponse,
  parseXml,
  unwrap,
  VimFault,
  asArray,
} from '../../src/vim25/index.js'
import type { RequestBody, RoundTripper } from '../../src/vim25/index.js'

/** A RoundTripper that records the envelope a method would send and answers with `reply`. */
function recorder(reply: unknown = { type: 'Task', value: 'task-1' }) {
  const sent: { method: string; xml: string }[] = []
  const rt: RoundTripper = {
    async invoke(method: string, body: RequestBody) {
      sent.push({ method, xml: buildRequest(method, body) })
      return reply
    },
  }
  return { rt, sent, last: () => sent[sent.length - 1]!.xml }
}

/** Asserts that the `needles` occur in `xml` in this order. */
function inOrder(t: Test, xml: string, needles: string[], msg: string) {
  let from = 0
  for (const n of needles) {
    const i = xml.indexOf(n, from)
    if (i < 0) {
      t.fail(`${msg}: ${n} missing or out of order`)
      return
    }
    from = i + n.length
  }
  t.pass(msg)
}

const ENV_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" ' +
  'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" ' +
  'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n<soapenv:Body>\n'
const ENV_CLOSE = '\n</soapenv:Body>\n</soapenv:Envelope>'

t.test('request envelope: namespace, _this first, parameters in order', async (t) => {
  const xml = buildRequest('setCustomValue', {
    _this: { type: 'VirtualMachine', value: 'vm-42' },
    key: 'Project',
    value: `<&>'" Ünïcødé`,
  })
  t.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?><soapenv:Envelope /)
  t.match(xml, 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')
  t.match(xml, 'xmlns:xsd="http://www.w3.org/2001/XMLSchema"')
  t.match(
    xml,
    '<soapenv:Body><setCustomValue xmlns="urn:vim25"><_this type="VirtualMachine">vm-42</_this>' +
      '<key>Project</key><value>&lt;&amp;&gt;&apos;&quot; Ünïcødé</value></setCustomValue></soapenv:Body>',
  )
  t.throws(() => buildRequest('bad method', { _this: { type: 'X', value: 'y' } }))
})

t.test('CloneVM_Task: the spec goes out in WSDL order whatever order it was written in', async (t) => {
  const { rt, last } = recorder()
  await methods.CloneVM_Task(rt, {
    _this: { type: 'VirtualMachine', value: 'vm-1' },
    folder: { type: 'Folder', value: 'group-v3' },
    name: 'Capture01',
    spec: {
      snapshot: { type: 'VirtualMachineSnapshot', value: 'snapshot-9' },
      config: {
        extraConfig: [{ key: 'guestinfo.x', value: 'a&b' }],
        instanceUuid: '5003a2b1-0000-4000-8000-000000000001',
        annotation: 'made by <us>',
      },
      location: { host: { type: 'HostSystem', value: 'host-7' }, diskMoveType: 'createNewChildDiskBacking', pool: { type: 'ResourcePool', value: 'resgroup-8' } },
    },
  })
  const xml = last()
  inOrder(
    t,
    xml,
    [
      '<CloneVM_Task xmlns="urn:vim25">',
      '<_this type="VirtualMachine">vm-1</_this>',
      '<folder type="Folder">group-v3</folder>',
      '<name>Capture01</name>',
      '<spec>',
      '<location>',
      '<diskMoveType>createNewChildDiskBacking</diskMoveType>',
      '<pool type="ResourcePool">resgroup-8</pool>',
      '<host type="HostSystem">host-7</host>',
      '</location>',
      '<template>false</template>',
      '<config>',
      '<instanceUuid>5003a2b1-0000-4000-8000-000000000001</instanceUuid>',
      '<annotation>made by &lt;us&gt;</annotation>',
      '<extraConfig><key>guestinfo.x</key><value xsi:type="xsd:string">a&amp;b</value></extraConfig>',
      '</config>',
      '<powerOn>false</powerOn>',
      '<snapshot type="VirtualMachineSnapshot">snapshot-9</snapshot>',
      '</spec>',
    ],
    'WSDL order, required booleans present, OptionValue.value typed',
  )
  t.notMatch(xml, '<customization>', 'unset fields are omitted')
  t.notMatch(xml, '<memory>')
})

t.test('RetrievePropertiesEx: traversal specs carry xsi:type, options is always sent', async (t) => {
  const { rt, last } = recorder({ objects: [] })
  await methods.RetrievePropertiesEx(rt, {
    _this: { type: 'PropertyCollector', value: 'propertyCollector' },
    specSet: [
      {
        propSet: [{ pathSet: ['name', 'snapshot.currentSnapshot'], type: 'VirtualMachine' }],
        objectSet: [
          {
            selectSet: [{ _type: 'TraversalSpec', path: 'view', type: 'ContainerView', skip: false }],
            skip: true,
            obj: { type: 'ContainerView', value: 'session[1]2' },
          },
        ],
      },
    ],
  })
  inOrder(
    t,
    last(),
    [
      '<specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet><pathSet>snapshot.currentSnapshot</pathSet></propSet>',
      '<objectSet><obj type="ContainerView">session[1]2</obj><skip>true</skip>',
      '<selectSet xsi:type="TraversalSpec"><type>ContainerView</type><path>view</path><skip>false</skip></selectSet>',
      '</objectSet></specSet><options></options>',
    ],
    'PropertyFilterSpec in order',
  )
})

t.test('other methods put their parameters in WSDL order', async (t) => {
  const si = { type: 'SearchIndex', value: 'SearchIndex' }
  const { rt, last } = recorder()
  await methods.FindByUuid(rt, { _this: si, instanceUuid: true, vmSearch: true, uuid: 'u-1', datacenter: { type: 'Datacenter', value: 'dc-1' } })
  inOrder(t, last(), ['<datacenter', '<uuid>u-1</uuid>', '<vmSearch>true</vmSearch>', '<instanceUuid>true</instanceUuid>'], 'FindByUuid')

  await methods.CreateSnapshot_Task(rt, { _this: { type: 'VirtualMachine', value: 'vm-1' }, quiesce: false, memory: false, name: 'Base' })
  inOrder(t, last(), ['<name>Base</name>', '<memory>false</memory>', '<quiesce>false</quiesce>'], 'CreateSnapshot_Task')

  await methods.WaitForUpdatesEx(rt, { _this: { type: 'PropertyCollector', value: 'pc' }, version: '', options: { maxWaitSeconds: 0 } })
  t.notMatch(last(), '<version>', 'an empty version is omitted')
  t.match(last(), '<options><maxWaitSeconds>0</maxWaitSeconds></options>')

  await methods.ModifyListView(rt, { _this: { type: 'ListView', value: 'lv' }, add: [{ type: 'Task', value: 'task-1' }], remove: [] })
  t.match(last(), '<add type="Task">task-1</add></ModifyListView>', 'an empty remove list is omitted')

  await methods.CreateContainerView(rt, { _this: { type: 'ViewManager', value: 'ViewManager' }, container: { type: 'Folder', value: 'group-d1' }, type: ['VirtualMachine'], recursive: true })
  inOrder(t, last(), ['<container type="Folder">group-d1</container>', '<type>VirtualMachine</type>', '<recursive>true</recursive>'], 'CreateContainerView')
})

t.test('NotAuthenticated fault (vCenter layout, with whitespace between elements)', async (t) => {
  const xml =
    ENV_OPEN +
    '<soapenv:Fault>\n  <faultcode>ServerFaultCode</faultcode>\n  <faultstring>The session is not authenticated.</faultstring>\n' +
    '  <detail>\n    <NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated">\n' +
    '      <object type="Folder">group-d1</object>\n      <privilegeId>System.View</privilegeId>\n' +
    '    </NotAuthenticatedFault>\n  </detail>\n</soapenv:Fault>' +
    ENV_CLOSE
  const res = parseResponse(xml)
  if (res.kind !== 'fault') throw new Error('expected a fault')
  t.equal(res.fault.faultType, 'NotAuthenticated')
  t.equal(res.fault.faultCode, 'ServerFaultCode')
  t.equal(res.fault.faultString, 'The session is not authenticated.')
  t.same(res.fault.detail, { _type: 'NotAuthenticated', object: { type: 'Folder', value: 'group-d1' }, privilegeId: 'System.View' })
  const err = new VimFault(res.fault, 'RetrievePropertiesEx')
  t.ok(isFault(err, 'NotAuthenticated'))
  t.notOk(isFault(err, 'DuplicateName'))
  t.ok(isFault(err))
  t.notOk(isFault(new Error('x')))
  t.equal(err.message, 'RetrievePropertiesEx: NotAuthenticated: The session is not authenticated.')
})

t.test('DuplicateName fault (vcsim layout: numeric character references, empty faultstring)', async (t) => {
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail><DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>Dup &amp; &lt;x&gt; &#34;q&#34; &#x1F600;</name><object type="CustomFieldsManager">CustomFieldsManager</object></DuplicateNameFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>'
  const res = parseResponse(xml)
  if (res.kind !== 'fault') throw new Error('expected a fault')
  const err = new VimFault(res.fault, 'AddCustomFieldDef')
  t.equal(err.faultType, 'DuplicateName')
  t.equal(err.detail?.name, 'Dup & <x> "q" 😀')
  t.same(err.detail?.object, { type: 'CustomFieldsManager', value: 'CustomFieldsManager' })
  t.equal(err.message, 'AddCustomFieldDef: DuplicateName')
})

t.test('a fault detail without xsi:type takes its type from the element name', async (t) => {
  const res = parseResponse(
    ENV_OPEN + '<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring><detail><InvalidRequestFault xmlns="urn:vim25"/></detail></soapenv:Fault>' + ENV_CLOSE,
  )
  if (res.kind !== 'fault') throw new Error('expected a fault')
  t.equal(res.fault.faultType, 'InvalidRequest')
  const bare = parseResponse(ENV_OPEN + '<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>bad</faultstring></soapenv:Fault>' + ENV_CLOSE)
  if (bare.kind !== 'fault') throw new Error('expected a fault')
  t.equal(bare.fault.faultType, undefined)
  t.equal(new VimFault(bare.fault).faultType, 'Client', 'falls back to the fault code')
})

t.test('results: references, typed values, ArrayOf wrappers, one vs many', async (t) => {
  const xml =
    ENV_OPEN +
    '<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj>' +
    '<propSet><name>name</name><val xsi:type="xsd:string">Tmpl Capture 1.0</val></propSet>' +
    '<propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOff</val></propSet>' +
    '<propSet><name>parent</name><val type="Folder" xsi:type="ManagedObjectReference">group-v3</val></propSet>' +
    '<propSet><name>customValue</name><val xsi:type="ArrayOfCustomFieldValue"><CustomFieldValue xsi:type="CustomFieldStringValue"><key>2</key><value>Capture</value></CustomFieldValue></val></propSet>' +
    '<propSet><name>tags</name><val xsi:type="ArrayOfString"><string>a</string><string>b</string></val></propSet>' +
    '<propSet><name>empty</name><val xsi:type="xsd:string"></val></propSet>' +
    '</objects></returnval></RetrievePropertiesExResponse>' +
    ENV_CLOSE
  const res = parseResponse(xml)
  if (res.kind !== 'result') throw new Error('expected a result')
  t.equal(res.method, 'RetrievePropertiesEx')
  const objects = asArray((res.returnval as Record<string, unknown>).objects)
  t.equal(objects.length, 1, 'one object is not an array in XML; asArray makes it one')
  const props = Object.fromEntries(
    asArray((objects[0] as Record<string, unknown>).propSet).map((p) => {
      const { name, val } = p as { name: string; val: unknown }
      return [name, unwrap(val)]
    }),
  )
  t.same(props, {
    name: 'Tmpl Capture 1.0',
    'runtime.powerState': 'poweredOff',
    parent: { type: 'Folder', value: 'group-v3' },
    customValue: [{ _type: 'CustomFieldStringValue', key: '2', value: 'Capture' }],
    tags: ['a', 'b'],
    empty: '',
  })
  const none = parseResponse(ENV_OPEN + '<LogoutResponse xmlns="urn:vim25"></LogoutResponse>' + ENV_CLOSE)
  t.same(none, { kind: 'result', method: 'Logout', returnval: undefined }, 'void methods')
  const many = parseResponse(ENV_OPEN + '<ModifyListViewResponse xmlns="urn:vim25"><returnval type="Task">task-1</returnval><returnval type="Task">task-2</returnval></ModifyListViewResponse>' + ENV_CLOSE)
  if (many.kind !== 'result') throw new Error('expected a result')
  t.same(many.returnval, [{ type: 'Task', value: 'task-1' }, { type: 'Task', value: 'task-2' }])
  t.throws(() => parseResponse('<html><body>502 Bad Gateway</body></html>'), /not a SOAP envelope/)
  t.throws(() => parseResponse('<a><b></a>'))
})

// A Windows customization spec as vCenter returns it: polymorphic members with xsi:type, arrays,
// a password with XML specials, non-ASCII. Written with the escaping our serializer uses, so the
// spec re-sent to CustomizeVM_Task must be byte-identical.
const SPEC_XML =
  '<spec>' +
  '<options xsi:type="CustomizationWinOptions"><changeSID>true</changeSID><deleteAccounts>false</deleteAccounts><reboot>reboot</reboot></options>' +
  '<identity xsi:type="CustomizationSysprep">' +
  '<guiUnattended><password><value>P&lt;&amp;&gt;&apos;&quot;w</value><plainText>true</plainText></password><timeZone>85</timeZone><autoLogon>false</autoLogon><autoLogonCount>1</autoLogonCount></guiUnattended>' +
  '<userData><fullName>Ünïcødé Trainee</fullName><orgName>Example &amp; Co</orgName><computerName xsi:type="CustomizationVirtualMachineName"></computerName><productId></productId></userData>' +
  '<guiRunOnce><commandList>cmd /c echo 1</commandList><commandList>cmd /c echo &quot;2&quot; &gt; x</commandList></guiRunOnce>' +
  '<identification><joinWorkgroup>WORKGROUP</joinWorkgroup></identification>' +
  '</identity>' +
  '<globalIPSettings><dnsSuffixList>example.com</dnsSuffixList><dnsServerList>10.0.0.10</dnsServerList><dnsServerList>10.0.0.11</dnsServerList></globalIPSettings>' +
  '<nicSettingMap><adapter><ip xsi:type="CustomizationDhcpIpGenerator"></ip></adapter></nicSettingMap>' +
  '<nicSettingMap><adapter><ip xsi:type="CustomizationFixedIp"><ipAddress>10.0.0.5</ipAddress></ip><subnetMask>255.255.255.0</subnetMask><gateway>10.0.0.1</gateway></adapter></nicSettingMap>' +
  '</spec>'

t.test('a CustomizationSpec from GetCustomizationSpec round-trips into CustomizeVM_Task unchanged', async (t) => {
  const response =
    ENV_OPEN +
    '<GetCustomizationSpecResponse xmlns="urn:vim25"><returnval>' +
    '<info><name>Capture</name><description>Capture &amp; more</description><type>Windows</type><changeVersion>3</changeVersion><lastUpdateTime>2024-05-01T10:00:00Z</lastUpdateTime></info>' +
    SPEC_XML +
    '</returnval></GetCustomizationSpecResponse>' +
    ENV_CLOSE
  const res = parseResponse(response)
  if (res.kind !== 'result') throw new Error('expected a result')
  const { rt: specRt } = recorder(res.returnval)
  const item = await methods.GetCustomizationSpec(specRt, { _this: { type: 'CustomizationSpecManager', value: 'CustomizationSpecManager' }, name: 'Capture' })
  t.equal(item.info.name, 'Capture')
  t.equal(item.info.description, 'Capture & more')
  t.equal(item.info.lastUpdateTime?.toISOString(), '2024-05-01T10:00:00.000Z')
  t.equal((item.spec.identity as Record<string, unknown>)._type, 'CustomizationSysprep')

  const { rt, last } = recorder()
  await methods.CustomizeVM_Task(rt, { _this: { type: 'VirtualMachine', value: 'vm-9' }, spec: item.spec })
  const sent = last()
  t.ok(sent.includes(`<_this type="VirtualMachine">vm-9</_this>${SPEC_XML}</CustomizeVM_Task>`), 'the spec element is byte-identical')

  // And through a clone spec's `customization` slot.
  const clone = recorder()
  await methods.CloneVM_Task(clone.rt, {
    _this: { type: 'VirtualMachine', value: 'vm-1' },
    folder: { type: 'Folder', value: 'f' },
    name: 'n',
    spec: { location: {}, customization: item.spec },
  })
  t.ok(clone.last().includes(SPEC_XML.replace(/^<spec>/, '<customization>').replace(/<\/spec>$/, '</customization>')))
})

t.test('vcsim writes xsi:type with another prefix: still a _type, sent back as xsi:type', async (t) => {
  const spec =
    '<spec><options xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="CustomizationLinuxOptions"></options>' +
    '<identity xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="CustomizationLinuxPrep"><hostName XMLSchema-instance:type="CustomizationPrefixName"><base>vcsim</base></hostName><domain>eng.vmware.com</domain></identity></spec>'
  const parsed = parseXml(spec).spec as Record<string, unknown>
  t.same(parsed, {
    options: { _type: 'CustomizationLinuxOptions' },
    identity: { _type: 'CustomizationLinuxPrep', hostName: { _type: 'CustomizationPrefixName', base: 'vcsim' }, domain: 'eng.vmware.com' },
  })
  const { rt, last } = recorder()
  await methods.CustomizeVM_Task(rt, { _this: { type: 'VirtualMachine', value: 'vm-9' }, spec: parsed })
  t.match(
    last(),
    '<spec><options xsi:type="CustomizationLinuxOptions"></options><identity xsi:type="CustomizationLinuxPrep"><hostName xsi:type="CustomizationPrefixName"><base>vcsim</base></hostName><domain>eng.vmware.com</domain></identity></spec>',
  )
})
