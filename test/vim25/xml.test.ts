import t from 'tap'
import {
  escapeAttr,
  escapeText,
  findInvalidXmlChar,
  parseXml,
  serializeElement,
  stripInvalidXmlChars,
  XmlEncodeError,
  xsdString,
} from '../../src/vim25/index.js'

t.test('escapeText escapes the five XML specials and keeps non-ASCII as is', async (t) => {
  t.equal(escapeText(`<&>'"`), '&lt;&amp;&gt;&apos;&quot;')
  t.equal(escapeText('Ünïcødé 中文 😀'), 'Ünïcødé 中文 😀')
  t.equal(escapeText('a]]>b'), 'a]]&gt;b')
  t.equal(escapeText('tab\tnewline\n'), 'tab\tnewline\n', 'tab and LF are fine in text')
  t.equal(escapeText('cr\r'), 'cr&#13;', 'CR is a reference: parsers normalize a literal CR to LF')
  t.equal(escapeText('&amp;'), '&amp;amp;', 'no double-decoding surprises: escaped once')
})

t.test('escapeAttr also protects whitespace from attribute-value normalization', async (t) => {
  t.equal(escapeAttr(`a<&>'"b`), 'a&lt;&amp;&gt;&apos;&quot;b')
  t.equal(escapeAttr('a\tb\nc\rd'), 'a&#9;b&#10;c&#13;d')
})

t.test('characters XML cannot carry are refused, without echoing the value', async (t) => {
  for (const bad of ['\u0000', '\u0001', '\u0008', '\u000b', '\u001f', '\ufffe', '\uffff', '\ud800', 'x\udc00y']) {
    const secret = `Passw0rd${bad}`
    t.throws(() => escapeText(secret), XmlEncodeError, JSON.stringify(bad))
    t.throws(() => escapeAttr(secret), XmlEncodeError)
    try {
      escapeText(secret)
    } catch (err) {
      t.notMatch((err as Error).message, /Passw0rd/, 'the message does not contain the value')
    }
  }
  t.equal(findInvalidXmlChar('ok \u0085 \u00a0 😀'), -1, 'C1 controls other than none, NBSP and astral chars are valid')
  t.equal(findInvalidXmlChar('ab\u0002'), 2)
  t.equal(stripInvalidXmlChars('a\u0000b\u001fc\ud800d😀'), 'abcd😀')
})

t.test('serializeElement: the value model', async (t) => {
  t.equal(serializeElement('name', 'x<y'), '<name>x&lt;y</name>')
  t.equal(serializeElement('n', 42), '<n>42</n>')
  t.equal(serializeElement('n', 12345678901234567890n), '<n>12345678901234567890</n>')
  t.equal(serializeElement('b', true), '<b>true</b>')
  t.equal(serializeElement('b', false), '<b>false</b>')
  t.equal(serializeElement('d', new Date('2024-01-02T03:04:05.000Z')), '<d>2024-01-02T03:04:05.000Z</d>')
  t.equal(serializeElement('skip', undefined), '')
  t.equal(serializeElement('skip', null), '')
  t.equal(serializeElement('s', ''), '<s></s>', 'an empty string is still an element')
  t.equal(
    serializeElement('vm', { type: 'VirtualMachine', value: 'vm-42' }),
    '<vm type="VirtualMachine">vm-42</vm>',
    'ManagedObjectReference',
  )
  t.equal(
    serializeElement('val', { _type: 'ManagedObjectReference', type: 'Folder', value: 'group-d1' }),
    '<val xsi:type="ManagedObjectReference" type="Folder">group-d1</val>',
    'MoRef in an anyType slot',
  )
  t.equal(serializeElement('value', xsdString('a&b')), '<value xsi:type="xsd:string">a&amp;b</value>')
  t.equal(serializeElement('value', { _type: 'xsd:int', _value: 5 }), '<value xsi:type="xsd:int">5</value>')
  t.equal(serializeElement('pathSet', ['name', 'parent']), '<pathSet>name</pathSet><pathSet>parent</pathSet>')
  t.equal(
    serializeElement('identity', { hostName: { _type: 'CustomizationVirtualMachineName' }, _type: 'CustomizationLinuxPrep', domain: 'x', skipped: undefined }),
    '<identity xsi:type="CustomizationLinuxPrep"><hostName xsi:type="CustomizationVirtualMachineName"></hostName><domain>x</domain></identity>',
    '_type becomes xsi:type wherever it is written; children keep insertion order',
  )
  t.equal(serializeElement('o', { b: 1, a: 2 }), '<o><b>1</b><a>2</a></o>', 'insertion order, not alphabetical')
})

t.test('serializeElement refuses what it cannot represent', async (t) => {
  t.throws(() => serializeElement('n', Number.NaN), XmlEncodeError)
  t.throws(() => serializeElement('n', Number.POSITIVE_INFINITY), XmlEncodeError)
  t.throws(() => serializeElement('d', new Date('nope')), XmlEncodeError)
  t.throws(() => serializeElement('bad name', 'x'), XmlEncodeError)
  t.throws(() => serializeElement('x', new Map()), XmlEncodeError)
  t.throws(() => serializeElement('x', Buffer.from('x')), XmlEncodeError)
  t.throws(() => serializeElement('x', { _type: 'bad type!', a: 1 }), XmlEncodeError)
  t.throws(() => serializeElement('x', { type: 'VirtualMachine', value: 'vm-1\u0000' }), XmlEncodeError)
})

t.test('escaped text parses back to the same string', async (t) => {
  const values = [`<&>'"`, 'Ünïcødé 😀', 'a\r\nb\tc\n', '&amp; &#34; &lt;', '  spaces  ', ']]>']
  for (const v of values) {
    const doc = parseXml(`<root>${serializeElement('v', v)}<m type="${escapeAttr(v)}">${escapeText(v)}</m></root>`)
    const root = doc.root as Record<string, unknown>
    t.equal(root.v, v, JSON.stringify(v))
    t.same(root.m, { type: v, value: v }, `attribute ${JSON.stringify(v)}`)
  }
})
