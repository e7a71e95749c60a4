import https from 'node:https'
import t from 'tap'
import { startSimulator } from '../../sim/launcher.js'

const envelope = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Body>
    <RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>
  </soapenv:Body>
</soapenv:Envelope>`

function postSoap(url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        rejectUnauthorized: false, // the simulator's certificate is self-signed
        headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: 'urn:vim25/7.0' },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

t.test('starts a seeded simulator that counts SOAP calls', async (t) => {
  const sim = await startSimulator({ hosts: 3, delays: { CurrentTime: 10 } })
  t.teardown(() => sim.stop())

  t.match(sim.url, /^https:\/\/127\.0\.0\.1:\d+\/sdk$/)
  t.equal(sim.statsUrl, sim.url.replace(/\/sdk$/, '/_stats'))
  t.equal(sim.username, 'administrator@vsphere.local')
  t.ok(sim.password.length > 0)
  const before = await sim.stats()
  t.equal(before.total, 0, 'seeding traffic is not counted')
  t.same(Object.keys(before.methods), [])

  const res = await postSoap(sim.url, envelope)
  t.equal(res.status, 200)
  t.match(res.body, '<rootFolder')

  const stats = await sim.stats()
  t.equal(stats.total, 1)
  t.match(stats.methods.RetrieveServiceContent, { count: 1, inFlight: 0, maxInFlight: 1 })

  await sim.resetStats()
  const reset = await sim.stats()
  t.equal(reset.total, 0)
  t.equal(reset.methods.RetrieveServiceContent, undefined)

  await sim.stop()
  await t.rejects(sim.stats(), 'the server is gone after stop()')
})
